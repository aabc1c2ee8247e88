// Small building blocks every page uses, so pages look and behave alike.
import { forwardRef, useId, type ButtonHTMLAttributes, type HTMLAttributes, type InputHTMLAttributes, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { cn } from '../lib/cn';

type Variant = 'primary' | 'secondary' | 'ghost' | 'danger';
const VARIANTS: Record<Variant, string> = {
  primary: 'bg-primary text-primary-foreground hover:opacity-90',
  secondary: 'bg-secondary text-secondary-foreground border border-border hover:bg-accent',
  ghost: 'hover:bg-accent text-foreground',
  danger: 'bg-destructive text-destructive-foreground hover:opacity-90',
};

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
  size?: 'sm' | 'md';
  /**
   * Why the button is disabled. A button disabled with a reason stays focusable
   * (`aria-disabled`, clicks ignored) so keyboard and screen-reader users reach the reason:
   * its tooltip and its accessible description.
   */
  disabledReason?: string;
}

export const Button = forwardRef<HTMLButtonElement, ButtonProps>(function Button(
  { variant = 'secondary', size = 'md', className, disabledReason, disabled, title, type = 'button', onClick, 'aria-describedby': describedBy, ...rest },
  ref,
) {
  const reasonId = useId();
  const unavailable = Boolean(disabled && disabledReason);
  const button = (
    <button
      ref={ref}
      type={type}
      disabled={disabled && !unavailable}
      aria-disabled={unavailable || undefined}
      aria-describedby={unavailable ? reasonId : describedBy}
      title={unavailable ? disabledReason : title}
      onClick={(event) => {
        if (unavailable) {
          event.preventDefault();
          return;
        }
        onClick?.(event);
      }}
      className={cn(
        'inline-flex items-center justify-center gap-1.5 rounded-md font-medium whitespace-nowrap transition-colors disabled:cursor-not-allowed disabled:opacity-50 aria-disabled:cursor-not-allowed aria-disabled:opacity-50',
        size === 'sm' ? 'h-8 px-2.5 text-sm' : 'h-9 px-3.5 text-sm',
        VARIANTS[variant],
        className,
      )}
      {...rest}
    />
  );
  if (!unavailable) return button;
  // The reason sits beside the button, not in it: inside, it would become part of its name.
  return (
    <>
      {button}
      <span id={reasonId} className="sr-only">
        {disabledReason}
      </span>
    </>
  );
});

export const Input = forwardRef<HTMLInputElement, InputHTMLAttributes<HTMLInputElement>>(function Input(
  { className, ...rest },
  ref,
) {
  return (
    <input
      ref={ref}
      className={cn(
        'h-9 w-full rounded-md border border-input bg-background px-3 text-sm placeholder:text-muted-foreground aria-[invalid=true]:border-destructive',
        className,
      )}
      {...rest}
    />
  );
});

/**
 * A labelled form field with help text and an inline error (`${id}-help`, `${id}-error`:
 * link them from the control with aria-describedby). The error is an alert, announced when
 * it appears after a submit; `live={false}` for errors that follow typing (live
 * validation), which would otherwise interrupt a screen reader at every pause.
 */
export function Field({
  id,
  label,
  help,
  error,
  children,
  live = true,
}: {
  id: string;
  label: ReactNode;
  help?: ReactNode;
  error?: string;
  children: ReactNode;
  live?: boolean;
}) {
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={id} className="text-sm font-medium">
        {label}
      </label>
      {children}
      {help && (
        <p id={`${id}-help`} className="text-xs text-muted-foreground">
          {help}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} role={live ? 'alert' : undefined} className="text-xs text-destructive">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * A bordered panel. Positioned, so visually hidden (`sr-only`, absolutely positioned) text in
 * a table that scrolls inside it stays inside it instead of widening the page.
 */
export function Card({ className, ...rest }: HTMLAttributes<HTMLDivElement>) {
  return <div className={cn('relative rounded-lg border border-border bg-card text-card-foreground', className)} {...rest} />;
}

export function Skeleton({ className }: { className?: string }) {
  return <div aria-hidden="true" className={cn('animate-pulse rounded-md bg-muted', className)} />;
}

/** Rows of grey bars while a list loads; announced once to screen readers. */
export function LoadingRows({ rows = 5 }: { rows?: number }) {
  const { t } = useTranslation();
  return (
    <div role="status" aria-live="polite" className="flex flex-col gap-2 p-2">
      <span className="sr-only">{t('common.loading')}</span>
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} className="h-8 w-full" />
      ))}
    </div>
  );
}

export function EmptyState({ icon, title, children }: { icon?: ReactNode; title: ReactNode; children?: ReactNode }) {
  return (
    <div className="flex flex-col items-center gap-2 px-4 py-12 text-center">
      {icon && <div className="text-muted-foreground">{icon}</div>}
      <p className="font-medium">{title}</p>
      {children && <div className="text-sm text-muted-foreground">{children}</div>}
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div role="alert" className="flex flex-col items-start gap-2 rounded-md border border-destructive p-4 text-sm">
      <p>{t('common.error', { message })}</p>
      {onRetry && (
        <Button size="sm" onClick={onRetry}>
          {t('common.retry')}
        </Button>
      )}
    </div>
  );
}

export function PageHeader({ title, actions, children }: { title: ReactNode; actions?: ReactNode; children?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-start justify-between gap-3">
      <div className="min-w-0">
        <h1 className="text-xl font-semibold">{title}</h1>
        {children && <div className="mt-1 text-sm text-muted-foreground">{children}</div>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}

/**
 * What a list shows before it has data: grey rows while the query loads, or its error with
 * a retry. Render it while `query.isPending || query.isError`; the caller owns the empty
 * state and the content.
 */
export function QueryStatus({
  query,
  rows = 5,
}: {
  query: { isError: boolean; error: unknown; refetch: () => unknown };
  rows?: number;
}) {
  if (query.isError) {
    return (
      <div className="p-3">
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      </div>
    );
  }
  return <LoadingRows rows={rows} />;
}
