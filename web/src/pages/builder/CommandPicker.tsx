// The command picker: the library's commands grouped by category, searchable, operated from
// the keyboard (a combobox over a grouped listbox: arrows, Home/End, Enter), with the active
// command's description shown beside the list.
import { useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Search } from 'lucide-react';
import { Dialog } from '../../components/Dialog';
import { EmptyState, Input } from '../../components/ui';
import { cn } from '../../lib/cn';
import type { LibraryCommand } from './model';

/** Commands matching every word of `query` (name, id, category, description), by category. */
export function groupCommands(commands: LibraryCommand[], query: string): [string, LibraryCommand[]][] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const groups = new Map<string, LibraryCommand[]>();
  for (const command of commands) {
    const haystack = `${command.name} ${command.id} ${command.category} ${command.description}`.toLowerCase();
    if (!words.every((w) => haystack.includes(w))) continue;
    const list = groups.get(command.category) ?? [];
    list.push(command);
    groups.set(command.category, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([category, list]) => [category, list.sort((a, b) => a.name.localeCompare(b.name))]);
}

export function CommandList({
  commands,
  current,
  onPick,
}: {
  commands: LibraryCommand[];
  current?: string;
  onPick: (command: LibraryCommand) => void;
}) {
  const { t } = useTranslation();
  const base = useId();
  const [query, setQuery] = useState('');
  const groups = useMemo(() => groupCommands(commands, query), [commands, query]);
  const flat = useMemo(() => groups.flatMap(([, list]) => list), [groups]);
  const [activeId, setActiveId] = useState<string | undefined>(current);
  const listRef = useRef<HTMLDivElement>(null);
  const active = flat.find((c) => c.id === activeId) ?? flat[0];
  const optionId = (id: string) => `${base}-opt-${id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;

  const moveTo = (index: number) => {
    const next = flat[Math.max(0, Math.min(flat.length - 1, index))];
    if (!next) return;
    setActiveId(next.id);
    document.getElementById(optionId(next.id))?.scrollIntoView({ block: 'nearest' });
  };

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    const index = active ? flat.indexOf(active) : -1;
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      moveTo(index + 1);
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      moveTo(index - 1);
    } else if (event.key === 'Home' && event.ctrlKey) {
      event.preventDefault();
      moveTo(0);
    } else if (event.key === 'End' && event.ctrlKey) {
      event.preventDefault();
      moveTo(flat.length - 1);
    } else if (event.key === 'PageDown') {
      event.preventDefault();
      moveTo(index + 5);
    } else if (event.key === 'PageUp') {
      event.preventDefault();
      moveTo(index - 5);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      if (active) onPick(active);
    }
  };

  return (
    <div className="flex flex-col gap-3">
      <div className="relative">
        <Search className="pointer-events-none absolute top-2.5 left-2.5 size-4 text-muted-foreground" aria-hidden="true" />
        <Input
          autoFocus
          role="combobox"
          aria-label={t('builder.picker.search')}
          aria-expanded="true"
          aria-controls={`${base}-list`}
          aria-activedescendant={active ? optionId(active.id) : undefined}
          aria-autocomplete="list"
          placeholder={t('builder.picker.searchPlaceholder')}
          className="pl-8"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setActiveId(undefined);
          }}
          onKeyDown={onKeyDown}
        />
      </div>
      <p className="sr-only" role="status" aria-live="polite">
        {t('builder.picker.count', { count: flat.length })}
      </p>
      <div className="grid gap-3 md:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
        <div
          id={`${base}-list`}
          ref={listRef}
          role="listbox"
          aria-label={t('builder.picker.listLabel')}
          className="max-h-[50vh] overflow-y-auto rounded-md border border-border"
        >
          {flat.length === 0 && <EmptyState title={t('builder.picker.noMatch')} />}
          {groups.map(([category, list]) => (
            <div key={category} role="group" aria-labelledby={`${base}-cat-${category}`}>
              <div
                id={`${base}-cat-${category}`}
                role="presentation"
                className="sticky top-0 bg-muted px-3 py-1 text-xs font-semibold tracking-wide text-muted-foreground uppercase"
              >
                {category}
              </div>
              {list.map((command) => {
                const isActive = active?.id === command.id;
                return (
                  <div
                    key={command.id}
                    id={optionId(command.id)}
                    role="option"
                    aria-selected={isActive}
                    aria-label={command.name}
                    aria-describedby={`${optionId(command.id)}-desc`}
                    tabIndex={-1}
                    onMouseMove={() => setActiveId(command.id)}
                    onClick={() => onPick(command)}
                    className={cn(
                      'flex cursor-pointer flex-col px-3 py-2 text-sm',
                      isActive && 'bg-accent text-accent-foreground outline-2 -outline-offset-2 outline-ring',
                    )}
                  >
                    <span className="font-medium">
                      {command.name}
                      {current === command.id && (
                        <span className="ml-2 text-xs text-muted-foreground">{t('builder.picker.current')}</span>
                      )}
                    </span>
                    <span className="font-mono text-xs text-muted-foreground">{command.id}</span>
                    <span id={`${optionId(command.id)}-desc`} className="sr-only">
                      {command.description}
                    </span>
                  </div>
                );
              })}
            </div>
          ))}
        </div>
        <div className="rounded-md border border-border p-3 text-sm" aria-live="polite" data-testid="command-picker-description">
          {active ? (
            <>
              <p className="font-medium">{active.name}</p>
              <p className="font-mono text-xs text-muted-foreground">
                {active.id} · {active.kind}
              </p>
              <p className="mt-2">{active.description}</p>
              {active.criteria?.ok && (
                <p className="mt-2 text-xs text-muted-foreground">
                  {t('builder.picker.okWhen')} <code className="font-mono">{active.criteria.ok}</code>
                </p>
              )}
            </>
          ) : (
            <p className="text-muted-foreground">{t('builder.picker.hint')}</p>
          )}
        </div>
      </div>
      <p className="text-xs text-muted-foreground">{t('builder.picker.keys')}</p>
    </div>
  );
}

export function CommandPickerDialog({
  open,
  onOpenChange,
  commands,
  current,
  onPick,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  commands: LibraryCommand[];
  current?: string;
  onPick: (command: LibraryCommand) => void;
}) {
  const { t } = useTranslation();
  return (
    <Dialog open={open} onOpenChange={onOpenChange} title={t('builder.picker.title')} wide>
      <CommandList
        commands={commands}
        current={current}
        onPick={(command) => {
          onPick(command);
          onOpenChange(false);
        }}
      />
    </Dialog>
  );
}
