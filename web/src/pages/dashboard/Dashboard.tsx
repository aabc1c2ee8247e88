// The poller dashboard: every job with its state, recent runs and next fire time; counters
// that filter; search and filters in the URL; bulk actions; live progress of running jobs.
//
// Built for 10,000 jobs: the first small page renders at once and the rest load in pages of
// 1000 behind it (the counters say "counting…" until then); the list is virtualized; tick
// bars load, and the WebSocket watches, only the rows in view.
import { lazy, Suspense, useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ListChecks, Plus, Search } from 'lucide-react';
import { errorMessage } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { Button, EmptyState, ErrorState, Input, LoadingRows, PageHeader } from '../../components/ui';
import { useLive } from '../../lib/live';
import { BulkActions } from './BulkActions';
import { Counters } from './Counters';
import { cancelRun, cloneJob, invalidateJobs, runNow, upsertTick, useAllJobs } from './data';
import { JobTable, type RowActions } from './JobTable';
import { countRows, matchesFilter, newerRun, readFilters, searchRows, toRows, writeFilters, type Filters, type JobRow, type Run, type StatusFilter } from './model';
import { doneCount } from '../../lib/runs';

// The dialog (Radix) loads on first use: it stays out of the dashboard's first load.
const ConfirmDialog = lazy(() => import('../../components/Dialog').then((m) => ({ default: m.ConfirmDialog })));

const primaryLink =
  'inline-flex h-9 items-center justify-center gap-1.5 rounded-md bg-primary px-3.5 text-sm font-medium whitespace-nowrap text-primary-foreground hover:opacity-90';

export default function Dashboard() {
  const { t, i18n } = useTranslation();
  const { can } = useAuth();
  const canOperate = can('operator');
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const filters = readFilters(params);

  const { query, jobs, complete } = useAllJobs();

  useEffect(() => {
    document.title = `${t('dashboard.documentTitle')} · OpsConductor`;
  }, [t]);

  // Newer runs than the job list knows, from the WebSocket and from "run now".
  const [live, setLive] = useState<ReadonlyMap<string, Run>>(() => new Map());
  const addRuns = useCallback((runs: Run[]) => {
    setLive((prev) => {
      let next: Map<string, Run> | null = null;
      for (const run of runs) {
        const current = (next ?? prev).get(run.job_id);
        if (newerRun(current, run) === current) continue;
        next ??= new Map(prev);
        next.set(run.job_id, run);
      }
      return next ?? prev;
    });
  }, []);

  // The rows in view once scrolling rests: their tick bars load and their jobs are watched.
  const [inView, setInView] = useState<string[]>([]);
  const settled = useMemo(() => new Set(inView), [inView]);
  useLive({ jobs: inView }, (message) => {
    if (message.type !== 'run_progress') return;
    addRuns([message.run]);
    upsertTick(queryClient, message.run);
  });

  // The search box answers at once; the URL (and so reload and back) follows shortly after.
  const [text, setText] = useState(filters.q);
  const lastWritten = useRef(filters.q);
  useEffect(() => {
    if (filters.q !== lastWritten.current) {
      lastWritten.current = filters.q;
      setText(filters.q);
    }
  }, [filters.q]);
  useEffect(() => {
    if (text === lastWritten.current) return;
    const timer = setTimeout(() => {
      lastWritten.current = text;
      setParams((p) => writeFilters(p, { q: text }), { replace: true });
    }, 250);
    return () => clearTimeout(timer);
  }, [text, setParams]);
  const setFilter = (change: Partial<Filters>) => setParams((p) => writeFilters(p, change));

  const rows = useMemo(() => toRows(jobs, live), [jobs, live]);
  const search = useDeferredValue(text);
  const searched = useMemo(() => searchRows(rows, search, filters.tag), [rows, search, filters.tag]);
  const counts = useMemo(() => countRows(searched), [searched]);
  const shown = useMemo(
    () => (filters.status === 'all' ? searched : searched.filter((row) => matchesFilter(row, filters.status))),
    [searched, filters.status],
  );
  const tags = useMemo(() => {
    const all = new Set<string>();
    for (const job of jobs) for (const tag of job.tags) all.add(tag);
    if (filters.tag) all.add(filters.tag);
    return [...all].sort((a, b) => a.localeCompare(b));
  }, [jobs, filters.tag]);

  // Selection: kept by id, acted on only where it is shown; cleared when the filters change.
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());
  // The anchor of a shift-click range, by job id: rows move (filters, live updates, more
  // pages loading), so its index is looked up at click time.
  const anchor = useRef<string | null>(null);
  const filterKey = `${search}\u0000${filters.tag}\u0000${filters.status}`;
  useEffect(() => {
    setSelected(new Set());
    anchor.current = null;
  }, [filterKey]);
  const onToggle = useCallback(
    (index: number, range: boolean) => {
      const id = shown[index]?.job.id;
      if (!id) return;
      const at = range && anchor.current !== null ? shown.findIndex((row) => row.job.id === anchor.current) : -1;
      const from = at >= 0 ? Math.min(at, index) : index;
      const to = at >= 0 ? Math.max(at, index) : index;
      setSelected((prev) => {
        const next = new Set(prev);
        const select = !prev.has(id);
        for (let i = from; i <= to; i++) {
          const rowId = shown[i]?.job.id;
          if (!rowId) continue;
          if (select) next.add(rowId);
          else next.delete(rowId);
        }
        return next;
      });
      anchor.current = id;
    },
    [shown],
  );
  const onToggleAll = useCallback(
    (select: boolean) => setSelected(select ? new Set(shown.map((row) => row.job.id)) : new Set()),
    [shown],
  );
  const selectedJobs = useMemo(() => shown.filter((row) => selected.has(row.job.id)).map((row) => row.job), [shown, selected]);

  // Row actions.
  const [pending, setPending] = useState<ReadonlySet<string>>(() => new Set());
  const busy = useCallback(async (id: string, work: () => Promise<void>) => {
    setPending((prev) => new Set(prev).add(id));
    try {
      await work();
    } finally {
      setPending((prev) => {
        const next = new Set(prev);
        next.delete(id);
        return next;
      });
    }
  }, []);
  // The row whose run the user asked to cancel, as it is now (its counters stay live).
  const [cancelling, setCancelling] = useState<{ jobId: string; runId: string } | null>(null);
  const actions = useMemo<RowActions>(
    () => ({
      canOperate,
      operatorReason: t('common.requiresRole', { role: t('roles.operator') }),
      pending,
      onRunNow: ({ job }: JobRow) =>
        void busy(job.id, async () => {
          try {
            const run = await runNow(job.id);
            addRuns([run]);
            upsertTick(queryClient, run);
            void queryClient.invalidateQueries({ queryKey: ['job'] });
            toast.success(t('dashboard.row.started', { name: job.name }));
          } catch (error) {
            toast.error(t('dashboard.row.runFailedToStart', { name: job.name, message: errorMessage(error) }));
          }
        }),
      onClone: ({ job }: JobRow) =>
        void busy(job.id, async () => {
          try {
            const copy = await cloneJob(job.id);
            invalidateJobs(queryClient);
            toast.success(t('dashboard.row.cloned', { name: copy.name }), {
              action: { label: t('dashboard.row.openClone'), onClick: () => void navigate(`/jobs/${copy.id}/edit`) },
            });
          } catch (error) {
            toast.error(t('dashboard.row.cloneFailed', { name: job.name, message: errorMessage(error) }));
          }
        }),
      // Asks first (the dialog below); the cancel itself is `confirmCancel`.
      onCancel: ({ job, run }: JobRow) => {
        if (run) setCancelling({ jobId: job.id, runId: run.id });
      },
    }),
    [canOperate, pending, busy, addRuns, queryClient, navigate, t],
  );

  const cancellingRow = useMemo(
    () => (cancelling ? rows.find((row) => row.job.id === cancelling.jobId) : undefined),
    [rows, cancelling],
  );
  /** Throws on failure: the dialog then stays open and shows why. */
  const confirmCancel = async (jobId: string, runId: string, name: string) => {
    await busy(jobId, async () => {
      const cancelled = await cancelRun(runId);
      addRuns([cancelled]);
      upsertTick(queryClient, cancelled);
      toast.info(t('dashboard.row.cancelling', { name }));
    });
  };

  const number = new Intl.NumberFormat(i18n.language || 'en');
  const loading = query.isPending;
  const filtering = Boolean(text || filters.tag || filters.status !== 'all');
  const clearFilters = () => {
    setText('');
    lastWritten.current = '';
    setParams(new URLSearchParams());
  };

  let body;
  if (loading) {
    body = <LoadingRows rows={8} />;
  } else if (query.isError && jobs.length === 0) {
    body = <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  } else if (complete && jobs.length === 0) {
    body = (
      <EmptyState icon={<ListChecks className="size-10" aria-hidden="true" />} title={t('dashboard.empty.title')}>
        <p>{canOperate ? t('dashboard.empty.operator') : t('dashboard.empty.viewer')}</p>
        {canOperate && (
          <Link to="/jobs/new" className={`${primaryLink} mt-3`}>
            <Plus className="size-4" aria-hidden="true" />
            {t('dashboard.empty.create')}
          </Link>
        )}
      </EmptyState>
    );
  } else {
    body = (
      <>
        {query.isFetchNextPageError && (
          <div className="mb-3">
            <ErrorState
              error={new Error(t('dashboard.table.moreError', { message: errorMessage(query.error) }))}
              onRetry={() => void query.fetchNextPage()}
            />
          </div>
        )}
        {shown.length === 0 ? (
          <EmptyState title={complete ? t('dashboard.table.noMatch') : t('dashboard.table.noMatchYet')}>
            {filtering && (
              <Button size="sm" className="mt-2" onClick={clearFilters}>
                {t('dashboard.filters.clear')}
              </Button>
            )}
          </EmptyState>
        ) : (
          <JobTable
            rows={shown}
            selected={selected}
            onToggle={onToggle}
            onToggleAll={onToggleAll}
            actions={actions}
            settled={settled}
            onVisibleChange={setInView}
          />
        )}
      </>
    );
  }

  return (
    <div>
      <PageHeader
        title={t('dashboard.title')}
        actions={
          canOperate && (
            <Link to="/jobs/new" className={primaryLink}>
              <Plus className="size-4" aria-hidden="true" />
              {t('dashboard.newJob')}
            </Link>
          )
        }
      >
        {loading
          ? t('dashboard.loadingJobs')
          : t('dashboard.jobCount', { count: jobs.length, formatted: number.format(jobs.length) + (complete ? '' : '+') })}
      </PageHeader>

      <Counters
        counts={loading ? null : counts}
        active={filters.status}
        onSelect={(status: StatusFilter) => setFilter({ status })}
        loading={loading}
        complete={complete}
        failed={query.isFetchNextPageError}
        loaded={jobs.length}
      />

      <div className="mb-3 flex flex-wrap items-center gap-x-4 gap-y-2">
        <div role="search" aria-label={t('dashboard.filters.label')} className="flex flex-wrap items-center gap-2">
          <div className="relative">
            <label htmlFor="dashboard-search" className="sr-only">
              {t('dashboard.filters.search')}
            </label>
            <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" aria-hidden="true" />
            <Input
              id="dashboard-search"
              type="search"
              value={text}
              onChange={(e) => setText(e.target.value)}
              placeholder={t('dashboard.filters.searchPlaceholder')}
              className="w-72 pl-8"
              autoComplete="off"
            />
          </div>
          <label htmlFor="dashboard-tag" className="sr-only">
            {t('dashboard.filters.tag')}
          </label>
          <select
            id="dashboard-tag"
            value={filters.tag}
            onChange={(e) => setFilter({ tag: e.target.value })}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="">{t('dashboard.filters.allTags')}</option>
            {tags.map((tag) => (
              <option key={tag} value={tag}>
                {tag}
              </option>
            ))}
          </select>
          {filtering && (
            <Button size="sm" variant="ghost" onClick={clearFilters}>
              {t('dashboard.filters.clear')}
            </Button>
          )}
          {!loading && filtering && (
            <span className="text-sm text-muted-foreground" role="status" data-testid="shown-count">
              {t('dashboard.filters.showing', { shown: number.format(shown.length), total: number.format(jobs.length) })}
            </span>
          )}
        </div>
        {canOperate && !loading && jobs.length > 0 && (
          <div className="ml-auto">
            <BulkActions jobs={selectedJobs} onClear={() => setSelected(new Set())} onRunsStarted={addRuns} />
          </div>
        )}
      </div>

      {body}

      {cancelling && (
        <Suspense fallback={null}>
          <ConfirmDialog
            open
            onOpenChange={(open) => !open && setCancelling(null)}
            title={t('dashboard.row.confirmCancel.title', { name: cancellingRow?.job.name ?? '' })}
            confirmLabel={t('dashboard.row.confirmCancel.button')}
            danger
            onConfirm={() => confirmCancel(cancelling.jobId, cancelling.runId, cancellingRow?.job.name ?? '')}
            renderError={(error) => (
              <p role="alert" className="text-sm text-destructive">
                {t('dashboard.row.cancelFailed', { name: cancellingRow?.job.name ?? '', message: errorMessage(error) })}
              </p>
            )}
          >
            <p data-testid="cancel-confirm-text">
              {(() => {
                const run = cancellingRow?.run?.id === cancelling.runId ? cancellingRow.run : null;
                return run
                  ? t('dashboard.row.confirmCancel.body', {
                      name: cancellingRow?.job.name ?? '',
                      count: run.counters.total,
                      done: number.format(doneCount(run.counters)),
                      total: number.format(run.counters.total),
                    })
                  : t('dashboard.row.confirmCancel.bodyUnknown', { name: cancellingRow?.job.name ?? '' });
              })()}
            </p>
            <p className="mt-2 text-muted-foreground">{t('dashboard.row.confirmCancel.effect')}</p>
          </ConfirmDialog>
        </Suspense>
      )}
    </div>
  );
}
