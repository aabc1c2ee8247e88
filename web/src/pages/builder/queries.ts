// Data the builder reads: the libraries, credentials, segments, templates, and the live
// validation / preview calls (debounced, latest answer wins).
import { useEffect, useRef, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, ApiError, unwrap, type FieldProblem, type Schemas } from '../../api/client';
import type { JobSpec, LibraryCommand, LibraryParser } from './model';
import { useDebounced } from '../../lib/hooks';

export function useCommands() {
  return useQuery({
    queryKey: ['library', 'commands'],
    queryFn: async () => unwrap(await api.GET('/api/v1/library/commands')) as unknown as LibraryCommand[],
    staleTime: 5 * 60_000,
  });
}

export function useParsers() {
  return useQuery({
    queryKey: ['library', 'parsers'],
    queryFn: async () => unwrap(await api.GET('/api/v1/library/parsers')) as unknown as LibraryParser[],
    staleTime: 5 * 60_000,
  });
}

export function useCredentials() {
  return useQuery({
    // Not ['credentials']: that key holds the whole list answer (settings page); this one
    // holds only its items. Invalidating ['credentials'] refreshes both.
    queryKey: ['credentials', 'items'],
    queryFn: async () => unwrap(await api.GET('/api/v1/credentials')).items,
    staleTime: 60_000,
  });
}

export function useSegments() {
  return useQuery({
    queryKey: ['segments'],
    queryFn: async () => unwrap(await api.GET('/api/v1/segments')) as Schemas['Segment'][],
    staleTime: 60_000,
  });
}


export interface ValidationState {
  /** Server problems of the last answered validation (empty when valid). */
  problems: FieldProblem[];
  /** A validation is on its way. */
  checking: boolean;
  /** The last validation said the job is valid. */
  valid: boolean | null;
  /** The validation itself failed (network, 5xx). */
  failure: string | null;
}

/** Validates `job` on the server `delay` ms after it stops changing. */
export function useLiveValidation(job: JobSpec, key: string, delay = 500): ValidationState {
  const debouncedKey = useDebounced(key, delay);
  const jobRef = useRef(job);
  jobRef.current = job;
  const [state, setState] = useState<ValidationState>({ problems: [], checking: false, valid: null, failure: null });

  useEffect(() => {
    let stale = false;
    setState((s) => ({ ...s, checking: true }));
    void (async () => {
      try {
        const result = await api.POST('/api/v1/jobs/validate', { body: jobRef.current });
        unwrap(result);
        if (!stale) setState({ problems: [], checking: false, valid: true, failure: null });
      } catch (error) {
        if (stale) return;
        if (error instanceof ApiError && (error.status === 422 || error.status === 400)) {
          const problems = error.problem.errors?.length
            ? error.problem.errors
            : [{ field: '', message: error.problem.detail }];
          setState({ problems, checking: false, valid: false, failure: null });
        } else {
          setState((s) => ({ ...s, checking: false, failure: error instanceof Error ? error.message : String(error) }));
        }
      }
    })();
    return () => {
      stale = true;
    };
  }, [debouncedKey]);

  return state;
}
