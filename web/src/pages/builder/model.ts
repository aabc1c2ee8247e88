// The Job Builder's data model: the job being edited (a `JobSpec` plus a stable key per
// action card), the library entries as the controller sends them, and the helpers that map
// the server's field problems (`actions[0].params.count`) onto the builder's fields.
import type { FieldProblem, Schemas } from '../../api/client';

export type JobSpec = Schemas['JobSpec'];
export type ActionSpec = Schemas['ActionSpec'];
export type JobOptions = Schemas['JobOptions'];
export type JobView = Schemas['JobView'];
export type CriteriaSpec = Schemas['CriteriaSpec'];

export type JsonSchema = Record<string, unknown> & {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchema;
};

export interface UiFieldHint {
  widget?: string;
  help?: string;
  placeholder?: string;
  secret?: boolean;
  advanced?: boolean;
}

/** A command of the library (`GET /api/v1/library/commands`). */
export interface LibraryCommand {
  id: string;
  name: string;
  description: string;
  category: string;
  kind: string;
  template?: string;
  params_schema: JsonSchema;
  ui?: { order?: string[]; fields?: Record<string, UiFieldHint> };
  defaults?: Record<string, unknown>;
  parsers?: string[];
  criteria?: { ok?: string | null; warn?: string | null } | null;
  timeout_ms?: number;
  credential?: 'none' | 'optional' | 'required';
  outputs?: Record<string, string>;
}

/** A parser of the library (`GET /api/v1/library/parsers`). */
export interface LibraryParser {
  id: string;
  name: string;
  description: string;
  extract?: { type?: string };
  samples?: { name?: string; input: string }[];
}

/** Credential kinds each executor kind accepts. */
export const CREDENTIAL_KINDS: Record<string, Schemas['CredentialKind'][]> = {
  snmp_get: ['snmp_community', 'snmp_v3'],
  snmp_walk: ['snmp_community', 'snmp_v3'],
  ssh_command: ['ssh_password', 'ssh_key'],
  http_get: ['http_basic', 'http_bearer'],
};

/** The editor's state: the job and one stable key per action (for React and drag and drop). */
export interface Draft {
  job: JobSpec;
  keys: string[];
}

let keySeq = 0;
export function newKey(): string {
  keySeq += 1;
  return `a${keySeq}-${Math.random().toString(36).slice(2, 7)}`;
}

export function emptyJob(): JobSpec {
  return {
    name: '',
    description: '',
    tags: [],
    enabled: true,
    schedule: { type: 'manual' },
    targets: { include: [], exclude: [] },
    actions: [],
    options: {},
  };
}

export function draftOf(job: JobSpec): Draft {
  return { job, keys: job.actions.map(() => newKey()) };
}

const SPEC_KEYS = ['name', 'description', 'tags', 'enabled', 'schedule', 'targets', 'actions', 'options'] as const;

/**
 * A job spec from anything that holds one: a spec, a stored job (`JobView`: identity and
 * version dropped), a template (`{spec}`) or a template file (`{format, spec}`). Returns
 * null when the value is not shaped like a job at all.
 */
export function specFrom(value: unknown): JobSpec | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (record.spec && typeof record.spec === 'object') return specFrom(record.spec);
  if (!Array.isArray(record.actions)) return null;
  const base = emptyJob();
  const out: Record<string, unknown> = { ...base };
  for (const key of SPEC_KEYS) if (record[key] !== undefined) out[key] = record[key];
  const job = out as unknown as JobSpec;
  return {
    ...job,
    name: typeof job.name === 'string' ? job.name : '',
    description: typeof job.description === 'string' ? job.description : '',
    tags: Array.isArray(job.tags) ? job.tags.filter((t): t is string => typeof t === 'string') : [],
    targets: job.targets && typeof job.targets === 'object' ? job.targets : base.targets,
    schedule: job.schedule && typeof job.schedule === 'object' ? job.schedule : base.schedule,
    options: job.options && typeof job.options === 'object' ? job.options : {},
    actions: (job.actions as unknown[]).filter((a): a is ActionSpec => !!a && typeof a === 'object'),
  };
}

/** The job as sent to the server: empty optional values left out. */
export function cleanJob(job: JobSpec): JobSpec {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(job.options ?? {})) if (v !== undefined && v !== null && v !== '') options[k] = v;
  return {
    ...job,
    description: job.description ?? '',
    tags: (job.tags ?? []).map((t) => t.trim()).filter(Boolean),
    options: options as JobOptions,
    actions: job.actions.map(cleanAction),
  };
}

export function cleanAction(action: ActionSpec): ActionSpec {
  const out: ActionSpec = { command: action.command, params: action.params ?? {} };
  if (action.name) out.name = action.name;
  if (action.credential) out.credential = action.credential;
  if (action.parsers) out.parsers = action.parsers;
  if (action.timeout_ms !== undefined && action.timeout_ms !== null) out.timeout_ms = action.timeout_ms;
  const ok = action.criteria?.ok?.trim();
  const warn = action.criteria?.warn?.trim();
  if (ok || warn) out.criteria = { ...(ok ? { ok } : {}), ...(warn ? { warn } : {}) };
  return out;
}

/** Stable JSON (sorted keys) to compare drafts. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)));
    }
    return v;
  });
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

export function moveItem<T>(list: T[], from: number, to: number): T[] {
  if (from === to || from < 0 || to < 0 || from >= list.length || to >= list.length) return list;
  const next = list.slice();
  const [item] = next.splice(from, 1);
  next.splice(to, 0, item);
  return next;
}

/** The values a command uses for params the job leaves out: schema defaults, then `defaults`. */
export function commandDefaults(command: LibraryCommand | undefined): Record<string, unknown> {
  if (!command) return {};
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(command.params_schema.properties ?? {})) {
    if (prop && prop.default !== undefined) out[name] = prop.default;
  }
  return { ...out, ...(command.defaults ?? {}) };
}

/**
 * The params to store after a form change: values the job already set are kept, other
 * values only when they differ from the command's defaults, so a job stays as sparse as its
 * author wrote it and follows library default changes.
 */
export function sparseParams(
  formData: Record<string, unknown>,
  previous: Record<string, unknown>,
  defaults: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(formData)) {
    if (v === undefined) continue;
    if (k in previous || !deepEqual(v, defaults[k])) out[k] = v;
  }
  return out;
}

// ---- server problems --------------------------------------------------------------------

/** Problems whose field is exactly `field`. */
export function problemsAt(problems: FieldProblem[], field: string): string[] {
  return problems.filter((p) => p.field === field).map((p) => p.message);
}

/** Problems whose field is `prefix` or below it (`targets` covers `targets.include[0]`). */
export function problemsUnder(problems: FieldProblem[], prefix: string): FieldProblem[] {
  return problems.filter(
    (p) => p.field === prefix || p.field.startsWith(`${prefix}.`) || p.field.startsWith(`${prefix}[`),
  );
}

export type ErrorTree = { __errors?: string[]; [key: string]: ErrorTree | string[] | undefined };

/**
 * An rjsf `extraErrors` tree from the problems under `actions[i].params`
 * (`actions[0].params.oids[1]` → `{oids: {1: {__errors: [...]}}}`).
 */
export function paramErrorTree(problems: FieldProblem[], prefix: string): ErrorTree | undefined {
  const tree: ErrorTree = {};
  let any = false;
  for (const p of problems) {
    if (!p.field.startsWith(`${prefix}.`) && !p.field.startsWith(`${prefix}[`)) continue;
    const rest = p.field.slice(prefix.length);
    const parts = rest.match(/[^.[\]]+/g) ?? [];
    if (parts.length === 0) continue;
    let node = tree;
    for (const part of parts) {
      node[part] ??= {};
      node = node[part] as ErrorTree;
    }
    node.__errors = [...(node.__errors ?? []), p.message];
    any = true;
  }
  return any ? tree : undefined;
}

/** The DOM id of the control a problem's field belongs to, for the summary's links. */
export function fieldDomId(field: string): string | undefined {
  if (field === 'name') return 'job-name';
  if (field === 'description') return 'job-description';
  if (field.startsWith('tags')) return 'job-tags';
  if (field.startsWith('targets')) return 'job-targets';
  if (field.startsWith('schedule')) return 'job-schedule';
  const option = /^options\.(\w+)/.exec(field);
  if (option) return `job-option-${option[1]}`;
  const action = /^actions\[(\d+)\](?:\.(\w+))?(?:\.([\w]+))?/.exec(field);
  if (action) {
    const [, index, key, sub] = action;
    if (key === 'params' && sub) return `action-${index}-params_${sub}`;
    if (key === 'criteria' && sub) return `action-${index}-criteria-${sub}`;
    if (key === 'command') return `action-${index}-command`;
    if (key === 'credential') return `action-${index}-credential`;
    if (key === 'timeout_ms') return `action-${index}-timeout`;
    if (key === 'name') return `action-${index}-name`;
    if (key === 'parsers') return `action-${index}-parsers`;
    return `action-${index}`;
  }
  if (field === 'actions') return 'job-actions';
  return undefined;
}
