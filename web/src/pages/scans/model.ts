// The new-scan form's draft: what the operator types, checked here first (ports 1-65535 and
// no duplicates, a probe to run, option ranges) and turned into a `ScanSpec`. The server
// checks everything again; its problems come back by the same field paths used here.
import i18n from '../../i18n';
import type { Schemas } from '../../api/client';
import type { ScanSpec } from '../../lib/inventory';

export type SnmpVersion = '1' | '2c' | '3';
export type WebScheme = 'http' | 'https';

export interface WebDraft {
  /** Stable React key. */
  key: number;
  scheme: WebScheme;
  port: string;
}

export interface ScanDraft {
  name: string;
  targets: Schemas['TargetSpec'];
  ping: boolean;
  ports: string;
  snmp: boolean;
  snmpAuth: 'credential' | 'community';
  snmpCredential: string;
  snmpCommunity: string;
  snmpVersion: SnmpVersion;
  snmpPort: string;
  ssh: boolean;
  sshPort: string;
  web: WebDraft[];
  concurrency: string;
  hostTimeout: string;
  segment: string;
}

/** The server's limits (`MAX_SCAN_PORTS`, `MAX_WEB_PORTS`, option ranges). */
export const MAX_SCAN_PORTS = 64;
export const MAX_WEB_PAGES = 8;
export const CONCURRENCY = { min: 1, max: 10_000, default: 512 };
export const HOST_TIMEOUT = { min: 100, max: 120_000, default: 5000 };

export function emptyDraft(): ScanDraft {
  return {
    name: '',
    targets: { include: [], exclude: [] },
    ping: true,
    ports: '',
    snmp: false,
    snmpAuth: 'community',
    snmpCredential: '',
    snmpCommunity: '',
    snmpVersion: '2c',
    snmpPort: '',
    ssh: false,
    sshPort: '22',
    web: [],
    concurrency: String(CONCURRENCY.default),
    hostTimeout: String(HOST_TIMEOUT.default),
    segment: '',
  };
}

/** The ports typed (commas, semicolons or spaces between them) and what is wrong with them. */
export function parsePorts(text: string): { ports: number[]; problems: string[] } {
  const entries = text.split(/[\s,;]+/).filter(Boolean);
  const ports: number[] = [];
  const problems: string[] = [];
  const seen = new Set<number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) {
      problems.push(i18n.t('scans.form.ports.notNumber', { entry }));
      continue;
    }
    const port = Number(entry);
    if (port < 1 || port > 65_535) {
      problems.push(i18n.t('scans.form.ports.range', { entry }));
      continue;
    }
    if (seen.has(port)) {
      problems.push(i18n.t('scans.form.ports.duplicate', { port }));
      continue;
    }
    seen.add(port);
    ports.push(port);
  }
  if (ports.length > MAX_SCAN_PORTS) problems.push(i18n.t('scans.form.ports.tooMany', { max: MAX_SCAN_PORTS, count: ports.length }));
  return { ports, problems };
}

/** A port field: empty is allowed (the default), otherwise 1-65535. */
function portProblem(text: string): string | undefined {
  const value = text.trim();
  if (value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65_535) return i18n.t('scans.form.portRule');
  return undefined;
}

function rangeProblem(text: string, { min, max }: { min: number; max: number }): string | undefined {
  const value = text.trim();
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    return i18n.t('scans.form.numberRule', { min: min.toLocaleString(i18n.language), max: max.toLocaleString(i18n.language) });
  }
  return undefined;
}

/** Whether any selector holds something to scan. */
export function hasTargets(targets: Schemas['TargetSpec']): boolean {
  return targets.include.some((s) => {
    switch (s.type) {
      case 'range':
        return s.value.trim() !== '';
      case 'hosts':
        return s.hosts.some((h) => h.trim() !== '');
      case 'file':
        return s.content.trim() !== '';
      case 'group':
        return s.group.trim() !== '';
    }
  });
}

/**
 * The draft's problems by the server's field paths (`profile.tcp_ports`,
 * `profile.web[1].port`, …). `targets` is only checked for being empty: the target picker
 * shows the server's own count and problems as the range is typed.
 */
export function validateDraft(draft: ScanDraft): Map<string, string> {
  const problems = new Map<string, string>();
  const put = (field: string, message: string | undefined) => {
    if (message && !problems.has(field)) problems.set(field, message);
  };
  if (!hasTargets(draft.targets)) put('targets', i18n.t('scans.form.targetsRequired'));
  const ports = parsePorts(draft.ports);
  if (ports.problems.length > 0) put('profile.tcp_ports', ports.problems.join(' '));
  if (draft.snmp) {
    put('profile.snmp.port', portProblem(draft.snmpPort));
    if (draft.snmpAuth === 'credential' && !draft.snmpCredential) put('profile.snmp.credential', i18n.t('scans.form.snmp.credentialRequired'));
    if (draft.snmpVersion === '3' && draft.snmpAuth !== 'credential') put('profile.snmp.version', i18n.t('scans.form.snmp.v3NeedsCredential'));
  }
  if (draft.ssh) put('profile.ssh_port', portProblem(draft.sshPort));
  draft.web.forEach((w, i) => put(`profile.web[${i}].port`, portProblem(w.port)));
  const probes = ports.ports.length + Number(draft.snmp) + Number(draft.ssh) + draft.web.length;
  if (!draft.ping && probes === 0) put('profile', i18n.t('scans.form.nothingToProbe'));
  put('options.concurrency', rangeProblem(draft.concurrency, CONCURRENCY));
  put('options.host_timeout_ms', rangeProblem(draft.hostTimeout, HOST_TIMEOUT));
  return problems;
}

const portOrNull = (text: string) => (text.trim() === '' ? null : Number(text.trim()));

/** The request for a (valid) draft. */
export function buildSpec(draft: ScanDraft): ScanSpec {
  const profile: NonNullable<ScanSpec['profile']> = {
    ping: draft.ping,
    tcp_ports: parsePorts(draft.ports).ports,
    web: draft.web.map((w) => ({ scheme: w.scheme, ...(w.port.trim() ? { port: Number(w.port.trim()) } : {}) })),
  };
  if (draft.snmp) {
    profile.snmp = {
      version: draft.snmpVersion,
      ...(draft.snmpPort.trim() ? { port: portOrNull(draft.snmpPort) } : {}),
      ...(draft.snmpAuth === 'credential'
        ? { credential: draft.snmpCredential }
        : draft.snmpCommunity !== ''
          ? { community: draft.snmpCommunity }
          : {}),
    };
  }
  if (draft.ssh) profile.ssh_port = portOrNull(draft.sshPort) ?? 22;
  return {
    ...(draft.name.trim() ? { name: draft.name.trim() } : {}),
    targets: draft.targets,
    profile,
    options: {
      concurrency: Number(draft.concurrency),
      host_timeout_ms: Number(draft.hostTimeout),
      ...(draft.segment ? { segment: draft.segment } : {}),
    },
  };
}
