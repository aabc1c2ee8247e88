// One scan: live progress (probes done of all, addresses probed / alive / identified),
// cancel, and once it has ended what changed against the previous scan of the same range:
// new hosts, changed ones with each attribute before → after, and gone ones, linking to the
// devices. Live: each progress message of the scan's run re-reads the scan (at most every
// 500 ms), with a slow poll behind it; the scan only ends once its results are folded into
// the inventory, shortly after its run.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ArrowRight, Ban, ListTree, Radio } from 'lucide-react';
import { ApiError, api, errorMessage, unwrap } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { ConfirmDialog } from '../../components/Dialog';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, ErrorState, LoadingRows, PageHeader, Skeleton } from '../../components/ui';
import { RelativeTime, TableHead, tableClass, tdClass } from '../../components/widgets';
import { useThrottled } from '../../lib/hooks';
import { deviceLink, scanPercent, scanState, type ScanDiff, type ScanView as Scan } from '../../lib/inventory';
import { useLive } from '../../lib/live';
import { isTerminal } from '../../lib/runs';
import { formatDateTime, formatNumber } from '../runs/format';
import { LINK_BUTTON } from '../runs/RunsTable';
import { ScanDuration } from './Scans';
import { attributeLabel, formatAttribute } from '../inventory/attributes';

/** Slow poll while running (the live socket is the fast path). */
const POLL_MS = 5000;
/** Poll once the run has ended, until the scan is folded into the inventory. */
const FINISHING_POLL_MS = 1000;
/** Live messages re-read the scan at most this often. */
const LIVE_REFETCH_MS = 500;
/** Addresses a diff list shows before "show more". */
const LIST_STEP = 200;

function Counter({ name, label, value }: { name: string; label: string; value: number }) {
  return (
    <div className="flex flex-col rounded-md border border-border px-3 py-2">
      <dt className="text-xs text-muted-foreground">{label}</dt>
      <dd className="text-2xl font-semibold tabular-nums" data-testid={`scan-counter-${name}`}>
        {formatNumber(value)}
      </dd>
    </div>
  );
}

function ProgressPanel({ scan }: { scan: Scan }) {
  const { t } = useTranslation();
  const running = scanState(scan) === 'running';
  const percent = scanPercent(scan);
  const text = t('scans.view.progressText', { done: formatNumber(scan.results_done), total: formatNumber(scan.results_total), percent });
  const c = scan.counts;
  return (
    <Card className="flex flex-col gap-4 p-4" role="region" aria-labelledby="scan-progress-heading">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="scan-progress-heading" className="text-base font-semibold">
          {t('scans.view.progress')}
        </h2>
        <div className="flex items-center gap-3">
          {running && (
            <span className="inline-flex items-center gap-1 text-xs text-info">
              <Radio className="size-3.5" aria-hidden="true" />
              {t('scans.view.live')}
            </span>
          )}
          <span data-testid="scan-state">
            <StatusBadge status={scanState(scan)} />
          </span>
        </div>
      </div>
      <div className="flex flex-col gap-1.5">
        <div
          role="progressbar"
          aria-label={t('scans.view.progressLabel')}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={percent}
          aria-valuetext={text}
          data-testid="scan-progress"
          className="h-3 w-full overflow-hidden rounded-full bg-muted"
        >
          <div className="h-full bg-info transition-[width] duration-300" style={{ width: `${percent}%` }} />
        </div>
        <p className="text-sm tabular-nums" data-testid="scan-progress-text">
          {text}
        </p>
      </div>
      <dl className="grid grid-cols-3 gap-2">
        <Counter name="probed" label={t('scans.view.probed', { targets: formatNumber(scan.targets) })} value={c.probed ?? 0} />
        <Counter name="alive" label={t('scans.view.alive')} value={c.alive ?? 0} />
        <Counter name="identified" label={t('scans.view.identified')} value={c.identified ?? 0} />
      </dl>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm sm:grid-cols-[auto_1fr_auto_1fr]">
        <dt className="text-muted-foreground">{t('scans.view.started')}</dt>
        <dd>{formatDateTime(scan.created_at)}</dd>
        <dt className="text-muted-foreground">{t('scans.view.finished')}</dt>
        <dd>{scan.finished_at ? formatDateTime(scan.finished_at) : t('scans.view.notYet')}</dd>
        <dt className="text-muted-foreground">{t('scans.view.duration')}</dt>
        <dd className="tabular-nums">
          <ScanDuration scan={scan} />
        </dd>
        <dt className="text-muted-foreground">{t('scans.view.by')}</dt>
        <dd>{scan.created_by ?? t('scans.history.unknownUser')}</dd>
      </dl>
      {scan.reason && (
        <p className="text-sm" data-testid="scan-reason">
          <span className="text-muted-foreground">{t('scans.view.reason')}</span> {scan.reason}
        </p>
      )}
    </Card>
  );
}

/** What the scan probes, in one line. */
function ProfileSummary({ scan }: { scan: Scan }) {
  const { t } = useTranslation();
  const p = scan.spec.profile ?? {};
  const parts: string[] = [];
  if (p.ping ?? true) parts.push(t('scans.profile.ping'));
  if (p.tcp_ports && p.tcp_ports.length > 0) parts.push(t('scans.profile.tcp', { ports: p.tcp_ports.join(', ') }));
  if (p.snmp) parts.push(t('scans.profile.snmp', { version: p.snmp.version ?? '2c' }));
  if (p.ssh_port) parts.push(t('scans.profile.ssh', { port: p.ssh_port }));
  for (const w of p.web ?? []) parts.push(t('scans.profile.web', { scheme: w.scheme ?? 'http', port: w.port ?? (w.scheme === 'https' ? 443 : 80) }));
  const options = scan.spec.options ?? {};
  return (
    <Card className="flex flex-col gap-2 p-4 text-sm" role="region" aria-labelledby="scan-profile-heading">
      <h2 id="scan-profile-heading" className="text-base font-semibold">
        {t('scans.view.profile')}
      </h2>
      <p data-testid="scan-profile">{parts.join(' · ') || '—'}</p>
      <p className="text-muted-foreground">
        {t('scans.view.options', {
          concurrency: formatNumber(options.concurrency ?? 512),
          timeout: formatNumber(options.host_timeout_ms ?? 5000),
          segment: options.segment || t('scans.view.segmentAuto'),
        })}
      </p>
    </Card>
  );
}

function AddressList({ addresses, label, testId }: { addresses: string[]; label: string; testId: string }) {
  const { t } = useTranslation();
  const [shown, setShown] = useState(LIST_STEP);
  if (addresses.length === 0) return <p className="text-sm text-muted-foreground">{t('scans.diff.none')}</p>;
  return (
    <div className="flex flex-col gap-2">
      <ul className="flex flex-wrap gap-1.5" aria-label={label} data-testid={testId}>
        {addresses.slice(0, shown).map((address) => (
          <li key={address}>
            <Link to={deviceLink(address)} className="inline-block rounded border border-border px-1.5 py-0.5 font-mono text-xs hover:bg-accent">
              {address}
            </Link>
          </li>
        ))}
      </ul>
      {addresses.length > shown && (
        <div>
          <Button size="sm" onClick={() => setShown((n) => n + LIST_STEP * 5)}>
            {t('scans.diff.showMore', { count: Math.min(LIST_STEP * 5, addresses.length - shown), total: formatNumber(addresses.length - shown) })}
          </Button>
        </div>
      )}
    </div>
  );
}

function Value({ value }: { value: unknown }) {
  const { t } = useTranslation();
  const text = formatAttribute(value);
  if (text === null) {
    return (
      <span className="text-muted-foreground">
        <span aria-hidden="true">—</span>
        <span className="sr-only">{t('scans.diff.unknown')}</span>
      </span>
    );
  }
  return <span className="font-mono text-xs break-all">{text}</span>;
}

function DiffBlock({ title, count, children }: { title: string; count: number; children: ReactNode }) {
  const id = useId();
  return (
    <section aria-labelledby={id} className="flex flex-col gap-2">
      <h3 id={id} className="text-sm font-semibold">
        {title} <span className="font-normal text-muted-foreground tabular-nums">({formatNumber(count)})</span>
      </h3>
      {children}
    </section>
  );
}

function DiffSection({ scan }: { scan: Scan }) {
  const { t } = useTranslation();
  const diff = useQuery({
    queryKey: ['scan', scan.id, 'diff'],
    queryFn: async () => unwrap(await api.GET('/api/v1/scans/{id}/diff', { params: { path: { id: scan.id } } })) as ScanDiff,
    staleTime: Infinity,
  });
  const [shownChanges, setShownChanges] = useState(LIST_STEP);
  return (
    <Card className="flex flex-col gap-4 p-4" role="region" aria-labelledby="scan-diff-heading" data-testid="scan-diff">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="scan-diff-heading" className="text-base font-semibold">
          {t('scans.diff.heading')}
        </h2>
        {diff.data &&
          (diff.data.previous_scan_id ? (
            <Link to={`/scans/${diff.data.previous_scan_id}`} className="text-sm text-primary underline-offset-2 hover:underline">
              {t('scans.diff.previous')}
            </Link>
          ) : (
            <span className="text-sm text-muted-foreground">{t('scans.diff.first')}</span>
          ))}
      </div>
      {diff.isPending ? (
        <LoadingRows rows={3} />
      ) : diff.isError ? (
        diff.error instanceof ApiError && diff.error.status === 409 ? (
          <p className="text-sm text-muted-foreground">{t('scans.diff.notReady')}</p>
        ) : (
          <ErrorState error={diff.error} onRetry={() => void diff.refetch()} />
        )
      ) : diff.data.new.length + diff.data.changed.length + diff.data.gone.length === 0 ? (
        <EmptyState icon={<ListTree className="size-6" aria-hidden="true" />} title={t('scans.diff.nothing')} />
      ) : (
        <>
          {scanState(scan) !== 'completed' && <p className="text-sm text-muted-foreground">{t('scans.diff.partial')}</p>}
          <DiffBlock title={t('scans.diff.new')} count={diff.data.new.length}>
            <AddressList addresses={diff.data.new} label={t('scans.diff.new')} testId="diff-new" />
          </DiffBlock>
          <DiffBlock title={t('scans.diff.changed')} count={diff.data.changed.length}>
            {diff.data.changed.length === 0 ? (
              <p className="text-sm text-muted-foreground">{t('scans.diff.none')}</p>
            ) : (
              <div className="overflow-x-auto">
                <table className={tableClass} data-testid="diff-changed">
                  <TableHead caption={t('scans.diff.changedCaption')} columns={[t('scans.diff.address'), t('scans.diff.field'), t('scans.diff.beforeAfter')]} />
                  <tbody>
                    {diff.data.changed.slice(0, shownChanges).flatMap((host) =>
                      host.changes.map((change, i) => (
                        <tr key={`${host.address}-${change.field}`} data-testid="diff-change-row">
                          {i === 0 && (
                            <th scope="row" rowSpan={host.changes.length} className={`${tdClass} text-left font-normal`}>
                              <Link to={deviceLink(host.address)} className="font-mono text-xs text-primary underline-offset-2 hover:underline">
                                {host.address}
                              </Link>
                            </th>
                          )}
                          <td className={tdClass}>{attributeLabel(change.field)}</td>
                          <td className={tdClass}>
                            <span className="inline-flex flex-wrap items-center gap-1.5">
                              <Value value={change.before} />
                              <ArrowRight className="size-3.5 shrink-0 text-muted-foreground" aria-hidden="true" />
                              <span className="sr-only">{t('scans.diff.becomes')}</span>
                              <Value value={change.after} />
                            </span>
                          </td>
                        </tr>
                      )),
                    )}
                  </tbody>
                </table>
                {diff.data.changed.length > shownChanges && (
                  <Button size="sm" className="mt-2" onClick={() => setShownChanges((n) => n + LIST_STEP * 5)}>
                    {t('scans.diff.showMoreHosts', { count: diff.data.changed.length - shownChanges, n: formatNumber(diff.data.changed.length - shownChanges) })}
                  </Button>
                )}
              </div>
            )}
          </DiffBlock>
          <DiffBlock title={t('scans.diff.gone')} count={diff.data.gone.length}>
            <AddressList addresses={diff.data.gone} label={t('scans.diff.gone')} testId="diff-gone" />
          </DiffBlock>
        </>
      )}
    </Card>
  );
}

export default function ScanView() {
  const { scanId = '' } = useParams();
  const { t } = useTranslation();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [confirmCancel, setConfirmCancel] = useState(false);
  // The run has ended: the scan ends as soon as its results are folded in.
  const runEnded = useRef(false);

  const scan = useQuery({
    queryKey: ['scan', scanId],
    queryFn: async () => unwrap(await api.GET('/api/v1/scans/{id}', { params: { path: { id: scanId } } })),
    enabled: !!scanId,
    refetchInterval: (query) =>
      query.state.data && scanState(query.state.data) === 'running' ? (runEnded.current ? FINISHING_POLL_MS : POLL_MS) : false,
  });
  const data = scan.data;
  const running = data ? scanState(data) === 'running' : false;

  const refetch = useThrottled(() => void scan.refetch(), LIVE_REFETCH_MS);
  useLive({ runs: running && data ? [data.run_id] : [] }, (message) => {
    if (!data) return;
    if (message.type === 'resync') refetch();
    if (message.type !== 'run_progress' || message.run.id !== data.run_id) return;
    if (isTerminal(message.run.status)) runEnded.current = true;
    refetch();
  });

  // A scan that has just ended: the list and the inventory changed.
  const wasRunning = useRef(running);
  useEffect(() => {
    if (wasRunning.current && !running && data) {
      void queryClient.invalidateQueries({ queryKey: ['scans'] });
      void queryClient.invalidateQueries({ queryKey: ['devices'] });
      void queryClient.invalidateQueries({ queryKey: ['groups'] });
    }
    wasRunning.current = running;
  }, [running, data, queryClient]);

  useEffect(() => {
    if (data) document.title = `${t('scans.view.documentTitle', { label: data.label })} · OpsConductor`;
  }, [data, t]);

  if (scan.isPending) {
    return (
      <div className="flex flex-col gap-4">
        <Skeleton className="h-8 w-80" />
        <Skeleton className="h-40 w-full" />
      </div>
    );
  }
  if (scan.isError && !data) {
    if (scan.error instanceof ApiError && (scan.error.status === 404 || scan.error.status === 422)) {
      return (
        <div className="flex flex-col gap-3">
          <PageHeader title={t('scans.view.notFoundTitle')} />
          <p>{t('scans.view.notFound', { id: scanId })}</p>
          <Link to="/scans" className="text-primary underline">
            {t('scans.view.back')}
          </Link>
        </div>
      );
    }
    return <ErrorState error={scan.error} onRetry={() => void scan.refetch()} />;
  }
  if (!data) return null;

  const cancel = async () => {
    const updated = unwrap(await api.POST('/api/v1/scans/{id}/cancel', { params: { path: { id: scanId } } }));
    queryClient.setQueryData(['scan', scanId], updated);
    runEnded.current = true;
    void queryClient.invalidateQueries({ queryKey: ['scans'] });
    toast.success(t('scans.cancel.done'));
  };

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={t('scans.view.title', { label: data.label })}
        actions={
          <>
            <Link to={`/runs/${data.run_id}`} className={LINK_BUTTON}>
              {t('scans.view.runLink')}
            </Link>
            {running && (
              <Button
                variant="danger"
                onClick={() => setConfirmCancel(true)}
                disabled={!can('operator')}
                disabledReason={t('common.requiresRole', { role: t('roles.operator') })}
              >
                <Ban className="size-4" aria-hidden="true" />
                {t('scans.cancel.button')}
              </Button>
            )}
          </>
        }
      >
        <span>
          <RelativeTime value={data.created_at} /> · <span className="font-mono text-xs">{t('scans.view.subtitle', { id: data.id })}</span>
        </span>
      </PageHeader>

      <div className="grid gap-4 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
        <ProgressPanel scan={data} />
        <ProfileSummary scan={data} />
      </div>

      {!running && <DiffSection scan={data} />}

      <ConfirmDialog
        open={confirmCancel}
        onOpenChange={setConfirmCancel}
        title={t('scans.cancel.title')}
        confirmLabel={t('scans.cancel.confirm')}
        danger
        onConfirm={cancel}
        renderError={(error) => (
          <p role="alert" className="text-sm text-destructive">
            {t('scans.cancel.failed', { message: errorMessage(error) })}
          </p>
        )}
      >
        <p>{t('scans.cancel.body', { label: data.label, remaining: formatNumber(Math.max(0, data.results_total - data.results_done)) })}</p>
      </ConfirmDialog>
    </div>
  );
}
