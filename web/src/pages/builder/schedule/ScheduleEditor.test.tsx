import { useState } from 'react';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Schemas } from '../../../api/client';
import { ScheduleEditor } from './ScheduleEditor';
import { checkCron, cronInWords, fromZonedInput, nextCronRuns, nextIntervalRuns, toZonedInput } from './cron';

type Schedule = Schemas['Schedule'];

function renderEditor(initial: Schedule) {
  const changes: Schedule[] = [];
  function Harness() {
    const [value, setValue] = useState(initial);
    return (
      <ScheduleEditor
        value={value}
        onChange={(next) => {
          changes.push(next);
          setValue(next);
        }}
      />
    );
  }
  render(<Harness />);
  return { changes, last: () => changes[changes.length - 1] };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('cron helpers', () => {
  it('accepts 5 and 6 fields and refuses other counts and bad values', () => {
    expect(checkCron('*/5 * * * *')).toEqual({ ok: true, seconds: false });
    expect(checkCron('*/30 * * * * *')).toEqual({ ok: true, seconds: true });
    expect(checkCron('* * *')).toMatchObject({ ok: false, kind: 'fields', fields: 3 });
    expect(checkCron('@daily')).toMatchObject({ ok: false, kind: 'fields' });
    expect(checkCron('61 * * * *')).toMatchObject({ ok: false, kind: 'syntax' });
  });

  it('computes fire times in the time zone, across daylight saving time', () => {
    // Same cases as the controller's tests (crates/opsconductor-core/src/model/schedule.rs).
    expect(nextCronRuns('30 9 * * 1-5', 'Europe/Berlin', 1, new Date('2026-01-02T09:00:00Z'))[0].toISOString()).toBe('2026-01-05T08:30:00.000Z');
    expect(nextCronRuns('0 0 9 * * *', 'Europe/Berlin', 1, new Date('2026-07-01T00:00:00Z'))[0].toISOString()).toBe('2026-07-01T07:00:00.000Z');
    expect(nextCronRuns('*/15 * * * * *', 'UTC', 1, new Date('2026-01-01T00:00:07Z'))[0].toISOString()).toBe('2026-01-01T00:00:15.000Z');
    expect(nextIntervalRuns(60, 2, new Date('2026-01-01T00:00:59Z')).map((d) => d.toISOString())).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z']);
  });

  it('says the expression in words', () => {
    expect(cronInWords('0 9 * * 1-5')).toBe('At 09:00, Monday through Friday');
    expect(cronInWords('*/30 * * * * *')).toBe('Every 30 seconds');
  });

  it('converts wall times in a zone to instants and back', () => {
    const d = fromZonedInput('2026-03-29T09:30', 'Europe/Berlin')!; // the day summer time starts
    expect(d.toISOString()).toBe('2026-03-29T07:30:00.000Z');
    expect(toZonedInput(d, 'Europe/Berlin')).toBe('2026-03-29T09:30');
    expect(toZonedInput(d, 'America/New_York')).toBe('2026-03-29T03:30');
  });
});

describe('ScheduleEditor', () => {
  it('applies presets as cron schedules and keeps the chosen time zone', async () => {
    const user = userEvent.setup();
    const { last } = renderEditor({ type: 'cron', expression: '*/5 * * * *', timezone: 'Asia/Tokyo' });
    expect(screen.getByRole('button', { name: 'Every 5 minutes' })).toHaveAttribute('aria-pressed', 'true');

    await user.click(screen.getByRole('button', { name: 'Weekdays at 09:00' }));
    expect(last()).toEqual({ type: 'cron', expression: '0 9 * * 1-5', timezone: 'Asia/Tokyo' });
    expect(screen.getByRole('button', { name: 'Weekdays at 09:00' })).toHaveAttribute('aria-pressed', 'true');
    expect(screen.getByLabelText('Time zone')).toHaveValue('Asia/Tokyo');

    await user.click(screen.getByRole('button', { name: 'Hourly' }));
    expect(last()).toEqual({ type: 'cron', expression: '0 * * * *', timezone: 'Asia/Tokyo' });
    await user.click(screen.getByRole('button', { name: 'Daily at 09:00' }));
    expect(last()).toEqual({ type: 'cron', expression: '0 9 * * *', timezone: 'Asia/Tokyo' });
    await user.click(screen.getByRole('button', { name: 'Every minute' }));
    expect(last()).toEqual({ type: 'cron', expression: '* * * * *', timezone: 'Asia/Tokyo' });
    await user.click(screen.getByRole('button', { name: 'Only by hand' }));
    expect(last()).toEqual({ type: 'manual' });
    expect(screen.getByTestId('schedule-words')).toHaveTextContent('Only when started by hand');

    // Back to cron: the last cron schedule, time zone included, comes back.
    await user.click(screen.getByRole('radio', { name: 'Cron' }));
    expect(last()).toEqual({ type: 'cron', expression: '* * * * *', timezone: 'Asia/Tokyo' });
  });

  it('shows the schedule in words and the next five fire times in both zones', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-02T09:00:00Z')); // a Friday
    renderEditor({ type: 'cron', expression: '30 9 * * 1-5', timezone: 'Europe/Berlin' });
    expect(screen.getByTestId('schedule-words')).toHaveTextContent('At 09:30, Monday through Friday (Europe/Berlin time)');
    const table = screen.getByRole('table', { name: 'Next 5 fire times' });
    const times = within(table).getAllByRole('row').slice(1).map((r) => r.querySelector('time')!.getAttribute('dateTime'));
    expect(times).toEqual([
      '2026-01-05T08:30:00.000Z',
      '2026-01-06T08:30:00.000Z',
      '2026-01-07T08:30:00.000Z',
      '2026-01-08T08:30:00.000Z',
      '2026-01-09T08:30:00.000Z',
    ]);
    expect(within(table).getAllByRole('row')[1]).toHaveTextContent(/Mon, Jan 5, 2026, 09:30/);
  });

  it('shows an inline error for an invalid cron expression', async () => {
    const user = userEvent.setup();
    const { last } = renderEditor({ type: 'cron', expression: '*/5 * * * *', timezone: 'UTC' });
    const input = screen.getByLabelText('Cron expression');
    await user.clear(input);
    await user.type(input, '61 * * * *');
    expect(last()).toEqual({ type: 'cron', expression: '61 * * * *', timezone: 'UTC' });
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(input).toHaveAccessibleDescription(expect.stringMatching(/Invalid cron expression: .*minute/));
    expect(screen.queryByRole('table')).not.toBeInTheDocument();

    await user.clear(input);
    await user.type(input, '* * *');
    // Linked to the field, not an alert: it changes with every keystroke.
    expect(input).toHaveAccessibleDescription(expect.stringContaining('This has 3 fields; a cron expression has 5'));
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('keeps the time zone the user picks', async () => {
    const user = userEvent.setup();
    const { last } = renderEditor({ type: 'cron', expression: '0 9 * * *', timezone: 'UTC' });
    await user.selectOptions(screen.getByLabelText('Time zone'), 'America/New_York');
    expect(last()).toEqual({ type: 'cron', expression: '0 9 * * *', timezone: 'America/New_York' });
    const input = screen.getByLabelText('Cron expression');
    await user.clear(input);
    await user.type(input, '0 8 * * *');
    expect(last()).toEqual({ type: 'cron', expression: '0 8 * * *', timezone: 'America/New_York' });
    expect(screen.getByTestId('schedule-words')).toHaveTextContent('At 08:00 (America/New_York time)');
  });

  it('edits an interval with units', async () => {
    const user = userEvent.setup();
    const { last } = renderEditor({ type: 'interval', seconds: 300 });
    expect(screen.getByLabelText('Every')).toHaveValue(5);
    expect(screen.getByLabelText('Unit')).toHaveValue('minutes');
    expect(screen.getByTestId('schedule-words')).toHaveTextContent('Every 5 minutes');
    await user.selectOptions(screen.getByLabelText('Unit'), 'hours');
    expect(last()).toEqual({ type: 'interval', seconds: 18000 });
    await user.clear(screen.getByLabelText('Every'));
    expect(screen.getByLabelText('Every')).toHaveAccessibleDescription(expect.stringContaining('Enter a whole number of at least 1.'));
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    await user.type(screen.getByLabelText('Every'), '2');
    expect(last()).toEqual({ type: 'interval', seconds: 7200 });
    expect(screen.getByTestId('schedule-words')).toHaveTextContent('Every 2 hours');
  });

  it('switches to once and to manual', async () => {
    const user = userEvent.setup();
    const { last } = renderEditor({ type: 'cron', expression: '0 9 * * *', timezone: 'UTC' });
    await user.click(screen.getByRole('radio', { name: 'Once' }));
    expect(last().type).toBe('once');
    const at = screen.getByLabelText('Date and time');
    await user.clear(at);
    await user.type(at, '2030-06-01T12:00');
    expect(screen.getByLabelText('Time zone')).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Time zone'), 'UTC');
    expect(last()).toEqual({ type: 'once', at: '2030-06-01T12:00:00Z' });
    await user.click(screen.getByRole('radio', { name: 'Manual only' }));
    expect(last()).toEqual({ type: 'manual' });
  });
});
