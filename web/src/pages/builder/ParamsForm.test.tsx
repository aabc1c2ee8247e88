import { describe, expect, it, vi } from 'vitest';
import { useState } from 'react';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ParamsForm } from './ParamsForm';
import { jsonHealth, ping, snmpGet } from './test/fixtures';
import type { FieldProblem } from '../../api/client';
import type { LibraryCommand } from './model';

// rjsf and Radix are slow to render in jsdom on a busy machine.
vi.setConfig({ testTimeout: 20_000 });

function Harness({ command, initial = {}, problems = [], onChange }: { command: LibraryCommand; initial?: Record<string, unknown>; problems?: FieldProblem[]; onChange?: (p: Record<string, unknown>) => void }) {
  const [params, setParams] = useState(initial);
  return (
    <ParamsForm
      command={command}
      params={params}
      onChange={(next) => {
        setParams(next);
        onChange?.(next);
      }}
      problems={problems}
      problemPrefix="actions[0].params"
      idPrefix="action-0-params"
    />
  );
}

describe('ParamsForm', () => {
  it('renders the schema fields with labels, defaults, help and typed widgets', () => {
    render(<Harness command={ping} />);
    const count = screen.getByLabelText('Count');
    expect(count).toHaveValue(3);
    expect(count).toHaveAttribute('type', 'number');
    expect(count).toHaveAttribute('id', 'action-0-params_count');
    expect(screen.getByText('Echo requests to send.')).toBeInTheDocument();
    expect(screen.getByText('More echoes give steadier figures.')).toBeInTheDocument();
    // duration widget reads the value back
    expect(screen.getByLabelText('Interval (ms)')).toHaveValue(200);
    expect(screen.getByText('= 200 ms')).toBeInTheDocument();
    // the select is named by its label, not its value, and sits behind "Advanced"
    const family = screen.getByRole('combobox', { name: 'Address family' });
    expect(family.closest('details')).not.toBeNull();
    expect(within(family).getAllByRole('option').map((o) => o.textContent)).toEqual(['auto', 'ipv4', 'ipv6']);
  });

  it('keeps params sparse: only values that differ from the defaults are stored', async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Harness command={ping} onChange={onChange} />);
    const count = screen.getByLabelText('Count');
    await user.clear(count);
    await user.type(count, '5');
    expect(onChange).toHaveBeenLastCalledWith({ count: 5 });
    await user.selectOptions(screen.getByRole('combobox', { name: 'Address family' }), 'ipv4');
    expect(onChange).toHaveBeenLastCalledWith({ count: 5, family: 'ipv4' });
  });

  it('shows schema errors inline, next to the field, from the first render', async () => {
    render(<Harness command={ping} initial={{ count: 1000 }} />);
    const count = screen.getByLabelText('Count');
    const error = document.getElementById('action-0-params_count__error');
    expect(error).toHaveTextContent('must be <= 100');
    expect(count.getAttribute('aria-describedby')).toContain('action-0-params_count__error');
  });

  it('puts server problems on their field (the server wording wins)', () => {
    render(
      <Harness
        command={ping}
        initial={{ count: 1000 }}
        problems={[
          { field: 'actions[0].params.count', message: '1000 is greater than the maximum of 100' },
          { field: 'actions[1].params.count', message: 'another action' },
        ]}
      />,
    );
    const error = document.getElementById('action-0-params_count__error');
    expect(error).toHaveTextContent('1000 is greater than the maximum of 100');
    expect(screen.queryByText('another action')).toBeNull();
  });

  it('lists take text, headers take name/value rows', async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Harness command={snmpGet} onChange={onChange} />);
    const oids = screen.getByLabelText(/OIDs/);
    expect(oids.tagName).toBe('TEXTAREA');
    expect(document.getElementById('action-0-params_oids__error')).toHaveTextContent(/required/);
    await user.type(oids, '.1.3.6.1{Enter}.1.3.6.2');
    expect(onChange).toHaveBeenLastCalledWith({ oids: ['.1.3.6.1', '.1.3.6.2'] });
    expect(screen.getByLabelText('Community')).toHaveAttribute('type', 'password');

    const { unmount } = render(<Harness command={jsonHealth} onChange={onChange} />);
    await user.click(screen.getByRole('button', { name: 'Add header' }));
    await user.type(screen.getByRole('textbox', { name: 'Header 1 name' }), 'Accept');
    await user.type(screen.getByRole('textbox', { name: 'Header 1 value' }), 'text/plain');
    expect(onChange).toHaveBeenLastCalledWith({ headers: { Accept: 'text/plain' } });
    unmount();
  });
});
