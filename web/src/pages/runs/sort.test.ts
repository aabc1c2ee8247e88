import { describe, expect, it } from 'vitest';
import { sortRows, targetOrder } from './ResultsTable';
import { RESULT_STATUS_RANK, ipv4Number, targetSortKey } from './format';
import type { ResultRecord, ResultRow } from './useRunResults';

function row(target: string, duration: number, status: ResultRecord['status'] = 'ok', action = 0): ResultRow {
  const result: ResultRecord = { run_id: 'r', target, action_index: action, status, started_at: '2026-01-01T00:00:00Z', duration_ms: duration };
  return { key: `${target}\u0000${action}`, result, targetKey: targetSortKey(target), targetNum: ipv4Number(target), rank: RESULT_STATUS_RANK[status] };
}

describe('sorting results', () => {
  it('orders IPv4 targets numerically and names after them', () => {
    const rows = [row('10.0.0.10', 1), row('10.0.0.2', 1), row('10.0.0.1', 1)];
    expect(targetOrder(rows).map((r) => r.result.target)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.10']);
    const mixed = [row('b.example', 1), row('10.0.0.2', 1), row('a.example', 1)];
    expect(targetOrder(mixed).map((r) => r.result.target)).toEqual(['10.0.0.2', 'a.example', 'b.example']);
  });

  it('sorts by latency both ways on many rows, ties in target order', () => {
    const rows: ResultRow[] = [];
    for (let i = 0; i < 70_000; i++) rows.push(row(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, (i * 7919) % 1013 / 10 + 0.01));
    const base = targetOrder(rows);
    for (const dir of ['asc', 'desc'] as const) {
      const sorted = sortRows(base, { column: 'latency', dir });
      expect(sorted).toHaveLength(rows.length);
      expect(new Set(sorted).size).toBe(rows.length);
      let outOfOrder = 0;
      for (let i = 1; i < sorted.length; i++) {
        const a = sorted[i - 1].result.duration_ms;
        const b = sorted[i].result.duration_ms;
        if (dir === 'asc' ? a > b : a < b) outOfOrder++;
        if (a === b && sorted[i - 1].targetNum > sorted[i].targetNum) outOfOrder++;
      }
      expect(outOfOrder).toBe(0);
    }
  });

  it('sorts by status worst first', () => {
    const rows = [row('10.0.0.1', 1, 'ok'), row('10.0.0.2', 1, 'error'), row('10.0.0.3', 1, 'warn')];
    expect(sortRows(targetOrder(rows), { column: 'status', dir: 'asc' }).map((r) => r.result.status)).toEqual(['error', 'warn', 'ok']);
  });
});
