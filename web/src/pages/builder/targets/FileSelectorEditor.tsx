// An uploaded file of targets: drag and drop or a keyboard-reachable file button (or paste),
// a preview of the first lines, the CSV options, and the lines the server could not parse
// with their line numbers.
import { useId, useRef, useState, type DragEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { FileUp, Trash2, AlertTriangle } from 'lucide-react';
import type { Schemas } from '../../../api/client';
import { Button } from '../../../components/ui';
import { cn } from '../../../lib/cn';
import { MAX_FILE_BYTES, type InvalidLine } from './preview';
import { ErrorList, describedBy } from './ErrorList';

type FileValue = Schemas['FileSelector'] & { type: 'file' };

const PREVIEW_LINES = 10;
const COLUMN_GUESSES = ['ip', 'address', 'ip_address', 'ipaddress', 'host', 'hostname', 'target'];
const DELIMITERS: { value: string; key: string }[] = [
  { value: ',', key: 'comma' },
  { value: ';', key: 'semicolon' },
  { value: '\t', key: 'tab' },
  { value: '|', key: 'pipe' },
];

/** Format, delimiter and column guessed from a file's name and first line. */
export function guessFileOptions(name: string, content: string): Partial<FileValue> {
  const lower = name.toLowerCase();
  const csv = lower.endsWith('.csv') || lower.endsWith('.tsv');
  if (!csv) return { format: 'lines', column: null, delimiter: null, has_header: null };
  const first = content.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const counts = DELIMITERS.map((d) => ({ d: d.value, n: first.split(d.value).length - 1 }));
  const best = lower.endsWith('.tsv') ? '\t' : counts.reduce((a, b) => (b.n > a.n ? b : a)).d;
  const delimiter = counts.find((c) => c.d === best)!.n > 0 || best === '\t' ? best : ',';
  const headers = first.split(delimiter).map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase());
  const column = COLUMN_GUESSES.find((g) => headers.includes(g)) ?? null;
  return { format: 'csv', delimiter: delimiter === ',' ? null : delimiter, column, has_header: null };
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function FileSelectorEditor({
  value,
  onChange,
  field,
  errors,
  invalid,
  invalidOmitted,
}: {
  value: FileValue;
  onChange: (next: FileValue) => void;
  /** `include[2]`: the selector's field path. */
  field: string;
  errors: Map<string, string[]>;
  invalid: InvalidLine[];
  invalidOmitted: number;
}) {
  const { t } = useTranslation();
  const id = useId();
  const [dragging, setDragging] = useState(false);
  const [readError, setReadError] = useState<string | null>(null);
  const [size, setSize] = useState<number | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const format = value.format ?? 'lines';
  const lines = value.content.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const contentErrors = [...(errors.get(`${field}.content`) ?? []), ...(errors.get(`${field}.name`) ?? []), ...(errors.get(`${field}.format`) ?? [])];
  const columnErrors = errors.get(`${field}.column`) ?? [];
  const delimiterErrors = errors.get(`${field}.delimiter`) ?? [];
  const headerErrors = errors.get(`${field}.has_header`) ?? [];
  const mine = invalid.filter((l) => l.field === `${field}.content`);

  async function load(file: File) {
    setReadError(null);
    if (file.size > MAX_FILE_BYTES) {
      setReadError(t('targets.file.tooLarge', { name: file.name, size: formatBytes(file.size), max: formatBytes(MAX_FILE_BYTES) }));
      return;
    }
    try {
      const content = await file.text();
      setSize(file.size);
      onChange({ ...value, ...guessFileOptions(file.name, content), type: 'file', name: file.name, content });
    } catch (e) {
      setReadError(t('targets.file.readFailed', { name: file.name, message: e instanceof Error ? e.message : String(e) }));
    }
  }

  function onDrop(e: DragEvent<HTMLDivElement>) {
    e.preventDefault();
    setDragging(false);
    const file = e.dataTransfer.files?.[0];
    if (file) void load(file);
  }

  const uploaded = value.content !== '' && !!value.name;
  const contentId = `${id}-content`;

  return (
    <div className="flex flex-col gap-3">
      <div
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="file-drop-zone"
        className={cn(
          'flex flex-col items-center gap-2 rounded-md border-2 border-dashed border-border p-4 text-center text-sm',
          dragging && 'border-primary bg-accent',
        )}
      >
        <FileUp className="size-6 text-muted-foreground" aria-hidden="true" />
        <p>{dragging ? t('targets.file.dropNow') : t('targets.file.dropHere')}</p>
        <div className="flex flex-wrap items-center justify-center gap-2">
          {/* The input itself takes focus (Enter or Space opens the picker); its label looks like a button. */}
          <input
            ref={inputRef}
            id={`${id}-input`}
            type="file"
            accept=".txt,.csv,.tsv,.list,text/plain,text/csv"
            className="peer sr-only"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) void load(file);
              e.target.value = '';
            }}
          />
          <label
            htmlFor={`${id}-input`}
            className="inline-flex h-8 cursor-pointer items-center gap-1.5 rounded-md border border-border bg-secondary px-2.5 text-sm font-medium text-secondary-foreground hover:bg-accent peer-focus-visible:ring-2 peer-focus-visible:ring-ring peer-focus-visible:ring-offset-2"
          >
            {uploaded ? t('targets.file.replace') : t('targets.file.choose')}
          </label>
          {value.content !== '' && (
            <Button
              size="sm"
              variant="ghost"
              onClick={() => {
                setSize(null);
                onChange({ type: 'file', content: '', name: '', format: 'lines' });
              }}
            >
              <Trash2 className="size-4" aria-hidden="true" />
              {t('targets.file.clear')}
            </Button>
          )}
        </div>
        <p className="text-xs text-muted-foreground">{t('targets.file.formatsHelp', { max: formatBytes(MAX_FILE_BYTES) })}</p>
      </div>
      {readError && (
        <p role="alert" className="flex items-center gap-1 text-sm text-destructive">
          <AlertTriangle className="size-4 shrink-0" aria-hidden="true" />
          {readError}
        </p>
      )}

      {!uploaded && (
        <div className="flex flex-col gap-1">
          <label htmlFor={contentId} className="text-sm font-medium">
            {t('targets.file.paste')}
          </label>
          <textarea
            id={contentId}
            rows={5}
            value={value.content}
            placeholder={t('targets.file.pastePlaceholder')}
            spellCheck={false}
            aria-invalid={contentErrors.length > 0 || undefined}
            aria-describedby={describedBy(contentId, contentErrors)}
            onChange={(e) => onChange({ ...value, content: e.target.value })}
            className="w-full rounded-md border border-input bg-background px-3 py-2 font-mono text-sm aria-[invalid=true]:border-destructive"
          />
          <ErrorList id={contentId} messages={contentErrors} />
        </div>
      )}

      {uploaded && (
        <div className="flex flex-col gap-1">
          <p className="text-sm">
            <span className="font-medium">{value.name}</span>{' '}
            <span className="text-muted-foreground">
              {t('targets.file.stats', { count: lines.length, size: size !== null ? formatBytes(size) : formatBytes(new Blob([value.content]).size) })}
            </span>
          </p>
          <table className="w-full border-collapse font-mono text-xs" aria-describedby={`${id}-preview-caption`}>
            <caption id={`${id}-preview-caption`} className="pb-1 text-left font-sans text-sm font-medium">
              {t('targets.file.previewCaption', { shown: Math.min(PREVIEW_LINES, lines.length), count: lines.length })}
            </caption>
            <thead className="sr-only">
              <tr>
                <th scope="col">{t('targets.file.line')}</th>
                <th scope="col">{t('targets.file.text')}</th>
              </tr>
            </thead>
            <tbody>
              {lines.slice(0, PREVIEW_LINES).map((line, i) => (
                <tr key={i} className="border-b border-border last:border-0">
                  <td className="w-10 pr-2 text-right align-top text-muted-foreground select-none">{i + 1}</td>
                  <td className="break-all whitespace-pre-wrap">{line}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <ErrorList id={contentId} messages={contentErrors} />
        </div>
      )}

      <div className="grid gap-3 sm:grid-cols-2">
        <div className="flex flex-col gap-1">
          <label htmlFor={`${id}-format`} className="text-sm font-medium">
            {t('targets.file.format')}
          </label>
          <select
            id={`${id}-format`}
            value={format}
            onChange={(e) => onChange({ ...value, format: e.target.value as Schemas['FileFormat'] })}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="lines">{t('targets.file.formatLines')}</option>
            <option value="csv">{t('targets.file.formatCsv')}</option>
          </select>
        </div>
        <div className="flex flex-col gap-1">
          <label htmlFor={`${id}-header`} className="text-sm font-medium">
            {t('targets.file.header')}
          </label>
          <select
            id={`${id}-header`}
            value={value.has_header == null ? 'default' : value.has_header ? 'yes' : 'no'}
            onChange={(e) => onChange({ ...value, has_header: e.target.value === 'default' ? null : e.target.value === 'yes' })}
            aria-describedby={describedBy(`${id}-header`, headerErrors)}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="default">{format === 'csv' ? t('targets.file.headerDefaultCsv') : t('targets.file.headerDefaultLines')}</option>
            <option value="yes">{t('targets.file.headerYes')}</option>
            <option value="no">{t('targets.file.headerNo')}</option>
          </select>
          <ErrorList id={`${id}-header`} messages={headerErrors} />
        </div>
        {format === 'csv' && (
          <>
            <div className="flex flex-col gap-1">
              <label htmlFor={`${id}-column`} className="text-sm font-medium">
                {t('targets.file.column')}
              </label>
              <input
                id={`${id}-column`}
                value={value.column == null ? '' : String(value.column)}
                placeholder={t('targets.file.columnPlaceholder')}
                aria-invalid={columnErrors.length > 0 || undefined}
                aria-describedby={`${id}-column-help ${describedBy(`${id}-column`, columnErrors) ?? ''}`.trim()}
                onChange={(e) => onChange({ ...value, column: e.target.value.trim() === '' ? null : e.target.value })}
                className="h-9 rounded-md border border-input bg-background px-3 text-sm aria-[invalid=true]:border-destructive"
              />
              <p id={`${id}-column-help`} className="text-xs text-muted-foreground">
                {t('targets.file.columnHelp')}
              </p>
              <ErrorList id={`${id}-column`} messages={columnErrors} />
            </div>
            <div className="flex flex-col gap-1">
              <label htmlFor={`${id}-delimiter`} className="text-sm font-medium">
                {t('targets.file.delimiter')}
              </label>
              <select
                id={`${id}-delimiter`}
                value={value.delimiter ?? ','}
                onChange={(e) => onChange({ ...value, delimiter: e.target.value === ',' ? null : e.target.value })}
                aria-describedby={describedBy(`${id}-delimiter`, delimiterErrors)}
                className="h-9 rounded-md border border-input bg-background px-2 text-sm"
              >
                {DELIMITERS.map((d) => (
                  <option key={d.key} value={d.value}>
                    {t(`targets.file.delimiters.${d.key}`)}
                  </option>
                ))}
                {value.delimiter && !DELIMITERS.some((d) => d.value === value.delimiter) && (
                  <option value={value.delimiter}>{value.delimiter}</option>
                )}
              </select>
              <ErrorList id={`${id}-delimiter`} messages={delimiterErrors} />
            </div>
          </>
        )}
      </div>

      {mine.length > 0 && (
        <div className="rounded-md border border-warn p-2" role="region" aria-labelledby={`${id}-invalid-title`}>
          <p id={`${id}-invalid-title`} className="mb-1 flex items-center gap-1 text-sm font-medium">
            <AlertTriangle className="size-4 shrink-0 text-warn" aria-hidden="true" />
            {t('targets.file.invalidTitle', { count: mine.length + invalidOmitted })}
          </p>
          <table className="w-full border-collapse text-xs">
            <thead>
              <tr className="text-left text-muted-foreground">
                <th scope="col" className="w-14 pr-2 font-medium">
                  {t('targets.file.line')}
                </th>
                <th scope="col" className="pr-2 font-medium">
                  {t('targets.file.text')}
                </th>
                <th scope="col" className="font-medium">
                  {t('targets.file.reason')}
                </th>
              </tr>
            </thead>
            <tbody>
              {mine.map((l) => (
                <tr key={l.line} className="border-t border-border align-top">
                  <td className="pr-2 font-mono">{l.line}</td>
                  <td className="pr-2 font-mono break-all">{l.text}</td>
                  <td>{l.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {invalidOmitted > 0 && <p className="mt-1 text-xs text-muted-foreground">{t('targets.file.invalidOmitted', { count: invalidOmitted })}</p>}
        </div>
      )}
    </div>
  );
}
