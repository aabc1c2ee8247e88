// Data shared by the scans, inventory and groups pages and the Job Builder's group picker:
// types, the groups list, downloads and imports, and small facts about scans.
import { useQuery } from '@tanstack/react-query';
import { api, authedFetch, unwrap, type Schemas } from '../api/client';
import { saveBlob } from './download';

export type Device = Schemas['Device'];
/** Learned attributes: the server leaves out what it does not know, whatever the schema says. */
export type Attributes = Partial<Schemas['Attributes']>;
export type GroupView = Schemas['GroupView'];
export type GroupSpec = Schemas['GroupSpec'];
export type GroupMembers = Schemas['GroupMembers'];
export type ScanView = Schemas['ScanView'];
export type ScanSpec = Schemas['ScanSpec'];
export type ScanDiff = Schemas['ScanDiffView'];
export type ImportReport = Schemas['ImportReport'];
export type InventoryFormat = 'csv' | 'json';

export type ScanState = 'running' | 'completed' | 'cancelled' | 'failed';
export const SCAN_STATES: ScanState[] = ['running', 'completed', 'cancelled', 'failed'];

/** A scan's state as one of the four the server names (anything else reads as failed). */
export function scanState(scan: Pick<ScanView, 'state'>): ScanState {
  return (SCAN_STATES as string[]).includes(scan.state) ? (scan.state as ScanState) : 'failed';
}

/** Whole percent of a scan's probes done, 0-100 (100 only when all are in). */
export function scanPercent(scan: Pick<ScanView, 'results_done' | 'results_total' | 'state'>): number {
  if (scan.results_total <= 0) return scan.state === 'running' ? 0 : 100;
  if (scan.results_done >= scan.results_total) return 100;
  return Math.min(99, Math.floor((scan.results_done / scan.results_total) * 100));
}

/** The device page of an address. */
export function deviceLink(address: string): string {
  return `/inventory/${encodeURIComponent(address)}`;
}

/** Devices per page when the inventory reads everything (the API's maximum). */
export const DEVICE_PAGE = 10_000;
/** Addresses per bulk request (the server takes 100,000; a smaller body stays well under any limit). */
export const BULK_CHUNK = 10_000;

/** Every group with its member count now (`['groups']`). */
export function useGroups(enabled = true) {
  return useQuery({
    queryKey: ['groups'],
    queryFn: async () => unwrap(await api.GET('/api/v1/groups')),
    staleTime: 15_000,
    enabled,
  });
}

/** The stored SNMP credentials (community and v3), for the scan form. */
export function useSnmpCredentials(enabled = true) {
  return useQuery({
    // Same key and shape as the Job Builder's credential list.
    queryKey: ['credentials', 'items'],
    queryFn: async () => unwrap(await api.GET('/api/v1/credentials')).items,
    staleTime: 60_000,
    enabled,
    select: (items) => items.filter((c) => c.kind === 'snmp_community' || c.kind === 'snmp_v3'),
  });
}

/** The format of an import file, by its extension (JSON for `.json`, CSV otherwise). */
export function formatOf(fileName: string): InventoryFormat {
  return fileName.toLowerCase().endsWith('.json') ? 'json' : 'csv';
}

/** Sends an import file; `dryRun` checks it and writes nothing. */
export async function importDevices(text: string, format: InventoryFormat, dryRun: boolean): Promise<ImportReport> {
  const query = new URLSearchParams({ format, dry_run: String(dryRun) });
  const response = await authedFetch(`${location.origin}/api/v1/devices/import?${query.toString()}`, {
    method: 'POST',
    headers: { 'content-type': format === 'json' ? 'application/json' : 'text/csv' },
    body: text,
  });
  return (await response.json()) as ImportReport;
}

/** Downloads the devices matching `filter` as a file; returns its name. */
export async function exportDevices(format: InventoryFormat, filter: string): Promise<string> {
  const query = new URLSearchParams({ format });
  if (filter.trim()) query.set('filter', filter.trim());
  const response = await authedFetch(`${location.origin}/api/v1/devices/export?${query.toString()}`);
  const name = `inventory.${format}`;
  saveBlob(await response.blob(), name);
  return name;
}

/** A value for the filter language: bare when it is a plain word, quoted otherwise. */
export function filterValue(value: string): string {
  return /^[A-Za-z0-9_.:/-]+$/.test(value) ? value : `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * One filter meaning "the filter, the tag and the search text" (what the inventory page
 * shows), for the export, which takes a filter only. The search looks in the same fields
 * as the listing's `search`.
 */
export function combinedFilter({ filter, tag, search }: { filter: string; tag: string; search: string }): string {
  const parts: string[] = [];
  if (filter.trim()) parts.push(`(${filter.trim()})`);
  if (tag.trim()) parts.push(`tag = ${filterValue(tag.trim())}`);
  const s = search.trim();
  if (s) {
    const v = filterValue(s);
    parts.push(`(${['address', 'hostname', 'vendor', 'model', 'os', 'sys_name', 'tag'].map((f) => `${f} ~ ${v}`).join(' or ')})`);
  }
  return parts.join(' and ');
}

/** The column a filter error names (`column 9: …`), if any. */
export function filterErrorColumn(message: string | undefined): number | undefined {
  const m = message ? /^column (\d+):/.exec(message) : null;
  return m ? Number(m[1]) : undefined;
}

/** Tags typed as text: separated by commas, semicolons or spaces; trimmed, unique. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(/[,;\s]+/).map((t) => t.trim()).filter(Boolean))];
}
