// Helpers for the scans, inventory and groups page tests: a `fetch` stub answering by method
// and path that also takes raw bodies (imports) and plain URL strings (downloads), a router
// with the location shown, and fixtures.
import type { ReactNode } from 'react';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { vi } from 'vitest';
import type { Device, GroupView, ScanView } from '../../lib/inventory';

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Parsed JSON, or the text when it is not JSON. */
  body: unknown;
  headers: Headers;
}

type Handler = (call: Call) => Response | object | Promise<Response | object>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function problem(status: number, detail: string, errors?: { field: string; message: string }[]): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: `HTTP ${status}`, status, detail, errors }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

/** Stubs `fetch`: `routes` maps `"GET /api/v1/devices"` to a handler or a fixed body. */
export function stubApi(routes: Record<string, Handler | object>) {
  const calls: Call[] = [];
  const fetchStub = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost'), init);
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const call: Call = { method: request.method, path: url.pathname, query: url.searchParams, body, headers: request.headers };
    calls.push(call);
    const route = routes[`${call.method} ${call.path}`];
    if (route === undefined) return problem(404, `no stub for ${call.method} ${call.path}`);
    const value = typeof route === 'function' ? await (route as Handler)(call) : route;
    return value instanceof Response ? value : json(value);
  });
  vi.stubGlobal('fetch', fetchStub);
  return calls;
}

function LocationProbe() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

export function renderAt(path: string, routePath: string, element: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity }, mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={routePath} element={element} />
          <Route path="*" element={<p>elsewhere</p>} />
        </Routes>
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

/** jsdom lays nothing out: give virtualized lists a size so they render rows. */
export function fakeLayout() {
  Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, get: () => 800 });
  Object.defineProperty(HTMLElement.prototype, 'offsetWidth', { configurable: true, get: () => 1200 });
}

const T = '2026-11-27T03:00:00Z';

export function makeDevice(address: string, extra: Omit<Partial<Device>, 'attributes'> & { attributes?: Record<string, unknown> } = {}): Device {
  return {
    address,
    hostname: null,
    segment: 'local',
    tags: [],
    notes: '',
    first_seen: T,
    last_seen: T,
    ...extra,
    attributes: { ...(extra.attributes ?? {}) },
  } as Device;
}

export const SCAN_ID = '01a21af6-0000-7000-8000-00000000sc01';
export const SCAN_RUN = '01a21af6-0000-7000-8000-00000000ru01';

export function makeScan(extra: Partial<ScanView> = {}): ScanView {
  return {
    id: SCAN_ID,
    label: 'lab sweep',
    state: 'running',
    spec: { targets: { include: [{ type: 'range', value: '127.0.0.1-127.0.0.4' }] }, profile: { ping: true, tcp_ports: [22] } },
    run_id: SCAN_RUN,
    job_id: 'job-scan',
    counts: { probed: 2, alive: 1, identified: 0, new: 0, changed: 0, gone: 0 },
    targets: 4,
    results_done: 3,
    results_total: 8,
    created_by: 'admin',
    created_at: T,
    ...extra,
  };
}

export function makeGroup(name: string, extra: Partial<GroupView> = {}): GroupView {
  return {
    name,
    description: '',
    kind: 'dynamic',
    filter: 'tag = core',
    member_count: 2,
    version: 3,
    created_at: T,
    updated_at: T,
    ...extra,
  };
}

/** A mock of `useAuth` for the role in `auth.role` (use with vi.mock of AuthProvider). */
export function meFor(role: 'viewer' | 'operator' | 'admin') {
  return {
    role,
    credential: 'session',
    user: { id: `user-${role}`, username: role, display_name: '', role, disabled: false, version: 1, created_at: T, updated_at: T, password_changed_at: T },
  } as const;
}
