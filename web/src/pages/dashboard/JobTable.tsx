// The job list: a real <table> whose body is virtualized (only the rows in view, plus a
// few, are in the DOM; spacer rows keep the scroll height), so 10,000 jobs scroll as
// smoothly as 10. Row and column counts are given to assistive technology.
import { memo, useEffect, useRef, type MouseEvent } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Copy, Pencil, Play, X } from 'lucide-react';
import { Button } from '../../components/ui';
import { StatusBadge } from '../../components/Status';
import { cn } from '../../lib/cn';
import { TickBar } from './TickBar';
import { healthStatus, problemCount, relativeParts, type JobRow } from './model';
import { doneCount, percentDone } from '../../lib/runs';
import { useNow } from '../../lib/hooks';

export const ROW_HEIGHT = 56;

// One formatter per language, made on first use (the page language can change at runtime).
const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();
const absoluteFormats = new Map<string, Intl.DateTimeFormat>();

function relativeFormat(lang: string): Intl.RelativeTimeFormat {
  let format = relativeFormats.get(lang);
  if (!format) {
    format = new Intl.RelativeTimeFormat(lang, { numeric: 'auto', style: 'short' });
    relativeFormats.set(lang, format);
  }
  return format;
}

function absoluteFormat(lang: string): Intl.DateTimeFormat {
  let format = absoluteFormats.get(lang);
  if (!format) {
    format = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'medium' });
    absoluteFormats.set(lang, format);
  }
  return format;
}

/** "3 min. ago" / "in 5 min."; a past event never reads as future (`now` is coarse). */
function relative(iso: string, now: number, lang: string, past = false): string {
  const diff = Date.parse(iso) - now;
  const [value, unit] = relativeParts(past ? Math.min(diff, 0) : diff);
  return relativeFormat(lang).format(value, unit);
}

function absolute(iso: string, lang: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : absoluteFormat(lang).format(date);
}

export interface RowActions {
  canOperate: boolean;
  operatorReason: string;
  onRunNow: (row: JobRow) => void;
  onClone: (row: JobRow) => void;
  onCancel: (row: JobRow) => void;
  /** Jobs with a request in flight (their buttons are busy). */
  pending: ReadonlySet<string>;
}

export function JobTable({
  rows,
  selected,
  onToggle,
  onToggleAll,
  actions,
  settled,
  onVisibleChange,
}: {
  rows: JobRow[];
  /** Rows whose tick bars may load (in view after scrolling rested). */
  settled: ReadonlySet<string>;
  selected: ReadonlySet<string>;
  onToggle: (index: number, range: boolean) => void;
  onToggleAll: (select: boolean) => void;
  actions: RowActions;
  /** The ids of the rows in view, once scrolling has settled for a moment. */
  onVisibleChange: (ids: string[]) => void;
}) {
  const { t, i18n } = useTranslation();
  const scrollRef = useRef<HTMLDivElement>(null);
  const now = useNow();
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 6,
    getItemKey: (index) => rows[index].job.id,
  });
  const items = virtualizer.getVirtualItems();
  const paddingTop = items.length > 0 ? items[0].start : 0;
  const paddingBottom = items.length > 0 ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;

  // Rows in view, reported after scrolling rests (tick bars and live updates follow it).
  const visibleKey = items.map((item) => rows[item.index]?.job.id).join(',');
  const report = useRef(onVisibleChange);
  report.current = onVisibleChange;
  useEffect(() => {
    const timer = setTimeout(() => report.current(visibleKey ? visibleKey.split(',') : []), 150);
    return () => clearTimeout(timer);
  }, [visibleKey]);

  const selectedShown = rows.reduce((n, row) => n + (selected.has(row.job.id) ? 1 : 0), 0);
  const allSelected = rows.length > 0 && selectedShown === rows.length;
  const someSelected = selectedShown > 0 && !allSelected;
  const lang = i18n.language || 'en';
  const columns = actions.canOperate ? 7 : 6;

  return (
    <div
      ref={scrollRef}
      // Focusable so the keyboard can scroll past the rows in the DOM.
      tabIndex={0}
      role="region"
      aria-label={t('dashboard.table.caption')}
      className="h-[calc(100vh-19rem)] min-h-80 overflow-auto rounded-lg border border-border bg-card"
      data-testid="job-table-scroll"
    >
      <table
        className="w-full min-w-[960px] table-fixed border-collapse text-sm"
        aria-rowcount={rows.length + 1}
        aria-colcount={columns}
        data-testid="job-table"
      >
        <caption className="sr-only">{t('dashboard.table.caption')}</caption>
        <colgroup>
          {actions.canOperate && <col className="w-10" />}
          <col />
          <col className="w-56" />
          <col className="w-32" />
          <col className="w-32" />
          <col className="w-32" />
          <col className="w-32" />
        </colgroup>
        <thead className="sticky top-0 z-10 bg-card shadow-[0_1px_0_var(--color-border)]">
          <tr aria-rowindex={1} className="text-left text-xs font-medium text-muted-foreground">
            {actions.canOperate && (
              <th scope="col" className="px-3 py-2">
                <IndeterminateCheckbox
                  checked={allSelected}
                  indeterminate={someSelected}
                  disabled={rows.length === 0}
                  onChange={(value) => onToggleAll(value)}
                  aria-label={t('dashboard.table.selectAll', { count: rows.length })}
                />
              </th>
            )}
            <th scope="col" className="px-3 py-2">{t('dashboard.table.job')}</th>
            <th scope="col" className="px-3 py-2">{t('dashboard.table.status')}</th>
            <th scope="col" className="px-3 py-2">{t('dashboard.table.recentRuns')}</th>
            <th scope="col" className="px-3 py-2">{t('dashboard.table.lastRun')}</th>
            <th scope="col" className="px-3 py-2">{t('dashboard.table.nextRun')}</th>
            <th scope="col" className="px-3 py-2">{t('dashboard.table.actions')}</th>
          </tr>
        </thead>
        <tbody>
          {paddingTop > 0 && (
            <tr aria-hidden="true" style={{ height: paddingTop }}>
              <td colSpan={columns} />
            </tr>
          )}
          {items.map((item) => {
            const row = rows[item.index];
            return (
              <JobRowView
                key={row.job.id}
                row={row}
                index={item.index}
                selected={selected.has(row.job.id)}
                onToggle={onToggle}
                actions={actions}
                settled={settled.has(row.job.id)}
                now={now}
                lang={lang}
              />
            );
          })}
          {paddingBottom > 0 && (
            <tr aria-hidden="true" style={{ height: paddingBottom }}>
              <td colSpan={columns} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function IndeterminateCheckbox({
  checked,
  indeterminate,
  onChange,
  ...rest
}: {
  checked: boolean;
  indeterminate: boolean;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  'aria-label': string;
}) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = indeterminate;
  }, [indeterminate]);
  return (
    <input
      ref={ref}
      type="checkbox"
      className="size-4 align-middle"
      checked={checked}
      onChange={(e) => onChange(e.target.checked)}
      {...rest}
    />
  );
}

const linkButton =
  'inline-flex h-8 items-center justify-center rounded-md px-2 text-foreground hover:bg-accent';

const JobRowView = memo(function JobRowView({
  row,
  index,
  selected,
  onToggle,
  actions,
  settled,
  now,
  lang,
}: {
  row: JobRow;
  index: number;
  selected: boolean;
  settled: boolean;
  onToggle: (index: number, range: boolean) => void;
  actions: RowActions;
  now: number;
  lang: string;
}) {
  const { t } = useTranslation();
  const { job, run, health } = row;
  const pending = actions.pending.has(job.id);
  const live = health === 'running' || health === 'queued';

  return (
    <tr
      aria-rowindex={index + 2}
      data-testid="job-row"
      data-job-id={job.id}
      className={cn('border-t border-border', selected && 'bg-accent/50')}
      style={{ height: ROW_HEIGHT }}
    >
      {actions.canOperate && (
        <td className="px-3">
          <input
            type="checkbox"
            className="size-4 align-middle"
            checked={selected}
            onChange={() => {}}
            onClick={(e: MouseEvent<HTMLInputElement>) => onToggle(index, e.shiftKey)}
            aria-label={t('dashboard.table.selectJob', { name: job.name })}
          />
        </td>
      )}
      <td className="px-3">
        <div className="flex min-w-0 flex-col">
          <Link to={`/jobs/${job.id}`} className="truncate font-medium text-foreground hover:underline" title={job.name}>
            {job.name}
          </Link>
          {(job.tags.length > 0 || job.description) && (
            <div className="flex min-w-0 items-center gap-1 text-xs text-muted-foreground">
              {job.tags.map((tag) => (
                <span key={tag} className="shrink-0 rounded border border-border px-1 leading-4">
                  {tag}
                </span>
              ))}
              <span className="truncate" title={job.description}>
                {job.description}
              </span>
            </div>
          )}
        </div>
      </td>
      <td className="px-3">
        {live && run ? (
          <LiveProgress row={row} actions={actions} pending={pending} />
        ) : (
          <StatusBadge
            status={healthStatus(health)}
            label={
              health === 'failing' && run
                ? run.status === 'failed'
                  ? t('dashboard.row.runFailed')
                  : t('dashboard.row.problems', { count: problemCount(run.counters), total: run.counters.total })
                : undefined
            }
            className="max-w-full truncate"
          />
        )}
        {health === 'failing' && run?.status === 'failed' && run.reason && (
          <p className="truncate text-xs text-muted-foreground" title={run.reason}>
            {run.reason}
          </p>
        )}
      </td>
      <td className="px-3">
        <TickBar jobId={job.id} enabled={settled} />
      </td>
      <td className="px-3">
        {run ? (
          <Link
            to={`/runs/${run.id}`}
            className="text-foreground hover:underline"
            title={absolute(run.created_at, lang)}
            aria-label={t('dashboard.row.lastRunLink', { name: job.name, when: relative(run.created_at, now, lang, true) })}
          >
            {relative(run.created_at, now, lang, true)}
          </Link>
        ) : (
          <span className="text-muted-foreground">
            <span aria-hidden="true">—</span>
            <span className="sr-only">{t('status.never')}</span>
          </span>
        )}
      </td>
      <td className="px-3">
        {!job.enabled ? (
          <StatusBadge status="disabled" />
        ) : job.next_run_at ? (
          <span title={absolute(job.next_run_at, lang)}>
            {Date.parse(job.next_run_at) <= now ? t('dashboard.row.due') : relative(job.next_run_at, now, lang)}
          </span>
        ) : job.schedule.type === 'manual' ? (
          <span className="text-muted-foreground">{t('dashboard.row.manual')}</span>
        ) : (
          <span className="text-muted-foreground">{t('dashboard.row.noNext')}</span>
        )}
      </td>
      <td className="px-3">
        <div className="flex items-center gap-0.5">
          <Button
            variant="ghost"
            size="sm"
            className="px-2"
            aria-label={t('dashboard.row.runNow', { name: job.name })}
            title={actions.canOperate ? t('dashboard.row.runNow', { name: job.name }) : undefined}
            disabled={!actions.canOperate || pending}
            disabledReason={actions.canOperate ? undefined : actions.operatorReason}
            onClick={() => actions.onRunNow(row)}
          >
            <Play className="size-4" aria-hidden="true" />
          </Button>
          {actions.canOperate && (
            <Link
              to={`/jobs/${job.id}/edit`}
              className={linkButton}
              aria-label={t('dashboard.row.edit', { name: job.name })}
              title={t('dashboard.row.edit', { name: job.name })}
            >
              <Pencil className="size-4" aria-hidden="true" />
            </Link>
          )}
          <Button
            variant="ghost"
            size="sm"
            className="px-2"
            aria-label={t('dashboard.row.clone', { name: job.name })}
            title={actions.canOperate ? t('dashboard.row.clone', { name: job.name }) : undefined}
            disabled={!actions.canOperate || pending}
            disabledReason={actions.canOperate ? undefined : actions.operatorReason}
            onClick={() => actions.onClone(row)}
          >
            <Copy className="size-4" aria-hidden="true" />
          </Button>
        </div>
      </td>
    </tr>
  );
});

function LiveProgress({ row, actions, pending }: { row: JobRow; actions: RowActions; pending: boolean }) {
  const { t } = useTranslation();
  const run = row.run!;
  const done = doneCount(run.counters);
  const total = run.counters.total;
  const percent = percentDone(run.counters);
  return (
    <div className="flex items-center gap-2">
      <div className="flex min-w-0 flex-1 flex-col gap-1">
        <StatusBadge status={row.health === 'queued' ? 'queued' : 'running'} />
        <div className="flex items-center gap-1.5">
          <div
            role="progressbar"
            aria-label={t('dashboard.row.progress', { name: row.job.name })}
            aria-valuemin={0}
            aria-valuemax={Math.max(total, 1)}
            aria-valuenow={Math.min(done, Math.max(total, 1))}
            aria-valuetext={t('dashboard.row.progressText', { done, total, percent })}
            data-testid="run-progress"
            className="h-1.5 flex-1 overflow-hidden rounded-full bg-muted"
          >
            <div className="h-full bg-info transition-[width]" style={{ width: `${percent}%` }} />
          </div>
          <span className="shrink-0 text-xs text-muted-foreground tabular-nums" aria-hidden="true">
            {done} / {total}
          </span>
        </div>
      </div>
      <Button
        variant="ghost"
        size="sm"
        className="h-7 px-1.5"
        aria-label={t('dashboard.row.cancelRun', { name: row.job.name })}
        title={actions.canOperate ? t('dashboard.row.cancelRun', { name: row.job.name }) : undefined}
        disabled={!actions.canOperate || pending}
        disabledReason={actions.canOperate ? undefined : actions.operatorReason}
        onClick={() => actions.onCancel(row)}
      >
        <X className="size-4" aria-hidden="true" />
        {t('dashboard.row.cancel')}
      </Button>
    </div>
  );
}
