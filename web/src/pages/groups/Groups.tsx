// Device groups: the list with each group's kind and member count now; operators create,
// edit (If-Match) and delete them; everyone can list who a group selects. Jobs target a
// group by name (the Job Builder's group picker), resolved again when each run starts.
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Filter, Layers, List, Plus } from 'lucide-react';
import { api, unwrap } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { Dialog } from '../../components/Dialog';
import { Button, Card, EmptyState, ErrorState, LoadingRows, PageHeader, QueryStatus } from '../../components/ui';
import { ConfirmAction, ReadOnlyNote, RelativeTime, TableHead, tableClass, tdClass } from '../../components/widgets';
import { deviceLink, useGroups, type GroupView } from '../../lib/inventory';
import { formatNumber } from '../runs/format';
import { GroupEditor, isAddress, type Kind } from './GroupEditor';

/** A group's kind as icon and word. */
export function KindBadge({ kind }: { kind: string }) {
  const { t } = useTranslation();
  const dynamic = kind !== 'static';
  const Icon = dynamic ? Filter : List;
  return (
    <span className="inline-flex items-center gap-1 text-sm">
      <Icon className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />
      {t(`groups.kinds.${dynamic ? 'dynamic' : 'static'}`)}
    </span>
  );
}

/** The definition in a line: the filter, or the first static members. */
function Definition({ group }: { group: GroupView }) {
  const { t } = useTranslation();
  if (group.filter) return <code className="font-mono text-xs break-all">{group.filter}</code>;
  const members = group.members ?? [];
  const shown = members.slice(0, 3).join(', ');
  return (
    <span className="font-mono text-xs break-all">
      {members.length > 3 ? t('groups.list.membersMore', { shown, count: members.length - 3 }) : shown}
    </span>
  );
}

function MembersDialog({ name, onClose }: { name: string | null; onClose: () => void }) {
  const { t } = useTranslation();
  const members = useQuery({
    queryKey: ['group', name, 'members'],
    queryFn: async () => unwrap(await api.GET('/api/v1/groups/{name}/members', { params: { path: { name: name! } } })),
    enabled: name !== null,
  });
  return (
    <Dialog open={name !== null} onOpenChange={(open) => !open && onClose()} title={t('groups.members.title', { name: name ?? '' })} wide>
      {members.isPending ? (
        <LoadingRows rows={3} />
      ) : members.isError ? (
        <ErrorState error={members.error} onRetry={() => void members.refetch()} />
      ) : (
        <div className="flex flex-col gap-2">
          <p className="text-sm" data-testid="group-members-count">
            {members.data.count > members.data.members.length
              ? t('groups.members.countFirst', { count: members.data.count, n: formatNumber(members.data.count), shown: formatNumber(members.data.members.length) })
              : t('groups.members.count', { count: members.data.count, n: formatNumber(members.data.count) })}
          </p>
          {members.data.members.length > 0 && (
            <ul className="flex max-h-[50vh] flex-wrap gap-1.5 overflow-y-auto" aria-label={t('groups.members.list')}>
              {members.data.members.map((m) => (
                <li key={m}>
                  {isAddress(m) ? (
                    <Link to={deviceLink(m)} className="inline-block rounded border border-border px-1.5 py-0.5 font-mono text-xs hover:bg-accent">
                      {m}
                    </Link>
                  ) : (
                    <span className="inline-block rounded bg-muted px-1.5 py-0.5 font-mono text-xs">{m}</span>
                  )}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </Dialog>
  );
}

/** The group read fresh with its ETag, then the editor. */
function EditGroup({ name, onDone }: { name: string; onDone: () => void }) {
  const group = useQuery({
    queryKey: ['group', name, 'with-etag'],
    queryFn: async () => {
      const result = await api.GET('/api/v1/groups/{name}', { params: { path: { name } } });
      return { group: unwrap(result), etag: result.response.headers.get('etag') };
    },
    staleTime: 0,
    gcTime: 0,
  });
  if (group.isPending) return <LoadingRows rows={4} />;
  if (group.isError) return <ErrorState error={group.error} onRetry={() => void group.refetch()} />;
  return <GroupEditor group={group.data.group} etag={group.data.etag} onDone={onDone} />;
}

export default function Groups() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const canEdit = can('operator');
  const reason = t('common.requiresRole', { role: t('roles.operator') });
  const queryClient = useQueryClient();
  const groups = useGroups();
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState<{ kind?: Kind; filter?: string } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<GroupView | null>(null);
  const [listing, setListing] = useState<string | null>(null);

  useEffect(() => {
    document.title = `${t('groups.title')} · OpsConductor`;
  }, [t]);

  // `?new=dynamic&filter=…` (the inventory's "save as group") opens a prefilled editor.
  useEffect(() => {
    const kind = params.get('new');
    if (!kind) return;
    if (canEdit) setCreating({ kind: kind === 'static' ? 'static' : 'dynamic', filter: params.get('filter') ?? undefined });
    setParams(new URLSearchParams(), { replace: true });
  }, [params, setParams, canEdit]);

  const list = [...(groups.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={t('groups.title')}
        actions={
          <Button variant="primary" disabled={!canEdit} disabledReason={reason} onClick={() => setCreating({})}>
            <Plus className="size-4" aria-hidden="true" />
            {t('groups.new')}
          </Button>
        }
      >
        {t('groups.subtitle')}
      </PageHeader>
      {!canEdit && <ReadOnlyNote>{t('groups.readOnly')}</ReadOnlyNote>}
      <Card className="overflow-x-auto">
        {groups.isPending || groups.isError ? (
          <QueryStatus query={groups} rows={3} />
        ) : list.length === 0 ? (
          <EmptyState icon={<Layers className="size-8" aria-hidden="true" />} title={t('groups.list.empty')}>
            {t('groups.list.emptyHelp')}
          </EmptyState>
        ) : (
          <table className={tableClass} data-testid="group-table">
            <TableHead
              caption={t('groups.list.caption')}
              columns={[t('groups.list.name'), t('groups.list.kind'), t('groups.list.members'), t('groups.list.definition'), t('groups.list.updated')]}
              hiddenLast={t('groups.list.actions')}
            />
            <tbody>
              {list.map((group) => (
                <tr key={group.name} data-testid="group-row">
                  <th scope="row" className={`${tdClass} text-left font-medium`}>
                    <div>{group.name}</div>
                    {group.description && <div className="text-xs font-normal text-muted-foreground">{group.description}</div>}
                  </th>
                  <td className={tdClass}>
                    <KindBadge kind={group.kind} />
                  </td>
                  <td className={`${tdClass} tabular-nums`} data-testid="group-member-count">
                    {formatNumber(group.member_count)}
                  </td>
                  <td className={`${tdClass} max-w-md`}>
                    <Definition group={group} />
                  </td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={group.updated_at} />
                  </td>
                  <td className={`${tdClass} text-right`}>
                    <div className="flex flex-wrap justify-end gap-1">
                      <Button size="sm" aria-label={t('groups.list.showMembersOf', { name: group.name })} onClick={() => setListing(group.name)}>
                        {t('groups.list.showMembers')}
                      </Button>
                      {group.filter && (
                        <Link
                          to={`/inventory?filter=${encodeURIComponent(group.filter)}`}
                          className="inline-flex h-8 items-center rounded-md px-2 text-sm text-primary underline-offset-2 hover:underline"
                          aria-label={t('groups.list.inInventoryOf', { name: group.name })}
                        >
                          {t('groups.list.inInventory')}
                        </Link>
                      )}
                      <Button size="sm" disabled={!canEdit} disabledReason={reason} aria-label={t('groups.list.editNamed', { name: group.name })} onClick={() => setEditing(group.name)}>
                        {t('groups.list.edit')}
                      </Button>
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-destructive"
                        disabled={!canEdit}
                        disabledReason={reason}
                        aria-label={t('groups.list.deleteNamed', { name: group.name })}
                        onClick={() => setDeleting(group)}
                      >
                        {t('common.delete')}
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>

      <Dialog open={creating !== null} onOpenChange={(open) => !open && setCreating(null)} title={t('groups.editor.createTitle')} wide>
        {creating && <GroupEditor initial={creating} onDone={() => setCreating(null)} />}
      </Dialog>
      <Dialog open={editing !== null} onOpenChange={(open) => !open && setEditing(null)} title={t('groups.editor.editTitle', { name: editing ?? '' })} wide>
        {editing && <EditGroup name={editing} onDone={() => setEditing(null)} />}
      </Dialog>
      <MembersDialog name={listing} onClose={() => setListing(null)} />
      <ConfirmAction
        open={deleting !== null}
        onOpenChange={(open) => !open && setDeleting(null)}
        title={t('groups.delete.title', { name: deleting?.name ?? '' })}
        confirmLabel={t('groups.delete.confirm')}
        conflictLead={t('agents.widgets.inUse')}
        danger
        onConfirm={async () => {
          if (!deleting) return;
          unwrap(await api.DELETE('/api/v1/groups/{name}', { params: { path: { name: deleting.name } } }));
          toast.success(t('groups.delete.done', { name: deleting.name }));
          await queryClient.invalidateQueries({ queryKey: ['groups'] });
        }}
      >
        <p>{t('groups.delete.body', { name: deleting?.name ?? '', count: deleting?.member_count ?? 0 })}</p>
        <p className="mt-2 text-muted-foreground">{t('groups.delete.effect')}</p>
      </ConfirmAction>
    </div>
  );
}
