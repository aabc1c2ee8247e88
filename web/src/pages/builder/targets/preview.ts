// The live preview of a target selection: what is sent to `POST /api/v1/targets/preview`,
// and how the server's answer (count, split, invalid lines, field problems) maps back onto
// the picker's own selectors.
//
// Inventory groups count with their members as of now (a run resolves them again when it
// starts); an unknown group is a problem at its selector's `group` field. Selectors still
// empty are left out, so a freshly added one does not flash an error.
import { useMemo } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, ApiError, unwrap, type Schemas } from '../../../api/client';
import { useDebounced } from '../../../lib/hooks';

export type TargetSpec = Schemas['TargetSpec'];
export type Selector = Schemas['Selector'];
export type TargetPreview = Schemas['TargetPreview'];
export type InvalidLine = Schemas['InvalidLine'];

/** The server's cap without `allow_large` (`DEFAULT_MAX_TARGETS`). */
export const DEFAULT_MAX_TARGETS = 65_536;
/** The cap with `allow_large` (`LARGE_MAX_TARGETS`). */
export const LARGE_MAX_TARGETS = (1 << 24) + (1 << 16);
/** Largest file accepted (the library's `content` maxLength). */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** How many targets the preview lists. */
export const PREVIEW_LIMIT = 20;

export function isEmptySelector(s: Selector): boolean {
  switch (s.type) {
    case 'range':
      return s.value.trim() === '';
    case 'hosts':
      return s.hosts.every((h) => h.trim() === '');
    case 'file':
      return s.content.trim() === '';
    case 'group':
      return s.group.trim() === '';
  }
}

export interface PreparedPreview {
  /** Stable identity of the request (query key). */
  key: string;
  body: Schemas['TargetPreviewRequest'];
  /** Index in the request's `include` → index in the picker's `include`. */
  map: number[];
}

/** The request for a spec, or null when nothing in it can be counted. */
export function preparePreview(spec: TargetSpec, segment?: string | null): PreparedPreview | null {
  const map: number[] = [];
  const include: Selector[] = [];
  spec.include.forEach((s, i) => {
    if (isEmptySelector(s)) return;
    map.push(i);
    include.push(s);
  });
  if (include.length === 0) return null;
  const body: Schemas['TargetPreviewRequest'] = {
    targets: {
      include,
      exclude: spec.exclude ?? [],
      allow_large: spec.allow_large ?? false,
      max_targets: spec.max_targets ?? null,
    },
    segment: segment || null,
    limit: PREVIEW_LIMIT,
  };
  return { key: JSON.stringify(body), body, map };
}

/** `include[2].value` of the request → `include[5].value` of the picker. */
export function remapField(field: string, map: number[]): string {
  return field.replace(/^(?:targets\.)?include\[(\d+)\]/, (_, k: string) => `include[${map[Number(k)] ?? k}]`).replace(/^targets\./, '');
}


export interface PreviewState {
  /** Nothing countable selected yet. */
  idle: boolean;
  /** Waiting for the debounce or the server. */
  pending: boolean;
  data?: TargetPreview;
  /** Field problems, keyed by the picker's own field paths. */
  fieldErrors: Map<string, string[]>;
  /** An error that names no field we show (network, server, unexpected field). */
  generalError?: string;
  /** Invalid file lines, with fields remapped to the picker's selectors. */
  invalid: InvalidLine[];
}

export function usePreview(spec: TargetSpec, segment: string | null | undefined, delayMs = 400): PreviewState {
  const prepared = useMemo(() => preparePreview(spec, segment), [spec, segment]);
  const debounced = useDebounced(prepared, delayMs);
  const query = useQuery({
    queryKey: ['targets-preview', debounced?.key ?? null],
    queryFn: async () => unwrap(await api.POST('/api/v1/targets/preview', { body: debounced!.body })),
    enabled: debounced !== null,
    placeholderData: keepPreviousData,
    retry: false,
    staleTime: 30_000,
  });

  return useMemo(() => {
    const map = debounced?.map ?? [];
    const fieldErrors = new Map<string, string[]>();
    let generalError: string | undefined;
    if (query.error) {
      const err = query.error;
      if (err instanceof ApiError && err.problem.errors && err.problem.errors.length > 0) {
        for (const e of err.problem.errors) {
          const field = remapField(e.field, map);
          if (!field) {
            generalError = e.message;
            continue;
          }
          fieldErrors.set(field, [...(fieldErrors.get(field) ?? []), e.message]);
        }
      } else {
        generalError = err instanceof Error ? err.message : String(err);
      }
    }
    const data = query.error ? undefined : query.data;
    const invalid = (data?.invalid ?? []).map((l) => ({ ...l, field: remapField(l.field, map) }));
    return {
      idle: prepared === null,
      pending: prepared?.key !== debounced?.key || query.isFetching,
      data: prepared === null ? undefined : data,
      fieldErrors,
      generalError: prepared === null ? undefined : generalError,
      invalid,
    };
  }, [prepared, debounced, query.data, query.error, query.isFetching]);
}
