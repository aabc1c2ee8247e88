import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import RunList from './RunList';
import { JOB_ID, RUN_ID, makeRun, renderAt, stubFetch } from './test-utils';

const live = vi.hoisted(() => ({ runs: [] as string[], jobs: [] as string[] }));
vi.mock('../../lib/live', () => ({
  useLive: (ids: { runs?: string[]; jobs?: string[] }) => {
    live.runs = ids.runs ?? [];
    live.jobs = ids.jobs ?? [];
  },
}));

afterEach(() => vi.unstubAllGlobals());

function stub() {
  return stubFetch({
    'GET /api/v1/jobs': { items: [{ id: JOB_ID, name: 'Core ping' }, { id: 'job-2', name: 'Edge HTTP' }], next_cursor: null },
    [`GET /api/v1/jobs/${JOB_ID}`]: { id: JOB_ID, name: 'Core ping' },
    'GET /api/v1/jobs/job-2': { id: 'job-2', name: 'Edge HTTP' },
    'GET /api/v1/runs': (url: URL) => {
      const status = url.searchParams.get('status');
      const runs = [
        makeRun({ status: 'completed', counters: { total: 4, ok: 3, warn: 0, failed: 1, error: 0, timeout: 0 } }),
        makeRun({ id: 'run-2', job_id: 'job-2', status: 'running' }),
      ];
      return { items: runs.filter((r) => !status || r.status === status), next_cursor: null };
    },
  });
}

describe('RunList', () => {
  it('lists runs with status, counters and links, and filters through the URL', async () => {
    const { calls } = stub();
    const user = userEvent.setup();
    renderAt('/runs?status=completed', '/runs', <RunList />);
    const rows = await screen.findAllByTestId('run-row');
    expect(rows).toHaveLength(1);
    expect(within(rows[0]).getByText('Completed')).toBeInTheDocument();
    expect(within(rows[0]).getByText('3 OK')).toBeInTheDocument();
    expect(within(rows[0]).getByText('1 Failed')).toBeInTheDocument();
    await waitFor(() => expect(within(rows[0]).getByRole('link', { name: 'Core ping' })).toHaveAttribute('href', `/jobs/${JOB_ID}`));
    expect(within(rows[0]).getByRole('link', { name: /^Open the run of Core ping/ })).toHaveAttribute('href', `/runs/${RUN_ID}`);
    expect(calls.find((c) => c.url.pathname === '/api/v1/runs')?.url.searchParams.get('status')).toBe('completed');

    await user.selectOptions(screen.getByLabelText('Job'), JOB_ID);
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(`job=${JOB_ID}`));
    await waitFor(() => expect(calls.some((c) => c.url.searchParams.get('job_id') === JOB_ID)).toBe(true));

    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    await waitFor(() => expect(screen.getAllByTestId('run-row')).toHaveLength(2));
    expect(screen.getByTestId('location')).toHaveTextContent(/^\/runs$/);
  });

  it('names the jobs of the runs shown, one request per job, and watches their unfinished runs', async () => {
    const { calls } = stubFetch({
      [`GET /api/v1/jobs/${JOB_ID}`]: { id: JOB_ID, name: 'Core ping' },
      'GET /api/v1/runs': {
        items: [
          makeRun({ status: 'completed' }),
          makeRun({ id: 'run-2', status: 'running' }),
          makeRun({ id: 'run-3', job_id: 'gone', status: 'queued' }),
        ],
        next_cursor: null,
      },
    });
    renderAt('/runs', '/runs', <RunList />);
    const rows = await screen.findAllByTestId('run-row');
    await waitFor(() => expect(within(rows[0]).getByRole('link', { name: 'Core ping' })).toBeInTheDocument());
    await waitFor(() => expect(within(rows[2]).getByRole('link', { name: 'Deleted job' })).toBeInTheDocument());
    expect(calls.filter((c) => c.url.pathname === `/api/v1/jobs/${JOB_ID}`)).toHaveLength(1);
    // No list of jobs is read until the job filter is used.
    expect(calls.some((c) => c.url.pathname === '/api/v1/jobs')).toBe(false);
    expect(live.runs.sort()).toEqual(['run-2', 'run-3']);
    expect(live.jobs).toEqual([]);
  });

  it('reads every page of jobs for the job filter once it is used', async () => {
    const { calls } = stubFetch({
      'GET /api/v1/jobs': (url: URL) =>
        url.searchParams.get('cursor') === 'p2'
          ? { items: [{ id: 'job-late', name: 'Zeta late job' }], next_cursor: null }
          : { items: [{ id: JOB_ID, name: 'Core ping' }], next_cursor: 'p2' },
      [`GET /api/v1/jobs/${JOB_ID}`]: { id: JOB_ID, name: 'Core ping' },
      'GET /api/v1/runs': { items: [makeRun({ status: 'completed' })], next_cursor: null },
    });
    const user = userEvent.setup();
    renderAt('/runs', '/runs', <RunList />);
    await screen.findAllByTestId('run-row');
    await user.click(screen.getByLabelText('Job'));
    await waitFor(() => expect(within(screen.getByLabelText('Job')).getByRole('option', { name: 'Zeta late job' })).toBeInTheDocument());
    expect(calls.filter((c) => c.url.pathname === '/api/v1/jobs')).toHaveLength(2);
    await user.selectOptions(screen.getByLabelText('Job'), 'job-late');
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('job=job-late'));
    await waitFor(() => expect(live.jobs).toEqual(['job-late']));
  });
});
