// The dashboard's requests: every job, loaded page by page (the first page small so the list
// shows at once, then pages of 1000 until the cursor runs out), the recent runs of one job
// for its tick bar, and the actions (bulk, run now, clone, cancel).
import { useEffect, useMemo } from 'react';
import { useInfiniteQuery, type InfiniteData, type QueryClient } from '@tanstack/react-query';
import { api, errorMessage, unwrap, type Schemas } from '../../api/client';
import { byCreatedDesc, type Job, type Run } from './model';

export const JOBS_KEY = ['jobs', 'dashboard'] as const;
export const FIRST_PAGE = 250;
export const PAGE = 1000;
/** Runs per tick bar. */
export const TICKS = 20;
/** The bulk endpoint takes at most this many ids per request. */
export const BULK_MAX = 1000;
/** "Run now" on more jobs than this at once is refused in the UI. */
export const RUN_MAX = 100;

type JobPage = Schemas['JobPage'];
interface PageParam {
  cursor?: string;
  limit: number;
}

export function ticksKey(jobId: string) {
  return ['runs', { job_id: jobId, limit: TICKS }] as const;
}

export async function fetchTicks(jobId: string, signal?: AbortSignal): Promise<Run[]> {
  const page = unwrap(await api.GET('/api/v1/runs', { params: { query: { job_id: jobId, limit: TICKS } }, signal }));
  return page.items;
}

/** Every job, loading page after page until all are in (`complete`). */
export function useAllJobs() {
  const query = useInfiniteQuery({
    queryKey: JOBS_KEY,
    queryFn: async ({ pageParam, signal }): Promise<JobPage> =>
      unwrap(await api.GET('/api/v1/jobs', { params: { query: { cursor: pageParam.cursor, limit: pageParam.limit } }, signal })),
    initialPageParam: { limit: FIRST_PAGE } as PageParam,
    getNextPageParam: (last): PageParam | undefined => (last.next_cursor ? { cursor: last.next_cursor, limit: PAGE } : undefined),
    staleTime: 30_000,
    // Deep-comparing 10,000 jobs on every page costs more than re-rendering the few rows
    // in view with fresh objects.
    structuralSharing: false,
    // Visible rows are live over the WebSocket; the counters of the rest catch up here.
    refetchInterval: 60_000,
  });
  const { hasNextPage, isFetchingNextPage, isFetching, isError, fetchNextPage } = query;
  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && !isFetching && !isError) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, isFetching, isError, fetchNextPage]);
  const jobs = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  return { query, jobs, complete: query.data !== undefined && !hasNextPage };
}

/** Changes the cached job list in place (a job mapped to null is removed). */
export function patchJobs(queryClient: QueryClient, change: (job: Job) => Job | null) {
  queryClient.setQueryData<InfiniteData<JobPage, PageParam>>(JOBS_KEY, (data) =>
    data
      ? {
          ...data,
          pages: data.pages.map((page) => ({
            ...page,
            items: page.items.flatMap((job) => {
              const next = change(job);
              return next ? [next] : [];
            }),
          })),
        }
      : data,
  );
}

/** Adds or replaces a run in a job's cached tick-bar runs (newest first). */
export function upsertTick(queryClient: QueryClient, run: Run) {
  queryClient.setQueryData<Run[]>(ticksKey(run.job_id), (runs) => {
    if (!runs) return runs;
    const at = runs.findIndex((r) => r.id === run.id);
    if (at >= 0) return runs.map((r, i) => (i === at ? run : r));
    return [run, ...runs].sort(byCreatedDesc).slice(0, TICKS);
  });
}

export type BulkAction = Schemas['BulkAction'];

/** A bulk action that failed part-way: `outcome` holds what the earlier requests did. */
export class BulkError extends Error {
  readonly outcome: Schemas['BulkOutcome'];
  constructor(outcome: Schemas['BulkOutcome'], cause: unknown) {
    super(errorMessage(cause), { cause });
    this.name = 'BulkError';
    this.outcome = outcome;
  }
}

/**
 * Runs a bulk action over any number of jobs, 1000 ids per request. A failed request
 * throws a `BulkError` carrying the outcome of the requests before it.
 */
export async function bulk(action: BulkAction, ids: string[]): Promise<Schemas['BulkOutcome']> {
  const outcome: Schemas['BulkOutcome'] = { action, changed: [], unchanged: [] };
  for (let i = 0; i < ids.length; i += BULK_MAX) {
    let part: Schemas['BulkOutcome'];
    try {
      part = unwrap(await api.POST('/api/v1/jobs/bulk', { body: { action, ids: ids.slice(i, i + BULK_MAX) } }));
    } catch (error) {
      throw new BulkError(outcome, error);
    }
    outcome.changed.push(...part.changed);
    outcome.unchanged.push(...part.unchanged);
  }
  return outcome;
}

/** Marks every cached job list and single job stale after jobs changed. */
export function invalidateJobs(queryClient: QueryClient) {
  void queryClient.invalidateQueries({ queryKey: ['jobs'] });
  // The builder and the history cache single jobs under ['job', id, …].
  void queryClient.invalidateQueries({ queryKey: ['job'] });
}

export async function runNow(id: string): Promise<Run> {
  return unwrap(await api.POST('/api/v1/jobs/{id}/runs', { params: { path: { id } } }));
}

/** "Run now" on several jobs, a few at a time; each job's outcome. */
export async function runMany(
  ids: string[],
  concurrency = 4,
): Promise<{ started: Run[]; failed: { id: string; message: string }[] }> {
  const started: Run[] = [];
  const failed: { id: string; message: string }[] = [];
  let next = 0;
  async function worker() {
    while (next < ids.length) {
      const id = ids[next++];
      try {
        started.push(await runNow(id));
      } catch (error) {
        failed.push({ id, message: errorMessage(error) });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return { started, failed };
}

export async function cloneJob(id: string): Promise<Schemas['JobView']> {
  return unwrap(await api.POST('/api/v1/jobs/{id}/clone', { params: { path: { id } }, body: null }));
}

export async function cancelRun(id: string): Promise<Run> {
  return unwrap(await api.POST('/api/v1/runs/{id}/cancel', { params: { path: { id } }, body: null }));
}
