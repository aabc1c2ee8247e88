import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import RunView from './RunView';
import { RUN_ID, emitLive, fakeLayout, liveListeners, makeResult, makeRun, renderAt, stubFetch } from './test-utils';

vi.mock('../../lib/live', async () => {
  const utils = await import('./test-utils');
  const { useEffect, useRef } = await import('react');
  return {
    useLive: (_ids: unknown, onMessage: (m: unknown) => void) => {
      const ref = useRef(onMessage);
      ref.current = onMessage;
      useEffect(() => {
        const listener = (m: unknown) => ref.current(m);
        utils.liveListeners.add(listener as never);
        return () => {
          utils.liveListeners.delete(listener as never);
        };
      }, []);
    },
  };
});

vi.mock('../../auth/AuthProvider', () => ({
  useAuth: () => ({ can: () => true, me: undefined, signedIn: true, loading: false }),
}));

const results = [
  makeResult('10.0.0.1', 'ok', { raw_excerpt: '3 packets transmitted, 3 received' }),
  makeResult('10.0.0.2', 'fail', { reason: 'host unreachable', fields: { loss_pct: 100 } }),
];

beforeAll(() => fakeLayout());
beforeEach(() => liveListeners.clear());
afterEach(() => vi.unstubAllGlobals());

function stubRun() {
  return stubFetch({
    [`GET /api/v1/runs/${RUN_ID}`]: makeRun(),
    'GET /api/v1/results': { items: results, next_cursor: null },
  });
}

describe('RunView', () => {
  it('updates the counters and progress from live messages', async () => {
    let current = makeRun();
    stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: () => current,
      'GET /api/v1/results': { items: results, next_cursor: null },
    });
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    expect(await screen.findByRole('heading', { name: 'Run of Core ping' })).toBeInTheDocument();
    expect(screen.getByTestId('counter-ok')).toHaveTextContent('1');
    expect(screen.getByRole('progressbar', { name: 'Run progress' })).toHaveAttribute('aria-valuenow', '50');

    emitLive({ type: 'run_progress', run: { ...makeRun(), counters: { total: 4, ok: 2, warn: 0, failed: 1, error: 0, timeout: 0 } } });
    await waitFor(() => expect(screen.getByTestId('counter-ok')).toHaveTextContent('2'));
    expect(screen.getByRole('progressbar', { name: 'Run progress' })).toHaveAttribute('aria-valuenow', '75');
    expect(screen.getByTestId('run-progress-text')).toHaveTextContent('3 of 4 results (75 %)');
    // Progress of another run changes nothing.
    emitLive({ type: 'run_progress', run: { ...makeRun(), id: 'other', counters: { total: 4, ok: 0, warn: 0, failed: 0, error: 0, timeout: 4 } } });
    expect(screen.getByTestId('counter-timeout')).toHaveTextContent('0');

    current = makeRun({
      status: 'completed',
      finished_at: '2026-11-27T03:00:09Z',
      counters: { total: 4, ok: 3, warn: 0, failed: 1, error: 0, timeout: 0 },
    });
    emitLive({ type: 'run_progress', run: current });
    await waitFor(() => expect(screen.getByTestId('counter-ok')).toHaveTextContent('3'));
    expect(screen.getByRole('progressbar', { name: 'Run progress' })).toHaveAttribute('aria-valuenow', '100');
    expect(screen.getByTestId('run-progress-text')).toHaveTextContent('4 of 4 results (100 %)');
    expect(within(screen.getByTestId('run-status')).getByText('Completed')).toBeInTheDocument();
    // A finished run cannot be cancelled any more.
    expect(screen.queryByRole('button', { name: 'Cancel run' })).not.toBeInTheDocument();
  });

  it('cancels a running run after confirmation', async () => {
    const { calls } = stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: makeRun(),
      'GET /api/v1/results': { items: results, next_cursor: null },
      [`POST /api/v1/runs/${RUN_ID}/cancel`]: (_url: URL, init: { body?: string }) => ({
        ...makeRun(),
        status: 'cancelled',
        reason: JSON.parse(init.body ?? '{}').reason,
      }),
    });
    const user = userEvent.setup();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    await user.click(await screen.findByRole('button', { name: 'Cancel run' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel this run?' });
    await user.type(within(dialog).getByLabelText('Reason (optional)'), 'maintenance window');
    await user.click(within(dialog).getByRole('button', { name: 'Cancel run' }));
    await waitFor(() => expect(within(screen.getByTestId('run-status')).getByText('Cancelled')).toBeInTheDocument());
    expect(calls.some((c) => c.method === 'POST' && c.url.pathname.endsWith('/cancel'))).toBe(true);
    expect(screen.getByTestId('run-reason')).toHaveTextContent('maintenance window');
  });

  it('adds results arriving live to the table', async () => {
    stubRun();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    await waitFor(() => expect(screen.getAllByTestId('result-row')).toHaveLength(2));
    emitLive({ type: 'results', run_id: RUN_ID, results: [makeResult('10.0.0.3', 'timeout')] });
    // A result for another run is not ours.
    emitLive({ type: 'results', run_id: 'other', results: [makeResult('10.9.9.9', 'ok')] });
    await waitFor(() => expect(screen.getAllByTestId('result-row')).toHaveLength(3));
    expect(screen.getByText('10.0.0.3')).toBeInTheDocument();
    expect(screen.queryByText('10.9.9.9')).not.toBeInTheDocument();
  });

  it('filters the results table by status and target text, kept in the URL', async () => {
    stubRun();
    const user = userEvent.setup();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    await waitFor(() => expect(screen.getAllByTestId('result-row')).toHaveLength(2));

    await user.selectOptions(screen.getByLabelText('Status filter'), 'fail');
    await waitFor(() => expect(screen.getAllByTestId('result-row')).toHaveLength(1));
    expect(within(screen.getByTestId('result-row')).getByText('10.0.0.2')).toBeInTheDocument();
    expect(within(screen.getByTestId('result-row')).getByText('Failed')).toBeInTheDocument();
    expect(screen.getByTestId('location')).toHaveTextContent('status=fail');

    await user.selectOptions(screen.getByLabelText('Status filter'), '');
    await user.type(screen.getByLabelText('Target contains'), '0.0.1');
    await waitFor(() => expect(screen.getAllByTestId('result-row')).toHaveLength(1));
    expect(within(screen.getByTestId('result-row')).getByText('10.0.0.1')).toBeInTheDocument();
  });

  it('shows a result with its raw output and parsed fields', async () => {
    stubRun();
    const user = userEvent.setup();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    await user.click(await screen.findByRole('button', { name: 'Show the result of 10.0.0.1, ping.icmp' }));
    const detail = screen.getByTestId('result-detail');
    expect(within(detail).getByRole('heading', { name: '10.0.0.1' })).toBeInTheDocument();
    expect(within(detail).getByTestId('result-raw')).toHaveTextContent('3 packets transmitted, 3 received');
    const fields = within(detail).getByTestId('result-fields');
    expect(within(fields).getByRole('rowheader', { name: 'rtt_avg_ms' })).toBeInTheDocument();
    expect(within(fields).getByText('1.25')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Show the result of 10.0.0.2, ping.icmp' }));
    expect(within(screen.getByTestId('result-detail')).getByTestId('result-reason')).toHaveTextContent('host unreachable');
  });

  it('shows the job version and the rendered commands', async () => {
    stubRun();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    const whatRan = await screen.findByTestId('what-ran');
    expect(within(whatRan).getByText('Job version 3')).toBeInTheDocument();
    expect(within(whatRan).getByText('ping -c 3 {{ target }}')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Job history' })).toHaveAttribute('href', '/jobs/01a21af6-0000-7000-8000-0000000000aa');
  });

  it('exports through an authenticated download of the right URL', async () => {
    const { calls } = stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: makeRun(),
      'GET /api/v1/results': { items: results, next_cursor: null },
      'GET /api/v1/results/export': () => new Response('run_id,target\n', { status: 200, headers: { 'content-type': 'text/csv' } }),
    });
    const createObjectURL = vi.fn(() => 'blob:export');
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    const user = userEvent.setup();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);

    await user.click(await screen.findByRole('button', { name: 'Export CSV' }));
    await waitFor(() => expect(click).toHaveBeenCalled());
    const exportCall = calls.find((c) => c.url.pathname === '/api/v1/results/export');
    expect(exportCall?.url.search).toBe(`?run_id=${RUN_ID}&format=csv`);
    expect(createObjectURL).toHaveBeenCalled();

    await user.selectOptions(screen.getByLabelText('Status filter'), 'fail');
    await user.click(screen.getByRole('button', { name: 'Export NDJSON' }));
    await waitFor(() => expect(calls.filter((c) => c.url.pathname === '/api/v1/results/export')).toHaveLength(2));
    expect(calls.filter((c) => c.url.pathname === '/api/v1/results/export')[1].url.search).toBe(
      `?run_id=${RUN_ID}&format=json&status=fail`,
    );
    click.mockRestore();
  });

  it('reads every page of results, following cursors', async () => {
    const { calls } = stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: makeRun({ counters: { total: 3, ok: 3, warn: 0, failed: 0, error: 0, timeout: 0 } }),
      'GET /api/v1/results': (url: URL) =>
        url.searchParams.get('cursor') === 'page2'
          ? { items: [makeResult('10.0.0.3', 'ok')], next_cursor: null }
          : { items: [makeResult('10.0.0.1', 'ok'), makeResult('10.0.0.2', 'ok')], next_cursor: 'page2' },
    });
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    await waitFor(() => expect(screen.getAllByTestId('result-row')).toHaveLength(3));
    const pages = calls.filter((c) => c.url.pathname === '/api/v1/results');
    expect(pages[0].url.searchParams.get('run_id')).toBe(RUN_ID);
    expect(pages[0].url.searchParams.get('limit')).toBe('1000');
    expect(pages.some((c) => c.url.searchParams.get('cursor') === 'page2')).toBe(true);
    expect(screen.getByTestId('results-count')).toHaveTextContent('3 results');
  });

  it('keeps the cancel dialog open with the error when the cancel fails', async () => {
    stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: makeRun(),
      'GET /api/v1/results': { items: results, next_cursor: null },
      [`POST /api/v1/runs/${RUN_ID}/cancel`]: () =>
        new Response(JSON.stringify({ type: 'about:blank', title: 'Conflict', status: 409, detail: 'the run already finished' }), {
          status: 409,
          headers: { 'content-type': 'application/problem+json' },
        }),
    });
    const user = userEvent.setup();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    await user.click(await screen.findByRole('button', { name: 'Cancel run' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel this run?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel run' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('Could not cancel the run: the run already finished');
    expect(screen.getByRole('dialog', { name: 'Cancel this run?' })).toBeInTheDocument();
    expect(within(screen.getByTestId('run-status')).getByText('Running')).toBeInTheDocument();
  });

  it('masks secret params in the job definition as it ran', async () => {
    stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: makeRun({
        job_spec: {
          name: 'Core SNMP',
          schedule: { type: 'manual' },
          targets: { include: [{ type: 'range', value: '10.0.0.0/30' }] },
          actions: [{ command: 'snmp.get', params: { community: 'hunter2', port: 161 } }],
        },
      }),
      'GET /api/v1/results': { items: [], next_cursor: null },
      'GET /api/v1/library/commands': [{ id: 'snmp.get', ui: { fields: { community: { widget: 'password', secret: true } } } }],
    });
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    const spec = await screen.findByTestId('run-job-spec');
    await waitFor(() => expect(spec).toHaveTextContent('"port": 161'));
    expect(spec).toHaveTextContent('"community": "••••••"');
    expect(spec).not.toHaveTextContent('hunter2');
  });

  it('moves focus into a result’s detail and back to its row when it closes', async () => {
    stubRun();
    const user = userEvent.setup();
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    const open = await screen.findByRole('button', { name: 'Show the result of 10.0.0.2, ping.icmp' });
    await user.click(open);
    const detail = screen.getByTestId('result-detail');
    await waitFor(() => expect(within(detail).getByRole('heading', { name: '10.0.0.2' })).toHaveFocus());
    await user.click(within(detail).getByRole('button', { name: 'Close the result detail' }));
    expect(screen.queryByTestId('result-detail')).not.toBeInTheDocument();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Show the result of 10.0.0.2, ping.icmp' })).toHaveFocus());
  });

  it('names chunk states in words', async () => {
    stubFetch({
      [`GET /api/v1/runs/${RUN_ID}`]: makeRun({
        chunks: [{ state: 'done', segment: 'dc1' }, { state: 'done', segment: 'dc1' }, { state: 'dead', segment: 'dc2' }] as never,
      }),
      'GET /api/v1/results': { items: results, next_cursor: null },
    });
    renderAt(`/runs/${RUN_ID}`, '/runs/:runId', <RunView />);
    const whatRan = await screen.findByTestId('what-ran');
    expect(within(whatRan).getByText('3 chunks (2 done, 1 failed (dead-lettered)); segments: dc1, dc2')).toBeInTheDocument();
  });
});
