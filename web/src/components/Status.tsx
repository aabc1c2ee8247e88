// Status shown as icon + word, never colour alone.
import { AlertTriangle, Ban, CheckCircle2, CircleDashed, Clock, Loader2, PauseCircle, XCircle, type LucideIcon } from 'lucide-react';
import { useTranslation } from 'react-i18next';
import { cn } from '../lib/cn';

export type StatusName =
  | 'ok'
  | 'warn'
  | 'fail'
  | 'error'
  | 'timeout'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'partial'
  | 'never'
  | 'disabled'
  | 'online'
  | 'offline'
  | 'revoked';

const LOOK: Record<StatusName, { icon: LucideIcon; color: string; spin?: boolean }> = {
  ok: { icon: CheckCircle2, color: 'text-ok' },
  succeeded: { icon: CheckCircle2, color: 'text-ok' },
  completed: { icon: CheckCircle2, color: 'text-ok' },
  online: { icon: CheckCircle2, color: 'text-ok' },
  warn: { icon: AlertTriangle, color: 'text-warn' },
  partial: { icon: AlertTriangle, color: 'text-warn' },
  fail: { icon: XCircle, color: 'text-fail' },
  failed: { icon: XCircle, color: 'text-fail' },
  error: { icon: XCircle, color: 'text-fail' },
  timeout: { icon: Clock, color: 'text-fail' },
  offline: { icon: XCircle, color: 'text-fail' },
  revoked: { icon: Ban, color: 'text-muted-foreground' },
  queued: { icon: Clock, color: 'text-info' },
  running: { icon: Loader2, color: 'text-info', spin: true },
  cancelled: { icon: Ban, color: 'text-muted-foreground' },
  never: { icon: CircleDashed, color: 'text-muted-foreground' },
  disabled: { icon: PauseCircle, color: 'text-muted-foreground' },
};

export function StatusBadge({ status, label, className }: { status: StatusName; label?: string; className?: string }) {
  const { t } = useTranslation();
  const look = LOOK[status] ?? LOOK.never;
  const Icon = look.icon;
  return (
    <span className={cn('inline-flex items-center gap-1 text-sm', className)}>
      <Icon className={cn('size-4 shrink-0', look.color, look.spin && 'animate-spin')} aria-hidden="true" />
      <span>{label ?? t(`status.${status}`)}</span>
    </span>
  );
}
