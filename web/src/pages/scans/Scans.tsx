// Scans: start one (operators) and the history, newest first. Running scans in the list
// follow their runs live (a refetch at most once a second) with a slow poll behind it.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Plus, Radar, X } from 'lucide-react';
import { api, unwrap } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, PageHeader, QueryStatus } from '../../components/ui';
import { ReadOnlyNote, RelativeTime, TableHead, tableClass, tdClass } from '../../components/widgets';
import { useNow, useThrottled } from '../../lib/hooks';
import { scanState, type ScanView } from '../../lib/inventory';
import { useLive } from '../../lib/live';
import { formatNumber, formatSpan } from '../runs/format';
import { ScanForm } from './ScanForm';

const PAGE_SIZE = 50;
/** Poll while a scan in the list runs (the live socket is the fast path). */
const POLL_MS = 10_000;

/** How long a scan took, or has taken so far. */
export function scanDuration(scan: Pick<ScanView, 'created_at' | 'finished_at'>, now: number): string {
  const end = scan.finished_at ? Date.parse(scan.finished_at) : now;
  return formatSpan(end - Date.parse(scan.created_at));
}

/** A scan's duration; a running scan's clock ticks every second. */
export function ScanDuration({ scan }: { scan: ScanView }) {
  const now = useNow(1000, !scan.finished_at);
  return <>{scanDuration(scan, now)}</>;
}

/** The counts of a scan as words: found so far, and (finished) what changed. */
export function ScanCounts({ scan }: { scan: ScanView }) {
  const { t } = useTranslation();
  const c = scan.counts;
  const running = scanState(scan) === 'running';
  return (
    <div className="flex flex-col gap-0.5 tabular-nums">
      <span>
        {t('scans.counts.found', { probed: formatNumber(c.probed ?? 0), alive: formatNumber(c.alive ?? 0), identified: formatNumber(c.identified ?? 0) })}
      </span>
      {!running && (
        <span className="text-xs text-muted-foreground">
          {t('scans.counts.changes', { new: formatNumber(c.new ?? 0), changed: formatNumber(c.changed ?? 0), gone: formatNumber(c.gone ?? 0) })}
        </span>
      )}
    </div>
  );
}

export default function Scans() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const canOperate = can('operator');
  const [creating, setCreating] = useState(false);
  const newButton = useRef<HTMLButtonElement>(null);
  const formRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    document.title = `${t('scans.title')} · OpsConductor`;
  }, [t]);

  useEffect(() => {
    if (creating) formRef.current?.querySelector<HTMLElement>('input, textarea')?.focus();
  }, [creating]);

  const scans = useInfiniteQuery({
    queryKey: ['scans'],
    queryFn: async ({ pageParam }) => unwrap(await api.GET('/api/v1/scans', { params: { query: { limit: PAGE_SIZE, cursor: pageParam } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: (query) =>
      query.state.data?.pages.some((page) => page.items.some((scan) => scanState(scan) === 'running')) ? POLL_MS : false,
  });
  const items = useMemo(() => scans.data?.pages.flatMap((page) => page.items) ?? [], [scans.data]);
  const runningRuns = useMemo(() => items.filter((s) => scanState(s) === 'running').map((s) => s.run_id), [items]);
  const refresh = useThrottled(() => void queryClient.invalidateQueries({ queryKey: ['scans'], exact: true }), 1000);
  useLive({ runs: runningRuns }, (message) => {
    if (message.type === 'resync' || (message.type === 'run_progress' && runningRuns.includes(message.run.id))) refresh();
  });

  const closeForm = () => {
    setCreating(false);
    requestAnimationFrame(() => newButton.current?.focus());
  };

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={t('scans.title')}
        actions={
          canOperate && (
            <Button ref={newButton} variant={creating ? 'secondary' : 'primary'} aria-expanded={creating} onClick={() => (creating ? closeForm() : setCreating(true))}>
              {creating ? <X className="size-4" aria-hidden="true" /> : <Plus className="size-4" aria-hidden="true" />}
              {creating ? t('scans.closeForm') : t('scans.new')}
            </Button>
          )
        }
      >
        {t('scans.subtitle')}
      </PageHeader>
      {!canOperate && <ReadOnlyNote>{t('scans.readOnly')}</ReadOnlyNote>}
      {creating && canOperate && (
        <div ref={formRef}>
          <ScanForm onCancel={closeForm} />
        </div>
      )}

      <section aria-labelledby="scan-history-heading" className="flex flex-col gap-2">
        <h2 id="scan-history-heading" className="text-lg font-semibold">
          {t('scans.history.heading')}
        </h2>
        <Card className="overflow-x-auto">
          {scans.isPending || (scans.isError && items.length === 0) ? (
            <QueryStatus query={scans} rows={4} />
          ) : items.length === 0 ? (
            <EmptyState icon={<Radar className="size-8" aria-hidden="true" />} title={t('scans.history.empty')}>
              {canOperate ? t('scans.history.emptyHelp') : t('scans.history.emptyViewer')}
            </EmptyState>
          ) : (
            <table className={tableClass} data-testid="scan-table">
              <TableHead
                caption={t('scans.history.caption')}
                columns={[t('scans.history.label'), t('scans.history.state'), t('scans.history.counts'), t('scans.history.started'), t('scans.history.duration'), t('scans.history.by')]}
              />
              <tbody>
                {items.map((scan) => (
                  <tr key={scan.id} data-testid="scan-row">
                    <td className={tdClass}>
                      <Link to={`/scans/${scan.id}`} className="font-medium text-primary underline-offset-2 hover:underline">
                        {scan.label}
                      </Link>
                      <div className="text-xs text-muted-foreground">{t('scans.history.targets', { count: scan.targets, n: formatNumber(scan.targets) })}</div>
                    </td>
                    <td className={tdClass}>
                      <StatusBadge status={scanState(scan)} />
                    </td>
                    <td className={tdClass}>
                      <ScanCounts scan={scan} />
                    </td>
                    <td className={`${tdClass} whitespace-nowrap`}>
                      <RelativeTime value={scan.created_at} />
                    </td>
                    <td className={`${tdClass} whitespace-nowrap tabular-nums`}>
                      <ScanDuration scan={scan} />
                    </td>
                    <td className={tdClass}>{scan.created_by ?? <span className="text-muted-foreground">{t('scans.history.unknownUser')}</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        {scans.hasNextPage && (
          <div>
            <Button onClick={() => void scans.fetchNextPage()} disabled={scans.isFetchingNextPage}>
              {scans.isFetchingNextPage ? t('common.loading') : t('scans.history.loadMore')}
            </Button>
          </div>
        )}
      </section>
    </div>
  );
}
