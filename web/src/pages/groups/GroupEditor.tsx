// Creating or editing a device group: dynamic (a filter over the inventory) or static (a
// list of addresses, CIDRs, ranges and hostnames). Who it selects is counted live as it is
// typed (`POST /api/v1/groups/preview`, debounced) with the first members listed, and a
// filter's mistake is shown at the filter with its column. Saving an edit sends `If-Match`:
// when someone else saved first, the editor offers to reload theirs or to save over it.
import { useId, useMemo, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Loader2 } from 'lucide-react';
import { toast } from 'sonner';
import { ApiError, api, unwrap } from '../../api/client';
import { Button, Field, Input } from '../../components/ui';
import { describedBy, FormAlert, formError, ServerRefusal, Textarea } from '../../components/widgets';
import { useDebounced } from '../../lib/hooks';
import { filterErrorColumn, type GroupSpec, type GroupView } from '../../lib/inventory';
import { formatNumber } from '../runs/format';
import { lineOfEntry, splitLines } from '../builder/targets/lines';

export type Kind = 'dynamic' | 'static';
/** Members the preview lists. */
const SHOWN_MEMBERS = 20;
const PREVIEW_DELAY_MS = 400;

/** An address (worth a link to its device page), not a range or a name. */
export function isAddress(text: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(text) || (/^[0-9a-fA-F:]+$/.test(text) && text.includes(':'));
}

/** The definition to send: a dynamic group's filter or a static group's members. */
export function specOf({ name, description, kind, filter, members }: { name: string; description: string; kind: Kind; filter: string; members: string }): GroupSpec {
  return kind === 'dynamic'
    ? { name, description: description.trim(), filter: filter.trim() }
    : { name, description: description.trim(), members: splitLines(members) };
}

/** Who a definition selects now; the name sent is a stand-in (the preview ignores it). */
function usePreview(kind: Kind, filter: string, members: string) {
  const body = useMemo(() => {
    if (kind === 'dynamic') return filter.trim() ? { name: 'preview', filter: filter.trim() } : null;
    const list = splitLines(members);
    return list.length > 0 ? { name: 'preview', members: list } : null;
  }, [kind, filter, members]);
  const key = body ? JSON.stringify(body) : null;
  const debounced = useDebounced(key, PREVIEW_DELAY_MS);
  const query = useQuery({
    queryKey: ['groups', 'preview', debounced],
    queryFn: async ({ signal }) => unwrap(await api.POST('/api/v1/groups/preview', { body: JSON.parse(debounced!) as GroupSpec, signal })),
    enabled: debounced !== null,
    placeholderData: keepPreviousData,
    retry: false,
    staleTime: 10_000,
  });
  return { query, idle: key === null, pending: key !== debounced || query.isFetching };
}

/** The problems of `error` for one field, and for `field[i]` entries (as lines of `text`). */
function problemsAt(error: unknown, field: string, text?: string, lineLabel?: (line: number, message: string) => string): string[] {
  if (!(error instanceof ApiError)) return [];
  const out: string[] = [];
  for (const e of error.problem.errors ?? []) {
    if (e.field === field) out.push(e.message);
    const m = new RegExp(`^${field}\\[(\\d+)\\]$`).exec(e.field);
    if (m && text !== undefined && lineLabel) {
      const line = lineOfEntry(text, Number(m[1]));
      out.push(line ? lineLabel(line, e.message) : e.message);
    }
  }
  return out;
}

export function GroupEditor({
  group,
  etag,
  initial,
  onDone,
}: {
  /** The group being edited (absent: a new one). */
  group?: GroupView;
  /** Its ETag when it was read. */
  etag?: string | null;
  /** Starting values of a new group (e.g. the inventory's filter). */
  initial?: { kind?: Kind; filter?: string };
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [name, setName] = useState(group?.name ?? '');
  const [description, setDescription] = useState(group?.description ?? '');
  const [kind, setKind] = useState<Kind>(group ? (group.kind === 'static' ? 'static' : 'dynamic') : (initial?.kind ?? 'dynamic'));
  const [filter, setFilter] = useState(group?.filter ?? initial?.filter ?? '');
  const [members, setMembers] = useState((group?.members ?? []).join('\n'));
  const [version, setVersion] = useState<string | null>(etag ?? (group ? `"${group.version}"` : null));
  const preview = usePreview(kind, filter, members);

  const save = useMutation({
    mutationFn: async ({ spec, ifMatch }: { spec: GroupSpec; ifMatch: string | null }) => {
      if (!group) return unwrap(await api.POST('/api/v1/groups', { body: spec }));
      const headers = ifMatch ? { 'If-Match': ifMatch } : {};
      return unwrap(await api.PUT('/api/v1/groups/{name}', { params: { path: { name: group.name }, header: headers }, body: spec }));
    },
    onSuccess: async (saved) => {
      toast.success(group ? t('groups.editor.saved', { name: saved.name }) : t('groups.editor.created', { name: saved.name }));
      await queryClient.invalidateQueries({ queryKey: ['groups'] });
      void queryClient.invalidateQueries({ queryKey: ['group'] });
      onDone();
    },
  });
  const stale = save.error instanceof ApiError && save.error.status === 412;

  /** Their version, read again: the form takes it (their changes win). */
  const reload = async () => {
    if (!group) return;
    const result = await api.GET('/api/v1/groups/{name}', { params: { path: { name: group.name } } });
    const latest = unwrap(result);
    setName(latest.name);
    setDescription(latest.description ?? '');
    setKind(latest.kind === 'static' ? 'static' : 'dynamic');
    setFilter(latest.filter ?? '');
    setMembers((latest.members ?? []).join('\n'));
    setVersion(result.response.headers.get('etag') ?? `"${latest.version}"`);
    save.reset();
    toast.info(t('groups.editor.reloaded'));
  };
  /** Save over their version: read its ETag and send ours with it. */
  const overwrite = async () => {
    if (!group) return;
    const result = await api.GET('/api/v1/groups/{name}', { params: { path: { name: group.name } } });
    const latest = unwrap(result);
    const tag = result.response.headers.get('etag') ?? `"${latest.version}"`;
    setVersion(tag);
    save.mutate({ spec: specOf({ name: name.trim(), description, kind, filter, members }), ifMatch: tag });
  };

  const localName = name.trim() === '' ? t('groups.editor.nameRequired') : undefined;
  const localDefinition = kind === 'dynamic' ? (filter.trim() === '' ? t('groups.editor.filterRequired') : undefined) : splitLines(members).length === 0 ? t('groups.editor.membersRequired') : undefined;
  const [tried, setTried] = useState(false);

  const nameError = (tried ? localName : undefined) ?? (problemsAt(save.error, 'name').join(' ') || undefined);
  const descriptionError = problemsAt(save.error, 'description').join(' ') || undefined;
  // The filter's problem: the live preview's (as typed), else the save's.
  const previewFilter = kind === 'dynamic' && !preview.pending ? problemsAt(preview.query.error, 'filter') : [];
  const filterProblems = [...new Set([...(tried && kind === 'dynamic' && localDefinition ? [localDefinition] : []), ...previewFilter, ...problemsAt(save.error, 'filter')])];
  const lineLabel = (line: number, message: string) => t('groups.editor.lineError', { line, message });
  const previewMembers = kind === 'static' && !preview.pending ? problemsAt(preview.query.error, 'members', members, lineLabel) : [];
  const memberProblems = [...new Set([...(tried && kind === 'static' && localDefinition ? [localDefinition] : []), ...previewMembers, ...problemsAt(save.error, 'members', members, lineLabel)])];
  const filterError = filterProblems.join(' ') || undefined;
  const membersError = memberProblems.join(' ') || undefined;
  const column = filterErrorColumn(previewFilter[0] ?? problemsAt(save.error, 'filter')[0]);
  const shownFields = save.error instanceof ApiError ? (save.error.problem.errors ?? []).map((e) => e.field).filter((f) => ['name', 'description', 'filter', 'members'].includes(f) || /^members\[\d+\]$/.test(f)) : [];

  function submit(event: FormEvent) {
    event.preventDefault();
    setTried(true);
    if (localName || localDefinition) {
      document.getElementById(localName ? `${id}-name` : kind === 'dynamic' ? `${id}-filter` : `${id}-members`)?.focus();
      return;
    }
    save.mutate({ spec: specOf({ name: name.trim(), description, kind, filter, members }), ifMatch: version });
  }

  const data = preview.query.data;
  const previewFailed = preview.query.isError && !(preview.query.error instanceof ApiError && preview.query.error.status === 422);

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4">
      <div className="grid gap-3 md:grid-cols-2">
        <Field id={`${id}-name`} label={t('groups.editor.name')} help={t('groups.editor.nameHelp')} error={nameError}>
          <Input {...describedBy(`${id}-name`, { help: true, error: nameError })} value={name} maxLength={100} autoComplete="off" spellCheck={false} autoFocus onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field id={`${id}-description`} label={t('groups.editor.description')} error={descriptionError}>
          <Input {...describedBy(`${id}-description`, { error: descriptionError })} value={description} maxLength={1000} autoComplete="off" onChange={(e) => setDescription(e.target.value)} />
        </Field>
      </div>

      <fieldset className="flex flex-col gap-1.5">
        <legend className="text-sm font-medium">{t('groups.editor.kind')}</legend>
        <div className="flex flex-wrap gap-4">
          {(['dynamic', 'static'] as const).map((k) => (
            <label key={k} className="flex items-start gap-2 text-sm">
              <input type="radio" name={`${id}-kind`} value={k} checked={kind === k} onChange={() => setKind(k)} className="mt-0.5 size-4" />
              <span>
                <span className="font-medium">{t(`groups.kinds.${k}`)}</span>
                <span className="block text-xs text-muted-foreground">{t(`groups.editor.${k}Help`)}</span>
              </span>
            </label>
          ))}
        </div>
      </fieldset>

      <div className="grid gap-4 md:grid-cols-[minmax(0,1fr)_16rem]">
        <div className="flex flex-col gap-1">
          {kind === 'dynamic' ? (
            <>
              <Field id={`${id}-filter`} label={t('groups.editor.filter')} help={t('groups.editor.filterHelp')} error={filterError} live={false}>
                <Textarea
                  {...describedBy(`${id}-filter`, { help: true, error: filterError })}
                  rows={3}
                  value={filter}
                  placeholder='vendor = "Cisco" and tag = core'
                  spellCheck={false}
                  autoComplete="off"
                  className="min-h-0 font-mono"
                  onChange={(e) => setFilter(e.target.value)}
                />
              </Field>
              {filterError && column !== undefined && (
                <pre aria-hidden="true" className="overflow-x-auto font-mono text-xs text-destructive" data-testid="filter-caret">
                  {filter.trim()}
                  {'\n'}
                  {' '.repeat(Math.max(0, column - 1))}^
                </pre>
              )}
            </>
          ) : (
            <Field id={`${id}-members`} label={t('groups.editor.members')} help={t('groups.editor.membersHelp')} error={membersError} live={false}>
              <Textarea
                {...describedBy(`${id}-members`, { help: true, error: membersError })}
                rows={6}
                value={members}
                placeholder={'10.0.0.1\n10.0.1.0/28\ncore-sw1.example.net'}
                spellCheck={false}
                autoComplete="off"
                className="font-mono"
                onChange={(e) => setMembers(e.target.value)}
              />
            </Field>
          )}
        </div>

        <section aria-labelledby={`${id}-count-title`} className="flex flex-col gap-2 rounded-md border border-border p-3" data-testid="group-preview">
          <h3 id={`${id}-count-title`} className="text-sm font-semibold">
            {t('groups.editor.liveCount')}
          </h3>
          <div role="status" aria-live="polite" aria-atomic="true">
            {preview.idle ? (
              <p className="text-sm text-muted-foreground">{kind === 'dynamic' ? t('groups.editor.typeFilter') : t('groups.editor.typeMembers')}</p>
            ) : data && !(preview.query.isError && !preview.pending) ? (
              <p className="flex items-baseline gap-2">
                <span className="text-2xl font-semibold tabular-nums" data-testid="group-live-count">
                  {formatNumber(data.count)}
                </span>
                <span className="text-sm">{t('groups.editor.members_count', { count: data.count })}</span>
                {preview.pending && (
                  <span className="inline-flex items-center gap-1 text-xs text-muted-foreground">
                    <Loader2 className="size-3.5 animate-spin" aria-hidden="true" />
                    {t('groups.editor.updating')}
                  </span>
                )}
              </p>
            ) : preview.pending ? (
              <p className="inline-flex items-center gap-1 text-sm text-muted-foreground">
                <Loader2 className="size-4 animate-spin" aria-hidden="true" />
                {t('groups.editor.counting')}
              </p>
            ) : previewFailed ? (
              <p className="text-sm text-destructive">{t('groups.editor.previewFailed', { message: preview.query.error instanceof Error ? preview.query.error.message : '' })}</p>
            ) : (
              <p className="text-sm text-muted-foreground">{t('groups.editor.fixToCount')}</p>
            )}
          </div>
          {data && !preview.idle && !(preview.query.isError && !preview.pending) && data.members.length > 0 && (
            <ul className="flex flex-wrap gap-1 font-mono text-xs" aria-label={t('groups.editor.firstMembers', { count: Math.min(SHOWN_MEMBERS, data.members.length) })} data-testid="group-preview-members">
              {data.members.slice(0, SHOWN_MEMBERS).map((m) => (
                <li key={m} className="rounded bg-muted px-1.5 py-0.5">
                  {m}
                </li>
              ))}
              {data.count > SHOWN_MEMBERS && <li className="px-1.5 py-0.5 text-muted-foreground">{t('groups.editor.andMore', { count: data.count - Math.min(SHOWN_MEMBERS, data.members.length) })}</li>}
            </ul>
          )}
        </section>
      </div>

      {stale ? (
        <div className="flex flex-col items-start gap-2" data-testid="group-conflict">
          <ServerRefusal error={save.error} />
          <p className="text-sm">{t('groups.editor.conflict')}</p>
          <div className="flex flex-wrap gap-2">
            <Button size="sm" onClick={() => void reload().catch((e: unknown) => toast.error(e instanceof Error ? e.message : String(e)))}>
              {t('groups.editor.reload')}
            </Button>
            <Button size="sm" variant="danger" onClick={() => void overwrite().catch((e: unknown) => toast.error(e instanceof Error ? e.message : String(e)))}>
              {t('groups.editor.overwrite')}
            </Button>
          </div>
        </div>
      ) : (
        <FormAlert message={formError(save.error, shownFields)} />
      )}
      <div className="flex justify-end gap-2">
        <Button onClick={onDone} disabled={save.isPending}>
          {t('common.cancel')}
        </Button>
        <Button type="submit" variant="primary" disabled={save.isPending}>
          {group ? t('groups.editor.save') : t('groups.editor.create')}
        </Button>
      </div>
    </form>
  );
}
