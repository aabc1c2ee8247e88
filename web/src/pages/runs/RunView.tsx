// One run: live progress over the WebSocket, cancel, every per-target result (virtualized,
// sortable and filterable; filters kept in the URL), a result's detail with its raw output
// and parsed fields, what exactly ran (job version, rendered commands) and export.
import { useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { saveBlob } from '../../lib/download';
import { useNow } from '../../lib/hooks';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Ban, Download, History, Radio, SearchX } from 'lucide-react';
import { ApiError, api, authedFetch, errorMessage, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { useLive } from '../../lib/live';
import { ConfirmDialog } from '../../components/Dialog';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, ErrorState, Field, Input, LoadingRows, PageHeader, Skeleton } from '../../components/ui';
import { cn } from '../../lib/cn';
import { RESULT_STATUSES, counterOf, formatDateTime, formatNumber, runDuration, type ResultStatus } from './format';
import { doneCount, isTerminal, percentDone } from '../../lib/runs';
import { ResultDetail } from './ResultDetail';
import { ResultsTable, sortRows, targetOrder, type SortColumn, type SortState } from './ResultsTable';
import { RUNNING_REREAD_GAP_MS, useRunResults } from './useRunResults';
import { LINK_BUTTON } from './RunsTable';
import { maskSecretParams, useLibraryCommands } from './secrets';

type RunDetail = Schemas['RunDetail'];

const BAR_COLOURS: Record<ResultStatus, string> = {
  ok: 'bg-ok',
  warn: 'bg-warn',
  fail: 'bg-fail',
  error: 'bg-fail/70',
  timeout: 'bg-fail/45',
};

function parseSort(value: string | null): SortState {
  const dir = value?.startsWith('-') ? 'desc' : 'asc';
  const column = (value?.replace(/^-/, '') ?? 'target') as SortColumn;
  return ['status', 'target', 'action', 'latency'].includes(column) ? { column, dir } : { column: 'target', dir: 'asc' };
}

/** Downloads a run's results through the authenticated fetch, as a file. */
export async function downloadExport(runId: string, format: 'csv' | 'json', status?: ResultStatus): Promise<string> {
  const query = new URLSearchParams({ run_id: runId, format });
  if (status) query.set('status', status);
  const response = await authedFetch(`/api/v1/results/export?${query.toString()}`);
  const blob = await response.blob();
  const name = `run-${runId}${status ? `-${status}` : ''}.${format === 'csv' ? 'csv' : 'ndjson'}`;
  saveBlob(blob, name);
  return name;
}

function ProgressPanel({
  run,
  statusFilter,
  onStatusFilter,
}: {
  run: RunDetail;
  statusFilter: ResultStatus | null;
  onStatusFilter: (status: ResultStatus | null) => void;
}) {
  const { t } = useTranslation();
  const counters = run.counters;
  const done = doneCount(counters);
  const percent = percentDone(counters);
  const running = !isTerminal(run.status);
  const now = useNow(1000, running && !!run.started_at);
  const text = t('runs.progress.text', {
    done: formatNumber(done),
    total: formatNumber(counters.total),
    percent,
  });

  return (
    <Card className="flex flex-col gap-4 p-4" data-testid="run-progress-panel">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 className="text-base font-semibold">{t('runs.progress.heading')}</h2>
        <div className="flex items-center gap-3">
          {running && (
            <span className="inline-flex items-center gap-1 text-xs text-info">
              <Radio className="size-3.5" aria-hidden="true" />
              {t('runs.progress.live')}
            </span>
          )}
          <span data-testid="run-status">
            <StatusBadge status={run.status} />
          </span>
        </div>
      </div>

      <div className="flex flex-col gap-1.5">
        <div
          role="progressbar"
          aria-label={t('runs.progress.label')}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          aria-valuetext={text}
          data-testid="run-progress"
          className="flex h-3 w-full overflow-hidden rounded-full bg-muted"
        >
          {counters.total > 0 &&
            RESULT_STATUSES.map((status) => {
              const n = counterOf(counters, status);
              if (n === 0) return null;
              return (
                <div
                  key={status}
                  className={cn('h-full transition-[width] duration-300', BAR_COLOURS[status])}
                  style={{ width: `${(n / counters.total) * 100}%` }}
                />
              );
            })}
        </div>
        <p className="text-sm tabular-nums" data-testid="run-progress-text">
          {text}
        </p>
      </div>

      <ul className="grid grid-cols-2 gap-2 sm:grid-cols-3 lg:grid-cols-5" aria-label={t('runs.progress.counters')}>
        {RESULT_STATUSES.map((status) => {
          const n = counterOf(counters, status);
          const active = statusFilter === status;
          return (
            <li key={status}>
              <button
                type="button"
                aria-pressed={active}
                onClick={() => onStatusFilter(active ? null : status)}
                title={t('runs.progress.filterHint')}
                className={cn(
                  'flex w-full items-center justify-between gap-2 rounded-md border border-border px-3 py-2 text-left hover:bg-accent',
                  active && 'bg-accent ring-2 ring-ring',
                )}
              >
                <StatusBadge status={status} />
                <span className="text-lg font-semibold tabular-nums" data-testid={`counter-${status}`}>
                  {formatNumber(n)}
                </span>
              </button>
            </li>
          );
        })}
      </ul>

      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm sm:grid-cols-[auto_1fr_auto_1fr]">
        <dt className="text-muted-foreground">{t('runs.fields.trigger')}</dt>
        <dd>{t(`runs.trigger.${run.trigger}`)}</dd>
        <dt className="text-muted-foreground">{t('runs.fields.created')}</dt>
        <dd>{formatDateTime(run.created_at)}</dd>
        <dt className="text-muted-foreground">{t('runs.fields.started')}</dt>
        <dd>{formatDateTime(run.started_at)}</dd>
        <dt className="text-muted-foreground">{t('runs.fields.finished')}</dt>
        <dd>{run.finished_at ? formatDateTime(run.finished_at) : t('runs.fields.notYet')}</dd>
        <dt className="text-muted-foreground">{t('runs.fields.duration')}</dt>
        <dd className="tabular-nums" data-testid="run-duration">
          {run.started_at ? runDuration(run, now) : '—'}
        </dd>
        {running && (
          <>
            <dt className="text-muted-foreground">{t('runs.fields.deadline')}</dt>
            <dd>{formatDateTime(run.deadline_at)}</dd>
          </>
        )}
      </dl>
      {run.reason && (
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 text-sm">
          <dt className="text-muted-foreground">{t('runs.fields.reason')}</dt>
          <dd data-testid="run-reason">{run.reason}</dd>
        </dl>
      )}
    </Card>
  );
}

/** The chunk states the server reports (`runs.chunkState.*`); others are shown as they come. */
const CHUNK_STATES = ['pending', 'published', 'running', 'done', 'dead', 'cancelled'];

function WhatRan({ run }: { run: RunDetail }) {
  const { t } = useTranslation();
  const commands = useLibraryCommands();
  // The job as it ran, its secret params masked (the library says which are secret).
  const spec = useMemo(
    () => ({ ...run.job_spec, actions: maskSecretParams(run.job_spec.actions, commands.data) }),
    [run.job_spec, commands.data],
  );
  const stateName = (state: string) =>
    CHUNK_STATES.includes(state) ? t(`runs.chunkState.${state}`) : state === '?' ? t('runs.chunkState.unknown') : state;
  const chunks = run.chunks as unknown as { state?: string; segment?: string }[];
  const byState = new Map<string, number>();
  const segments = new Set<string>();
  for (const chunk of chunks) {
    const state = chunk.state ?? '?';
    byState.set(state, (byState.get(state) ?? 0) + 1);
    if (chunk.segment) segments.add(chunk.segment);
  }
  return (
    <Card className="flex flex-col gap-3 p-4" role="region" aria-labelledby="what-ran-heading" data-testid="what-ran">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="what-ran-heading" className="text-base font-semibold">
          {t('runs.whatRan.heading')}
        </h2>
        <span className="text-sm text-muted-foreground" data-testid="run-job-version">
          {t('runs.whatRan.version', { version: run.job_version })}
        </span>
      </div>
      <ol className="flex flex-col gap-2" aria-label={t('runs.whatRan.commands')}>
        {run.rendered_commands.map((command) => {
          const action = run.job_spec.actions[command.index];
          return (
            <li key={command.index} className="flex flex-col gap-1" data-testid="rendered-command">
              <span className="text-sm">
                {t('runs.whatRan.action', {
                  n: command.index + 1,
                  name: action?.name || command.command,
                })}
                {action?.name && <span className="ml-1 font-mono text-xs text-muted-foreground">({command.command})</span>}
              </span>
              <pre className="overflow-x-auto rounded bg-muted p-2 font-mono text-xs whitespace-pre-wrap" tabIndex={0}>
                {command.text}
              </pre>
            </li>
          );
        })}
      </ol>
      {chunks.length > 0 && (
        <p className="text-sm text-muted-foreground">
          {t('runs.whatRan.chunks', {
            count: chunks.length,
            states: [...byState.entries()]
              .map(([state, n]) => t('runs.whatRan.chunkCount', { count: n, n: formatNumber(n), state: stateName(state) }))
              .join(', '),
            segments: [...segments].join(', ') || '—',
          })}
        </p>
      )}
      <details className="text-sm">
        <summary className="cursor-pointer font-medium">{t('runs.whatRan.spec', { version: run.job_version })}</summary>
        <pre className="mt-2 max-h-96 overflow-auto rounded bg-muted p-3 font-mono text-xs" tabIndex={0} data-testid="run-job-spec">
          {JSON.stringify(spec, null, 2)}
        </pre>
      </details>
    </Card>
  );
}

function ResultsSection({ run }: { run: RunDetail }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const statusParam = params.get('status');
  const status = (RESULT_STATUSES as string[]).includes(statusParam ?? '') ? (statusParam as ResultStatus) : null;
  const text = params.get('q') ?? '';
  const deferredText = useDeferredValue(text);
  const sort = parseSort(params.get('sort'));
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const [exporting, setExporting] = useState<'csv' | 'json' | null>(null);
  const { rows, state, addLive, reread, retry, loadedCount } = useRunResults(run.id);

  const setParam = (name: string, value: string | null) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );

  const done = doneCount(run.counters);

  useLive({ runs: [run.id] }, (message) => {
    switch (message.type) {
      case 'run_progress':
        if (message.run.id !== run.id) return;
        // A run that just finished: read its detail again for the final chunk states.
        if (isTerminal(message.run.status) && !isTerminal(run.status)) {
          void queryClient.invalidateQueries({ queryKey: ['run', run.id] });
        }
        queryClient.setQueryData<RunDetail>(['run', run.id], (old) => (old ? { ...old, ...message.run } : old));
        // The last results may have been skipped by the rate limit: make sure all are in.
        if (isTerminal(message.run.status) && loadedCount() < doneCount(message.run.counters)) reread(0);
        return;
      case 'results':
        if (message.run_id === run.id) addLive(message.results);
        return;
      case 'results_skipped':
        if (message.run_id === run.id) reread(isTerminal(run.status) ? undefined : RUNNING_REREAD_GAP_MS);
        return;
      case 'resync':
        void queryClient.invalidateQueries({ queryKey: ['run', run.id] });
        reread();
        return;
      default:
        return;
    }
  });

  const actionLabel = useMemo(() => {
    const labels = run.job_spec.actions.map((a) => a.name || a.command);
    return (index: number) => labels[index] ?? t('runs.results.actionN', { n: index + 1 });
  }, [run.job_spec.actions, t]);

  // Sorted once per change of rows or sort; filtering then keeps that order.
  const byTarget = useMemo(() => targetOrder(rows), [rows]);
  const sorted = useMemo(() => sortRows(byTarget, { column: sort.column, dir: sort.dir }), [byTarget, sort.column, sort.dir]);
  const visible = useMemo(() => {
    const needle = deferredText.trim().toLowerCase();
    if (!status && !needle) return sorted;
    return sorted.filter(
      (row) => (!status || row.result.status === status) && (!needle || row.result.target.toLowerCase().includes(needle)),
    );
  }, [sorted, status, deferredText]);

  const selected = useMemo(() => (selectedKey ? rows.find((row) => row.key === selectedKey) : undefined), [rows, selectedKey]);

  // Closing the detail returns focus to the button of its row (or, when that row is
  // scrolled out of the DOM or filtered away, to the results heading).
  const tableRef = useRef<HTMLDivElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const closeDetail = () => {
    const index = selectedKey ? visible.findIndex((row) => row.key === selectedKey) : -1;
    setSelectedKey(null);
    requestAnimationFrame(() => {
      const button = index >= 0 ? tableRef.current?.querySelector<HTMLButtonElement>(`[data-index="${index}"] button`) : null;
      if (button) button.focus();
      else headingRef.current?.focus();
    });
  };

  const onExport = async (format: 'csv' | 'json') => {
    setExporting(format);
    try {
      const name = await downloadExport(run.id, format, status ?? undefined);
      toast.success(t('runs.export.done', { name }));
    } catch (error) {
      toast.error(t('runs.export.failed', { message: errorMessage(error) }));
    } finally {
      setExporting(null);
    }
  };

  const loading = state.phase === 'loading';
  const countText =
    loading && rows.length < done
      ? t('runs.results.loading', { loaded: formatNumber(rows.length), total: formatNumber(done) })
      : status || text
        ? t('runs.results.showing', { shown: formatNumber(visible.length), total: formatNumber(rows.length) })
        : t('runs.results.all', { count: rows.length, total: formatNumber(rows.length) });

  return (
    <section aria-labelledby="results-heading" className="flex flex-col gap-3">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <h2 id="results-heading" ref={headingRef} tabIndex={-1} className="text-base font-semibold">
          {t('runs.results.heading')}
        </h2>
        <div className="flex flex-wrap items-center gap-2" role="group" aria-label={t('runs.export.group')}>
          <Button size="sm" onClick={() => void onExport('csv')} disabled={exporting !== null}>
            <Download className="size-4" aria-hidden="true" />
            {exporting === 'csv' ? t('runs.export.working') : t('runs.export.csv')}
          </Button>
          <Button size="sm" onClick={() => void onExport('json')} disabled={exporting !== null}>
            <Download className="size-4" aria-hidden="true" />
            {exporting === 'json' ? t('runs.export.working') : t('runs.export.ndjson')}
          </Button>
        </div>
      </div>

      <div className="flex flex-wrap items-end gap-3">
        <Field id="results-status" label={t('runs.results.filterStatus')}>
          <select
            id="results-status"
            value={status ?? ''}
            onChange={(event) => setParam('status', event.target.value || null)}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="">{t('runs.results.allStatuses')}</option>
            {RESULT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)} ({formatNumber(counterOf(run.counters, s))})
              </option>
            ))}
          </select>
        </Field>
        <div className="w-64">
          <Field id="results-target" label={t('runs.results.filterTarget')}>
            <Input
              id="results-target"
              type="search"
              value={text}
              placeholder={t('runs.results.filterTargetPlaceholder')}
              onChange={(event) => setParam('q', event.target.value || null)}
              autoComplete="off"
            />
          </Field>
        </div>
        <p className="pb-2 text-sm text-muted-foreground" aria-live="polite" data-testid="results-count">
          {countText}
        </p>
        {status && (
          <p className="pb-2 text-xs text-muted-foreground">{t('runs.export.filtered', { status: t(`status.${status}`) })}</p>
        )}
      </div>

      {state.phase === 'error' && rows.length > 0 && (
        <div role="alert" className="flex items-center gap-3 rounded-md border border-destructive p-2 text-sm">
          {t('runs.results.partialError', { message: errorMessage(state.error) })}
          <Button size="sm" onClick={retry}>
            {t('common.retry')}
          </Button>
        </div>
      )}

      <div className={cn('grid gap-4', selected && 'xl:grid-cols-[minmax(0,1fr)_28rem]')}>
        <div className="min-w-0" ref={tableRef}>
          {rows.length === 0 ? (
            state.phase === 'error' ? (
              <ErrorState error={state.error} onRetry={retry} />
            ) : loading || done > 0 ? (
              <LoadingRows rows={6} />
            ) : (
              <Card>
                <EmptyState title={t('runs.results.emptyTitle')}>
                  {isTerminal(run.status) ? t('runs.results.emptyDone') : t('runs.results.emptyWaiting')}
                </EmptyState>
              </Card>
            )
          ) : visible.length === 0 ? (
            <Card>
              <EmptyState icon={<SearchX className="size-6" aria-hidden="true" />} title={t('runs.results.noMatchTitle')}>
                {t('runs.results.noMatch')}
              </EmptyState>
            </Card>
          ) : (
            <ResultsTable
              rows={visible}
              sort={sort}
              onSort={(next) => setParam('sort', next.column === 'target' && next.dir === 'asc' ? null : `${next.dir === 'desc' ? '-' : ''}${next.column}`)}
              selectedKey={selectedKey}
              onSelect={(row) => setSelectedKey(row.key)}
              actionLabel={actionLabel}
            />
          )}
        </div>
        {selected && (
          <div className="min-w-0">
            <ResultDetail result={selected.result} actionLabel={actionLabel} onClose={closeDetail} />
          </div>
        )}
      </div>
    </section>
  );
}

export default function RunView() {
  const { runId = '' } = useParams();
  const { t } = useTranslation();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [cancelReason, setCancelReason] = useState('');
  const [statusFilterParams, setStatusFilterParams] = useSearchParams();

  const run = useQuery({
    queryKey: ['run', runId],
    queryFn: async () => unwrap(await api.GET('/api/v1/runs/{id}', { params: { path: { id: runId } } })),
    enabled: !!runId,
  });

  useEffect(() => {
    if (run.data) document.title = `${t('runs.view.documentTitle', { job: run.data.job_spec.name })} · OpsConductor`;
  }, [run.data, t]);

  if (run.isPending) {
    return (
      <div className="flex flex-col gap-4">
        <Skeleton className="h-8 w-80" />
        <Skeleton className="h-40 w-full" />
        <LoadingRows rows={8} />
      </div>
    );
  }
  if (run.isError && !run.data) {
    if (run.error instanceof ApiError && run.error.status === 404) {
      return (
        <div className="flex flex-col gap-3">
          <PageHeader title={t('runs.view.notFoundTitle')} />
          <p>{t('runs.view.notFound', { id: runId })}</p>
          <Link to="/runs" className="text-primary underline">
            {t('runs.view.backToRuns')}
          </Link>
        </div>
      );
    }
    return <ErrorState error={run.error} onRetry={() => void run.refetch()} />;
  }

  const data = run.data;
  const cancellable = !isTerminal(data.status);
  const statusParam = statusFilterParams.get('status');
  const statusFilter = (RESULT_STATUSES as string[]).includes(statusParam ?? '') ? (statusParam as ResultStatus) : null;

  // Throws on failure: the dialog then stays open, showing why, for a retry or a cancel.
  const cancel = async () => {
    const updated = unwrap(
      await api.POST('/api/v1/runs/{id}/cancel', {
        params: { path: { id: runId } },
        body: { reason: cancelReason.trim() || null },
      }),
    );
    queryClient.setQueryData<RunDetail>(['run', runId], (old) => (old ? { ...old, ...updated } : old));
    void queryClient.invalidateQueries({ queryKey: ['runs'] });
    toast.success(t('runs.cancel.done'));
    setCancelReason('');
  };

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={t('runs.view.title', { job: data.job_spec.name })}
        actions={
          <>
            <Link
              to={`/jobs/${data.job_id}`}
              className={LINK_BUTTON}
            >
              <History className="size-4" aria-hidden="true" />
              {t('runs.view.jobLink')}
            </Link>
            {cancellable && (
              <Button
                variant="danger"
                onClick={() => setConfirmCancel(true)}
                disabled={!can('operator')}
                disabledReason={t('common.requiresRole', { role: t('roles.operator') })}
              >
                <Ban className="size-4" aria-hidden="true" />
                {t('runs.cancel.button')}
              </Button>
            )}
          </>
        }
      >
        <span className="font-mono text-xs">{t('runs.view.subtitle', { id: data.id })}</span>
      </PageHeader>

      <div className="grid gap-4 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
        <ProgressPanel
          run={data}
          statusFilter={statusFilter}
          onStatusFilter={(status) =>
            setStatusFilterParams(
              (current) => {
                const next = new URLSearchParams(current);
                if (status) next.set('status', status);
                else next.delete('status');
                return next;
              },
              { replace: true },
            )
          }
        />
        <WhatRan run={data} />
      </div>

      <ResultsSection run={data} />

      <ConfirmDialog
        open={confirmCancel}
        onOpenChange={setConfirmCancel}
        title={t('runs.cancel.title')}
        confirmLabel={t('runs.cancel.confirm')}
        danger
        onConfirm={cancel}
        renderError={(error) => (
          <p role="alert" className="text-sm text-destructive" data-testid="cancel-error">
            {t('runs.cancel.failed', { message: errorMessage(error) })}
          </p>
        )}
      >
        <div className="flex flex-col gap-3">
          <p>
            {t('runs.cancel.body', {
              job: data.job_spec.name,
              remaining: formatNumber(Math.max(0, data.counters.total - doneCount(data.counters))),
            })}
          </p>
          <Field id="cancel-reason" label={t('runs.cancel.reason')} help={t('runs.cancel.reasonHelp')}>
            <Input
              id="cancel-reason"
              value={cancelReason}
              onChange={(event) => setCancelReason(event.target.value)}
              aria-describedby="cancel-reason-help"
              maxLength={500}
            />
          </Field>
        </div>
      </ConfirmDialog>
    </div>
  );
}
