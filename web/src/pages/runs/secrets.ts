// Secret params (an SNMP community typed into a job, say) are stored with the job and come
// back in job and run views; the pages that print params show them masked. Which params are
// secret is the library's to say: `ui.fields.<param>.secret` (or a `password` widget) of the
// command (`GET /api/v1/library/commands`).
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../api/client';

/** What is shown instead of a secret value. */
export const SECRET_MASK = '••••••';

/** The part of a library command that says which params are secret. */
export interface CommandSecretHints {
  id: string;
  ui?: { fields?: Record<string, { secret?: boolean; widget?: string } | undefined> } | null;
}

/** An action as jobs and job specs hold it. */
export interface ParamsAction {
  command: string;
  params?: Record<string, unknown> | null;
}

/** The library's commands, shared with the builder (same key, same data: the raw list). */
export function useLibraryCommands() {
  return useQuery({
    queryKey: ['library', 'commands'],
    queryFn: async () => unwrap(await api.GET('/api/v1/library/commands')) as unknown as CommandSecretHints[],
    staleTime: 5 * 60_000,
  });
}

function secretNames(command: CommandSecretHints): Set<string> {
  const names = new Set<string>();
  for (const [name, hint] of Object.entries(command.ui?.fields ?? {})) {
    if (hint?.secret || hint?.widget === 'password') names.add(name);
  }
  return names;
}

/**
 * `actions` with the value of every secret param replaced by `SECRET_MASK` (other fields
 * untouched; the input is not changed). While the library is unknown (`commands` not loaded
 * or failed), or for a command it does not have, every param value is masked: better hidden
 * than shown in clear.
 */
export function maskSecretParams<A extends ParamsAction>(actions: readonly A[], commands: readonly CommandSecretHints[] | null | undefined): A[] {
  const byId = new Map((commands ?? []).map((c) => [c.id, c]));
  return actions.map((action) => {
    const params = action.params;
    if (!params || Object.keys(params).length === 0) return action;
    const command = commands ? byId.get(action.command) : undefined;
    const secret = command ? secretNames(command) : null;
    let masked: Record<string, unknown> | null = null;
    for (const [name, value] of Object.entries(params)) {
      if (secret && !secret.has(name)) continue;
      if (value === null || value === undefined || value === '') continue;
      masked ??= { ...params };
      masked[name] = SECRET_MASK;
    }
    return masked ? { ...action, params: masked } : action;
  });
}
