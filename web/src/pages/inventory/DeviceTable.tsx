// The inventory as a real <table> whose body is virtualized like the dashboard's job list:
// only the rows in view (and a few more) are in the DOM, spacer rows keep the scroll height,
// and row and column counts are given to assistive technology — 65,536 devices scroll as
// smoothly as 10. Operators get a selection column (shift-click selects a range).
import { memo, useEffect, useRef, type MouseEvent } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useVirtualizer } from '@tanstack/react-virtual';
import { formatExact, formatRelative } from '../../components/widgets';
import { useNow } from '../../lib/hooks';
import { cn } from '../../lib/cn';
import { deviceLink, type Device } from '../../lib/inventory';

export const ROW_HEIGHT = 40;

/** A cell's text, truncated with the whole text on hover; "not known" (in words) when empty. */
function Cell({ value, unknown, mono }: { value: string | null | undefined; unknown: string; mono?: boolean }) {
  if (!value) {
    return (
      <span className="text-muted-foreground">
        <span aria-hidden="true">—</span>
        <span className="sr-only">{unknown}</span>
      </span>
    );
  }
  return (
    <span className={cn('block truncate', mono && 'font-mono text-xs')} title={value}>
      {value}
    </span>
  );
}

/** A time as "5 minutes ago" with the exact time on hover, from the table's clock. */
function Seen({ iso, now, lang }: { iso: string; now: number; lang: string }) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return <span>{iso}</span>;
  return (
    <time dateTime={iso} title={formatExact(at, lang)}>
      {formatRelative(at, now, lang)}
    </time>
  );
}

const DeviceRow = memo(function DeviceRow({
  device,
  index,
  selectable,
  selected,
  onToggle,
  now,
  lang,
}: {
  device: Device;
  index: number;
  selectable: boolean;
  selected: boolean;
  onToggle: (index: number, range: boolean) => void;
  now: number;
  lang: string;
}) {
  const { t } = useTranslation();
  const unknown = t('inventory.table.unknown');
  const a = device.attributes ?? {};
  const ports = a.open_ports ?? [];
  return (
    <tr
      aria-rowindex={index + 2}
      data-testid="device-row"
      className={cn('border-t border-border', selected && 'bg-accent/50')}
      style={{ height: ROW_HEIGHT }}
    >
      {selectable && (
        <td className="px-3">
          <input
            type="checkbox"
            className="size-4 align-middle"
            checked={selected}
            onChange={() => {}}
            onClick={(e: MouseEvent<HTMLInputElement>) => onToggle(index, e.shiftKey)}
            aria-label={t('inventory.table.select', { address: device.address })}
          />
        </td>
      )}
      <th scope="row" className="px-3 text-left font-normal">
        <Link to={deviceLink(device.address)} className="block truncate font-mono text-xs text-primary underline-offset-2 hover:underline">
          {device.address}
        </Link>
      </th>
      <td className="px-3">
        <Cell value={device.hostname} unknown={unknown} />
      </td>
      <td className="px-3">
        <Cell value={a.vendor} unknown={unknown} />
      </td>
      <td className="px-3">
        <Cell value={a.model} unknown={unknown} />
      </td>
      <td className="px-3">
        <Cell value={a.os} unknown={unknown} />
      </td>
      <td className="px-3">
        <Cell value={ports.length > 0 ? ports.join(', ') : null} unknown={unknown} mono />
      </td>
      <td className="px-3">
        {device.tags.length === 0 ? (
          <Cell value={null} unknown={unknown} />
        ) : (
          <ul className="flex min-w-0 gap-1 overflow-hidden" title={device.tags.join(', ')} aria-label={t('inventory.table.tagsOf', { address: device.address })}>
            {device.tags.map((tag) => (
              <li key={tag} className="shrink-0 rounded border border-border px-1 text-xs leading-5">
                {tag}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="px-3">
        <Cell value={device.segment} unknown={unknown} />
      </td>
      <td className="px-3 whitespace-nowrap">
        <Seen iso={device.last_seen} now={now} lang={lang} />
      </td>
    </tr>
  );
});

function SelectAllCheckbox({ checked, indeterminate, onChange, label, disabled }: { checked: boolean; indeterminate: boolean; onChange: (checked: boolean) => void; label: string; disabled: boolean }) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = indeterminate;
  }, [indeterminate]);
  return <input ref={ref} type="checkbox" className="size-4 align-middle" checked={checked} disabled={disabled} aria-label={label} onChange={(e) => onChange(e.target.checked)} />;
}

export function DeviceTable({
  devices,
  total,
  selectable,
  selected,
  selectedCount,
  onToggle,
  onToggleAll,
}: {
  devices: Device[];
  /** Devices matching in all (more may still be loading). */
  total: number;
  selectable: boolean;
  selected: ReadonlySet<string>;
  /** How many of `devices` are selected. */
  selectedCount: number;
  onToggle: (index: number, range: boolean) => void;
  onToggleAll: (select: boolean) => void;
}) {
  const { t, i18n } = useTranslation();
  const lang = i18n.language || 'en';
  // One clock for every row's "last seen".
  const now = useNow(30_000);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: devices.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    getItemKey: (index) => devices[index]?.address ?? index,
  });
  const items = virtualizer.getVirtualItems();
  const paddingTop = items.length > 0 ? items[0].start : 0;
  const paddingBottom = items.length > 0 ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;
  const columns = selectable ? 10 : 9;
  const allSelected = devices.length > 0 && selectedCount === devices.length;

  return (
    <div
      ref={scrollRef}
      // Focusable so the keyboard can scroll past the rows in the DOM.
      tabIndex={0}
      role="region"
      aria-label={t('inventory.table.caption')}
      className="relative h-[calc(100vh-22rem)] min-h-80 overflow-auto rounded-lg border border-border bg-card"
      data-testid="device-table-scroll"
    >
      <table className="w-full min-w-[1100px] table-fixed border-collapse text-sm" aria-rowcount={total + 1} aria-colcount={columns} data-testid="device-table">
        <caption className="sr-only">{t('inventory.table.caption')}</caption>
        <colgroup>
          {selectable && <col className="w-10" />}
          <col className="w-40" />
          <col />
          <col className="w-28" />
          <col className="w-32" />
          <col className="w-32" />
          <col className="w-32" />
          <col className="w-40" />
          <col className="w-24" />
          <col className="w-32" />
        </colgroup>
        <thead className="sticky top-0 z-10 bg-card shadow-[0_1px_0_var(--color-border)]">
          <tr aria-rowindex={1} className="text-left text-xs font-medium text-muted-foreground">
            {selectable && (
              <th scope="col" className="px-3 py-2">
                <SelectAllCheckbox
                  checked={allSelected}
                  indeterminate={selectedCount > 0 && !allSelected}
                  disabled={devices.length === 0}
                  onChange={onToggleAll}
                  label={t('inventory.table.selectAllLoaded', { count: devices.length })}
                />
              </th>
            )}
            <th scope="col" className="px-3 py-2">{t('inventory.table.address')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.hostname')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.vendor')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.model')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.os')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.ports')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.tags')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.segment')}</th>
            <th scope="col" className="px-3 py-2">{t('inventory.table.lastSeen')}</th>
          </tr>
        </thead>
        <tbody>
          {paddingTop > 0 && (
            <tr aria-hidden="true" style={{ height: paddingTop }}>
              <td colSpan={columns} />
            </tr>
          )}
          {items.map((item) => {
            const device = devices[item.index];
            if (!device) return null;
            return (
              <DeviceRow
                key={device.address}
                device={device}
                index={item.index}
                selectable={selectable}
                selected={selected.has(device.address)}
                onToggle={onToggle}
                now={now}
                lang={lang}
              />
            );
          })}
          {paddingBottom > 0 && (
            <tr aria-hidden="true" style={{ height: paddingBottom }}>
              <td colSpan={columns} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
