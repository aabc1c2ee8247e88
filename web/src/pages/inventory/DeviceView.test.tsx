import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import DeviceView from './DeviceView';
import { json, makeDevice, problem, renderAt, stubApi, type Call } from './test-utils';
import { RUN_ID, makeResult, makeRun } from '../runs/test-utils';

const auth = vi.hoisted(() => ({ role: 'operator' as 'viewer' | 'operator' | 'admin' }));
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

const DEVICE = makeDevice('10.0.0.1', {
  hostname: 'core-sw1',
  tags: ['core', 'lab'],
  notes: 'rack 4',
  last_scan_id: 'scan-1',
  attributes: { vendor: 'Cisco', sys_descr: 'Cisco IOS XE Software, Version 17.9', sys_uptime_s: 93_784, open_ports: [22, 443], rtt_ms: 1.5 },
});

function stub(device = DEVICE, extra: Record<string, object> = {}) {
  let current = device;
  const calls = stubApi({
    [`GET /api/v1/devices/${device.address}`]: () => current,
    [`PATCH /api/v1/devices/${device.address}`]: (call: Call) => {
      current = { ...current, ...(call.body as object) } as typeof current;
      return current;
    },
    'GET /api/v1/results': (call: Call) =>
      call.query.get('cursor') === 'r2'
        ? { items: [makeResult('10.0.0.1', 'fail', { run_id: RUN_ID, reason: 'host unreachable', started_at: '2026-11-26T03:00:02Z' })], next_cursor: null }
        : { items: [makeResult('10.0.0.1', 'ok', { run_id: RUN_ID })], next_cursor: 'r2' },
    [`GET /api/v1/runs/${RUN_ID}`]: makeRun(),
    ...extra,
  });
  return calls;
}

const page = (address = '10.0.0.1') => renderAt(`/inventory/${encodeURIComponent(address)}`, '/inventory/:address', <DeviceView />);

beforeEach(() => {
  auth.role = 'operator';
});
afterEach(() => vi.unstubAllGlobals());

describe('DeviceView', () => {
  it('shows what scans learned and its recent results, named by job and action', async () => {
    const calls = stub();
    const user = userEvent.setup();
    page();
    expect(await screen.findByRole('heading', { level: 1, name: '10.0.0.1' })).toBeInTheDocument();
    expect(screen.getByTestId('attribute-vendor')).toHaveTextContent('Cisco');
    expect(screen.getByTestId('attribute-sys_uptime_s')).toHaveTextContent('1 d 2 h 3 min');
    expect(screen.getByTestId('attribute-open_ports')).toHaveTextContent('22, 443');
    expect(screen.getByTestId('attribute-rtt_ms')).toHaveTextContent('1.50 ms');
    expect(screen.getByTestId('attribute-model')).toHaveTextContent('not known');
    expect(screen.getByRole('link', { name: 'Open the scan that last found it' })).toHaveAttribute('href', '/scans/scan-1');

    const results = screen.getByTestId('device-results');
    const row = await within(results).findByTestId('device-result-row');
    expect(row).toHaveTextContent('OK');
    await waitFor(() => expect(row).toHaveTextContent('Core ping'));
    expect(row).toHaveTextContent('ping.icmp');
    expect(calls.find((c) => c.path === '/api/v1/results')?.query.get('target')).toBe('10.0.0.1');
    await user.click(within(results).getByRole('button', { name: 'Show older results' }));
    await waitFor(() => expect(within(results).getAllByTestId('device-result-row')).toHaveLength(2));
    expect(within(results).getAllByTestId('device-result-row')[1]).toHaveTextContent('host unreachable');
    // One read of the run names the actions of all its results.
    expect(calls.filter((c) => c.path === `/api/v1/runs/${RUN_ID}`)).toHaveLength(1);
  });

  it('lets an operator edit the host name, tags and notes, each saved on its own', async () => {
    let refuse = true;
    const calls = stub(DEVICE, {
      [`PATCH /api/v1/devices/10.0.0.1`]: (call: Call) => {
        const body = call.body as Record<string, unknown>;
        if ('hostname' in body && refuse) {
          refuse = false;
          return problem(422, 'invalid input', [{ field: 'hostname', message: 'must be 1-253 characters' }]);
        }
        return { ...DEVICE, ...body };
      },
    });
    const user = userEvent.setup();
    page();
    await screen.findByRole('heading', { level: 1, name: '10.0.0.1' });

    await user.click(screen.getByRole('button', { name: 'Edit the host name' }));
    const hostname = screen.getByRole('textbox', { name: 'Host name' });
    await user.clear(hostname);
    await user.type(hostname, 'core-sw1.lab{Enter}');
    await waitFor(() => expect(hostname).toHaveAccessibleDescription(expect.stringContaining('must be 1-253 characters')));
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.getByTestId('device-hostname')).toHaveTextContent('core-sw1.lab'));

    const tags = screen.getByTestId('device-tags');
    await user.click(within(tags).getByRole('button', { name: 'Remove tag core' }));
    await user.type(within(tags).getByLabelText('Add tags'), 'e2e{Enter}');
    await user.click(within(tags).getByRole('button', { name: 'Save tags' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(3));

    const notes = screen.getByTestId('device-notes');
    const box = within(notes).getByRole('textbox', { name: 'Notes' });
    await user.type(box, ', spare PSU');
    expect(box).toHaveAccessibleDescription(expect.stringContaining('17 of 4000 characters'));
    await user.click(within(notes).getByRole('button', { name: 'Save notes' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(4));

    expect(calls.filter((c) => c.method === 'PATCH').map((c) => c.body)).toEqual([
      { hostname: 'core-sw1.lab' },
      { hostname: 'core-sw1.lab' },
      { tags: ['e2e', 'lab'] },
      { notes: 'rack 4, spare PSU' },
    ]);
  });

  it('is read-only for a viewer', async () => {
    auth.role = 'viewer';
    stub();
    page();
    await screen.findByRole('heading', { level: 1, name: '10.0.0.1' });
    expect(screen.getByTestId('read-only-note')).toHaveTextContent('changing it needs the operator role');
    expect(screen.queryByRole('button', { name: 'Edit the host name' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Remove tag core' })).not.toBeInTheDocument();
    expect(screen.queryByRole('textbox')).not.toBeInTheDocument();
    expect(screen.getByTestId('device-notes')).toHaveTextContent('rack 4');
    expect(screen.getByRole('button', { name: 'Delete device' })).toBeUnavailable();
  });

  it('deletes the device after a confirmation and goes back to the inventory', async () => {
    const calls = stub(DEVICE, { 'DELETE /api/v1/devices/10.0.0.1': () => new Response(null, { status: 204 }) });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Delete device' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete 10.0.0.1?' });
    await user.click(within(dialog).getByRole('button', { name: 'Delete device' }));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(/^\/inventory$/));
    expect(calls.some((c) => c.method === 'DELETE')).toBe(true);
  });

  it('reads an IPv6 device by its address and says when a device does not exist', async () => {
    const v6 = makeDevice('2001:db8::1');
    const calls = stubApi({
      'GET /api/v1/devices/2001%3Adb8%3A%3A1': v6,
      'GET /api/v1/results': json({ items: [], next_cursor: null }),
    });
    page('2001:db8::1');
    expect(await screen.findByRole('heading', { level: 1, name: '2001:db8::1' })).toBeInTheDocument();
    expect(await screen.findByText('No results yet')).toBeInTheDocument();
    expect(calls[0].path).toBe('/api/v1/devices/2001%3Adb8%3A%3A1');
  });

  it('says when the device is not in the inventory', async () => {
    stubApi({ 'GET /api/v1/devices/10.9.9.9': () => problem(404, 'device 10.9.9.9') });
    page('10.9.9.9');
    expect(await screen.findByRole('heading', { name: 'Device not found' })).toBeInTheDocument();
  });
});
