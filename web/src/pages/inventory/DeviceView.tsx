// One device: what scans learned, when it was first and last seen, its segment; operators
// edit its host name, tags and notes (each saved on its own) or delete it; and its recent
// results, newest first, from every job and scan that reached it.
import { useEffect, useId, useMemo, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useInfiniteQuery, useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Pencil, Trash2, X } from 'lucide-react';
import { ApiError, api, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, ErrorState, Field, Input, LoadingRows, PageHeader, Skeleton } from '../../components/ui';
import { ConfirmAction, describedBy, fieldError, FormAlert, formError, ReadOnlyNote, RelativeTime, TableHead, tableClass, tdClass, Textarea } from '../../components/widgets';
import { parseTags, type Attributes, type Device } from '../../lib/inventory';
import { formatDateTime, formatLatency } from '../runs/format';
import { summarize } from '../runs/ResultsTable';
import { ATTRIBUTE_ORDER, attributeLabel, formatAttribute, formatUptime } from './attributes';

/** The server's limits (`MAX_TAGS`, `MAX_TAG_CHARS`, `MAX_NOTES_CHARS`). */
const MAX_TAGS = 32;
const MAX_TAG_CHARS = 64;
const MAX_NOTES = 4000;
/** Results per page of the history. */
const RESULTS_PAGE = 50;

type Change = Schemas['DeviceChange'];

function useSave(address: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (change: Change) => unwrap(await api.PATCH('/api/v1/devices/{address}', { params: { path: { address } }, body: change })),
    onSuccess: (device) => {
      queryClient.setQueryData(['device', address], device);
      void queryClient.invalidateQueries({ queryKey: ['devices'] });
      void queryClient.invalidateQueries({ queryKey: ['groups'] });
    },
  });
}

function Panel({ title, children, actions, testId }: { title: string; children: ReactNode; actions?: ReactNode; testId?: string }) {
  const id = useId();
  return (
    <Card className="flex flex-col gap-3 p-4" role="region" aria-labelledby={id} data-testid={testId}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id={id} className="text-base font-semibold">
          {title}
        </h2>
        {actions}
      </div>
      {children}
    </Card>
  );
}

function Unknown() {
  const { t } = useTranslation();
  return (
    <span className="text-muted-foreground">
      <span aria-hidden="true">—</span>
      <span className="sr-only">{t('inventory.table.unknown')}</span>
    </span>
  );
}

function HostnameEditor({ device, canEdit }: { device: Device; canEdit: boolean }) {
  const { t } = useTranslation();
  const id = useId();
  const save = useSave(device.address);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(device.hostname ?? '');
  const local = text.trim().length > 253 ? t('inventory.device.hostnameRule') : undefined;
  const error = local ?? fieldError(save.error, 'hostname');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (local) return;
    save.mutate(
      { hostname: text.trim() === '' ? null : text.trim() },
      {
        onSuccess: () => {
          toast.success(t('inventory.device.hostnameSaved'));
          setEditing(false);
        },
      },
    );
  };
  if (!editing) {
    return (
      <div className="flex items-center gap-2">
        <span data-testid="device-hostname">{device.hostname || <Unknown />}</span>
        {canEdit && (
          <Button
            size="sm"
            variant="ghost"
            aria-label={t('inventory.device.editHostname')}
            onClick={() => {
              setText(device.hostname ?? '');
              save.reset();
              setEditing(true);
            }}
          >
            <Pencil className="size-4" aria-hidden="true" />
          </Button>
        )}
      </div>
    );
  }
  return (
    <form onSubmit={submit} className="flex flex-wrap items-start gap-2" noValidate>
      <div className="min-w-56 flex-1">
        <Field id={`${id}-hostname`} label={<span className="sr-only">{t('inventory.device.hostname')}</span>} help={t('inventory.device.hostnameHelp')} error={error}>
          <Input {...describedBy(`${id}-hostname`, { help: true, error })} value={text} autoFocus autoComplete="off" spellCheck={false} onChange={(e) => setText(e.target.value)} />
        </Field>
      </div>
      <Button type="submit" size="sm" variant="primary" className="mt-0.5" disabled={save.isPending}>
        {t('common.save')}
      </Button>
      <Button size="sm" className="mt-0.5" onClick={() => setEditing(false)} disabled={save.isPending}>
        {t('common.cancel')}
      </Button>
      <div className="basis-full">
        <FormAlert message={formError(save.error, ['hostname'])} />
      </div>
    </form>
  );
}

function TagsEditor({ device, canEdit }: { device: Device; canEdit: boolean }) {
  const { t } = useTranslation();
  const id = useId();
  const save = useSave(device.address);
  const [tags, setTags] = useState(device.tags);
  const [text, setText] = useState('');
  useEffect(() => setTags(device.tags), [device.tags]);
  const changed = tags.join('\u0000') !== device.tags.join('\u0000');
  const local = tags.length > MAX_TAGS ? t('inventory.device.tooManyTags', { max: MAX_TAGS }) : tags.some((x) => x.length > MAX_TAG_CHARS) ? t('inventory.device.tagTooLong', { max: MAX_TAG_CHARS }) : undefined;
  const serverProblems =
    save.error instanceof ApiError
      ? (save.error.problem.errors ?? []).filter((e) => e.field === 'tags' || e.field.startsWith('tags[')).map((e) => {
          const m = /^tags\[(\d+)\]$/.exec(e.field);
          return m && tags[Number(m[1])] !== undefined ? `${tags[Number(m[1])]}: ${e.message}` : e.message;
        })
      : [];
  const error = local ?? (serverProblems.join(' ') || undefined);
  const shown = save.error instanceof ApiError ? (save.error.problem.errors ?? []).map((e) => e.field).filter((f) => f === 'tags' || f.startsWith('tags[')) : [];

  const add = () => {
    const next = parseTags(text).filter((x) => !tags.includes(x));
    if (next.length > 0) setTags([...tags, ...next].sort());
    setText('');
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'Enter' || event.key === ',') {
      event.preventDefault();
      add();
    } else if (event.key === 'Backspace' && text === '' && tags.length > 0) {
      setTags(tags.slice(0, -1));
    }
  };

  return (
    <Panel title={t('inventory.device.tags')} testId="device-tags">
      {tags.length === 0 ? (
        <p className="text-sm text-muted-foreground">{t('inventory.device.noTags')}</p>
      ) : (
        <ul className="flex flex-wrap gap-1.5" aria-label={t('inventory.device.tags')}>
          {tags.map((tag) => (
            <li key={tag} className="inline-flex items-center gap-1 rounded border border-border py-0.5 pr-1 pl-2 text-sm">
              {tag}
              {canEdit && (
                <button type="button" aria-label={t('inventory.device.removeTag', { tag })} onClick={() => setTags(tags.filter((x) => x !== tag))} className="rounded p-0.5 hover:bg-accent">
                  <X className="size-3.5" aria-hidden="true" />
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {canEdit && (
        <form
          className="flex flex-col gap-2"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (local) return;
            // A tag still in the box is meant too.
            const pending = parseTags(text).filter((x) => !tags.includes(x));
            const next = pending.length > 0 ? [...tags, ...pending].sort() : tags;
            setTags(next);
            setText('');
            save.mutate({ tags: next }, { onSuccess: () => toast.success(t('inventory.device.tagsSaved')) });
          }}
        >
          <div className="flex flex-wrap items-start gap-2">
            <div className="min-w-56 flex-1">
              <Field id={`${id}-tag`} label={t('inventory.device.addTag')} help={t('inventory.device.addTagHelp')} error={error} live={false}>
                <Input {...describedBy(`${id}-tag`, { help: true, error })} value={text} autoComplete="off" spellCheck={false} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} onBlur={add} />
              </Field>
            </div>
          </div>
          <FormAlert message={formError(save.error, shown)} />
          <div className="flex gap-2">
            <Button type="submit" size="sm" variant="primary" disabled={save.isPending || (!changed && text.trim() === '')}>
              {t('inventory.device.saveTags')}
            </Button>
            {changed && (
              <Button size="sm" onClick={() => setTags(device.tags)} disabled={save.isPending}>
                {t('inventory.device.undo')}
              </Button>
            )}
          </div>
        </form>
      )}
    </Panel>
  );
}

function NotesEditor({ device, canEdit }: { device: Device; canEdit: boolean }) {
  const { t } = useTranslation();
  const id = useId();
  const save = useSave(device.address);
  const [text, setText] = useState(device.notes);
  useEffect(() => setText(device.notes), [device.notes]);
  const local = text.length > MAX_NOTES ? t('inventory.device.notesRule', { max: MAX_NOTES }) : undefined;
  const error = local ?? fieldError(save.error, 'notes');
  return (
    <Panel title={t('inventory.device.notes')} testId="device-notes">
      {canEdit ? (
        <form
          className="flex flex-col gap-2"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (local) return;
            save.mutate({ notes: text }, { onSuccess: () => toast.success(t('inventory.device.notesSaved')) });
          }}
        >
          <Field id={`${id}-notes`} label={<span className="sr-only">{t('inventory.device.notes')}</span>} help={t('inventory.device.notesHelp', { used: text.length, max: MAX_NOTES })} error={error} live={false}>
            <Textarea {...describedBy(`${id}-notes`, { help: true, error })} rows={5} value={text} onChange={(e) => setText(e.target.value)} />
          </Field>
          <FormAlert message={formError(save.error, ['notes'])} />
          <div className="flex gap-2">
            <Button type="submit" size="sm" variant="primary" disabled={save.isPending || text === device.notes}>
              {t('inventory.device.saveNotes')}
            </Button>
            {text !== device.notes && (
              <Button size="sm" onClick={() => setText(device.notes)} disabled={save.isPending}>
                {t('inventory.device.undo')}
              </Button>
            )}
          </div>
        </form>
      ) : device.notes ? (
        <p className="text-sm whitespace-pre-wrap">{device.notes}</p>
      ) : (
        <p className="text-sm text-muted-foreground">{t('inventory.device.noNotes')}</p>
      )}
    </Panel>
  );
}

function AttributeValue({ field, attributes }: { field: (typeof ATTRIBUTE_ORDER)[number]; attributes: Attributes }) {
  const value = attributes[field];
  if (field === 'sys_uptime_s' && typeof value === 'number') return <>{formatUptime(value)}</>;
  if (field === 'rtt_ms' && typeof value === 'number') return <>{formatLatency(value)}</>;
  const text = formatAttribute(value);
  if (text === null) return <Unknown />;
  const mono = field === 'sys_object_id' || field === 'ssh_banner' || field === 'open_ports';
  return <span className={mono ? 'font-mono text-xs break-all' : 'break-words'}>{text}</span>;
}

function ResultsHistory({ address }: { address: string }) {
  const { t } = useTranslation();
  const results = useInfiniteQuery({
    queryKey: ['results', { target: address }],
    queryFn: async ({ pageParam }) => unwrap(await api.GET('/api/v1/results', { params: { query: { target: address, limit: RESULTS_PAGE, cursor: pageParam } } })),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const items = useMemo(() => results.data?.pages.flatMap((p) => p.items) ?? [], [results.data]);
  // The runs of the results shown, to name their jobs and actions (cached with the run view).
  const runIds = useMemo(() => [...new Set(items.map((r) => r.run_id))], [items]);
  const runs = useQueries({
    queries: runIds.map((id) => ({
      queryKey: ['run', id],
      queryFn: async () => unwrap(await api.GET('/api/v1/runs/{id}', { params: { path: { id } } })),
      staleTime: 5 * 60_000,
      retry: false,
    })),
    combine: (list) => new Map(list.flatMap((q, i) => (q.data ? [[runIds[i], q.data] as const] : []))),
  });
  const actionName = (r: (typeof items)[number]) => {
    const action = runs.get(r.run_id)?.job_spec.actions[r.action_index];
    return action ? action.name || action.command : t('inventory.results.action', { n: r.action_index + 1 });
  };
  const jobName = (r: (typeof items)[number]) => runs.get(r.run_id)?.job_spec.name;

  return (
    <Panel title={t('inventory.results.heading')} testId="device-results">
      {results.isPending ? (
        <LoadingRows rows={3} />
      ) : results.isError && items.length === 0 ? (
        <ErrorState error={results.error} onRetry={() => void results.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState title={t('inventory.results.empty')}>{t('inventory.results.emptyHelp')}</EmptyState>
      ) : (
        <>
          <div className="overflow-x-auto">
            <table className={tableClass} data-testid="device-results-table">
              <TableHead
                caption={t('inventory.results.caption', { address })}
                columns={[t('inventory.results.status'), t('inventory.results.started'), t('inventory.results.job'), t('inventory.results.actionColumn'), t('inventory.results.latency'), t('inventory.results.summary')]}
              />
              <tbody>
                {items.map((r) => (
                  <tr key={`${r.run_id}-${r.action_index}`} data-testid="device-result-row">
                    <td className={tdClass}>
                      <StatusBadge status={r.status} />
                    </td>
                    <td className={`${tdClass} whitespace-nowrap`}>
                      <Link to={`/runs/${r.run_id}`} className="text-primary underline-offset-2 hover:underline" title={formatDateTime(r.started_at)}>
                        <RelativeTime value={r.started_at} />
                      </Link>
                    </td>
                    <td className={tdClass}>
                      <Link to={`/jobs/${r.job_id}`} className="underline-offset-2 hover:underline">
                        {jobName(r) ?? t('inventory.results.job')}
                      </Link>
                    </td>
                    <td className={tdClass}>{actionName(r)}</td>
                    <td className={`${tdClass} text-right tabular-nums`}>{formatLatency(r.duration_ms)}</td>
                    <td className={`${tdClass} max-w-md truncate text-muted-foreground`} title={summarize(r)}>
                      {summarize(r)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {results.hasNextPage && (
            <div>
              <Button size="sm" onClick={() => void results.fetchNextPage()} disabled={results.isFetchingNextPage}>
                {results.isFetchingNextPage ? t('common.loading') : t('inventory.results.more')}
              </Button>
            </div>
          )}
        </>
      )}
    </Panel>
  );
}

export default function DeviceView() {
  const { address = '' } = useParams();
  const { t } = useTranslation();
  const { can } = useAuth();
  const canEdit = can('operator');
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [deleting, setDeleting] = useState(false);
  const device = useQuery({
    queryKey: ['device', address],
    queryFn: async () => unwrap(await api.GET('/api/v1/devices/{address}', { params: { path: { address } } })),
    enabled: !!address,
  });

  useEffect(() => {
    document.title = `${t('inventory.device.documentTitle', { address })} · OpsConductor`;
  }, [address, t]);

  if (device.isPending) {
    return (
      <div className="flex flex-col gap-4">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-40 w-full" />
      </div>
    );
  }
  if (device.isError) {
    if (device.error instanceof ApiError && (device.error.status === 404 || device.error.status === 422)) {
      return (
        <div className="flex flex-col gap-3">
          <PageHeader title={t('inventory.device.notFoundTitle')} />
          <p>{t('inventory.device.notFound', { address })}</p>
          <Link to="/inventory" className="text-primary underline">
            {t('inventory.device.back')}
          </Link>
        </div>
      );
    }
    return <ErrorState error={device.error} onRetry={() => void device.refetch()} />;
  }
  const d = device.data;
  const a: Attributes = d.attributes ?? {};

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={<span className="font-mono">{d.address}</span>}
        actions={
          <>
            <Link to="/inventory" className="inline-flex h-9 items-center px-2 text-sm text-primary underline-offset-2 hover:underline">
              {t('inventory.device.back')}
            </Link>
            <Button variant="danger" disabled={!canEdit} disabledReason={t('common.requiresRole', { role: t('roles.operator') })} onClick={() => setDeleting(true)}>
              <Trash2 className="size-4" aria-hidden="true" />
              {t('inventory.device.delete')}
            </Button>
          </>
        }
      >
        {d.hostname || t('inventory.device.noHostname')}
      </PageHeader>
      {!canEdit && <ReadOnlyNote>{t('inventory.device.readOnly')}</ReadOnlyNote>}

      <div className="grid gap-4 lg:grid-cols-2">
        <Panel title={t('inventory.device.identity')} testId="device-identity">
          <dl className="grid grid-cols-[auto_1fr] items-center gap-x-4 gap-y-2 text-sm">
            <dt className="text-muted-foreground">{t('inventory.device.hostname')}</dt>
            <dd>
              <HostnameEditor device={d} canEdit={canEdit} />
            </dd>
            <dt className="text-muted-foreground">{t('inventory.table.segment')}</dt>
            <dd>{d.segment || <Unknown />}</dd>
            <dt className="text-muted-foreground">{t('inventory.device.firstSeen')}</dt>
            <dd>
              <RelativeTime value={d.first_seen} /> <span className="text-xs text-muted-foreground">({formatDateTime(d.first_seen)})</span>
            </dd>
            <dt className="text-muted-foreground">{t('inventory.device.lastSeen')}</dt>
            <dd>
              <RelativeTime value={d.last_seen} /> <span className="text-xs text-muted-foreground">({formatDateTime(d.last_seen)})</span>
            </dd>
            <dt className="text-muted-foreground">{t('inventory.device.lastScan')}</dt>
            <dd>
              {d.last_scan_id ? (
                <Link to={`/scans/${d.last_scan_id}`} className="text-primary underline-offset-2 hover:underline">
                  {t('inventory.device.openScan')}
                </Link>
              ) : (
                <span className="text-muted-foreground">{t('inventory.device.noScan')}</span>
              )}
            </dd>
          </dl>
        </Panel>
        <Panel title={t('inventory.device.attributes')} testId="device-attributes">
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm">
            {ATTRIBUTE_ORDER.map((field) => (
              <div key={field} className="contents">
                <dt className="text-muted-foreground">{attributeLabel(field)}</dt>
                <dd data-testid={`attribute-${field}`}>
                  <AttributeValue field={field} attributes={a} />
                </dd>
              </div>
            ))}
          </dl>
        </Panel>
        <TagsEditor device={d} canEdit={canEdit} />
        <NotesEditor device={d} canEdit={canEdit} />
      </div>

      <ResultsHistory address={d.address} />

      <ConfirmAction
        open={deleting}
        onOpenChange={setDeleting}
        title={t('inventory.device.deleteTitle', { address: d.address })}
        confirmLabel={t('inventory.device.delete')}
        danger
        onConfirm={async () => {
          unwrap(await api.DELETE('/api/v1/devices/{address}', { params: { path: { address: d.address } } }));
          toast.success(t('inventory.device.deleted', { address: d.address }));
          void queryClient.invalidateQueries({ queryKey: ['devices'] });
          void queryClient.invalidateQueries({ queryKey: ['groups'] });
          await navigate('/inventory');
          queryClient.removeQueries({ queryKey: ['device', address] });
        }}
      >
        <p>{t('inventory.device.deleteBody', { address: d.address })}</p>
      </ConfirmAction>
    </div>
  );
}
