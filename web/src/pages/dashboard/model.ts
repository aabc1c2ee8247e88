// The dashboard's pure logic: what state a job is in, the summary counters, the filters
// kept in the URL, and small formatting helpers. No React here, so it is cheap to test and
// cheap to run over 10,000 jobs on every change.
import type { Schemas } from '../../api/client';
import type { StatusName } from '../../components/Status';
import { doneCount } from '../../lib/runs';

export type Job = Schemas['JobListEntry'];
export type Run = Schemas['Run'];
export type RunCounters = Schemas['RunCounters'];

/** A job's state as the dashboard shows it, from its newest run. */
export type Health = 'ok' | 'warn' | 'failing' | 'running' | 'queued' | 'cancelled' | 'never';

/** The summary counters; each one is also a filter of the list. */
export const FILTERS = ['all', 'failing', 'warn', 'running', 'paused', 'never', 'ok'] as const;
export type StatusFilter = (typeof FILTERS)[number];

export function isStatusFilter(value: string | null): value is StatusFilter {
  return value !== null && (FILTERS as readonly string[]).includes(value);
}

/** Results that are a problem (fail, error, timeout). */
export function problemCount(c: RunCounters): number {
  return c.failed + c.error + c.timeout;
}


/** The health a run gives its job. */
export function runHealth(run: Run | null | undefined): Health {
  if (!run) return 'never';
  switch (run.status) {
    case 'queued':
      return 'queued';
    case 'running':
      return 'running';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
      return 'failing';
    default:
      if (problemCount(run.counters) > 0) return 'failing';
      if (run.counters.warn > 0) return 'warn';
      return 'ok';
  }
}

/** The icon-and-word status of a health (for `StatusBadge`). */
export function healthStatus(health: Health): StatusName {
  switch (health) {
    case 'failing':
      return 'failed';
    case 'never':
      return 'never';
    default:
      return health;
  }
}

const STATUS_RANK: Record<Run['status'], number> = { queued: 0, running: 1, completed: 2, failed: 2, cancelled: 2 };

/**
 * A timestamp in ms since the epoch (an unreadable one as the oldest). The server writes 0,
 * 3, 6 or 9 fraction digits, so RFC 3339 strings do not sort as text: compare these.
 */
export function timeOf(iso: string | null | undefined): number {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(ms) ? -Infinity : ms;
}

/** Newest first: > 0 when `b` was created after `a` (ties by id; run ids are time-ordered). */
export function byCreatedDesc(a: Pick<Run, 'id' | 'created_at'>, b: Pick<Run, 'id' | 'created_at'>): number {
  const diff = timeOf(b.created_at) - timeOf(a.created_at);
  if (diff !== 0 && !Number.isNaN(diff)) return diff;
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}

/**
 * The newer of two views of a job's newest run: a later run wins; of two views of the same
 * run, the one further along (terminal over running over queued, then more results).
 */
export function newerRun(a: Run | null | undefined, b: Run | null | undefined): Run | null {
  if (!a) return b ?? null;
  if (!b) return a;
  if (a.id !== b.id) return byCreatedDesc(a, b) <= 0 ? a : b;
  const rank = STATUS_RANK[a.status] - STATUS_RANK[b.status];
  if (rank !== 0) return rank > 0 ? a : b;
  return doneCount(a.counters) >= doneCount(b.counters) ? a : b;
}

/** A job with its newest run as far as the page knows (REST page or live message). */
export interface JobRow {
  job: Job;
  run: Run | null;
  health: Health;
}

export function toRows(jobs: Job[], live: ReadonlyMap<string, Run>): JobRow[] {
  return jobs.map((job) => {
    const run = live.size > 0 ? newerRun(job.last_run, live.get(job.id)) : (job.last_run ?? null);
    return { job, run, health: runHealth(run) };
  });
}

export function matchesFilter(row: JobRow, filter: StatusFilter): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'paused':
      return !row.job.enabled;
    case 'running':
      return row.health === 'running' || row.health === 'queued';
    default:
      return row.health === filter;
  }
}

export type Counts = Record<StatusFilter, number>;

export function countRows(rows: JobRow[]): Counts {
  const counts: Counts = { all: 0, failing: 0, warn: 0, running: 0, paused: 0, never: 0, ok: 0 };
  for (const row of rows) {
    counts.all++;
    if (!row.job.enabled) counts.paused++;
    if (row.health === 'running' || row.health === 'queued') counts.running++;
    else if (row.health === 'failing' || row.health === 'warn' || row.health === 'never' || row.health === 'ok') counts[row.health]++;
  }
  return counts;
}

/** Case-insensitive match of the search text on name, description and tags. */
export function matchesText(job: Job, needle: string): boolean {
  if (!needle) return true;
  if (job.name.toLowerCase().includes(needle)) return true;
  if (job.description.toLowerCase().includes(needle)) return true;
  return job.tags.some((tag) => tag.toLowerCase().includes(needle));
}

/** The filters in the URL: `?q=core&status=failing&tag=dc1`. */
export interface Filters {
  q: string;
  status: StatusFilter;
  tag: string;
}

export function readFilters(params: URLSearchParams): Filters {
  const status = params.get('status');
  return { q: params.get('q') ?? '', status: isStatusFilter(status) ? status : 'all', tag: params.get('tag') ?? '' };
}

/** `params` with the given filters changed (empty values and `all` leave the URL). */
export function writeFilters(params: URLSearchParams, change: Partial<Filters>): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(change)) {
    if (!value || (key === 'status' && value === 'all')) next.delete(key);
    else next.set(key, value);
  }
  return next;
}

/** Rows matching the text and tag (the set the counters count). */
export function searchRows(rows: JobRow[], q: string, tag: string): JobRow[] {
  const needle = q.trim().toLowerCase();
  if (!needle && !tag) return rows;
  return rows.filter((row) => (!tag || row.job.tags.includes(tag)) && matchesText(row.job, needle));
}

/** "a, b, c" for at most `max` names, then "…and N more" is the caller's to add. */
export function nameList(names: string[], max = 10): { shown: string; more: number } {
  return { shown: names.slice(0, max).join(', '), more: Math.max(0, names.length - max) };
}

/** The unit and amount `Intl.RelativeTimeFormat` should show for a span in ms. */
export function relativeParts(ms: number): [number, Intl.RelativeTimeFormatUnit] {
  const s = Math.round(ms / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return [s, 'second'];
  if (abs < 3600) return [Math.round(s / 60), 'minute'];
  if (abs < 86400) return [Math.round(s / 3600), 'hour'];
  return [Math.round(s / 86400), 'day'];
}
