// The last runs of a job as a row of marks, oldest left. Shape as well as colour tells the
// outcome (failures are full height, successes half, cancelled runs a stub; a run in
// progress is hollow), and one label reads the whole bar out ("Last 20 runs: 18 OK, 2 failing").
import { memo } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/client';
import { cn } from '../../lib/cn';
import { fetchTicks, ticksKey } from './data';
import { runHealth, type Health, type Run } from './model';

const MARK: Record<Health, string> = {
  ok: 'h-2.5 bg-ok',
  warn: 'h-3.5 bg-warn',
  failing: 'h-5 bg-fail',
  running: 'h-5 border border-info bg-transparent',
  queued: 'h-5 border border-dashed border-info bg-transparent',
  cancelled: 'h-1.5 bg-muted-foreground',
  never: 'h-1 bg-muted',
};
const ORDER: Health[] = ['ok', 'warn', 'failing', 'running', 'queued', 'cancelled'];

export const TickBar = memo(function TickBar({ jobId, enabled }: { jobId: string; enabled: boolean }) {
  const { t } = useTranslation();
  const query = useQuery({
    queryKey: ticksKey(jobId),
    queryFn: ({ signal }) => fetchTicks(jobId, signal),
    enabled,
    staleTime: 60_000,
  });

  if (query.isError) {
    return (
      <span className="text-xs text-muted-foreground" title={t('dashboard.ticks.failed', { message: errorMessage(query.error) })}>
        <span aria-hidden="true">—</span>
        <span className="sr-only">{t('dashboard.ticks.failed', { message: errorMessage(query.error) })}</span>
      </span>
    );
  }
  if (!query.data) {
    return (
      <span className="block h-5 w-24 animate-pulse rounded-sm bg-muted" role="img" aria-label={t('dashboard.ticks.loading')} />
    );
  }
  const runs = query.data;
  if (runs.length === 0) return <span className="text-xs text-muted-foreground">{t('dashboard.ticks.none')}</span>;

  const healths = runs.map((run) => runHealth(run));
  const counts = new Map<Health, number>();
  for (const h of healths) counts.set(h, (counts.get(h) ?? 0) + 1);
  const summary = ORDER.filter((h) => counts.has(h))
    .map((h) => t('dashboard.ticks.part', { count: counts.get(h), status: t(`dashboard.health.${h}`) }))
    .join(', ');
  const oldestFirst = runs.map((run, i) => ({ run, health: healths[i] })).reverse();

  return (
    <span
      role="img"
      aria-label={t('dashboard.ticks.label', { count: runs.length, summary })}
      data-testid="tick-bar"
      className="flex h-5 items-end gap-0.5"
    >
      {oldestFirst.map(({ run, health }) => (
        <span key={run.id} title={tickTitle(run, t(`dashboard.health.${health}`))} className={cn('w-1 shrink-0 rounded-[1px]', MARK[health])} />
      ))}
    </span>
  );
});

function tickTitle(run: Run, status: string): string {
  const at = new Date(run.created_at);
  return `${status} · ${Number.isNaN(at.getTime()) ? run.created_at : at.toLocaleString()}`;
}
