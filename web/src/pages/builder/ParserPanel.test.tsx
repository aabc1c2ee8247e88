import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ParsedView, ParserPanel } from './ParserPanel';
import { json, jsonHealth, parsers, stubFetch } from './test/fixtures';

// rjsf and Radix are slow to render in jsdom on a busy machine.
vi.setConfig({ testTimeout: 20_000 });

afterEach(() => vi.unstubAllGlobals());

describe('ParserPanel', () => {
  it('tests a parser on the controller and shows fields, rows and errors', async () => {
    const calls = stubFetch((_method, path, body) => {
      if (path === '/api/v1/library/parsers/test') {
        const sample = (body as { sample: string }).sample;
        return sample.startsWith('{')
          ? json({ fields: { status: 'UP', healthy: true }, rows: [{ name: 'db', status: 'UP' }] })
          : json({ fields: {}, errors: ['input is not valid JSON'] });
      }
      if (path === '/api/v1/library/dry-run') {
        return json({
          segment: 'local',
          rendered: 'curl http://127.0.0.1/health',
          result: { status: 'ok', raw_excerpt: '{"status":"UP"}', run_id: 'r', target: '127.0.0.1', action_index: 0, started_at: '', duration_ms: 1 },
        });
      }
      return undefined;
    });
    const user = userEvent.setup();
    render(
      <ParserPanel
        action={{ command: 'http.json_health', params: { port: 8080 } }}
        command={jsonHealth}
        parsers={parsers}
        onChange={() => {}}
        idPrefix="action-1"
        segment="local"
        problems={[]}
        canRun
      />,
    );
    expect(screen.getByLabelText('Parser to test')).toHaveValue('http.json_health');
    await user.type(screen.getByLabelText('Sample output'), '{{"status":"UP"}');
    await user.click(screen.getByRole('button', { name: 'Test parser' }));
    const result = await screen.findByTestId('parser-test-result');
    expect(within(result).getByRole('table', { name: 'Fields' })).toHaveTextContent('healthytrue');
    expect(within(result).getByRole('table', { name: 'Rows (1)' })).toHaveTextContent('db');
    expect(calls.at(-1)!.body).toEqual({ parser: 'http.json_health', sample: '{"status":"UP"}' });

    await user.clear(screen.getByLabelText('Sample output'));
    await user.type(screen.getByLabelText('Sample output'), '<html>');
    await user.click(screen.getByRole('button', { name: 'Test parser' }));
    expect(await screen.findByText('input is not valid JSON')).toBeInTheDocument();
    expect(screen.getByText('The parser reported 1 error.')).toBeInTheDocument();

    // A real sample through a dry run of this action on one target.
    expect(screen.getByRole('button', { name: 'Fetch a real sample' })).toBeUnavailable();
    await user.type(screen.getByLabelText('Sample target'), '127.0.0.1');
    await user.click(screen.getByRole('button', { name: 'Fetch a real sample' }));
    expect(await screen.findByTestId('dry-run-result')).toHaveTextContent('OK');
    expect(screen.getByLabelText('Sample output')).toHaveValue('{"status":"UP"}');
    expect(calls.at(-1)!.body).toEqual({
      action: { command: 'http.json_health', params: { port: 8080 } },
      target: '127.0.0.1',
      segment: 'local',
    });
  });

  it('switches between the command\'s parsers and a list of its own', async () => {
    const onChange = vi.fn();
    const user = userEvent.setup();
    const { rerender } = render(
      <ParserPanel action={{ command: 'http.json_health' }} command={jsonHealth} parsers={parsers} onChange={onChange} idPrefix="a" problems={[]} canRun />,
    );
    await user.click(screen.getByRole('checkbox', { name: /Use the command's parsers: HTTP JSON health document/ }));
    expect(onChange).toHaveBeenLastCalledWith(['http.json_health']);
    rerender(
      <ParserPanel action={{ command: 'http.json_health', parsers: [] }} command={jsonHealth} parsers={parsers} onChange={onChange} idPrefix="a" problems={['unknown parser']} canRun={false} runReason="Needs the operator role" />,
    );
    await user.selectOptions(screen.getByLabelText('Parser to add'), 'http.json_health');
    await user.click(screen.getByRole('button', { name: 'Add parser' }));
    expect(onChange).toHaveBeenLastCalledWith(['http.json_health']);
    expect(screen.getByRole('group', { name: 'Parsers' })).toHaveAccessibleDescription('unknown parser');
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Fetch a real sample' })).toBeUnavailable();
  });

  it('shows at most 200 rows of a big parser result, saying how many there are', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({ name: `row-${i}`, status: 'UP' }));
    render(<ParsedView parsed={{ fields: {}, rows }} />);
    const table = screen.getByRole('table', { name: 'Rows (1000)' });
    expect(within(table).getAllByRole('row')).toHaveLength(1 + 200);
    expect(within(table).getByText('row-199')).toBeInTheDocument();
    expect(within(table).queryByText('row-200')).toBeNull();
    expect(screen.getByTestId('parser-rows-capped')).toHaveTextContent('Showing 200 of 1000 rows.');
    expect(screen.getByText('Parsed: 0 fields, 1000 rows.')).toBeInTheDocument();
  });

  it('shows every row of a small parser result without a note', () => {
    render(<ParsedView parsed={{ fields: {}, rows: [{ name: 'db' }, { name: 'cache' }] }} />);
    expect(within(screen.getByRole('table', { name: 'Rows (2)' })).getAllByRole('row')).toHaveLength(3);
    expect(screen.queryByTestId('parser-rows-capped')).toBeNull();
  });
});
