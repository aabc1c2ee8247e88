// Runs, newest first, filtered by job and status (kept in the URL), updated live: the
// unfinished runs shown change in place; with a job filter, a new run of that job brings
// the list up to date (without one, the list refreshes every half minute).
import { useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useInfiniteQuery, useQueries, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Activity } from 'lucide-react';
import { ApiError, api, unwrap, type Schemas } from '../../api/client';
import { useLive } from '../../lib/live';
import { Button, Card, EmptyState, ErrorState, Field, LoadingRows, PageHeader } from '../../components/ui';
import { RUN_STATUSES, type RunStatus } from './format';
import { isTerminal } from '../../lib/runs';
import { RunsTable } from './RunsTable';

type RunPage = Schemas['RunPage'];
const PAGE_SIZE = 50;
/** Jobs per page when the job filter reads every job's name. */
const JOB_PAGE = 1000;
/** Refresh of an unfiltered list, which cannot watch every job for new runs. */
const REFRESH_MS = 30_000;

/**
 * The names of the given jobs, one `GET /api/v1/jobs/{id}` per job, cached per id under
 * ['job', id] (shared with the job history). `null`: the job is gone; absent: loading.
 */
export function useJobNamesFor(ids: readonly string[]) {
  return useQueries({
    queries: ids.map((id) => ({
      queryKey: ['job', id],
      queryFn: async () => unwrap(await api.GET('/api/v1/jobs/{id}', { params: { path: { id } } })),
      staleTime: 5 * 60_000,
      retry: (count: number, error: Error) => !(error instanceof ApiError && error.status === 404) && count < 2,
    })),
    combine: (results) => {
      const names = new Map<string, string | null>();
      results.forEach((result, i) => {
        if (result.data) names.set(ids[i], result.data.name);
        else if (result.error instanceof ApiError && result.error.status === 404) names.set(ids[i], null);
      });
      return names;
    },
  });
}

/**
 * Every job's id and name for the job filter, read page by page once `wanted` (the filter
 * was touched): the list holds all jobs, however many, not only a first page.
 */
export function useAllJobNames(wanted: boolean) {
  const query = useInfiniteQuery({
    queryKey: ['jobs', 'names'],
    queryFn: async ({ pageParam, signal }) =>
      unwrap(await api.GET('/api/v1/jobs', { params: { query: { cursor: pageParam, limit: JOB_PAGE } }, signal })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    select: (data) => data.pages.flatMap((page) => page.items.map((job) => ({ id: job.id, name: job.name }))),
    enabled: wanted,
    staleTime: 60_000,
  });
  const { hasNextPage, isFetchingNextPage, isFetching, isError, fetchNextPage } = query;
  useEffect(() => {
    if (wanted && hasNextPage && !isFetchingNextPage && !isFetching && !isError) void fetchNextPage();
  }, [wanted, hasNextPage, isFetchingNextPage, isFetching, isError, fetchNextPage]);
  return { ...query, complete: query.data !== undefined && !hasNextPage };
}

export default function RunList() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const job = params.get('job') || undefined;
  const statusParam = params.get('status');
  const status = (RUN_STATUSES as string[]).includes(statusParam ?? '') ? (statusParam as RunStatus) : undefined;

  useEffect(() => {
    document.title = `${t('runs.list.title')} · OpsConductor`;
  }, [t]);

  const queryKey = ['runs', { job, status }] as const;
  const runs = useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET('/api/v1/runs', {
          params: { query: { job_id: job, status, limit: PAGE_SIZE, cursor: pageParam } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: job ? false : REFRESH_MS,
  });
  const items = useMemo(() => runs.data?.pages.flatMap((page) => page.items) ?? [], [runs.data]);

  // Names of the jobs of the runs shown (and of the job filtered on).
  const shownJobIds = useMemo(() => {
    const ids = new Set(items.map((run) => run.job_id));
    if (job) ids.add(job);
    return [...ids];
  }, [items, job]);
  const names = useJobNamesFor(shownJobIds);
  const jobNames = useMemo(() => {
    const map = new Map<string, string>();
    for (const [id, name] of names) if (name !== null) map.set(id, name);
    return map;
  }, [names]);
  const loadingJobs = useMemo(() => new Set(shownJobIds.filter((id) => !names.has(id))), [shownJobIds, names]);

  // The job filter reads every job once it is touched.
  const [wantAllJobs, setWantAllJobs] = useState(false);
  const allJobs = useAllJobNames(wantAllJobs);
  const jobOptions = useMemo(() => {
    const byId = new Map<string, string>(jobNames);
    for (const j of allJobs.data ?? []) byId.set(j.id, j.name);
    return [...byId].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }, [jobNames, allJobs.data]);
  const wantJobs = () => setWantAllJobs(true);

  const setParam = (name: string, value: string | undefined) =>
    setParams((current) => {
      const next = new URLSearchParams(current);
      if (value) next.set(name, value);
      else next.delete(name);
      return next;
    });

  // Live: the unfinished runs shown change in place; refetch (at most once a second) when a
  // run we do not show yet starts (a watched job's), or one leaves the status filtered on.
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (refetchTimer.current) clearTimeout(refetchTimer.current);
  }, []);
  const watchedRuns = useMemo(() => items.filter((run) => !isTerminal(run.status)).map((run) => run.id), [items]);
  useLive({ runs: watchedRuns, jobs: job ? [job] : [] }, (message) => {
    if (message.type === 'resync') {
      void queryClient.invalidateQueries({ queryKey: ['runs'] });
      return;
    }
    if (message.type !== 'run_progress') return;
    const run = message.run;
    if (job && run.job_id !== job) return;
    let found = false;
    queryClient.setQueryData<InfiniteData<RunPage, string | undefined>>(queryKey, (old) => {
      if (!old) return old;
      return {
        ...old,
        pages: old.pages.map((page) => ({
          ...page,
          items: page.items.map((item) => {
            if (item.id !== run.id) return item;
            found = true;
            return run;
          }),
        })),
      };
    });
    const leftFilter = found && status && run.status !== status;
    const newOne = !found && (!status || run.status === status);
    if ((leftFilter || newOne) && !refetchTimer.current) {
      refetchTimer.current = setTimeout(() => {
        refetchTimer.current = null;
        void queryClient.invalidateQueries({ queryKey: ['runs'] });
      }, 1000);
    }
  });

  const filtered = !!job || !!status;

  return (
    <div className="flex flex-col gap-4">
      <PageHeader title={t('runs.list.title')}>{t('runs.list.subtitle')}</PageHeader>

      <div className="flex flex-wrap items-end gap-3" role="search" aria-label={t('runs.list.filters')}>
        <Field id="runs-job" label={t('runs.list.filterJob')}>
          <select
            id="runs-job"
            value={job ?? ''}
            onChange={(event) => setParam('job', event.target.value || undefined)}
            onFocus={wantJobs}
            onPointerDown={wantJobs}
            onPointerEnter={wantJobs}
            aria-busy={wantAllJobs && !allJobs.complete && !allJobs.isError}
            className="h-9 max-w-72 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="">{t('runs.list.allJobs')}</option>
            {job && !jobOptions.some((j) => j.id === job) && <option value={job}>{names.get(job) === null ? t('runs.list.unknownJob') : job}</option>}
            {jobOptions.map((j) => (
              <option key={j.id} value={j.id}>
                {j.name}
              </option>
            ))}
            {wantAllJobs && allJobs.isError ? (
              <option value="" disabled>
                {t('runs.list.jobsFailed')}
              </option>
            ) : (
              !allJobs.complete && (
                <option value="" disabled>
                  {t('runs.list.jobsLoading', { count: allJobs.data?.length ?? 0 })}
                </option>
              )
            )}
          </select>
        </Field>
        <Field id="runs-status" label={t('runs.list.filterStatus')}>
          <select
            id="runs-status"
            value={status ?? ''}
            onChange={(event) => setParam('status', event.target.value || undefined)}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="">{t('runs.list.allStatuses')}</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)}
              </option>
            ))}
          </select>
        </Field>
        {filtered && (
          <Button size="md" variant="ghost" onClick={() => setParams(new URLSearchParams())}>
            {t('runs.list.clearFilters')}
          </Button>
        )}
      </div>

      {runs.isPending ? (
        <LoadingRows rows={8} />
      ) : runs.isError && items.length === 0 ? (
        <ErrorState error={runs.error} onRetry={() => void runs.refetch()} />
      ) : items.length === 0 ? (
        <Card>
          <EmptyState icon={<Activity className="size-6" aria-hidden="true" />} title={filtered ? t('runs.list.noMatchTitle') : t('runs.list.emptyTitle')}>
            {filtered ? t('runs.list.noMatch') : t('runs.list.empty')}
          </EmptyState>
        </Card>
      ) : (
        <>
          <RunsTable runs={items} jobNames={jobNames} loadingJobs={loadingJobs} caption={t('runs.list.caption')} />
          <div className="flex items-center gap-3">
            {runs.hasNextPage && (
              <Button onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>
                {runs.isFetchingNextPage ? t('common.loading') : t('runs.list.loadMore')}
              </Button>
            )}
            <span className="text-sm text-muted-foreground" aria-live="polite">
              {t('runs.list.shown', { count: items.length, n: items.length })}
            </span>
          </div>
        </>
      )}
    </div>
  );
}
