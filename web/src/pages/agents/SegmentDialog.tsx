// Creating a segment or replacing its CIDRs (`PUT /api/v1/segments/{name}`): one CIDR a line,
// checked in the browser as a preview (the controller is the authority and names the line).
import { useId, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import ipaddr from 'ipaddr.js';
import { api, ApiError, unwrap, type Schemas } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { Button, Field, Input } from '../../components/ui';
import { describedBy, fieldError, FormAlert, formError, Textarea } from '../../components/widgets';

const NAME = /^[a-z0-9_-]{1,63}$/;

export function parseCidrLines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/** Problems with CIDR lines as `{index, cidr}` (index into the parsed list). */
export function invalidCidrs(cidrs: string[]): { index: number; cidr: string }[] {
  return cidrs.flatMap((cidr, index) => (ipaddr.isValidCIDR(cidr) ? [] : [{ index, cidr }]));
}

/** The server's `cidrs[i]` messages as lines naming the CIDR. */
function serverCidrErrors(error: unknown, cidrs: string[]): string[] {
  if (!(error instanceof ApiError)) return [];
  return (error.problem.errors ?? []).flatMap((e) => {
    const match = /^cidrs\[(\d+)\]$/.exec(e.field);
    if (!match) return e.field === 'cidrs' ? [e.message] : [];
    return [`${cidrs[Number(match[1])] ?? match[1]}: ${e.message}`];
  });
}

export function SegmentDialog({
  open,
  onOpenChange,
  segment,
  existing,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** The segment to edit; absent to create one. */
  segment?: Schemas['Segment'];
  existing: string[];
}) {
  const { t } = useTranslation();
  return (
    <Dialog
      open={open}
      onOpenChange={onOpenChange}
      title={segment ? t('agents.segments.editTitle', { name: segment.name }) : t('agents.segments.createTitle')}
      description={t('agents.segments.dialogDescription')}
    >
      {open && <SegmentForm segment={segment} existing={existing} onDone={() => onOpenChange(false)} />}
    </Dialog>
  );
}

function SegmentForm({ segment, existing, onDone }: { segment?: Schemas['Segment']; existing: string[]; onDone: () => void }) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [name, setName] = useState(segment?.name ?? '');
  const [text, setText] = useState((segment?.cidrs ?? []).join('\n'));
  const [localErrors, setLocalErrors] = useState<{ name?: string; cidrs?: string[] }>({});
  const cidrs = parseCidrLines(text);

  const save = useMutation({
    mutationFn: async () =>
      unwrap(await api.PUT('/api/v1/segments/{name}', { params: { path: { name: name.trim() } }, body: { cidrs } })),
    onSuccess: async (saved) => {
      toast.success(segment ? t('agents.segments.saved', { name: saved.name }) : t('agents.segments.created', { name: saved.name }));
      await queryClient.invalidateQueries({ queryKey: ['segments'] });
      onDone();
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    const errors: { name?: string; cidrs?: string[] } = {};
    const trimmed = name.trim();
    if (!segment) {
      if (!NAME.test(trimmed)) errors.name = t('agents.segments.nameRule');
      else if (existing.includes(trimmed)) errors.name = t('agents.segments.nameTaken', { name: trimmed });
    }
    const bad = invalidCidrs(cidrs);
    if (bad.length > 0) errors.cidrs = bad.map((b) => t('agents.segments.badCidr', { cidr: b.cidr }));
    setLocalErrors(errors);
    if (errors.name || errors.cidrs) return;
    save.mutate();
  }

  const nameError = localErrors.name ?? fieldError(save.error, 'name');
  const cidrErrors = localErrors.cidrs ?? serverCidrErrors(save.error, cidrs);
  const cidrError = cidrErrors.length > 0 ? cidrErrors.join('; ') : undefined;
  const shown = ['name', 'cidrs', ...cidrs.map((_, i) => `cidrs[${i}]`)];

  return (
    <form onSubmit={submit} className="flex flex-col gap-4" noValidate>
      {!segment && (
        <Field id={`${id}-name`} label={t('agents.segments.name')} help={t('agents.segments.nameHelp')} error={nameError}>
          <Input
            {...describedBy(`${id}-name`, { help: true, error: nameError })}
            value={name}
            onChange={(e) => setName(e.target.value)}
            autoComplete="off"
            required
            autoFocus
          />
        </Field>
      )}
      <Field id={`${id}-cidrs`} label={t('agents.segments.cidrs')} help={t('agents.segments.cidrsHelp')} error={cidrError}>
        <Textarea
          {...describedBy(`${id}-cidrs`, { help: true, error: cidrError })}
          value={text}
          onChange={(e) => setText(e.target.value)}
          className="font-mono"
          rows={6}
          spellCheck={false}
          placeholder="10.20.0.0/16"
        />
      </Field>
      <p className="text-xs text-muted-foreground">{t('agents.segments.cidrCount', { count: cidrs.length })}</p>
      <FormAlert message={formError(save.error, shown)} />
      <div className="flex justify-end gap-2">
        <Button onClick={onDone} disabled={save.isPending}>
          {t('common.cancel')}
        </Button>
        <Button type="submit" variant="primary" disabled={save.isPending}>
          {segment ? t('agents.segments.save') : t('agents.segments.create')}
        </Button>
      </div>
    </form>
  );
}
