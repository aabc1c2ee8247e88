import { describe, expect, it, vi } from 'vitest';
import { useState } from 'react';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ActionList } from './ActionList';
import { commands, json, parsers, stubFetch } from './test/fixtures';
import { moveItem, newKey, type ActionSpec } from './model';

// rjsf and Radix are slow to render in jsdom on a busy machine.
vi.setConfig({ testTimeout: 20_000 });

function Harness({ initial }: { initial: ActionSpec[] }) {
  const [actions, setActions] = useState(initial);
  const [keys, setKeys] = useState(() => initial.map(() => newKey()));
  return (
    <ActionList
      actions={actions}
      keys={keys}
      commands={commands}
      parsers={parsers}
      credentials={[]}
      problems={[]}
      canRun
      onAdd={(c) => {
        setActions((a) => [...a, { command: c.id, params: {} }]);
        setKeys((k) => [...k, newKey()]);
      }}
      onChange={(i, a) => setActions((list) => list.map((x, j) => (j === i ? a : x)))}
      onRemove={(i) => {
        setActions((a) => a.filter((_, j) => j !== i));
        setKeys((k) => k.filter((_, j) => j !== i));
      }}
      onMove={(from, to) => {
        setActions((a) => moveItem(a, from, to));
        setKeys((k) => moveItem(k, from, to));
      }}
    />
  );
}

function renderList(initial: ActionSpec[]) {
  stubFetch((method, path) =>
    method === 'POST' && path === '/api/v1/library/preview'
      ? json({ command: 'x', kind: 'x', params: {}, text: 'preview', truncated: false })
      : undefined,
  );
  const client = new QueryClient();
  return render(
    <QueryClientProvider client={client}>
      <Harness initial={initial} />
    </QueryClientProvider>,
  );
}

const titles = () => screen.getAllByRole('heading', { level: 3 }).map((h) => h.textContent);

describe('ActionList', () => {
  it('reorders with the handle\'s arrow keys, announces the move and keeps focus', async () => {
    const user = userEvent.setup();
    renderList([
      { command: 'ping.icmp', params: {} },
      { command: 'http.json_health', params: {} },
      { command: 'snmp.get', params: { oids: ['.1.3'] } },
    ]);
    expect(titles()).toEqual(['1. Ping (ICMP echo)', '2. JSON health endpoint', '3. SNMP GET']);
    screen.getByRole('button', { name: 'Reorder action 1 of 3' }).focus();
    await user.keyboard('{ArrowDown}');
    expect(titles()).toEqual(['1. JSON health endpoint', '2. Ping (ICMP echo)', '3. SNMP GET']);
    expect(screen.getByTestId('reorder-announcement')).toHaveTextContent('Ping (ICMP echo) moved to position 2 of 3.');
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Reorder action 2 of 3' }));
    await user.keyboard('{End}');
    expect(titles()).toEqual(['1. JSON health endpoint', '2. SNMP GET', '3. Ping (ICMP echo)']);
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Reorder action 3 of 3' }));
  });

  it('reorders with the move buttons and removes', async () => {
    const user = userEvent.setup();
    renderList([
      { command: 'ping.icmp', params: {} },
      { command: 'snmp.get', params: { oids: ['.1.3'] } },
    ]);
    expect(screen.getByRole('button', { name: 'Move action 1 up' })).toBeUnavailable();
    await user.click(screen.getByRole('button', { name: 'Move action 2 up' }));
    expect(titles()).toEqual(['1. SNMP GET', '2. Ping (ICMP echo)']);
    // Moved to the top, the "up" button is disabled: focus goes to the card's handle.
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Reorder action 1 of 2' }));
    await user.click(screen.getByRole('button', { name: 'Remove action 1' }));
    expect(titles()).toEqual(['1. Ping (ICMP echo)']);
    expect(screen.getByTestId('reorder-announcement')).toHaveTextContent('SNMP GET removed.');
  });

  it('adds an action through the command picker', async () => {
    const user = userEvent.setup();
    renderList([]);
    expect(screen.getByText('No actions yet')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Add action' }));
    const dialog = screen.getByRole('dialog', { name: 'Choose a command' });
    await user.type(within(dialog).getByRole('combobox', { name: 'Search commands' }), 'icmp{Enter}');
    expect(titles()).toEqual(['1. Ping (ICMP echo)']);
    expect(screen.getByRole('region', { name: 'Action 1' })).toBeInTheDocument();
  });
});
