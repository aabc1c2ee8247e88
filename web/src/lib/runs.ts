// Facts about a run's progress that the dashboard, the run view and history all show.
import type { Schemas } from '../api/client';

type RunCounters = Schemas['RunCounters'];

/** Whether a run has ended (nothing more will change). */
export function isTerminal(status: Schemas['RunStatus']): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** Results in so far. */
export function doneCount(c: RunCounters): number {
  return c.ok + c.warn + c.failed + c.error + c.timeout;
}

/** Whole percent done, 0-100 (100 only when every expected result is in). */
export function percentDone(c: RunCounters): number {
  if (c.total <= 0) return 0;
  const done = doneCount(c);
  if (done >= c.total) return 100;
  return Math.min(99, Math.floor((done / c.total) * 100));
}
