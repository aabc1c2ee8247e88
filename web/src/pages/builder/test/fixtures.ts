// Library entries and a fetch stub shared by the builder's tests.
import { vi } from 'vitest';
import type { LibraryCommand, LibraryParser } from '../model';

export const ping: LibraryCommand = {
  id: 'ping.icmp',
  name: 'Ping (ICMP echo)',
  description: 'Sends ICMP echo requests and reports loss.',
  category: 'Reachability',
  kind: 'ping',
  template: 'ping -c {{ count }} {{ target }}',
  params_schema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: 'integer', title: 'Count', description: 'Echo requests to send.', minimum: 1, maximum: 100, default: 3 },
      interval_ms: { type: 'integer', title: 'Interval (ms)', minimum: 10, maximum: 10000, default: 200 },
      family: { type: 'string', title: 'Address family', enum: ['auto', 'ipv4', 'ipv6'], default: 'auto' },
    },
  },
  ui: {
    order: ['count', 'interval_ms', 'family'],
    fields: {
      count: { widget: 'updown', help: 'More echoes give steadier figures.' },
      interval_ms: { widget: 'duration' },
      family: { widget: 'select', advanced: true },
    },
  },
  parsers: [],
  criteria: { ok: 'loss_pct < 20', warn: 'loss_pct < 100' },
  timeout_ms: 15000,
  credential: 'none',
  outputs: { loss_pct: 'percent lost' },
};

export const snmpGet: LibraryCommand = {
  id: 'snmp.get',
  name: 'SNMP GET',
  description: 'Fetches OIDs in one GET request.',
  category: 'SNMP',
  kind: 'snmp_get',
  params_schema: {
    type: 'object',
    required: ['oids'],
    properties: {
      oids: { type: 'array', title: 'OIDs', items: { type: 'string' }, minItems: 1 },
      community: { type: 'string', title: 'Community' },
    },
  },
  ui: { fields: { oids: { widget: 'oid' }, community: { widget: 'password', secret: true } } },
  credential: 'optional',
};

export const jsonHealth: LibraryCommand = {
  id: 'http.json_health',
  name: 'JSON health endpoint',
  description: 'GETs a JSON health endpoint and reads its status.',
  category: 'HTTP',
  kind: 'http_get',
  params_schema: {
    type: 'object',
    properties: {
      port: { type: 'integer', title: 'Port', minimum: 1, maximum: 65535 },
      path: { type: 'string', title: 'Path', default: '/health' },
      headers: { type: 'object', title: 'Headers', additionalProperties: { type: 'string' } },
    },
  },
  ui: { fields: { headers: { widget: 'headers', advanced: true } } },
  parsers: ['http.json_health'],
  criteria: { ok: 'status_ok && healthy == true' },
  credential: 'optional',
};

export const commands = [ping, snmpGet, jsonHealth];

export const parsers: LibraryParser[] = [
  {
    id: 'http.json_health',
    name: 'HTTP JSON health document',
    description: 'Overall status of a JSON health endpoint.',
    extract: { type: 'jsonpath' },
    samples: [{ name: 'up', input: '{"status":"UP"}' }],
  },
];

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

export type Route = (request: Request, body: unknown) => Response | Promise<Response> | undefined;

/** Stubs `fetch`: each request goes to `route` (method + path); unknown ones answer 404. */
export function stubFetch(route: (method: string, path: string, body: unknown, request: Request) => Response | undefined) {
  const calls: { method: string; path: string; body: unknown; headers: Headers }[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.clone().text();
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    calls.push({ method: request.method, path: url.pathname, body, headers: request.headers });
    return (
      route(request.method, url.pathname, body, request) ??
      json({ type: 'about:blank', title: 'Not Found', status: 404, detail: `no stub for ${request.method} ${url.pathname}` }, 404)
    );
  });
  vi.stubGlobal('fetch', fetchMock);
  return calls;
}

export function problem(errors: { field: string; message: string }[], status = 422): Response {
  return json({ type: 'about:blank', title: 'Unprocessable Entity', status, detail: 'invalid input', errors }, status);
}
