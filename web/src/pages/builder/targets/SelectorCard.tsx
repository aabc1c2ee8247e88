// One selector of `targets.include`: a network range, a host list, an uploaded file or an
// inventory group, each with its problems next to its field.
import { useId } from 'react';
import { useTranslation } from 'react-i18next';
import { ArrowDown, ArrowUp, FileUp, List, Network, Trash2, Users, type LucideIcon } from 'lucide-react';
import { Button } from '../../../components/ui';
import type { InvalidLine, Selector } from './preview';
import { lineOfEntry, useLinesDraft } from './lines';
import type { SelectorType, TargetSource } from './sources';
import { FileSelectorEditor } from './FileSelectorEditor';
import { GroupPicker } from './GroupPicker';
import { ErrorList, describedBy } from './ErrorList';

export const SELECTOR_ICONS: Record<SelectorType, LucideIcon> = {
  range: Network,
  hosts: List,
  file: FileUp,
  group: Users,
};

const textareaClass =
  'w-full rounded-md border border-input bg-background px-3 py-2 font-mono text-sm placeholder:text-muted-foreground aria-[invalid=true]:border-destructive';

export function SelectorCard({
  selector,
  index,
  position,
  total,
  field,
  source,
  errors,
  invalid,
  invalidOmitted,
  onChange,
  onRemove,
  onMove,
}: {
  selector: Selector;
  /** Position among selectors of the same type, 1-based (for names: "Network range 2"). */
  index: number;
  /** Position in the list, 0-based. */
  position: number;
  total: number;
  field: string;
  source?: TargetSource;
  errors: Map<string, string[]>;
  invalid: InvalidLine[];
  invalidOmitted: number;
  onChange: (next: Selector) => void;
  onRemove?: () => void;
  onMove: (delta: -1 | 1) => void;
}) {
  const { t } = useTranslation();
  const id = useId();
  const Icon = SELECTOR_ICONS[selector.type];
  const title = t(`targets.types.${selector.type}`, { n: index });
  const cardErrors = errors.get(field) ?? [];
  const fieldUi = (name: string) => source?.ui?.fields?.[name];

  return (
    <fieldset className="flex flex-col gap-3 rounded-lg border border-border bg-card p-3" aria-describedby={describedBy(id, cardErrors)}>
      <legend className="sr-only">{title}</legend>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <p className="flex items-center gap-1.5 text-sm font-semibold" aria-hidden="true">
          <Icon className="size-4 text-muted-foreground" />
          {title}
        </p>
        <div className="flex items-center gap-1">
          {total > 1 && (
            <>
              <Button size="sm" variant="ghost" aria-label={t('targets.moveUp', { name: title })} disabled={position === 0} onClick={() => onMove(-1)}>
                <ArrowUp className="size-4" aria-hidden="true" />
              </Button>
              <Button
                size="sm"
                variant="ghost"
                aria-label={t('targets.moveDown', { name: title })}
                disabled={position === total - 1}
                onClick={() => onMove(1)}
              >
                <ArrowDown className="size-4" aria-hidden="true" />
              </Button>
            </>
          )}
          {onRemove && (
            <Button size="sm" variant="ghost" aria-label={t('targets.remove', { name: title })} onClick={onRemove}>
              <Trash2 className="size-4" aria-hidden="true" />
            </Button>
          )}
        </div>
      </div>

      {selector.type === 'range' && (
        <RangeEditor
          id={id}
          value={selector.value}
          onChange={(value) => onChange({ type: 'range', value })}
          errors={errors.get(`${field}.value`) ?? []}
          placeholder={fieldUi('value')?.placeholder ?? '10.0.0.0/24 10.0.1.1-10.0.1.50'}
        />
      )}
      {selector.type === 'hosts' && (
        <HostsEditor id={id} hosts={selector.hosts} onChange={(hosts) => onChange({ type: 'hosts', hosts })} field={`${field}.hosts`} errors={errors} placeholder={fieldUi('hosts')?.placeholder} />
      )}
      {selector.type === 'file' && (
        <FileSelectorEditor value={selector} onChange={onChange} field={field} errors={errors} invalid={invalid} invalidOmitted={invalidOmitted} />
      )}
      {selector.type === 'group' && (
        <GroupPicker id={id} group={selector.group} onChange={(group) => onChange({ type: 'group', group })} errors={errors.get(`${field}.group`) ?? []} invalid={invalid.filter((l) => l.field === `${field}.group`)} placeholder={fieldUi('group')?.placeholder} />
      )}

      <ErrorList id={id} messages={cardErrors} />
    </fieldset>
  );
}

function RangeEditor({ id, value, onChange, errors, placeholder }: { id: string; value: string; onChange: (v: string) => void; errors: string[]; placeholder: string }) {
  const { t } = useTranslation();
  const inputId = `${id}-range`;
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={inputId} className="text-sm font-medium">
        {t('targets.range.label')}
      </label>
      <textarea
        id={inputId}
        rows={3}
        value={value}
        spellCheck={false}
        autoComplete="off"
        placeholder={placeholder}
        aria-invalid={errors.length > 0 || undefined}
        aria-describedby={describedBy(inputId, errors, true)}
        onChange={(e) => onChange(e.target.value)}
        className={textareaClass}
      />
      <p id={`${inputId}-help`} className="text-xs text-muted-foreground">
        {t('targets.range.help')}
      </p>
      <ErrorList id={inputId} messages={errors} />
    </div>
  );
}

function HostsEditor({
  id,
  hosts,
  onChange,
  field,
  errors,
  placeholder,
}: {
  id: string;
  hosts: string[];
  onChange: (hosts: string[]) => void;
  field: string;
  errors: Map<string, string[]>;
  placeholder?: string;
}) {
  const { t } = useTranslation();
  const [text, setText] = useLinesDraft(hosts, onChange);
  const inputId = `${id}-hosts`;
  const messages: string[] = [...(errors.get(field) ?? [])];
  for (const [f, list] of errors) {
    const m = f.startsWith(`${field}[`) ? /\[(\d+)\]$/.exec(f) : null;
    if (!m) continue;
    const line = lineOfEntry(text, Number(m[1]));
    for (const message of list) messages.push(line ? t('targets.lineError', { line, message }) : message);
  }
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={inputId} className="text-sm font-medium">
        {t('targets.hosts.label')}
      </label>
      <textarea
        id={inputId}
        rows={4}
        value={text}
        spellCheck={false}
        autoComplete="off"
        placeholder={placeholder ?? 'core-sw1.example.net\n10.1.1.1'}
        aria-invalid={messages.length > 0 || undefined}
        aria-describedby={describedBy(inputId, messages, true)}
        onChange={(e) => setText(e.target.value)}
        className={textareaClass}
      />
      <p id={`${inputId}-help`} className="text-xs text-muted-foreground">
        {t('targets.hosts.help', { count: hosts.length })}
      </p>
      <ErrorList id={inputId} messages={messages} />
    </div>
  );
}
