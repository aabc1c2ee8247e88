import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import userEvent from '@testing-library/user-event';
import { CommandPreview } from './CommandPreview';
import { json, problem, stubFetch } from './test/fixtures';

// rjsf and Radix are slow to render in jsdom on a busy machine.
vi.setConfig({ testTimeout: 20_000 });

afterEach(() => vi.unstubAllGlobals());

function Harness() {
  const [community, setCommunity] = useState('public');
  return (
    <>
      <label>
        community
        <input value={community} onChange={(e) => setCommunity(e.target.value)} />
      </label>
      <CommandPreview command="snmp.get" params={{ oids: ['.1.3'], community }} idPrefix="action-0" delay={0} />
    </>
  );
}

describe('CommandPreview', () => {
  it('renders through the controller as params change, secrets masked, and copies', async () => {
    const calls = stubFetch((method, path, body) => {
      if (method === 'POST' && path === '/api/v1/library/preview') {
        const params = (body as { params: { community: string; oids: string[] } }).params;
        if (params.community === 'bad') return problem([{ field: 'params.community', message: 'too short' }]);
        // The controller masks secret params.
        return json({ command: 'snmp.get', kind: 'snmp_get', params, text: `snmpget -c •••••• ${params.oids.join(' ')}`, truncated: false });
      }
      return undefined;
    });
    const user = userEvent.setup();
    render(<Harness />);
    const preview = screen.getByTestId('action-0-preview');
    await waitFor(() => expect(preview).toHaveTextContent('snmpget -c •••••• .1.3'));
    expect(preview).not.toHaveTextContent('public');

    await user.clear(screen.getByLabelText('community'));
    await user.type(screen.getByLabelText('community'), 'bad');
    await waitFor(() => expect(preview).toHaveTextContent('Cannot render: community: too short'));
    const last = calls.filter((c) => c.path === '/api/v1/library/preview').at(-1)!;
    expect(last.body).toEqual({ command: 'snmp.get', params: { oids: ['.1.3'], community: 'bad' }, target: null });

    await user.clear(screen.getByLabelText('community'));
    await user.type(screen.getByLabelText('community'), 'ok');
    await waitFor(() => expect(preview).toHaveTextContent('snmpget -c ••••••'));
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    await user.click(screen.getByRole('button', { name: 'Copy command preview' }));
    expect(writeText).toHaveBeenCalledWith('snmpget -c •••••• .1.3');
  });
});
