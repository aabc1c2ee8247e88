// A table of runs (the runs list and a job's recent runs): status as icon + word, the
// counters, trigger, times and a link to each run's view.
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { StatusBadge } from '../../components/Status';
import { RESULT_STATUSES, counterOf, formatDateTime, formatNumber, runDuration, type Run } from './format';
import { doneCount, isTerminal, percentDone } from '../../lib/runs';

/** A link that looks like a secondary button. */
export const LINK_BUTTON =
  'inline-flex h-9 items-center gap-1.5 rounded-md border border-border bg-secondary px-3.5 text-sm font-medium whitespace-nowrap text-secondary-foreground hover:bg-accent';

export function RunCounters({ run }: { run: Run }) {
  const { t } = useTranslation();
  const c = run.counters;
  const running = !isTerminal(run.status);
  return (
    <div className="flex flex-col gap-1">
      <span className="tabular-nums">
        {t('runs.list.doneOfTotal', { done: formatNumber(doneCount(c)), total: formatNumber(c.total) })}
      </span>
      {running && c.total > 0 && (
        <div
          role="progressbar"
          aria-label={t('runs.progress.label')}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percentDone(c)}
          className="h-1.5 w-32 overflow-hidden rounded-full bg-muted"
        >
          <div className="h-full bg-info" style={{ width: `${percentDone(c)}%` }} />
        </div>
      )}
      <span className="flex flex-wrap gap-x-3 gap-y-0.5">
        {RESULT_STATUSES.filter((s) => counterOf(c, s) > 0).map((s) => (
          <StatusBadge
            key={s}
            status={s}
            className="text-xs"
            label={t('runs.list.counter', { count: counterOf(c, s), n: formatNumber(counterOf(c, s)), status: t(`status.${s}`) })}
          />
        ))}
      </span>
    </div>
  );
}

export function RunsTable({
  runs,
  jobNames,
  loadingJobs,
  caption,
  testId = 'runs-table',
}: {
  runs: Run[];
  /** Job names by id; the job column is left out when absent (one job's runs). */
  jobNames?: Map<string, string>;
  /** Jobs whose names are still loading (not yet known to be deleted). */
  loadingJobs?: ReadonlySet<string>;
  caption: string;
  testId?: string;
}) {
  const { t } = useTranslation();
  const now = Date.now();
  return (
    <div className="overflow-x-auto rounded-md border border-border">
      <table className="w-full text-sm" data-testid={testId}>
        <caption className="sr-only">{caption}</caption>
        <thead className="bg-muted/60 text-left text-xs text-muted-foreground">
          <tr>
            <th scope="col" className="px-3 py-2 font-medium">
              {t('runs.list.columns.status')}
            </th>
            <th scope="col" className="px-3 py-2 font-medium">
              {t('runs.list.columns.run')}
            </th>
            {jobNames && (
              <th scope="col" className="px-3 py-2 font-medium">
                {t('runs.list.columns.job')}
              </th>
            )}
            <th scope="col" className="px-3 py-2 font-medium">
              {t('runs.list.columns.results')}
            </th>
            <th scope="col" className="px-3 py-2 font-medium">
              {t('runs.list.columns.trigger')}
            </th>
            <th scope="col" className="px-3 py-2 font-medium">
              {t('runs.list.columns.started')}
            </th>
            <th scope="col" className="px-3 py-2 font-medium">
              {t('runs.list.columns.duration')}
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => {
            const jobName = jobNames?.get(run.job_id);
            return (
              <tr key={run.id} className="border-t border-border align-top" data-testid="run-row">
                <td className="px-3 py-2">
                  <StatusBadge status={run.status} />
                </td>
                <td className="px-3 py-2">
                  <Link
                    to={`/runs/${run.id}`}
                    className="text-primary underline-offset-2 hover:underline"
                    aria-label={
                      jobName
                        ? t('runs.list.openRunOf', { job: jobName, time: formatDateTime(run.created_at) })
                        : t('runs.list.openRun', { time: formatDateTime(run.created_at) })
                    }
                  >
                    {formatDateTime(run.created_at)}
                  </Link>
                  <div className="text-xs text-muted-foreground">{t('runs.list.version', { version: run.job_version })}</div>
                </td>
                {jobNames && (
                  <td className="px-3 py-2">
                    <Link to={`/jobs/${run.job_id}`} className="underline-offset-2 hover:underline">
                      {jobName ?? (loadingJobs?.has(run.job_id) ? t('runs.list.loadingJob') : t('runs.list.unknownJob'))}
                    </Link>
                  </td>
                )}
                <td className="px-3 py-2">
                  <RunCounters run={run} />
                </td>
                <td className="px-3 py-2">{t(`runs.trigger.${run.trigger}`)}</td>
                <td className="px-3 py-2 whitespace-nowrap">{formatDateTime(run.started_at)}</td>
                <td className="px-3 py-2 whitespace-nowrap tabular-nums">{run.started_at ? runDuration(run, now) : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
