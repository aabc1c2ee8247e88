// The live preview of one action's rendered command (`POST /api/v1/library/preview`): the
// controller fills in defaults and masks secrets; params that break the schema answer with
// their problems instead.
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Copy, Loader2 } from 'lucide-react';
import { toast } from 'sonner';
import { api, ApiError, errorMessage, unwrap } from '../../api/client';
import { Button, Input } from '../../components/ui';
import { useDebounced } from '../../lib/hooks';

export function CommandPreview({
  command,
  params,
  idPrefix,
  delay = 300,
}: {
  command: string;
  params: Record<string, unknown>;
  idPrefix: string;
  delay?: number;
}) {
  const { t } = useTranslation();
  const [target, setTarget] = useState('');
  const request = useDebounced(JSON.stringify({ command, params, target: target.trim() || null }), delay);
  const [state, setState] = useState<{ text?: string; truncated?: boolean; error?: string; loading: boolean }>({ loading: true });

  useEffect(() => {
    let stale = false;
    setState((s) => ({ ...s, loading: true }));
    void (async () => {
      try {
        const body = JSON.parse(request) as { command: string; params: Record<string, unknown>; target: string | null };
        const result = unwrap(await api.POST('/api/v1/library/preview', { body }));
        if (!stale) setState({ text: result.text, truncated: result.truncated, loading: false });
      } catch (error) {
        if (stale) return;
        const message =
          error instanceof ApiError && error.problem.errors?.length
            ? error.problem.errors.map((e) => (e.field ? `${e.field.replace(/^params\./, '')}: ${e.message}` : e.message)).join('; ')
            : errorMessage(error);
        setState({ error: message, loading: false });
      }
    })();
    return () => {
      stale = true;
    };
  }, [request]);

  const copy = async () => {
    if (!state.text) return;
    try {
      await navigator.clipboard.writeText(state.text);
      toast.success(t('builder.preview.copied'));
    } catch {
      toast.error(t('builder.preview.copyFailed'));
    }
  };

  return (
    <div className="flex flex-col gap-2" aria-labelledby={`${idPrefix}-preview-title`} role="group">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <h4 id={`${idPrefix}-preview-title`} className="text-sm font-medium">
          {t('builder.preview.title')}
        </h4>
        <div className="flex items-end gap-2">
          <label className="flex items-center gap-2 text-xs text-muted-foreground" htmlFor={`${idPrefix}-preview-target`}>
            {t('builder.preview.target')}
          </label>
          <Input
            id={`${idPrefix}-preview-target`}
            className="h-8 w-44"
            placeholder={t('builder.preview.targetPlaceholder')}
            value={target}
            onChange={(e) => setTarget(e.target.value)}
          />
          <Button size="sm" onClick={() => void copy()} disabled={!state.text || state.loading} aria-label={t('builder.preview.copy')}>
            <Copy className="size-4" aria-hidden="true" />
            {t('common.copy')}
          </Button>
        </div>
      </div>
      <div aria-live="polite" aria-busy={state.loading} data-testid={`${idPrefix}-preview`}>
        {state.error ? (
          <p className="rounded-md border border-destructive p-2 text-xs text-destructive">
            {t('builder.preview.invalid', { message: state.error })}
          </p>
        ) : state.text !== undefined ? (
          <pre className="overflow-x-auto rounded-md bg-muted p-2 font-mono text-xs whitespace-pre-wrap break-all">
            <code>{state.text}</code>
            {state.truncated && <span className="text-muted-foreground"> {t('builder.preview.truncated')}</span>}
          </pre>
        ) : (
          <p className="flex items-center gap-2 text-xs text-muted-foreground">
            <Loader2 className="size-3 animate-spin" aria-hidden="true" />
            {t('common.loading')}
          </p>
        )}
      </div>
    </div>
  );
}
