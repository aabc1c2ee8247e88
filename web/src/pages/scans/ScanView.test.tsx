import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ScanView from './ScanView';
import type { LiveMessage } from '../../lib/live';
import { makeScan, problem, renderAt, SCAN_ID, SCAN_RUN, stubApi } from '../inventory/test-utils';
import { makeRun } from '../runs/test-utils';

const auth = vi.hoisted(() => ({ role: 'operator' as 'viewer' | 'operator' | 'admin' }));
vi.mock('../../auth/AuthProvider', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../auth/AuthProvider')>();
  const { meFor } = await import('../inventory/test-utils');
  return {
    ...actual,
    useAuth: () => ({
      me: meFor(auth.role),
      signedIn: true,
      loading: false,
      login: async () => {},
      logout: async () => {},
      can: (needed: 'viewer' | 'operator' | 'admin') => actual.roleAllows(auth.role, needed),
    }),
  };
});

const live = vi.hoisted(() => ({ runs: [] as string[], listeners: new Set<(m: unknown) => void>() }));
vi.mock('../../lib/live', async () => {
  const { useEffect, useRef } = await import('react');
  return {
    useLive: (ids: { runs?: string[] }, onMessage: (m: unknown) => void) => {
      live.runs = ids.runs ?? [];
      const ref = useRef(onMessage);
      ref.current = onMessage;
      useEffect(() => {
        const listener = (m: unknown) => ref.current(m);
        live.listeners.add(listener);
        return () => {
          live.listeners.delete(listener);
        };
      }, []);
    },
  };
});
function emit(message: LiveMessage) {
  act(() => live.listeners.forEach((l) => l(message)));
}

const DIFF = {
  scan_id: SCAN_ID,
  previous_scan_id: 'prev-scan',
  new: ['127.0.0.3', '127.0.0.4'],
  changed: [
    {
      address: '127.0.0.1',
      changes: [
        { field: 'open_ports', before: [22], after: [22, 443] },
        { field: 'ssh_banner', after: 'SSH-2.0-OpenSSH_9.2' },
      ],
    },
  ],
  gone: ['127.0.0.9'],
};

beforeEach(() => {
  auth.role = 'operator';
  live.listeners.clear();
});
afterEach(() => vi.unstubAllGlobals());

const page = () => renderAt(`/scans/${SCAN_ID}`, '/scans/:scanId', <ScanView />);

describe('ScanView', () => {
  it('follows the scan live: progress and counters from re-reads, at most one every 500 ms', async () => {
    let current = makeScan();
    const calls = stubApi({ [`GET /api/v1/scans/${SCAN_ID}`]: () => current });
    page();
    expect(await screen.findByRole('heading', { level: 1, name: 'Scan lab sweep' })).toBeInTheDocument();
    const bar = screen.getByRole('progressbar', { name: 'Scan progress' });
    expect(bar).toHaveAttribute('aria-valuenow', '37');
    expect(bar).toHaveAttribute('aria-valuetext', '3 of 8 probes (37 %)');
    expect(screen.getByTestId('scan-counter-alive')).toHaveTextContent('1');
    expect(live.runs).toEqual([SCAN_RUN]);
    expect(screen.getByRole('link', { name: 'Run view' })).toHaveAttribute('href', `/runs/${SCAN_RUN}`);

    const reads = () => calls.filter((c) => c.path === `/api/v1/scans/${SCAN_ID}`).length;
    current = makeScan({ results_done: 6, counts: { probed: 4, alive: 3, identified: 1, new: 0, changed: 0, gone: 0 } });
    // A burst of progress: one read at once, one at the end of the window.
    for (let i = 0; i < 5; i++) emit({ type: 'run_progress', run: makeRun({ id: SCAN_RUN }) });
    // Another run's progress is not ours.
    emit({ type: 'run_progress', run: makeRun({ id: 'other' }) });
    await waitFor(() => expect(screen.getByTestId('scan-counter-alive')).toHaveTextContent('3'));
    expect(screen.getByTestId('scan-counter-identified')).toHaveTextContent('1');
    expect(bar).toHaveAttribute('aria-valuenow', '75');
    expect(reads()).toBe(2);
    // The trailing read at the end of the window (the hook's own test shows nothing follows).
    await waitFor(() => expect(reads()).toBe(3), { timeout: 1500 });

    // The run ends; the scan ends once folded in: the diff appears.
    current = makeScan({ state: 'completed', results_done: 8, finished_at: '2026-11-27T03:00:30Z', counts: { probed: 4, alive: 4, identified: 1, new: 2, changed: 1, gone: 1 } });
    stubApi({ [`GET /api/v1/scans/${SCAN_ID}`]: () => current, [`GET /api/v1/scans/${SCAN_ID}/diff`]: DIFF });
    emit({ type: 'run_progress', run: makeRun({ id: SCAN_RUN, status: 'completed' }) });
    await waitFor(() => expect(within(screen.getByTestId('scan-state')).getByText('Completed')).toBeInTheDocument());
    expect(bar).toHaveAttribute('aria-valuenow', '100');
    expect(screen.getByTestId('scan-counter-alive')).toHaveTextContent('4');
    expect(await screen.findByTestId('scan-diff')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Cancel scan' })).not.toBeInTheDocument();
  });

  it('shows what changed: new and gone hosts linked to their devices, changes before → after', async () => {
    stubApi({
      [`GET /api/v1/scans/${SCAN_ID}`]: makeScan({ state: 'completed', finished_at: '2026-11-27T03:00:30Z', results_done: 8 }),
      [`GET /api/v1/scans/${SCAN_ID}/diff`]: DIFF,
    });
    page();
    const diff = await screen.findByTestId('scan-diff');
    const added = await within(diff).findByRole('list', { name: 'New hosts' });
    expect(within(added).getByRole('link', { name: '127.0.0.3' })).toHaveAttribute('href', '/inventory/127.0.0.3');
    expect(within(diff).getByRole('heading', { name: 'New hosts (2)' })).toBeInTheDocument();
    const rows = within(diff).getAllByTestId('diff-change-row');
    expect(rows[0]).toHaveTextContent('127.0.0.1Open TCP ports22changed to22, 443');
    expect(rows[1]).toHaveTextContent('SSH banner—not knownchanged toSSH-2.0-OpenSSH_9.2');
    expect(within(diff).getByRole('rowheader', { name: '127.0.0.1' })).toBeInTheDocument();
    expect(within(within(diff).getByRole('list', { name: 'Gone hosts' })).getByRole('link', { name: '127.0.0.9' })).toHaveAttribute('href', '/inventory/127.0.0.9');
    expect(within(diff).getByRole('link', { name: 'Compared with the previous scan of this range' })).toHaveAttribute('href', '/scans/prev-scan');
    // A finished scan is no longer watched.
    expect(live.runs).toEqual([]);
  });

  it('cancels a running scan after confirmation, keeping a refusal in the dialog', async () => {
    let cancels = 0;
    stubApi({
      [`GET /api/v1/scans/${SCAN_ID}`]: makeScan(),
      [`POST /api/v1/scans/${SCAN_ID}/cancel`]: () => {
        cancels += 1;
        return cancels === 1 ? problem(409, 'the scan is completed already') : makeScan({ state: 'cancelled', reason: 'scan cancelled by a user', finished_at: '2026-11-27T03:00:10Z' });
      },
      [`GET /api/v1/scans/${SCAN_ID}/diff`]: { ...DIFF, new: [], changed: [], gone: [] },
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Cancel scan' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel this scan?' });
    expect(dialog).toHaveTextContent('its 5 unfinished probes are dropped');
    await user.click(within(dialog).getByRole('button', { name: 'Cancel scan' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('Could not cancel the scan: the scan is completed already');
    await user.click(within(dialog).getByRole('button', { name: 'Cancel scan' }));
    await waitFor(() => expect(within(screen.getByTestId('scan-state')).getByText('Cancelled')).toBeInTheDocument());
    expect(screen.getByTestId('scan-reason')).toHaveTextContent('scan cancelled by a user');
  });

  it('lets a viewer watch but not cancel', async () => {
    auth.role = 'viewer';
    stubApi({ [`GET /api/v1/scans/${SCAN_ID}`]: makeScan() });
    page();
    const cancel = await screen.findByRole('button', { name: 'Cancel scan' });
    expect(cancel).toBeUnavailable();
    expect(cancel).toHaveAccessibleDescription('Needs the operator role');
  });

  it('says when there is no such scan', async () => {
    stubApi({ [`GET /api/v1/scans/${SCAN_ID}`]: () => problem(404, 'no scan') });
    page();
    expect(await screen.findByRole('heading', { name: 'Scan not found' })).toBeInTheDocument();
  });
});
