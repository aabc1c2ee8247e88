// Run now, pause, resume and delete for the selected jobs. Every action asks first, naming
// the jobs it affects ("Delete 3 jobs: a, b, c"), and reports each job's outcome in a toast.
import { lazy, Suspense, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Pause, Play, PlayCircle, Trash2, X } from 'lucide-react';
import { errorMessage } from '../../api/client';
import { Button } from '../../components/ui';
import { bulk, BulkError, invalidateJobs, patchJobs, RUN_MAX, runMany, type BulkAction } from './data';
import { nameList, type Job, type Run } from './model';

type Action = BulkAction | 'run';

// The dialog (Radix) loads on first use: it stays out of the dashboard's first load.
const ConfirmDialog = lazy(() => import('../../components/Dialog').then((m) => ({ default: m.ConfirmDialog })));

export function BulkActions({
  jobs,
  onClear,
  onRunsStarted,
}: {
  /** The selected jobs (all shown in the list). */
  jobs: Job[];
  onClear: () => void;
  onRunsStarted: (runs: Run[]) => void;
}) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState<{ action: Action; jobs: Job[] } | null>(null);
  const count = jobs.length;
  const none = count === 0;
  const reason = t('dashboard.bulk.selectFirst');

  const names = (list: Job[]) => {
    const { shown, more } = nameList(list.map((j) => j.name));
    return more > 0 ? `${shown} ${t('dashboard.bulk.more', { count: more })}` : shown;
  };

  /** Puts a bulk outcome into the cached list at once (the refetch follows). */
  function applyOutcome(action: BulkAction, outcome: { changed: string[] }) {
    const changed = new Set(outcome.changed);
    if (changed.size === 0) return;
    if (action === 'delete') patchJobs(queryClient, (job) => (changed.has(job.id) ? null : job));
    else
      patchJobs(queryClient, (job) =>
        changed.has(job.id) ? { ...job, enabled: action === 'enable', next_run_at: action === 'enable' ? job.next_run_at : null } : job,
      );
  }

  /**
   * Runs the confirmed action. It throws when the action failed, so the dialog stays open
   * and shows why (the user can retry or cancel); the lists are refreshed either way, since
   * part of a large action (an earlier chunk of 1,000 ids) may have gone through.
   */
  async function perform(action: Action, targets: Job[]) {
    const byId = new Map(targets.map((j) => [j.id, j.name]));
    const nameOf = (id: string) => byId.get(id) ?? id;
    if (action === 'run') {
      const { started, failed } = await runMany(targets.map((j) => j.id));
      if (started.length > 0) {
        onRunsStarted(started);
        // The list follows live; single jobs cached elsewhere (builder, history) are stale.
        void queryClient.invalidateQueries({ queryKey: ['job'] });
        toast.success(t('dashboard.bulk.outcome.started', { count: started.length }));
      }
      if (failed.length > 0) {
        const details = failed
          .slice(0, 5)
          .map((f) => `${nameOf(f.id)} (${f.message})`)
          .join('; ');
        const message = t('dashboard.bulk.outcome.runFailed', { count: failed.length, details });
        // Nothing started: keep the dialog open with the reason.
        if (started.length === 0) throw new Error(message);
        toast.error(message);
      }
      onClear();
      return;
    }
    try {
      const outcome = await bulk(action, targets.map((j) => j.id));
      applyOutcome(action, outcome);
      const message = t(`dashboard.bulk.outcome.${action}`, { count: outcome.changed.length });
      if (outcome.unchanged.length === 0) toast.success(message);
      else {
        const unchanged = t('dashboard.bulk.outcome.unchanged', {
          count: outcome.unchanged.length,
          names: names(outcome.unchanged.map((id) => ({ id, name: nameOf(id) }) as Job)),
        });
        (outcome.changed.length > 0 ? toast.warning : toast.info)(`${message} ${unchanged}`);
      }
      onClear();
    } catch (error) {
      if (error instanceof BulkError && error.outcome.changed.length > 0) {
        applyOutcome(action, error.outcome);
        throw new Error(
          t('dashboard.bulk.outcome.partial', {
            count: error.outcome.changed.length,
            done: t(`dashboard.bulk.outcome.${action}`, { count: error.outcome.changed.length }),
            message: error.message,
          }),
          { cause: error },
        );
      }
      throw new Error(t('dashboard.bulk.outcome.failed', { message: errorMessage(error) }), { cause: error });
    } finally {
      invalidateJobs(queryClient);
    }
  }

  const ask = (action: Action) => setConfirming({ action, jobs });
  const tooManyRuns = count > RUN_MAX;

  return (
    <div role="group" aria-label={t('dashboard.bulk.label')} className="flex flex-wrap items-center gap-2">
      <span className="text-sm text-muted-foreground" aria-live="polite" data-testid="selection-count">
        {none ? t('dashboard.bulk.none') : t('dashboard.bulk.selected', { count })}
      </span>
      <Button
        size="sm"
        disabled={none || tooManyRuns}
        disabledReason={none ? reason : t('dashboard.bulk.tooManyRuns', { max: RUN_MAX })}
        onClick={() => ask('run')}
      >
        <Play className="size-4" aria-hidden="true" />
        {t('dashboard.bulk.run')}
      </Button>
      <Button size="sm" disabled={none} disabledReason={reason} onClick={() => ask('disable')}>
        <Pause className="size-4" aria-hidden="true" />
        {t('dashboard.bulk.pause')}
      </Button>
      <Button size="sm" disabled={none} disabledReason={reason} onClick={() => ask('enable')}>
        <PlayCircle className="size-4" aria-hidden="true" />
        {t('dashboard.bulk.resume')}
      </Button>
      <Button size="sm" variant="danger" disabled={none} disabledReason={reason} onClick={() => ask('delete')}>
        <Trash2 className="size-4" aria-hidden="true" />
        {t('dashboard.bulk.delete')}
      </Button>
      {!none && (
        <Button size="sm" variant="ghost" onClick={onClear}>
          <X className="size-4" aria-hidden="true" />
          {t('dashboard.bulk.clear')}
        </Button>
      )}
      {confirming && (
        <Suspense fallback={null}>
          <ConfirmDialog
            open
            onOpenChange={(open) => !open && setConfirming(null)}
            title={t(`dashboard.bulk.confirm.${confirming.action}.title`, { count: confirming.jobs.length })}
            confirmLabel={t(`dashboard.bulk.confirm.${confirming.action}.button`, { count: confirming.jobs.length })}
            danger={confirming.action === 'delete'}
            onConfirm={() => perform(confirming.action, confirming.jobs)}
          >
            <p data-testid="bulk-confirm-text">
              {t(`dashboard.bulk.confirm.${confirming.action}.body`, {
                count: confirming.jobs.length,
                names: names(confirming.jobs),
              })}
            </p>
            <p className="mt-2 text-muted-foreground">{t(`dashboard.bulk.confirm.${confirming.action}.effect`)}</p>
          </ConfirmDialog>
        </Suspense>
      )}
    </div>
  );
}
