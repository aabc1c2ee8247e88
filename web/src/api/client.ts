// The typed REST client: every path, parameter and body comes from the controller's
// OpenAPI document (`npm run api-types` regenerates `schema.d.ts` from docs/openapi.json).
//
// Errors: the controller answers `application/problem+json`; `unwrap` turns those into an
// `ApiError` carrying the problem, so forms can show each field's message next to the field.

import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import { clearSession, freshAccessToken } from './session';

export type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type FieldProblem = Schemas['FieldProblem'];

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }

  /** The message for one field path (`actions[0].params.count`), if the server named it. */
  fieldMessage(field: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === field)?.message;
  }
}

function asProblem(status: number, body: unknown): Problem {
  if (body && typeof body === 'object' && 'detail' in body) return body as Problem;
  return {
    type: 'about:blank',
    title: `HTTP ${status}`,
    status,
    detail: typeof body === 'string' && body ? body : `the server answered ${status}`,
  };
}

const auth: Middleware = {
  async onRequest({ request, schemaPath }) {
    if (schemaPath === '/api/v1/auth/login' || schemaPath === '/api/v1/auth/refresh') return request;
    const token = await freshAccessToken();
    if (token) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
  async onResponse({ response, schemaPath }) {
    // A 401 outside sign-in means the session is over (revoked, user disabled, expired).
    if (response.status === 401 && schemaPath !== '/api/v1/auth/login') clearSession();
    return response;
  },
};

// `fetch` is looked up at call time so tests can stub it.
// An absolute base: `Request` outside a document (tests) cannot resolve relative URLs.
export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? '', fetch: (request) => globalThis.fetch(request) });
api.use(auth);

/** The data of an openapi-fetch answer, or throws an `ApiError` with the problem. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  throw new ApiError(result.response.status, asProblem(result.response.status, result.error));
}

/**
 * A raw authenticated fetch for what the typed client does not model (file downloads,
 * NDJSON/CSV exports): same token handling, same problem errors.
 */
export async function authedFetch(input: string, init: RequestInit = {}): Promise<Response> {
  const token = await freshAccessToken();
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  const response = await fetch(input, { ...init, headers });
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, asProblem(response.status, body));
  }
  return response;
}

/** A human message for any error thrown by a request. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.problem.errors?.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
    return fields && fields.length > 0 ? fields.join('; ') : error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
