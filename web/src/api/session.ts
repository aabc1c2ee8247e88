// The signed-in session, shared by every tab of this origin.
//
// Refresh tokens are good once and reusing one revokes the whole session, so two tabs must
// never refresh with the same token: every refresh runs under a Web Lock (one tab at a time)
// and re-reads the stored tokens inside it — if another tab refreshed meanwhile, its new
// access token is used instead of refreshing again.

import type { components } from './schema';

export type SessionTokens = components['schemas']['SessionTokens'];

export interface StoredSession {
  accessToken: string;
  /** Epoch milliseconds after which the access token must not be used. */
  accessExpiresAt: number;
  refreshToken: string;
}

const STORAGE_KEY = 'opsconductor.session';
/** Refresh this long before the access token expires, so no request races its expiry. */
const EXPIRY_MARGIN_MS = 30_000;

type Listener = (session: StoredSession | null) => void;
const listeners = new Set<Listener>();

export function loadSession(): StoredSession | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as StoredSession;
    if (typeof parsed.accessToken !== 'string' || typeof parsed.refreshToken !== 'string') {
      return null;
    }
    return parsed;
  } catch {
    return null;
  }
}

export function storeTokens(tokens: SessionTokens): StoredSession {
  const session: StoredSession = {
    accessToken: tokens.access_token,
    accessExpiresAt: Date.now() + tokens.expires_in * 1000,
    refreshToken: tokens.refresh_token,
  };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  listeners.forEach((l) => l(session));
  return session;
}

export function clearSession(): void {
  localStorage.removeItem(STORAGE_KEY);
  listeners.forEach((l) => l(null));
}

/** Calls `listener` when this or another tab signs in, refreshes or signs out. */
export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  const onStorage = (event: StorageEvent) => {
    if (event.key === STORAGE_KEY) listener(loadSession());
  };
  window.addEventListener('storage', onStorage);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('storage', onStorage);
  };
}

async function withRefreshLock<T>(work: () => Promise<T>): Promise<T> {
  if (typeof navigator !== 'undefined' && navigator.locks) {
    return navigator.locks.request('opsconductor.refresh', work);
  }
  return work();
}

/**
 * An access token good for at least the next half minute, refreshing if needed; `null`
 * when there is no session or the refresh was refused (the session has ended). Throws when
 * the refresh could not be made (network, 5xx): the session stays.
 */
export async function freshAccessToken(force = false): Promise<string | null> {
  const current = loadSession();
  if (!current) return null;
  if (!force && current.accessExpiresAt - EXPIRY_MARGIN_MS > Date.now()) {
    return current.accessToken;
  }
  return withRefreshLock(async () => {
    const latest = loadSession();
    if (!latest) return null;
    // Another tab may have refreshed while this one waited for the lock.
    if (latest.refreshToken !== current.refreshToken && latest.accessExpiresAt - EXPIRY_MARGIN_MS > Date.now()) {
      return latest.accessToken;
    }
    const response = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: latest.refreshToken }),
    });
    if (response.status === 401 || response.status === 400) {
      // The refresh token is spent, expired or revoked: the session is over.
      clearSession();
      return null;
    }
    if (!response.ok) {
      // The controller is restarting or unreachable: keep the session and let the request
      // fail as an error (it is retried), rather than going out unsigned and signing out.
      throw new Error(`refreshing the session failed: the server answered ${response.status}`);
    }
    return storeTokens((await response.json()) as SessionTokens).accessToken;
  });
}
