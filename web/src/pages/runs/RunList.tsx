// Runs, newest first, filtered by job and status (kept in the URL), updated live: runs in
// view change in place, a new run of a watched job brings the list up to date.
import { useEffect, useMemo, useRef } from 'react';
import { useSearchParams } from 'react-router';
import { useInfiniteQuery, useQuery, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Activity } from 'lucide-react';
import { api, unwrap, type Schemas } from '../../api/client';
import { useLive } from '../../lib/live';
import { Button, Card, EmptyState, ErrorState, Field, LoadingRows, PageHeader } from '../../components/ui';
import { RUN_STATUSES, type RunStatus } from './format';
import { RunsTable } from './RunsTable';

type RunPage = Schemas['RunPage'];
const PAGE_SIZE = 50;
/** Jobs watched live at most (the connection holds 1,000 subscriptions in all). */
const MAX_WATCHED_JOBS = 200;

/** Job names by id, for labels and the job filter. */
export function useJobNames() {
  return useQuery({
    queryKey: ['jobs', { names: true }],
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs', { params: { query: { limit: 1000 } } })),
    staleTime: 60_000,
    select: (page) => page.items.map((job) => ({ id: job.id, name: job.name })),
  });
}

export default function RunList() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const job = params.get('job') || undefined;
  const statusParam = params.get('status');
  const status = (RUN_STATUSES as string[]).includes(statusParam ?? '') ? (statusParam as RunStatus) : undefined;
  const jobs = useJobNames();
  const jobNames = useMemo(() => new Map((jobs.data ?? []).map((j) => [j.id, j.name])), [jobs.data]);

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
  });

  const setParam = (name: string, value: string | undefined) =>
    setParams((current) => {
      const next = new URLSearchParams(current);
      if (value) next.set(name, value);
      else next.delete(name);
      return next;
    });

  // Live: update runs in view; refetch (at most once a second) when a run we do not show
  // yet starts, or one leaves the status filtered on.
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (refetchTimer.current) clearTimeout(refetchTimer.current);
  }, []);
  const watched = job ? [job] : (jobs.data ?? []).slice(0, MAX_WATCHED_JOBS).map((j) => j.id);
  useLive({ jobs: watched }, (message) => {
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

  const items = runs.data?.pages.flatMap((page) => page.items) ?? [];
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
            className="h-9 max-w-72 rounded-md border border-input bg-background px-2 text-sm"
          >
            <option value="">{t('runs.list.allJobs')}</option>
            {job && !jobNames.has(job) && <option value={job}>{job}</option>}
            {(jobs.data ?? []).map((j) => (
              <option key={j.id} value={j.id}>
                {j.name}
              </option>
            ))}
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
          <RunsTable runs={items} jobNames={jobNames} caption={t('runs.list.caption')} />
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
