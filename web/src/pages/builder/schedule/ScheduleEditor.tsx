// The Job Builder's schedule editor over `Schedule`: cron (5 or 6 fields) in an IANA time
// zone, a fixed interval, once at an instant, or manual only; presets for the usual cases;
// the schedule in words and the next fire times in the job's time zone and the browser's.
import { useId, useMemo, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { AlertTriangle, CalendarClock, Clock, Hand, Repeat, XCircle, type LucideIcon } from 'lucide-react';
import type { Schemas } from '../../../api/client';
import { Button } from '../../../components/ui';
import { cn } from '../../../lib/cn';
import {
  browserTimeZone,
  checkCron,
  cronInWords,
  fromZonedInput,
  isValidTimeZone,
  nextCronRuns,
  nextIntervalRuns,
  timeZones,
  toZonedInput,
} from './cron';

export interface ScheduleEditorProps {
  value: Schemas['Schedule'];
  onChange: (next: Schemas['Schedule']) => void;
}

type Schedule = Schemas['Schedule'];
type Kind = Schedule['type'];
type CronSchedule = Extract<Schedule, { type: 'cron' }>;
type IntervalSchedule = Extract<Schedule, { type: 'interval' }>;
type OnceSchedule = Extract<Schedule, { type: 'once' }>;

/** Longest interval the controller accepts (366 days). */
export const MAX_INTERVAL_SECONDS = 366 * 24 * 3600;
const NEXT_COUNT = 5;

export const PRESETS: { id: string; expression: string }[] = [
  { id: 'everyMinute', expression: '* * * * *' },
  { id: 'every5Minutes', expression: '*/5 * * * *' },
  { id: 'every15Minutes', expression: '*/15 * * * *' },
  { id: 'hourly', expression: '0 * * * *' },
  { id: 'daily0900', expression: '0 9 * * *' },
  { id: 'weekdays0900', expression: '0 9 * * 1-5' },
  { id: 'weeklyMonday0900', expression: '0 9 * * 1' },
  { id: 'monthlyFirst0900', expression: '0 9 1 * *' },
];

const UNITS = [
  { id: 'seconds', factor: 1 },
  { id: 'minutes', factor: 60 },
  { id: 'hours', factor: 3600 },
  { id: 'days', factor: 86400 },
] as const;
type Unit = (typeof UNITS)[number]['id'];

function unitFor(seconds: number): Unit {
  for (const u of [...UNITS].reverse()) if (seconds >= u.factor && seconds % u.factor === 0) return u.id;
  return 'seconds';
}

const KINDS: { kind: Kind; icon: LucideIcon }[] = [
  { kind: 'cron', icon: CalendarClock },
  { kind: 'interval', icon: Repeat },
  { kind: 'once', icon: Clock },
  { kind: 'manual', icon: Hand },
];

const normalize = (e: string) => e.trim().split(/\s+/).join(' ');

function inAnHour(): string {
  const d = new Date(Date.now() + 3600_000);
  d.setUTCMinutes(0, 0, 0);
  return d.toISOString().replace('.000Z', 'Z');
}

export function ScheduleEditor({ value, onChange }: ScheduleEditorProps) {
  const { t } = useTranslation();
  const id = useId();
  const localZone = useMemo(browserTimeZone, []);

  // What each kind held last, so switching kinds back and forth loses nothing.
  const drafts = useRef<{ cron: CronSchedule; interval: IntervalSchedule; once: OnceSchedule }>({
    cron: { type: 'cron', expression: '*/5 * * * *', timezone: localZone },
    interval: { type: 'interval', seconds: 300 },
    once: { type: 'once', at: inAnHour() },
  });
  if (value.type !== 'manual') drafts.current = { ...drafts.current, [value.type]: value };

  const setKind = (kind: Kind) => {
    if (kind === value.type) return;
    onChange(kind === 'manual' ? { type: 'manual' } : drafts.current[kind]);
  };

  const timezone = value.type === 'cron' ? (value.timezone ?? 'UTC') : localZone;

  return (
    <div className="flex flex-col gap-4">
      <fieldset className="flex flex-col gap-2">
        <legend className="mb-1 text-sm font-medium">{t('schedule.kind.label')}</legend>
        <div className="flex flex-wrap gap-2">
          {KINDS.map(({ kind, icon: Icon }) => (
            <label
              key={kind}
              className={cn(
                'flex cursor-pointer items-center gap-2 rounded-md border border-border px-3 py-2 text-sm has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-ring',
                value.type === kind && 'border-primary bg-accent font-medium',
              )}
            >
              <input type="radio" name={`${id}-kind`} value={kind} checked={value.type === kind} onChange={() => setKind(kind)} className="size-4" />
              <Icon className="size-4 text-muted-foreground" aria-hidden="true" />
              {t(`schedule.kind.${kind}`)}
            </label>
          ))}
        </div>
      </fieldset>

      <div role="group" aria-labelledby={`${id}-presets`} className="flex flex-col gap-2">
        <p id={`${id}-presets`} className="text-sm font-medium">
          {t('schedule.presets.label')}
        </p>
        <div className="flex flex-wrap gap-2">
          {PRESETS.map((p) => {
            const active = value.type === 'cron' && normalize(value.expression) === p.expression;
            return (
              <Button
                key={p.id}
                size="sm"
                variant={active ? 'primary' : 'secondary'}
                aria-pressed={active}
                onClick={() => onChange({ type: 'cron', expression: p.expression, timezone: value.type === 'cron' ? timezone : drafts.current.cron.timezone })}
              >
                {t(`schedule.presets.${p.id}`)}
              </Button>
            );
          })}
          <Button size="sm" variant={value.type === 'manual' ? 'primary' : 'secondary'} aria-pressed={value.type === 'manual'} onClick={() => onChange({ type: 'manual' })}>
            {t('schedule.presets.manual')}
          </Button>
        </div>
      </div>

      {value.type === 'cron' && <CronFields value={value} onChange={onChange} localZone={localZone} />}
      {value.type === 'interval' && <IntervalFields value={value} onChange={onChange} />}
      {value.type === 'once' && <OnceFields value={value} onChange={onChange} localZone={localZone} />}
      {value.type === 'manual' && <p className="text-sm text-muted-foreground">{t('schedule.manual.help')}</p>}

      <ScheduleSummary value={value} localZone={localZone} />
    </div>
  );
}

function TimeZoneSelect({ id, value, onChange, localZone, help }: { id: string; value: string; onChange: (tz: string) => void; localZone: string; help: string }) {
  const { t } = useTranslation();
  const zones = timeZones();
  const valid = isValidTimeZone(value);
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={id} className="text-sm font-medium">
        {t('schedule.timezone.label')}
      </label>
      <div className="flex flex-wrap items-center gap-2">
        <select
          id={id}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={!valid || undefined}
          aria-describedby={valid ? `${id}-help` : `${id}-help ${id}-error`}
          className="h-9 min-w-0 flex-1 rounded-md border border-input bg-background px-2 text-sm aria-[invalid=true]:border-destructive"
        >
          {!zones.includes(value) && <option value={value}>{value}</option>}
          {zones.map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </select>
        {value !== localZone && (
          <Button size="sm" onClick={() => onChange(localZone)}>
            {t('schedule.timezone.useMine', { zone: localZone })}
          </Button>
        )}
        {value !== 'UTC' && (
          <Button size="sm" onClick={() => onChange('UTC')}>
            {t('schedule.timezone.useUtc')}
          </Button>
        )}
      </div>
      <p id={`${id}-help`} className="text-xs text-muted-foreground">
        {help}
      </p>
      {!valid && (
        <p id={`${id}-error`} className="flex items-center gap-1 text-xs text-destructive">
          <XCircle className="size-3.5 shrink-0" aria-hidden="true" />
          {t('schedule.timezone.invalid', { zone: value })}
        </p>
      )}
    </div>
  );
}

function cronError(t: (key: string, options?: Record<string, unknown>) => string, expression: string): string | null {
  if (expression.trim() === '') return t('schedule.cron.required');
  const check = checkCron(expression);
  if (check.ok) return null;
  return check.kind === 'fields' ? t('schedule.cron.fieldCount', { count: check.fields }) : t('schedule.cron.invalid', { message: check.error });
}

function CronFields({ value, onChange, localZone }: { value: CronSchedule; onChange: (s: Schedule) => void; localZone: string }) {
  const { t } = useTranslation();
  const id = useId();
  const inputId = `${id}-expr`;
  const error = cronError(t, value.expression);
  const six = value.expression.trim().split(/\s+/).length === 6;
  return (
    <div className="grid gap-3 md:grid-cols-2">
      <div className="flex flex-col gap-1">
        <label htmlFor={inputId} className="text-sm font-medium">
          {t('schedule.cron.label')}
        </label>
        <input
          id={inputId}
          value={value.expression}
          spellCheck={false}
          autoComplete="off"
          placeholder="*/5 * * * *"
          aria-invalid={!!error || undefined}
          aria-describedby={error ? `${inputId}-help ${inputId}-error` : `${inputId}-help`}
          onChange={(e) => onChange({ ...value, expression: e.target.value })}
          className="h-9 w-full rounded-md border border-input bg-background px-3 font-mono text-sm aria-[invalid=true]:border-destructive"
        />
        <p id={`${inputId}-help`} className="text-xs text-muted-foreground">
          <span className="font-mono">{six ? t('schedule.cron.fields6') : t('schedule.cron.fields5')}</span> — {t('schedule.cron.help')}
        </p>
        {error && (
          <p id={`${inputId}-error`} className="flex items-start gap-1 text-xs text-destructive">
            <XCircle className="mt-0.5 size-3.5 shrink-0" aria-hidden="true" />
            {error}
          </p>
        )}
      </div>
      <TimeZoneSelect id={`${id}-tz`} value={value.timezone ?? 'UTC'} onChange={(timezone) => onChange({ ...value, timezone })} localZone={localZone} help={t('schedule.timezone.help')} />
    </div>
  );
}

function IntervalFields({ value, onChange }: { value: IntervalSchedule; onChange: (s: Schedule) => void }) {
  const { t } = useTranslation();
  const id = useId();
  const [unit, setUnit] = useState<Unit>(() => unitFor(value.seconds));
  const factor = UNITS.find((u) => u.id === unit)!.factor;
  const [text, setText] = useState(() => String(value.seconds / factor));
  // Follow changes from outside (a preset, a loaded job) that the text does not show.
  const [prev, setPrev] = useState(value.seconds);
  if (prev !== value.seconds) {
    setPrev(value.seconds);
    if (Number(text) * factor !== value.seconds) {
      const u = unitFor(value.seconds);
      setUnit(u);
      setText(String(value.seconds / UNITS.find((x) => x.id === u)!.factor));
    }
  }
  const n = Number(text);
  const seconds = n * factor;
  const error =
    text.trim() === '' || !Number.isInteger(n) || n < 1
      ? t('schedule.interval.wholeNumber')
      : seconds > MAX_INTERVAL_SECONDS
        ? t('schedule.interval.tooLong', { days: MAX_INTERVAL_SECONDS / 86400 })
        : null;

  const commit = (nextText: string, nextUnit: Unit) => {
    setText(nextText);
    setUnit(nextUnit);
    const v = Number(nextText);
    const s = v * UNITS.find((u) => u.id === nextUnit)!.factor;
    if (nextText.trim() !== '' && Number.isInteger(v) && v >= 1 && s <= MAX_INTERVAL_SECONDS && s !== value.seconds) {
      setPrev(s);
      onChange({ type: 'interval', seconds: s });
    }
  };

  return (
    <div className="flex flex-col gap-1">
      <div className="flex flex-wrap items-end gap-2">
        <div className="flex flex-col gap-1">
          <label htmlFor={`${id}-n`} className="text-sm font-medium">
            {t('schedule.interval.every')}
          </label>
          <input
            id={`${id}-n`}
            type="number"
            inputMode="numeric"
            min={1}
            step={1}
            value={text}
            aria-invalid={!!error || undefined}
            aria-describedby={error ? `${id}-help ${id}-error` : `${id}-help`}
            onChange={(e) => commit(e.target.value, unit)}
            className="h-9 w-28 rounded-md border border-input bg-background px-3 text-sm aria-[invalid=true]:border-destructive"
          />
        </div>
        <div className="flex flex-col gap-1">
          <label htmlFor={`${id}-unit`} className="text-sm font-medium">
            {t('schedule.interval.unit')}
          </label>
          <select
            id={`${id}-unit`}
            value={unit}
            onChange={(e) => commit(text, e.target.value as Unit)}
            className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          >
            {UNITS.map((u) => (
              <option key={u.id} value={u.id}>
                {t(`schedule.interval.units.${u.id}`)}
              </option>
            ))}
          </select>
        </div>
      </div>
      <p id={`${id}-help`} className="text-xs text-muted-foreground">
        {t('schedule.interval.help')}
      </p>
      {error && (
        <p id={`${id}-error`} className="flex items-start gap-1 text-xs text-destructive">
          <XCircle className="mt-0.5 size-3.5 shrink-0" aria-hidden="true" />
          {error}
        </p>
      )}
    </div>
  );
}

function OnceFields({ value, onChange, localZone }: { value: OnceSchedule; onChange: (s: Schedule) => void; localZone: string }) {
  const { t } = useTranslation();
  const id = useId();
  const [zone, setZone] = useState(localZone);
  const at = new Date(value.at);
  const validAt = !Number.isNaN(at.getTime());
  const [text, setText] = useState(() => (validAt ? toZonedInput(at, zone) : ''));
  const [prev, setPrev] = useState(value.at);
  if (prev !== value.at) {
    setPrev(value.at);
    const parsed = fromZonedInput(text, zone);
    if (validAt && (!parsed || parsed.getTime() !== at.getTime())) setText(toZonedInput(at, zone));
  }
  const parsed = fromZonedInput(text, zone);
  const error = !parsed ? t('schedule.once.required') : null;
  const past = parsed && parsed.getTime() <= Date.now();

  const commit = (nextText: string, nextZone: string) => {
    setText(nextText);
    setZone(nextZone);
    const d = fromZonedInput(nextText, nextZone);
    if (d) {
      const iso = d.toISOString().replace('.000Z', 'Z');
      setPrev(iso);
      if (iso !== value.at) onChange({ type: 'once', at: iso });
    }
  };

  return (
    <div className="grid gap-3 md:grid-cols-2">
      <div className="flex flex-col gap-1">
        <label htmlFor={`${id}-at`} className="text-sm font-medium">
          {t('schedule.once.label')}
        </label>
        <input
          id={`${id}-at`}
          type="datetime-local"
          value={text}
          aria-invalid={!!error || undefined}
          aria-describedby={[error ? `${id}-error` : '', past ? `${id}-past` : ''].filter(Boolean).join(' ') || undefined}
          onChange={(e) => commit(e.target.value, zone)}
          className="h-9 w-full rounded-md border border-input bg-background px-3 text-sm aria-[invalid=true]:border-destructive"
        />
        {error && (
          <p id={`${id}-error`} className="flex items-start gap-1 text-xs text-destructive">
            <XCircle className="mt-0.5 size-3.5 shrink-0" aria-hidden="true" />
            {error}
          </p>
        )}
        {past && (
          <p id={`${id}-past`} className="flex items-start gap-1 text-xs">
            <AlertTriangle className="mt-0.5 size-3.5 shrink-0 text-warn" aria-hidden="true" />
            {t('schedule.once.past')}
          </p>
        )}
      </div>
      <TimeZoneSelect id={`${id}-tz`} value={zone} onChange={(z) => commit(text, z)} localZone={localZone} help={t('schedule.timezone.onceHelp')} />
    </div>
  );
}

function ScheduleSummary({ value, localZone }: { value: Schedule; localZone: string }) {
  const { t, i18n } = useTranslation();
  const id = useId();
  const { words, runs, zone, seconds } = useMemo(() => {
    switch (value.type) {
      case 'cron': {
        const zone = value.timezone ?? 'UTC';
        const check = checkCron(value.expression);
        if (!check.ok || !isValidTimeZone(zone)) return { words: null, runs: [] as Date[], zone, seconds: false };
        const text = cronInWords(value.expression, i18n.language);
        return {
          words: text ? t('schedule.words.cron', { words: text, zone }) : null,
          runs: nextCronRuns(value.expression, zone, NEXT_COUNT),
          zone,
          seconds: check.seconds,
        };
      }
      case 'interval': {
        const s = value.seconds;
        const unit = unitFor(s);
        const n = s / UNITS.find((u) => u.id === unit)!.factor;
        return {
          words: s >= 1 ? t(`schedule.words.every_${unit}`, { count: n }) : null,
          runs: nextIntervalRuns(s, NEXT_COUNT),
          zone: localZone,
          seconds: s % 60 !== 0,
        };
      }
      case 'once': {
        const at = new Date(value.at);
        const ok = !Number.isNaN(at.getTime());
        return {
          words: ok ? t('schedule.words.once', { at: formatDate(at, localZone, i18n.language, false) }) : null,
          runs: ok && at.getTime() > Date.now() ? [at] : [],
          zone: localZone,
          seconds: false,
        };
      }
      case 'manual':
        return { words: t('schedule.words.manual'), runs: [] as Date[], zone: localZone, seconds: false };
    }
  }, [value, localZone, t, i18n.language]);

  const twoZones = zone !== localZone;
  return (
    <section aria-labelledby={`${id}-title`} className="flex flex-col gap-2 rounded-lg border border-border bg-card p-3">
      <h3 id={`${id}-title`} className="text-sm font-semibold">
        {t('schedule.summary.title')}
      </h3>
      <p className="text-sm" data-testid="schedule-words" aria-live="polite">
        {words ?? <span className="text-muted-foreground">{t('schedule.summary.noWords')}</span>}
      </p>
      {value.type !== 'manual' &&
        (runs.length > 0 ? (
          <table className="w-full border-collapse text-sm">
            <caption className="pb-1 text-left text-xs font-medium text-muted-foreground">{t('schedule.summary.next', { count: runs.length })}</caption>
            <thead>
              <tr className="text-left text-xs text-muted-foreground">
                <th scope="col" className="pr-3 font-medium">
                  {t('schedule.summary.inZone', { zone })}
                </th>
                {twoZones && (
                  <th scope="col" className="font-medium">
                    {t('schedule.summary.inYourZone', { zone: localZone })}
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {runs.map((d) => (
                <tr key={d.getTime()} className="border-t border-border">
                  <td className="py-1 pr-3 tabular-nums">
                    <time dateTime={d.toISOString()}>{formatDate(d, zone, i18n.language, seconds)}</time>
                  </td>
                  {twoZones && (
                    <td className="py-1 tabular-nums">
                      <time dateTime={d.toISOString()}>{formatDate(d, localZone, i18n.language, seconds)}</time>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="text-sm text-muted-foreground">{t('schedule.summary.noRuns')}</p>
        ))}
    </section>
  );
}

export function formatDate(d: Date, timeZone: string, locale: string, seconds: boolean): string {
  try {
    return new Intl.DateTimeFormat(locale, {
      timeZone,
      weekday: 'short',
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      ...(seconds ? { second: '2-digit' } : {}),
      hourCycle: 'h23',
      timeZoneName: 'short',
    }).format(d);
  } catch {
    return d.toISOString();
  }
}
