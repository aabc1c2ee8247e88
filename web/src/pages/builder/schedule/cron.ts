// Cron in the browser: the same library family as the controller (croner) for the next fire
// times in an IANA time zone, cronstrue for the schedule in words. The controller validates
// again when the job is saved and is the authority.
import { Cron } from 'croner';
import { toString as cronToWords } from 'cronstrue';

export type CronCheck = { ok: true; seconds: boolean } | { ok: false; error: string; kind: 'fields' | 'syntax'; fields?: number };

/** Checks an expression as the controller does: 5 fields (minute first) or 6 (second first). */
export function checkCron(expression: string): CronCheck {
  const fields = expression.trim().split(/\s+/).filter(Boolean).length;
  if (fields < 5 || fields > 6) return { ok: false, kind: 'fields', fields, error: '' };
  try {
    new Cron(expression.trim(), { paused: true, mode: '5-or-6-parts' });
    return { ok: true, seconds: fields === 6 };
  } catch (e) {
    return { ok: false, kind: 'syntax', error: (e instanceof Error ? e.message : String(e)).replace(/^CronPattern:\s*/, '') };
  }
}

/** The next `n` fire times of a valid expression in `timezone`, after `from`. */
export function nextCronRuns(expression: string, timezone: string, n: number, from: Date = new Date()): Date[] {
  try {
    return new Cron(expression.trim(), { paused: true, timezone, mode: '5-or-6-parts' }).nextRuns(n, from);
  } catch {
    return [];
  }
}

/** The expression in words (English, 24-hour clock), or null when cronstrue cannot read it. */
export function cronInWords(expression: string, locale = 'en'): string | null {
  try {
    return cronToWords(expression.trim(), { use24HourTimeFormat: true, verbose: false, locale, throwExceptionOnParseError: true });
  } catch {
    return null;
  }
}

/** Next `n` fires of an interval, aligned to multiples since the Unix epoch (as the controller does). */
export function nextIntervalRuns(seconds: number, n: number, from: Date = new Date()): Date[] {
  if (!Number.isFinite(seconds) || seconds < 1) return [];
  const now = Math.floor(from.getTime() / 1000);
  const first = (Math.floor(now / seconds) + 1) * seconds;
  return Array.from({ length: n }, (_, i) => new Date((first + i * seconds) * 1000));
}

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function isValidTimeZone(tz: string): boolean {
  if (!tz) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

let zones: string[] | null = null;
/** Every IANA zone the browser knows, with UTC first. */
export function timeZones(): string[] {
  if (!zones) {
    let list: string[] = [];
    try {
      list = Intl.supportedValuesOf('timeZone');
    } catch {
      list = [];
    }
    zones = ['UTC', ...list.filter((z) => z !== 'UTC')];
  }
  return zones;
}

function parts(date: Date, timeZone: string): Record<string, number> {
  const out: Record<string, number> = {};
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  for (const p of f.formatToParts(date)) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return out;
}

/** `2026-03-29T09:30` (a wall time in `timeZone`) for an instant: the value of a datetime-local input. */
export function toZonedInput(date: Date, timeZone: string): string {
  const p = parts(date, timeZone);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

/** The instant at which the wall clock in `timeZone` shows `local` (`2026-03-29T09:30`), or null. */
export function fromZonedInput(local: string, timeZone: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const wall = Date.UTC(y, mo - 1, d, h, mi, s || 0);
  // The zone's offset at a guess, then at the corrected instant (handles DST changes).
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const p = parts(new Date(guess), timeZone);
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    const diff = wall - shown;
    if (diff === 0) break;
    guess += diff;
  }
  return new Date(guess);
}
