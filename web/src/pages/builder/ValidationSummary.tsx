// The validation summary: the live validation's state and every server problem, each a link
// to its field (disclosures holding the field are opened first). Screen readers are told only
// the settled result, politely.
import { useRef } from 'react';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { AlertTriangle, CheckCircle2, Loader2, WifiOff } from 'lucide-react';
import type { FieldProblem } from '../../api/client';
import { fieldDomId } from './model';
import type { ValidationState } from './queries';

export function focusField(field: string) {
  const id = fieldDomId(field);
  const element = id ? document.getElementById(id) : null;
  if (!element) return false;
  for (let node: HTMLElement | null = element; node; node = node.parentElement) {
    if (node instanceof HTMLDetailsElement) node.open = true;
  }
  element.scrollIntoView({ block: 'center' });
  element.focus({ preventScroll: true });
  return true;
}

/** What the summary says once a validation has answered (never "checking"). */
function settledText(state: ValidationState, problems: FieldProblem[], t: TFunction): string {
  if (state.failure) return t('builder.validation.failed', { message: state.failure });
  if (problems.length > 0) return t('builder.validation.problems', { count: problems.length });
  if (state.valid) return t('builder.validation.valid');
  return t('builder.validation.pending');
}

/**
 * The validation's state, shown as it changes (checking, then the answer), and every problem
 * as a link to its field. Screen readers hear only settled answers, and only when they change:
 * the visible line flips to "Checking…" after every pause in typing, so it is hidden from them
 * and a polite live region holds the last settled answer instead.
 */
export function ValidationSummary({ state, problems }: { state: ValidationState; problems: FieldProblem[] }) {
  const { t } = useTranslation();
  const settled = useRef('');
  if (!state.checking) settled.current = settledText(state, problems, t);
  return (
    <>
      <section aria-labelledby="builder-validation-title" className="flex flex-col gap-2" data-testid="validation-summary">
        <h2 id="builder-validation-title" className="text-sm font-semibold">
          {t('builder.validation.title')}
        </h2>
        <div aria-hidden="true" className="flex items-center gap-2 text-sm">
          {state.checking ? (
            <>
              <Loader2 className="size-4 animate-spin text-info" aria-hidden="true" />
              {t('builder.validation.checking')}
            </>
          ) : state.failure ? (
            <>
              <WifiOff className="size-4 text-warn" aria-hidden="true" />
              {t('builder.validation.failed', { message: state.failure })}
            </>
          ) : problems.length > 0 ? (
            <>
              <AlertTriangle className="size-4 text-fail" aria-hidden="true" />
              {t('builder.validation.problems', { count: problems.length })}
            </>
          ) : state.valid ? (
            <>
              <CheckCircle2 className="size-4 text-ok" aria-hidden="true" />
              {t('builder.validation.valid')}
            </>
          ) : (
            <span className="text-muted-foreground">{t('builder.validation.pending')}</span>
          )}
        </div>
        {problems.length > 0 && (
          <ul className="flex flex-col gap-1 text-sm">
            {problems.map((p, i) => (
              <li key={`${p.field}-${i}`}>
                <button
                  type="button"
                  className="text-left text-destructive underline-offset-2 hover:underline"
                  onClick={() => focusField(p.field)}
                >
                  {p.field ? <span className="font-mono text-xs">{p.field}</span> : null}
                  {p.field ? ': ' : ''}
                  {p.message}
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
      <p role="status" aria-live="polite" aria-atomic="true" className="sr-only" data-testid="validation-announcement">
        {settled.current}
      </p>
    </>
  );
}
