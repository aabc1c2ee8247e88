// A run's results, all of them (a /16 sweep has 65,536): read over REST page by page (the
// table fills as pages arrive), topped up live from the WebSocket, and re-read when the
// socket says results were skipped or lost. One row per (target, action): a result resent
// by an agent replaces the copy already held.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, unwrap, type Schemas } from '../../api/client';
import { RESULT_STATUS_RANK, ipv4Number, targetSortKey } from './format';

export type ResultRecord = Schemas['ResultRecord'];

export interface ResultRow {
  key: string;
  result: ResultRecord;
  /** Precomputed so sorting 65,000 rows stays cheap. */
  targetKey: string;
  /** The target as an IPv4 number, or -1. */
  targetNum: number;
  rank: number;
}

export type LoadPhase = 'loading' | 'done' | 'error';

export interface LoadState {
  phase: LoadPhase;
  error: unknown;
}

/** Results per REST page (the API's maximum). */
export const PAGE_SIZE = 1000;
/** Least time between the starts of two full re-reads. */
const REREAD_GAP_MS = 5000;
/** The same while the run is still going and results were skipped. */
export const RUNNING_REREAD_GAP_MS = 15_000;
/** How often the table takes in new rows at most. */
const COMMIT_EVERY_MS = 300;

export function resultKey(r: Pick<ResultRecord, 'target' | 'action_index'>): string {
  return `${r.target}\u0000${r.action_index}`;
}

function toRow(result: ResultRecord): ResultRow {
  return {
    key: resultKey(result),
    result,
    targetKey: targetSortKey(result.target),
    targetNum: ipv4Number(result.target),
    rank: RESULT_STATUS_RANK[result.status] ?? 9,
  };
}

/** Holds the rows and runs the REST reads; the hook below connects it to React. */
export class RunResultsLoader {
  readonly rows = new Map<string, ResultRow>();
  private generation = 0;
  private running = false;
  private pending = false;
  private lastStart = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;

  constructor(
    private readonly runId: string,
    private readonly onRows: () => void,
    private readonly onState: (state: LoadState) => void,
  ) {}

  upsert(results: ResultRecord[]) {
    if (results.length === 0) return;
    for (const result of results) {
      if (result.run_id !== this.runId) continue;
      const row = toRow(result);
      this.rows.set(row.key, row);
    }
    this.onRows();
  }

  /**
   * Reads every page again once the current read ends, at most once per `gapMs` (a big
   * sweep's re-read is dozens of pages: while it runs, counters carry the progress).
   */
  request(gapMs = REREAD_GAP_MS) {
    if (this.disposed) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.lastStart + gapMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.readAll();
    }, wait);
  }

  /** Reads every page right away (first load and "retry"). */
  start() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.readAll();
  }

  dispose() {
    this.disposed = true;
    this.generation += 1;
    if (this.timer) clearTimeout(this.timer);
  }

  private async readAll() {
    if (this.disposed) return;
    const generation = ++this.generation;
    this.running = true;
    this.pending = false;
    this.lastStart = Date.now();
    this.onState({ phase: 'loading', error: null });
    let cursor: string | undefined;
    try {
      do {
        const page = unwrap(
          await api.GET('/api/v1/results', { params: { query: { run_id: this.runId, limit: PAGE_SIZE, cursor } } }),
        );
        if (generation !== this.generation) return;
        this.upsert(page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      this.onState({ phase: 'done', error: null });
    } catch (error) {
      if (generation !== this.generation) return;
      this.onState({ phase: 'error', error });
    } finally {
      if (generation === this.generation) {
        this.running = false;
        if (this.pending) this.request();
      }
    }
  }
}

/**
 * The rows of one run, committed to React at most every few hundred milliseconds so a
 * fast sweep does not re-sort the table on every message.
 */
export function useRunResults(runId: string | undefined) {
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<LoadState>({ phase: 'loading', error: null });
  const loaderRef = useRef<RunResultsLoader | null>(null);
  const commitTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    if (!runId) return;
    const scheduleCommit = () => {
      if (commitTimer.current) return;
      commitTimer.current = setTimeout(() => {
        commitTimer.current = null;
        setVersion((v) => v + 1);
      }, COMMIT_EVERY_MS);
    };
    const loader = new RunResultsLoader(runId, scheduleCommit, (next) => {
      setState(next);
      // Commit right away when a read ends so "all loaded" and the rows agree.
      if (next.phase !== 'loading') {
        if (commitTimer.current) clearTimeout(commitTimer.current);
        commitTimer.current = null;
        setVersion((v) => v + 1);
      }
    });
    loaderRef.current = loader;
    setState({ phase: 'loading', error: null });
    setVersion((v) => v + 1);
    loader.start();
    return () => {
      loader.dispose();
      if (commitTimer.current) clearTimeout(commitTimer.current);
      commitTimer.current = null;
      loaderRef.current = null;
    };
  }, [runId]);

  const rows = useMemo(() => (loaderRef.current ? Array.from(loaderRef.current.rows.values()) : []), [version, runId]);

  const addLive = useCallback((results: ResultRecord[]) => loaderRef.current?.upsert(results), []);
  const reread = useCallback((gapMs?: number) => loaderRef.current?.request(gapMs), []);
  const retry = useCallback(() => loaderRef.current?.start(), []);
  /** Rows held right now, including ones not committed to React yet. */
  const loadedCount = useCallback(() => loaderRef.current?.rows.size ?? 0, []);

  return { rows, state, addLive, reread, retry, loadedCount };
}
