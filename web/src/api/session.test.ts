import { afterEach, describe, expect, it, vi } from 'vitest';
import { freshAccessToken, loadSession, storeTokens } from './session';
import { api, ApiError, unwrap } from './client';

function tokens(access: string, refresh: string, expiresIn = 900) {
  return {
    access_token: access,
    token_type: 'Bearer',
    expires_in: expiresIn,
    refresh_token: refresh,
    refresh_expires_in: 86400,
    user: {} as never,
  };
}

afterEach(() => vi.unstubAllGlobals());

describe('session tokens', () => {
  it('uses the stored access token while it is fresh', async () => {
    storeTokens(tokens('a1', 'r1'));
    const fetchSpy = vi.fn();
    vi.stubGlobal('fetch', fetchSpy);
    expect(await freshAccessToken()).toBe('a1');
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('refreshes once when the access token is about to expire, and stores the new pair', async () => {
    storeTokens(tokens('a1', 'r1', 10));
    const fetchSpy = vi.fn(async () => new Response(JSON.stringify(tokens('a2', 'r2')), { status: 200 }));
    vi.stubGlobal('fetch', fetchSpy);
    expect(await freshAccessToken()).toBe('a2');
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(JSON.parse(String((fetchSpy.mock.calls[0] as unknown as [string, RequestInit])[1].body))).toEqual({ refresh_token: 'r1' });
    expect(loadSession()?.refreshToken).toBe('r2');
  });

  it('keeps the session when the controller cannot refresh right now', async () => {
    storeTokens(tokens('a1', 'r1', 10));
    vi.stubGlobal('fetch', vi.fn(async () => new Response('bad gateway', { status: 502 })));
    await expect(freshAccessToken()).rejects.toThrow('502');
    expect(loadSession()?.refreshToken).toBe('r1');
  });

  it('ends the session when the refresh is refused', async () => {
    storeTokens(tokens('a1', 'r1', 10));
    vi.stubGlobal('fetch', vi.fn(async () => new Response('{}', { status: 401 })));
    expect(await freshAccessToken()).toBeNull();
    expect(loadSession()).toBeNull();
  });
});

describe('problem responses', () => {
  it('become an ApiError that names each field', async () => {
    storeTokens(tokens('a1', 'r1'));
    const problem = {
      type: 'about:blank',
      title: 'Unprocessable Entity',
      status: 422,
      detail: 'the job is invalid',
      errors: [{ field: 'actions[0].params.count', message: 'must be at most 100' }],
    };
    vi.stubGlobal(
      'fetch',
      vi.fn(async (request: Request) => {
        expect(request.headers.get('authorization')).toBe('Bearer a1');
        return new Response(JSON.stringify(problem), { status: 422, headers: { 'content-type': 'application/problem+json' } });
      }),
    );
    const result = await api.POST('/api/v1/jobs/validate', { body: { name: 'x', actions: [], schedule: { type: 'manual' }, targets: { include: [] } } as never });
    let caught: unknown;
    try {
      unwrap(result);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ApiError);
    expect((caught as ApiError).fieldMessage('actions[0].params.count')).toBe('must be at most 100');
  });
});
