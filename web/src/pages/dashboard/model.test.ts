import { afterEach, describe, expect, it, vi } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import { BULK_MAX, BulkError, bulk, ticksKey, upsertTick } from './data';
import { byCreatedDesc, newerRun, timeOf, type Run } from './model';

function run(id: string, created_at: string, status: Run['status'] = 'completed'): Run {
  return {
    id,
    job_id: 'j1',
    job_version: 1,
    status,
    trigger: 'schedule',
    scheduled_for: created_at,
    created_at,
    deadline_at: created_at,
    counters: { total: 1, ok: 1, warn: 0, failed: 0, error: 0, timeout: 0 },
  };
}

afterEach(() => vi.unstubAllGlobals());

describe('timestamps with 0, 3, 6 or 9 fraction digits', () => {
  // As text, 'Z' sorts after '.', so "…:00Z" would read as newer than "…:00.5Z".
  const whole = '2026-01-01T00:00:00Z';
  const half = '2026-01-01T00:00:00.5Z';
  const micro = '2026-01-01T00:00:00.250000Z';
  const nano = '2026-01-01T00:00:00.750000000Z';

  it('compares by time, not text', () => {
    expect(timeOf(half) - timeOf(whole)).toBe(500);
    expect(timeOf('not a time')).toBe(-Infinity);
    expect(newerRun(run('a', whole), run('b', half))?.id).toBe('b');
    expect(newerRun(run('b', half), run('a', whole))?.id).toBe('b');
    expect(newerRun(run('c', nano), run('d', micro))?.id).toBe('c');
    expect([run('a', whole), run('c', nano), run('b', half), run('d', micro)].sort(byCreatedDesc).map((r) => r.id)).toEqual([
      'c',
      'b',
      'd',
      'a',
    ]);
  });

  it('keeps a job’s tick bar newest first', () => {
    const client = new QueryClient();
    client.setQueryData(ticksKey('j1'), [run('b', half), run('a', whole)]);
    upsertTick(client, run('c', '2026-01-01T00:00:00.6Z'));
    upsertTick(client, run('d', micro));
    expect(client.getQueryData<Run[]>(ticksKey('j1'))?.map((r) => r.id)).toEqual(['c', 'b', 'd', 'a']);
  });
});

describe('bulk', () => {
  it('reports what earlier chunks changed when a later one fails', async () => {
    let call = 0;
    vi.stubGlobal('fetch', async (request: Request) => {
      const { ids } = (await request.json()) as { ids: string[] };
      call++;
      if (call === 1) return new Response(JSON.stringify({ action: 'disable', changed: ids, unchanged: [] }), { headers: { 'content-type': 'application/json' } });
      return new Response(JSON.stringify({ type: 'about:blank', title: 'boom', status: 500, detail: 'database away' }), {
        status: 500,
        headers: { 'content-type': 'application/problem+json' },
      });
    });
    const ids = Array.from({ length: BULK_MAX + 5 }, (_, i) => `j${i}`);
    const error = await bulk('disable', ids).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulkError);
    expect((error as BulkError).outcome.changed).toHaveLength(BULK_MAX);
    expect((error as BulkError).message).toBe('database away');
  });
});
