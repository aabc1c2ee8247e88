import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CommandList, groupCommands } from './CommandPicker';
import { commands } from './test/fixtures';

// rjsf and Radix are slow to render in jsdom on a busy machine.
vi.setConfig({ testTimeout: 20_000 });

describe('groupCommands', () => {
  it('groups by category, sorted, and searches every word in name, id and description', () => {
    expect(groupCommands(commands, '').map(([c]) => c)).toEqual(['HTTP', 'Reachability', 'SNMP']);
    expect(groupCommands(commands, 'icmp echo').flatMap(([, l]) => l.map((c) => c.id))).toEqual(['ping.icmp']);
    expect(groupCommands(commands, 'SNMP oids').flatMap(([, l]) => l.map((c) => c.id))).toEqual(['snmp.get']);
    expect(groupCommands(commands, 'nothing-like-this')).toEqual([]);
  });
});

describe('CommandList', () => {
  it('shows commands in labelled category groups with the active description', () => {
    render(<CommandList commands={commands} onPick={() => {}} />);
    const list = screen.getByRole('listbox', { name: 'Commands' });
    const groups = within(list).getAllByRole('group');
    expect(groups.map((g) => g.getAttribute('aria-labelledby') && document.getElementById(g.getAttribute('aria-labelledby')!)?.textContent)).toEqual([
      'HTTP',
      'Reachability',
      'SNMP',
    ]);
    expect(within(groups[1]).getByRole('option', { name: 'Ping (ICMP echo)' })).toBeInTheDocument();
    // The first option is active and described beside the list.
    expect(screen.getByTestId('command-picker-description')).toHaveTextContent('GETs a JSON health endpoint');
  });

  it('filters as you type and is operated by the keyboard', async () => {
    const user = userEvent.setup();
    const onPick = vi.fn();
    render(<CommandList commands={commands} onPick={onPick} />);
    const search = screen.getByRole('combobox', { name: 'Search commands' });
    await user.type(search, 'p');
    // "p" matches all three (ping, snmp, http): arrows move the active option.
    await user.keyboard('{ArrowDown}');
    const active = screen.getByRole('option', { selected: true });
    expect(search).toHaveAttribute('aria-activedescendant', active.id);
    expect(active).toHaveAccessibleName('Ping (ICMP echo)');
    expect(screen.getByTestId('command-picker-description')).toHaveTextContent('Sends ICMP echo requests');
    await user.keyboard('{Enter}');
    expect(onPick).toHaveBeenCalledWith(expect.objectContaining({ id: 'ping.icmp' }));

    await user.clear(search);
    await user.type(search, 'zzz');
    expect(screen.getByText('No command matches.')).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('0 commands');
  });

  it('picks with the mouse', async () => {
    const user = userEvent.setup();
    const onPick = vi.fn();
    render(<CommandList commands={commands} onPick={onPick} />);
    await user.click(screen.getByRole('option', { name: 'SNMP GET' }));
    expect(onPick).toHaveBeenCalledWith(expect.objectContaining({ id: 'snmp.get' }));
  });
});
