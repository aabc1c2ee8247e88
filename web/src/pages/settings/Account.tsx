// My account: change my password (the server then ends every session of mine, this one too:
// sign in again) and my active sessions, each of which I can end.
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { clearSession } from '../../api/session';
import { useAuth } from '../../auth/AuthProvider';
import { Button, Card, EmptyState, Field, Input, QueryStatus } from '../../components/ui';
import { ConfirmAction, describedBy, fieldError, FormAlert, formError, RelativeTime, tableClass, tdClass, TableHead } from '../../components/widgets';
import { SectionHeader } from './shared';

const MIN_PASSWORD = 12;
type Session = Schemas['SessionView'];

export default function Account() {
  const { t } = useTranslation();
  const { me } = useAuth();
  return (
    <div className="flex flex-col gap-8">
      <section>
        <SectionHeader
          title={t('settings.account.title')}
          description={me ? t('settings.account.who', { name: me.user.username, role: t(`roles.${me.role}`) }) : undefined}
        />
        <Card className="max-w-xl p-4">
          <PasswordForm />
        </Card>
      </section>
      <Sessions />
    </div>
  );
}

function PasswordForm() {
  const { t } = useTranslation();
  const id = useId();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [local, setLocal] = useState<{ next?: string; repeat?: string }>({});
  const change = useMutation({
    mutationFn: async (body: Schemas['PasswordChange']) => unwrap(await api.POST('/api/v1/auth/password', { body })),
    // The variables hold a password: drop the mutation from the cache once the form is gone.
    gcTime: 0,
    onSuccess: () => {
      toast.success(t('settings.account.changed'));
      // Every session of ours has ended on the server: sign in again.
      clearSession();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const errors = {
      next: next.length < MIN_PASSWORD ? t('settings.passwordRule', { count: MIN_PASSWORD }) : undefined,
      repeat: repeat !== next ? t('settings.passwordMismatch') : undefined,
    };
    setLocal(errors);
    if (errors.next || errors.repeat) return;
    change.mutate({ current_password: current, new_password: next });
  }
  const currentError = fieldError(change.error, 'current_password');
  const nextError = local.next ?? fieldError(change.error, 'new_password');
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="font-medium">
        {t('settings.account.changePassword')}
      </h3>
      <p className="text-sm text-muted-foreground">{t('settings.account.changeNote')}</p>
      <Field id={`${id}-current`} label={t('settings.account.currentPassword')} error={currentError}>
        <Input
          {...describedBy(`${id}-current`, { error: currentError })}
          type="password"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          autoComplete="current-password"
        />
      </Field>
      <Field id={`${id}-new`} label={t('settings.account.newPassword')} help={t('settings.passwordRule', { count: MIN_PASSWORD })} error={nextError}>
        <Input
          {...describedBy(`${id}-new`, { help: true, error: nextError })}
          type="password"
          value={next}
          onChange={(e) => setNext(e.target.value)}
          autoComplete="new-password"
        />
      </Field>
      <Field id={`${id}-repeat`} label={t('settings.account.repeatPassword')} error={local.repeat}>
        <Input
          {...describedBy(`${id}-repeat`, { error: local.repeat })}
          type="password"
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
          autoComplete="new-password"
        />
      </Field>
      <FormAlert message={formError(change.error, ['current_password', 'new_password'])} />
      <div>
        <Button type="submit" variant="primary" disabled={change.isPending || !current}>
          {t('settings.account.submit')}
        </Button>
      </div>
    </form>
  );
}

function Sessions() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const sessions = useQuery({ queryKey: ['sessions'], queryFn: async () => unwrap(await api.GET('/api/v1/auth/sessions')) });
  const [ending, setEnding] = useState<Session | null>(null);
  const items = sessions.data?.items ?? [];
  return (
    <section>
      <SectionHeader title={t('settings.sessions.title')} description={t('settings.sessions.description')} />
      <Card className="overflow-x-auto">
        {sessions.isPending || sessions.isError ? (
          <QueryStatus query={sessions} rows={2} />
        ) : items.length === 0 ? (
          <EmptyState title={t('settings.sessions.empty')} />
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('settings.sessions.caption')} columns={[t('settings.sessions.client'), t('settings.sessions.address'), t('settings.sessions.signedIn'), t('settings.sessions.lastActive'), t('settings.sessions.expires')]} hiddenLast={t('settings.actions')} />
            <tbody>
              {items.map((session) => (
                <tr key={session.id}>
                  <th scope="row" className={`${tdClass} max-w-md text-left font-normal`}>
                    <span className="break-words">{session.user_agent || t('settings.sessions.unknownClient')}</span>
                    {session.current && (
                      <span className="ml-2 rounded border border-border bg-accent px-1.5 py-0.5 text-xs font-medium">
                        {t('settings.sessions.current')}
                      </span>
                    )}
                  </th>
                  <td className={`${tdClass} font-mono text-xs`}>{session.address ?? '—'}</td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={session.created_at} />
                  </td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={session.refreshed_at} />
                  </td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={session.expires_at} />
                  </td>
                  <td className={`${tdClass} text-right`}>
                    <Button
                      size="sm"
                      variant="ghost"
                      className="text-destructive"
                      aria-label={
                        session.current
                          ? t('settings.sessions.endCurrent')
                          : t('settings.sessions.endNamed', { client: session.user_agent, address: session.address ?? '' })
                      }
                      onClick={() => setEnding(session)}
                    >
                      {t('settings.sessions.end')}
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <ConfirmAction
        open={ending !== null}
        onOpenChange={(open) => !open && setEnding(null)}
        title={ending?.current ? t('settings.sessions.endCurrentTitle') : t('settings.sessions.endTitle')}
        confirmLabel={t('settings.sessions.end')}
        danger
        onConfirm={async () => {
          if (!ending) return;
          unwrap(await api.DELETE('/api/v1/auth/sessions/{id}', { params: { path: { id: ending.id } } }));
          if (ending.current) {
            clearSession();
            return;
          }
          toast.success(t('settings.sessions.ended'));
          await queryClient.invalidateQueries({ queryKey: ['sessions'] });
        }}
      >
        {ending?.current
          ? t('settings.sessions.endCurrentBody')
          : t('settings.sessions.endBody', { client: ending?.user_agent ?? '', address: ending?.address ?? '—' })}
      </ConfirmAction>
    </section>
  );
}
