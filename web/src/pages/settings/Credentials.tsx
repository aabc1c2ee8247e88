// Credentials: write-only secrets. The list shows metadata only; a secret is typed in a form
// that sends the fields of its kind, sealed at once by the server and never shown again.
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { KeyRound, Plus } from 'lucide-react';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { Dialog } from '../../components/Dialog';
import { Button, Card, EmptyState, Field, Input, QueryStatus } from '../../components/ui';
import { ConfirmAction, describedBy, fieldError, FormAlert, formError, RelativeTime, Select, tableClass, tdClass, Textarea, ReadOnlyNote, TableHead, FormActions } from '../../components/widgets';
import { ifMatch, SectionHeader, useAdminReason } from './shared';

type Credential = Schemas['CredentialView'];
export type CredentialKind = Schemas['CredentialKind'];
export const KINDS: CredentialKind[] = ['snmp_community', 'snmp_v3', 'ssh_password', 'ssh_key', 'http_basic', 'http_bearer'];

interface SecretField {
  name: string;
  input: 'text' | 'password' | 'textarea' | 'select';
  optional?: boolean;
  options?: string[];
}

const AUTH_PROTOCOLS = ['none', 'md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'];
const PRIV_PROTOCOLS = ['none', 'des', 'aes', 'aes192', 'aes256'];

/** The secret's fields per kind (as the server's `secret_fields`). */
export const SECRET_FIELDS: Record<CredentialKind, SecretField[]> = {
  snmp_community: [{ name: 'community', input: 'password' }],
  snmp_v3: [
    { name: 'user', input: 'text' },
    { name: 'auth_protocol', input: 'select', options: AUTH_PROTOCOLS },
    { name: 'auth_password', input: 'password' },
    { name: 'priv_protocol', input: 'select', options: PRIV_PROTOCOLS },
    { name: 'priv_password', input: 'password' },
  ],
  ssh_password: [
    { name: 'user', input: 'text' },
    { name: 'password', input: 'password' },
  ],
  ssh_key: [
    { name: 'user', input: 'text' },
    { name: 'private_key', input: 'textarea' },
    { name: 'passphrase', input: 'password', optional: true },
  ],
  http_basic: [
    { name: 'user', input: 'text' },
    { name: 'password', input: 'password' },
  ],
  http_bearer: [{ name: 'token', input: 'password' }],
};

/** Whether a field is in use given the others (SNMPv3: no password without its protocol). */
function fieldActive(kind: CredentialKind, name: string, values: Record<string, string>): boolean {
  if (kind !== 'snmp_v3') return true;
  const auth = (values.auth_protocol ?? 'none') !== 'none';
  if (name === 'auth_password' || name === 'priv_protocol') return auth;
  if (name === 'priv_password') return auth && (values.priv_protocol ?? 'none') !== 'none';
  return true;
}

/** The secret object to send: the kind's fields that are in use and filled in. */
export function buildSecret(kind: CredentialKind, values: Record<string, string>): Record<string, string> {
  const secret: Record<string, string> = {};
  for (const field of SECRET_FIELDS[kind]) {
    const value = values[field.name] ?? '';
    if (!fieldActive(kind, field.name, values)) continue;
    if (field.input === 'select' && (value === '' || value === 'none')) continue;
    if (value === '') continue;
    secret[field.name] = field.input === 'text' ? value.trim() : value;
  }
  return secret;
}

/** The schema types a secret as an object of unknown fields. */
const asSecret = (secret: Record<string, string>) => secret as unknown as Schemas['NewCredential']['secret'];

export default function Credentials() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const reason = useAdminReason();
  const isAdmin = can('admin');
  const queryClient = useQueryClient();
  const credentials = useQuery({ queryKey: ['credentials'], queryFn: async () => unwrap(await api.GET('/api/v1/credentials')) });
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Credential | null>(null);
  const [rotating, setRotating] = useState<Credential | null>(null);
  const [deleting, setDeleting] = useState<Credential | null>(null);
  const items = credentials.data?.items ?? [];

  return (
    <section>
      <SectionHeader
        title={t('settings.credentials.title')}
        description={t('settings.credentials.description')}
        actions={
          <Button variant="primary" size="sm" disabled={!isAdmin} disabledReason={reason} onClick={() => setCreating(true)}>
            <Plus className="size-4" aria-hidden="true" />
            {t('settings.credentials.new')}
          </Button>
        }
      />
      {!can('admin') && (
        <div className="mb-3">
          <ReadOnlyNote>{t('settings.credentials.readOnly')}</ReadOnlyNote>
        </div>
      )}
      <Card className="overflow-x-auto">
        {credentials.isPending || credentials.isError ? (
          <QueryStatus query={credentials} rows={3} />
        ) : items.length === 0 ? (
          <EmptyState icon={<KeyRound className="size-8" aria-hidden="true" />} title={t('settings.credentials.empty')}>
            {t('settings.credentials.emptyHelp')}
          </EmptyState>
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('settings.credentials.caption')} columns={[t('settings.credentials.name'), t('settings.credentials.kind'), t('settings.credentials.descriptionLabel'), t('settings.credentials.secretUpdated')]} hiddenLast={t('settings.actions')} />
            <tbody>
              {items.map((credential) => (
                <tr key={credential.id}>
                  <th scope="row" className={`${tdClass} text-left font-medium`}>
                    <div>{credential.name}</div>
                    <div className="font-mono text-xs font-normal text-muted-foreground" title={t('settings.credentials.idHelp')}>
                      {credential.id}
                    </div>
                  </th>
                  <td className={tdClass}>{t(`settings.credentials.kinds.${credential.kind}`)}</td>
                  <td className={`${tdClass} max-w-xs break-words`}>{credential.description}</td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={credential.secret_updated_at} />
                  </td>
                  <td className={`${tdClass} text-right`}>
                    <div className="flex flex-wrap justify-end gap-1">
                      <Button
                        size="sm"
                        disabled={!isAdmin}
                        disabledReason={reason}
                        aria-label={t('settings.credentials.editNamed', { name: credential.name })}
                        onClick={() => setEditing(credential)}
                      >
                        {t('settings.credentials.edit')}
                      </Button>
                      <Button
                        size="sm"
                        disabled={!isAdmin}
                        disabledReason={reason}
                        aria-label={t('settings.credentials.rotateNamed', { name: credential.name })}
                        onClick={() => setRotating(credential)}
                      >
                        {t('settings.credentials.rotate')}
                      </Button>
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-destructive"
                        disabled={!isAdmin}
                        disabledReason={reason}
                        aria-label={t('settings.credentials.deleteNamed', { name: credential.name })}
                        onClick={() => setDeleting(credential)}
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
      <Dialog open={creating} onOpenChange={setCreating} title={t('settings.credentials.createTitle')} description={t('settings.credentials.writeOnly')}>
        {creating && <CreateCredentialForm onDone={() => setCreating(false)} />}
      </Dialog>
      <Dialog
        open={editing !== null}
        onOpenChange={(open) => !open && setEditing(null)}
        title={t('settings.credentials.editTitle', { name: editing?.name ?? '' })}
      >
        {editing && <EditCredentialForm credential={editing} onDone={() => setEditing(null)} />}
      </Dialog>
      <Dialog
        open={rotating !== null}
        onOpenChange={(open) => !open && setRotating(null)}
        title={t('settings.credentials.rotateTitle', { name: rotating?.name ?? '' })}
        description={t('settings.credentials.rotateDescription')}
      >
        {rotating && <RotateCredentialForm credential={rotating} onDone={() => setRotating(null)} />}
      </Dialog>
      <ConfirmAction
        open={deleting !== null}
        onOpenChange={(open) => !open && setDeleting(null)}
        title={t('settings.credentials.deleteTitle', { name: deleting?.name ?? '' })}
        confirmLabel={t('settings.credentials.deleteConfirm')}
        conflictLead={t('agents.widgets.inUse')}
        danger
        onConfirm={async () => {
          if (!deleting) return;
          unwrap(
            await api.DELETE('/api/v1/credentials/{id}', {
              params: { path: { id: deleting.id }, header: { 'If-Match': ifMatch(deleting.version) } },
            }),
          );
          toast.success(t('settings.credentials.deleted', { name: deleting.name }));
          await queryClient.invalidateQueries({ queryKey: ['credentials'] });
        }}
      >
        <p>{t('settings.credentials.deleteBody', { name: deleting?.name ?? '' })}</p>
        <p className="mt-2 text-muted-foreground">{t('settings.credentials.deleteRule')}</p>
      </ConfirmAction>
    </section>
  );
}

/** The inputs of a kind's secret; errors from the server's `secret.<field>`. */
function SecretFields({
  kind,
  values,
  onChange,
  error,
  idPrefix,
}: {
  kind: CredentialKind;
  values: Record<string, string>;
  onChange: (values: Record<string, string>) => void;
  error: unknown;
  idPrefix: string;
}) {
  const { t } = useTranslation();
  const whole = fieldError(error, 'secret');
  return (
    <fieldset className="flex flex-col gap-3 rounded-md border border-border p-3">
      <legend className="px-1 text-sm font-medium">{t('settings.credentials.secret', { kind: t(`settings.credentials.kinds.${kind}`) })}</legend>
      {whole && (
        <p role="alert" className="text-xs text-destructive">
          {whole}
        </p>
      )}
      {SECRET_FIELDS[kind].map((field) => {
        const id = `${idPrefix}-secret-${field.name}`;
        const message = fieldError(error, `secret.${field.name}`);
        const active = fieldActive(kind, field.name, values);
        const help = field.optional ? t('settings.credentials.optional') : undefined;
        const label = t(`settings.credentials.fields.${field.name}`);
        const common = {
          ...describedBy(id, { help, error: message }),
          disabled: !active,
          onChange: (e: { target: { value: string } }) => onChange({ ...values, [field.name]: e.target.value }),
          value: values[field.name] ?? (field.input === 'select' ? 'none' : ''),
          className: 'disabled:cursor-not-allowed disabled:bg-muted disabled:opacity-60',
        };
        return (
          <Field key={field.name} id={id} label={label} help={help} error={message}>
            {field.input === 'select' ? (
              <Select {...common}>
                {(field.options ?? []).map((option) => (
                  <option key={option} value={option}>
                    {option === 'none' ? t('settings.credentials.none') : option.toUpperCase()}
                  </option>
                ))}
              </Select>
            ) : field.input === 'textarea' ? (
              <Textarea {...common} className={`${common.className} font-mono text-xs`} rows={6} spellCheck={false} autoComplete="off" />
            ) : (
              <Input {...common} type={field.input} autoComplete={field.input === 'password' ? 'new-password' : 'off'} spellCheck={false} />
            )}
          </Field>
        );
      })}
    </fieldset>
  );
}

const secretFieldPaths = (kind: CredentialKind) => ['secret', ...SECRET_FIELDS[kind].map((f) => `secret.${f.name}`)];

function CreateCredentialForm({ onDone }: { onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [kind, setKind] = useState<CredentialKind>('snmp_community');
  const [values, setValues] = useState<Record<string, string>>({});
  const create = useMutation({
    mutationFn: async (body: Schemas['NewCredential']) => unwrap(await api.POST('/api/v1/credentials', { body })),
    // The variables hold the secret: drop the mutation from the cache once the form is gone.
    gcTime: 0,
    onSuccess: async (created) => {
      setValues({});
      toast.success(t('settings.credentials.created', { name: created.name }));
      await queryClient.invalidateQueries({ queryKey: ['credentials'] });
      onDone();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name: name.trim(), kind, description: description.trim(), secret: asSecret(buildSecret(kind, values)) });
  }
  const nameError = fieldError(create.error, 'name');
  const descriptionError = fieldError(create.error, 'description');
  const kindError = fieldError(create.error, 'kind');
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <Field id={`${id}-name`} label={t('settings.credentials.name')} error={nameError}>
        <Input {...describedBy(`${id}-name`, { error: nameError })} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" autoFocus />
      </Field>
      <Field id={`${id}-kind`} label={t('settings.credentials.kind')} error={kindError}>
        <Select
          {...describedBy(`${id}-kind`, { error: kindError })}
          value={kind}
          onChange={(e) => {
            setKind(e.target.value as CredentialKind);
            setValues({});
          }}
        >
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {t(`settings.credentials.kinds.${k}`)}
            </option>
          ))}
        </Select>
      </Field>
      <Field id={`${id}-description`} label={t('settings.credentials.descriptionLabel')} error={descriptionError}>
        <Input
          {...describedBy(`${id}-description`, { error: descriptionError })}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <SecretFields kind={kind} values={values} onChange={setValues} error={create.error} idPrefix={id} />
      <FormAlert message={formError(create.error, ['name', 'kind', 'description', ...secretFieldPaths(kind)])} />
      <FormActions onCancel={onDone} busy={create.isPending} submitLabel={t('settings.credentials.create')} />
    </form>
  );
}

function useUpdateCredential(credential: Credential, onDone: () => void, doneMessage: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: Schemas['CredentialUpdate']) =>
      unwrap(
        await api.PUT('/api/v1/credentials/{id}', {
          params: { path: { id: credential.id }, header: { 'If-Match': ifMatch(credential.version) } },
          body,
        }),
      ),
    // A rotation's variables hold the new secret: drop the mutation from the cache once the
    // form is gone.
    gcTime: 0,
    onSuccess: async () => {
      toast.success(doneMessage);
      await queryClient.invalidateQueries({ queryKey: ['credentials'] });
      onDone();
    },
  });
}

function EditCredentialForm({ credential, onDone }: { credential: Credential; onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const [name, setName] = useState(credential.name);
  const [description, setDescription] = useState(credential.description);
  const save = useUpdateCredential(credential, onDone, t('settings.credentials.saved', { name: name.trim() }));
  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate({ name: name.trim(), description: description.trim() });
  }
  const nameError = fieldError(save.error, 'name');
  const descriptionError = fieldError(save.error, 'description');
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <Field id={`${id}-name`} label={t('settings.credentials.name')} error={nameError}>
        <Input {...describedBy(`${id}-name`, { error: nameError })} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" autoFocus />
      </Field>
      <Field id={`${id}-description`} label={t('settings.credentials.descriptionLabel')} error={descriptionError}>
        <Input
          {...describedBy(`${id}-description`, { error: descriptionError })}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <FormAlert message={formError(save.error, ['name', 'description'])} />
      <FormActions onCancel={onDone} busy={save.isPending} submitLabel={t('common.save')} />
    </form>
  );
}

function RotateCredentialForm({ credential, onDone }: { credential: Credential; onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const [values, setValues] = useState<Record<string, string>>({});
  const save = useUpdateCredential(credential, onDone, t('settings.credentials.rotated', { name: credential.name }));
  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate({ secret: asSecret(buildSecret(credential.kind, values)) });
  }
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
      <SecretFields kind={credential.kind} values={values} onChange={setValues} error={save.error} idPrefix={id} />
      <FormAlert message={formError(save.error, secretFieldPaths(credential.kind))} />
      <FormActions onCancel={onDone} busy={save.isPending} submitLabel={t('settings.credentials.rotateConfirm')} />
    </form>
  );
}
