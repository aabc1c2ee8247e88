// Test helpers for the agents and settings pages: a signed-in user of a chosen role, a
// router, a fresh query client, and a `fetch` stub answering by method and path.
import type { ReactNode } from 'react';
import { render } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router';
import { vi } from 'vitest';

export interface Call {
  method: string;
  path: string;
  search: string;
  body: unknown;
  headers: Headers;
}

type Handler = (call: Call) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function problem(status: number, detail: string, errors?: { field: string; message: string }[]): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: `HTTP ${status}`, status, detail, errors }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

/**
 * Stubs `fetch`: `routes` maps `"GET /api/v1/agents"` (path parameters as written in the
 * URL) to a handler or a fixed response body. Returns the calls made.
 */
export function stubApi(routes: Record<string, Handler | object>) {
  const calls: Call[] = [];
  const fetchStub = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const text = await request.text();
    const call: Call = {
      method: request.method,
      path: url.pathname,
      search: url.search,
      body: text ? JSON.parse(text) : undefined,
      headers: request.headers,
    };
    calls.push(call);
    const route = routes[`${call.method} ${call.path}`];
    if (route === undefined) return problem(404, `no stub for ${call.method} ${call.path}`);
    if (typeof route === 'function') return (route as Handler)(call);
    return json(route);
  });
  vi.stubGlobal('fetch', fetchStub);
  return calls;
}

export function renderAt(path: string, routePath: string, element: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={routePath} element={element} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

export function meFor(role: 'viewer' | 'operator' | 'admin') {
  return {
    role,
    credential: 'session',
    user: {
      id: `user-${role}`,
      username: role === 'admin' ? 'admin' : `a-${role}`,
      display_name: '',
      role,
      disabled: false,
      version: 1,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      password_changed_at: '2026-01-01T00:00:00Z',
    },
  } as const;
}
