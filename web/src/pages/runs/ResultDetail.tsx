// One result in full: outcome, timings, the fields and rows the parsers produced and the
// raw output the agent kept.
import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import { Copy, X } from 'lucide-react';
import { toast } from 'sonner';
import { Button, Card } from '../../components/ui';
import { StatusBadge } from '../../components/Status';
import { formatDateTime, formatLatency } from './format';
import { resultKey, type ResultRecord } from './useRunResults';

function display(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

const MAX_ROWS_SHOWN = 200;

export function ResultDetail({
  result,
  actionLabel,
  onClose,
}: {
  result: ResultRecord;
  actionLabel: (index: number) => string;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  // Focus moves to the heading when a result opens (its own, not on live updates of it);
  // the caller returns it to the row's button on close.
  const headingRef = useRef<HTMLHeadingElement>(null);
  const key = resultKey(result);
  useEffect(() => {
    headingRef.current?.focus();
  }, [key]);
  const fields = Object.entries(result.fields ?? {});
  const timings = Object.entries(result.timings ?? {});
  const rows = result.rows ?? [];
  const rowColumns = Array.from(new Set(rows.slice(0, MAX_ROWS_SHOWN).flatMap((row) => Object.keys(row))));

  const copyRaw = async () => {
    try {
      await navigator.clipboard.writeText(result.raw_excerpt ?? '');
      toast.success(t('runs.detail.rawCopied'));
    } catch {
      toast.error(t('runs.detail.copyFailed'));
    }
  };

  return (
    <Card id="result-detail" className="flex flex-col gap-4 p-4" role="region" aria-labelledby="result-detail-heading" data-testid="result-detail">
      <div className="flex items-start justify-between gap-2">
        <div className="min-w-0">
          <h2 id="result-detail-heading" ref={headingRef} tabIndex={-1} className="truncate font-mono text-base font-semibold">
            {result.target}
          </h2>
          <p className="text-sm text-muted-foreground">{actionLabel(result.action_index)}</p>
        </div>
        <Button variant="ghost" size="sm" onClick={onClose} aria-label={t('runs.detail.close')}>
          <X className="size-4" aria-hidden="true" />
        </Button>
      </div>

      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="text-muted-foreground">{t('runs.detail.status')}</dt>
        <dd>
          <StatusBadge status={result.status} />
        </dd>
        {result.reason && (
          <>
            <dt className="text-muted-foreground">{t('runs.detail.reason')}</dt>
            <dd data-testid="result-reason">{result.reason}</dd>
          </>
        )}
        <dt className="text-muted-foreground">{t('runs.detail.started')}</dt>
        <dd>{formatDateTime(result.started_at)}</dd>
        <dt className="text-muted-foreground">{t('runs.detail.duration')}</dt>
        <dd className="tabular-nums">{formatLatency(result.duration_ms)}</dd>
        {result.agent_id && (
          <>
            <dt className="text-muted-foreground">{t('runs.detail.agent')}</dt>
            <dd className="truncate font-mono text-xs leading-5">{result.agent_id}</dd>
          </>
        )}
        {timings.map(([name, value]) => (
          <div key={name} className="contents">
            <dt className="text-muted-foreground">{t('runs.detail.timing', { name })}</dt>
            <dd className="tabular-nums">{typeof value === 'number' ? formatLatency(value) : display(value)}</dd>
          </div>
        ))}
      </dl>

      <section aria-labelledby="result-fields-heading" className="flex flex-col gap-2">
        <h3 id="result-fields-heading" className="text-sm font-semibold">
          {t('runs.detail.fields')}
        </h3>
        {fields.length === 0 ? (
          <p className="text-sm text-muted-foreground">{t('runs.detail.noFields')}</p>
        ) : (
          <table className="w-full text-sm" data-testid="result-fields">
            <thead className="sr-only">
              <tr>
                <th scope="col">{t('runs.detail.fieldName')}</th>
                <th scope="col">{t('runs.detail.fieldValue')}</th>
              </tr>
            </thead>
            <tbody>
              {fields.map(([name, value]) => (
                <tr key={name} className="border-b border-border/60 align-top">
                  <th scope="row" className="py-1 pr-3 text-left font-mono text-xs font-normal text-muted-foreground">
                    {name}
                  </th>
                  <td className="py-1 font-mono text-xs break-all">{display(value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {rows.length > 0 && (
        <section aria-labelledby="result-rows-heading" className="flex flex-col gap-2">
          <h3 id="result-rows-heading" className="text-sm font-semibold">
            {t('runs.detail.rows', { count: rows.length })}
          </h3>
          <div className="max-h-64 overflow-auto rounded border border-border">
            <table className="w-full text-xs">
              <thead className="sticky top-0 bg-muted">
                <tr>
                  {rowColumns.map((column) => (
                    <th key={column} scope="col" className="px-2 py-1 text-left font-medium">
                      {column}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.slice(0, MAX_ROWS_SHOWN).map((row, i) => (
                  <tr key={i} className="border-t border-border/60">
                    {rowColumns.map((column) => (
                      <td key={column} className="px-2 py-1 font-mono">
                        {display(row[column])}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {rows.length > MAX_ROWS_SHOWN && (
            <p className="text-xs text-muted-foreground">{t('runs.detail.rowsCapped', { shown: MAX_ROWS_SHOWN })}</p>
          )}
        </section>
      )}

      <section aria-labelledby="result-raw-heading" className="flex flex-col gap-2">
        <div className="flex items-center justify-between gap-2">
          <h3 id="result-raw-heading" className="text-sm font-semibold">
            {t('runs.detail.raw')}
          </h3>
          {result.raw_excerpt && (
            <Button size="sm" variant="ghost" onClick={() => void copyRaw()}>
              <Copy className="size-4" aria-hidden="true" />
              {t('runs.detail.copyRaw')}
            </Button>
          )}
        </div>
        {result.raw_excerpt ? (
          <pre
            data-testid="result-raw"
            tabIndex={0}
            aria-labelledby="result-raw-heading"
            className="max-h-72 overflow-auto rounded bg-muted p-3 font-mono text-xs whitespace-pre-wrap"
          >
            {result.raw_excerpt}
          </pre>
        ) : (
          <p className="text-sm text-muted-foreground">{t('runs.detail.noRaw')}</p>
        )}
      </section>
    </Card>
  );
}
