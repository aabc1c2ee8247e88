// The controller's run-time settings document (`GET/PUT /api/v1/settings`), versioned by its
// ETag: a save sends `If-Match`, and a 412 says someone else saved first.
import { useEffect, useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import { api, ApiError, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { Button, Card, ErrorState, Field, Input, LoadingRows } from '../../components/ui';
import { describedBy, fieldError, FormAlert, formError, ServerRefusal, ReadOnlyNote } from '../../components/widgets';
import { SectionHeader, useAdminReason } from './shared';

const DEFAULT_RETENTION = 30;

export default function ControllerSettings() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const isAdmin = can('admin');
  const reason = useAdminReason();
  const id = useId();
  const queryClient = useQueryClient();
  const settings = useQuery({
    queryKey: ['settings'],
    queryFn: async () => {
      const result = await api.GET('/api/v1/settings');
      return { data: unwrap(result), etag: result.response.headers.get('etag') };
    },
  });
  const [retention, setRetention] = useState('');
  useEffect(() => {
    if (settings.data) setRetention(String(settings.data.data.results_retention_days ?? DEFAULT_RETENTION));
  }, [settings.data]);

  const save = useMutation({
    mutationFn: async (body: Schemas['Settings']) => {
      const etag = settings.data?.etag;
      const result = await api.PUT('/api/v1/settings', { params: { header: etag ? { 'If-Match': etag } : {} }, body });
      return unwrap(result);
    },
    onSuccess: async () => {
      toast.success(t('settings.controller.saved'));
      await queryClient.invalidateQueries({ queryKey: ['settings'] });
    },
  });

  const value = Number(retention);
  const localError =
    retention !== '' && (!Number.isInteger(value) || value < 1 || value > 3650) ? t('settings.controller.retentionRule') : undefined;
  const retentionError = localError ?? fieldError(save.error, 'results_retention_days');
  const stale = save.error instanceof ApiError && save.error.status === 412;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (localError || retention === '') return;
    save.mutate({ ...settings.data?.data, results_retention_days: value });
  }

  return (
    <section>
      <SectionHeader title={t('settings.controller.title')} description={t('settings.controller.description')} />
      {!can('admin') && (
        <div className="mb-3">
          <ReadOnlyNote>{t('settings.controller.readOnly')}</ReadOnlyNote>
        </div>
      )}
      <Card className="max-w-xl p-4">
        {settings.isPending ? (
          <LoadingRows rows={2} />
        ) : settings.isError ? (
          <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />
        ) : (
          <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
            <Field
              id={`${id}-retention`}
              label={t('settings.controller.retention')}
              help={t('settings.controller.retentionHelp')}
              error={retentionError}
            >
              <Input
                {...describedBy(`${id}-retention`, { help: true, error: retentionError })}
                type="number"
                inputMode="numeric"
                min={1}
                max={3650}
                step={1}
                value={retention}
                onChange={(e) => setRetention(e.target.value)}
                readOnly={!isAdmin}
                className="max-w-40"
              />
            </Field>
            {stale ? (
              <div className="flex flex-col items-start gap-2">
                <ServerRefusal error={save.error} />
                <Button
                  size="sm"
                  onClick={() => {
                    save.reset();
                    void settings.refetch();
                  }}
                >
                  {t('settings.controller.reload')}
                </Button>
              </div>
            ) : (
              <FormAlert message={formError(save.error, ['results_retention_days'])} />
            )}
            <div>
              <Button
                type="submit"
                variant="primary"
                disabled={!isAdmin || save.isPending || retention === ''}
                disabledReason={isAdmin ? undefined : reason}
              >
                {t('common.save')}
              </Button>
            </div>
          </form>
        )}
      </Card>
    </section>
  );
}
