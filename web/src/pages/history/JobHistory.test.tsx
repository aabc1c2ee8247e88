import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import JobHistory from './JobHistory';
import { JOB_ID, makeRun, renderAt, stubFetch } from '../runs/test-utils';
import type { Schemas } from '../../api/client';

// jsdom has no canvas: uPlot is replaced by a recorder.
const charts = vi.hoisted(() => ({ created: [] as { series: { label?: string }[]; data: unknown[] }[] }));
vi.mock('uplot', () => {
  class FakeUPlot {
    static paths = { bars: () => () => null };
    constructor(options: { series: { label?: string }[] }, data: unknown[]) {
      charts.created.push({ series: options.series, data });
    }
    setSize() {}
    destroy() {}
  }
  return { default: FakeUPlot };
});
vi.mock('uplot/dist/uPlot.min.css', () => ({}));

vi.mock('../../lib/live', () => ({ useLive: () => {} }));
vi.mock('../../auth/AuthProvider', () => ({
  useAuth: () => ({ can: () => true, me: undefined, signedIn: true, loading: false }),
}));

const job: Schemas['JobView'] = {
  id: JOB_ID,
  version: 4,
  name: 'Core ping',
  description: 'Pings the core routers.',
  enabled: true,
  schedule: { type: 'interval', seconds: 300 },
  targets: { include: [{ type: 'range', value: '10.0.0.0/30' }], exclude: ['10.0.0.3'] },
  actions: [{ command: 'ping.icmp', params: { count: 3 } }],
  options: {},
  tags: ['core'],
  created_at: '2026-11-01T00:00:00Z',
  updated_at: '2026-11-20T00:00:00Z',
};

function stubHistory() {
  const seriesCalls: URLSearchParams[] = [];
  const stub = stubFetch({
    [`GET /api/v1/jobs/${JOB_ID}`]: job,
    [`GET /api/v1/jobs/${JOB_ID}/series`]: (url: URL) => {
      seriesCalls.push(url.searchParams);
      const step = url.searchParams.get('step') === '1h' ? 3600 : 600;
      const at = new Date(Math.floor((Date.parse(url.searchParams.get('to')!) - 3 * step * 1000) / (step * 1000)) * step * 1000);
      return {
        step_seconds: step,
        points: [
          { at: at.toISOString(), count: 4, success_rate: 0.75, duration_avg_ms: 10, duration_p95_ms: 20 },
          { at: new Date(at.getTime() + step * 1000).toISOString(), count: 4, success_rate: 1, duration_avg_ms: 12, duration_p95_ms: 18 },
        ],
      };
    },
    'GET /api/v1/runs': { items: [makeRun({ status: 'completed' })], next_cursor: null },
  });
  return { ...stub, seriesCalls };
}

beforeEach(() => {
  charts.created.length = 0;
});
afterEach(() => vi.unstubAllGlobals());

const HOUR = 3_600_000;
const span = (q: URLSearchParams) => Date.parse(q.get('to')!) - Date.parse(q.get('from')!);

describe('JobHistory', () => {
  it('shows the job summary with links to edit it and to its runs', async () => {
    stubHistory();
    renderAt(`/jobs/${JOB_ID}`, '/jobs/:jobId', <JobHistory />);
    expect(await screen.findByRole('heading', { level: 1, name: 'Core ping' })).toBeInTheDocument();
    const summary = screen.getByTestId('job-summary');
    expect(within(summary).getByText('Every 5 minutes')).toBeInTheDocument();
    expect(within(summary).getByText('10.0.0.0/30')).toBeInTheDocument();
    expect(within(summary).getByText('Enabled')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Edit job' })).toHaveAttribute('href', `/jobs/${JOB_ID}/edit`);
    expect(screen.getByRole('link', { name: 'All runs' })).toHaveAttribute('href', `/runs?job=${JOB_ID}`);
    expect(await screen.findByTestId('recent-runs')).toBeInTheDocument();
  });

  it('asks for the range picked and keeps it in the URL', async () => {
    const { seriesCalls } = stubHistory();
    const user = userEvent.setup();
    renderAt(`/jobs/${JOB_ID}`, '/jobs/:jobId', <JobHistory />);
    await waitFor(() => expect(seriesCalls).toHaveLength(1));
    // Default: the last 24 hours in 10-minute buckets.
    expect(span(seriesCalls[0])).toBe(24 * HOUR);
    expect(seriesCalls[0].get('step')).toBe('10m');
    expect(screen.getByRole('button', { name: '24 hours' })).toHaveAttribute('aria-pressed', 'true');

    await user.click(screen.getByRole('button', { name: '7 days' }));
    await waitFor(() => expect(seriesCalls).toHaveLength(2));
    expect(span(seriesCalls[1])).toBe(7 * 24 * HOUR);
    expect(seriesCalls[1].get('step')).toBe('1h');
    expect(screen.getByTestId('location')).toHaveTextContent('range=7d');
    expect(screen.getByRole('button', { name: '7 days' })).toHaveAttribute('aria-pressed', 'true');

    await user.click(screen.getByRole('button', { name: 'Custom' }));
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2026-11-01T00:00' } });
    fireEvent.change(screen.getByLabelText('To'), { target: { value: '2026-11-03T00:00' } });
    await user.click(screen.getByRole('button', { name: 'Apply range' }));
    await waitFor(() => expect(seriesCalls).toHaveLength(3));
    expect(seriesCalls[2].get('from')).toBe(new Date('2026-11-01T00:00').toISOString());
    expect(seriesCalls[2].get('to')).toBe(new Date('2026-11-03T00:00').toISOString());
    expect(screen.getByTestId('location')).toHaveTextContent('range=custom');
    expect(screen.getByTestId('location')).toHaveTextContent(`from=${encodeURIComponent(new Date('2026-11-01T00:00').toISOString())}`);
  });

  it('reads the range from the URL', async () => {
    const { seriesCalls } = stubHistory();
    renderAt(`/jobs/${JOB_ID}?range=30d`, '/jobs/:jobId', <JobHistory />);
    await waitFor(() => expect(seriesCalls).toHaveLength(1));
    expect(span(seriesCalls[0])).toBe(30 * 24 * HOUR);
    expect(seriesCalls[0].get('step')).toBe('6h');
  });

  it('refuses a custom range that ends before it starts', async () => {
    const { seriesCalls } = stubHistory();
    const user = userEvent.setup();
    renderAt(`/jobs/${JOB_ID}`, '/jobs/:jobId', <JobHistory />);
    await waitFor(() => expect(seriesCalls).toHaveLength(1));
    await user.click(screen.getByRole('button', { name: 'Custom' }));
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2026-11-03T00:00' } });
    fireEvent.change(screen.getByLabelText('To'), { target: { value: '2026-11-01T00:00' } });
    await user.click(screen.getByRole('button', { name: 'Apply range' }));
    expect(await screen.findByText('The start must be before the end.')).toBeInTheDocument();
    expect(seriesCalls).toHaveLength(1);
  });

  it('draws the charts and offers the numbers as a table', async () => {
    stubHistory();
    const user = userEvent.setup();
    renderAt(`/jobs/${JOB_ID}`, '/jobs/:jobId', <JobHistory />);
    await waitFor(() => expect(charts.created).toHaveLength(3));
    expect(charts.created.map((c) => c.series.slice(1).map((s) => s.label))).toEqual([
      ['Success rate'],
      ['Average latency', '95th percentile latency'],
      ['Results'],
    ]);
    expect(screen.getByRole('img', { name: /^Success rate\. Overall 87\.5 % ok; lowest 75 %/ })).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Show the data as a table' }));
    const table = screen.getByTestId('history-data-table');
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(within(table).getByText('75 %')).toBeInTheDocument();
  });
});
