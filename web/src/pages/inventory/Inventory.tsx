// The device inventory: every device matching the search, the tag and the filter (all three
// kept in the URL), read in pages of 10,000 until all are in and shown in a virtualized
// table. Operators select rows (shift-click for a range, or every matching device) to tag,
// untag or delete them, and import files; everyone exports what the page shows.
import { useCallback, useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Download, HardDrive, Layers, SearchX, Tag, Tags, Trash2, Upload, X } from 'lucide-react';
import { api, errorMessage, unwrap } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { Button, Card, EmptyState, ErrorState, Field, Input, LoadingRows, PageHeader } from '../../components/ui';
import { describedBy, fieldError, ReadOnlyNote } from '../../components/widgets';
import { useDebounced } from '../../lib/hooks';
import { combinedFilter, DEVICE_PAGE, exportDevices, filterErrorColumn, type InventoryFormat } from '../../lib/inventory';
import { formatNumber } from '../runs/format';
import { DeviceTable } from './DeviceTable';
import { BulkDeleteDialog, BulkTagDialog } from './BulkDialogs';
import { ImportDialog } from './ImportDialog';

const SEARCH_DELAY_MS = 300;

/** Every device matching the query, page after page until all are in. */
export function useAllDevices(query: { filter: string; search: string; tag: string }) {
  const result = useInfiniteQuery({
    queryKey: ['devices', query],
    queryFn: async ({ pageParam, signal }) =>
      unwrap(
        await api.GET('/api/v1/devices', {
          params: {
            query: {
              filter: query.filter || undefined,
              search: query.search || undefined,
              tag: query.tag || undefined,
              limit: DEVICE_PAGE,
              cursor: pageParam,
            },
          },
          signal,
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const { hasNextPage, isFetchingNextPage, isFetching, isError, fetchNextPage } = result;
  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && !isFetching && !isError) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, isFetching, isError, fetchNextPage]);
  const devices = useMemo(() => result.data?.pages.flatMap((page) => page.items) ?? [], [result.data]);
  const total = result.data?.pages.at(-1)?.total ?? 0;
  return { ...result, devices, total, complete: result.data !== undefined && !hasNextPage };
}

/** The filter's text with a caret under the column the server named. */
function FilterCaret({ text, column }: { text: string; column: number }) {
  return (
    <pre aria-hidden="true" className="overflow-x-auto font-mono text-xs text-destructive" data-testid="filter-caret">
      {text}
      {'\n'}
      {' '.repeat(Math.max(0, column - 1))}^
    </pre>
  );
}

export default function Inventory() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const canOperate = can('operator');
  const id = useId();
  const [params, setParams] = useSearchParams();
  const filter = params.get('filter') ?? '';
  const search = params.get('q') ?? '';
  const tag = params.get('tag') ?? '';

  useEffect(() => {
    document.title = `${t('inventory.title')} · OpsConductor`;
  }, [t]);

  const setParam = useCallback(
    (name: string, value: string) =>
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          if (value) next.set(name, value);
          else next.delete(name);
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );

  // Search and tag follow typing (debounced); the filter applies on Enter (half a filter is
  // always an error).
  const [searchText, setSearchText] = useState(search);
  const [tagText, setTagText] = useState(tag);
  const [filterText, setFilterText] = useState(filter);
  const written = useRef({ q: search, tag });
  const debouncedSearch = useDebounced(searchText.trim(), SEARCH_DELAY_MS);
  const debouncedTag = useDebounced(tagText.trim(), SEARCH_DELAY_MS);
  useEffect(() => {
    if (debouncedSearch === written.current.q) return;
    written.current.q = debouncedSearch;
    setParam('q', debouncedSearch);
  }, [debouncedSearch, setParam]);
  useEffect(() => {
    if (debouncedTag === written.current.tag) return;
    written.current.tag = debouncedTag;
    setParam('tag', debouncedTag);
  }, [debouncedTag, setParam]);
  // The URL changed from outside (back, a link): the inputs follow.
  useEffect(() => {
    if (search !== written.current.q) {
      written.current.q = search;
      setSearchText(search);
    }
    if (tag !== written.current.tag) {
      written.current.tag = tag;
      setTagText(tag);
    }
  }, [search, tag]);
  useEffect(() => setFilterText(filter), [filter]);

  const query = useAllDevices({ filter, search, tag });
  const { devices, total } = query;
  const filterProblem = fieldError(query.error, 'filter');
  const column = filterErrorColumn(filterProblem);

  // Selection by address; cleared when what is shown changes. Shift-click selects from the
  // row clicked before (looked up by address: rows move as pages arrive).
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());
  const anchor = useRef<string | null>(null);
  const queryKey = `${filter}\u0000${search}\u0000${tag}`;
  useEffect(() => {
    setSelected(new Set());
    anchor.current = null;
  }, [queryKey]);
  const onToggle = useCallback(
    (index: number, range: boolean) => {
      const address = devices[index]?.address;
      if (!address) return;
      const at = range && anchor.current !== null ? devices.findIndex((d) => d.address === anchor.current) : -1;
      const from = at >= 0 ? Math.min(at, index) : index;
      const to = at >= 0 ? Math.max(at, index) : index;
      setSelected((prev) => {
        const next = new Set(prev);
        const select = !prev.has(address);
        for (let i = from; i <= to; i++) {
          const a = devices[i]?.address;
          if (!a) continue;
          if (select) next.add(a);
          else next.delete(a);
        }
        return next;
      });
      anchor.current = address;
    },
    [devices],
  );
  const onToggleAll = useCallback((select: boolean) => setSelected(select ? new Set(devices.map((d) => d.address)) : new Set()), [devices]);
  // Only what is shown counts (a refresh may have dropped a selected device).
  const selectedDevices = useMemo(() => devices.filter((d) => selected.has(d.address)), [devices, selected]);
  const selectedAddresses = useMemo(() => selectedDevices.map((d) => d.address), [selectedDevices]);
  const selectedCount = selectedAddresses.length;

  const [tagMode, setTagMode] = useState<'add' | 'remove' | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [importing, setImporting] = useState(false);
  const [exporting, setExporting] = useState<InventoryFormat | null>(null);

  const onExport = async (format: InventoryFormat) => {
    setExporting(format);
    try {
      const name = await exportDevices(format, combinedFilter({ filter, tag, search }));
      toast.success(t('inventory.export.done', { name }));
    } catch (error) {
      toast.error(t('inventory.export.failed', { message: errorMessage(error) }));
    } finally {
      setExporting(null);
    }
  };

  const applyFilter = (event: FormEvent) => {
    event.preventDefault();
    setParam('filter', filterText.trim());
  };
  const filtering = Boolean(filter || search || tag);
  const clearAll = () => {
    written.current = { q: '', tag: '' };
    setSearchText('');
    setTagText('');
    setFilterText('');
    setParams(new URLSearchParams(), { replace: true });
  };
  const reason = t('inventory.bulk.selectFirst');
  const none = selectedCount === 0;
  const filterId = `${id}-filter`;
  const tagsSeen = useMemo(() => {
    const all = new Set<string>();
    for (let i = 0; i < devices.length && all.size < 200; i++) for (const x of devices[i].tags) all.add(x);
    return [...all].sort();
  }, [devices]);

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={t('inventory.title')}
        actions={
          <>
            {canOperate && (
              <Button onClick={() => setImporting(true)}>
                <Upload className="size-4" aria-hidden="true" />
                {t('inventory.import.button')}
              </Button>
            )}
            <Button onClick={() => void onExport('csv')} disabled={exporting !== null}>
              <Download className="size-4" aria-hidden="true" />
              {exporting === 'csv' ? t('inventory.export.working') : t('inventory.export.csv')}
            </Button>
            <Button onClick={() => void onExport('json')} disabled={exporting !== null}>
              <Download className="size-4" aria-hidden="true" />
              {exporting === 'json' ? t('inventory.export.working') : t('inventory.export.json')}
            </Button>
          </>
        }
      >
        {t('inventory.subtitle')}
      </PageHeader>
      {!canOperate && <ReadOnlyNote>{t('inventory.readOnly')}</ReadOnlyNote>}

      <div role="search" aria-label={t('inventory.filters.label')} className="flex flex-col gap-3">
        <div className="flex flex-wrap items-end gap-3">
          <div className="w-64">
            <Field id={`${id}-search`} label={t('inventory.filters.search')}>
              <Input id={`${id}-search`} type="search" value={searchText} placeholder={t('inventory.filters.searchPlaceholder')} autoComplete="off" onChange={(e) => setSearchText(e.target.value)} />
            </Field>
          </div>
          <div className="w-48">
            <Field id={`${id}-tag`} label={t('inventory.filters.tag')}>
              <Input id={`${id}-tag`} value={tagText} list={`${id}-tags`} autoComplete="off" spellCheck={false} onChange={(e) => setTagText(e.target.value)} />
            </Field>
            <datalist id={`${id}-tags`}>
              {tagsSeen.map((x) => (
                <option key={x} value={x} />
              ))}
            </datalist>
          </div>
          {filtering && (
            <Button variant="ghost" onClick={clearAll}>
              <X className="size-4" aria-hidden="true" />
              {t('inventory.filters.clear')}
            </Button>
          )}
        </div>
        <form onSubmit={applyFilter} className="flex flex-wrap items-start gap-2" noValidate>
          <div className="min-w-72 flex-1">
            <Field id={filterId} label={t('inventory.filters.filter')} help={t('inventory.filters.filterHelp')} error={filterProblem} live={false}>
              <Input
                {...describedBy(filterId, { help: true, error: filterProblem })}
                value={filterText}
                placeholder='vendor = "Cisco" and tag = core'
                autoComplete="off"
                spellCheck={false}
                className="font-mono"
                onChange={(e) => setFilterText(e.target.value)}
              />
            </Field>
            {filterProblem && column !== undefined && <FilterCaret text={filter} column={column} />}
          </div>
          <Button type="submit" className="mt-6">
            {t('inventory.filters.apply')}
          </Button>
          {canOperate && filter && !filterProblem && (
            <Link to={`/groups?new=dynamic&filter=${encodeURIComponent(filter)}`} className="mt-6 inline-flex h-9 items-center gap-1.5 rounded-md px-2 text-sm text-primary underline-offset-2 hover:underline">
              <Layers className="size-4" aria-hidden="true" />
              {t('inventory.filters.saveAsGroup')}
            </Link>
          )}
        </form>
      </div>

      <div className="flex flex-wrap items-center gap-2">
        <p className="mr-auto text-sm text-muted-foreground" aria-live="polite" data-testid="device-count">
          {query.isPending
            ? t('common.loading')
            : query.complete
              ? t('inventory.count', { count: total, n: formatNumber(total) })
              : t('inventory.countLoading', { loaded: formatNumber(devices.length), total: formatNumber(total) })}
        </p>
        {canOperate && (
          <div role="group" aria-label={t('inventory.bulk.label')} className="flex flex-wrap items-center gap-2">
            <span className="text-sm" aria-live="polite" data-testid="selection-count">
              {none ? t('inventory.bulk.none') : t('inventory.bulk.selected', { count: selectedCount, n: formatNumber(selectedCount) })}
            </span>
            {selectedCount < total && devices.length > 0 && (
              <Button
                size="sm"
                variant="ghost"
                disabled={!query.complete}
                disabledReason={t('inventory.bulk.stillLoading')}
                onClick={() => onToggleAll(true)}
              >
                {t('inventory.bulk.selectAllMatching', { count: total, n: formatNumber(total) })}
              </Button>
            )}
            <Button size="sm" disabled={none} disabledReason={reason} onClick={() => setTagMode('add')}>
              <Tag className="size-4" aria-hidden="true" />
              {t('inventory.bulk.add')}
            </Button>
            <Button size="sm" disabled={none} disabledReason={reason} onClick={() => setTagMode('remove')}>
              <Tags className="size-4" aria-hidden="true" />
              {t('inventory.bulk.remove')}
            </Button>
            <Button size="sm" variant="danger" disabled={none} disabledReason={reason} onClick={() => setDeleting(true)}>
              <Trash2 className="size-4" aria-hidden="true" />
              {t('inventory.bulk.delete')}
            </Button>
            {!none && (
              <Button size="sm" variant="ghost" onClick={() => setSelected(new Set())}>
                <X className="size-4" aria-hidden="true" />
                {t('inventory.bulk.clear')}
              </Button>
            )}
          </div>
        )}
      </div>

      {query.isPending ? (
        <LoadingRows rows={8} />
      ) : filterProblem ? (
        <Card>
          <EmptyState icon={<SearchX className="size-6" aria-hidden="true" />} title={t('inventory.badFilterTitle')}>
            {t('inventory.badFilter')}
          </EmptyState>
        </Card>
      ) : query.isError && devices.length === 0 ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : devices.length === 0 ? (
        <Card>
          {filtering ? (
            <EmptyState icon={<SearchX className="size-6" aria-hidden="true" />} title={t('inventory.noMatchTitle')}>
              {t('inventory.noMatch')}
            </EmptyState>
          ) : (
            <EmptyState icon={<HardDrive className="size-8" aria-hidden="true" />} title={t('inventory.emptyTitle')}>
              {t('inventory.empty')}{' '}
              <Link to="/scans" className="text-primary underline">
                {t('inventory.emptyScan')}
              </Link>
            </EmptyState>
          )}
        </Card>
      ) : (
        <>
          {query.isError && (
            <div role="alert" className="flex items-center gap-3 rounded-md border border-destructive p-2 text-sm">
              {t('inventory.partialError', { message: errorMessage(query.error) })}
              <Button size="sm" onClick={() => void query.fetchNextPage()}>
                {t('common.retry')}
              </Button>
            </div>
          )}
          <DeviceTable devices={devices} total={total} selectable={canOperate} selected={selected} selectedCount={selectedCount} onToggle={onToggle} onToggleAll={onToggleAll} />
        </>
      )}

      {canOperate && (
        <>
          <BulkTagDialog mode={tagMode} onClose={() => setTagMode(null)} addresses={selectedAddresses} devices={selectedDevices} />
          <BulkDeleteDialog open={deleting} onOpenChange={setDeleting} addresses={selectedAddresses} onDeleted={() => setSelected(new Set())} />
          <ImportDialog open={importing} onOpenChange={setImporting} />
        </>
      )}
    </div>
  );
}
