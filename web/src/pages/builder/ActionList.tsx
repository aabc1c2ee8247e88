// The ordered action cards: add (through the command picker), remove, reorder by dragging a
// card's handle, by the handle's arrow keys or by the move buttons. Every move is announced
// and focus stays on the control that moved the card.
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ListPlus } from 'lucide-react';
import type { FieldProblem, Schemas } from '../../api/client';
import { Button, EmptyState } from '../../components/ui';
import { ActionCard } from './ActionCard';
import { CommandPickerDialog } from './CommandPicker';
import type { ActionSpec, LibraryCommand, LibraryParser } from './model';

export interface ActionListProps {
  actions: ActionSpec[];
  keys: string[];
  commands: LibraryCommand[];
  parsers: LibraryParser[];
  credentials: Schemas['CredentialView'][];
  problems: FieldProblem[];
  segment?: string | null;
  canRun: boolean;
  runReason?: string;
  onAdd: (command: LibraryCommand) => void;
  onChange: (index: number, action: ActionSpec) => void;
  onRemove: (index: number) => void;
  onMove: (from: number, to: number) => void;
}

export function ActionList(props: ActionListProps) {
  const { actions, keys, commands, onMove } = props;
  const { t } = useTranslation();
  const [picking, setPicking] = useState(false);
  const [announcement, setAnnouncement] = useState('');
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dragOver, setDragOver] = useState<number | null>(null);
  const refocus = useRef<{ key: string; control: 'up' | 'down' | 'handle' } | null>(null);
  const addRef = useRef<HTMLButtonElement>(null);

  const nameOf = (action: ActionSpec) => action.name || commands.find((c) => c.id === action.command)?.name || action.command;

  const move = (from: number, to: number, control: 'up' | 'down' | 'handle' | null) => {
    if (to < 0 || to >= actions.length || from === to) return;
    if (control) refocus.current = { key: keys[from], control };
    onMove(from, to);
    setAnnouncement(t('builder.actions.moved', { name: nameOf(actions[from]), position: to + 1, count: actions.length }));
  };

  useEffect(() => {
    const target = refocus.current;
    if (!target) return;
    refocus.current = null;
    const index = keys.indexOf(target.key);
    if (index < 0) return;
    let control = target.control;
    if ((control === 'up' && index === 0) || (control === 'down' && index === keys.length - 1)) control = 'handle';
    document.getElementById(`action-${index}-${control}`)?.focus();
  }, [keys]);

  return (
    <section aria-labelledby="builder-actions-title" className="flex flex-col gap-3" id="job-actions" tabIndex={-1}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="builder-actions-title" className="text-lg font-semibold">
          {t('builder.actions.title')}
        </h2>
        <Button ref={addRef} onClick={() => setPicking(true)} disabled={commands.length === 0}>
          <ListPlus className="size-4" aria-hidden="true" />
          {t('builder.actions.add')}
        </Button>
      </div>
      <p id="builder-reorder-help" className="sr-only">
        {t('builder.actions.reorderHelp')}
      </p>
      <div className="sr-only" role="status" aria-live="assertive" data-testid="reorder-announcement">
        {announcement}
      </div>
      {actions.length === 0 ? (
        <EmptyState title={t('builder.actions.empty')}>{t('builder.actions.emptyHint')}</EmptyState>
      ) : (
        <ol className="flex flex-col gap-3" aria-label={t('builder.actions.listLabel')}>
          {actions.map((action, index) => (
            <ActionCard
              key={keys[index]}
              index={index}
              count={actions.length}
              action={action}
              commands={commands}
              parsers={props.parsers}
              credentials={props.credentials}
              problems={props.problems}
              segment={props.segment}
              canRun={props.canRun}
              runReason={props.runReason}
              onChange={(next) => props.onChange(index, next)}
              onRemove={() => {
                setAnnouncement(t('builder.actions.removed', { name: nameOf(action) }));
                props.onRemove(index);
                setTimeout(() => {
                  const next = document.getElementById(`action-${Math.min(index, actions.length - 2)}-handle`);
                  (next ?? addRef.current)?.focus();
                });
              }}
              onMove={(to, control) => move(index, to, control)}
              drag={{
                dragging: dragFrom === index,
                over: dragOver === index && dragFrom !== null && dragFrom !== index,
                onDragStart: (e) => {
                  setDragFrom(index);
                  e.dataTransfer.effectAllowed = 'move';
                  e.dataTransfer.setData('text/plain', String(index));
                },
                onDragOver: (e) => {
                  if (dragFrom === null) return;
                  e.preventDefault();
                  e.dataTransfer.dropEffect = 'move';
                  if (dragOver !== index) setDragOver(index);
                },
                onDrop: (e) => {
                  e.preventDefault();
                  if (dragFrom !== null) move(dragFrom, index, null);
                  setDragFrom(null);
                  setDragOver(null);
                },
                onDragEnd: () => {
                  setDragFrom(null);
                  setDragOver(null);
                },
              }}
            />
          ))}
        </ol>
      )}
      {actions.length > 0 && (
        <div>
          <Button onClick={() => setPicking(true)} disabled={commands.length === 0} aria-label={t('builder.actions.addAnother')}>
            <ListPlus className="size-4" aria-hidden="true" />
            {t('builder.actions.addAnother')}
          </Button>
        </div>
      )}
      <CommandPickerDialog
        open={picking}
        onOpenChange={setPicking}
        commands={commands}
        onPick={(command) => {
          props.onAdd(command);
          setAnnouncement(t('builder.actions.added', { name: command.name, position: actions.length + 1 }));
          setTimeout(() => document.getElementById(`action-${actions.length}`)?.focus(), 50);
        }}
      />
    </section>
  );
}
