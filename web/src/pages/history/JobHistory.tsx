// A job's history: what the job is (schedule, targets, actions), its results over time
// (success rate, latency mean and p95, result count) for a time range kept in the URL, and
// its recent runs, kept live over the WebSocket.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { toast } from 'sonner';
import cronstrue from 'cronstrue';
import { BarChart3, List, Pencil, Play, Table2 } from 'lucide-react';
import { ApiError, api, errorMessage, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { useLive } from '../../lib/live';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, ErrorState, Field, Input, LoadingRows, PageHeader, Skeleton } from '../../components/ui';
import { cn } from '../../lib/cn';
import i18n from '../../i18n';
import { formatDateTime, formatFixed, formatLatency, formatNumber } from '../runs/format';
import { isTerminal } from '../../lib/runs';
import { LINK_BUTTON, RunsTable } from '../runs/RunsTable';
import { maskSecretParams, useLibraryCommands } from '../runs/secrets';
import { SeriesChart, type ChartSeries } from './SeriesChart';
import {
  PRESETS,
  fromLocalInput,
  readRange,
  seriesWindow,
  stepText,
  toLocalInput,
  writeRange,
  type RangeSelection,
  type SeriesWindow,
} from './range';

type JobView = Schemas['JobView'];
type Series = Schemas['Series'];

const RECENT_RUNS = 10;
/** Buckets drawn at most when filling gaps. */
const MAX_BUCKETS = 2000;

export function describeSchedule(schedule: JobView['schedule'], t: TFunction): string {
  switch (schedule.type) {
    case 'interval': {
      const s = schedule.seconds;
      if (s % 86400 === 0) return t('history.schedule.everyDays', { count: s / 86400 });
      if (s % 3600 === 0) return t('history.schedule.everyHours', { count: s / 3600 });
      if (s % 60 === 0) return t('history.schedule.everyMinutes', { count: s / 60 });
      return t('history.schedule.everySeconds', { count: s });
    }
    case 'cron': {
      let words = '';
      try {
        words = cronstrue.toString(schedule.expression, { use24HourTimeFormat: true });
      } catch {
        words = '';
      }
      return t('history.schedule.cron', {
        expression: schedule.expression,
        words: words || schedule.expression,
        timezone: schedule.timezone || 'UTC',
      });
    }
    case 'once':
      return t('history.schedule.once', { at: formatDateTime(schedule.at) });
    default:
      return t('history.schedule.manual');
  }
}

function describeSelector(selector: Schemas['Selector'], t: TFunction): string {
  switch (selector.type) {
    case 'range':
      return t('history.targets.range', { value: selector.value });
    case 'hosts': {
      const shown = selector.hosts.slice(0, 5).join(', ');
      return selector.hosts.length > 5
        ? t('history.targets.hostsMore', { hosts: shown, count: selector.hosts.length - 5 })
        : t('history.targets.hosts', { hosts: shown, count: selector.hosts.length });
    }
    case 'file':
      return t('history.targets.file', { name: selector.name || '—' });
    case 'group':
      return t('history.targets.group', { group: selector.group });
    default:
      return '';
  }
}

/** `k=v, …` of an action's params (secret values already masked by the caller). */
function paramsText(params: Record<string, unknown> | null | undefined): string {
  const entries = Object.entries(params ?? {});
  return entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
}

function JobSummary({ job }: { job: JobView }) {
  const { t } = useTranslation();
  const commands = useLibraryCommands();
  const actions = useMemo(() => maskSecretParams(job.actions, commands.data), [job.actions, commands.data]);
  return (
    <Card className="p-4" role="region" aria-labelledby="job-summary-heading" data-testid="job-summary">
      <h2 id="job-summary-heading" className="sr-only">
        {t('history.summary.heading')}
      </h2>
      <dl className="grid grid-cols-[auto_1fr] gap-x-6 gap-y-2 text-sm md:grid-cols-[auto_1fr_auto_1fr]">
        <dt className="text-muted-foreground">{t('history.summary.state')}</dt>
        <dd data-testid="job-enabled">
          {job.enabled ? (
            <StatusBadge status="ok" label={t('history.summary.enabled')} />
          ) : (
            <StatusBadge status="disabled" label={t('history.summary.disabled')} />
          )}
        </dd>
        <dt className="text-muted-foreground">{t('history.summary.schedule')}</dt>
        <dd data-testid="job-schedule">{describeSchedule(job.schedule, t)}</dd>
        <dt className="text-muted-foreground">{t('history.summary.targets')}</dt>
        <dd>
          <ul className="flex flex-col">
            {job.targets.include.map((selector, i) => (
              <li key={i} className="break-all">
                {describeSelector(selector, t)}
              </li>
            ))}
            {(job.targets.exclude ?? []).length > 0 && (
              <li className="text-muted-foreground">{t('history.targets.exclude', { list: (job.targets.exclude ?? []).join(', ') })}</li>
            )}
          </ul>
        </dd>
        <dt className="text-muted-foreground">{t('history.summary.actions')}</dt>
        <dd>
          <ol className="flex flex-col">
            {actions.map((action, i) => (
              <li key={i}>
                <span className="font-medium">{action.name || action.command}</span>{' '}
                <span className="font-mono text-xs text-muted-foreground">
                  {action.name ? `${action.command} ` : ''}
                  {paramsText(action.params)}
                </span>
              </li>
            ))}
          </ol>
        </dd>
        <dt className="text-muted-foreground">{t('history.summary.version')}</dt>
        <dd>{t('history.summary.versionText', { version: job.version, updated: formatDateTime(job.updated_at) })}</dd>
        {job.tags.length > 0 && (
          <>
            <dt className="text-muted-foreground">{t('history.summary.tags')}</dt>
            <dd className="flex flex-wrap gap-1">
              {job.tags.map((tag) => (
                <span key={tag} className="rounded bg-muted px-1.5 py-0.5 text-xs">
                  {tag}
                </span>
              ))}
            </dd>
          </>
        )}
      </dl>
    </Card>
  );
}

function RangePicker({ range, onChange }: { range: RangeSelection; onChange: (range: RangeSelection) => void }) {
  const { t } = useTranslation();
  const [customOpen, setCustomOpen] = useState(range.id === 'custom');
  const initial = seriesWindow(range);
  const [from, setFrom] = useState(() => toLocalInput(initial.from));
  const [to, setTo] = useState(() => toLocalInput(initial.to));
  const [error, setError] = useState<string | undefined>();
  // Back and forward change the range in the URL: follow it.
  useEffect(() => {
    if (range.id !== 'custom') setCustomOpen(false);
    else setCustomOpen(true);
  }, [range.id]);

  const apply = () => {
    const fromIso = fromLocalInput(from);
    const toIso = fromLocalInput(to);
    if (!fromIso || !toIso) return setError(t('history.range.invalid'));
    if (Date.parse(fromIso) >= Date.parse(toIso)) return setError(t('history.range.order'));
    setError(undefined);
    onChange({ id: 'custom', from: fromIso, to: toIso });
  };

  return (
    <div className="flex flex-col gap-2">
      <div role="group" aria-label={t('history.range.label')} className="flex flex-wrap gap-1">
        {PRESETS.map((id) => (
          <Button
            key={id}
            size="sm"
            variant={range.id === id && !customOpen ? 'primary' : 'secondary'}
            aria-pressed={range.id === id && !customOpen}
            onClick={() => {
              setCustomOpen(false);
              onChange({ id });
            }}
          >
            {t(`history.range.${id}`)}
          </Button>
        ))}
        <Button
          size="sm"
          variant={customOpen ? 'primary' : 'secondary'}
          aria-pressed={customOpen}
          aria-expanded={customOpen}
          aria-controls="history-custom-range"
          onClick={() => {
            const w = seriesWindow(range);
            setFrom(toLocalInput(w.from));
            setTo(toLocalInput(w.to));
            setCustomOpen(true);
          }}
        >
          {t('history.range.custom')}
        </Button>
      </div>
      {customOpen && (
        <form
          id="history-custom-range"
          className="flex flex-wrap items-end gap-2"
          onSubmit={(event) => {
            event.preventDefault();
            apply();
          }}
        >
          <Field id="history-from" label={t('history.range.from')}>
            <Input id="history-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} required />
          </Field>
          <Field id="history-to" label={t('history.range.to')} error={error}>
            <Input
              id="history-to"
              type="datetime-local"
              value={to}
              onChange={(e) => setTo(e.target.value)}
              required
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? 'history-to-error' : undefined}
            />
          </Field>
          <Button type="submit" size="md" variant="primary">
            {t('history.range.apply')}
          </Button>
        </form>
      )}
    </div>
  );
}

interface ChartData {
  x: number[];
  success: (number | null)[];
  avg: (number | null)[];
  p95: (number | null)[];
  count: (number | null)[];
}

/** Buckets on a regular grid over the window, empty buckets as gaps. */
export function toChartData(series: Series, window: SeriesWindow): ChartData {
  const step = series.step_seconds > 0 ? series.step_seconds : window.stepSeconds;
  const points = series.points.map((p) => ({ ...p, t: Math.floor(Date.parse(p.at) / 1000) }));
  const start = Math.floor(window.from.getTime() / 1000 / step) * step;
  const end = Math.floor(window.to.getTime() / 1000);
  const aligned = points.every((p) => (p.t - start) % step === 0 && p.t >= start);
  const buckets = Math.floor((end - start) / step) + 1;
  const data: ChartData = { x: [], success: [], avg: [], p95: [], count: [] };
  if (aligned && buckets <= MAX_BUCKETS) {
    const byTime = new Map(points.map((p) => [p.t, p]));
    for (let t = start; t <= end; t += step) {
      const p = byTime.get(t);
      data.x.push(t);
      data.success.push(p ? p.success_rate * 100 : null);
      data.avg.push(p ? p.duration_avg_ms : null);
      data.p95.push(p ? p.duration_p95_ms : null);
      data.count.push(p ? p.count : null);
    }
    return data;
  }
  for (const p of points) {
    data.x.push(p.t);
    data.success.push(p.success_rate * 100);
    data.avg.push(p.duration_avg_ms);
    data.p95.push(p.duration_p95_ms);
    data.count.push(p.count);
  }
  return data;
}

function formatPercent(v: number): string {
  const digits = v >= 99.95 || v === Math.round(v) ? 0 : 1;
  return i18n.t('history.charts.percent', { value: formatFixed(v, digits) });
}

function formatCount(v: number): string {
  return formatNumber(Math.round(v));
}

function HistoryCharts({ series, window }: { series: Series; window: SeriesWindow }) {
  const { t } = useTranslation();
  const [showTable, setShowTable] = useState(false);
  const data = useMemo(() => toChartData(series, window), [series, window]);
  const xRange = useMemo<[number, number]>(
    () => [Math.floor(window.from.getTime() / 1000), Math.floor(window.to.getTime() / 1000)],
    [window],
  );

  const summaries = useMemo(() => {
    const points = series.points;
    const total = points.reduce((sum, p) => sum + p.count, 0);
    const okShare = total > 0 ? points.reduce((sum, p) => sum + p.success_rate * p.count, 0) / total : 0;
    const worst = points.reduce((min, p) => (p.success_rate < min.success_rate ? p : min), points[0]);
    const latest = points[points.length - 1];
    const avgLatency = total > 0 ? points.reduce((sum, p) => sum + p.duration_avg_ms * p.count, 0) / total : 0;
    const maxP95 = points.reduce((max, p) => Math.max(max, p.duration_p95_ms), 0);
    const busiest = points.reduce((max, p) => Math.max(max, p.count), 0);
    return {
      success: t('history.charts.successSummary', {
        average: formatPercent(okShare * 100),
        lowest: formatPercent(worst.success_rate * 100),
        lowestAt: formatDateTime(worst.at),
        latest: formatPercent(latest.success_rate * 100),
      }),
      latency: t('history.charts.latencySummary', {
        average: formatLatency(avgLatency),
        p95: formatLatency(maxP95),
        latest: formatLatency(latest.duration_avg_ms),
      }),
      count: t('history.charts.countSummary', {
        count: total,
        total: formatNumber(total),
        buckets: formatNumber(points.length),
        busiest: formatNumber(busiest),
        step: stepText(series.step_seconds),
      }),
    };
  }, [series, t]);

  const successSeries = useMemo<ChartSeries[]>(
    () => [{ label: t('history.charts.successRate'), values: data.success, colorVar: '--ok' }],
    [data, t],
  );
  const latencySeries = useMemo<ChartSeries[]>(
    () => [
      { label: t('history.charts.latencyAvg'), values: data.avg, colorVar: '--info' },
      { label: t('history.charts.latencyP95'), values: data.p95, colorVar: '--warn', dash: true },
    ],
    [data, t],
  );
  const countSeries = useMemo<ChartSeries[]>(
    () => [{ label: t('history.charts.count'), values: data.count, colorVar: '--primary', bars: true }],
    [data, t],
  );
  const percentRange = useMemo<[number, number]>(() => [0, 100], []);

  return (
    <div className="flex flex-col gap-4">
      <div className="grid gap-6 xl:grid-cols-2">
        <SeriesChart
          id="success"
          title={t('history.charts.successTitle')}
          summary={summaries.success}
          x={data.x}
          series={successSeries}
          xRange={xRange}
          yRange={percentRange}
          format={formatPercent}
        />
        <SeriesChart
          id="latency"
          title={t('history.charts.latencyTitle')}
          summary={summaries.latency}
          x={data.x}
          series={latencySeries}
          xRange={xRange}
          format={formatLatency}
        />
        <SeriesChart
          id="count"
          title={t('history.charts.countTitle')}
          summary={summaries.count}
          x={data.x}
          series={countSeries}
          xRange={xRange}
          format={formatCount}
        />
      </div>
      <div>
        <Button size="sm" aria-expanded={showTable} aria-controls="history-data-table" onClick={() => setShowTable((v) => !v)}>
          {showTable ? <BarChart3 className="size-4" aria-hidden="true" /> : <Table2 className="size-4" aria-hidden="true" />}
          {showTable ? t('history.charts.hideTable') : t('history.charts.showTable')}
        </Button>
      </div>
      {showTable && (
        <div id="history-data-table" className="max-h-96 overflow-auto rounded-md border border-border">
          <table className="w-full text-sm" data-testid="history-data-table">
            <caption className="sr-only">{t('history.charts.tableCaption', { step: stepText(series.step_seconds) })}</caption>
            <thead className="sticky top-0 bg-muted text-left text-xs">
              <tr>
                <th scope="col" className="px-3 py-1.5 font-medium">
                  {t('history.charts.bucket')}
                </th>
                <th scope="col" className="px-3 py-1.5 text-right font-medium">
                  {t('history.charts.count')}
                </th>
                <th scope="col" className="px-3 py-1.5 text-right font-medium">
                  {t('history.charts.successRate')}
                </th>
                <th scope="col" className="px-3 py-1.5 text-right font-medium">
                  {t('history.charts.latencyAvg')}
                </th>
                <th scope="col" className="px-3 py-1.5 text-right font-medium">
                  {t('history.charts.latencyP95')}
                </th>
              </tr>
            </thead>
            <tbody className="tabular-nums">
              {series.points.map((p) => (
                <tr key={p.at} className="border-t border-border">
                  <th scope="row" className="px-3 py-1 text-left font-normal whitespace-nowrap">
                    {formatDateTime(p.at)}
                  </th>
                  <td className="px-3 py-1 text-right">{formatNumber(p.count)}</td>
                  <td className="px-3 py-1 text-right">{formatPercent(p.success_rate * 100)}</td>
                  <td className="px-3 py-1 text-right">{formatLatency(p.duration_avg_ms)}</td>
                  <td className="px-3 py-1 text-right">{formatLatency(p.duration_p95_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export default function JobHistory() {
  const { jobId = '' } = useParams();
  const { t } = useTranslation();
  const { can } = useAuth();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const range = readRange(params);

  const job = useQuery({
    queryKey: ['job', jobId],
    queryFn: async () => unwrap(await api.GET('/api/v1/jobs/{id}', { params: { path: { id: jobId } } })),
    enabled: !!jobId,
  });

  const series = useQuery({
    queryKey: ['series', jobId, range.id, range.from, range.to],
    queryFn: async () => {
      const window = seriesWindow(range);
      const data = unwrap(
        await api.GET('/api/v1/jobs/{id}/series', {
          params: {
            path: { id: jobId },
            query: { from: window.from.toISOString(), to: window.to.toISOString(), step: stepText(window.stepSeconds) },
          },
        }),
      );
      return { data, window };
    },
    enabled: !!jobId,
    placeholderData: keepPreviousData,
    refetchInterval: range.id === 'custom' ? false : 60_000,
  });

  const recentKey = ['runs', { job: jobId, recent: true }];
  const recent = useQuery({
    queryKey: recentKey,
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/runs', { params: { query: { job_id: jobId, limit: RECENT_RUNS } } })),
    enabled: !!jobId,
  });

  useEffect(() => {
    if (job.data) document.title = `${t('history.documentTitle', { job: job.data.name })} · OpsConductor`;
  }, [job.data, t]);

  // Live: recent runs change in place; a finished run refreshes the charts (at most every
  // few seconds).
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // Whether any run finished since the timer was set: read when it fires, so a run that
  // finishes within the window (after the message that set the timer) still refreshes.
  const runFinished = useRef(false);
  useEffect(() => () => {
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
  }, []);
  useLive({ jobs: jobId ? [jobId] : [] }, (message) => {
    if (message.type === 'resync') {
      void queryClient.invalidateQueries({ queryKey: recentKey });
      return;
    }
    if (message.type !== 'run_progress' || message.run.job_id !== jobId) return;
    const run = message.run;
    let found = false;
    queryClient.setQueryData<Schemas['RunPage']>(recentKey, (old) => {
      if (!old) return old;
      return {
        ...old,
        items: old.items.map((item) => {
          if (item.id !== run.id) return item;
          found = true;
          return run;
        }),
      };
    });
    if (isTerminal(run.status)) runFinished.current = true;
    if ((!found || isTerminal(run.status)) && !refreshTimer.current) {
      refreshTimer.current = setTimeout(() => {
        refreshTimer.current = null;
        const finished = runFinished.current;
        runFinished.current = false;
        void queryClient.invalidateQueries({ queryKey: recentKey });
        if (finished) void queryClient.invalidateQueries({ queryKey: ['series', jobId] });
      }, 2000);
    }
  });

  const runNow = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/jobs/{id}/runs', { params: { path: { id: jobId } } })),
    onSuccess: (run) => {
      toast.success(t('history.runNow.done'), {
        action: { label: t('history.runNow.open'), onClick: () => void navigate(`/runs/${run.id}`) },
      });
      void queryClient.invalidateQueries({ queryKey: ['runs'] });
    },
    onError: (error) => toast.error(t('history.runNow.failed', { message: errorMessage(error) })),
  });

  if (job.isPending) {
    return (
      <div className="flex flex-col gap-4">
        <Skeleton className="h-8 w-72" />
        <Skeleton className="h-32 w-full" />
        <Skeleton className="h-64 w-full" />
      </div>
    );
  }
  if (job.isError) {
    if (job.error instanceof ApiError && job.error.status === 404) {
      return (
        <div className="flex flex-col gap-3">
          <PageHeader title={t('history.notFoundTitle')} />
          <p>{t('history.notFound', { id: jobId })}</p>
          <Link to="/" className="text-primary underline">
            {t('common.backHome')}
          </Link>
        </div>
      );
    }
    return <ErrorState error={job.error} onRetry={() => void job.refetch()} />;
  }

  const data = job.data;
  const operator = can('operator');
  const needsOperator = t('common.requiresRole', { role: t('roles.operator') });

  return (
    <div className="flex flex-col gap-6">
      <PageHeader
        title={data.name}
        actions={
          <>
            <Link to={`/runs?job=${encodeURIComponent(data.id)}`} className={LINK_BUTTON}>
              <List className="size-4" aria-hidden="true" />
              {t('history.allRuns')}
            </Link>
            {operator ? (
              <Link to={`/jobs/${data.id}/edit`} className={LINK_BUTTON}>
                <Pencil className="size-4" aria-hidden="true" />
                {t('history.edit')}
              </Link>
            ) : (
              <Button disabled disabledReason={needsOperator}>
                <Pencil className="size-4" aria-hidden="true" />
                {t('history.edit')}
              </Button>
            )}
            <Button
              variant="primary"
              disabled={!operator || runNow.isPending}
              disabledReason={operator ? undefined : needsOperator}
              onClick={() => runNow.mutate()}
            >
              <Play className="size-4" aria-hidden="true" />
              {runNow.isPending ? t('history.runNow.working') : t('history.runNow.button')}
            </Button>
          </>
        }
      >
        {data.description || t('history.noDescription')}
      </PageHeader>

      <JobSummary job={data} />

      <section aria-labelledby="history-results-heading" className="flex flex-col gap-3">
        <div className="flex flex-wrap items-start justify-between gap-3">
          <h2 id="history-results-heading" className="text-base font-semibold">
            {t('history.charts.heading')}
          </h2>
          <RangePicker range={range} onChange={(next) => setParams(writeRange(params, next), { replace: false })} />
        </div>
        <Card className={cn('p-4', series.isFetching && series.data && 'opacity-80')} aria-busy={series.isFetching}>
          {series.isPending ? (
            <div role="status" className="grid gap-4 xl:grid-cols-2">
              <span className="sr-only">{t('common.loading')}</span>
              <Skeleton className="h-52 w-full" />
              <Skeleton className="h-52 w-full" />
            </div>
          ) : series.isError ? (
            <ErrorState error={series.error} onRetry={() => void series.refetch()} />
          ) : series.data.data.points.length === 0 ? (
            <EmptyState icon={<BarChart3 className="size-6" aria-hidden="true" />} title={t('history.charts.emptyTitle')}>
              {t('history.charts.empty')}
            </EmptyState>
          ) : (
            <HistoryCharts series={series.data.data} window={series.data.window} />
          )}
        </Card>
      </section>

      <section aria-labelledby="history-runs-heading" className="flex flex-col gap-3">
        <div className="flex flex-wrap items-baseline justify-between gap-2">
          <h2 id="history-runs-heading" className="text-base font-semibold">
            {t('history.recent.heading')}
          </h2>
          <Link to={`/runs?job=${encodeURIComponent(data.id)}`} className="text-sm text-primary underline-offset-2 hover:underline">
            {t('history.recent.all')}
          </Link>
        </div>
        {recent.isPending ? (
          <LoadingRows rows={4} />
        ) : recent.isError ? (
          <ErrorState error={recent.error} onRetry={() => void recent.refetch()} />
        ) : recent.data.items.length === 0 ? (
          <Card>
            <EmptyState title={t('history.recent.emptyTitle')}>{t('history.recent.empty')}</EmptyState>
          </Card>
        ) : (
          <RunsTable runs={recent.data.items} caption={t('history.recent.caption', { job: data.name })} testId="recent-runs" />
        )}
      </section>
    </div>
  );
}
