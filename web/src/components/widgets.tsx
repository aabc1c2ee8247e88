// Small pieces shared by the agents and settings pages: relative times with the exact time
// on hover, a copy button, a secret shown once, a native select, tables, and a confirmation
// that keeps the server's refusal (409 …) in view instead of closing.
import { useEffect, useId, useState, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { useTranslation } from 'react-i18next';
import { Check, Copy, KeyRound, Lock } from 'lucide-react';
import { toast } from 'sonner';
import { ApiError, errorMessage } from '../api/client';
import { ConfirmDialog } from './Dialog';
import { Button, Input } from './ui';
import { cn } from '../lib/cn';

import { useNow } from '../lib/hooks';

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

// Formatters per language, made on first use (constructing one costs more than formatting:
// a virtualized table formats a time in every row it renders).
const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();
const exactFormats = new Map<string, Intl.DateTimeFormat>();

/** "5 seconds ago", "in 3 days" in the UI's language. */
export function formatRelative(at: Date, now: number, language: string): string {
  const seconds = Math.round((at.getTime() - now) / 1000);
  let format = relativeFormats.get(language);
  if (!format) {
    format = new Intl.RelativeTimeFormat(language, { numeric: 'auto' });
    relativeFormats.set(language, format);
  }
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return format.format(Math.trunc(seconds / size), unit);
  }
  return format.format(0, 'second');
}

/** The exact local time with its zone. */
export function formatExact(at: Date, language: string): string {
  let format = exactFormats.get(language);
  if (!format) {
    format = new Intl.DateTimeFormat(language, { dateStyle: 'medium', timeStyle: 'medium' });
    exactFormats.set(language, format);
  }
  return format.format(at);
}

/** A time as "2 minutes ago", the exact time as its tooltip; `fallback` when absent. */
export function RelativeTime({ value, fallback, className }: { value: string | null | undefined; fallback?: string; className?: string }) {
  const { t, i18n } = useTranslation();
  const now = useNow();
  if (!value) return <span className={cn('text-muted-foreground', className)}>{fallback ?? t('common.never')}</span>;
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return <span className={className}>{value}</span>;
  const exact = formatExact(at, i18n.language);
  return (
    <time dateTime={value} title={exact} className={className}>
      {formatRelative(at, now, i18n.language)}
    </time>
  );
}

/** Copies `value`; says so in the button and in a toast. */
export function CopyButton({ value, label, size = 'sm' }: { value: string; label?: string; size?: 'sm' | 'md' }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), 2000);
    return () => clearTimeout(timer);
  }, [copied]);
  return (
    <Button
      size={size}
      aria-label={label ?? t('common.copy')}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(value);
          setCopied(true);
          toast.success(t('common.copied'));
        } catch (e) {
          toast.error(t('agents.widgets.copyFailed', { message: errorMessage(e) }));
        }
      }}
    >
      {copied ? <Check className="size-4" aria-hidden="true" /> : <Copy className="size-4" aria-hidden="true" />}
      {copied ? t('common.copied') : t('common.copy')}
    </Button>
  );
}

/** A secret the server shows only once: read-only, selectable, with a copy button. */
export function SecretOnce({ value, label, children }: { value: string; label: string; children?: ReactNode }) {
  const { t } = useTranslation();
  const id = useId();
  return (
    <div className="flex flex-col gap-2 rounded-md border border-warn/60 bg-warn/10 p-3">
      <p className="flex items-center gap-1.5 text-sm font-medium" id={`${id}-warning`}>
        <KeyRound className="size-4 text-warn" aria-hidden="true" />
        {t('agents.widgets.shownOnce')}
      </p>
      <label htmlFor={id} className="text-sm font-medium">
        {label}
      </label>
      <div className="flex gap-2">
        <Input
          id={id}
          readOnly
          value={value}
          aria-describedby={`${id}-warning`}
          className="font-mono text-xs"
          onFocus={(e) => e.currentTarget.select()}
          data-testid="secret-once"
        />
        <CopyButton value={value} label={t('agents.widgets.copyNamed', { name: label })} size="md" />
      </div>
      {children}
    </div>
  );
}

export function Select({ className, ...rest }: SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <select
      className={cn(
        'h-9 w-full rounded-md border border-input bg-background px-2 text-sm aria-[invalid=true]:border-destructive disabled:opacity-50',
        className,
      )}
      {...rest}
    />
  );
}

export function Textarea({ className, ...rest }: TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return (
    <textarea
      className={cn(
        'min-h-24 w-full rounded-md border border-input bg-background px-3 py-2 text-sm placeholder:text-muted-foreground aria-[invalid=true]:border-destructive',
        className,
      )}
      {...rest}
    />
  );
}

/** Props tying an input to its Field's help and error texts. */
export function describedBy(id: string, { help, error }: { help?: unknown; error?: unknown }) {
  const ids = [help ? `${id}-help` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { id, 'aria-invalid': error ? true : undefined, 'aria-describedby': ids || undefined } as const;
}

/** The server's message for `field`, if the error is a problem naming it. */
export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError ? error.fieldMessage(field) : undefined;
}

/**
 * The message for a form-wide alert: the problem's detail when no field in `shown` carries
 * it (so a message already next to its field is not repeated), otherwise nothing.
 */
export function formError(error: unknown, shown: string[]): string | undefined {
  if (!error) return undefined;
  if (error instanceof ApiError) {
    const fields = error.problem.errors ?? [];
    const rest = fields.filter((f) => !shown.includes(f.field));
    if (fields.length > 0 && rest.length === 0) return undefined;
    if (rest.length > 0) return rest.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message)).join('; ');
    return error.message;
  }
  return errorMessage(error);
}

export function FormAlert({ message }: { message?: string }) {
  if (!message) return null;
  return (
    <p role="alert" className="rounded-md border border-destructive px-3 py-2 text-sm text-destructive">
      {message}
    </p>
  );
}

/**
 * A confirmation naming what is affected. A refusal from the server (a 409 naming what
 * still uses it, a 422) stays in the dialog, next to the question, until it is closed.
 */
export function ConfirmAction({
  conflictLead,
  ...rest
}: Omit<Parameters<typeof ConfirmDialog>[0], 'renderError'> & {
  /** What a 409 means here ("it is still in use"). */
  conflictLead?: string;
}) {
  return <ConfirmDialog {...rest} renderError={(error) => <ServerRefusal error={error} conflictLead={conflictLead} />} />;
}

/** A server's refusal in words: what the status means, then the server's own detail. */
export function ServerRefusal({ error, conflictLead }: { error: unknown; conflictLead?: string }) {
  const { t } = useTranslation();
  const status = error instanceof ApiError ? error.status : 0;
  const lead =
    status === 409 && conflictLead
      ? conflictLead
      : status === 409
      ? t('agents.widgets.conflict')
      : status === 403
        ? t('agents.widgets.forbidden')
        : status === 412
          ? t('agents.widgets.stale')
          : status === 404
            ? t('agents.widgets.gone')
            : t('agents.widgets.failed');
  return (
    <div role="alert" className="rounded-md border border-destructive px-3 py-2 text-sm">
      <p className="font-medium text-destructive">{lead}</p>
      <p>{errorMessage(error)}</p>
    </div>
  );
}

export const tableClass = 'w-full border-collapse text-sm';
export const thClass = 'border-b border-border px-3 py-2 text-left font-medium text-muted-foreground whitespace-nowrap';
export const tdClass = 'border-b border-border px-3 py-2 align-top';

/** A visible note for a role that sees a page but may not change it (disabled buttons are not focusable). */
export function ReadOnlyNote({ children }: { children: ReactNode }) {
  return (
    <p className="flex items-center gap-1.5 text-sm text-muted-foreground" data-testid="read-only-note">
      <Lock className="size-4 shrink-0" aria-hidden="true" />
      {children}
    </p>
  );
}

/**
 * A table's screen-reader caption and column headers; `hiddenLast` names a last column
 * (row actions) that has no visible header.
 */
export function TableHead({ caption, columns, hiddenLast }: { caption: string; columns: string[]; hiddenLast?: string }) {
  return (
    <>
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          {columns.map((label) => (
            <th key={label} scope="col" className={thClass}>
              {label}
            </th>
          ))}
          {hiddenLast !== undefined && (
            <th scope="col" className={thClass}>
              <span className="sr-only">{hiddenLast}</span>
            </th>
          )}
        </tr>
      </thead>
    </>
  );
}

/** A form's footer: Cancel, and the submit button, both held while the request is out. */
export function FormActions({
  onCancel,
  busy,
  submitLabel,
  submitDisabled = false,
}: {
  onCancel: () => void;
  busy: boolean;
  submitLabel: string;
  /** The form is not ready to send (besides being busy). */
  submitDisabled?: boolean;
}) {
  const { t } = useTranslation();
  return (
    <div className="flex justify-end gap-2">
      <Button onClick={onCancel} disabled={busy}>
        {t('common.cancel')}
      </Button>
      <Button type="submit" variant="primary" disabled={busy || submitDisabled}>
        {submitLabel}
      </Button>
    </div>
  );
}
