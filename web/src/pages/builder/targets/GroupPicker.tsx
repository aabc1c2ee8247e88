// The group of an inventory-group selector: a combobox over the stored groups (name, member
// count now, kind), filtered as the name is typed. A name that is not a group is still
// accepted (the group may be created later) but flagged: a run naming it fails to start.
import { useId, useMemo, useState, type KeyboardEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { AlertTriangle, ChevronDown, Users } from 'lucide-react';
import { useGroups, type GroupView } from '../../../lib/inventory';
import { cn } from '../../../lib/cn';
import type { InvalidLine } from './preview';
import { ErrorList, describedBy } from './ErrorList';

/** Options listed at most (the rest are reached by typing more of the name). */
const MAX_OPTIONS = 50;

export function GroupPicker({
  id,
  group,
  onChange,
  errors,
  invalid,
  placeholder,
}: {
  id: string;
  group: string;
  onChange: (group: string) => void;
  errors: string[];
  invalid: InvalidLine[];
  placeholder?: string;
}) {
  const { t, i18n } = useTranslation();
  const base = useId();
  const groups = useGroups();
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const nf = new Intl.NumberFormat(i18n.language);
  const inputId = `${id}-group`;
  const listId = `${base}-list`;
  const name = group.trim();

  const all = useMemo(() => [...(groups.data ?? [])].sort((a, b) => a.name.localeCompare(b.name)), [groups.data]);
  const options = useMemo(() => {
    const needle = name.toLowerCase();
    // The exact name shows every group (so the list can be browsed after picking one).
    const list = !needle || all.some((g) => g.name === name) ? all : all.filter((g) => g.name.toLowerCase().includes(needle));
    return list.slice(0, MAX_OPTIONS);
  }, [all, name]);
  const exact = all.find((g) => g.name === name);
  const unknown = groups.isSuccess && name !== '' && !exact;
  const expanded = open && options.length > 0;

  // The server's "no such group" says what the flag below already says.
  const messages = [
    ...errors.filter((m) => !(unknown && /no such group/i.test(m))),
    ...invalid.map((l) => t('targets.group.memberError', { line: l.line, text: l.text, message: l.reason })),
  ];
  const optionId = (i: number) => `${base}-opt-${i}`;
  const pick = (g: GroupView) => {
    onChange(g.name);
    setOpen(false);
    setActive(-1);
  };
  const summary = (g: GroupView) =>
    t('targets.group.optionSummary', { count: g.member_count, n: nf.format(g.member_count), kind: t(`groups.kinds.${g.kind === 'static' ? 'static' : 'dynamic'}`) });

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!open) {
        setOpen(true);
        setActive(event.key === 'ArrowDown' ? 0 : options.length - 1);
        return;
      }
      const next = active + (event.key === 'ArrowDown' ? 1 : -1);
      const index = Math.max(0, Math.min(options.length - 1, next));
      setActive(index);
      document.getElementById(optionId(index))?.scrollIntoView({ block: 'nearest' });
    } else if (event.key === 'Enter' && expanded && active >= 0 && options[active]) {
      event.preventDefault();
      pick(options[active]);
    } else if (event.key === 'Escape' && open) {
      event.preventDefault();
      event.stopPropagation();
      setOpen(false);
      setActive(-1);
    }
  };

  const statusId = `${inputId}-status`;
  const describedIds = [describedBy(inputId, messages, true), exact || unknown ? statusId : ''].filter(Boolean).join(' ') || undefined;

  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={inputId} className="text-sm font-medium">
        {t('targets.group.label')}
      </label>
      <div className="relative">
        <input
          id={inputId}
          role="combobox"
          aria-expanded={expanded}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-activedescendant={expanded && active >= 0 ? optionId(active) : undefined}
          value={group}
          autoComplete="off"
          spellCheck={false}
          placeholder={placeholder ?? 'core-switches'}
          maxLength={128}
          aria-invalid={messages.length > 0 || undefined}
          aria-describedby={describedIds}
          onChange={(e) => {
            onChange(e.target.value);
            setOpen(true);
            setActive(-1);
          }}
          onFocus={() => setOpen(true)}
          onBlur={() => setOpen(false)}
          onKeyDown={onKeyDown}
          className="h-9 w-full rounded-md border border-input bg-background pr-9 pl-3 text-sm placeholder:text-muted-foreground aria-[invalid=true]:border-destructive"
        />
        {/* Pointer users' way to open the list; the keyboard opens it with the arrow keys. */}
        <button
          type="button"
          tabIndex={-1}
          aria-hidden="true"
          onMouseDown={(e) => e.preventDefault()}
          onClick={() => {
            setOpen((o) => !o);
            document.getElementById(inputId)?.focus();
          }}
          className="absolute top-0 right-0 flex h-9 w-9 items-center justify-center text-muted-foreground"
        >
          <ChevronDown className="size-4" />
        </button>
        <ul
          id={listId}
          role="listbox"
          aria-label={t('targets.group.listLabel')}
          hidden={!expanded}
          className="absolute z-20 mt-1 max-h-64 w-full overflow-y-auto rounded-md border border-border bg-popover py-1 text-popover-foreground shadow-md"
        >
          {options.map((g, i) => (
            <li
              key={g.name}
              id={optionId(i)}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => e.preventDefault()}
              onMouseMove={() => setActive(i)}
              onClick={() => pick(g)}
              className={cn('flex cursor-pointer items-baseline justify-between gap-3 px-3 py-1.5 text-sm', i === active && 'bg-accent text-accent-foreground')}
            >
              <span className="truncate font-medium">{g.name}</span>
              <span className="shrink-0 text-xs text-muted-foreground">{summary(g)}</span>
            </li>
          ))}
        </ul>
      </div>
      {open && (
        <p className="sr-only" role="status" aria-live="polite">
          {groups.isSuccess ? t('targets.group.optionCount', { count: options.length }) : ''}
        </p>
      )}
      {exact && (
        <p id={statusId} className="flex items-center gap-1 text-xs text-muted-foreground" data-testid="group-known">
          <Users className="size-3.5 shrink-0" aria-hidden="true" />
          {t('targets.group.known', { name: exact.name, summary: summary(exact) })}
        </p>
      )}
      {unknown && (
        <p id={statusId} className="flex items-center gap-1 text-xs" data-testid="group-unknown">
          <AlertTriangle className="size-3.5 shrink-0 text-warn" aria-hidden="true" />
          {t('targets.group.unknown', { name })}
        </p>
      )}
      {groups.isError && <p className="text-xs text-muted-foreground">{t('targets.group.listFailed')}</p>}
      <p id={`${inputId}-help`} className="text-xs text-muted-foreground">
        {t('targets.group.help')}
      </p>
      <ErrorList id={inputId} messages={messages} />
    </div>
  );
}
