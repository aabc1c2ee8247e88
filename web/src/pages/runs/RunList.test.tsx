import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import RunList from './RunList';
import { JOB_ID, RUN_ID, makeRun, renderAt, stubFetch } from './test-utils';

vi.mock('../../lib/live', () => ({ useLive: () => {} }));

afterEach(() => vi.unstubAllGlobals());

function stub() {
  return stubFetch({
    'GET /api/v1/jobs': { items: [{ id: JOB_ID, name: 'Core ping' }, { id: 'job-2', name: 'Edge HTTP' }], next_cursor: null },
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
});
