// Users (admins): create with a role, change role / display name / disabled, reset a
// password, delete. The server keeps the last enabled admin; its 409 is shown as it says.
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Plus, Users as UsersIcon } from 'lucide-react';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { Dialog } from '../../components/Dialog';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, Field, Input, QueryStatus } from '../../components/ui';
import { ConfirmAction, describedBy, fieldError, FormAlert, formError, RelativeTime, Select, ServerRefusal, tableClass, tdClass, TableHead, FormActions } from '../../components/widgets';
import { ifMatch, ROLES, SectionHeader, type Role } from './shared';

type User = Schemas['UserView'];
const MIN_PASSWORD = 12;

export default function Users() {
  const { t } = useTranslation();
  const { me } = useAuth();
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: async () => unwrap(await api.GET('/api/v1/users')) });
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<User | null>(null);
  const [resetting, setResetting] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const items = users.data?.items ?? [];
  const enabledAdmins = items.filter((u) => u.role === 'admin' && !u.disabled).length;
  const isLastAdmin = (u: User) => u.role === 'admin' && !u.disabled && enabledAdmins <= 1;

  return (
    <section>
      <SectionHeader
        title={t('settings.users.title')}
        description={t('settings.users.description')}
        actions={
          <Button variant="primary" size="sm" onClick={() => setCreating(true)}>
            <Plus className="size-4" aria-hidden="true" />
            {t('settings.users.new')}
          </Button>
        }
      />
      <Card className="overflow-x-auto">
        {users.isPending || users.isError ? (
          <QueryStatus query={users} rows={3} />
        ) : items.length === 0 ? (
          <EmptyState icon={<UsersIcon className="size-8" aria-hidden="true" />} title={t('settings.users.empty')} />
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('settings.users.caption')} columns={[t('settings.users.username'), t('settings.users.displayName'), t('settings.users.role'), t('settings.users.status'), t('settings.users.lastLogin')]} hiddenLast={t('settings.actions')} />
            <tbody>
              {items.map((user) => (
                <tr key={user.id}>
                  <th scope="row" className={`${tdClass} text-left font-medium`}>
                    {user.username}
                    {user.id === me?.user.id && <span className="ml-1.5 text-xs text-muted-foreground">{t('settings.users.you')}</span>}
                  </th>
                  <td className={tdClass}>{user.display_name}</td>
                  <td className={tdClass}>{t(`roles.${user.role}`)}</td>
                  <td className={tdClass}>
                    {user.disabled ? (
                      <StatusBadge status="disabled" label={t('settings.users.disabled')} />
                    ) : (
                      <StatusBadge status="ok" label={t('settings.users.enabled')} />
                    )}
                  </td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={user.last_login_at} />
                  </td>
                  <td className={`${tdClass} text-right`}>
                    <div className="flex flex-wrap justify-end gap-1">
                      <Button size="sm" aria-label={t('settings.users.editNamed', { name: user.username })} onClick={() => setEditing(user)}>
                        {t('settings.users.edit')}
                      </Button>
                      <Button
                        size="sm"
                        aria-label={t('settings.users.resetNamed', { name: user.username })}
                        onClick={() => setResetting(user)}
                      >
                        {t('settings.users.reset')}
                      </Button>
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-destructive"
                        aria-label={t('settings.users.deleteNamed', { name: user.username })}
                        disabled={isLastAdmin(user)}
                        disabledReason={t('settings.users.lastAdmin')}
                        onClick={() => setDeleting(user)}
                      >
                        {t('common.delete')}
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Dialog open={creating} onOpenChange={setCreating} title={t('settings.users.createTitle')}>
        {creating && <CreateUserForm onDone={() => setCreating(false)} />}
      </Dialog>
      <Dialog
        open={editing !== null}
        onOpenChange={(open) => !open && setEditing(null)}
        title={t('settings.users.editTitle', { name: editing?.username ?? '' })}
      >
        {editing && <EditUserForm user={editing} lastAdmin={isLastAdmin(editing)} onDone={() => setEditing(null)} />}
      </Dialog>
      <Dialog
        open={resetting !== null}
        onOpenChange={(open) => !open && setResetting(null)}
        title={t('settings.users.resetTitle', { name: resetting?.username ?? '' })}
        description={t('settings.users.resetDescription')}
      >
        {resetting && <ResetPasswordForm user={resetting} onDone={() => setResetting(null)} />}
      </Dialog>
      <ConfirmAction
        open={deleting !== null}
        onOpenChange={(open) => !open && setDeleting(null)}
        title={t('settings.users.deleteTitle', { name: deleting?.username ?? '' })}
        confirmLabel={t('settings.users.deleteConfirm')}
        danger
        onConfirm={async () => {
          if (!deleting) return;
          unwrap(await api.DELETE('/api/v1/users/{id}', { params: { path: { id: deleting.id } } }));
          toast.success(t('settings.users.deleted', { name: deleting.username }));
          await queryClient.invalidateQueries({ queryKey: ['users'] });
        }}
      >
        {t('settings.users.deleteBody', { name: deleting?.username ?? '' })}
      </ConfirmAction>
    </section>
  );
}

function RoleOptions() {
  const { t } = useTranslation();
  return (
    <>
      {ROLES.map((role) => (
        <option key={role} value={role}>
          {t(`roles.${role}`)} — {t(`settings.roleHelp.${role}`)}
        </option>
      ))}
    </>
  );
}

function CreateUserForm({ onDone }: { onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [short, setShort] = useState(false);
  const create = useMutation({
    mutationFn: async (body: Schemas['NewUser']) => unwrap(await api.POST('/api/v1/users', { body })),
    // The variables hold a password: drop the mutation from the cache once the form is gone.
    gcTime: 0,
    onSuccess: async (user) => {
      toast.success(t('settings.users.created', { name: user.username }));
      await queryClient.invalidateQueries({ queryKey: ['users'] });
      onDone();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const tooShort = password.length < MIN_PASSWORD;
    setShort(tooShort);
    if (tooShort) return;
    create.mutate({ username: username.trim(), display_name: displayName.trim() || undefined, role, password });
  }
  const errors = {
    username: fieldError(create.error, 'username'),
    display_name: fieldError(create.error, 'display_name'),
    role: fieldError(create.error, 'role'),
    password: short ? t('settings.passwordRule', { count: MIN_PASSWORD }) : fieldError(create.error, 'password'),
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <Field id={`${id}-username`} label={t('settings.users.username')} help={t('settings.users.usernameHelp')} error={errors.username}>
        <Input
          {...describedBy(`${id}-username`, { help: true, error: errors.username })}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          autoComplete="off"
          required
          autoFocus
        />
      </Field>
      <Field id={`${id}-display`} label={t('settings.users.displayName')} error={errors.display_name}>
        <Input
          {...describedBy(`${id}-display`, { error: errors.display_name })}
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field id={`${id}-role`} label={t('settings.users.role')} error={errors.role}>
        <Select {...describedBy(`${id}-role`, { error: errors.role })} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          <RoleOptions />
        </Select>
      </Field>
      <Field
        id={`${id}-password`}
        label={t('settings.users.initialPassword')}
        help={t('settings.passwordRule', { count: MIN_PASSWORD })}
        error={errors.password}
      >
        <Input
          {...describedBy(`${id}-password`, { help: true, error: errors.password })}
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="new-password"
          required
        />
      </Field>
      <FormAlert message={formError(create.error, Object.keys(errors))} />
      <FormActions onCancel={onDone} busy={create.isPending} submitLabel={t('settings.users.create')} submitDisabled={!username.trim()} />
    </form>
  );
}

function EditUserForm({ user, lastAdmin, onDone }: { user: User; lastAdmin: boolean; onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [displayName, setDisplayName] = useState(user.display_name);
  const [role, setRole] = useState<Role>(user.role);
  const [disabled, setDisabled] = useState(user.disabled);
  const save = useMutation({
    mutationFn: async (body: Schemas['UserUpdate']) =>
      unwrap(
        await api.PUT('/api/v1/users/{id}', {
          params: { path: { id: user.id }, header: { 'If-Match': ifMatch(user.version) } },
          body,
        }),
      ),
    onSuccess: async (saved) => {
      toast.success(t('settings.users.saved', { name: saved.username }));
      await queryClient.invalidateQueries({ queryKey: ['users'] });
      await queryClient.invalidateQueries({ queryKey: ['me'] });
      onDone();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const body: Schemas['UserUpdate'] = {};
    if (displayName.trim() !== user.display_name) body.display_name = displayName.trim();
    if (role !== user.role) body.role = role;
    if (disabled !== user.disabled) body.disabled = disabled;
    if (Object.keys(body).length === 0) {
      onDone();
      return;
    }
    save.mutate(body);
  }
  const errors = {
    display_name: fieldError(save.error, 'display_name'),
    role: fieldError(save.error, 'role'),
    disabled: fieldError(save.error, 'disabled'),
  };
  const shownFields = Object.keys(errors);
  const general = formError(save.error, shownFields);
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <Field id={`${id}-display`} label={t('settings.users.displayName')} error={errors.display_name}>
        <Input
          {...describedBy(`${id}-display`, { error: errors.display_name })}
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field
        id={`${id}-role`}
        label={t('settings.users.role')}
        help={lastAdmin ? t('settings.users.lastAdminHelp') : undefined}
        error={errors.role}
      >
        <Select
          {...describedBy(`${id}-role`, { help: lastAdmin, error: errors.role })}
          value={role}
          onChange={(e) => setRole(e.target.value as Role)}
        >
          <RoleOptions />
        </Select>
      </Field>
      <div className="flex flex-col gap-1">
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={disabled} onChange={(e) => setDisabled(e.target.checked)} aria-describedby={`${id}-disabled-help`} />
          {t('settings.users.disableLabel')}
        </label>
        <p id={`${id}-disabled-help`} className="text-xs text-muted-foreground">
          {t('settings.users.disableHelp')}
        </p>
        {errors.disabled && (
          <p role="alert" className="text-xs text-destructive">
            {errors.disabled}
          </p>
        )}
      </div>
      {save.error && general ? <ServerRefusal error={save.error} /> : null}
      <FormActions onCancel={onDone} busy={save.isPending} submitLabel={t('common.save')} />
    </form>
  );
}

function ResetPasswordForm({ user, onDone }: { user: User; onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [local, setLocal] = useState<{ password?: string; repeat?: string }>({});
  const save = useMutation({
    mutationFn: async () =>
      unwrap(await api.PUT('/api/v1/users/{id}', { params: { path: { id: user.id } }, body: { password } })),
    onSuccess: (saved) => {
      toast.success(t('settings.users.resetDone', { name: saved.username }));
      onDone();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const errors = {
      password: password.length < MIN_PASSWORD ? t('settings.passwordRule', { count: MIN_PASSWORD }) : undefined,
      repeat: repeat !== password ? t('settings.passwordMismatch') : undefined,
    };
    setLocal(errors);
    if (errors.password || errors.repeat) return;
    save.mutate();
  }
  const passwordError = local.password ?? fieldError(save.error, 'password');
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <Field id={`${id}-new`} label={t('settings.account.newPassword')} help={t('settings.passwordRule', { count: MIN_PASSWORD })} error={passwordError}>
        <Input
          {...describedBy(`${id}-new`, { help: true, error: passwordError })}
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="new-password"
          autoFocus
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
      <FormAlert message={formError(save.error, ['password'])} />
      <FormActions onCancel={onDone} busy={save.isPending} submitLabel={t('settings.users.resetConfirm')} />
    </form>
  );
}
