import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, useLocation } from 'react-router';
import type { LiveMessage } from '../../lib/live';
import type { Job, Run } from './model';
import Dashboard from './Dashboard';

// The signed-in role and the live socket are the test's to decide.
let role: 'viewer' | 'operator' | 'admin' = 'operator';
vi.mock('../../auth/AuthProvider', () => ({
  useAuth: () => ({
    can: (needed: string) => ({ viewer: 0, operator: 1, admin: 2 })[role] >= ({ viewer: 0, operator: 1, admin: 2 } as Record<string, number>)[needed],
  }),
}));
let liveHandler: ((m: LiveMessage) => void) | null = null;
let liveJobs: string[] = [];
vi.mock('../../lib/live', () => ({
  useLive: (ids: { jobs?: string[] }, onMessage: (m: LiveMessage) => void) => {
    liveHandler = onMessage;
    liveJobs = ids.jobs ?? [];
  },
}));

const counters = (c: Partial<Run['counters']> = {}): Run['counters'] => ({ total: 1, ok: 0, warn: 0, failed: 0, error: 0, timeout: 0, ...c });

function run(jobId: string, status: Run['status'], c: Partial<Run['counters']> = {}, id = `run-${jobId}`): Run {
  return {
    id,
    job_id: jobId,
    job_version: 1,
    status,
    trigger: 'manual',
    scheduled_for: '2026-01-01T00:00:00Z',
    created_at: '2026-01-01T00:00:00Z',
    deadline_at: '2026-01-01T01:00:00Z',
    counters: counters(c),
  };
}

function job(id: string, name: string, extra: Partial<Job> = {}): Job {
  return {
    id,
    name,
    version: 1,
    description: '',
    tags: [],
    enabled: true,
    schedule: { type: 'manual' },
    targets: { include: [] },
    actions: [],
    options: {},
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    last_run: null,
    next_run_at: null,
    ...extra,
  } as Job;
}

const JOBS: Job[] = [
  job('j1', 'alpha', { last_run: run('j1', 'completed', { ok: 1 }), tags: ['core'] }),
  job('j2', 'beta', { last_run: run('j2', 'completed', { failed: 1 }) }),
  job('j3', 'gamma', { enabled: false }),
  job('j4', 'delta', { last_run: run('j4', 'running', { total: 10, ok: 2 }) }),
];

let requests: { method: string; url: URL; body: unknown }[] = [];

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

beforeAll(() => {
  // jsdom has no layout: give the virtualized list a viewport.
  Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, get: () => 800 });
  Object.defineProperty(HTMLElement.prototype, 'offsetWidth', { configurable: true, get: () => 1200 });
});

/** Answers before the default routes (return undefined to fall through). */
let override: ((method: string, url: URL, body: unknown) => Response | undefined) | null = null;

beforeEach(() => {
  role = 'operator';
  requests = [];
  liveHandler = null;
  override = null;
  vi.stubGlobal('fetch', async (request: Request) => {
    const url = new URL(request.url);
    const body = request.method === 'GET' ? undefined : await request.text().then((t) => (t ? JSON.parse(t) : null));
    requests.push({ method: request.method, url, body });
    const answer = override?.(request.method, url, body);
    if (answer) return answer;
    if (url.pathname === '/api/v1/jobs') return json({ items: JOBS, next_cursor: null });
    if (url.pathname === '/api/v1/runs') return json({ items: [], next_cursor: null });
    if (url.pathname === '/api/v1/jobs/bulk') {
      const { action, ids } = body as { action: string; ids: string[] };
      return json({ action, changed: ids, unchanged: [] });
    }
    return json({ type: 'about:blank', title: 'not found', status: 404, detail: 'not found' }, 404);
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.search}</output>;
}

function renderAt(path = '/') {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Dashboard />
        <Where />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const rowNames = () => screen.queryAllByTestId('job-row').map((row) => within(row).getAllByRole('link')[0].textContent);

describe('Dashboard', () => {
  it('lists jobs with status as icon and word, and counts them', async () => {
    renderAt();
    await waitFor(() => expect(rowNames()).toEqual(['alpha', 'beta', 'gamma', 'delta']));
    const beta = screen.getAllByTestId('job-row')[1];
    expect(within(beta).getByText('1 of 1 failed')).toBeInTheDocument();
    expect(within(screen.getAllByTestId('job-row')[2]).getAllByText('Never run')[0]).toBeVisible();
    expect(within(screen.getAllByTestId('job-row')[2]).getByText('Paused')).toBeInTheDocument();
    expect(screen.getByTestId('counter-all')).toHaveTextContent('4');
    expect(screen.getByTestId('counter-failing')).toHaveTextContent('1');
    expect(screen.getByTestId('counter-running')).toHaveTextContent('1');
    expect(screen.getByTestId('counter-paused')).toHaveTextContent('1');
    expect(screen.getByTestId('counter-never')).toHaveTextContent('1');
  });

  it('filters the list when a counter is clicked, and keeps the filter in the URL', async () => {
    const user = userEvent.setup();
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    await user.click(screen.getByRole('button', { name: /Failing/ }));
    expect(rowNames()).toEqual(['beta']);
    expect(screen.getByRole('button', { name: /Failing/ })).toHaveAttribute('aria-pressed', 'true');
    expect(screen.getByTestId('where')).toHaveTextContent('?status=failing');
    await user.click(screen.getByRole('button', { name: /Paused/ }));
    expect(rowNames()).toEqual(['gamma']);
    await user.click(screen.getByRole('button', { name: /All/ }));
    expect(rowNames()).toHaveLength(4);
    expect(screen.getByTestId('where')).toBeEmptyDOMElement();
  });

  it('reads the search from the URL and writes typed searches back to it', async () => {
    const user = userEvent.setup();
    renderAt('/?q=alp');
    await waitFor(() => expect(rowNames()).toEqual(['alpha']));
    const search = screen.getByRole('searchbox', { name: 'Search jobs' });
    expect(search).toHaveValue('alp');
    await user.clear(search);
    await user.type(search, 'core');
    await waitFor(() => expect(screen.getByTestId('where')).toHaveTextContent('?q=core'));
    expect(rowNames()).toEqual(['alpha']); // matched by tag
  });

  it('asks before a bulk delete, naming the jobs, then sends their ids', async () => {
    const user = userEvent.setup();
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    await user.click(screen.getByRole('checkbox', { name: 'Select alpha' }));
    await user.click(screen.getByRole('checkbox', { name: 'Select gamma' }));
    expect(screen.getByTestId('selection-count')).toHaveTextContent('2 selected');
    await user.click(screen.getByRole('button', { name: 'Delete' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('Delete 2 jobs: alpha, gamma')).toBeInTheDocument();
    expect(requests.some((r) => r.url.pathname === '/api/v1/jobs/bulk')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Delete 2 jobs' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    const bulk = requests.find((r) => r.url.pathname === '/api/v1/jobs/bulk');
    expect(bulk?.body).toEqual({ action: 'delete', ids: ['j1', 'j3'] });
  });

  it('shows a viewer everything but no way to bulk-delete, and says why run now is off', async () => {
    role = 'viewer';
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    expect(screen.queryByRole('button', { name: 'Delete' })).not.toBeInTheDocument();
    expect(screen.queryAllByRole('checkbox')).toHaveLength(0);
    expect(screen.queryByRole('link', { name: /New job/ })).not.toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Edit alpha' })).not.toBeInTheDocument();
    const runNow = screen.getByRole('button', { name: 'Run now: alpha' });
    expect(runNow).toBeUnavailable();
    expect(runNow).toHaveAttribute('title', 'Needs the operator role');
  });

  it('updates a running job’s progress from live messages', async () => {
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    const delta = () => screen.getAllByTestId('job-row')[3];
    expect(within(delta()).getByRole('progressbar')).toHaveAttribute('aria-valuetext', '2 of 10 done (20%)');
    // Rows in view are watched once scrolling rests.
    await waitFor(() => expect(liveJobs).toContain('j4'));
    act(() => liveHandler!({ type: 'run_progress', run: run('j4', 'running', { total: 10, ok: 6, failed: 1 }) }));
    expect(within(delta()).getByRole('progressbar')).toHaveAttribute('aria-valuetext', '7 of 10 done (70%)');
    expect(within(delta()).getByRole('button', { name: 'Cancel the run of delta' })).toBeEnabled();
    act(() => liveHandler!({ type: 'run_progress', run: run('j4', 'completed', { total: 10, ok: 10 }) }));
    expect(within(delta()).queryByRole('progressbar')).not.toBeInTheDocument();
    expect(within(delta()).getByText('OK')).toBeInTheDocument();
    expect(screen.getByTestId('counter-running')).toHaveTextContent('0');
  });

  it('points an operator to New job when there are no jobs', async () => {
    vi.stubGlobal('fetch', async () => json({ items: [], next_cursor: null }));
    renderAt();
    expect(await screen.findByText('No jobs yet')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Create a job' })).toHaveAttribute('href', '/jobs/new');
  });

  it('shows an error with a retry when the jobs cannot be loaded', async () => {
    const user = userEvent.setup();
    let fail = true;
    vi.stubGlobal('fetch', async () =>
      fail ? json({ type: 'about:blank', title: 'boom', status: 500, detail: 'database away' }, 500) : json({ items: JOBS, next_cursor: null }),
    );
    renderAt();
    expect(await screen.findByText(/database away/)).toBeInTheDocument();
    fail = false;
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(rowNames()).toHaveLength(4));
  });

  it('keeps the bulk dialog open with the error when the action fails, and refreshes the list', async () => {
    const user = userEvent.setup();
    override = (_method, url) =>
      url.pathname === '/api/v1/jobs/bulk' ? json({ type: 'about:blank', title: 'boom', status: 500, detail: 'database away' }, 500) : undefined;
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    await user.click(screen.getByRole('checkbox', { name: 'Select alpha' }));
    await user.click(screen.getByRole('button', { name: 'Pause' }));
    const dialog = await screen.findByRole('dialog');
    const listReads = requests.filter((r) => r.url.pathname === '/api/v1/jobs').length;
    await user.click(within(dialog).getByRole('button', { name: 'Pause 1 job' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('The action failed: database away');
    expect(screen.getByRole('dialog')).toBeInTheDocument();
    // The selection stays for a retry, and the list is read again (part may have changed).
    expect(screen.getByTestId('selection-count')).toHaveTextContent('1 selected');
    await waitFor(() => expect(requests.filter((r) => r.url.pathname === '/api/v1/jobs').length).toBeGreaterThan(listReads));
  });

  it('asks before cancelling a run from its row, naming the job and its progress', async () => {
    const user = userEvent.setup();
    override = (method, url) =>
      method === 'POST' && url.pathname === '/api/v1/runs/run-j4/cancel'
        ? json({ ...run('j4', 'cancelled', { total: 10, ok: 2 }), reason: 'cancelled by user' })
        : undefined;
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    const delta = () => screen.getAllByTestId('job-row')[3];
    await user.click(within(delta()).getByRole('button', { name: 'Cancel the run of delta' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel the run of delta?' });
    expect(within(dialog).getByTestId('cancel-confirm-text')).toHaveTextContent('2 of 10 targets of this run of delta are done.');
    expect(requests.some((r) => r.url.pathname.endsWith('/cancel'))).toBe(false);

    // Keeping the run closes the dialog and sends nothing.
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(requests.some((r) => r.url.pathname.endsWith('/cancel'))).toBe(false);

    await user.click(within(delta()).getByRole('button', { name: 'Cancel the run of delta' }));
    await user.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Cancel run' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(requests.filter((r) => r.method === 'POST' && r.url.pathname === '/api/v1/runs/run-j4/cancel')).toHaveLength(1);
    await waitFor(() => expect(within(delta()).queryByRole('progressbar')).not.toBeInTheDocument());
  });

  it('keeps the row cancel dialog open with the error when the cancel fails', async () => {
    const user = userEvent.setup();
    override = (_method, url) =>
      url.pathname.endsWith('/cancel') ? json({ type: 'about:blank', title: 'Conflict', status: 409, detail: 'run already finished' }, 409) : undefined;
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    await user.click(screen.getByRole('button', { name: 'Cancel the run of delta' }));
    const dialog = await screen.findByRole('dialog', { name: 'Cancel the run of delta?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel run' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('Could not cancel the run of delta: run already finished');
    expect(screen.getByRole('dialog')).toBeInTheDocument();
  });

  it('selects a shift-click range from the row clicked before, even after rows moved', async () => {
    const user = userEvent.setup();
    let jobs = JOBS;
    const copy = job('j1c', 'alpha (copy)', { enabled: false });
    override = (method, url) => {
      if (method === 'POST' && url.pathname === '/api/v1/jobs/j1/clone') {
        // The copy lists right after the original: every row below moves down one.
        jobs = [JOBS[0], copy, ...JOBS.slice(1)];
        return json(copy);
      }
      if (url.pathname === '/api/v1/jobs') return json({ items: jobs, next_cursor: null });
      return undefined;
    };
    renderAt();
    await waitFor(() => expect(rowNames()).toHaveLength(4));
    await user.click(screen.getByRole('checkbox', { name: 'Select beta' }));
    await user.click(screen.getByRole('button', { name: 'Clone alpha' }));
    await waitFor(() => expect(rowNames()).toEqual(['alpha', 'alpha (copy)', 'beta', 'gamma', 'delta']));
    await user.keyboard('{Shift>}');
    await user.click(screen.getByRole('checkbox', { name: 'Select delta' }));
    await user.keyboard('{/Shift}');
    expect(screen.getByRole('checkbox', { name: 'Select beta' })).toBeChecked();
    expect(screen.getByRole('checkbox', { name: 'Select gamma' })).toBeChecked();
    expect(screen.getByRole('checkbox', { name: 'Select delta' })).toBeChecked();
    expect(screen.getByRole('checkbox', { name: 'Select alpha (copy)' })).not.toBeChecked();
    expect(screen.getByTestId('selection-count')).toHaveTextContent('3 selected');
  });

  it('sets the document title', async () => {
    renderAt();
    await waitFor(() => expect(document.title).toBe('Dashboard · OpsConductor'));
  });
});
