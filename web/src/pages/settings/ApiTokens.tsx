// API tokens for scripts: the caller's own (admins may list everyone's). A created token is
// shown once with a copy button; revoking one stops it at once.
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { KeySquare, Plus } from 'lucide-react';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { roleAllows, useAuth } from '../../auth/AuthProvider';
import { Dialog } from '../../components/Dialog';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, Field, Input, QueryStatus } from '../../components/ui';
import { ConfirmAction, describedBy, fieldError, FormAlert, formError, RelativeTime, SecretOnce, Select, tableClass, tdClass, thClass, FormActions } from '../../components/widgets';
import { useNow } from '../../lib/hooks';
import { ROLES, SectionHeader, type Role } from './shared';

type Token = Schemas['ApiTokenView'];
const EXPIRIES = ['never', '7', '30', '90', '365', 'date'] as const;
type Expiry = (typeof EXPIRIES)[number];

function tokenState(token: Token, now: number): 'active' | 'expired' | 'revoked' {
  if (token.revoked_at) return 'revoked';
  if (token.expires_at && new Date(token.expires_at).getTime() <= now) return 'expired';
  return 'active';
}

/** `expires_at` for a choice: days from now, or the end of a chosen day (local time). */
export function expiryFor(choice: Expiry, date: string, now = Date.now()): string | null {
  if (choice === 'never') return null;
  if (choice === 'date') return date ? new Date(`${date}T23:59:59`).toISOString() : null;
  return new Date(now + Number(choice) * 86_400_000).toISOString();
}

/** `YYYY-MM-DD` of `date` in local time: what a date input shows and `expiryFor` reads. */
export function localDate(date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export default function ApiTokens() {
  const { t } = useTranslation();
  const { can, me } = useAuth();
  const isAdmin = can('admin');
  const queryClient = useQueryClient();
  const now = useNow();
  const [all, setAll] = useState(false);
  const showAll = isAdmin && all;
  const tokens = useQuery({
    queryKey: ['api-tokens', { all: showAll }],
    queryFn: async () => unwrap(await api.GET('/api/v1/api-tokens', { params: { query: showAll ? { all: true } : {} } })),
  });
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const items = tokens.data?.items ?? [];
  const allId = useId();

  return (
    <section>
      <SectionHeader
        title={t('settings.apiTokens.title')}
        description={t('settings.apiTokens.description')}
        actions={
          <Button variant="primary" size="sm" onClick={() => setCreating(true)}>
            <Plus className="size-4" aria-hidden="true" />
            {t('settings.apiTokens.new')}
          </Button>
        }
      />
      {isAdmin && (
        <label htmlFor={allId} className="mb-3 flex items-center gap-2 text-sm">
          <input id={allId} type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
          {t('settings.apiTokens.showAll')}
        </label>
      )}
      <Card className="overflow-x-auto">
        {tokens.isPending || tokens.isError ? (
          <QueryStatus query={tokens} rows={3} />
        ) : items.length === 0 ? (
          <EmptyState icon={<KeySquare className="size-8" aria-hidden="true" />} title={t('settings.apiTokens.empty')}>
            {t('settings.apiTokens.emptyHelp')}
          </EmptyState>
        ) : (
          <table className={tableClass}>
            <caption className="sr-only">{t('settings.apiTokens.caption')}</caption>
            <thead>
              <tr>
                <th scope="col" className={thClass}>{t('settings.apiTokens.name')}</th>
                {showAll && <th scope="col" className={thClass}>{t('settings.apiTokens.owner')}</th>}
                <th scope="col" className={thClass}>{t('settings.apiTokens.role')}</th>
                <th scope="col" className={thClass}>{t('settings.apiTokens.prefix')}</th>
                <th scope="col" className={thClass}>{t('settings.apiTokens.status')}</th>
                <th scope="col" className={thClass}>{t('settings.apiTokens.createdColumn')}</th>
                <th scope="col" className={thClass}>{t('settings.apiTokens.lastUsed')}</th>
                <th scope="col" className={thClass}>{t('settings.apiTokens.expires')}</th>
                <th scope="col" className={thClass}>
                  <span className="sr-only">{t('settings.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((token) => {
                const state = tokenState(token, now);
                return (
                  <tr key={token.id}>
                    <th scope="row" className={`${tdClass} text-left font-medium`}>
                      {token.name}
                    </th>
                    {showAll && <td className={tdClass}>{token.username}</td>}
                    <td className={tdClass}>{t(`roles.${token.role}`)}</td>
                    <td className={`${tdClass} font-mono text-xs`}>{token.prefix}…</td>
                    <td className={tdClass}>
                      <StatusBadge
                        status={state === 'active' ? 'ok' : state === 'expired' ? 'timeout' : 'revoked'}
                        label={t(`settings.apiTokens.states.${state}`)}
                      />
                    </td>
                    <td className={`${tdClass} whitespace-nowrap`}>
                      <RelativeTime value={token.created_at} />
                    </td>
                    <td className={`${tdClass} whitespace-nowrap`}>
                      <RelativeTime value={token.last_used_at} />
                    </td>
                    <td className={`${tdClass} whitespace-nowrap`}>
                      <RelativeTime value={token.expires_at} fallback={t('settings.apiTokens.noExpiry')} />
                    </td>
                    <td className={`${tdClass} text-right`}>
                      {state !== 'revoked' && (
                        <Button
                          size="sm"
                          variant="ghost"
                          className="text-destructive"
                          aria-label={t('settings.apiTokens.revokeNamed', { name: token.name })}
                          disabled={token.user_id !== me?.user.id && !isAdmin}
                          disabledReason={t('common.requiresRole', { role: t('roles.admin') })}
                          onClick={() => setRevoking(token)}
                        >
                          {t('settings.apiTokens.revoke')}
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      <Dialog
        open={creating}
        onOpenChange={setCreating}
        title={t('settings.apiTokens.createTitle')}
        description={t('settings.apiTokens.createDescription')}
      >
        {creating && <CreateTokenForm onDone={() => setCreating(false)} />}
      </Dialog>
      <ConfirmAction
        open={revoking !== null}
        onOpenChange={(open) => !open && setRevoking(null)}
        title={t('settings.apiTokens.revokeTitle', { name: revoking?.name ?? '' })}
        confirmLabel={t('settings.apiTokens.revokeConfirm')}
        danger
        onConfirm={async () => {
          if (!revoking) return;
          unwrap(await api.DELETE('/api/v1/api-tokens/{id}', { params: { path: { id: revoking.id } } }));
          toast.success(t('settings.apiTokens.revoked', { name: revoking.name }));
          await queryClient.invalidateQueries({ queryKey: ['api-tokens'] });
        }}
      >
        {t('settings.apiTokens.revokeBody', { name: revoking?.name ?? '', owner: revoking?.username ?? '' })}
      </ConfirmAction>
    </section>
  );
}

function CreateTokenForm({ onDone: close }: { onDone: () => void }) {
  const { t } = useTranslation();
  const { me } = useAuth();
  const id = useId();
  const queryClient = useQueryClient();
  const myRole = me?.role ?? 'viewer';
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>(myRole);
  const [expiry, setExpiry] = useState<Expiry>('90');
  const [date, setDate] = useState('');
  const create = useMutation({
    mutationFn: async (body: Schemas['NewApiToken']) => unwrap(await api.POST('/api/v1/api-tokens', { body })),
    // The answer holds the token: do not keep it in the mutation cache once the form is gone.
    gcTime: 0,
    onSuccess: async (created) => {
      toast.success(t('settings.apiTokens.created', { name: created.name }));
      await queryClient.invalidateQueries({ queryKey: ['api-tokens'] });
    },
  });
  // Closing drops the shown-once token (the form also unmounts with the dialog).
  const onDone = () => {
    create.reset();
    close();
  };

  if (create.data) {
    return (
      <div className="flex flex-col gap-3">
        <SecretOnce value={create.data.token} label={t('settings.apiTokens.tokenLabel', { name: create.data.name })}>
          <p className="text-xs text-muted-foreground">{t('settings.apiTokens.usage')}</p>
          <pre className="overflow-x-auto rounded-md bg-muted p-2 font-mono text-xs">Authorization: Bearer {create.data.token}</pre>
        </SecretOnce>
        <div className="flex justify-end">
          <Button variant="primary" onClick={onDone}>
            {t('settings.apiTokens.done')}
          </Button>
        </div>
      </div>
    );
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name: name.trim(), role, expires_at: expiryFor(expiry, date) });
  }
  const nameError = fieldError(create.error, 'name');
  const roleError = fieldError(create.error, 'role');
  const expiryError = fieldError(create.error, 'expires_at');
  const today = localDate();
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <Field id={`${id}-name`} label={t('settings.apiTokens.name')} help={t('settings.apiTokens.nameHelp')} error={nameError}>
        <Input
          {...describedBy(`${id}-name`, { help: true, error: nameError })}
          value={name}
          onChange={(e) => setName(e.target.value)}
          maxLength={100}
          autoComplete="off"
          autoFocus
        />
      </Field>
      <Field id={`${id}-role`} label={t('settings.apiTokens.role')} help={t('settings.apiTokens.roleHelp')} error={roleError}>
        <Select {...describedBy(`${id}-role`, { help: true, error: roleError })} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r} disabled={!roleAllows(myRole, r)}>
              {t(`roles.${r}`)}
            </option>
          ))}
        </Select>
      </Field>
      <Field id={`${id}-expiry`} label={t('settings.apiTokens.expiry')} error={expiry === 'date' ? undefined : expiryError}>
        <Select
          {...describedBy(`${id}-expiry`, { error: expiry === 'date' ? undefined : expiryError })}
          value={expiry}
          onChange={(e) => setExpiry(e.target.value as Expiry)}
        >
          {EXPIRIES.map((e) => (
            <option key={e} value={e}>
              {t(`settings.apiTokens.expiries.${e}`)}
            </option>
          ))}
        </Select>
      </Field>
      {expiry === 'date' && (
        <Field id={`${id}-date`} label={t('settings.apiTokens.expiryDate')} help={t('settings.apiTokens.expiryDateHelp')} error={expiryError}>
          <Input
            {...describedBy(`${id}-date`, { help: true, error: expiryError })}
            type="date"
            min={today}
            value={date}
            onChange={(e) => setDate(e.target.value)}
          />
        </Field>
      )}
      <FormAlert message={formError(create.error, ['name', 'role', 'expires_at'])} />
      <FormActions onCancel={onDone} busy={create.isPending} submitLabel={t('settings.apiTokens.create')} submitDisabled={!name.trim() || (expiry === 'date' && !date)} />
    </form>
  );
}
