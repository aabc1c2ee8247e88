// One action of the job: command, label, credential, generated parameter form, live
// preview, parsers with their test panel, success criteria and timeout. Reordering controls
// (drag handle, move up / down) sit in the card's header; the list owns the order.
import { useState, type DragEvent, type KeyboardEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ArrowDown, ArrowUp, GripVertical, Replace, Trash2 } from 'lucide-react';
import type { FieldProblem, Schemas } from '../../api/client';
import { Button, Card, Field, Input } from '../../components/ui';
import { describedBy } from './describedBy';
import { cn } from '../../lib/cn';
import { CommandPickerDialog } from './CommandPicker';
import { CommandPreview } from './CommandPreview';
import { ParamsForm } from './ParamsForm';
import { ParserPanel } from './ParserPanel';
import { CREDENTIAL_KINDS, problemsAt, type ActionSpec, type LibraryCommand, type LibraryParser } from './model';

export interface ActionCardProps {
  index: number;
  count: number;
  action: ActionSpec;
  commands: LibraryCommand[];
  parsers: LibraryParser[];
  credentials: Schemas['CredentialView'][];
  problems: FieldProblem[];
  segment?: string | null;
  canRun: boolean;
  runReason?: string;
  onChange: (action: ActionSpec) => void;
  onRemove: () => void;
  onMove: (to: number, control: 'up' | 'down' | 'handle') => void;
  /** Drag and drop, wired by the list. */
  drag: {
    dragging: boolean;
    over: boolean;
    onDragStart: (e: DragEvent) => void;
    onDragOver: (e: DragEvent) => void;
    onDrop: (e: DragEvent) => void;
    onDragEnd: () => void;
  };
}

export function ActionCard({
  index,
  count,
  action,
  commands,
  parsers,
  credentials,
  problems,
  segment,
  canRun,
  runReason,
  onChange,
  onRemove,
  onMove,
  drag,
}: ActionCardProps) {
  const { t } = useTranslation();
  const [picking, setPicking] = useState(false);
  const command = commands.find((c) => c.id === action.command);
  const p = `actions[${index}]`;
  const id = `action-${index}`;
  const title = command?.name ?? action.command;
  const n = index + 1;
  const at = (suffix: string) => problemsAt(problems, `${p}${suffix}`);
  const cardProblems = at('');

  const onHandleKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowUp' && index > 0) {
      e.preventDefault();
      onMove(index - 1, 'handle');
    } else if (e.key === 'ArrowDown' && index < count - 1) {
      e.preventDefault();
      onMove(index + 1, 'handle');
    } else if (e.key === 'Home' && index > 0) {
      e.preventDefault();
      onMove(0, 'handle');
    } else if (e.key === 'End' && index < count - 1) {
      e.preventDefault();
      onMove(count - 1, 'handle');
    }
  };

  const credentialKinds = command ? (CREDENTIAL_KINDS[command.kind] ?? []) : [];
  const usable = credentials.filter((c) => credentialKinds.includes(c.kind));
  const needsCredential = command && command.credential && command.credential !== 'none';

  return (
    <li
      onDragOver={drag.onDragOver}
      onDrop={drag.onDrop}
      className={cn('list-none', drag.dragging && 'opacity-50')}
    >
      <Card className={cn('flex flex-col', drag.over && 'ring-2 ring-ring')}>
        <section
          id={id}
          aria-label={t('builder.action.region', { n })}
          aria-describedby={cardProblems.length > 0 ? `${id}-problems` : undefined}
          data-testid={`action-card-${index}`}
          tabIndex={-1}
        >
          <header className="flex flex-wrap items-center gap-2 border-b border-border px-3 py-2">
            <button
              id={`${id}-handle`}
              type="button"
              className="cursor-grab rounded p-1 text-muted-foreground hover:bg-accent active:cursor-grabbing"
              aria-label={t('builder.action.handle', { n, count })}
              aria-describedby="builder-reorder-help"
              draggable
              onDragStart={(e) => {
                // Drag the whole card's picture, not just the handle's.
                const card = e.currentTarget.closest('li');
                if (card) e.dataTransfer.setDragImage(card, 16, 16);
                drag.onDragStart(e);
              }}
              onDragEnd={drag.onDragEnd}
              onKeyDown={onHandleKey}
            >
              <GripVertical className="size-4" aria-hidden="true" />
            </button>
            <h3 className="min-w-0 flex-1 truncate font-medium">
              {t('builder.action.title', { n, name: title })}
            </h3>
            <Button
              id={`${id}-up`}
              variant="ghost"
              size="sm"
              aria-label={t('builder.action.moveUp', { n })}
              disabled={index === 0}
              onClick={() => onMove(index - 1, 'up')}
            >
              <ArrowUp className="size-4" aria-hidden="true" />
            </Button>
            <Button
              id={`${id}-down`}
              variant="ghost"
              size="sm"
              aria-label={t('builder.action.moveDown', { n })}
              disabled={index === count - 1}
              onClick={() => onMove(index + 1, 'down')}
            >
              <ArrowDown className="size-4" aria-hidden="true" />
            </Button>
            <Button variant="ghost" size="sm" aria-label={t('builder.action.remove', { n })} onClick={onRemove}>
              <Trash2 className="size-4" aria-hidden="true" />
            </Button>
          </header>

          <div className="flex flex-col gap-4 p-3">
            {cardProblems.length > 0 && (
              <p id={`${id}-problems`} className="text-sm text-destructive">
                {cardProblems.join('; ')}
              </p>
            )}
            <div className="grid gap-3 md:grid-cols-2">
              <div className="flex flex-col gap-1">
                <span className="text-sm font-medium" id={`${id}-command-label`}>
                  {t('builder.action.command')}
                </span>
                <div className="flex items-start gap-2">
                  <div className="min-w-0 flex-1 text-sm">
                    <p>
                      {title} <span className="font-mono text-xs text-muted-foreground">{action.command}</span>
                    </p>
                    {command && <p className="text-xs text-muted-foreground">{command.description}</p>}
                  </div>
                  <Button
                    id={`${id}-command`}
                    size="sm"
                    onClick={() => setPicking(true)}
                    aria-describedby={at('.command').length ? `${id}-command-error` : undefined}
                  >
                    <Replace className="size-4" aria-hidden="true" />
                    {t('builder.action.changeCommand')}
                  </Button>
                </div>
                {at('.command').length > 0 && (
                  <p id={`${id}-command-error`} className="text-xs text-destructive">
                    {at('.command').join('; ')}
                  </p>
                )}
              </div>
              <Field live={false} id={`${id}-name`} label={t('builder.action.label')} help={t('builder.action.labelHelp')} error={at('.name').join('; ') || undefined}>
                <Input
                  id={`${id}-name`}
                  value={action.name ?? ''}
                  placeholder={title}
                  aria-invalid={at('.name').length > 0 || undefined}
                  aria-describedby={describedBy(`${id}-name`, { help: true, error: at('.name').length > 0 })}
                  onChange={(e) => onChange({ ...action, name: e.target.value || null })}
                />
              </Field>
            </div>

            {needsCredential && (
              <Field live={false}
                id={`${id}-credential`}
                label={command.credential === 'required' ? t('builder.action.credentialRequired') : t('builder.action.credential')}
                help={usable.length === 0 ? t('builder.action.noCredentials') : t('builder.action.credentialHelp')}
                error={at('.credential').join('; ') || undefined}
              >
                <select
                  id={`${id}-credential`}
                  className="h-9 rounded-md border border-input bg-background px-2 text-sm aria-[invalid=true]:border-destructive"
                  value={action.credential ?? ''}
                  aria-invalid={at('.credential').length > 0 || undefined}
                  aria-describedby={describedBy(`${id}-credential`, { help: true, error: at('.credential').length > 0 })}
                  onChange={(e) => onChange({ ...action, credential: e.target.value || null })}
                >
                  <option value="">{t('builder.action.noCredential')}</option>
                  {usable.map((c) => (
                    <option key={c.id} value={c.id}>
                      {c.name} ({t(`builder.credentialKind.${c.kind}`)})
                    </option>
                  ))}
                </select>
              </Field>
            )}

            {command ? (
              <>
                <section aria-labelledby={`${id}-params-title`} className="flex flex-col gap-2">
                  <h4 id={`${id}-params-title`} className="text-sm font-medium">
                    {t('builder.action.params')}
                  </h4>
                  <ParamsForm
                    command={command}
                    params={(action.params ?? {}) as Record<string, unknown>}
                    onChange={(params) => onChange({ ...action, params })}
                    problems={problems}
                    problemPrefix={`${p}.params`}
                    idPrefix={`${id}-params`}
                    credentials={credentials}
                  />
                </section>
                <CommandPreview command={action.command} params={(action.params ?? {}) as Record<string, unknown>} idPrefix={id} />
                <ParserPanel
                  action={action}
                  command={command}
                  parsers={parsers}
                  idPrefix={id}
                  segment={segment}
                  problems={problems.filter((q) => q.field === `${p}.parsers` || q.field.startsWith(`${p}.parsers[`)).map((q) => q.message)}
                  onChange={(list) => onChange({ ...action, parsers: list })}
                  canRun={canRun}
                  runReason={runReason}
                />
                <CriteriaEditor
                  id={id}
                  action={action}
                  command={command}
                  problems={{ ok: at('.criteria.ok'), warn: at('.criteria.warn'), all: at('.criteria') }}
                  onChange={onChange}
                />
                <Field live={false}
                  id={`${id}-timeout`}
                  label={t('builder.action.timeout')}
                  help={t('builder.action.timeoutHelp', { ms: command.timeout_ms ?? 5000 })}
                  error={at('.timeout_ms').join('; ') || undefined}
                >
                  <Input
                    id={`${id}-timeout`}
                    type="number"
                    min={100}
                    className="max-w-48"
                    value={action.timeout_ms ?? ''}
                    placeholder={String(command.timeout_ms ?? 5000)}
                    aria-describedby={describedBy(`${id}-timeout`, { help: true, error: at('.timeout_ms').length > 0 })}
                    aria-invalid={at('.timeout_ms').length > 0 || undefined}
                    onChange={(e) => onChange({ ...action, timeout_ms: e.target.value === '' ? null : Number(e.target.value) })}
                  />
                </Field>
              </>
            ) : (
              <p role="alert" className="text-sm text-destructive">
                {t('builder.action.unknownCommand', { id: action.command })}
              </p>
            )}
          </div>
        </section>
      </Card>
      <CommandPickerDialog
        open={picking}
        onOpenChange={setPicking}
        commands={commands}
        current={action.command}
        onPick={(next) => {
          if (next.id !== action.command) onChange({ command: next.id, params: {}, name: action.name });
        }}
      />
    </li>
  );
}

export function CriteriaEditor({
  id,
  action,
  command,
  problems,
  onChange,
}: {
  id: string;
  action: ActionSpec;
  command: LibraryCommand;
  problems: { ok: string[]; warn: string[]; all: string[] };
  onChange: (action: ActionSpec) => void;
}) {
  const { t } = useTranslation();
  const set = (key: 'ok' | 'warn', value: string) =>
    onChange({ ...action, criteria: { ...(action.criteria ?? {}), [key]: value || null } });
  const outputs = Object.entries(command.outputs ?? {});
  return (
    <fieldset className="flex flex-col gap-2" id={`${id}-criteria`} aria-describedby={problems.all.length > 0 ? `${id}-criteria-error` : undefined}>
      <legend className="text-sm font-medium">{t('builder.criteria.legend')}</legend>
      <p className="text-xs text-muted-foreground">{t('builder.criteria.help')}</p>
      {problems.all.length > 0 && (
        <p id={`${id}-criteria-error`} className="text-xs text-destructive">
          {problems.all.join('; ')}
        </p>
      )}
      <div className="grid gap-3 md:grid-cols-2">
        {(['ok', 'warn'] as const).map((key) => (
          <Field live={false}
            key={key}
            id={`${id}-criteria-${key}`}
            label={t(`builder.criteria.${key}`)}
            help={command.criteria?.[key] ? t('builder.criteria.default', { expr: command.criteria[key] }) : t('builder.criteria.noDefault')}
            error={problems[key].join('; ') || undefined}
          >
            <Input
              id={`${id}-criteria-${key}`}
              className="font-mono"
              value={action.criteria?.[key] ?? ''}
              placeholder={command.criteria?.[key] ?? ''}
              spellCheck={false}
              aria-invalid={problems[key].length > 0 || undefined}
              aria-describedby={`${id}-criteria-${key}-help${problems[key].length ? ` ${id}-criteria-${key}-error` : ''}`}
              onChange={(e) => set(key, e.target.value)}
            />
          </Field>
        ))}
      </div>
      {outputs.length > 0 && (
        <details className="text-xs">
          <summary className="cursor-pointer text-muted-foreground">{t('builder.criteria.outputs', { count: outputs.length })}</summary>
          <dl className="mt-1 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
            {outputs.map(([name, doc]) => (
              <div key={name} className="contents">
                <dt className="font-mono">{name}</dt>
                <dd className="text-muted-foreground">{doc}</dd>
              </div>
            ))}
          </dl>
        </details>
      )}
    </fieldset>
  );
}
