// The Job Builder's target picker over `TargetSpec`: selectors (network ranges, host lists,
// uploaded files, inventory groups picked from the inventory — added from the library's
// target sources), exclusions,
// the job's limits, and the live count split by segment from `POST /api/v1/targets/preview`.
// The server parses and counts; its problems are shown next to the field they name.
import { useId, useMemo, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import { Plus } from 'lucide-react';
import type { Schemas } from '../../../api/client';
import { Button } from '../../../components/ui';
import { DEFAULT_MAX_TARGETS, LARGE_MAX_TARGETS, usePreview, type Selector } from './preview';
import { BUILTIN_SOURCE_IDS, selectorFromSource, sourceFor, useTargetSources, type TargetSource } from './sources';
import { lineOfEntry, useLinesDraft } from './lines';
import { SELECTOR_ICONS, SelectorCard } from './SelectorCard';
import { TargetSummary } from './TargetSummary';
import { ErrorList, describedBy } from './ErrorList';

export interface TargetPickerProps {
  value: Schemas['TargetSpec'];
  onChange: (next: Schemas['TargetSpec']) => void;
  /** The job's segment override, if any (routes every target to that segment). */
  segment?: string | null;
  /**
   * Problems an enclosing form's own request reported (a scan's `targets.…` fields, prefix
   * removed), shown next to their fields like the preview's.
   */
  serverErrors?: Map<string, string[]>;
}

const EMPTY_RANGE: Selector = { type: 'range', value: '' };
const NO_EXCLUSIONS: string[] = [];
const SELECTOR_ORDER = ['range', 'hosts', 'file', 'group'] as const;

export function TargetPicker({ value, onChange, segment, serverErrors }: TargetPickerProps) {
  const { t, i18n } = useTranslation();
  const id = useId();
  const nf = new Intl.NumberFormat(i18n.language);
  const sourcesQuery = useTargetSources();
  const preview = usePreview(value, segment);

  // A new job has no selector yet: show an empty network range that becomes real when typed in.
  const virtual = value.include.length === 0;
  const include = virtual ? [EMPTY_RANGE] : value.include;

  const fallbackSources: TargetSource[] = useMemo(
    () =>
      SELECTOR_ORDER.map((type, i) => ({
        id: [...BUILTIN_SOURCE_IDS][i],
        name: t(`targets.sourceNames.${type}`),
        description: t(`targets.sourceDescriptions.${type}`),
        selector: type,
      })),
    [t],
  );
  const sources = useMemo(() => {
    const list = sourcesQuery.data && sourcesQuery.data.length > 0 ? sourcesQuery.data : fallbackSources;
    // Shipped sources first, in the order range, hosts, file, group; packs' presets after them.
    const rank = (s: TargetSource) => (BUILTIN_SOURCE_IDS.has(s.id) ? 0 : 10) + SELECTOR_ORDER.indexOf(s.selector);
    return [...list].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  }, [sourcesQuery.data, fallbackSources]);

  // Stable React keys for the cards, so removing or moving one keeps the others' local state.
  const keys = useRef<{ next: number; list: number[] }>({ next: 0, list: [] });
  const fresh = () => keys.current.next++;
  if (keys.current.list.length !== include.length) keys.current.list = include.map(fresh);

  const setInclude = (next: Selector[], nextKeys: number[]) => {
    keys.current.list = nextKeys;
    onChange({ ...value, include: next });
  };
  const update = (i: number, next: Selector) =>
    setInclude(
      include.map((s, j) => (j === i ? next : s)),
      keys.current.list,
    );
  const remove = (i: number) =>
    setInclude(
      value.include.filter((_, j) => j !== i),
      keys.current.list.filter((_, j) => j !== i),
    );
  const move = (i: number, delta: -1 | 1) => {
    const j = i + delta;
    if (j < 0 || j >= value.include.length) return;
    const next = [...value.include];
    const nextKeys = [...keys.current.list];
    [next[i], next[j]] = [next[j], next[i]];
    [nextKeys[i], nextKeys[j]] = [nextKeys[j], nextKeys[i]];
    setInclude(next, nextKeys);
  };
  const add = (source: TargetSource) =>
    setInclude([...value.include, selectorFromSource(source)], virtual ? [fresh()] : [...keys.current.list, fresh()]);

  // Problems by field: each selector shows its own; the rest go to the summary.
  const errors = useMemo(() => {
    if (!serverErrors || serverErrors.size === 0) return preview.fieldErrors;
    const merged = new Map(preview.fieldErrors);
    for (const [field, messages] of serverErrors) {
      const known = merged.get(field) ?? [];
      merged.set(field, [...known, ...messages.filter((m) => !known.includes(m))]);
    }
    return merged;
  }, [preview.fieldErrors, serverErrors]);
  const overCap: string[] = [];
  const unplaced: string[] = [];
  for (const [field, messages] of errors) {
    const m = /^include\[(\d+)\]/.exec(field);
    if (m && Number(m[1]) < include.length) {
      if (field === m[0]) overCap.push(...messages);
      continue;
    }
    if (/^exclude\[\d+\]$/.test(field) || field === 'exclude' || field === 'max_targets' || field === 'allow_large') continue;
    unplaced.push(...messages.map((message) => (field ? `${field}: ${message}` : message)));
  }
  const generalError = [preview.generalError, ...unplaced].filter(Boolean).join('; ') || undefined;

  const fileCount = include.filter((s) => s.type === 'file').length;
  const ordinal = (i: number) => include.slice(0, i + 1).filter((s) => s.type === include[i].type).length;

  return (
    <div className="grid gap-4 lg:grid-cols-[minmax(0,1fr)_20rem]">
      <div className="flex min-w-0 flex-col gap-4">
        <div className="flex flex-col gap-3">
          {include.map((selector, i) => (
            <SelectorCard
              key={keys.current.list[i]}
              selector={selector}
              index={ordinal(i)}
              position={i}
              total={include.length}
              field={`include[${i}]`}
              source={sourceFor(sources, selector.type)}
              errors={errors}
              invalid={preview.invalid}
              invalidOmitted={fileCount === 1 ? (preview.data?.invalid_omitted ?? 0) : 0}
              onChange={(next) => update(i, next)}
              onRemove={virtual ? undefined : () => remove(i)}
              onMove={(delta) => move(i, delta)}
            />
          ))}
        </div>

        <div role="group" aria-labelledby={`${id}-add`} className="flex flex-col gap-2">
          <p id={`${id}-add`} className="text-sm font-medium">
            {t('targets.addTitle')}
          </p>
          <div className="flex flex-wrap gap-2">
            {sources.map((source) => {
              const Icon = SELECTOR_ICONS[source.selector];
              return (
                <Button key={source.id} size="sm" aria-label={t('targets.addSource', { name: source.name })} title={source.description} onClick={() => add(source)}>
                  <Plus className="size-4" aria-hidden="true" />
                  <Icon className="size-4" aria-hidden="true" />
                  {source.name}
                </Button>
              );
            })}
          </div>
        </div>

        <Exclusions
          exclude={value.exclude ?? NO_EXCLUSIONS}
          onChange={(exclude) => onChange({ ...value, exclude })}
          errors={errors}
        />

        <fieldset className="flex flex-col gap-3 rounded-lg border border-border p-3">
          <legend className="px-1 text-sm font-semibold">{t('targets.limits.title')}</legend>
          <div className="flex flex-col gap-1">
            <div className="flex items-center gap-2">
              <input
                id={`${id}-allow-large`}
                type="checkbox"
                className="size-4"
                checked={value.allow_large ?? false}
                aria-describedby={`${id}-allow-large-help`}
                onChange={(e) => onChange({ ...value, allow_large: e.target.checked })}
              />
              <label htmlFor={`${id}-allow-large`} className="text-sm font-medium">
                {t('targets.limits.allowLarge')}
              </label>
            </div>
            <p id={`${id}-allow-large-help`} className="text-xs text-muted-foreground">
              {t('targets.limits.allowLargeHelp', { normal: nf.format(DEFAULT_MAX_TARGETS), large: nf.format(LARGE_MAX_TARGETS) })}
            </p>
          </div>
          <div className="flex max-w-xs flex-col gap-1">
            <label htmlFor={`${id}-max`} className="text-sm font-medium">
              {t('targets.limits.maxTargets')}
            </label>
            <input
              id={`${id}-max`}
              type="number"
              inputMode="numeric"
              min={1}
              max={value.allow_large ? LARGE_MAX_TARGETS : DEFAULT_MAX_TARGETS}
              step={1}
              value={value.max_targets ?? ''}
              placeholder={nf.format(value.allow_large ? LARGE_MAX_TARGETS : DEFAULT_MAX_TARGETS)}
              aria-invalid={(errors.get('max_targets')?.length ?? 0) > 0 || undefined}
              aria-describedby={describedBy(`${id}-max`, errors.get('max_targets') ?? [], true)}
              onChange={(e) => {
                const raw = e.target.value.trim();
                const n = Number(raw);
                onChange({ ...value, max_targets: raw === '' || !Number.isFinite(n) ? null : Math.trunc(n) });
              }}
              className="h-9 w-full rounded-md border border-input bg-background px-3 text-sm aria-[invalid=true]:border-destructive"
            />
            <p id={`${id}-max-help`} className="text-xs text-muted-foreground">
              {t('targets.limits.maxTargetsHelp')}
            </p>
            <ErrorList id={`${id}-max`} messages={errors.get('max_targets') ?? []} />
          </div>
        </fieldset>
      </div>

      <div className="lg:sticky lg:top-4 lg:self-start">
        <TargetSummary preview={{ ...preview, generalError }} overCap={overCap} segment={segment} />
        {overCap.length > 0 && !value.allow_large && (
          <Button size="sm" className="mt-2" onClick={() => onChange({ ...value, allow_large: true })}>
            {t('targets.limits.enableLarge', { large: nf.format(LARGE_MAX_TARGETS) })}
          </Button>
        )}
      </div>
    </div>
  );
}

function Exclusions({ exclude, onChange, errors }: { exclude: string[]; onChange: (next: string[]) => void; errors: Map<string, string[]> }) {
  const { t } = useTranslation();
  const id = useId();
  const [text, setText] = useLinesDraft(exclude, onChange);
  const messages: string[] = [...(errors.get('exclude') ?? [])];
  for (const [field, list] of errors) {
    const m = /^exclude\[(\d+)\]$/.exec(field);
    if (!m) continue;
    const line = lineOfEntry(text, Number(m[1]));
    for (const message of list) messages.push(line ? t('targets.lineError', { line, message }) : message);
  }
  const inputId = `${id}-exclude`;
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={inputId} className="text-sm font-semibold">
        {t('targets.exclude.label')}
      </label>
      <textarea
        id={inputId}
        rows={3}
        value={text}
        spellCheck={false}
        autoComplete="off"
        placeholder={t('targets.exclude.placeholder')}
        aria-invalid={messages.length > 0 || undefined}
        aria-describedby={describedBy(inputId, messages, true)}
        onChange={(e) => setText(e.target.value)}
        className="w-full rounded-md border border-input bg-background px-3 py-2 font-mono text-sm placeholder:text-muted-foreground aria-[invalid=true]:border-destructive"
      />
      <p id={`${inputId}-help`} className="text-xs text-muted-foreground">
        {t('targets.exclude.help')}
      </p>
      <ErrorList id={inputId} messages={messages} />
    </div>
  );
}
