import { useState } from 'react';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Schemas } from '../../../api/client';
import { TargetPicker } from './TargetPicker';

type Spec = Schemas['TargetSpec'];
type Handler = (body: unknown) => { status: number; body: unknown };

const SOURCES = [
  { id: 'network_range', name: 'Network range', description: 'Ranges.', selector: 'range', example: { value: '10.0.0.0/24' } },
  { id: 'host_list', name: 'Host list', description: 'Hosts.', selector: 'hosts', example: { hosts: ['a'] } },
  { id: 'uploaded_file', name: 'Uploaded file', description: 'A file.', selector: 'file', example: { content: 'x' } },
  { id: 'custom_group', name: 'Inventory group', description: 'A group.', selector: 'group', example: { group: 'core' } },
];

const T = '2026-01-01T00:00:00Z';
const GROUPS = [
  { name: 'edge-routers', description: '', members: ['10.9.0.1', '10.9.0.2', '10.9.0.3'], kind: 'static', member_count: 3, version: 1, created_at: T, updated_at: T },
  { name: 'core-switches', description: '', filter: 'tag = core', kind: 'dynamic', member_count: 12, version: 2, created_at: T, updated_at: T },
];

const ONLINE_LOCAL = [{ id: 'a1', name: 'standalone', segment: 'local', version: '0.1.0', capabilities: [], registered_at: '2026-01-01T00:00:00Z', online: true }];

let previewBodies: Array<{ targets: Spec; segment?: string | null }>;

function stubApi(preview: Handler, agents: unknown = ONLINE_LOCAL) {
  previewBodies = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: Request) => {
      const url = new URL(input.url);
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), { status, headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' } });
      if (url.pathname === '/api/v1/library/target-sources') return json(200, SOURCES);
      if (url.pathname === '/api/v1/agents') return json(200, agents);
      if (url.pathname === '/api/v1/groups') return json(200, GROUPS);
      if (url.pathname === '/api/v1/targets/preview') {
        const body = JSON.parse(await input.text());
        previewBodies.push(body);
        const answer = preview(body);
        return json(answer.status, answer.body);
      }
      return json(404, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no route' });
    }),
  );
}

function ok(count: number, by_segment: Record<string, number>, extra: Partial<Schemas['TargetPreview']> = {}) {
  return { status: 200, body: { count, first: ['127.0.0.1'], by_segment, invalid: [], invalid_omitted: 0, ...extra } };
}

function problem(errors: { field: string; message: string }[]) {
  return { status: 422, body: { type: 'about:blank', title: 'Unprocessable Entity', status: 422, detail: 'invalid input', errors } };
}

function renderPicker(initial: Spec, segment?: string) {
  const changes: Spec[] = [];
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  function Harness() {
    const [value, setValue] = useState(initial);
    return (
      <TargetPicker
        value={value}
        segment={segment}
        onChange={(next) => {
          changes.push(next);
          setValue(next);
        }}
      />
    );
  }
  render(
    <QueryClientProvider client={client}>
      <Harness />
    </QueryClientProvider>,
  );
  return { changes, last: () => changes[changes.length - 1] };
}

beforeEach(() => {
  previewBodies = [];
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('TargetPicker', () => {
  it('turns a typed range into a range selector and shows the count and the split by segment', async () => {
    stubApi(() => ok(14, { local: 14 }));
    const { last } = renderPicker({ include: [] });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Addresses, CIDRs, ranges and hostnames'), '127.0.0.0/28');
    expect(last()).toEqual({ include: [{ type: 'range', value: '127.0.0.0/28' }] });

    expect(await screen.findByTestId('target-count', {}, { timeout: 3000 })).toHaveTextContent('14');
    const table = screen.getByRole('table', { name: 'By segment' });
    const row = within(table).getByRole('row', { name: /local/ });
    expect(row).toHaveTextContent('14');
    expect(await within(row).findByText('1 online')).toBeInTheDocument();
    // Only the finished text went to the server (debounced), with no segment override.
    expect(previewBodies.at(-1)).toMatchObject({ targets: { include: [{ type: 'range', value: '127.0.0.0/28' }] }, segment: null });
    expect(previewBodies.length).toBeLessThanOrEqual(2);
  });

  it('shows a parse error next to the range field', async () => {
    stubApi(() => problem([{ field: 'include[0].value', message: '"10.0.0.300": not a valid IPv4 address: 300 is larger than 255' }]));
    renderPicker({ include: [{ type: 'range', value: '10.0.0.300' }] });
    const field = screen.getByLabelText('Addresses, CIDRs, ranges and hostnames');
    await waitFor(() => expect(field).toHaveAttribute('aria-invalid', 'true'), { timeout: 3000 });
    expect(field).toHaveAccessibleDescription(expect.stringContaining('300 is larger than 255'));
  });

  it('keeps exclusions one per line and shows their errors with line numbers', async () => {
    stubApi((body) => {
      const exclude = (body as { targets: Spec }).targets.exclude ?? [];
      return exclude.length === 2 ? problem([{ field: 'exclude[1]', message: '"10.0.0.0/99": prefix length 99 is longer than 32' }]) : ok(254, { local: 254 });
    });
    const { last } = renderPicker({ include: [{ type: 'range', value: '10.0.0.0/24' }] });
    const user = userEvent.setup();
    const exclusions = screen.getByLabelText('Exclusions');
    await user.type(exclusions, '10.0.0.1-10.0.0.9{Enter}{Enter}10.0.0.0/99');
    expect(last().exclude).toEqual(['10.0.0.1-10.0.0.9', '10.0.0.0/99']);
    // The blank line typed in between is kept in the text: the error names line 3.
    expect(await screen.findByText(/Line 3: "10.0.0.0\/99": prefix length 99/, {}, { timeout: 3000 })).toBeInTheDocument();
    expect(exclusions).toHaveAttribute('aria-invalid', 'true');
  });

  it('uploads a file, previews its first lines and lists invalid lines with their numbers', async () => {
    stubApi(() =>
      ok(1, { local: 1 }, {
        invalid: [
          { field: 'include[0].content', line: 2, text: 'bad..host', reason: '"bad..host": hostname has an empty label (two dots in a row)' },
          { field: 'include[0].content', line: 4, text: '10.0.0.5-3', reason: '"10.0.0.5-3": range end is before its start' },
        ],
      }),
    );
    const { last } = renderPicker({ include: [{ type: 'file', content: '', format: 'lines' }] });
    const user = userEvent.setup();
    const file = new File(['10.0.0.1\nbad..host\n# comment\n10.0.0.5-3\n'], 'hosts.txt', { type: 'text/plain' });
    await user.upload(screen.getByLabelText('Choose a file…'), file);

    await waitFor(() => expect(last().include[0]).toMatchObject({ type: 'file', name: 'hosts.txt', format: 'lines', content: '10.0.0.1\nbad..host\n# comment\n10.0.0.5-3\n' }));
    const previewTable = screen.getByRole('table', { name: 'First 4 of 4 lines' });
    expect(within(previewTable).getByText('# comment')).toBeInTheDocument();

    const region = await screen.findByRole('region', { name: '2 lines will be skipped' }, { timeout: 3000 });
    const rows = within(region).getAllByRole('row');
    expect(rows[1]).toHaveTextContent(/^2bad\.\.host.*two dots in a row/);
    expect(rows[2]).toHaveTextContent(/^410\.0\.0\.5-3.*range end is before its start/);
  });

  it('guesses the CSV column from the header', async () => {
    stubApi(() => ok(2, { local: 2 }));
    const { last } = renderPicker({ include: [{ type: 'file', content: '', format: 'lines' }] });
    const user = userEvent.setup();
    await user.upload(screen.getByLabelText('Choose a file…'), new File(['hostname;IP\nsw1;10.0.0.1\n'], 'devices.csv', { type: 'text/csv' }));
    await waitFor(() => expect(last().include[0]).toMatchObject({ type: 'file', format: 'csv', column: 'ip', delimiter: ';' }));
    expect(screen.getByLabelText('Column with the targets')).toHaveValue('ip');
  });

  it('warns when a segment has no online agent', async () => {
    stubApi(
      () => ok(3, { lab: 3, local: 2 }),
      [...ONLINE_LOCAL, { ...ONLINE_LOCAL[0], id: 'a2', name: 'lab-1', segment: 'lab', online: false }],
    );
    renderPicker({ include: [{ type: 'range', value: '10.9.0.1-3 127.0.0.1-2' }] });
    const warning = await screen.findByText('No agent of segment lab is online: its 3 targets will not run until one is.', {}, { timeout: 3000 });
    expect(warning.closest('[role="alert"]')).not.toBeNull();
    const row = within(screen.getByRole('table', { name: 'By segment' })).getByRole('row', { name: /lab/ });
    expect(row).toHaveTextContent('No agent online');
  });

  it('sends the job segment override with the preview', async () => {
    stubApi(() => ok(1, { lab: 1 }));
    renderPicker({ include: [{ type: 'range', value: '127.0.0.1' }] }, 'lab');
    await screen.findByText(/Every target goes to segment lab/, {}, { timeout: 3000 });
    expect(previewBodies.at(-1)?.segment).toBe('lab');
  });

  it('explains a selection over the cap and offers to allow large selections', async () => {
    stubApi((body) =>
      (body as { targets: Spec }).targets.allow_large
        ? ok(16777214, { local: 16777214 })
        : problem([{ field: 'include[0]', message: 'range "10.0.0.0/8" brings the target count to 16777214, more than the limit of 65536' }]),
    );
    const { last } = renderPicker({ include: [{ type: 'range', value: '10.0.0.0/8' }] });
    const alert = await screen.findByText('Too many targets: the job would be refused', {}, { timeout: 3000 });
    expect(alert.closest('[role="alert"]')).toHaveTextContent('more than the limit of 65536');
    // Also next to the selector the server named.
    expect(within(screen.getByRole('group', { name: 'Network range 1' })).getByText(/more than the limit of 65536/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: /Allow up to 16,842,752 targets/ }));
    expect(last().allow_large).toBe(true);
    expect(await screen.findByTestId('target-count', {}, { timeout: 3000 })).toHaveTextContent('16,777,214');
  });

  it('adds sources from the library, counts groups with the rest and sets the limits', async () => {
    stubApi(() => ok(13, { local: 13 }));
    const { last } = renderPicker({ include: [{ type: 'range', value: '127.0.0.1' }] });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Add Inventory group' }));
    await user.type(screen.getByRole('combobox', { name: 'Group' }), 'core-switches');
    await user.click(screen.getByRole('button', { name: 'Add Host list' }));
    await user.type(screen.getByLabelText('Hosts, one per line'), 'sw1.example.net{Enter}10.1.1.1');
    await user.type(screen.getByLabelText('Maximum targets'), '100');
    expect(last()).toEqual({
      include: [
        { type: 'range', value: '127.0.0.1' },
        { type: 'group', group: 'core-switches' },
        { type: 'hosts', hosts: ['sw1.example.net', '10.1.1.1'] },
      ],
      max_targets: 100,
    });
    // The server counts the group's members now: the group goes to the preview too.
    await waitFor(() => expect(previewBodies.at(-1)?.targets.include.map((s) => s.type)).toEqual(['range', 'group', 'hosts']), { timeout: 3000 });
    expect(screen.queryByText(/not counted/)).not.toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Remove Inventory group 1' }));
    expect(last().include.map((s) => s.type)).toEqual(['range', 'hosts']);
  });

  it('picks a group from the list of groups with their member counts', async () => {
    stubApi(() => ok(12, { local: 12 }));
    const { last } = renderPicker({ include: [{ type: 'group', group: '' }] });
    const user = userEvent.setup();
    const combo = screen.getByRole('combobox', { name: 'Group' });
    await user.click(combo);
    const list = await screen.findByRole('listbox', { name: 'Inventory groups' });
    // Sorted by name, each with its member count and kind.
    const options = within(list).getAllByRole('option');
    expect(options.map((o) => o.textContent)).toEqual(['core-switches12 members, Dynamic', 'edge-routers3 members, Static']);
    await user.type(combo, 'edge');
    expect(within(list).getAllByRole('option')).toHaveLength(1);
    await user.keyboard('{ArrowDown}');
    expect(combo).toHaveAttribute('aria-activedescendant', within(list).getByRole('option').id);
    await user.keyboard('{Enter}');
    expect(last().include[0]).toEqual({ type: 'group', group: 'edge-routers' });
    expect(combo).toHaveAttribute('aria-expanded', 'false');
    expect(screen.getByTestId('group-known')).toHaveTextContent('edge-routers: 3 members, Static now.');
    expect(combo).toHaveAccessibleDescription(expect.stringContaining('3 members'));
  });

  it('accepts a name that is no group but flags it, without repeating the server', async () => {
    stubApi((body) =>
      (body as { targets: Spec }).targets.include.some((s) => s.type === 'group' && s.group === 'nope')
        ? problem([{ field: 'include[0].group', message: 'inventory group "nope": no such group' }])
        : ok(1, { local: 1 }),
    );
    const { last } = renderPicker({ include: [{ type: 'group', group: '' }] });
    const user = userEvent.setup();
    const combo = screen.getByRole('combobox', { name: 'Group' });
    await user.type(combo, 'nope');
    await user.keyboard('{Escape}');
    expect(last().include[0]).toEqual({ type: 'group', group: 'nope' });
    expect(await screen.findByTestId('group-unknown')).toHaveTextContent('No such group: nope.');
    await waitFor(() => expect(previewBodies.some((b) => b.targets.include.some((s) => s.type === 'group' && s.group === 'nope'))).toBe(true), { timeout: 3000 });
    // Allowed (the group may be created later): flagged and described, not marked invalid.
    expect(combo).not.toHaveAttribute('aria-invalid');
    expect(screen.queryByText(/inventory group "nope": no such group/)).not.toBeInTheDocument();
    expect(combo).toHaveAccessibleDescription(expect.stringContaining('No such group: nope.'));
  });
});
