// Who is signed in, and what their role lets them do. The role comes from
// `GET /api/v1/auth/me`; the server enforces it on every request, the UI only hides or
// disables (with a reason) what the role may not do.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from '../api/client';
import { clearSession, loadSession, onSessionChange, storeTokens } from '../api/session';

export type Role = Schemas['Role'];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` is at least `needed` (viewer < operator < admin). */
export function roleAllows(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[needed];
}

interface AuthState {
  me: Schemas['MeView'] | undefined;
  signedIn: boolean;
  loading: boolean;
  login: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  can: (needed: Role) => boolean;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [hasSession, setHasSession] = useState(() => loadSession() !== null);

  useEffect(
    () =>
      onSessionChange((session) => {
        setHasSession(session !== null);
        if (session === null) queryClient.clear();
      }),
    [queryClient],
  );

  const me = useQuery({
    queryKey: ['me'],
    queryFn: async () => unwrap(await api.GET('/api/v1/auth/me')),
    enabled: hasSession,
    staleTime: 60_000,
    retry: false,
  });

  const login = useCallback(
    async (username: string, password: string) => {
      const tokens = unwrap(await api.POST('/api/v1/auth/login', { body: { username, password } }));
      storeTokens(tokens);
      await queryClient.invalidateQueries({ queryKey: ['me'] });
    },
    [queryClient],
  );

  const logout = useCallback(async () => {
    try {
      await api.POST('/api/v1/auth/logout');
    } finally {
      clearSession();
    }
  }, []);

  const value = useMemo<AuthState>(
    () => ({
      me: hasSession ? me.data : undefined,
      signedIn: hasSession,
      loading: hasSession && me.isPending,
      login,
      logout,
      can: (needed: Role) => roleAllows(me.data?.role, needed),
    }),
    [hasSession, me.data, me.isPending, login, logout],
  );

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error('useAuth outside AuthProvider');
  return state;
}
