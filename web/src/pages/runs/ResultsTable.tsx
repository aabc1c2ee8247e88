// The per-target results of a run: ARIA table markup over a virtualized list, so only the
// rows in view exist in the DOM (a /16 sweep is 65,536 rows). Rows are plain elements; the
// target cell holds the button that opens a result's detail. Arrow keys, Home and End move
// between rows.
import { useRef, type KeyboardEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useTranslation } from 'react-i18next';
import { ArrowDown, ArrowUp, ArrowUpDown } from 'lucide-react';
import { StatusBadge } from '../../components/Status';
import { cn } from '../../lib/cn';
import { formatLatency } from './format';
import type { ResultRecord, ResultRow } from './useRunResults';

export type SortColumn = 'status' | 'target' | 'action' | 'latency';
export interface SortState {
  column: SortColumn;
  dir: 'asc' | 'desc';
}

const ROW_HEIGHT = 36;
const GRID = 'grid grid-cols-[8rem_minmax(9rem,1.1fr)_minmax(7rem,0.9fr)_6rem_minmax(10rem,2fr)] items-center gap-x-3 px-3';

function short(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value.length > 40 ? `${value.slice(0, 40)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** One line about a result: why it is not ok, or its first fields. */
export function summarize(result: ResultRecord): string {
  if (result.reason) return result.reason;
  const fields = Object.entries(result.fields ?? {});
  if (fields.length === 0) return '';
  return fields
    .slice(0, 4)
    .map(([k, v]) => `${k}=${short(v)}`)
    .join(', ');
}

function compareTarget(a: ResultRow, b: ResultRow): number {
  return a.targetKey < b.targetKey ? -1 : a.targetKey > b.targetKey ? 1 : a.result.action_index - b.result.action_index;
}

/**
 * The rows in target order (IPv4 numerically, then names), then by action. Sorting 65,536
 * objects with a comparator takes most of a second on a small machine, so when every
 * target is an IPv4 address the rows are ordered by a native sort of numeric keys instead.
 */
export function targetOrder(rows: ResultRow[]): ResultRow[] {
  const n = rows.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    const action = row.result.action_index;
    if (row.targetNum < 0 || action < 0 || action > 255) return rows.slice().sort(compareTarget);
    keys[i] = row.targetNum * 256 + action;
  }
  const byKey = new Map<number, ResultRow>();
  for (let i = 0; i < n; i++) byKey.set(keys[i], rows[i]);
  keys.sort();
  return Array.from(keys, (key) => byKey.get(key)!);
}

function primaryKey(row: ResultRow, column: SortColumn, max: number): number {
  switch (column) {
    case 'status':
      return row.rank;
    case 'action':
      return Math.min(row.result.action_index, max);
    default: {
      const us = Math.round(row.result.duration_ms * 1000);
      return Number.isFinite(us) ? Math.max(0, Math.min(us, max)) : max;
    }
  }
}

/**
 * Sorts rows already in target order by a column; ties stay in target order either way.
 * Each row becomes one number (the column's value, then its target position), sorted
 * natively: a few milliseconds for 65,536 rows.
 */
export function sortRows(byTarget: ResultRow[], sort: SortState): ResultRow[] {
  if (sort.column === 'target') return sort.dir === 'asc' ? byTarget : byTarget.slice().reverse();
  const n = byTarget.length;
  let factor = 1;
  while (factor <= n) factor *= 2;
  const max = Math.floor(Number.MAX_SAFE_INTEGER / factor) - 1;
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = sign * primaryKey(byTarget[i], sort.column, max) * factor + i;
  keys.sort();
  return Array.from(keys, (key) => byTarget[((key % factor) + factor) % factor]);
}

export function ResultsTable({
  rows,
  sort,
  onSort,
  selectedKey,
  onSelect,
  actionLabel,
}: {
  rows: ResultRow[];
  sort: SortState;
  onSort: (sort: SortState) => void;
  selectedKey: string | null;
  onSelect: (row: ResultRow) => void;
  actionLabel: (index: number) => string;
}) {
  const { t } = useTranslation();
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (index) => rows[index]?.key ?? index,
  });

  const columns: { id: SortColumn; label: string; align?: 'right' }[] = [
    { id: 'status', label: t('runs.results.columns.status') },
    { id: 'target', label: t('runs.results.columns.target') },
    { id: 'action', label: t('runs.results.columns.action') },
    { id: 'latency', label: t('runs.results.columns.latency'), align: 'right' },
  ];

  const focusRow = (index: number) => {
    const target = Math.max(0, Math.min(rows.length - 1, index));
    virtualizer.scrollToIndex(target, { align: 'auto' });
    // The row may only exist after the virtualizer re-renders.
    const tryFocus = (attempt: number) => {
      const button = scrollRef.current?.querySelector<HTMLButtonElement>(`[data-index="${target}"] button`);
      if (button) button.focus();
      else if (attempt < 5) requestAnimationFrame(() => tryFocus(attempt + 1));
    };
    requestAnimationFrame(() => tryFocus(0));
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const rowElement = (event.target as HTMLElement).closest<HTMLElement>('[data-index]');
    if (!rowElement) return;
    const index = Number(rowElement.dataset.index);
    let next: number | null = null;
    if (event.key === 'ArrowDown') next = index + 1;
    else if (event.key === 'ArrowUp') next = index - 1;
    else if (event.key === 'PageDown') next = index + 10;
    else if (event.key === 'PageUp') next = index - 10;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = rows.length - 1;
    if (next === null) return;
    event.preventDefault();
    focusRow(next);
  };

  const toggleSort = (column: SortColumn) =>
    onSort(sort.column === column ? { column, dir: sort.dir === 'asc' ? 'desc' : 'asc' } : { column, dir: 'asc' });

  return (
    <div
      role="table"
      aria-label={t('runs.results.tableLabel')}
      aria-rowcount={rows.length + 1}
      data-testid="results-table"
      className="overflow-x-auto rounded-md border border-border"
    >
      <div className="min-w-[52rem]">
        <div role="rowgroup" className="border-b border-border bg-muted/60">
          <div role="row" aria-rowindex={1} className={cn(GRID, 'h-9 text-xs font-medium text-muted-foreground')}>
            {columns.map((column) => {
              const active = sort.column === column.id;
              const Icon = active ? (sort.dir === 'asc' ? ArrowUp : ArrowDown) : ArrowUpDown;
              return (
                <div
                  key={column.id}
                  role="columnheader"
                  aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}
                  className={cn(column.align === 'right' && 'text-right')}
                >
                  <button
                    type="button"
                    onClick={() => toggleSort(column.id)}
                    className={cn('inline-flex items-center gap-1 rounded px-1 hover:text-foreground', active && 'text-foreground')}
                    aria-label={t('runs.results.sortBy', { column: column.label })}
                  >
                    {column.label}
                    <Icon className="size-3.5" aria-hidden="true" />
                  </button>
                </div>
              );
            })}
            <div role="columnheader">{t('runs.results.columns.summary')}</div>
          </div>
        </div>
        <div
          ref={scrollRef}
          role="rowgroup"
          onKeyDown={onKeyDown}
          className="max-h-[min(60vh,36rem)] overflow-y-auto"
          data-testid="results-scroll"
        >
          <div className="relative w-full" style={{ height: virtualizer.getTotalSize() }}>
            {virtualizer.getVirtualItems().map((item) => {
              const row = rows[item.index];
              if (!row) return null;
              const r = row.result;
              const selected = row.key === selectedKey;
              return (
                <div
                  key={item.key}
                  role="row"
                  data-index={item.index}
                  data-testid="result-row"
                  aria-rowindex={item.index + 2}
                  aria-current={selected ? 'true' : undefined}
                  onClick={() => onSelect(row)}
                  className={cn(
                    GRID,
                    'absolute top-0 left-0 w-full cursor-pointer border-b border-border/60 text-sm hover:bg-accent/60',
                    selected && 'bg-accent',
                  )}
                  style={{ height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }}
                >
                  <div role="cell">
                    <StatusBadge status={r.status} />
                  </div>
                  <div role="cell" className="min-w-0 truncate font-mono text-xs">
                    <button
                      type="button"
                      className="max-w-full truncate rounded text-left underline-offset-2 hover:underline"
                      onClick={(event) => {
                        event.stopPropagation();
                        onSelect(row);
                      }}
                      aria-label={t('runs.results.openDetail', { target: r.target, action: actionLabel(r.action_index) })}
                    >
                      {r.target}
                    </button>
                  </div>
                  <div role="cell" className="min-w-0 truncate">
                    {actionLabel(r.action_index)}
                  </div>
                  <div role="cell" className="text-right tabular-nums">
                    {formatLatency(r.duration_ms)}
                  </div>
                  <div role="cell" className="min-w-0 truncate text-muted-foreground" title={summarize(r)}>
                    {summarize(r)}
                  </div>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </div>
  );
}
