// Names and display of a device's learned attributes (device page, scan diff).
import i18n from '../../i18n';

/** The attributes in the order the device page lists them. */
export const ATTRIBUTE_ORDER = [
  'vendor',
  'model',
  'os',
  'sys_name',
  'sys_descr',
  'sys_object_id',
  'sys_uptime_s',
  'sys_location',
  'ssh_banner',
  'http_server',
  'http_title',
  'open_ports',
  'rtt_ms',
] as const;

/** An attribute's label ("sysDescr"); an unknown name as it is. */
export function attributeLabel(field: string): string {
  const key = `inventory.attributes.${field}`;
  return i18n.exists(key) ? i18n.t(key) : field;
}

/** A value as text, or null when it is not known. */
export function formatAttribute(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (Array.isArray(value)) return value.length === 0 ? null : value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ');
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString(i18n.language) : value.toLocaleString(i18n.language, { maximumFractionDigits: 2 });
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Seconds as days, hours and minutes (an uptime). */
export function formatUptime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return i18n.t('inventory.uptime', { d, h, m });
}
