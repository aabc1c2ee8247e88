// Importing devices: a CSV or JSON file chosen or dropped (the format follows its extension
// and can be changed), checked by the server first (a dry run writes nothing and reports
// every problem by line), then imported. Lines with a problem are left out; the rest go in.
import { useId, useState, type DragEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useQueryClient } from '@tanstack/react-query';
import { AlertTriangle, CheckCircle2, FileUp } from 'lucide-react';
import { toast } from 'sonner';
import { Dialog } from '../../components/Dialog';
import { Button, Field } from '../../components/ui';
import { fieldError, FormAlert, formError, Select, TableHead, tableClass, tdClass } from '../../components/widgets';
import { cn } from '../../lib/cn';
import { formatOf, importDevices, type ImportReport, type InventoryFormat } from '../../lib/inventory';
import { formatNumber } from '../runs/format';

/** The server's limit (`MAX_IMPORT_BYTES`). */
const MAX_BYTES = 16 * 1024 * 1024;
/** Problems listed at most (the rest are counted). */
const MAX_PROBLEMS_SHOWN = 500;

interface Loaded {
  name: string;
  text: string;
  size: number;
}

type Phase = { step: 'idle' } | { step: 'checking' } | { step: 'checked'; report: ImportReport } | { step: 'importing'; report: ImportReport } | { step: 'done'; report: ImportReport };

export function ProblemTable({ report }: { report: ImportReport }) {
  const { t } = useTranslation();
  if (report.problems.length === 0) return null;
  const shown = report.problems.slice(0, MAX_PROBLEMS_SHOWN);
  return (
    <div className="relative max-h-72 overflow-auto rounded-md border border-border" tabIndex={0} role="region" aria-label={t('inventory.import.problemsCaption')}>
      <table className={tableClass} data-testid="import-problems">
        <TableHead caption={t('inventory.import.problemsCaption')} columns={[t('inventory.import.line'), t('inventory.import.field'), t('inventory.import.problem')]} />
        <tbody>
          {shown.map((p, i) => (
            <tr key={i} data-testid="import-problem">
              <th scope="row" className={`${tdClass} text-left font-normal tabular-nums`}>
                {p.line}
              </th>
              <td className={`${tdClass} font-mono text-xs`}>{p.field || t('inventory.import.wholeLine')}</td>
              <td className={tdClass}>{p.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {report.problems.length > shown.length && (
        <p className="p-2 text-xs text-muted-foreground">{t('inventory.import.moreProblems', { count: report.problems.length - shown.length })}</p>
      )}
    </div>
  );
}

function Summary({ report, name }: { report: ImportReport; name: string }) {
  const { t } = useTranslation();
  const clean = report.problems.length === 0;
  const Icon = clean ? CheckCircle2 : AlertTriangle;
  const text = report.dry_run
    ? clean
      ? t('inventory.import.checkedClean', { name })
      : t('inventory.import.checkedProblems', { name, count: report.problems.length, rejected: formatNumber(report.rejected) })
    : t('inventory.import.imported', {
        created: formatNumber(report.created),
        updated: formatNumber(report.updated),
        rejected: formatNumber(report.rejected),
      });
  return (
    <p className="flex items-start gap-1.5 text-sm" data-testid="import-summary">
      <Icon className={cn('mt-0.5 size-4 shrink-0', clean ? 'text-ok' : 'text-warn')} aria-hidden="true" />
      <span>{text}</span>
    </p>
  );
}

export function ImportDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (open: boolean) => void }) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [file, setFile] = useState<Loaded | null>(null);
  const [format, setFormat] = useState<InventoryFormat>('csv');
  const [phase, setPhase] = useState<Phase>({ step: 'idle' });
  const [error, setError] = useState<unknown>(null);
  const [readError, setReadError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);

  const reset = () => {
    setFile(null);
    setPhase({ step: 'idle' });
    setError(null);
    setReadError(null);
  };

  async function check(loaded: Loaded, as: InventoryFormat) {
    setError(null);
    setPhase({ step: 'checking' });
    try {
      const report = await importDevices(loaded.text, as, true);
      setPhase({ step: 'checked', report });
    } catch (e) {
      setError(e);
      setPhase({ step: 'idle' });
    }
  }

  async function load(chosen: File) {
    reset();
    if (chosen.size > MAX_BYTES) {
      setReadError(t('inventory.import.tooLarge', { name: chosen.name }));
      return;
    }
    try {
      const loaded = { name: chosen.name, text: await chosen.text(), size: chosen.size };
      const as = formatOf(chosen.name);
      setFile(loaded);
      setFormat(as);
      await check(loaded, as);
    } catch (e) {
      setReadError(t('inventory.import.readFailed', { name: chosen.name, message: e instanceof Error ? e.message : String(e) }));
    }
  }

  async function run() {
    if (!file || phase.step !== 'checked') return;
    setError(null);
    setPhase({ step: 'importing', report: phase.report });
    try {
      const report = await importDevices(file.text, format, false);
      setPhase({ step: 'done', report });
      toast.success(t('inventory.import.toast', { created: report.created, updated: report.updated, rejected: report.rejected }));
      void queryClient.invalidateQueries({ queryKey: ['devices'] });
      void queryClient.invalidateQueries({ queryKey: ['device'] });
      void queryClient.invalidateQueries({ queryKey: ['groups'] });
    } catch (e) {
      setError(e);
      setPhase({ step: 'checked', report: phase.report });
    }
  }

  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    setDragging(false);
    const dropped = e.dataTransfer.files?.[0];
    if (dropped) void load(dropped);
  };

  const close = () => {
    reset();
    onOpenChange(false);
  };
  const fileError = fieldError(error, 'file');
  const report = phase.step === 'checked' || phase.step === 'importing' || phase.step === 'done' ? phase.report : null;
  const busy = phase.step === 'checking' || phase.step === 'importing';

  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        if (busy) return;
        if (!next) reset();
        onOpenChange(next);
      }}
      title={t('inventory.import.title')}
      description={t('inventory.import.description')}
      wide
      footer={
        phase.step === 'done' ? (
          <>
            <Button onClick={reset}>{t('inventory.import.another')}</Button>
            <Button variant="primary" onClick={close}>
              {t('inventory.import.done')}
            </Button>
          </>
        ) : (
          <>
            <Button onClick={close} disabled={busy}>
              {t('common.cancel')}
            </Button>
            <Button
              variant="primary"
              disabled={phase.step !== 'checked'}
              disabledReason={phase.step === 'importing' ? t('inventory.import.importing') : t('inventory.import.checkFirst')}
              onClick={() => void run()}
            >
              {phase.step === 'importing' ? t('inventory.import.importing') : t('inventory.import.run')}
            </Button>
          </>
        )
      }
    >
      {phase.step !== 'done' && (
        <div
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
          data-testid="import-drop-zone"
          className={cn('flex flex-col items-center gap-2 rounded-md border-2 border-dashed border-border p-4 text-center text-sm', dragging && 'border-primary bg-accent')}
        >
          <FileUp className="size-6 text-muted-foreground" aria-hidden="true" />
          <p>{dragging ? t('inventory.import.dropNow') : t('inventory.import.dropHere')}</p>
          {/* The input itself takes focus (Enter or Space opens the picker); its label looks like a button. */}
          <input
            id={`${id}-file`}
            type="file"
            accept=".csv,.json,text/csv,application/json"
            className="peer sr-only"
            aria-describedby={fileError ? `${id}-file-error` : undefined}
            onChange={(e) => {
              const chosen = e.target.files?.[0];
              if (chosen) void load(chosen);
              e.target.value = '';
            }}
          />
          <label
            htmlFor={`${id}-file`}
            className="inline-flex h-8 cursor-pointer items-center gap-1.5 rounded-md border border-border bg-secondary px-2.5 text-sm font-medium text-secondary-foreground hover:bg-accent peer-focus-visible:ring-2 peer-focus-visible:ring-ring peer-focus-visible:ring-offset-2"
          >
            {file ? t('inventory.import.replace') : t('inventory.import.choose')}
          </label>
          {file && (
            <p className="text-xs text-muted-foreground" data-testid="import-file">
              {t('inventory.import.fileInfo', { name: file.name, size: formatNumber(file.size) })}
            </p>
          )}
        </div>
      )}
      {readError && (
        <p role="alert" className="text-sm text-destructive">
          {readError}
        </p>
      )}
      {fileError && (
        <p id={`${id}-file-error`} role="alert" className="text-sm text-destructive">
          {t('inventory.import.fileRefused', { message: fileError })}
        </p>
      )}
      {file && phase.step !== 'done' && (
        <div className="max-w-xs">
          <Field id={`${id}-format`} label={t('inventory.import.format')}>
            <Select
              id={`${id}-format`}
              value={format}
              disabled={busy}
              onChange={(e) => {
                const next = e.target.value as InventoryFormat;
                setFormat(next);
                void check(file, next);
              }}
            >
              <option value="csv">CSV</option>
              <option value="json">JSON</option>
            </Select>
          </Field>
        </div>
      )}
      <FormAlert message={fileError ? undefined : formError(error, ['file'])} />
      <div role="status" aria-live="polite" className="flex flex-col gap-2">
        {phase.step === 'checking' && <p className="text-sm text-muted-foreground">{t('inventory.import.checking')}</p>}
        {report && file && <Summary report={report} name={file.name} />}
      </div>
      {report && <ProblemTable report={report} />}
      {phase.step === 'checked' && report && report.problems.length > 0 && (
        <p className="text-sm text-muted-foreground">{t('inventory.import.leftOutNote')}</p>
      )}
    </Dialog>
  );
}
