import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createMemoryRouter, Link, MemoryRouter, Outlet, Route, RouterProvider, Routes } from 'react-router';
import JobBuilder from './JobBuilder';
import { commands, json, parsers, problem, stubFetch } from './test/fixtures';

// rjsf and Radix are slow to render in jsdom on a busy machine.
vi.setConfig({ testTimeout: 20_000 });

const auth = vi.hoisted(() => ({ role: 'operator' as 'viewer' | 'operator' | 'admin' }));
vi.mock('../../auth/AuthProvider', () => ({
  useAuth: () => ({
    me: undefined,
    signedIn: true,
    loading: false,
    login: async () => {},
    logout: async () => {},
    can: (needed: string) => (auth.role === 'viewer' ? needed === 'viewer' : true),
  }),
}));
// The target picker and schedule editor have their own tests.
vi.mock('./targets/TargetPicker', () => ({
  TargetPicker: ({ onChange }: { onChange: (v: unknown) => void }) => (
    <button type="button" onClick={() => onChange({ include: [{ type: 'range', value: '127.0.0.0/28' }], exclude: [] })}>
      stub: pick targets
    </button>
  ),
}));
vi.mock('./schedule/ScheduleEditor', () => ({ ScheduleEditor: () => <p>stub schedule</p> }));

const job = {
  id: 'job-1',
  version: 4,
  name: 'core ping',
  description: '',
  tags: ['core'],
  enabled: true,
  schedule: { type: 'manual' },
  targets: { include: [{ type: 'range', value: '127.0.0.0/28' }], exclude: [] },
  actions: [{ command: 'ping.icmp', params: { count: 2 } }],
  options: {},
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};

let validate: (body: { name: string }) => Response;
let calls: ReturnType<typeof stubFetch>;
let put: () => Response;

beforeEach(() => {
  auth.role = 'operator';
  validate = () => json({ valid: true });
  put = () => json({ ...job, version: 5 }, 200, { etag: '"5"' });
  calls = stubFetch((method, path, body) => {
    if (path === '/api/v1/library/commands') return json(commands);
    if (path === '/api/v1/library/parsers') return json(parsers);
    if (path === '/api/v1/credentials') return json({ items: [] });
    if (path === '/api/v1/segments') return json([{ name: 'local', cidrs: ['127.0.0.0/8'] }]);
    if (path === '/api/v1/jobs/validate') return validate(body as { name: string });
    if (path === '/api/v1/library/preview') return json({ command: 'ping.icmp', kind: 'ping', params: {}, text: 'ping -c 2 {{ target }}', truncated: false });
    if (method === 'GET' && path === '/api/v1/jobs/job-1') return json(job, 200, { etag: '"4"' });
    if (method === 'PUT' && path === '/api/v1/jobs/job-1') return put();
    return undefined;
  });
});
afterEach(() => vi.unstubAllGlobals());

function renderAt(path: string, client = new QueryClient({ defaultOptions: { queries: { retry: false } } })) {
  const router = createMemoryRouter(
    [
      {
        element: (
          <>
            <Link to="/runs">Runs</Link>
            <Outlet />
          </>
        ),
        children: [
          { path: '/jobs/new', element: <JobBuilder /> },
          { path: '/jobs/:jobId/edit', element: <JobBuilder /> },
          { path: '/runs', element: <p>runs page</p> },
        ],
      },
    ],
    { initialEntries: [path] },
  );
  render(
    <QueryClientProvider client={client}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return router;
}

describe('JobBuilder', () => {
  it('shows each server problem next to its field and in the summary', async () => {
    validate = (body) =>
      body.name
        ? json({ valid: true })
        : problem([
            { field: 'name', message: 'must not be empty' },
            { field: 'actions', message: 'a job needs at least one action' },
          ]);
    renderAt('/jobs/new');
    const name = await screen.findByLabelText('Job name');
    await waitFor(() => expect(document.getElementById('job-name-error')).toHaveTextContent('must not be empty'));
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByTestId('validation-summary')).toHaveTextContent('2 problems');
    expect(screen.getByTestId('validation-summary')).toHaveTextContent('actions: a job needs at least one action');
    // Inline errors are linked to their fields, not alerts; the summary is announced politely.
    expect(name).toHaveAccessibleDescription('must not be empty');
    expect(screen.queryAllByRole('alert')).toHaveLength(0);
    expect(screen.getByTestId('validation-announcement')).toHaveTextContent('2 problems');
    await userEvent.type(name, 'x');
    await waitFor(() => expect(screen.getByTestId('validation-summary')).toHaveTextContent('The job is valid.'));
    expect(document.getElementById('job-name-error')).toBeNull();
  });

  it('shows a param problem on the field of the right action', async () => {
    validate = () => problem([{ field: 'actions[0].params.interval_ms', message: 'interval too short for this count' }]);
    renderAt('/jobs/job-1/edit');
    await screen.findByRole('region', { name: 'Action 1' });
    await waitFor(() =>
      expect(document.getElementById('action-0-params_interval_ms__error')).toHaveTextContent('interval too short for this count'),
    );
  });

  it('guards unsaved changes when navigating away', async () => {
    const user = userEvent.setup();
    const router = renderAt('/jobs/new');
    await user.type(await screen.findByLabelText('Job name'), 'draft');
    expect(screen.getByTestId('builder-dirty-state')).toHaveTextContent('Unsaved changes');
    await user.click(screen.getByRole('link', { name: 'Runs' }));
    const dialog = await screen.findByRole('dialog', { name: 'Leave without saving?' });
    expect(dialog).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(router.state.location.pathname).toBe('/jobs/new');
    await user.click(screen.getByRole('link', { name: 'Runs' }));
    await user.click(await screen.findByRole('button', { name: 'Leave without saving' }));
    await screen.findByText('runs page');
  });

  it('asks the browser to confirm closing the tab while there are changes', async () => {
    const user = userEvent.setup();
    renderAt('/jobs/new');
    const clean = new Event('beforeunload', { cancelable: true });
    await screen.findByLabelText('Job name');
    window.dispatchEvent(clean);
    expect(clean.defaultPrevented).toBe(false);
    await user.type(screen.getByLabelText('Job name'), 'draft');
    const dirty = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(dirty);
    expect(dirty.defaultPrevented).toBe(true);
  });

  it('guards in-app links under a plain router too', async () => {
    const user = userEvent.setup();
    const client = new QueryClient();
    render(
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={['/jobs/new']}>
          <Link to="/runs">Runs</Link>
          <Routes>
            <Route path="/jobs/new" element={<JobBuilder />} />
            <Route path="/runs" element={<p>runs page</p>} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>,
    );
    await user.type(await screen.findByLabelText('Job name'), 'draft');
    await user.click(screen.getByRole('link', { name: 'Runs' }));
    await user.click(await screen.findByRole('button', { name: 'Leave without saving' }));
    await screen.findByText('runs page');
  });

  it('saves an edited job with If-Match and explains a 412 conflict', async () => {
    const user = userEvent.setup();
    renderAt('/jobs/job-1/edit');
    const name = await screen.findByLabelText('Job name');
    expect(name).toHaveValue('core ping');
    await user.type(name, ' 2');
    put = () => json({ type: 'about:blank', title: 'Precondition Failed', status: 412, detail: 'version mismatch' }, 412);
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByRole('dialog', { name: 'Someone else changed this job' });
    const sent = calls.filter((c) => c.method === 'PUT').at(-1)!;
    expect(sent.headers.get('if-match')).toBe('"4"');
    expect((sent.body as { name: string }).name).toBe('core ping 2');
    await user.click(screen.getByRole('button', { name: 'Keep editing' }));

    put = () => json({ ...job, name: 'core ping 2', version: 5 }, 200, { etag: '"5"' });
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.getByTestId('builder-dirty-state')).not.toHaveTextContent('Unsaved changes'));
  });

  it('disables saving for viewers, with the reason', async () => {
    auth.role = 'viewer';
    renderAt('/jobs/new');
    const save = await screen.findByRole('button', { name: 'Save' });
    expect(save).toBeUnavailable();
    expect(save).toHaveAttribute('title', 'Needs the operator role');
    expect(screen.getByRole('button', { name: 'Save and run now' })).toBeUnavailable();
    expect(screen.getByRole('button', { name: 'Save as template' })).toBeUnavailable();
  });

  it('refetches a cached job on reopening and saves with the fresh ETag', async () => {
    // The builder saw version 4 earlier; a bulk pause on the dashboard has since made it 5.
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    client.setQueryData(['library', 'commands'], commands);
    client.setQueryData(['library', 'parsers'], parsers);
    client.setQueryData(['job', 'job-1', 'with-etag'], { job, etag: '"4"' });
    client.setQueryData(['job', 'job-1'], job);
    const paused = { ...job, version: 5, enabled: false };
    calls = stubFetch((method, path) => {
      if (path === '/api/v1/credentials') return json({ items: [] });
      if (path === '/api/v1/segments') return json([]);
      if (path === '/api/v1/jobs/validate') return json({ valid: true });
      if (path === '/api/v1/library/preview') return json({ command: 'ping.icmp', kind: 'ping', params: {}, text: 'ping', truncated: false });
      if (method === 'GET' && path === '/api/v1/jobs/job-1') return json(paused, 200, { etag: '"5"' });
      if (method === 'PUT' && path === '/api/v1/jobs/job-1') return json({ ...paused, name: 'core ping 2', version: 6 }, 200, { etag: '"6"' });
      return undefined;
    });
    const user = userEvent.setup();
    renderAt('/jobs/job-1/edit', client);
    await waitFor(() => expect(screen.getByTestId('builder-dirty-state')).toHaveTextContent('Saved, version 5'));
    expect(screen.getByRole('checkbox', { name: 'Enabled (fires on its schedule)' })).not.toBeChecked();
    expect(document.title).toBe('Edit job: core ping · OpsConductor');
    expect(calls.filter((c) => c.method === 'GET' && c.path === '/api/v1/jobs/job-1')).toHaveLength(1);

    await user.type(screen.getByLabelText('Job name'), ' 2');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    const sent = calls.find((c) => c.method === 'PUT')!;
    expect(sent.headers.get('if-match')).toBe('"5"');
    expect((sent.body as { enabled: boolean }).enabled).toBe(false);
    await waitFor(() => expect(screen.getByTestId('builder-dirty-state')).toHaveTextContent('Saved, version 6'));
    // The history page's copy of the job and the job lists are refreshed.
    expect(client.getQueryState(['job', 'job-1'])?.isInvalidated).toBe(true);
    expect(client.getQueryData(['job', 'job-1', 'with-etag'])).toMatchObject({ etag: '"6"' });
  });

  it('keeps a draft being edited when a newer version comes in', async () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const user = userEvent.setup();
    renderAt('/jobs/job-1/edit', client);
    const name = await screen.findByLabelText('Job name');
    await user.type(name, ' mine');
    // Someone else saves version 5, and the builder's query fetches it.
    const theirs = { ...job, name: 'their name', version: 5 };
    stubFetch((method, path, body) => {
      if (path === '/api/v1/jobs/validate') return validate(body as { name: string });
      if (path === '/api/v1/library/preview') return json({ command: 'ping.icmp', kind: 'ping', params: {}, text: 'ping', truncated: false });
      if (method === 'GET' && path === '/api/v1/jobs/job-1') return json(theirs, 200, { etag: '"5"' });
      if (method === 'PUT' && path === '/api/v1/jobs/job-1') return json({ type: 'about:blank', title: 'Precondition Failed', status: 412, detail: 'version mismatch' }, 412);
      return undefined;
    });
    await client.refetchQueries({ queryKey: ['job', 'job-1', 'with-etag'] });
    expect(client.getQueryData(['job', 'job-1', 'with-etag'])).toMatchObject({ etag: '"5"' });
    expect(screen.getByLabelText('Job name')).toHaveValue('core ping mine');
    expect(screen.getByTestId('builder-dirty-state')).toHaveTextContent('Unsaved changes');
    // Saving the edits is checked against the version they started from.
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByRole('dialog', { name: 'Someone else changed this job' });
    await user.click(screen.getByRole('button', { name: 'Load their version' }));
    await waitFor(() => expect(screen.getByLabelText('Job name')).toHaveValue('their name'));
  });

  it('titles the page', async () => {
    renderAt('/jobs/new');
    await screen.findByLabelText('Job name');
    expect(document.title).toBe('New job · OpsConductor');
  });
});
