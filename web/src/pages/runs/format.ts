// Formatting and small derivations shared by the run pages and the job history.
import i18n from '../../i18n';
import type { Schemas } from '../../api/client';

export type Run = Schemas['Run'];
export type RunStatus = Schemas['RunStatus'];
export type ResultStatus = Schemas['ResultStatus'];

export const RUN_STATUSES: RunStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
export const RESULT_STATUSES: ResultStatus[] = ['ok', 'warn', 'fail', 'error', 'timeout'];

/** Worst first: the order of a status sort. */
export const RESULT_STATUS_RANK: Record<ResultStatus, number> = { error: 0, timeout: 1, fail: 2, warn: 3, ok: 4 };


/** The counter of a result status (`fail` counts in `failed`). */
export function counterOf(counters: Schemas['RunCounters'], status: ResultStatus): number {
  return status === 'fail' ? counters.failed : counters[status];
}

// Formatters per language, made on first use: they follow `i18n.language` when it changes.
const numberFormats = new Map<string, Intl.NumberFormat>();
function numberFormat(digits?: number): Intl.NumberFormat {
  const lang = i18n.language || 'en';
  const key = `${lang}\u0000${digits ?? ''}`;
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(lang, digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits });
    numberFormats.set(key, format);
  }
  return format;
}

export function formatNumber(n: number): string {
  return numberFormat().format(n);
}

/** A number with exactly `digits` fraction digits, in the page language. */
export function formatFixed(n: number, digits: number): string {
  return numberFormat(digits).format(n);
}

const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();
/** A local date and time to the second, or an em dash. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const lang = i18n.language || 'en';
  let format = dateTimeFormats.get(lang);
  if (!format) {
    format = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'medium' });
    dateTimeFormats.set(lang, format);
  }
  return format.format(date);
}

/** A latency: sub-millisecond precision below 10 ms. */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms === 0) return i18n.t('runs.units.ms', { value: formatFixed(0, 0) });
  if (ms < 10) return i18n.t('runs.units.ms', { value: formatFixed(ms, 2) });
  if (ms < 1000) return i18n.t('runs.units.ms', { value: formatFixed(ms, 0) });
  return i18n.t('runs.units.s', { value: formatFixed(ms / 1000, 2) });
}

/** A span of time in short units: `850 ms`, `4.2 s`, `3 min 12 s`, `2 h 5 min`, `3 d 4 h`. */
export function formatSpan(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return i18n.t('runs.units.ms', { value: formatFixed(Math.round(ms), 0) });
  const s = ms / 1000;
  if (s < 60) return i18n.t('runs.units.s', { value: formatFixed(s, 1) });
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return i18n.t('runs.units.minSec', { min: formatNumber(minutes), s: formatNumber(Math.floor(s % 60)) });
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return i18n.t('runs.units.hourMin', { h: formatNumber(hours), min: formatNumber(minutes % 60) });
  return i18n.t('runs.units.dayHour', { d: formatNumber(Math.floor(hours / 24)), h: formatNumber(hours % 24) });
}

/** How long a run took (or has taken so far). */
export function runDuration(run: Pick<Run, 'started_at' | 'finished_at' | 'created_at'>, now = Date.now()): string {
  const start = run.started_at ?? run.created_at;
  const end = run.finished_at ? Date.parse(run.finished_at) : now;
  return formatSpan(end - Date.parse(start));
}

/** An IPv4 address as a number (for sorting), or -1. */
export function ipv4Number(target: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(target);
  if (!m) return -1;
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) return -1;
  return ((parts[0] * 256 + parts[1]) * 256 + parts[2]) * 256 + parts[3];
}

/** Sort key for a target: IPv4 addresses in numeric order, then everything else by text. */
export function targetSortKey(target: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(target);
  if (m) return `0${m.slice(1, 5).map((p) => p.padStart(3, '0')).join('.')}`;
  return `1${target.toLowerCase()}`;
}
