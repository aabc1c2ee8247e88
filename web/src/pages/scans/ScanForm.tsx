// A new scan: the range (the Job Builder's target picker, with its live count), the
// discovery profile (ping, TCP ports, SNMP, SSH banner, web pages) and the execution
// options. Checked here as it is typed; the server's problems are shown at their fields.
import { useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Plus, Radar, Trash2 } from 'lucide-react';
import { toast } from 'sonner';
import { ApiError, api, unwrap } from '../../api/client';
import { Button, Card, Field, Input } from '../../components/ui';
import { describedBy, FormAlert, formError, Select } from '../../components/widgets';
import { useSnmpCredentials, type ScanSpec, type ScanView } from '../../lib/inventory';
import { TargetPicker } from '../builder/targets/TargetPicker';
import { useSegments } from '../builder/queries';
import { buildSpec, CONCURRENCY, emptyDraft, HOST_TIMEOUT, MAX_WEB_PAGES, parsePorts, validateDraft, type ScanDraft, type SnmpVersion, type WebScheme } from './model';

/** The server's problems: by field path, in order. */
function problemsOf(error: unknown): { field: string; message: string }[] {
  return error instanceof ApiError ? (error.problem.errors ?? []) : [];
}

function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  const id = useId();
  return (
    <Card className="flex flex-col gap-4 p-4" role="region" aria-labelledby={id} data-testid={testId}>
      <h2 id={id} className="text-base font-semibold">
        {title}
      </h2>
      {children}
    </Card>
  );
}

function Checkbox({ id, label, help, checked, onChange }: { id: string; label: string; help?: string; checked: boolean; onChange: (checked: boolean) => void }) {
  return (
    <div className="flex flex-col gap-1">
      <div className="flex items-center gap-2">
        <input
          id={id}
          type="checkbox"
          className="size-4"
          checked={checked}
          aria-describedby={help ? `${id}-help` : undefined}
          onChange={(e) => onChange(e.target.checked)}
        />
        <label htmlFor={id} className="text-sm font-medium">
          {label}
        </label>
      </div>
      {help && (
        <p id={`${id}-help`} className="pl-6 text-xs text-muted-foreground">
          {help}
        </p>
      )}
    </div>
  );
}

export function ScanForm({ onCancel }: { onCancel: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<ScanDraft>(emptyDraft);
  const [submitted, setSubmitted] = useState(false);
  const nextKey = useRef(0);
  const credentials = useSnmpCredentials(draft.snmp);
  const segments = useSegments();
  const set = <K extends keyof ScanDraft>(key: K, value: ScanDraft[K]) => setDraft((d) => ({ ...d, [key]: value }));

  const start = useMutation({
    mutationFn: async (spec: ScanSpec) => unwrap(await api.POST('/api/v1/scans', { body: spec })),
    onSuccess: async (scan: ScanView) => {
      queryClient.setQueryData(['scan', scan.id], scan);
      void queryClient.invalidateQueries({ queryKey: ['scans'] });
      toast.success(t('scans.form.started', { label: scan.label }));
      await navigate(`/scans/${scan.id}`);
    },
  });

  // Local problems: the ports as they are typed, the rest once a start was tried.
  const local = useMemo(() => validateDraft(draft), [draft]);
  const localError = (field: string) => (submitted || field === 'profile.tcp_ports' ? local.get(field) : undefined);

  // The server's problems, by the field they are shown at.
  const server = problemsOf(start.error);
  const serverError = (field: string) => server.filter((p) => p.field === field).map((p) => p.message).join(' ') || undefined;
  const portEntries = parsePorts(draft.ports).ports;
  const serverPorts = server
    .filter((p) => p.field.startsWith('profile.tcp_ports'))
    .map((p) => {
      const m = /^profile\.tcp_ports\[(\d+)\]$/.exec(p.field);
      return m ? t('scans.form.ports.entry', { port: portEntries[Number(m[1])] ?? Number(m[1]) + 1, message: p.message }) : p.message;
    });
  const targetErrors = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const p of problemsOf(start.error)) {
      if (!p.field.startsWith('targets.')) continue;
      const field = p.field.slice('targets.'.length);
      map.set(field, [...(map.get(field) ?? []), p.message]);
    }
    return map;
  }, [start.error]);

  const error = (field: string) => localError(field) ?? serverError(field);
  const portsError = localError('profile.tcp_ports') ?? (serverPorts.join(' ') || undefined);
  const webError = (i: number, part: 'scheme' | 'port') => (part === 'port' ? localError(`profile.web[${i}].port`) : undefined) ?? serverError(`profile.web[${i}].${part}`);

  // Every server problem shown at a field above; the rest go to the form's alert.
  const placedFields = new Set(['name', 'targets', 'profile', 'profile.tcp_ports', 'profile.snmp', 'profile.snmp.credential', 'profile.snmp.community', 'profile.snmp.version', 'profile.snmp.port', 'profile.ssh_port', 'profile.web', 'options.concurrency', 'options.host_timeout_ms', 'options.segment']);
  const shown = server
    .map((p) => p.field)
    .filter((f) => placedFields.has(f) || f.startsWith('profile.tcp_ports[') || /^profile\.web\[\d+\]\.(scheme|port)$/.test(f) || (f.startsWith('targets.') && f !== 'targets.'));

  const ids = {
    name: `${id}-name`,
    targets: `${id}-targets`,
    ping: `${id}-ping`,
    ports: `${id}-ports`,
    profile: `${id}-profile`,
    snmp: `${id}-snmp`,
    credential: `${id}-snmp-credential`,
    community: `${id}-snmp-community`,
    version: `${id}-snmp-version`,
    snmpPort: `${id}-snmp-port`,
    ssh: `${id}-ssh`,
    sshPort: `${id}-ssh-port`,
    concurrency: `${id}-concurrency`,
    hostTimeout: `${id}-host-timeout`,
    segment: `${id}-segment`,
  };
  const fieldIds: Record<string, string> = {
    'profile.tcp_ports': ids.ports,
    'profile.snmp.credential': ids.credential,
    'profile.snmp.version': ids.version,
    'profile.snmp.port': ids.snmpPort,
    'profile.ssh_port': ids.sshPort,
    'options.concurrency': ids.concurrency,
    'options.host_timeout_ms': ids.hostTimeout,
    profile: ids.ping,
  };

  function submit(event: FormEvent) {
    event.preventDefault();
    setSubmitted(true);
    const problems = validateDraft(draft);
    if (problems.size > 0) {
      // Focus the first field with a problem (the range: its first text box).
      const [first] = problems.keys();
      requestAnimationFrame(() => {
        const web = /^profile\.web\[(\d+)\]/.exec(first);
        const target =
          first === 'targets'
            ? document.getElementById(ids.targets)?.querySelector<HTMLElement>('textarea, input')
            : document.getElementById(web ? `${id}-web-${web[1]}-port` : (fieldIds[first] ?? ''));
        target?.focus();
      });
      return;
    }
    start.mutate(buildSpec(draft));
  }

  const credentialList = credentials.data ?? [];
  const pickCredential = (value: string) => {
    const kind = credentialList.find((c) => c.id === value)?.kind;
    setDraft((d) => ({
      ...d,
      snmpCredential: value,
      snmpVersion: kind === 'snmp_v3' ? '3' : kind === 'snmp_community' && d.snmpVersion === '3' ? '2c' : d.snmpVersion,
    }));
  };
  const targetsError = localError('targets') ?? serverError('targets');

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4" aria-label={t('scans.form.title')} data-testid="scan-form">
      <Section title={t('scans.form.range')}>
        <div className="max-w-md">
          <Field id={ids.name} label={t('scans.form.name')} help={t('scans.form.nameHelp')} error={error('name')}>
            <Input {...describedBy(ids.name, { help: true, error: error('name') })} value={draft.name} maxLength={200} autoComplete="off" onChange={(e) => set('name', e.target.value)} />
          </Field>
        </div>
        <div id={ids.targets} className="flex flex-col gap-2">
          {targetsError && (
            <p role="alert" className="text-sm text-destructive" data-testid="scan-targets-error">
              {targetsError}
            </p>
          )}
          <TargetPicker value={draft.targets} onChange={(targets) => set('targets', targets)} segment={draft.segment || null} serverErrors={targetErrors} />
        </div>
      </Section>

      <Section title={t('scans.form.profile')}>
        <Checkbox id={ids.ping} label={t('scans.form.ping')} help={t('scans.form.pingHelp')} checked={draft.ping} onChange={(v) => set('ping', v)} />
        {error('profile') && (
          <p id={`${ids.profile}-error`} role="alert" className="text-sm text-destructive">
            {error('profile')}
          </p>
        )}
        <div className="max-w-xl">
          <Field id={ids.ports} label={t('scans.form.ports.label')} help={t('scans.form.ports.help')} error={portsError} live={false}>
            <Input
              {...describedBy(ids.ports, { help: true, error: portsError })}
              value={draft.ports}
              placeholder="22, 80, 443, 161"
              inputMode="numeric"
              autoComplete="off"
              spellCheck={false}
              className="font-mono"
              onChange={(e) => set('ports', e.target.value)}
            />
          </Field>
        </div>

        <fieldset className="flex flex-col gap-3 rounded-md border border-border p-3">
          <legend className="px-1 text-sm font-semibold">{t('scans.form.snmp.title')}</legend>
          <Checkbox id={ids.snmp} label={t('scans.form.snmp.enable')} help={t('scans.form.snmp.help')} checked={draft.snmp} onChange={(v) => set('snmp', v)} />
          {draft.snmp && (
            <div className="grid gap-3 md:grid-cols-2">
              <fieldset className="flex flex-col gap-1.5 md:col-span-2">
                <legend className="text-sm font-medium">{t('scans.form.snmp.auth')}</legend>
                <div className="flex flex-wrap gap-4">
                  {(['credential', 'community'] as const).map((auth) => (
                    <label key={auth} className="flex items-center gap-2 text-sm">
                      <input type="radio" name={`${id}-snmp-auth`} value={auth} checked={draft.snmpAuth === auth} onChange={() => set('snmpAuth', auth)} className="size-4" />
                      {t(`scans.form.snmp.auth_${auth}`)}
                    </label>
                  ))}
                </div>
              </fieldset>
              {draft.snmpAuth === 'credential' ? (
                <Field id={ids.credential} label={t('scans.form.snmp.credential')} help={t('scans.form.snmp.credentialHelp')} error={error('profile.snmp.credential')}>
                  <Select {...describedBy(ids.credential, { help: true, error: error('profile.snmp.credential') })} value={draft.snmpCredential} onChange={(e) => pickCredential(e.target.value)}>
                    <option value="">{credentials.isPending ? t('common.loading') : credentialList.length === 0 ? t('scans.form.snmp.noCredentials') : t('scans.form.snmp.chooseCredential')}</option>
                    {credentialList.map((c) => (
                      <option key={c.id} value={c.id}>
                        {t('scans.form.snmp.credentialOption', { name: c.name, kind: t(`settings.credentials.kinds.${c.kind}`) })}
                      </option>
                    ))}
                  </Select>
                </Field>
              ) : (
                <Field id={ids.community} label={t('scans.form.snmp.community')} help={t('scans.form.snmp.communityHelp')} error={error('profile.snmp.community')}>
                  <Input
                    {...describedBy(ids.community, { help: true, error: error('profile.snmp.community') })}
                    type="password"
                    autoComplete="off"
                    spellCheck={false}
                    placeholder="public"
                    value={draft.snmpCommunity}
                    onChange={(e) => set('snmpCommunity', e.target.value)}
                  />
                </Field>
              )}
              <Field id={ids.version} label={t('scans.form.snmp.version')} error={error('profile.snmp.version')}>
                <Select {...describedBy(ids.version, { error: error('profile.snmp.version') })} value={draft.snmpVersion} onChange={(e) => set('snmpVersion', e.target.value as SnmpVersion)}>
                  <option value="1">{t('scans.form.snmp.v1')}</option>
                  <option value="2c">{t('scans.form.snmp.v2c')}</option>
                  <option value="3">{t('scans.form.snmp.v3')}</option>
                </Select>
              </Field>
              <Field id={ids.snmpPort} label={t('scans.form.snmp.port')} error={error('profile.snmp.port')}>
                <Input
                  {...describedBy(ids.snmpPort, { error: error('profile.snmp.port') })}
                  type="number"
                  inputMode="numeric"
                  min={1}
                  max={65535}
                  placeholder="161"
                  value={draft.snmpPort}
                  onChange={(e) => set('snmpPort', e.target.value)}
                  className="max-w-32"
                />
              </Field>
            </div>
          )}
        </fieldset>

        <fieldset className="flex flex-col gap-3 rounded-md border border-border p-3">
          <legend className="px-1 text-sm font-semibold">{t('scans.form.ssh.title')}</legend>
          <Checkbox id={ids.ssh} label={t('scans.form.ssh.enable')} help={t('scans.form.ssh.help')} checked={draft.ssh} onChange={(v) => set('ssh', v)} />
          {draft.ssh && (
            <Field id={ids.sshPort} label={t('scans.form.ssh.port')} error={error('profile.ssh_port')}>
              <Input
                {...describedBy(ids.sshPort, { error: error('profile.ssh_port') })}
                type="number"
                inputMode="numeric"
                min={1}
                max={65535}
                placeholder="22"
                value={draft.sshPort}
                onChange={(e) => set('sshPort', e.target.value)}
                className="max-w-32"
              />
            </Field>
          )}
        </fieldset>

        <fieldset className="flex flex-col gap-3 rounded-md border border-border p-3" aria-describedby={`${id}-web-help`}>
          <legend className="px-1 text-sm font-semibold">{t('scans.form.web.title')}</legend>
          <p id={`${id}-web-help`} className="text-xs text-muted-foreground">
            {t('scans.form.web.help', { max: MAX_WEB_PAGES })}
          </p>
          {serverError('profile.web') && (
            <p role="alert" className="text-xs text-destructive">
              {serverError('profile.web')}
            </p>
          )}
          {draft.web.map((web, i) => {
            const schemeId = `${id}-web-${i}-scheme`;
            const portId = `${id}-web-${i}-port`;
            const schemeError = webError(i, 'scheme');
            const portError = webError(i, 'port');
            return (
              <div key={web.key} className="flex flex-wrap items-start gap-2" data-testid="web-page-row">
                <Field id={schemeId} label={t('scans.form.web.scheme', { n: i + 1 })} error={schemeError}>
                  <Select
                    {...describedBy(schemeId, { error: schemeError })}
                    value={web.scheme}
                    className="w-28"
                    onChange={(e) => set('web', draft.web.map((w, j) => (j === i ? { ...w, scheme: e.target.value as WebScheme } : w)))}
                  >
                    <option value="http">http</option>
                    <option value="https">https</option>
                  </Select>
                </Field>
                <Field id={portId} label={t('scans.form.web.port', { n: i + 1 })} error={portError}>
                  <Input
                    {...describedBy(portId, { error: portError })}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={65535}
                    placeholder={web.scheme === 'https' ? '443' : '80'}
                    value={web.port}
                    className="w-28"
                    onChange={(e) => set('web', draft.web.map((w, j) => (j === i ? { ...w, port: e.target.value } : w)))}
                  />
                </Field>
                <Button variant="ghost" size="sm" className="mt-6" aria-label={t('scans.form.web.remove', { n: i + 1 })} onClick={() => set('web', draft.web.filter((_, j) => j !== i))}>
                  <Trash2 className="size-4" aria-hidden="true" />
                </Button>
              </div>
            );
          })}
          <div>
            <Button
              size="sm"
              disabled={draft.web.length >= MAX_WEB_PAGES}
              disabledReason={t('scans.form.web.full', { max: MAX_WEB_PAGES })}
              onClick={() => set('web', [...draft.web, { key: nextKey.current++, scheme: draft.web.length === 0 ? 'http' : 'https', port: '' }])}
            >
              <Plus className="size-4" aria-hidden="true" />
              {t('scans.form.web.add')}
            </Button>
          </div>
        </fieldset>
      </Section>

      <details className="rounded-lg border border-border bg-card p-4" open={submitted && ['options.concurrency', 'options.host_timeout_ms', 'options.segment'].some((f) => error(f))}>
        <summary className="cursor-pointer text-base font-semibold">{t('scans.form.options')}</summary>
        <div className="mt-3 grid gap-3 md:grid-cols-3">
          <Field id={ids.concurrency} label={t('scans.form.concurrency')} help={t('scans.form.concurrencyHelp', { default: CONCURRENCY.default })} error={error('options.concurrency')}>
            <Input
              {...describedBy(ids.concurrency, { help: true, error: error('options.concurrency') })}
              type="number"
              inputMode="numeric"
              min={CONCURRENCY.min}
              max={CONCURRENCY.max}
              value={draft.concurrency}
              onChange={(e) => set('concurrency', e.target.value)}
            />
          </Field>
          <Field id={ids.hostTimeout} label={t('scans.form.hostTimeout')} help={t('scans.form.hostTimeoutHelp', { default: HOST_TIMEOUT.default })} error={error('options.host_timeout_ms')}>
            <Input
              {...describedBy(ids.hostTimeout, { help: true, error: error('options.host_timeout_ms') })}
              type="number"
              inputMode="numeric"
              min={HOST_TIMEOUT.min}
              max={HOST_TIMEOUT.max}
              step={100}
              value={draft.hostTimeout}
              onChange={(e) => set('hostTimeout', e.target.value)}
            />
          </Field>
          <Field id={ids.segment} label={t('scans.form.segment')} help={t('scans.form.segmentHelp')} error={error('options.segment')}>
            <Select {...describedBy(ids.segment, { help: true, error: error('options.segment') })} value={draft.segment} onChange={(e) => set('segment', e.target.value)}>
              <option value="">{t('scans.form.segmentAuto')}</option>
              {(segments.data ?? []).map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
            </Select>
          </Field>
        </div>
      </details>

      <FormAlert message={formError(start.error, shown)} />
      {submitted && local.size > 0 && (
        <p className="text-sm text-destructive" role="status" data-testid="scan-form-problems">
          {t('scans.form.fixProblems', { count: local.size })}
        </p>
      )}
      <div className="flex justify-end gap-2">
        <Button onClick={onCancel} disabled={start.isPending}>
          {t('common.cancel')}
        </Button>
        <Button type="submit" variant="primary" disabled={start.isPending}>
          <Radar className="size-4" aria-hidden="true" />
          {start.isPending ? t('scans.form.starting') : t('scans.form.start')}
        </Button>
      </div>
    </form>
  );
}
