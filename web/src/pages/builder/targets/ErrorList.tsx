// A field's problems, right under it, linked with aria-describedby. Not an alert: they change
// as the user types (the preview answers after every pause), which would keep interrupting.
import { XCircle } from 'lucide-react';

export function describedBy(id: string, messages: string[], help?: boolean): string | undefined {
  const ids = [help ? `${id}-help` : '', messages.length > 0 ? `${id}-error` : ''].filter(Boolean);
  return ids.length > 0 ? ids.join(' ') : undefined;
}

export function ErrorList({ id, messages }: { id: string; messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <ul id={`${id}-error`} className="flex flex-col gap-0.5 text-xs text-destructive">
      {messages.map((m, i) => (
        <li key={i} className="flex items-start gap-1">
          <XCircle className="mt-0.5 size-3.5 shrink-0" aria-hidden="true" />
          <span>{m}</span>
        </li>
      ))}
    </ul>
  );
}
