import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Groups from './Groups';
import { specOf } from './GroupEditor';
import { json, makeGroup, problem, renderAt, stubApi, type Call } from '../inventory/test-utils';

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

const CORE = makeGroup('core', { description: 'core switches', filter: 'tag = core', member_count: 12 });
const EDGE = makeGroup('edge', { kind: 'static', filter: null, members: ['10.9.0.1', '10.9.0.2', '10.9.1.0/30', 'edge-4.example.net'], member_count: 5, version: 1 });

/** The preview: a filter containing "=" at the end is a mistake at column 7; members are counted. */
function preview(call: Call) {
  const body = call.body as { filter?: string; members?: string[] };
  if (body.filter !== undefined) {
    if (body.filter.trim().endsWith('=')) return problem(422, 'invalid input', [{ field: 'filter', message: 'column 7: expected a value after "=", found the end of the filter' }]);
    return { count: 3, members: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] };
  }
  const members = body.members ?? [];
  const bad = members.findIndex((m) => m.includes('..'));
  if (bad >= 0) return problem(422, 'invalid input', [{ field: `members[${bad}]`, message: `"${members[bad]}": hostname has an empty label` }]);
  return { count: members.length, members };
}

beforeEach(() => {
  auth.role = 'operator';
});
afterEach(() => vi.unstubAllGlobals());

const page = (path = '/groups') => renderAt(path, '/groups', <Groups />);

describe('Groups page', () => {
  it('lists the groups with their kind in words and their member count', async () => {
    stubApi({ 'GET /api/v1/groups': [EDGE, CORE] });
    page();
    const rows = await screen.findAllByTestId('group-row');
    expect(within(rows[0]).getByRole('rowheader')).toHaveTextContent('corecore switches');
    expect(rows[0]).toHaveTextContent('Dynamic');
    expect(within(rows[0]).getByTestId('group-member-count')).toHaveTextContent('12');
    expect(rows[0]).toHaveTextContent('tag = core');
    expect(within(rows[0]).getByRole('link', { name: 'Show the devices of core in the inventory' })).toHaveAttribute('href', '/inventory?filter=tag%20%3D%20core');
    expect(rows[1]).toHaveTextContent('Static');
    expect(rows[1]).toHaveTextContent('10.9.0.1, 10.9.0.2, 10.9.1.0/30 and 1 more');
  });

  it('counts a dynamic group live as its filter is typed, with the filter’s mistake at the filter', async () => {
    const calls = stubApi({
      'GET /api/v1/groups': [CORE],
      'POST /api/v1/groups/preview': preview,
      'POST /api/v1/groups': (call: Call) => json({ ...makeGroup('e2e'), ...(call.body as object), member_count: 3 }, 201),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'New group' }));
    const dialog = await screen.findByRole('dialog', { name: 'New group' });
    expect(within(dialog).getByText('Type a filter to see who it selects.')).toBeInTheDocument();
    await user.type(within(dialog).getByLabelText('Name'), 'e2e');
    const filter = within(dialog).getByLabelText('Filter');
    await user.type(filter, 'tag =');
    await waitFor(() => expect(filter).toHaveAccessibleDescription(expect.stringContaining('column 7: expected a value after "="')), { timeout: 3000 });
    expect(filter).toHaveAttribute('aria-invalid', 'true');
    expect(within(dialog).getByTestId('filter-caret')).toHaveTextContent('tag = ^');

    await user.type(filter, ' "e2e"');
    expect(await within(dialog).findByTestId('group-live-count', {}, { timeout: 3000 })).toHaveTextContent('3');
    await waitFor(() => expect(filter).not.toHaveAttribute('aria-invalid'));
    expect(within(within(dialog).getByTestId('group-preview')).getByRole('list')).toHaveTextContent('10.0.0.110.0.0.210.0.0.3');
    // Debounced: not one request per key typed.
    expect(calls.filter((c) => c.path === '/api/v1/groups/preview').length).toBeLessThanOrEqual(3);
    expect(calls.filter((c) => c.path === '/api/v1/groups/preview').at(-1)?.body).toEqual({ name: 'preview', filter: 'tag = "e2e"' });

    await user.click(within(dialog).getByRole('button', { name: 'Create group' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(calls.find((c) => c.method === 'POST' && c.path === '/api/v1/groups')?.body).toEqual({ name: 'e2e', description: '', filter: 'tag = "e2e"' });
  });

  it('counts a static group’s members and shows a bad member by its line', async () => {
    const calls = stubApi({
      'GET /api/v1/groups': [],
      'POST /api/v1/groups/preview': preview,
      'POST /api/v1/groups': () => problem(409, 'group "lab" exists already'),
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'New group' }));
    const dialog = await screen.findByRole('dialog', { name: 'New group' });
    await user.type(within(dialog).getByLabelText('Name'), 'lab');
    await user.click(within(dialog).getByLabelText(/Static/));
    const members = within(dialog).getByLabelText('Members, one per line');
    await user.type(members, '10.0.0.1{Enter}{Enter}bad..host');
    await waitFor(() => expect(members).toHaveAccessibleDescription(expect.stringContaining('Line 3: "bad..host": hostname has an empty label')), { timeout: 3000 });
    await user.clear(members);
    await user.type(members, '10.0.0.1{Enter}10.0.0.2');
    await waitFor(() => expect(within(dialog).getByTestId('group-live-count')).toHaveTextContent('2'), { timeout: 3000 });
    await user.click(within(dialog).getByRole('button', { name: 'Create group' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('group "lab" exists already');
    expect(calls.find((c) => c.method === 'POST' && c.path === '/api/v1/groups')?.body).toEqual({ name: 'lab', description: '', members: ['10.0.0.1', '10.0.0.2'] });
  });

  it('saves an edit with If-Match and, when someone saved first, reloads theirs or saves over it', async () => {
    let version = 3;
    let theirs = { ...CORE };
    const calls = stubApi({
      'GET /api/v1/groups': () => [theirs],
      'GET /api/v1/groups/core': () => json(theirs, 200, { etag: `"${version}"` }),
      'POST /api/v1/groups/preview': preview,
      'PUT /api/v1/groups/core': (call: Call) => {
        if (call.headers.get('if-match') !== `"${version}"`) return problem(412, 'the group changed since it was read');
        version += 1;
        theirs = { ...theirs, ...(call.body as object), version };
        return json(theirs, 200, { etag: `"${version}"` });
      },
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Edit core' }));
    const dialog = await screen.findByRole('dialog', { name: 'Edit group core' });
    const filter = await within(dialog).findByLabelText('Filter');
    expect(filter).toHaveValue('tag = core');
    // Someone else saves meanwhile.
    version = 4;
    theirs = { ...theirs, filter: 'tag = core or tag = spine', version };
    await user.clear(filter);
    await user.type(filter, 'tag = core and vendor = Cisco');
    await user.click(within(dialog).getByRole('button', { name: 'Save group' }));
    const conflict = await within(dialog).findByTestId('group-conflict');
    expect(conflict).toHaveTextContent('Someone changed this group since you opened it.');
    expect(calls.filter((c) => c.method === 'PUT')[0].headers.get('if-match')).toBe('"3"');

    await user.click(within(conflict).getByRole('button', { name: 'Reload their version' }));
    await waitFor(() => expect(filter).toHaveValue('tag = core or tag = spine'));
    await user.type(filter, ' or tag = leaf');
    await user.click(within(dialog).getByRole('button', { name: 'Save group' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    const puts = calls.filter((c) => c.method === 'PUT');
    expect(puts.at(-1)?.headers.get('if-match')).toBe('"4"');
    expect(puts.at(-1)?.body).toEqual({ name: 'core', description: 'core switches', filter: 'tag = core or tag = spine or tag = leaf' });
  });

  it('deletes a group after a confirmation naming what it selects', async () => {
    let groups = [CORE];
    const calls = stubApi({
      'GET /api/v1/groups': () => groups,
      'DELETE /api/v1/groups/core': () => {
        groups = [];
        return new Response(null, { status: 204 });
      },
    });
    const user = userEvent.setup();
    page();
    await user.click(await screen.findByRole('button', { name: 'Delete core' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete group core?' });
    expect(dialog).toHaveTextContent('core selects 12 devices now.');
    await user.click(within(dialog).getByRole('button', { name: 'Delete group' }));
    expect(await screen.findByText('No groups yet')).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(true);
  });

  it('lists a group’s members for everyone; a viewer cannot change groups', async () => {
    auth.role = 'viewer';
    stubApi({
      'GET /api/v1/groups': [EDGE],
      'GET /api/v1/groups/edge/members': { count: 5, members: ['10.9.0.1', '10.9.0.2', '10.9.1.1', '10.9.1.2', 'edge-4.example.net'] },
    });
    const user = userEvent.setup();
    page();
    await screen.findAllByTestId('group-row');
    expect(screen.getByRole('button', { name: 'New group' })).toBeUnavailable();
    expect(screen.getByRole('button', { name: 'Edit edge' })).toBeUnavailable();
    expect(screen.getByRole('button', { name: 'Delete edge' })).toBeUnavailable();
    expect(screen.getByTestId('read-only-note')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Members of edge' }));
    const dialog = await screen.findByRole('dialog', { name: 'Members of edge' });
    expect(await within(dialog).findByTestId('group-members-count')).toHaveTextContent('5 members now.');
    expect(within(dialog).getByRole('link', { name: '10.9.1.1' })).toHaveAttribute('href', '/inventory/10.9.1.1');
    expect(within(dialog).queryByRole('link', { name: 'edge-4.example.net' })).not.toBeInTheDocument();
  });

  it('opens a prefilled editor from the inventory’s “save as group”', async () => {
    stubApi({ 'GET /api/v1/groups': [], 'POST /api/v1/groups/preview': preview });
    page('/groups?new=dynamic&filter=port%20%3D%2022');
    const dialog = await screen.findByRole('dialog', { name: 'New group' });
    expect(within(dialog).getByLabelText('Filter')).toHaveValue('port = 22');
    expect(screen.getByTestId('location')).toHaveTextContent(/^\/groups$/);
  });

  it('sends one of filter or members', () => {
    expect(specOf({ name: 'a', description: ' x ', kind: 'dynamic', filter: ' tag = a ', members: '1.1.1.1' })).toEqual({ name: 'a', description: 'x', filter: 'tag = a' });
    expect(specOf({ name: 'a', description: '', kind: 'static', filter: 'tag = a', members: ' 1.1.1.1 \n\n2.2.2.2' })).toEqual({ name: 'a', description: '', members: ['1.1.1.1', '2.2.2.2'] });
  });
});
