// The live count: how many targets the selection comes to, the first ones, the split by
// segment with each segment's online agents, and why the selection is refused (over the cap).
import { useId } from 'react';
import { useTranslation } from 'react-i18next';
import { useQuery } from '@tanstack/react-query';
import { AlertTriangle, Loader2, XCircle } from 'lucide-react';
import { api, unwrap, type Schemas } from '../../../api/client';
import { StatusBadge } from '../../../components/Status';
import type { PreviewState } from './preview';

export function useAgents() {
  return useQuery({
    queryKey: ['agents'],
    queryFn: async () => unwrap(await api.GET('/api/v1/agents')) as Schemas['AgentView'][],
    staleTime: 15_000,
    refetchInterval: 30_000,
  });
}

export function TargetSummary({
  preview,
  overCap,
  segment,
}: {
  preview: PreviewState;
  /** Over-the-cap messages (fields `include[i]` and `max_targets`). */
  overCap: string[];
  segment?: string | null;
}) {
  const { t, i18n } = useTranslation();
  const id = useId();
  const agents = useAgents();
  const nf = new Intl.NumberFormat(i18n.language);
  const data = preview.data;
  const segments = data ? Object.entries(data.by_segment) : [];
  const agentsBySegment = new Map<string, { online: number; total: number }>();
  for (const a of agents.data ?? []) {
    if (a.revoked_at) continue;
    const entry = agentsBySegment.get(a.segment) ?? { online: 0, total: 0 };
    entry.total += 1;
    if (a.online) entry.online += 1;
    agentsBySegment.set(a.segment, entry);
  }
  const offline = agents.data ? segments.filter(([name, n]) => n > 0 && !(agentsBySegment.get(name)?.online ?? 0)) : [];
  const invalidCount = data ? data.invalid.length + data.invalid_omitted : 0;

  return (
    <section aria-labelledby={`${id}-title`} className="flex flex-col gap-3 rounded-lg border border-border bg-card p-3">
      <h3 id={`${id}-title`} className="text-sm font-semibold">
        {t('targets.summary.title')}
      </h3>

      <div role="status" aria-live="polite" aria-atomic="true" className="flex flex-col gap-1">
        {preview.idle ? (
          <p className="text-sm text-muted-foreground">{t('targets.summary.empty')}</p>
        ) : data ? (
          <p className="flex items-baseline gap-2">
            <span className="text-2xl font-semibold tabular-nums" data-testid="target-count">
              {nf.format(data.count)}
            </span>
            <span className="text-sm">{t('targets.summary.targets', { count: data.count })}</span>
            {preview.pending && (
              <span className="inline-flex items-center gap-1 text-xs text-muted-foreground">
                <Loader2 className="size-3 animate-spin" aria-hidden="true" />
                {t('targets.summary.updating')}
              </span>
            )}
          </p>
        ) : preview.pending ? (
          <p className="inline-flex items-center gap-1 text-sm text-muted-foreground">
            <Loader2 className="size-4 animate-spin" aria-hidden="true" />
            {t('targets.summary.counting')}
          </p>
        ) : overCap.length === 0 && !preview.generalError ? (
          <p className="text-sm text-muted-foreground">{t('targets.summary.fixErrors')}</p>
        ) : null}
      </div>

      {overCap.length > 0 && (
        <div role="alert" className="flex flex-col gap-1 rounded-md border border-destructive p-2 text-sm">
          <p className="flex items-center gap-1 font-medium">
            <XCircle className="size-4 shrink-0 text-fail" aria-hidden="true" />
            {t('targets.summary.overCap')}
          </p>
          {overCap.map((m, i) => (
            <p key={i}>{m}</p>
          ))}
        </div>
      )}
      {preview.generalError && (
        <p role="alert" className="flex items-start gap-1 text-sm text-destructive">
          <XCircle className="mt-0.5 size-4 shrink-0" aria-hidden="true" />
          {t('targets.summary.previewFailed', { message: preview.generalError })}
        </p>
      )}

      {data && segment && <p className="text-xs text-muted-foreground">{t('targets.summary.segmentOverride', { segment })}</p>}

      {data && segments.length > 0 && (
        <table className="w-full border-collapse text-sm">
          <caption className="pb-1 text-left text-xs font-medium text-muted-foreground">{t('targets.summary.bySegment')}</caption>
          <thead>
            <tr className="text-left text-xs text-muted-foreground">
              <th scope="col" className="pr-2 font-medium">
                {t('targets.summary.segment')}
              </th>
              <th scope="col" className="pr-2 text-right font-medium">
                {t('targets.summary.count')}
              </th>
              <th scope="col" className="font-medium">
                {t('targets.summary.agents')}
              </th>
            </tr>
          </thead>
          <tbody>
            {segments.map(([name, n]) => {
              const a = agentsBySegment.get(name);
              return (
                <tr key={name} className="border-t border-border">
                  <th scope="row" className="py-1 pr-2 text-left font-mono font-normal">
                    {name}
                  </th>
                  <td className="py-1 pr-2 text-right tabular-nums">{nf.format(n)}</td>
                  <td className="py-1">
                    {agents.isError ? (
                      <span className="text-xs text-muted-foreground">{t('targets.summary.agentsUnknown')}</span>
                    ) : !agents.data ? (
                      <span className="text-xs text-muted-foreground">{t('common.loading')}</span>
                    ) : a && a.online > 0 ? (
                      <StatusBadge status="online" label={t('targets.summary.agentsOnline', { count: a.online })} />
                    ) : (
                      <StatusBadge status="warn" label={t('targets.summary.noAgent')} />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}

      {offline.map(([name, n]) => (
        <p key={name} role="alert" className="flex items-start gap-1 rounded-md border border-warn p-2 text-sm">
          <AlertTriangle className="mt-0.5 size-4 shrink-0 text-warn" aria-hidden="true" />
          <span>
            {(agentsBySegment.get(name)?.total ?? 0) > 0
              ? t('targets.summary.offlineWarning', { segment: name, count: n })
              : t('targets.summary.noAgentWarning', { segment: name, count: n })}
          </span>
        </p>
      ))}

      {data && invalidCount > 0 && (
        <p className="flex items-start gap-1 text-sm">
          <AlertTriangle className="mt-0.5 size-4 shrink-0 text-warn" aria-hidden="true" />
          {t('targets.summary.invalidLines', { count: invalidCount })}
        </p>
      )}

      {data && data.first.length > 0 && (
        <details className="text-sm">
          <summary className="cursor-pointer text-xs font-medium">{t('targets.summary.first', { count: data.first.length })}</summary>
          <ul className="mt-1 flex flex-wrap gap-1 font-mono text-xs">
            {data.first.map((target) => (
              <li key={target} className="rounded bg-muted px-1.5 py-0.5">
                {target}
              </li>
            ))}
            {data.count > data.first.length && (
              <li className="px-1.5 py-0.5 text-muted-foreground">{t('targets.summary.andMore', { count: data.count - data.first.length })}</li>
            )}
          </ul>
        </details>
      )}
    </section>
  );
}
