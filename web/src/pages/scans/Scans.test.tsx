import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Scans from './Scans';
import { buildSpec, emptyDraft, parsePorts, validateDraft } from './model';
import { json, makeScan, problem, renderAt, stubApi, type Call } from '../inventory/test-utils';

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
vi.mock('../../lib/live', () => ({ useLive: () => {} }));

const NEW_ID = '01a21af6-0000-7000-8000-00000000new1';
const CREDENTIALS = [
  { id: 'c1', name: 'core-community', kind: 'snmp_community', description: '', version: 1, created_at: '', updated_at: '', secret_updated_at: '' },
  { id: 'c2', name: 'core-v3', kind: 'snmp_v3', description: '', version: 1, created_at: '', updated_at: '', secret_updated_at: '' },
  { id: 'c3', name: 'lab-ssh', kind: 'ssh_password', description: '', version: 1, created_at: '', updated_at: '', secret_updated_at: '' },
];

function stub(post?: (call: Call) => Response | object, scans = [] as ReturnType<typeof makeScan>[]) {
  return stubApi({
    'GET /api/v1/scans': { items: scans, next_cursor: null },
    'POST /api/v1/scans': post ?? ((call: Call) => json(makeScan({ id: NEW_ID, label: 'new', spec: call.body as never }), 201)),
    'GET /api/v1/library/target-sources': [],
    'GET /api/v1/agents': [],
    'GET /api/v1/segments': [{ name: 'local', cidrs: ['127.0.0.0/8'] }],
    'GET /api/v1/credentials': { items: CREDENTIALS },
    'POST /api/v1/targets/preview': { count: 4, first: ['127.0.0.1'], by_segment: { local: 4 }, invalid: [], invalid_omitted: 0 },
  });
}

async function openForm() {
  const user = userEvent.setup();
  renderAt('/scans', '/scans', <Scans />);
  await user.click(await screen.findByRole('button', { name: 'New scan' }));
  const form = await screen.findByRole('form', { name: 'New scan' });
  await user.type(within(form).getByLabelText('Addresses, CIDRs, ranges and hostnames'), '127.0.0.1-127.0.0.4');
  return { user, form };
}

beforeEach(() => {
  auth.role = 'operator';
});
afterEach(() => vi.unstubAllGlobals());

describe('scan model', () => {
  it('reads ports and says what is wrong with each', () => {
    expect(parsePorts('22, 80;443  8080')).toEqual({ ports: [22, 80, 443, 8080], problems: [] });
    const { ports, problems } = parsePorts('22 80 80 0 70000 ssh');
    expect(ports).toEqual([22, 80]);
    expect(problems).toEqual([
      'Port 80 is listed twice.',
      '0 is not a port: ports are 1-65535.',
      '70000 is not a port: ports are 1-65535.',
      '“ssh” is not a port number.',
    ]);
    expect(parsePorts(Array.from({ length: 65 }, (_, i) => i + 1).join(' ')).problems).toEqual(['65 ports: at most 64 per scan.']);
  });

  it('asks for a probe, a range and options in range, and builds the request', () => {
    const draft = { ...emptyDraft(), ping: false, hostTimeout: '50' };
    const problems = validateDraft(draft);
    expect([...problems.keys()]).toEqual(['targets', 'profile', 'options.host_timeout_ms']);
    const ok = {
      ...emptyDraft(),
      name: ' lab ',
      targets: { include: [{ type: 'range' as const, value: '10.0.0.0/30' }], exclude: [] },
      ports: '22 443',
      snmp: true,
      snmpCommunity: 'public',
      ssh: true,
      sshPort: '',
      web: [{ key: 0, scheme: 'https' as const, port: '' }],
      segment: 'lab',
    };
    expect(validateDraft(ok).size).toBe(0);
    expect(buildSpec(ok)).toEqual({
      name: 'lab',
      targets: { include: [{ type: 'range', value: '10.0.0.0/30' }], exclude: [] },
      profile: { ping: true, tcp_ports: [22, 443], web: [{ scheme: 'https' }], snmp: { version: '2c', community: 'public' }, ssh_port: 22 },
      options: { concurrency: 512, host_timeout_ms: 5000, segment: 'lab' },
    });
  });
});

describe('Scans page', () => {
  it('checks the ports as they are typed and starts a scan with the profile', async () => {
    const calls = stub();
    const { user, form } = await openForm();
    const ports = within(form).getByLabelText('TCP ports');
    await user.type(ports, '22, 80 80 70000');
    expect(ports).toHaveAttribute('aria-invalid', 'true');
    expect(ports).toHaveAccessibleDescription(expect.stringContaining('Port 80 is listed twice. 70000 is not a port: ports are 1-65535.'));
    await user.click(within(form).getByRole('button', { name: 'Start scan' }));
    expect(calls.some((c) => c.method === 'POST' && c.path === '/api/v1/scans')).toBe(false);
    await waitFor(() => expect(ports).toHaveFocus());

    await user.clear(ports);
    await user.type(ports, '22 443');
    expect(ports).not.toHaveAttribute('aria-invalid');
    await user.click(within(form).getByLabelText('Read the SSH banner'));
    await user.click(within(form).getByRole('button', { name: 'Add a web page' }));
    await user.selectOptions(within(form).getByLabelText('Scheme of web page 1'), 'https');
    await user.type(within(form).getByLabelText('Port of web page 1'), '8443');
    await user.click(within(form).getByRole('button', { name: 'Start scan' }));

    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(`/scans/${NEW_ID}`));
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/v1/scans');
    expect(post?.body).toEqual({
      targets: { include: [{ type: 'range', value: '127.0.0.1-127.0.0.4' }], exclude: [] },
      profile: { ping: true, tcp_ports: [22, 443], web: [{ scheme: 'https', port: 8443 }], ssh_port: 22 },
      options: { concurrency: 512, host_timeout_ms: 5000 },
    });
  });

  it('shows the server’s problems at their fields and the rest above the buttons', async () => {
    stub(() =>
      problem(422, 'invalid input', [
        { field: 'targets.include[0].value', message: '"127.0.0.1-127.0.0.4": range refused by policy' },
        { field: 'profile.tcp_ports[1]', message: 'port 443 is not allowed here' },
        { field: 'options.host_timeout_ms', message: 'must be between 100 and 120000 milliseconds' },
        { field: 'profile (actions[0].params.count)', message: 'must be at least 1' },
      ]),
    );
    const { user, form } = await openForm();
    await user.type(within(form).getByLabelText('TCP ports'), '22 443');
    await user.click(within(form).getByRole('button', { name: 'Start scan' }));

    const ports = within(form).getByLabelText('TCP ports');
    await waitFor(() => expect(ports).toHaveAccessibleDescription(expect.stringContaining('Port 443: port 443 is not allowed here')));
    expect(within(form).getByLabelText('Time per host (ms)')).toHaveAccessibleDescription(expect.stringContaining('must be between 100 and 120000'));
    expect(within(form).getByLabelText('Addresses, CIDRs, ranges and hostnames')).toHaveAccessibleDescription(expect.stringContaining('range refused by policy'));
    const alert = within(form).getAllByRole('alert').find((a) => a.textContent?.includes('profile (actions[0].params.count)'));
    expect(alert).toHaveTextContent('profile (actions[0].params.count): must be at least 1');
    // What is shown at a field is not repeated in the form's alert.
    expect(alert).not.toHaveTextContent('not allowed here');
  });

  it('says when a scan would probe nothing', async () => {
    const calls = stub();
    const { user, form } = await openForm();
    await user.click(within(form).getByLabelText('Ping first'));
    await user.click(within(form).getByRole('button', { name: 'Start scan' }));
    expect(await within(form).findByText(/This scan probes nothing/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'POST' && c.path === '/api/v1/scans')).toBe(false);
    await waitFor(() => expect(within(form).getByLabelText('Ping first')).toHaveFocus());
  });

  it('offers the stored SNMP credentials and follows their version', async () => {
    const calls = stub();
    const { user, form } = await openForm();
    await user.click(within(form).getByLabelText('Read the SNMP system group'));
    await user.click(within(form).getByLabelText('Stored credential'));
    const credential = within(form).getByLabelText('Credential');
    await waitFor(() => expect(within(credential).getAllByRole('option')).toHaveLength(3));
    // SNMP kinds only.
    expect(within(credential).queryByRole('option', { name: /lab-ssh/ })).not.toBeInTheDocument();
    await user.selectOptions(credential, 'c2');
    expect(within(form).getByLabelText('Version')).toHaveValue('3');
    await user.click(within(form).getByRole('button', { name: 'Start scan' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.path === '/api/v1/scans')).toBe(true));
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/v1/scans');
    expect((post?.body as { profile: { snmp: unknown } }).profile.snmp).toEqual({ version: '3', credential: 'c2' });
  });

  it('lists the history with state in words, counts, start, duration and who', async () => {
    stub(undefined, [
      makeScan(),
      makeScan({
        id: 'done',
        label: 'core 10.0.0.0/24',
        state: 'completed',
        created_by: 'noc',
        finished_at: '2026-11-27T03:01:05Z',
        counts: { probed: 254, alive: 40, identified: 31, new: 3, changed: 2, gone: 1 },
        targets: 254,
      }),
    ]);
    renderAt('/scans', '/scans', <Scans />);
    const rows = await screen.findAllByTestId('scan-row');
    expect(within(rows[0]).getByText('Running')).toBeInTheDocument();
    expect(within(rows[0]).getByText('2 probed · 1 alive · 0 identified')).toBeInTheDocument();
    expect(within(rows[1]).getByRole('link', { name: 'core 10.0.0.0/24' })).toHaveAttribute('href', '/scans/done');
    expect(within(rows[1]).getByText('Completed')).toBeInTheDocument();
    expect(within(rows[1]).getByText('254 probed · 40 alive · 31 identified')).toBeInTheDocument();
    expect(within(rows[1]).getByText('3 new · 2 changed · 1 gone')).toBeInTheDocument();
    expect(within(rows[1]).getByText('1 min 5 s')).toBeInTheDocument();
    expect(within(rows[1]).getByText('noc')).toBeInTheDocument();
  });

  it('is read-only for a viewer', async () => {
    auth.role = 'viewer';
    stub(undefined, [makeScan()]);
    renderAt('/scans', '/scans', <Scans />);
    await screen.findAllByTestId('scan-row');
    expect(screen.queryByRole('button', { name: 'New scan' })).not.toBeInTheDocument();
    expect(screen.getByTestId('read-only-note')).toHaveTextContent('starting or cancelling a scan needs the operator role');
  });
});
