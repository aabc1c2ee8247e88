// Templates: save the builder's job as a template, and load one into the builder.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import { api, ApiError, errorMessage, unwrap, type Schemas } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { Button, EmptyState, ErrorState, Field, Input, LoadingRows } from '../../components/ui';
import type { JobSpec } from './model';

export function SaveTemplateDialog({
  open,
  onOpenChange,
  spec,
  defaultName,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  spec: () => JobSpec;
  defaultName: string;
}) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [name, setName] = useState(defaultName);
  const [description, setDescription] = useState('');
  const [replace, setReplace] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);

  const save = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api/v1/templates', { body: { name: name.trim(), description, spec: spec(), replace } })),
    onSuccess: (template) => {
      toast.success(t('builder.templates.saved', { name: template.name }));
      void queryClient.invalidateQueries({ queryKey: ['templates'] });
      onOpenChange(false);
    },
    onError: (e) => {
      setConflict(e instanceof ApiError && e.status === 409);
      setError(e instanceof ApiError && e.status === 409 ? t('builder.templates.exists', { name: name.trim() }) : errorMessage(e));
    },
  });

  return (
    <Dialog
      open={open}
      onOpenChange={(next) => {
        if (next) {
          setName(defaultName);
          setError(null);
          setConflict(false);
          setReplace(false);
        }
        onOpenChange(next);
      }}
      title={t('builder.templates.saveTitle')}
      description={t('builder.templates.saveHelp')}
      footer={
        <>
          <Button onClick={() => onOpenChange(false)}>{t('common.cancel')}</Button>
          <Button variant="primary" disabled={!name.trim() || save.isPending} onClick={() => save.mutate()}>
            {t('builder.templates.saveConfirm')}
          </Button>
        </>
      }
    >
      <div className="flex flex-col gap-3">
        <Field id="template-name" label={t('builder.templates.name')}>
          <Input id="template-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />
        </Field>
        <Field id="template-description" label={t('builder.templates.description')}>
          <textarea
            id="template-description"
            rows={3}
            className="rounded-md border border-input bg-background p-2 text-sm"
            value={description}
            maxLength={4000}
            onChange={(e) => setDescription(e.target.value)}
          />
        </Field>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} />
          {t('builder.templates.replace')}
        </label>
        {error && (
          <p role="alert" className="text-sm text-destructive">
            {error}
            {conflict && !replace && ` ${t('builder.templates.replaceHint')}`}
          </p>
        )}
      </div>
    </Dialog>
  );
}

export function LoadTemplateDialog({
  open,
  onOpenChange,
  onLoad,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  onLoad: (template: Schemas['TemplateView']) => void;
}) {
  const { t } = useTranslation();
  const [filter, setFilter] = useState('');
  const templates = useQuery({
    queryKey: ['templates'],
    queryFn: async () => unwrap(await api.GET('/api/v1/templates', { params: { query: { limit: 1000 } } })),
    enabled: open,
  });
  const list = (templates.data ?? []).filter((tpl) =>
    `${tpl.name} ${tpl.description}`.toLowerCase().includes(filter.trim().toLowerCase()),
  );
  return (
    <Dialog open={open} onOpenChange={onOpenChange} title={t('builder.templates.loadTitle')} description={t('builder.templates.loadHelp')} wide>
      <Input aria-label={t('builder.templates.filter')} placeholder={t('builder.templates.filter')} value={filter} onChange={(e) => setFilter(e.target.value)} />
      {templates.isPending ? (
        <LoadingRows rows={3} />
      ) : templates.isError ? (
        <ErrorState error={templates.error} onRetry={() => void templates.refetch()} />
      ) : list.length === 0 ? (
        <EmptyState title={t('builder.templates.empty')}>{t('builder.templates.emptyHint')}</EmptyState>
      ) : (
        <ul className="flex flex-col divide-y divide-border rounded-md border border-border" aria-label={t('builder.templates.listLabel')}>
          {list.map((tpl) => (
            <li key={tpl.id} className="flex items-center gap-3 p-3">
              <div className="min-w-0 flex-1">
                <p className="font-medium">{tpl.name}</p>
                {tpl.description && <p className="text-sm text-muted-foreground">{tpl.description}</p>}
                <p className="text-xs text-muted-foreground">
                  {t('builder.templates.summary', { count: tpl.spec.actions.length, updated: new Date(tpl.updated_at).toLocaleString() })}
                </p>
              </div>
              <Button
                aria-label={t('builder.templates.loadOne', { name: tpl.name })}
                onClick={() => {
                  onLoad(tpl);
                  onOpenChange(false);
                }}
              >
                {t('builder.templates.load')}
              </Button>
            </li>
          ))}
        </ul>
      )}
    </Dialog>
  );
}
