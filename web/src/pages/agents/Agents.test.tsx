import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Agents, { heartbeatNumbers } from './Agents';
import { json, problem, renderAt, stubApi } from './test-utils';
import { formatRelative } from '../../components/widgets';
import { parseCidrLines } from './SegmentDialog';

const auth = vi.hoisted(() => ({ role: 'admin' as 'viewer' | 'operator' | 'admin' }));
vi.mock('../../auth/AuthProvider', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../auth/AuthProvider')>();
  const { meFor } = await import('./test-utils');
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

const now = new Date().toISOString();
const AGENTS = [
  {
    id: 'a1',
    name: 'edge-1',
    segment: 'lab',
    version: '0.1.0',
    capabilities: ['ping', 'snmp_get'],
    registered_at: now,
    last_seen_at: now,
    online: true,
    heartbeat: { load1: 0.42, chunks_in_flight: 2, targets_in_flight: 35, max_concurrency: 1024, results_buffered: 0, results_dropped_total: 0 },
    revoked_at: null,
  },
  {
    id: 'a2',
    name: 'edge-2',
    segment: 'lab',
    version: '0.1.0',
    capabilities: ['ping'],
    registered_at: now,
    last_seen_at: '2026-01-01T00:00:00Z',
    online: false,
    heartbeat: null,
    revoked_at: null,
  },
];
const SEGMENTS = [
  { name: 'lab', cidrs: ['10.20.0.0/16'] },
  { name: 'local', cidrs: ['127.0.0.0/8'] },
];

function page() {
  return renderAt('/agents', '/agents', <Agents />);
}

beforeEach(() => {
  auth.role = 'admin';
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('Agents page', () => {
  it('shows each agent online or offline in words, with its heartbeat numbers', async () => {
    stubApi({ 'GET /api/v1/agents': AGENTS, 'GET /api/v1/segments': SEGMENTS });
    page();
    const online = await screen.findByRole('row', { name: /edge-1/ });
    expect(within(online).getByText('Online')).toBeInTheDocument();
    expect(within(online).getByText('0.42')).toBeInTheDocument();
    expect(within(online).getByText('2 chunks')).toBeInTheDocument();
    expect(within(online).getByText('35 of 1,024 targets')).toBeInTheDocument();
    const offline = screen.getByRole('row', { name: /edge-2/ });
    expect(within(offline).getByText('Offline')).toBeInTheDocument();
    // exact time on hover
    expect(within(offline).getByText((_, el) => el?.tagName === 'TIME')).toHaveAttribute('title');
    expect(screen.getByText(/1 of 2 agents online/)).toBeInTheDocument();
    // agents online per segment
    const lab = screen.getByRole('row', { name: /^lab/ });
    expect(within(lab).getByText('1 of 2 online')).toBeInTheDocument();
    expect(within(screen.getByRole('row', { name: /^local/ })).getByText('No agents')).toBeInTheDocument();
  });

  it('asks before revoking and names the agent', async () => {
    const calls = stubApi({
      'GET /api/v1/agents': AGENTS,
      'GET /api/v1/segments': SEGMENTS,
      'POST /api/v1/agents/a2/revoke': () => json({ ...AGENTS[1], revoked_at: now }),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Revoke agent edge-2' }));
    const dialog = await screen.findByRole('dialog', { name: 'Revoke agent edge-2?' });
    expect(within(dialog).getByText(/The agent edge-2 \(segment lab\) stops working/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Revoke edge-2' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.path === '/api/v1/agents/a2/revoke')).toBe(true));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('shows a created enrollment token once, with how to use it', async () => {
    const calls = stubApi({
      'GET /api/v1/agents': AGENTS,
      'GET /api/v1/segments': SEGMENTS,
      'POST /api/v1/enrollment-tokens': (call) =>
        json({ token: 'tok-123456', segment: (call.body as { segment: string }).segment, ttl_seconds: 86400 }, 201),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Create an enrollment token for lab' }));
    const dialog = await screen.findByRole('dialog', { name: 'Enrollment token for lab' });
    await user.click(within(dialog).getByRole('button', { name: 'Create token' }));
    const field = await within(dialog).findByLabelText('Enrollment token for lab');
    expect(field).toHaveValue('tok-123456');
    // The example keeps the token in a 0600 file, off the command line, and points at this host.
    const example = within(dialog).getByLabelText('Example agent command');
    expect(example).toHaveTextContent('OPSCONDUCTOR_ENROLLMENT_TOKEN="$(cat enrollment-token)"');
    expect(example).toHaveTextContent(`OPSCONDUCTOR_CONTROLLER_URL=http://${location.hostname}:50051`);
    expect(within(dialog).getByLabelText('Example: saving the token in a file')).toHaveTextContent('install -m 600');
    expect(within(dialog).queryByText(/tok-123456/)).not.toBeInTheDocument();
    expect(within(dialog).getByText(/will not be shown again/)).toBeInTheDocument();
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ segment: 'lab', ttl_seconds: 86400 });
    await user.click(within(dialog).getByRole('button', { name: 'Copy Enrollment token for lab' }));
    await expect(navigator.clipboard.readText()).resolves.toBe('tok-123456');
    // closed and opened again: the token is gone
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    await user.click(screen.getByRole('button', { name: 'Create an enrollment token for lab' }));
    const again = await screen.findByRole('dialog', { name: 'Enrollment token for lab' });
    expect(within(again).queryByDisplayValue('tok-123456')).not.toBeInTheDocument();
    expect(screen.queryByText(/tok-123456/)).not.toBeInTheDocument();
  });

  it('explains a 409 when a segment in use is deleted', async () => {
    stubApi({
      'GET /api/v1/agents': AGENTS,
      'GET /api/v1/segments': SEGMENTS,
      'DELETE /api/v1/segments/lab': () => problem(409, 'conflict: segment "lab" is used by 2 agent(s); remove those first'),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Delete segment lab' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete segment lab?' });
    await user.click(within(dialog).getByRole('button', { name: 'Delete segment' }));
    const alert = await within(dialog).findByRole('alert');
    expect(alert).toHaveTextContent('still in use');
    expect(alert).toHaveTextContent('segment "lab" is used by 2 agent(s)');
    expect(screen.getByRole('dialog')).toBeInTheDocument();
  });

  it('saves CIDRs with PUT and checks them first', async () => {
    const calls = stubApi({
      'GET /api/v1/agents': AGENTS,
      'GET /api/v1/segments': SEGMENTS,
      'PUT /api/v1/segments/lab': (call) => json({ name: 'lab', ...(call.body as object) }),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Edit CIDRs of lab' }));
    const dialog = await screen.findByRole('dialog', { name: 'CIDRs of segment lab' });
    const box = within(dialog).getByLabelText('CIDRs');
    await user.clear(box);
    await user.type(box, '10.20.0.0/16{enter}10.0.0.0/33');
    await user.click(within(dialog).getByRole('button', { name: 'Save CIDRs' }));
    expect(await within(dialog).findByText('10.0.0.0/33 is not a CIDR (address/prefix length)')).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'PUT')).toBe(false);
    await user.clear(box);
    await user.type(box, '10.20.0.0/16{enter}2001:db8::/48');
    await user.click(within(dialog).getByRole('button', { name: 'Save CIDRs' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ cidrs: ['10.20.0.0/16', '2001:db8::/48'] }));
  });

  it('shows a viewer no admin actions, with the reason', async () => {
    auth.role = 'viewer';
    stubApi({ 'GET /api/v1/agents': AGENTS, 'GET /api/v1/segments': SEGMENTS });
    page();
    const revoke = await screen.findByRole('button', { name: 'Revoke agent edge-1' });
    expect(revoke).toBeUnavailable();
    expect(revoke).toHaveAttribute('title', 'Needs the admin role');
    for (const name of ['New segment', 'Edit CIDRs of lab', 'Create an enrollment token for lab', 'Delete segment lab']) {
      expect(screen.getByRole('button', { name })).toBeUnavailable();
    }
    expect(screen.getByTestId('read-only-note')).toHaveTextContent('Only admins');
  });

  it('shows an error with a retry when agents cannot be loaded', async () => {
    let fail = true;
    stubApi({
      'GET /api/v1/agents': () => (fail ? problem(500, 'database down') : json(AGENTS)),
      'GET /api/v1/segments': SEGMENTS,
    });
    const user = userEvent.setup();
    page();
    expect(await screen.findByText(/database down/)).toBeInTheDocument();
    fail = false;
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('row', { name: /edge-1/ })).toBeInTheDocument();
  });
});

describe('helpers', () => {
  it('reads heartbeat numbers defensively', () => {
    expect(heartbeatNumbers(null).load1).toBeUndefined();
    expect(heartbeatNumbers({ load1: 'x', chunks_in_flight: 3 } as unknown as Parameters<typeof heartbeatNumbers>[0])).toMatchObject({ load1: undefined, chunks: 3 });
  });
  it('formats relative times', () => {
    const base = Date.parse('2026-01-01T00:00:00Z');
    expect(formatRelative(new Date(base - 5_000), base, 'en')).toBe('5 seconds ago');
    expect(formatRelative(new Date(base + 3 * 86_400_000), base, 'en')).toBe('in 3 days');
    expect(parseCidrLines(' 10.0.0.0/8 \n\n10.1.0.0/16, 10.2.0.0/16')).toEqual(['10.0.0.0/8', '10.1.0.0/16', '10.2.0.0/16']);
  });
});
