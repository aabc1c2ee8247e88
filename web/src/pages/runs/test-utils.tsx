// Helpers for the run and history page tests: a router + query client wrapper, a fetch stub
// answering by path, and a controllable stand-in for the live WebSocket.
import type { ReactElement } from 'react';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { vi } from 'vitest';
import type { Schemas } from '../../api/client';
import type { LiveMessage } from '../../lib/live';

export type Handler = (url: URL, init: { method: string; body?: string }) => unknown;

/** Stubs `fetch`; `routes` map `METHOD /path` (no query) to a JSON body or a function. */
export function stubFetch(routes: Record<string, unknown | Handler>) {
  const calls: { method: string; url: URL }[] = [];
  const fetchMock = vi.fn(async (input: Request | string, init?: RequestInit) => {
    const request = typeof input === 'string' ? null : input;
    const url = new URL(request ? request.url : (input as string), 'http://localhost');
    const method = (request?.method ?? init?.method ?? 'GET').toUpperCase();
    const body = request ? await request.clone().text() : (init?.body as string | undefined);
    calls.push({ method, url });
    const route = routes[`${method} ${url.pathname}`];
    if (route === undefined) {
      return new Response(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, detail: `no stub for ${method} ${url.pathname}` }), {
        status: 404,
        headers: { 'content-type': 'application/problem+json' },
      });
    }
    const value = typeof route === 'function' ? (route as Handler)(url, { method, body }) : route;
    if (value instanceof Response) return value;
    return new Response(JSON.stringify(value), { status: 200, headers: { 'content-type': 'application/json' } });
  });
  vi.stubGlobal('fetch', fetchMock);
  return { fetchMock, calls };
}

/** Shows the current location for assertions about the URL. */
function LocationProbe() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

export function renderAt(path: string, route: string, element: ReactElement) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Infinity } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={route} element={element} />
          <Route path="*" element={<p>elsewhere</p>} />
        </Routes>
        <LocationProbe />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

/** The live socket's listeners, to feed messages in tests (used with vi.mock of lib/live). */
export const liveListeners = new Set<(message: LiveMessage) => void>();
export function emitLive(message: LiveMessage) {
  liveListeners.forEach((listener) => listener(message));
}

/** jsdom lays nothing out: give the virtualized list a size so it renders rows. */
export function fakeLayout() {
  Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, get: () => 600 });
  Object.defineProperty(HTMLElement.prototype, 'offsetWidth', { configurable: true, get: () => 1000 });
}

export const RUN_ID = '01a21af6-0000-7000-8000-000000000001';
export const JOB_ID = '01a21af6-0000-7000-8000-0000000000aa';

export function makeRun(overrides: Partial<Schemas['RunDetail']> = {}): Schemas['RunDetail'] {
  return {
    id: RUN_ID,
    job_id: JOB_ID,
    job_version: 3,
    status: 'running',
    trigger: 'manual',
    scheduled_for: '2026-11-27T03:00:00Z',
    created_at: '2026-11-27T03:00:00Z',
    started_at: '2026-11-27T03:00:01Z',
    deadline_at: '2026-11-27T03:10:00Z',
    finished_at: null,
    counters: { total: 4, ok: 1, warn: 0, failed: 1, error: 0, timeout: 0 },
    job_spec: {
      name: 'Core ping',
      schedule: { type: 'manual' },
      targets: { include: [{ type: 'range', value: '10.0.0.0/30' }] },
      actions: [{ command: 'ping.icmp', params: { count: 3 } }],
    },
    rendered_commands: [{ index: 0, command: 'ping.icmp', text: 'ping -c 3 {{ target }}' }],
    chunks: [],
    ...overrides,
  };
}

export function makeResult(target: string, status: Schemas['ResultStatus'], extra: Partial<Schemas['ResultView']> = {}): Schemas['ResultView'] {
  return {
    run_id: RUN_ID,
    job_id: JOB_ID,
    run_created_at: '2026-11-27T03:00:00Z',
    target,
    action_index: 0,
    status,
    started_at: '2026-11-27T03:00:02Z',
    duration_ms: 12.5,
    fields: { rtt_avg_ms: 1.25, loss_pct: 0 },
    ...extra,
  };
}
