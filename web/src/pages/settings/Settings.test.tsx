import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Settings from './Settings';
import { buildSecret } from './Credentials';
import { expiryFor, localDate } from './ApiTokens';
import { json, problem, renderAt, stubApi } from '../agents/test-utils';

const auth = vi.hoisted(() => ({ role: 'admin' as 'viewer' | 'operator' | 'admin' }));
vi.mock('../../auth/AuthProvider', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../auth/AuthProvider')>();
  const { meFor } = await import('../agents/test-utils');
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

const T = '2026-01-01T00:00:00Z';
const CREDENTIAL = {
  id: 'c1',
  name: 'core-snmp',
  kind: 'snmp_community',
  description: 'core routers',
  version: 3,
  created_at: T,
  updated_at: T,
  secret_updated_at: T,
};
const ADMIN = {
  id: 'user-admin',
  username: 'admin',
  display_name: '',
  role: 'admin',
  disabled: false,
  version: 1,
  created_at: T,
  updated_at: T,
  password_changed_at: T,
  last_login_at: T,
};
const VIEWER = { ...ADMIN, id: 'u2', username: 'noc', role: 'viewer', display_name: 'NOC screen' };

function page(path: string) {
  return renderAt(path, '/settings/*', <Settings />);
}

beforeEach(() => {
  auth.role = 'admin';
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('credentials', () => {
  it('builds the secret from the fields of its kind only', () => {
    expect(buildSecret('ssh_key', { user: ' root ', private_key: 'KEY', passphrase: '', community: 'x' })).toEqual({
      user: 'root',
      private_key: 'KEY',
    });
    expect(buildSecret('snmp_v3', { user: 'mon', auth_protocol: 'none', auth_password: 'a', priv_protocol: 'aes', priv_password: 'p' })).toEqual({
      user: 'mon',
    });
    expect(
      buildSecret('snmp_v3', { user: 'mon', auth_protocol: 'sha256', auth_password: 'a', priv_protocol: 'aes', priv_password: 'p' }),
    ).toEqual({ user: 'mon', auth_protocol: 'sha256', auth_password: 'a', priv_protocol: 'aes', priv_password: 'p' });
    expect(buildSecret('http_bearer', { token: 't', user: 'u' })).toEqual({ token: 't' });
    expect(buildSecret('snmp_community', { community: 'public' })).toEqual({ community: 'public' });
    expect(buildSecret('http_basic', { user: 'u', password: 'p', token: 'x' })).toEqual({ user: 'u', password: 'p' });
  });

  it('sends the secret fields of the chosen kind and never shows a secret', async () => {
    let items = [CREDENTIAL];
    const calls = stubApi({
      'GET /api/v1/credentials': () => json({ items }),
      'POST /api/v1/credentials': (call) => {
        const body = call.body as { name: string; kind: string };
        const created = { ...CREDENTIAL, id: 'c2', name: body.name, kind: body.kind, version: 1, description: '' };
        items = [...items, created];
        return json(created, 201);
      },
    });
    const user = userEvent.setup();
    page('/settings/credentials');
    expect(await screen.findByRole('rowheader', { name: /core-snmp/ })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'New credential' }));
    const dialog = await screen.findByRole('dialog', { name: 'New credential' });
    await user.type(within(dialog).getByLabelText('Name'), 'lab-ssh');
    await user.selectOptions(within(dialog).getByLabelText('Kind'), 'ssh_password');
    await user.type(within(dialog).getByLabelText('User'), 'netops');
    const password = within(dialog).getByLabelText('Password');
    expect(password).toHaveAttribute('type', 'password');
    await user.type(password, 'hunter2-secret');
    await user.click(within(dialog).getByRole('button', { name: 'Save credential' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.body).toEqual({ name: 'lab-ssh', kind: 'ssh_password', description: '', secret: { user: 'netops', password: 'hunter2-secret' } });
    expect(await screen.findByRole('rowheader', { name: /lab-ssh/ })).toBeInTheDocument();
    expect(document.body.textContent).not.toContain('hunter2-secret');
    expect(screen.queryByDisplayValue('hunter2-secret')).not.toBeInTheDocument();
  });

  it('switching the kind changes the fields and shows the server message next to a secret field', async () => {
    const calls = stubApi({
      'GET /api/v1/credentials': { items: [] },
      'POST /api/v1/credentials': () =>
        problem(422, 'invalid input', [{ field: 'secret.auth_protocol', message: 'not one of md5, sha' }]),
    });
    const user = userEvent.setup();
    page('/settings/credentials');
    expect(await screen.findByText('No credentials yet')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'New credential' }));
    const dialog = await screen.findByRole('dialog', { name: 'New credential' });
    await user.type(within(dialog).getByLabelText('Name'), 'v3');
    await user.selectOptions(within(dialog).getByLabelText('Kind'), 'snmp_v3');
    expect(within(dialog).getByLabelText('Privacy password')).toBeUnavailable();
    await user.type(within(dialog).getByLabelText('User'), 'mon');
    await user.selectOptions(within(dialog).getByLabelText('Authentication protocol'), 'sha');
    await user.type(within(dialog).getByLabelText('Authentication password'), 'auth-secret');
    await user.click(within(dialog).getByRole('button', { name: 'Save credential' }));
    const protocol = within(dialog).getByLabelText('Authentication protocol');
    await waitFor(() => expect(protocol).toHaveAttribute('aria-invalid', 'true'));
    expect(within(dialog).getByText('not one of md5, sha')).toBeInTheDocument();
    expect((calls.find((c) => c.method === 'POST')?.body as { secret: unknown }).secret).toEqual({
      user: 'mon',
      auth_protocol: 'sha',
      auth_password: 'auth-secret',
    });
    await user.selectOptions(within(dialog).getByLabelText('Kind'), 'http_bearer');
    expect(within(dialog).getByLabelText('Token')).toHaveAttribute('type', 'password');
    expect(within(dialog).queryByLabelText('User')).not.toBeInTheDocument();
  });

  it('rotates with If-Match and only the new secret', async () => {
    const calls = stubApi({
      'GET /api/v1/credentials': { items: [CREDENTIAL] },
      'PUT /api/v1/credentials/c1': () => json({ ...CREDENTIAL, version: 4 }),
    });
    const user = userEvent.setup();
    page('/settings/credentials');
    await user.click(await screen.findByRole('button', { name: 'Rotate secret of core-snmp' }));
    const dialog = await screen.findByRole('dialog', { name: 'Rotate the secret of core-snmp' });
    await user.type(within(dialog).getByLabelText('Community'), 'new-community');
    await user.click(within(dialog).getByRole('button', { name: 'Replace secret' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PUT')).toBeDefined());
    const put = calls.find((c) => c.method === 'PUT')!;
    expect(put.body).toEqual({ secret: { community: 'new-community' } });
    expect(put.headers.get('if-match')).toBe('"3"');
  });

  it('shows the 409 naming the jobs that use a credential', async () => {
    stubApi({
      'GET /api/v1/credentials': { items: [CREDENTIAL] },
      'DELETE /api/v1/credentials/c1': () =>
        problem(409, 'conflict: credential c1 is used by 2 job(s): core poll, edge poll; change or delete them first'),
    });
    const user = userEvent.setup();
    page('/settings/credentials');
    await user.click(await screen.findByRole('button', { name: 'Delete credential core-snmp' }));
    const dialog = await screen.findByRole('dialog', { name: 'Delete credential core-snmp?' });
    await user.click(within(dialog).getByRole('button', { name: 'Delete credential' }));
    const alert = await within(dialog).findByRole('alert');
    expect(alert).toHaveTextContent('still in use');
    expect(alert).toHaveTextContent('core poll, edge poll');
  });
});

describe('API tokens', () => {
  it('shows a created token once', async () => {
    let items: object[] = [];
    const calls = stubApi({
      'GET /api/v1/api-tokens': () => json({ items }),
      'POST /api/v1/api-tokens': (call) => {
        const body = call.body as { name: string; role: string };
        const view = { id: 't1', user_id: 'user-admin', username: 'admin', name: body.name, role: body.role, prefix: 'oct_ab', created_at: T };
        items = [view];
        return json({ ...view, token: 'oct_abcdef-secret' }, 201);
      },
    });
    const user = userEvent.setup();
    page('/settings/api-tokens');
    expect(await screen.findByText('No API tokens')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'New API token' }));
    const dialog = await screen.findByRole('dialog', { name: 'New API token' });
    await user.type(within(dialog).getByLabelText('Name'), 'ci');
    await user.selectOptions(within(dialog).getByLabelText('Role'), 'operator');
    await user.selectOptions(within(dialog).getByLabelText('Expires'), 'never');
    await user.click(within(dialog).getByRole('button', { name: 'Create token' }));
    expect(await within(dialog).findByLabelText('API token ci')).toHaveValue('oct_abcdef-secret');
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ name: 'ci', role: 'operator', expires_at: null });
    await user.click(within(dialog).getByRole('button', { name: 'Done' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(await screen.findByRole('rowheader', { name: 'ci' })).toBeInTheDocument();
    expect(document.body.textContent).not.toContain('oct_abcdef-secret');
    await user.click(screen.getByRole('button', { name: 'New API token' }));
    expect(screen.queryByDisplayValue('oct_abcdef-secret')).not.toBeInTheDocument();
  });

  it('computes expiry dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(expiryFor('never', '', now)).toBeNull();
    expect(expiryFor('30', '', now)).toBe('2026-01-31T00:00:00.000Z');
    expect(expiryFor('date', '', now)).toBeNull();
  });

  it('offers dates from today in local time, not UTC', async () => {
    const tz = process.env.TZ;
    process.env.TZ = 'Pacific/Kiritimati'; // UTC+14: local midday is still the previous day in UTC
    try {
      const noonLocal = new Date('2026-01-01T22:00:00Z'); // 2026-01-02 12:00 local
      expect(noonLocal.toISOString().slice(0, 10)).toBe('2026-01-01');
      expect(localDate(noonLocal)).toBe('2026-01-02');
      // The end of the chosen local day is after now: a token picked for "today" is valid.
      expect(Date.parse(expiryFor('date', localDate(noonLocal))!)).toBeGreaterThan(noonLocal.getTime());
    } finally {
      process.env.TZ = tz;
    }
    expect(localDate(new Date(2026, 2, 9, 0, 5))).toBe('2026-03-09');
    expect(localDate(new Date(2026, 11, 31, 23, 55))).toBe('2026-12-31');

    // The date picker's minimum is today's local date.
    process.env.TZ = 'Pacific/Kiritimati';
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T22:00:00Z'));
    try {
      stubApi({ 'GET /api/v1/api-tokens': () => json({ items: [] }) });
      const user = userEvent.setup();
      page('/settings/api-tokens');
      await user.click(await screen.findByRole('button', { name: 'New API token' }));
      const dialog = await screen.findByRole('dialog', { name: 'New API token' });
      await user.selectOptions(within(dialog).getByLabelText('Expires'), 'date');
      expect(within(dialog).getByLabelText('Expiry date')).toHaveAttribute('min', '2026-01-02');
    } finally {
      vi.useRealTimers();
      process.env.TZ = tz;
    }
  });
});

describe('users', () => {
  it('keeps the last admin from being deleted and shows a 422 next to its field', async () => {
    stubApi({
      'GET /api/v1/users': { items: [ADMIN, VIEWER] },
      'POST /api/v1/users': () => problem(422, 'invalid input: username: taken', [{ field: 'username', message: 'is taken' }]),
    });
    const user = userEvent.setup();
    page('/settings/users');
    const del = await screen.findByRole('button', { name: 'Delete user admin' });
    expect(del).toBeUnavailable();
    expect(del).toHaveAttribute('title', 'The last enabled admin cannot be deleted');
    expect(screen.getByRole('button', { name: 'Delete user noc' })).toBeEnabled();
    await user.click(screen.getByRole('button', { name: 'New user' }));
    const dialog = await screen.findByRole('dialog', { name: 'New user' });
    await user.type(within(dialog).getByLabelText('User name'), 'noc');
    await user.type(within(dialog).getByLabelText('Initial password'), 'short');
    await user.click(within(dialog).getByRole('button', { name: 'Create user' }));
    expect(within(dialog).getByText('At least 12 characters.', { selector: '[role=alert]' })).toBeInTheDocument();
    await user.clear(within(dialog).getByLabelText('Initial password'));
    await user.type(within(dialog).getByLabelText('Initial password'), 'long-enough-pass');
    await user.click(within(dialog).getByRole('button', { name: 'Create user' }));
    expect(await within(dialog).findByText('is taken')).toBeInTheDocument();
    expect(within(dialog).getByLabelText('User name')).toHaveAttribute('aria-invalid', 'true');
  });

  it('shows the server refusing to demote the last admin', async () => {
    const calls = stubApi({
      'GET /api/v1/users': { items: [ADMIN] },
      'PUT /api/v1/users/user-admin': () => problem(409, 'conflict: this is the last enabled admin: make another user admin first'),
    });
    const user = userEvent.setup();
    page('/settings/users');
    await user.click(await screen.findByRole('button', { name: 'Edit user admin' }));
    const dialog = await screen.findByRole('dialog', { name: 'Edit user admin' });
    await user.selectOptions(within(dialog).getByLabelText('Role'), 'operator');
    await user.click(within(dialog).getByRole('button', { name: 'Save' }));
    expect(await within(dialog).findByText(/last enabled admin: make another user admin first/)).toBeInTheDocument();
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ role: 'operator' });
  });
});

describe('roles', () => {
  it('shows a viewer no admin sections or actions', async () => {
    auth.role = 'viewer';
    stubApi({ 'GET /api/v1/credentials': { items: [CREDENTIAL] } });
    page('/settings/credentials');
    const nav = screen.getByRole('navigation', { name: 'Settings sections' });
    expect(within(nav).queryByRole('link', { name: 'Users' })).not.toBeInTheDocument();
    expect(within(nav).queryByRole('link', { name: 'Audit log' })).not.toBeInTheDocument();
    expect(within(nav).getByRole('link', { name: 'API tokens' })).toBeInTheDocument();
    expect(await screen.findByRole('rowheader', { name: /core-snmp/ })).toBeInTheDocument();
    for (const name of ['New credential', 'Edit credential core-snmp', 'Rotate secret of core-snmp', 'Delete credential core-snmp']) {
      const button = screen.getByRole('button', { name });
      expect(button).toBeUnavailable();
      expect(button).toHaveAttribute('title', 'Needs the admin role');
    }
  });

  it('tells a viewer who opens an admin section by URL', async () => {
    auth.role = 'viewer';
    const calls = stubApi({});
    page('/settings/users');
    expect(await screen.findByText('This section needs the admin role.')).toBeInTheDocument();
    expect(calls).toHaveLength(0);
  });

  it('lets a viewer read the controller settings but not save them', async () => {
    auth.role = 'viewer';
    stubApi({ 'GET /api/v1/settings': () => json({ results_retention_days: 30 }, 200, { etag: '"2"' }) });
    page('/settings/controller');
    const input = await screen.findByLabelText('Results retention (days)');
    expect(input).toHaveValue(30);
    expect(input).toHaveAttribute('readonly');
    expect(screen.getByRole('button', { name: 'Save' })).toBeUnavailable();
  });
});

describe('controller settings', () => {
  it('saves with If-Match and explains a 412', async () => {
    const calls = stubApi({
      'GET /api/v1/settings': () => json({ results_retention_days: 30 }, 200, { etag: '"2"' }),
      'PUT /api/v1/settings': () => problem(412, 'settings are at version 3, not 2'),
    });
    const user = userEvent.setup();
    page('/settings/controller');
    const input = await screen.findByLabelText('Results retention (days)');
    await user.clear(input);
    await user.type(input, '45');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText(/changed since you loaded it/)).toBeInTheDocument();
    const put = calls.find((c) => c.method === 'PUT')!;
    expect(put.body).toEqual({ results_retention_days: 45 });
    expect(put.headers.get('if-match')).toBe('"2"');
    expect(screen.getByRole('button', { name: 'Reload the settings' })).toBeInTheDocument();
  });
});

describe('audit log', () => {
  it('pages back with next_before', async () => {
    const entry = (id: number) => ({
      id,
      at: T,
      actor_kind: 'user',
      actor_name: 'admin',
      action: `action.${id}`,
      target_kind: 'user',
      target_id: 'x',
      summary: {},
      address: null,
    });
    const calls = stubApi({
      'GET /api/v1/audit': (call) =>
        call.search.includes('before=5') ? json({ items: [entry(4)] }) : json({ items: [entry(6), entry(5)], next_before: 5 }),
    });
    const user = userEvent.setup();
    page('/settings/audit');
    expect(await screen.findByText('action.6')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Load older entries' }));
    expect(await screen.findByText('action.4')).toBeInTheDocument();
    expect(screen.getByText('No older entries.')).toBeInTheDocument();
    expect(calls.map((c) => c.search)).toEqual(['?limit=50', '?limit=50&before=5']);
  });
});

describe('my account', () => {
  it('changes the password, then signs out (the server ended every session)', async () => {
    const session = await import('../../api/session');
    const clear = vi.spyOn(session, 'clearSession');
    const calls = stubApi({
      'GET /api/v1/auth/sessions': {
        items: [{ id: 's1', created_at: T, refreshed_at: T, expires_at: T, user_agent: 'Firefox', address: '10.0.0.9', current: true }],
      },
      'POST /api/v1/auth/password': () => new Response(null, { status: 204 }),
    });
    const user = userEvent.setup();
    page('/settings/account');
    expect(await screen.findByText('This session')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Current password'), 'old-password-123');
    await user.type(screen.getByLabelText('New password'), 'new-password-456');
    await user.type(screen.getByLabelText('New password again'), 'new-password-456');
    await user.click(screen.getByRole('button', { name: 'Change password' }));
    await waitFor(() => expect(clear).toHaveBeenCalled());
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ current_password: 'old-password-123', new_password: 'new-password-456' });
  });
});
