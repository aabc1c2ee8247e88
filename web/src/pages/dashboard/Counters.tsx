// The summary counters: one toggle button per state, pressed when it filters the list.
import { AlertTriangle, CheckCircle2, CircleDashed, List, Loader2, PauseCircle, XCircle, type LucideIcon } from 'lucide-react';
import { useTranslation } from 'react-i18next';
import { cn } from '../../lib/cn';
import { FILTERS, type Counts, type StatusFilter } from './model';

const LOOK: Record<StatusFilter, { icon: LucideIcon; color: string }> = {
  all: { icon: List, color: 'text-foreground' },
  failing: { icon: XCircle, color: 'text-fail' },
  warn: { icon: AlertTriangle, color: 'text-warn' },
  running: { icon: Loader2, color: 'text-info' },
  paused: { icon: PauseCircle, color: 'text-muted-foreground' },
  never: { icon: CircleDashed, color: 'text-muted-foreground' },
  ok: { icon: CheckCircle2, color: 'text-ok' },
};

export function Counters({
  counts,
  active,
  onSelect,
  loading,
  complete,
  failed,
  loaded,
}: {
  counts: Counts | null;
  active: StatusFilter;
  onSelect: (filter: StatusFilter) => void;
  loading: boolean;
  complete: boolean;
  failed: boolean;
  loaded: number;
}) {
  const { t, i18n } = useTranslation();
  const number = new Intl.NumberFormat(i18n.language || 'en');
  return (
    <div className="mb-3 flex flex-wrap items-center gap-2">
      <div role="group" aria-label={t('dashboard.counters.label')} aria-busy={!complete} className="flex flex-wrap gap-2">
        {FILTERS.map((filter) => {
          const { icon: Icon, color } = LOOK[filter];
          const pressed = active === filter;
          return (
            <button
              key={filter}
              type="button"
              aria-pressed={pressed}
              data-testid={`counter-${filter}`}
              onClick={() => onSelect(pressed && filter !== 'all' ? 'all' : filter)}
              className={cn(
                'inline-flex min-w-24 items-center gap-2 rounded-lg border px-3 py-2 text-left text-sm transition-colors',
                pressed ? 'border-primary bg-accent ring-1 ring-primary' : 'border-border bg-card hover:bg-accent',
              )}
            >
              <Icon className={cn('size-4 shrink-0', color)} aria-hidden="true" />
              <span className="text-muted-foreground">{t(`dashboard.counters.${filter}`)}</span>
              <span className="ml-auto font-semibold tabular-nums">
                {counts && !loading ? number.format(counts[filter]) : '…'}
              </span>
            </button>
          );
        })}
      </div>
      {!loading && !complete && (
        <span role="status" className="text-xs text-muted-foreground">
          {failed
            ? t('dashboard.counters.incomplete', { loaded: number.format(loaded) })
            : t('dashboard.counters.counting', { loaded: number.format(loaded) })}
        </span>
      )}
    </div>
  );
}
