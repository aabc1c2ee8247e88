// Bulk changes to the selected devices: add or remove tags, or delete them. Every dialog
// names how many devices it changes; the request goes out in chunks and the outcome says
// how many devices the server changed.
import { useId, useMemo, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { useQueryClient } from '@tanstack/react-query';
import { toast } from 'sonner';
import { api, ApiError, unwrap } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { Button, Field, Input } from '../../components/ui';
import { ConfirmAction, describedBy, FormAlert, formError } from '../../components/widgets';
import { BULK_CHUNK, parseTags, type Device } from '../../lib/inventory';
import { formatNumber } from '../runs/format';

type Bulk = { add_tags?: string[]; remove_tags?: string[]; delete?: boolean };

/** Sends one bulk change for every address, `BULK_CHUNK` at a time; the devices changed. */
export async function bulkChange(addresses: string[], change: Bulk): Promise<number> {
  let affected = 0;
  for (let i = 0; i < addresses.length; i += BULK_CHUNK) {
    const outcome = unwrap(await api.POST('/api/v1/devices/bulk', { body: { addresses: addresses.slice(i, i + BULK_CHUNK), ...change } }));
    affected += outcome.affected;
  }
  return affected;
}

function refresh(queryClient: ReturnType<typeof useQueryClient>) {
  void queryClient.invalidateQueries({ queryKey: ['devices'] });
  void queryClient.invalidateQueries({ queryKey: ['device'] });
  void queryClient.invalidateQueries({ queryKey: ['groups'] });
}

/** A few of the selected addresses, for the dialogs' text ("a, b, c and 5 more"). */
function sample(addresses: string[], t: TFunction): string {
  const shown = addresses.slice(0, 3).join(', ');
  return addresses.length > 3 ? t('inventory.bulk.andMore', { shown, count: addresses.length - 3 }) : shown;
}

export function BulkTagDialog({
  mode,
  onClose,
  addresses,
  devices,
}: {
  mode: 'add' | 'remove' | null;
  onClose: () => void;
  addresses: string[];
  /** The selected devices as loaded (their tags are offered for removal). */
  devices: Device[];
}) {
  const { t } = useTranslation();
  const id = useId();
  const queryClient = useQueryClient();
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const tags = parseTags(text);
  const count = addresses.length;
  const n = formatNumber(count);

  // The tags the selected devices carry, most used first (what "remove" is likely about).
  const present = useMemo(() => {
    if (mode !== 'remove') return [];
    const counts = new Map<string, number>();
    for (const d of devices) for (const tag of d.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 20);
  }, [devices, mode]);

  const close = () => {
    if (busy) return;
    setText('');
    setError(null);
    onClose();
  };

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (tags.length === 0 || !mode) return;
    setBusy(true);
    setError(null);
    try {
      const affected = await bulkChange(addresses, mode === 'add' ? { add_tags: tags } : { remove_tags: tags });
      toast.success(t(`inventory.bulk.${mode}Done`, { count: affected, n: formatNumber(affected), tags: tags.join(', ') }));
      refresh(queryClient);
      setText('');
      onClose();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  // Server problems name `add[i]` / `remove[i]` (the tags) or `addresses`.
  const tagField = mode === 'add' ? 'add' : 'remove';
  const tagErrors =
    error instanceof ApiError
      ? (error.problem.errors ?? []).filter((e) => e.field === tagField || e.field.startsWith(`${tagField}[`)).map((e) => {
          const m = /\[(\d+)\]$/.exec(e.field);
          return m && tags[Number(m[1])] !== undefined ? `${tags[Number(m[1])]}: ${e.message}` : e.message;
        })
      : [];
  const tagError = tagErrors.join(' ') || undefined;
  const shownFields = error instanceof ApiError ? (error.problem.errors ?? []).map((e) => e.field).filter((f) => f === tagField || f.startsWith(`${tagField}[`)) : [];
  const toggle = (tag: string) => setText((current) => {
    const list = parseTags(current);
    return (list.includes(tag) ? list.filter((x) => x !== tag) : [...list, tag]).join(', ');
  });

  return (
    <Dialog
      open={mode !== null}
      onOpenChange={(open) => !open && close()}
      title={mode === 'remove' ? t('inventory.bulk.removeTitle', { count, n }) : t('inventory.bulk.addTitle', { count, n })}
    >
      <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
        <p className="text-sm" data-testid="bulk-tag-text">
          {mode === 'remove' ? t('inventory.bulk.removeBody', { count, n, sample: sample(addresses, t) }) : t('inventory.bulk.addBody', { count, n, sample: sample(addresses, t) })}
        </p>
        <Field id={`${id}-tags`} label={t('inventory.bulk.tags')} help={t('inventory.bulk.tagsHelp')} error={tagError}>
          <Input {...describedBy(`${id}-tags`, { help: true, error: tagError })} value={text} autoComplete="off" spellCheck={false} autoFocus onChange={(e) => setText(e.target.value)} />
        </Field>
        {present.length > 0 && (
          <div role="group" aria-label={t('inventory.bulk.presentTags')} className="flex flex-wrap gap-1.5">
            {present.map(([tag, c]) => (
              <button
                key={tag}
                type="button"
                aria-pressed={tags.includes(tag)}
                onClick={() => toggle(tag)}
                className="rounded border border-border px-2 py-0.5 text-xs hover:bg-accent aria-pressed:bg-accent aria-pressed:font-medium"
              >
                {t('inventory.bulk.presentTag', { tag, count: c })}
              </button>
            ))}
          </div>
        )}
        <FormAlert message={formError(error, shownFields)} />
        <div className="flex justify-end gap-2">
          <Button onClick={close} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" variant="primary" disabled={busy || tags.length === 0} disabledReason={tags.length === 0 ? t('inventory.bulk.typeTags') : undefined}>
            {mode === 'remove' ? t('inventory.bulk.removeConfirm', { count, n }) : t('inventory.bulk.addConfirm', { count, n })}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export function BulkDeleteDialog({ open, onOpenChange, addresses, onDeleted }: { open: boolean; onOpenChange: (open: boolean) => void; addresses: string[]; onDeleted: () => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const count = addresses.length;
  const n = formatNumber(count);
  return (
    <ConfirmAction
      open={open}
      onOpenChange={onOpenChange}
      title={t('inventory.bulk.deleteTitle', { count, n })}
      confirmLabel={t('inventory.bulk.deleteConfirm', { count, n })}
      danger
      onConfirm={async () => {
        try {
          const affected = await bulkChange(addresses, { delete: true });
          toast.success(t('inventory.bulk.deleteDone', { count: affected, n: formatNumber(affected) }));
          onDeleted();
        } finally {
          refresh(queryClient);
        }
      }}
    >
      <p data-testid="bulk-delete-text">{t('inventory.bulk.deleteBody', { count, n, sample: sample(addresses, t) })}</p>
      <p className="mt-2 text-muted-foreground">{t('inventory.bulk.deleteEffect')}</p>
    </ConfirmAction>
  );
}
