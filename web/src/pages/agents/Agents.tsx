// Agents and segments: who runs the work, where, and how busy they are; segments with their
// CIDRs and enrollment tokens. Refreshes every 10 seconds.
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Network, Plus, Server } from 'lucide-react';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, PageHeader, QueryStatus } from '../../components/ui';
import { EnrollmentTokenDialog } from './EnrollmentToken';
import { SegmentDialog } from './SegmentDialog';
import { ConfirmAction, ReadOnlyNote, RelativeTime, tableClass, tdClass, TableHead } from '../../components/widgets';

export const REFRESH_MS = 10_000;

type Agent = Schemas['AgentView'];
type Segment = Schemas['Segment'];

/** The numbers of a heartbeat object (absent or not numbers: undefined). */
export function heartbeatNumbers(heartbeat: Agent['heartbeat']) {
  const n = (key: string) => {
    const value = heartbeat?.[key];
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  };
  return {
    load1: n('load1'),
    chunks: n('chunks_in_flight'),
    targets: n('targets_in_flight'),
    maxConcurrency: n('max_concurrency'),
    buffered: n('results_buffered'),
    dropped: n('results_dropped_total'),
  };
}

function agentStatus(agent: Agent): 'online' | 'offline' | 'revoked' {
  if (agent.revoked_at) return 'revoked';
  return agent.online ? 'online' : 'offline';
}

const ORDER = { online: 0, offline: 1, revoked: 2 } as const;

export function useAgents() {
  return useQuery({
    queryKey: ['agents'],
    queryFn: async () => unwrap(await api.GET('/api/v1/agents')),
    refetchInterval: REFRESH_MS,
  });
}

export function useSegments() {
  return useQuery({
    queryKey: ['segments'],
    queryFn: async () => unwrap(await api.GET('/api/v1/segments')),
    refetchInterval: REFRESH_MS,
  });
}

export default function Agents() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const agents = useAgents();
  const segments = useSegments();
  const list = agents.data ?? [];
  const live = list.filter((a) => !a.revoked_at);
  const online = live.filter((a) => a.online).length;

  useEffect(() => {
    document.title = `${t('agents.title')} · OpsConductor`;
  }, [t]);

  return (
    <div className="flex flex-col gap-6">
      <PageHeader title={t('agents.title')}>
        {agents.data ? t('agents.summary', { online, count: live.length }) : null} {t('agents.refreshNote', { seconds: REFRESH_MS / 1000 })}
      </PageHeader>
      {!can('admin') && <ReadOnlyNote>{t('agents.readOnly')}</ReadOnlyNote>}
      <AgentsSection query={agents} />
      <SegmentsSection query={segments} agents={list} />
    </div>
  );
}

function AgentsSection({ query }: { query: ReturnType<typeof useAgents> }) {
  const { t } = useTranslation();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [revoking, setRevoking] = useState<Agent | null>(null);
  const revoke = useMutation({
    mutationFn: async (agent: Agent) =>
      unwrap(await api.POST('/api/v1/agents/{id}/revoke', { params: { path: { id: agent.id } } })),
    onSuccess: async (agent) => {
      toast.success(t('agents.revoke.done', { name: agent.name }));
      await queryClient.invalidateQueries({ queryKey: ['agents'] });
    },
  });
  const sorted = useMemo(
    () => [...(query.data ?? [])].sort((a, b) => ORDER[agentStatus(a)] - ORDER[agentStatus(b)] || a.name.localeCompare(b.name)),
    [query.data],
  );
  const isAdmin = can('admin');
  const reason = t('common.requiresRole', { role: t('roles.admin') });

  return (
    <section aria-labelledby="agents-heading" className="flex flex-col gap-2">
      <h2 id="agents-heading" className="text-lg font-semibold">
        {t('agents.list.heading')}
      </h2>
      <Card className="overflow-x-auto">
        {query.isPending || query.isError ? (
          <QueryStatus query={query} rows={3} />
        ) : sorted.length === 0 ? (
          <EmptyState icon={<Server className="size-8" aria-hidden="true" />} title={t('agents.list.empty')}>
            {t('agents.list.emptyHelp')}
          </EmptyState>
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('agents.list.caption')} columns={[t('agents.list.name'), t('agents.list.status'), t('agents.list.segment'), t('agents.list.lastHeartbeat'), t('agents.list.version'), t('agents.list.load'), t('agents.list.inFlight'), t('agents.list.capabilities')]} hiddenLast={t('agents.list.actions')} />
            <tbody>
              {sorted.map((agent) => (
                <AgentRow
                  key={agent.id}
                  agent={agent}
                  action={
                    agent.revoked_at ? (
                      <span className="text-xs text-muted-foreground">
                        {t('agents.list.revokedAt')} <RelativeTime value={agent.revoked_at} />
                      </span>
                    ) : (
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-destructive"
                        disabled={!isAdmin}
                        disabledReason={reason}
                        aria-label={t('agents.revoke.button', { name: agent.name })}
                        onClick={() => setRevoking(agent)}
                      >
                        {t('agents.revoke.short')}
                      </Button>
                    )
                  }
                />
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <ConfirmAction
        open={revoking !== null}
        onOpenChange={(open) => !open && setRevoking(null)}
        title={t('agents.revoke.title', { name: revoking?.name ?? '' })}
        confirmLabel={t('agents.revoke.confirm', { name: revoking?.name ?? '' })}
        danger
        onConfirm={async () => {
          if (revoking) await revoke.mutateAsync(revoking);
        }}
      >
        <p>{t('agents.revoke.body', { name: revoking?.name ?? '', segment: revoking?.segment ?? '' })}</p>
        <p className="mt-2 text-muted-foreground">{t('agents.revoke.after')}</p>
      </ConfirmAction>
    </section>
  );
}

function AgentRow({ agent, action }: { agent: Agent; action: ReactNode }) {
  const { t, i18n } = useTranslation();
  const hb = heartbeatNumbers(agent.heartbeat);
  const status = agentStatus(agent);
  const number = (value: number, digits = 0) =>
    new Intl.NumberFormat(i18n.language, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
  return (
    <tr className={status === 'revoked' ? 'text-muted-foreground' : undefined}>
      <th scope="row" className={`${tdClass} text-left font-medium`}>
        <span title={agent.id}>{agent.name}</span>
      </th>
      <td className={tdClass}>
        <StatusBadge status={status} />
      </td>
      <td className={tdClass}>{agent.segment}</td>
      <td className={`${tdClass} whitespace-nowrap`}>
        <RelativeTime value={agent.last_seen_at} />
      </td>
      <td className={`${tdClass} font-mono text-xs`}>{agent.version}</td>
      <td className={`${tdClass} tabular-nums`}>
        {hb.load1 === undefined ? <span className="text-muted-foreground">{t('agents.list.noHeartbeat')}</span> : number(hb.load1, 2)}
      </td>
      <td className={`${tdClass} tabular-nums`}>
        {hb.chunks === undefined && hb.targets === undefined ? (
          <span className="text-muted-foreground">{t('agents.list.noHeartbeat')}</span>
        ) : (
          <div className="flex flex-col">
            <span>{t('agents.list.chunks', { count: hb.chunks ?? 0 })}</span>
            <span>
              {hb.maxConcurrency === undefined
                ? t('agents.list.targets', { count: hb.targets ?? 0 })
                : t('agents.list.targetsOf', { count: hb.targets ?? 0, max: number(hb.maxConcurrency) })}
            </span>
            {hb.buffered !== undefined && hb.buffered > 0 && (
              <span className="text-warn">{t('agents.list.buffered', { count: hb.buffered })}</span>
            )}
            {hb.dropped !== undefined && hb.dropped > 0 && (
              <StatusBadge status="warn" label={t('agents.list.dropped', { count: hb.dropped })} />
            )}
          </div>
        )}
      </td>
      <td className={tdClass}>
        <ul className="flex flex-wrap gap-1" aria-label={t('agents.list.capabilitiesOf', { name: agent.name })}>
          {agent.capabilities.map((c) => (
            <li key={c} className="rounded border border-border bg-muted px-1.5 py-0.5 font-mono text-xs">
              {c}
            </li>
          ))}
        </ul>
      </td>
      <td className={`${tdClass} text-right`}>{action}</td>
    </tr>
  );
}

function SegmentsSection({ query, agents }: { query: ReturnType<typeof useSegments>; agents: Agent[] }) {
  const { t } = useTranslation();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const isAdmin = can('admin');
  const reason = t('common.requiresRole', { role: t('roles.admin') });
  const [editing, setEditing] = useState<Segment | 'new' | null>(null);
  const [enrolling, setEnrolling] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Segment | null>(null);
  const segments = useMemo(() => [...(query.data ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [query.data]);
  const counts = useMemo(() => {
    const map = new Map<string, { online: number; total: number }>();
    for (const agent of agents) {
      if (agent.revoked_at) continue;
      const entry = map.get(agent.segment) ?? { online: 0, total: 0 };
      entry.total += 1;
      if (agent.online) entry.online += 1;
      map.set(agent.segment, entry);
    }
    return map;
  }, [agents]);

  return (
    <section aria-labelledby="segments-heading" className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="segments-heading" className="text-lg font-semibold">
          {t('agents.segments.heading')}
        </h2>
        <Button variant="primary" size="sm" disabled={!isAdmin} disabledReason={reason} onClick={() => setEditing('new')}>
          <Plus className="size-4" aria-hidden="true" />
          {t('agents.segments.new')}
        </Button>
      </div>
      <p className="text-sm text-muted-foreground">{t('agents.segments.intro')}</p>
      <Card className="overflow-x-auto">
        {query.isPending || query.isError ? (
          <QueryStatus query={query} rows={2} />
        ) : segments.length === 0 ? (
          <EmptyState icon={<Network className="size-8" aria-hidden="true" />} title={t('agents.segments.empty')}>
            {t('agents.segments.emptyHelp')}
          </EmptyState>
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('agents.segments.caption')} columns={[t('agents.segments.name'), t('agents.segments.cidrs'), t('agents.segments.agentsOnline')]} hiddenLast={t('agents.list.actions')} />
            <tbody>
              {segments.map((segment) => {
                const count = counts.get(segment.name) ?? { online: 0, total: 0 };
                return (
                  <tr key={segment.name}>
                    <th scope="row" className={`${tdClass} text-left font-medium`}>
                      {segment.name}
                    </th>
                    <td className={tdClass}>
                      {(segment.cidrs ?? []).length === 0 ? (
                        <span className="text-muted-foreground">{t('agents.segments.noCidrs')}</span>
                      ) : (
                        <ul className="flex flex-wrap gap-1" aria-label={t('agents.segments.cidrsOf', { name: segment.name })}>
                          {(segment.cidrs ?? []).map((cidr) => (
                            <li key={cidr} className="rounded border border-border bg-muted px-1.5 py-0.5 font-mono text-xs">
                              {cidr}
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                    <td className={tdClass}>
                      {count.total === 0 ? (
                        <span className="text-muted-foreground">{t('agents.segments.noAgents')}</span>
                      ) : (
                        <StatusBadge
                          status={count.online > 0 ? 'online' : 'offline'}
                          label={t('agents.segments.onlineOf', { online: count.online, count: count.total })}
                        />
                      )}
                    </td>
                    <td className={`${tdClass} text-right`}>
                      <div className="flex flex-wrap justify-end gap-1">
                        <Button
                          size="sm"
                          disabled={!isAdmin}
                          disabledReason={reason}
                          aria-label={t('agents.segments.editNamed', { name: segment.name })}
                          onClick={() => setEditing(segment)}
                        >
                          {t('agents.segments.edit')}
                        </Button>
                        <Button
                          size="sm"
                          disabled={!isAdmin}
                          disabledReason={reason}
                          aria-label={t('agents.enroll.buttonNamed', { segment: segment.name })}
                          onClick={() => setEnrolling(segment.name)}
                        >
                          {t('agents.enroll.button')}
                        </Button>
                        <Button
                          size="sm"
                          variant="ghost"
                          className="text-destructive"
                          disabled={!isAdmin}
                          disabledReason={reason}
                          aria-label={t('agents.segments.deleteNamed', { name: segment.name })}
                          onClick={() => setDeleting(segment)}
                        >
                          {t('common.delete')}
                        </Button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      <SegmentDialog
        open={editing !== null}
        onOpenChange={(open) => !open && setEditing(null)}
        segment={editing === 'new' || editing === null ? undefined : editing}
        existing={segments.map((s) => s.name)}
      />
      <EnrollmentTokenDialog open={enrolling !== null} onOpenChange={(open) => !open && setEnrolling(null)} segment={enrolling} />
      <ConfirmAction
        open={deleting !== null}
        onOpenChange={(open) => !open && setDeleting(null)}
        title={t('agents.segments.deleteTitle', { name: deleting?.name ?? '' })}
        confirmLabel={t('agents.segments.deleteConfirm')}
        conflictLead={t('agents.widgets.inUse')}
        danger
        onConfirm={async () => {
          if (!deleting) return;
          unwrap(await api.DELETE('/api/v1/segments/{name}', { params: { path: { name: deleting.name } } }));
          toast.success(t('agents.segments.deleted', { name: deleting.name }));
          await queryClient.invalidateQueries({ queryKey: ['segments'] });
        }}
      >
        <p>{t('agents.segments.deleteBody', { name: deleting?.name ?? '' })}</p>
        <p className="mt-2 text-muted-foreground">{t('agents.segments.deleteRule')}</p>
      </ConfirmAction>
    </section>
  );
}
