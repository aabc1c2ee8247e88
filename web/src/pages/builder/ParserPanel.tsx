// Parsers of one action (the command's defaults or a list of its own) and the parser test
// panel: sample output goes to the controller (`POST /api/v1/library/parsers/test`; the
// browser's regex and JSONPath differ from the server's), which answers fields, rows and
// errors. "Fetch a real sample" dry-runs the action on one target and takes its raw output.
import { useId, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ArrowDown, ArrowUp, Download, FlaskConical, Loader2, Plus, Trash2 } from 'lucide-react';
import { toast } from 'sonner';
import { api, errorMessage, unwrap, type Schemas } from '../../api/client';
import { Button, Input } from '../../components/ui';
import { StatusBadge, type StatusName } from '../../components/Status';
import { cleanAction, moveItem, type ActionSpec, type LibraryCommand, type LibraryParser } from './model';

function show(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function FieldsTable({ fields, caption }: { fields: Record<string, unknown>; caption: string }) {
  const { t } = useTranslation();
  const entries = Object.entries(fields);
  return (
    <table className="w-full text-left text-xs">
      <caption className="py-1 text-left text-sm font-medium">{caption}</caption>
      <thead>
        <tr className="border-b border-border text-muted-foreground">
          <th scope="col" className="py-1 pr-2 font-medium">
            {t('builder.parser.field')}
          </th>
          <th scope="col" className="py-1 font-medium">
            {t('builder.parser.value')}
          </th>
        </tr>
      </thead>
      <tbody>
        {entries.length === 0 && (
          <tr>
            <td colSpan={2} className="py-1 text-muted-foreground">
              {t('builder.parser.noFields')}
            </td>
          </tr>
        )}
        {entries.map(([k, v]) => (
          <tr key={k} className="border-b border-border/50">
            <th scope="row" className="py-1 pr-2 font-mono font-normal">
              {k}
            </th>
            <td className="py-1 font-mono break-all">{show(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Rows the parser test shows at most: a big sample would otherwise freeze the tab. */
export const MAX_SHOWN_ROWS = 200;

function RowsTable({ rows: all, caption }: { rows: Record<string, unknown>[]; caption: string }) {
  const { t } = useTranslation();
  const rows = all.length > MAX_SHOWN_ROWS ? all.slice(0, MAX_SHOWN_ROWS) : all;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return (
    <div className="overflow-x-auto">
      {rows.length < all.length && (
        <p className="py-1 text-xs text-muted-foreground" data-testid="parser-rows-capped">
          {t('builder.parser.rowsCapped', { shown: rows.length, count: all.length })}
        </p>
      )}
      <table className="w-full text-left text-xs">
        <caption className="py-1 text-left text-sm font-medium">{caption}</caption>
        <thead>
          <tr className="border-b border-border text-muted-foreground">
            {columns.map((c) => (
              <th key={c} scope="col" className="py-1 pr-2 font-mono font-medium">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i} className="border-b border-border/50">
              {columns.map((c) => (
                <td key={c} className="py-1 pr-2 font-mono break-all">
                  {c in row ? show(row[c]) : ''}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ParsedView({ parsed }: { parsed: Schemas['ParsedOutput'] }) {
  const { t } = useTranslation();
  const errors = parsed.errors ?? [];
  const rows = parsed.rows ?? [];
  return (
    <div className="flex flex-col gap-2" data-testid="parser-test-result">
      <p className="text-sm" role="status">
        {errors.length > 0
          ? t('builder.parser.resultErrors', { count: errors.length })
          : t('builder.parser.resultOk', { fields: Object.keys(parsed.fields ?? {}).length, rows: rows.length })}
      </p>
      <FieldsTable fields={parsed.fields ?? {}} caption={t('builder.parser.fields')} />
      {rows.length > 0 && <RowsTable rows={rows} caption={t('builder.parser.rows', { count: rows.length })} />}
      {errors.length > 0 && (
        <div>
          <h5 className="text-sm font-medium">{t('builder.parser.errors')}</h5>
          <ul className="list-disc pl-5 text-xs text-destructive">
            {errors.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

export function ParserPanel({
  action,
  command,
  parsers,
  onChange,
  idPrefix,
  segment,
  problems,
  canRun,
  runReason,
}: {
  action: ActionSpec;
  command: LibraryCommand;
  parsers: LibraryParser[];
  onChange: (parsers: string[] | null) => void;
  idPrefix: string;
  segment?: string | null;
  problems: string[];
  /** Whether the user may dry-run (operators). */
  canRun: boolean;
  runReason?: string;
}) {
  const { t } = useTranslation();
  const uid = useId();
  const custom = Array.isArray(action.parsers);
  const effective = custom ? (action.parsers as string[]) : (command.parsers ?? []);
  const nameOf = (id: string) => parsers.find((p) => p.id === id)?.name ?? id;
  const [toAdd, setToAdd] = useState('');
  const [tested, setTested] = useState<string>('');
  const testedParser = tested || effective[0] || parsers[0]?.id || '';
  const [sample, setSample] = useState('');
  const [sampleTarget, setSampleTarget] = useState('');
  const [testing, setTesting] = useState(false);
  const [fetching, setFetching] = useState(false);
  const [parsed, setParsed] = useState<Schemas['ParsedOutput'] | null>(null);
  const [testError, setTestError] = useState<string | null>(null);
  const [dryRun, setDryRun] = useState<Schemas['DryRunOutcome'] | null>(null);
  const [testOpen, setTestOpen] = useState<boolean | null>(null);

  const test = async () => {
    setTesting(true);
    setTestError(null);
    try {
      const result = unwrap(await api.POST('/api/v1/library/parsers/test', { body: { parser: testedParser, sample } }));
      setParsed(result);
    } catch (error) {
      setParsed(null);
      setTestError(errorMessage(error));
    } finally {
      setTesting(false);
    }
  };

  const fetchSample = async () => {
    setFetching(true);
    setTestError(null);
    try {
      const result = unwrap(
        await api.POST('/api/v1/library/dry-run', {
          body: { action: cleanAction(action), target: sampleTarget.trim(), segment: segment || null },
        }),
      );
      setDryRun(result);
      setSample(result.result.raw_excerpt ?? '');
      toast.success(t('builder.parser.fetched', { target: sampleTarget.trim() }));
    } catch (error) {
      setDryRun(null);
      toast.error(t('builder.parser.fetchFailed', { message: errorMessage(error) }));
    } finally {
      setFetching(false);
    }
  };

  const librarySample = parsers.find((p) => p.id === testedParser)?.samples?.[0]?.input;

  return (
    <div className="flex flex-col gap-4">
      <fieldset id={`${idPrefix}-parsers`} className="flex flex-col gap-2" aria-describedby={problems.length ? `${idPrefix}-parsers-error` : undefined}>
        <legend className="text-sm font-medium">{t('builder.parser.legend')}</legend>
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            checked={!custom}
            onChange={(e) => onChange(e.target.checked ? null : [...(command.parsers ?? [])])}
          />
          {t('builder.parser.useDefault', {
            list: (command.parsers ?? []).length ? (command.parsers ?? []).map(nameOf).join(', ') : t('builder.parser.noneDefault'),
          })}
        </label>
        {custom && (
          <>
            <ol className="flex flex-col gap-1" aria-label={t('builder.parser.chosen')}>
              {effective.length === 0 && <li className="text-xs text-muted-foreground">{t('builder.parser.noneChosen')}</li>}
              {effective.map((id, i) => (
                <li key={`${id}-${i}`} className="flex items-center gap-2 rounded-md border border-border px-2 py-1 text-sm">
                  <span className="flex-1">
                    {nameOf(id)} <span className="font-mono text-xs text-muted-foreground">{id}</span>
                  </span>
                  <Button variant="ghost" size="sm" aria-label={t('builder.parser.moveUp', { name: nameOf(id) })} disabled={i === 0} onClick={() => onChange(moveItem(effective, i, i - 1))}>
                    <ArrowUp className="size-4" aria-hidden="true" />
                  </Button>
                  <Button variant="ghost" size="sm" aria-label={t('builder.parser.moveDown', { name: nameOf(id) })} disabled={i === effective.length - 1} onClick={() => onChange(moveItem(effective, i, i + 1))}>
                    <ArrowDown className="size-4" aria-hidden="true" />
                  </Button>
                  <Button variant="ghost" size="sm" aria-label={t('builder.parser.remove', { name: nameOf(id) })} onClick={() => onChange(effective.filter((_, j) => j !== i))}>
                    <Trash2 className="size-4" aria-hidden="true" />
                  </Button>
                </li>
              ))}
            </ol>
            <div className="flex items-end gap-2">
              <div className="flex flex-1 flex-col gap-1">
                <label htmlFor={`${uid}-add`} className="text-xs text-muted-foreground">
                  {t('builder.parser.addLabel')}
                </label>
                <select
                  id={`${uid}-add`}
                  className="h-9 rounded-md border border-input bg-background px-2 text-sm"
                  value={toAdd}
                  onChange={(e) => setToAdd(e.target.value)}
                >
                  <option value="">{t('builder.parser.choose')}</option>
                  {parsers.map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.name} ({p.id})
                    </option>
                  ))}
                </select>
              </div>
              <Button
                disabled={!toAdd}
                onClick={() => {
                  onChange([...effective, toAdd]);
                  setTested(toAdd);
                  setToAdd('');
                }}
              >
                <Plus className="size-4" aria-hidden="true" />
                {t('builder.parser.add')}
              </Button>
            </div>
          </>
        )}
        {problems.length > 0 && (
          <p id={`${idPrefix}-parsers-error`} className="text-xs text-destructive">
            {problems.join('; ')}
          </p>
        )}
      </fieldset>

      <details
        className="rounded-md border border-border p-3"
        open={testOpen ?? effective.length > 0}
        onToggle={(e) => {
          const open = e.currentTarget.open;
          if (open !== (testOpen ?? effective.length > 0)) setTestOpen(open);
        }}
      >
        <summary className="cursor-pointer text-sm font-medium">{t('builder.parser.testTitle')}</summary>
      <section className="mt-2 flex flex-col gap-2" aria-label={t('builder.parser.testTitle')}>
        <div className="flex flex-col gap-1">
          <label htmlFor={`${uid}-tested`} className="text-xs font-medium">
            {t('builder.parser.testedLabel')}
          </label>
          <select
            id={`${uid}-tested`}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
            value={testedParser}
            onChange={(e) => setTested(e.target.value)}
          >
            {parsers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({p.id})
              </option>
            ))}
          </select>
          {testedParser && (
            <p className="text-xs text-muted-foreground">{parsers.find((p) => p.id === testedParser)?.description}</p>
          )}
        </div>
        <div className="flex flex-col gap-1">
          <label htmlFor={`${uid}-sample`} className="text-xs font-medium">
            {t('builder.parser.sampleLabel')}
          </label>
          <textarea
            id={`${uid}-sample`}
            rows={6}
            className="rounded-md border border-input bg-background p-2 font-mono text-xs"
            value={sample}
            placeholder={t('builder.parser.samplePlaceholder')}
            onChange={(e) => setSample(e.target.value)}
          />
        </div>
        <div className="flex flex-wrap items-end gap-2">
          <Button variant="primary" onClick={() => void test()} disabled={!testedParser || !sample || testing}>
            {testing ? <Loader2 className="size-4 animate-spin" aria-hidden="true" /> : <FlaskConical className="size-4" aria-hidden="true" />}
            {t('builder.parser.test')}
          </Button>
          {librarySample !== undefined && (
            <Button onClick={() => setSample(librarySample)}>{t('builder.parser.useLibrarySample')}</Button>
          )}
          <div className="flex flex-col gap-1">
            <label htmlFor={`${uid}-target`} className="text-xs font-medium">
              {t('builder.parser.sampleTarget')}
            </label>
            <Input
              id={`${uid}-target`}
              className="h-8 w-44"
              placeholder="10.0.0.1"
              value={sampleTarget}
              onChange={(e) => setSampleTarget(e.target.value)}
            />
          </div>
          <Button
            size="sm"
            onClick={() => void fetchSample()}
            disabled={!canRun || !sampleTarget.trim() || fetching}
            disabledReason={!canRun ? runReason : !sampleTarget.trim() ? t('builder.parser.needTarget') : undefined}
          >
            {fetching ? <Loader2 className="size-4 animate-spin" aria-hidden="true" /> : <Download className="size-4" aria-hidden="true" />}
            {t('builder.parser.fetch')}
          </Button>
        </div>
        {dryRun && (
          <div className="flex flex-col gap-1 rounded-md bg-muted p-2 text-xs" data-testid="dry-run-result">
            <p className="flex flex-wrap items-center gap-2">
              {t('builder.parser.dryRunVerdict', { segment: dryRun.segment })}
              <StatusBadge status={dryRun.result.status as StatusName} />
            </p>
            {dryRun.result.reason && <p>{dryRun.result.reason}</p>}
            <code className="font-mono break-all">{dryRun.rendered}</code>
          </div>
        )}
        {testError && (
          <p role="alert" className="text-xs text-destructive">
            {t('builder.parser.testFailed', { message: testError })}
          </p>
        )}
        {parsed && <ParsedView parsed={parsed} />}
      </section>
      </details>
    </div>
  );
}
