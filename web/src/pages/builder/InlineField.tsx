// A labelled builder field with help and an inline error: the markup of components/ui's Field,
// but the error is not an alert. The builder validates on the server 500 ms after every pause in
// typing, so an alert would interrupt a screen reader again and again; the error is linked to
// its control with aria-describedby instead (`describedBy` below), and the validation summary
// announces the settled result politely.
import type { ReactNode } from 'react';

/** `aria-describedby` for the control of field `id`: its help and, when there is one, its error. */
export function describedBy(id: string, { help, error }: { help?: boolean; error?: unknown }): string | undefined {
  const ids = [help ? `${id}-help` : '', error ? `${id}-error` : ''].filter(Boolean);
  return ids.length > 0 ? ids.join(' ') : undefined;
}

export function Field({
  id,
  label,
  help,
  error,
  children,
}: {
  id: string;
  label: ReactNode;
  help?: ReactNode;
  error?: string;
  children: ReactNode;
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
        <p id={`${id}-error`} className="text-xs text-destructive">
          {error}
        </p>
      )}
    </div>
  );
}
