// The history's time range, kept in the URL: `?range=1h|24h|7d|30d` (default 24h) or
// `?range=custom&from=<RFC 3339>&to=<RFC 3339>`. Each range gets a bucket width that keeps
// the charts at a few hundred points at most.

export type RangeId = '1h' | '24h' | '7d' | '30d' | 'custom';
export const PRESETS: Exclude<RangeId, 'custom'>[] = ['1h', '24h', '7d', '30d'];
export const DEFAULT_RANGE: RangeId = '24h';

const HOUR = 3_600_000;
const PRESET_SPAN: Record<Exclude<RangeId, 'custom'>, { ms: number; step: number }> = {
  '1h': { ms: HOUR, step: 60 },
  '24h': { ms: 24 * HOUR, step: 600 },
  '7d': { ms: 7 * 24 * HOUR, step: 3600 },
  '30d': { ms: 30 * 24 * HOUR, step: 6 * 3600 },
};

/** Bucket widths in seconds, smallest first. */
const STEPS = [30, 60, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600];
const MAX_POINTS = 240;

export interface RangeSelection {
  id: RangeId;
  /** Custom ranges only (RFC 3339). */
  from?: string;
  to?: string;
}

export function readRange(params: URLSearchParams): RangeSelection {
  const id = params.get('range');
  if (id === 'custom') {
    const from = params.get('from') ?? undefined;
    const to = params.get('to') ?? undefined;
    if (from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to)) && Date.parse(from) < Date.parse(to)) {
      return { id, from, to };
    }
    return { id: DEFAULT_RANGE };
  }
  return (PRESETS as string[]).includes(id ?? '') ? { id: id as RangeId } : { id: DEFAULT_RANGE };
}

export function writeRange(params: URLSearchParams, range: RangeSelection): URLSearchParams {
  const next = new URLSearchParams(params);
  next.delete('from');
  next.delete('to');
  if (range.id === DEFAULT_RANGE) next.delete('range');
  else next.set('range', range.id);
  if (range.id === 'custom' && range.from && range.to) {
    next.set('from', range.from);
    next.set('to', range.to);
  }
  return next;
}

/** `30s`, `10m`, `6h`: the API's bucket width notation. */
export function stepText(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

export interface SeriesWindow {
  from: Date;
  to: Date;
  stepSeconds: number;
}

/** The window to ask for: presets end now; custom ranges are fixed. */
export function seriesWindow(range: RangeSelection, now = Date.now()): SeriesWindow {
  if (range.id === 'custom' && range.from && range.to) {
    const from = new Date(range.from);
    const to = new Date(range.to);
    const span = (to.getTime() - from.getTime()) / 1000;
    const stepSeconds = STEPS.find((s) => span / s <= MAX_POINTS) ?? STEPS[STEPS.length - 1];
    return { from, to, stepSeconds };
  }
  const preset = PRESET_SPAN[range.id as Exclude<RangeId, 'custom'>] ?? PRESET_SPAN[DEFAULT_RANGE as '24h'];
  const stepMs = preset.step * 1000;
  // Round the end up to a whole bucket so the buckets stay put between refreshes.
  const end = Math.ceil(now / stepMs) * stepMs;
  return { from: new Date(end - preset.ms), to: new Date(end), stepSeconds: preset.step };
}

/** A `datetime-local` input value (local time, minutes) for an instant. */
export function toLocalInput(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The instant of a `datetime-local` value (local time), as RFC 3339 UTC, or null. */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
