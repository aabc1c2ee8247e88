// Creating a one-time enrollment token for a segment (admins). The token is shown once, with
// a copy button and how an agent uses it; closing the dialog forgets it.
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation } from '@tanstack/react-query';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { Button, Field } from '../../components/ui';
import { describedBy, fieldError, FormAlert, formError, SecretOnce, Select } from '../../components/widgets';

const TTLS = [3600, 86_400, 7 * 86_400, 30 * 86_400] as const;
const TTL_KEYS: Record<(typeof TTLS)[number], string> = {
  3600: 'agents.enroll.ttl.hour',
  86_400: 'agents.enroll.ttl.day',
  604_800: 'agents.enroll.ttl.week',
  2_592_000: 'agents.enroll.ttl.month',
};

/** The file the usage example keeps the token in. */
const TOKEN_FILE = 'enrollment-token';
/** The controller's default gRPC port (`grpc_listen`), which agents connect to. */
export const DEFAULT_GRPC_PORT = 50051;

/**
 * How an agent uses a token: the enrollment setting, on its first start only. The token goes
 * into a file only its owner can read, never onto a command line (shell history, `ps`): the
 * agent takes it from `OPSCONDUCTOR_ENROLLMENT_TOKEN` (there is no token-file setting), filled
 * from the file by the shell. The controller is assumed on this page's host, default port.
 */
export function EnrollmentUsage({ host = typeof location === 'undefined' ? '' : location.hostname }: { host?: string }) {
  const { t } = useTranslation();
  const controller = `http://${host || 'controller'}:${DEFAULT_GRPC_PORT}`;
  const save = `install -m 600 /dev/null ${TOKEN_FILE}\ncat > ${TOKEN_FILE}`;
  const command = `OPSCONDUCTOR_ENROLLMENT_TOKEN="$(cat ${TOKEN_FILE})" \\\n  OPSCONDUCTOR_CONTROLLER_URL=${controller} \\\n  opsconductor agent`;
  return (
    <div className="flex flex-col gap-1 text-sm">
      <p>{t('agents.enroll.usage')}</p>
      <p>{t('agents.enroll.usageFile', { file: TOKEN_FILE })}</p>
      <pre className="overflow-x-auto rounded-md bg-muted p-2 font-mono text-xs" aria-label={t('agents.enroll.usageFileExample')}>
        {save}
      </pre>
      <p>{t('agents.enroll.usageRun')}</p>
      <pre className="overflow-x-auto rounded-md bg-muted p-2 font-mono text-xs" aria-label={t('agents.enroll.usageExample')}>
        {command}
      </pre>
      <p className="text-xs text-muted-foreground">{t('agents.enroll.usageEnv', { port: DEFAULT_GRPC_PORT })}</p>
      <p className="text-xs text-muted-foreground">{t('agents.enroll.usageNote', { file: TOKEN_FILE })}</p>
    </div>
  );
}

/**
 * The form: segment (fixed or chosen) and life; after creating, the token once. `canCreate`
 * false shows the form disabled with the reason.
 */
export function EnrollmentTokenForm({
  segments,
  segment: fixedSegment,
  canCreate,
}: {
  segments: string[];
  segment?: string;
  canCreate: boolean;
}) {
  const { t } = useTranslation();
  const id = useId();
  const [segment, setSegment] = useState(fixedSegment ?? segments[0] ?? '');
  const [ttl, setTtl] = useState<number>(86_400);
  const create = useMutation({
    mutationFn: async (body: Schemas['TokenRequest']) => unwrap(await api.POST('/api/v1/enrollment-tokens', { body })),
    // The answer holds the token: do not keep it in the mutation cache once the form is gone.
    gcTime: 0,
    onSuccess: (created) => toast.success(t('agents.enroll.created', { segment: created.segment })),
  });
  const created = create.data;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!segment) return;
    create.mutate({ segment, ttl_seconds: ttl });
  }

  if (created) {
    return (
      <div className="flex flex-col gap-3">
        <SecretOnce value={created.token} label={t('agents.enroll.tokenLabel', { segment: created.segment })}>
          <p className="text-xs text-muted-foreground">
            {t('agents.enroll.validFor', { ttl: t(TTL_KEYS[created.ttl_seconds as (typeof TTLS)[number]] ?? 'agents.enroll.ttl.seconds', { count: created.ttl_seconds }) })}
          </p>
        </SecretOnce>
        <EnrollmentUsage />
        <div>
          <Button onClick={() => create.reset()}>{t('agents.enroll.another')}</Button>
        </div>
      </div>
    );
  }

  const segmentError = fieldError(create.error, 'segment');
  const ttlError = fieldError(create.error, 'ttl_seconds');
  const reason = canCreate ? undefined : t('common.requiresRole', { role: t('roles.admin') });
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" aria-label={t('agents.enroll.formLabel')}>
      {fixedSegment === undefined && (
        <Field id={`${id}-segment`} label={t('agents.enroll.segment')} error={segmentError} help={segments.length === 0 ? t('agents.enroll.noSegments') : undefined}>
          <Select
            {...describedBy(`${id}-segment`, { error: segmentError, help: segments.length === 0 })}
            value={segment}
            onChange={(e) => setSegment(e.target.value)}
            disabled={!canCreate || segments.length === 0}
          >
            {segments.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </Select>
        </Field>
      )}
      <Field id={`${id}-ttl`} label={t('agents.enroll.ttlLabel')} error={ttlError} help={t('agents.enroll.ttlHelp')}>
        <Select
          {...describedBy(`${id}-ttl`, { error: ttlError, help: true })}
          value={ttl}
          onChange={(e) => setTtl(Number(e.target.value))}
          disabled={!canCreate}
        >
          {TTLS.map((seconds) => (
            <option key={seconds} value={seconds}>
              {t(TTL_KEYS[seconds])}
            </option>
          ))}
        </Select>
      </Field>
      <FormAlert message={formError(create.error, ['segment', 'ttl_seconds'])} />
      <div>
        <Button type="submit" variant="primary" disabled={!canCreate || !segment || create.isPending} disabledReason={reason}>
          {create.isPending ? t('agents.enroll.creating') : t('agents.enroll.create')}
        </Button>
      </div>
    </form>
  );
}

/** The form in a dialog for one segment. */
export function EnrollmentTokenDialog({
  segment,
  open,
  onOpenChange,
}: {
  segment: string | null;
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const { t } = useTranslation();
  return (
    <Dialog
      open={open}
      onOpenChange={onOpenChange}
      title={t('agents.enroll.title', { segment: segment ?? '' })}
      description={t('agents.enroll.description')}
      footer={<Button onClick={() => onOpenChange(false)}>{t('common.close')}</Button>}
    >
      {segment && <EnrollmentTokenForm segments={[segment]} segment={segment} canCreate />}
    </Dialog>
  );
}
