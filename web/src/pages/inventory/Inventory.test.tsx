import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Inventory from './Inventory';
import { combinedFilter, filterErrorColumn, parseTags } from '../../lib/inventory';
import { fakeLayout, json, makeDevice, problem, renderAt, stubApi, type Call } from './test-utils';

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

const DEVICES = [
  makeDevice('10.0.0.1', { hostname: 'core-sw1', tags: ['core'], attributes: { vendor: 'Cisco', model: 'C9300', os: 'Cisco IOS XE', open_ports: [22, 443] } }),
  makeDevice('10.0.0.2', { hostname: 'core-sw2', tags: ['core', 'lab'], attributes: { vendor: 'Cisco' } }),
  makeDevice('10.0.0.3', { attributes: { os: 'Linux' } }),
  makeDevice('10.0.0.4', { tags: ['edge'] }),
];

function stubDevices(extra: Record<string, object> = {}) {
  return stubApi({
    'GET /api/v1/devices': { items: DEVICES, total: DEVICES.length, next_cursor: null },
    'POST /api/v1/devices/bulk': (call: Call) => ({ affected: (call.body as { addresses: string[] }).addresses.length }),
    ...extra,
  });
}

const page = (path = '/inventory') => renderAt(path, '/inventory', <Inventory />);
const rowAddresses = () => screen.queryAllByTestId('device-row').map((row) => within(row).getByRole('rowheader').textContent);

beforeAll(() => fakeLayout());
beforeEach(() => {
  auth.role = 'operator';
});
afterEach(() => vi.unstubAllGlobals());

describe('inventory helpers', () => {
  it('builds one export filter from the filter, the tag and the search', () => {
    expect(combinedFilter({ filter: '', tag: '', search: '' })).toBe('');
    expect(combinedFilter({ filter: 'vendor = "Cisco"', tag: 'core', search: '10.1.' })).toBe(
      '(vendor = "Cisco") and tag = core and (address ~ 10.1. or hostname ~ 10.1. or vendor ~ 10.1. or model ~ 10.1. or os ~ 10.1. or sys_name ~ 10.1. or tag ~ 10.1.)',
    );
    expect(combinedFilter({ filter: '', tag: 'data center', search: '' })).toBe('tag = "data center"');
    expect(filterErrorColumn('column 12: expected a value')).toBe(12);
    expect(parseTags(' core, lab;core  e2e ')).toEqual(['core', 'lab', 'e2e']);
  });
});

describe('Inventory page', () => {
  it('reads every page of 10,000 devices and lists them with their attributes', async () => {
    const calls = stubApi({
      'GET /api/v1/devices': (call: Call) =>
        call.query.get('cursor') === 'p2'
          ? { items: DEVICES.slice(2), total: 4, next_cursor: null }
          : { items: DEVICES.slice(0, 2), total: 4, next_cursor: 'p2' },
    });
    page();
    await waitFor(() => expect(rowAddresses()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']));
    const reads = calls.filter((c) => c.path === '/api/v1/devices');
    expect(reads.map((c) => c.query.get('limit'))).toEqual(['10000', '10000']);
    expect(reads[1].query.get('cursor')).toBe('p2');
    expect(screen.getByTestId('device-count')).toHaveTextContent('4 devices');
    const first = screen.getAllByTestId('device-row')[0];
    expect(within(first).getByRole('link', { name: '10.0.0.1' })).toHaveAttribute('href', '/inventory/10.0.0.1');
    expect(first).toHaveTextContent('core-sw1');
    expect(first).toHaveTextContent('C9300');
    expect(first).toHaveTextContent('Cisco IOS XE');
    expect(first).toHaveTextContent('22, 443');
    expect(within(first).getByRole('list', { name: 'Tags of 10.0.0.1' })).toHaveTextContent('core');
    expect(screen.getByRole('table', { name: 'Devices' })).toHaveAttribute('aria-rowcount', '5');
  });

  it('keeps search, tag and filter in the URL and shows the server’s filter error under the filter', async () => {
    const calls = stubDevices({
      'GET /api/v1/devices': (call: Call) =>
        call.query.get('filter') === 'vendor ='
          ? problem(422, 'invalid input', [{ field: 'filter', message: 'column 9: expected a value after "=", found the end of the filter' }])
          : { items: DEVICES, total: 4, next_cursor: null },
    });
    const user = userEvent.setup();
    page('/inventory?tag=core');
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    expect(screen.getByLabelText('Tag')).toHaveValue('core');
    expect(calls[0].query.get('tag')).toBe('core');

    await user.type(screen.getByLabelText('Search'), 'cisco');
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('q=cisco'));
    await waitFor(() => expect(calls.some((c) => c.query.get('search') === 'cisco' && c.query.get('tag') === 'core')).toBe(true));

    const filter = screen.getByLabelText('Filter');
    await user.type(filter, 'vendor ={Enter}');
    await waitFor(() => expect(filter).toHaveAttribute('aria-invalid', 'true'));
    expect(filter).toHaveAccessibleDescription(expect.stringContaining('column 9: expected a value after "="'));
    expect(screen.getByTestId('filter-caret')).toHaveTextContent('vendor = ^');
    expect(screen.getByText('The filter has a mistake')).toBeInTheDocument();
    expect(screen.getByTestId('location')).toHaveTextContent('filter=vendor+%3D');

    await user.clear(filter);
    await user.type(filter, 'vendor = Cisco{Enter}');
    await waitFor(() => expect(filter).not.toHaveAttribute('aria-invalid'));
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    await user.click(screen.getByRole('button', { name: 'Clear search and filters' }));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(/^\/inventory$/));
  });

  it('selects a shift-click range and tags it, the dialog naming the count', async () => {
    const calls = stubDevices();
    const user = userEvent.setup();
    page();
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    await user.click(screen.getByRole('checkbox', { name: 'Select 10.0.0.1' }));
    await user.keyboard('{Shift>}');
    await user.click(screen.getByRole('checkbox', { name: 'Select 10.0.0.3' }));
    await user.keyboard('{/Shift}');
    expect(screen.getByTestId('selection-count')).toHaveTextContent('3 selected');
    expect(screen.getByRole('checkbox', { name: 'Select 10.0.0.4' })).not.toBeChecked();

    await user.click(screen.getByRole('button', { name: 'Add tags' }));
    const dialog = await screen.findByRole('dialog', { name: 'Add tags to 3 devices' });
    expect(within(dialog).getByTestId('bulk-tag-text')).toHaveTextContent('The tags are added to 3 devices: 10.0.0.1, 10.0.0.2, 10.0.0.3.');
    const confirm = within(dialog).getByRole('button', { name: 'Add tags to 3 devices' });
    expect(confirm).toBeUnavailable();
    await user.type(within(dialog).getByLabelText('Tags'), 'e2e, lab');
    await user.click(confirm);
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/v1/devices/bulk');
    expect(post?.body).toEqual({ addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], add_tags: ['e2e', 'lab'] });
    // The list is read again.
    await waitFor(() => expect(calls.filter((c) => c.path === '/api/v1/devices')).toHaveLength(2));
  });

  it('removes tags the selection carries, and shows a refused tag at the field', async () => {
    const calls = stubDevices({
      'POST /api/v1/devices/bulk': (call: Call) =>
        (call.body as { remove_tags: string[] }).remove_tags.includes('bad')
          ? problem(422, 'invalid input', [{ field: 'remove[1]', message: 'a tag must not contain control characters' }])
          : { affected: 2 },
    });
    const user = userEvent.setup();
    page();
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    await user.click(screen.getByRole('checkbox', { name: 'Select 10.0.0.1' }));
    await user.click(screen.getByRole('checkbox', { name: 'Select 10.0.0.2' }));
    await user.click(screen.getByRole('button', { name: 'Remove tags' }));
    const dialog = await screen.findByRole('dialog', { name: 'Remove tags from 2 devices' });
    const present = within(dialog).getByRole('group', { name: 'Tags of the selected devices' });
    await user.click(within(present).getByRole('button', { name: 'core (2)' }));
    expect(within(dialog).getByLabelText('Tags')).toHaveValue('core');
    await user.type(within(dialog).getByLabelText('Tags'), ', bad');
    await user.click(within(dialog).getByRole('button', { name: 'Remove tags from 2 devices' }));
    // The second tag typed is "bad", the server's index 1.
    await waitFor(() => expect(within(dialog).getByLabelText('Tags')).toHaveAccessibleDescription(expect.stringContaining('bad: a tag must not contain control characters')));
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1);
  });

  it('selects every matching device and deletes them after a confirmation naming the count', async () => {
    const calls = stubDevices();
    const user = userEvent.setup();
    page();
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    await user.click(screen.getByRole('button', { name: 'Select all 4 matching devices' }));
    expect(screen.getByTestId('selection-count')).toHaveTextContent('4 selected');
    await user.click(screen.getByRole('button', { name: 'Delete' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete 4 devices?' });
    expect(within(dialog).getByTestId('bulk-delete-text')).toHaveTextContent('10.0.0.1, 10.0.0.2, 10.0.0.3 and 1 more');
    await user.click(within(dialog).getByRole('button', { name: 'Delete 4 devices' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    const post = calls.find((c) => c.method === 'POST' && c.path === '/api/v1/devices/bulk');
    expect(post?.body).toEqual({ addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'], delete: true });
    expect(screen.getByTestId('selection-count')).toHaveTextContent('None selected');
  });

  it('imports a CSV: a dry run lists the problems by line, then the import reports what it did', async () => {
    const csv = 'address,hostname,tags\n10.0.0.7,a,e2e\n10.0.0.300,b,e2e\n10.0.0.8,c,e2e;lab\n';
    const calls = stubDevices({
      'POST /api/v1/devices/import': (call: Call) => {
        const dry = call.query.get('dry_run') === 'true';
        return {
          created: dry ? 0 : 2,
          updated: 0,
          rejected: 1,
          problems: [{ line: 3, field: 'address', message: '"10.0.0.300" is not an IPv4 or IPv6 address' }],
          dry_run: dry,
        };
      },
    });
    const user = userEvent.setup();
    page();
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    await user.click(screen.getByRole('button', { name: 'Import' }));
    const dialog = await screen.findByRole('dialog', { name: 'Import devices' });
    const run = within(dialog).getByRole('button', { name: 'Import' });
    expect(run).toBeUnavailable();
    await user.upload(within(dialog).getByLabelText('Choose a file…'), new File([csv], 'devices.csv', { type: 'text/csv' }));

    expect(await within(dialog).findByTestId('import-summary')).toHaveTextContent('devices.csv was checked: 1 problem. Lines left out: 1; the rest will be imported.');
    const dry = calls.find((c) => c.path === '/api/v1/devices/import');
    expect(dry?.query.get('dry_run')).toBe('true');
    expect(dry?.query.get('format')).toBe('csv');
    expect(dry?.body).toBe(csv);
    const problemRow = within(dialog).getByTestId('import-problem');
    expect(within(problemRow).getByRole('rowheader')).toHaveTextContent('3');
    expect(problemRow).toHaveTextContent('address"10.0.0.300" is not an IPv4 or IPv6 address');
    expect(within(dialog).getByLabelText('Format')).toHaveValue('csv');

    await user.click(run);
    await waitFor(() => expect(within(dialog).getByTestId('import-summary')).toHaveTextContent('Import done. Created: 2, updated: 0, lines left out: 1.'));
    expect(calls.filter((c) => c.path === '/api/v1/devices/import').map((c) => c.query.get('dry_run'))).toEqual(['true', 'false']);
    await waitFor(() => expect(calls.filter((c) => c.path === '/api/v1/devices')).toHaveLength(2));
    await user.click(within(dialog).getByRole('button', { name: 'Done' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('takes the format from the extension and shows a file-level refusal', async () => {
    const calls = stubDevices({
      'POST /api/v1/devices/import': () => problem(422, 'invalid input', [{ field: 'file', message: 'line 1, column 2: invalid JSON: expected value' }]),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Import' }));
    const dialog = await screen.findByRole('dialog', { name: 'Import devices' });
    await user.upload(within(dialog).getByLabelText('Choose a file…'), new File(['[oops'], 'devices.json', { type: 'application/json' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('The file cannot be imported: line 1, column 2: invalid JSON');
    expect(calls.find((c) => c.path === '/api/v1/devices/import')?.query.get('format')).toBe('json');
    expect(within(dialog).getByRole('button', { name: 'Import' })).toBeUnavailable();
  });

  it('is read-only for a viewer, who can still export what is shown', async () => {
    auth.role = 'viewer';
    const calls = stubDevices({
      'GET /api/v1/devices/export': () => new Response('address\n10.0.0.1\n', { status: 200, headers: { 'content-type': 'text/csv' } }),
    });
    const createObjectURL = vi.fn(() => 'blob:inventory');
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    const user = userEvent.setup();
    page('/inventory?tag=core&filter=port+%3D+22');
    await waitFor(() => expect(rowAddresses()).toHaveLength(4));
    expect(screen.queryAllByRole('checkbox')).toHaveLength(0);
    expect(screen.queryByRole('button', { name: 'Import' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Add tags' })).not.toBeInTheDocument();
    expect(screen.getByTestId('read-only-note')).toHaveTextContent('needs the operator role');

    await user.click(screen.getByRole('button', { name: 'Export CSV' }));
    await waitFor(() => expect(click).toHaveBeenCalled());
    const exported = calls.find((c) => c.path === '/api/v1/devices/export');
    expect(exported?.query.get('format')).toBe('csv');
    expect(exported?.query.get('filter')).toBe('(port = 22) and tag = core');
    click.mockRestore();
  });

  it('says when the inventory is empty', async () => {
    stubApi({ 'GET /api/v1/devices': json({ items: [], total: 0, next_cursor: null }) });
    page();
    expect(await screen.findByText('No devices yet')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Go to the scans' })).toHaveAttribute('href', '/scans');
  });
});
