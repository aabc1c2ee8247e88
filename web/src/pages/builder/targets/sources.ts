// Target sources from the library (`GET /api/v1/library/target-sources`): the "add" buttons
// of the picker, with each source's description, help and placeholder. The four shipped
// sources are the fallback while the library loads or when it cannot be read.
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../../../api/client';
import type { Selector } from './preview';

export type SelectorType = Selector['type'];

export interface TargetSource {
  id: string;
  name: string;
  description: string;
  icon?: string;
  selector: SelectorType;
  example?: Record<string, unknown>;
  ui?: { fields?: Record<string, { help?: string; placeholder?: string }> };
}

/** Ids of the shipped sources: they start empty (their example is only a placeholder). */
export const BUILTIN_SOURCE_IDS = new Set(['network_range', 'host_list', 'uploaded_file', 'custom_group']);

const SELECTOR_TYPES: SelectorType[] = ['range', 'hosts', 'file', 'group'];

function asSource(raw: unknown): TargetSource | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== 'string' || typeof r.name !== 'string') return null;
  if (!SELECTOR_TYPES.includes(r.selector as SelectorType)) return null;
  return {
    id: r.id,
    name: r.name,
    description: typeof r.description === 'string' ? r.description : '',
    icon: typeof r.icon === 'string' ? r.icon : undefined,
    selector: r.selector as SelectorType,
    example: r.example && typeof r.example === 'object' ? (r.example as Record<string, unknown>) : undefined,
    ui: r.ui && typeof r.ui === 'object' ? (r.ui as TargetSource['ui']) : undefined,
  };
}

export function useTargetSources() {
  return useQuery({
    queryKey: ['library', 'target-sources'],
    queryFn: async () => {
      const list = unwrap(await api.GET('/api/v1/library/target-sources'));
      return (list as unknown[]).map(asSource).filter((s): s is TargetSource => s !== null);
    },
    staleTime: 5 * 60_000,
  });
}

/** A new selector for a source: empty for the shipped ones, the example for a pack's preset. */
export function selectorFromSource(source: TargetSource): Selector {
  const example = BUILTIN_SOURCE_IDS.has(source.id) ? undefined : source.example;
  switch (source.selector) {
    case 'range':
      return { type: 'range', value: typeof example?.value === 'string' ? example.value : '' };
    case 'hosts':
      return {
        type: 'hosts',
        hosts: Array.isArray(example?.hosts) ? (example.hosts as unknown[]).filter((h): h is string => typeof h === 'string') : [],
      };
    case 'group':
      return { type: 'group', group: typeof example?.group === 'string' ? example.group : '' };
    case 'file': {
      const e = example ?? {};
      return {
        type: 'file',
        content: typeof e.content === 'string' ? e.content : '',
        name: typeof e.name === 'string' ? e.name : '',
        format: e.format === 'csv' ? 'csv' : 'lines',
        ...(typeof e.column === 'string' || typeof e.column === 'number' ? { column: e.column } : {}),
        ...(typeof e.has_header === 'boolean' ? { has_header: e.has_header } : {}),
        ...(typeof e.delimiter === 'string' ? { delimiter: e.delimiter } : {}),
      };
    }
  }
}

/** The first library source of a selector type (for help and placeholders). */
export function sourceFor(sources: TargetSource[] | undefined, type: SelectorType): TargetSource | undefined {
  return sources?.find((s) => s.selector === type && BUILTIN_SOURCE_IDS.has(s.id)) ?? sources?.find((s) => s.selector === type);
}
