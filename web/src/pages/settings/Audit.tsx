// The audit log (admins): newest first, filtered by actor, action, target and time, older
// pages on demand (`before` = the previous page's `next_before`).
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useInfiniteQuery } from '@tanstack/react-query';
import { FileClock } from 'lucide-react';
import { api, unwrap } from '../../api/client';
import { Button, Card, EmptyState, Field, Input, QueryStatus } from '../../components/ui';
import { formatExact, RelativeTime, tableClass, tdClass, TableHead } from '../../components/widgets';
import { SectionHeader } from './shared';

const PAGE = 50;

interface Filters {
  actor: string;
  action: string;
  target_kind: string;
  target_id: string;
  since: string;
  until: string;
}
const EMPTY: Filters = { actor: '', action: '', target_kind: '', target_id: '', since: '', until: '' };

/** The query parameters of the filters: empty ones left out, local times as RFC 3339. */
export function auditQuery(filters: Filters, before?: number) {
  const query: Record<string, string | number> = { limit: PAGE };
  for (const key of ['actor', 'action', 'target_kind', 'target_id'] as const) {
    if (filters[key].trim()) query[key] = filters[key].trim();
  }
  if (filters.since) query.since = new Date(filters.since).toISOString();
  if (filters.until) query.until = new Date(filters.until).toISOString();
  if (before !== undefined) query.before = before;
  return query;
}

export default function Audit() {
  const { t, i18n } = useTranslation();
  const id = useId();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const audit = useInfiniteQuery({
    queryKey: ['audit', filters],
    initialPageParam: undefined as number | undefined,
    queryFn: async ({ pageParam }) => unwrap(await api.GET('/api/v1/audit', { params: { query: auditQuery(filters, pageParam) } })),
    getNextPageParam: (last) => last.next_before ?? undefined,
  });
  const entries = audit.data?.pages.flatMap((p) => p.items) ?? [];

  function apply(event: FormEvent) {
    event.preventDefault();
    setFilters(draft);
  }
  const text = (key: keyof Filters, label: string, type = 'text') => (
    <Field id={`${id}-${key}`} label={label}>
      <Input id={`${id}-${key}`} type={type} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
    </Field>
  );

  return (
    <section>
      <SectionHeader title={t('settings.audit.title')} description={t('settings.audit.description')} />
      <form onSubmit={apply} className="mb-3 grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-3" aria-label={t('settings.audit.filters')}>
        {text('actor', t('settings.audit.actor'))}
        {text('action', t('settings.audit.action'))}
        {text('target_kind', t('settings.audit.targetKind'))}
        {text('target_id', t('settings.audit.targetId'))}
        {text('since', t('settings.audit.since'), 'datetime-local')}
        {text('until', t('settings.audit.until'), 'datetime-local')}
        <div className="flex items-end gap-2">
          <Button type="submit" variant="primary">
            {t('settings.audit.apply')}
          </Button>
          <Button
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            {t('settings.audit.clear')}
          </Button>
        </div>
      </form>
      <Card className="overflow-x-auto">
        {audit.isPending || audit.isError ? (
          <QueryStatus query={audit} />
        ) : entries.length === 0 ? (
          <EmptyState icon={<FileClock className="size-8" aria-hidden="true" />} title={t('settings.audit.empty')} />
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('settings.audit.caption')} columns={[t('settings.audit.when'), t('settings.audit.actor'), t('settings.audit.action'), t('settings.audit.target'), t('settings.audit.address'), t('settings.audit.summary')]} />
            <tbody>
              {entries.map((entry) => {
                const summary = JSON.stringify(entry.summary);
                return (
                  <tr key={entry.id}>
                    <td className={`${tdClass} whitespace-nowrap`}>
                      <time dateTime={entry.at}>{formatExact(new Date(entry.at), i18n.language)}</time>
                      <div className="text-xs text-muted-foreground">
                        <RelativeTime value={entry.at} />
                      </div>
                    </td>
                    <td className={tdClass}>
                      <div>{entry.actor_name || '—'}</div>
                      <div className="text-xs text-muted-foreground">{t(`settings.audit.actorKinds.${entry.actor_kind}`, { defaultValue: entry.actor_kind })}</div>
                    </td>
                    <td className={`${tdClass} font-mono text-xs`}>{entry.action}</td>
                    <td className={`${tdClass} text-xs`}>
                      <div>{entry.target_kind}</div>
                      <div className="font-mono break-all text-muted-foreground">{entry.target_id}</div>
                    </td>
                    <td className={`${tdClass} font-mono text-xs`}>{entry.address ?? '—'}</td>
                    <td className={`${tdClass} max-w-sm font-mono text-xs break-all`}>{summary === '{}' ? '—' : summary}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      {entries.length > 0 && (
        <div className="mt-3 flex items-center gap-3 text-sm">
          <span className="text-muted-foreground">{t('settings.audit.shown', { count: entries.length })}</span>
          {audit.hasNextPage ? (
            <Button size="sm" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage}>
              {audit.isFetchingNextPage ? t('common.loading') : t('settings.audit.older')}
            </Button>
          ) : (
            <span className="text-muted-foreground">{t('settings.audit.end')}</span>
          )}
        </div>
      )}
    </section>
  );
}
