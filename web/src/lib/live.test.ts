import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderHook } from '@testing-library/react';
import { storeTokens } from '../api/session';

// A WebSocket double recording what the connection sends, opened and closed by the test.
class FakeSocket {
  static all: FakeSocket[] = [];
  static OPEN = 1;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  FakeSocket.all = [];
});

describe('the live connection', () => {
  it('opens one socket for many watchers, re-subscribes after a reconnect and asks listeners to re-read', async () => {
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeSocket);
    storeTokens({ access_token: 'a1', token_type: 'Bearer', expires_in: 900, refresh_token: 'r1', refresh_expires_in: 9000, user: {} as never });
    vi.resetModules();
    const { useLive } = await import('./live');
    const messages: unknown[] = [];
    renderHook(() => useLive({ runs: ['run-1'] }, (m) => messages.push(m)));
    renderHook(() => useLive({ jobs: ['job-1'] }, () => {}));
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    const first = FakeSocket.all[0];
    expect(first.protocols).toEqual(['opsconductor.v1', 'bearer.a1']);
    first.open();
    expect(first.sent).toContainEqual({ type: 'subscribe', runs: ['run-1'], jobs: ['job-1'] });
    expect(messages).toEqual([]);

    first.close();
    await vi.advanceTimersByTimeAsync(600);
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
    const second = FakeSocket.all[1];
    second.open();
    expect(second.sent).toContainEqual({ type: 'subscribe', runs: ['run-1'], jobs: ['job-1'] });
    expect(messages).toContainEqual({ type: 'resync' });
    expect(FakeSocket.all).toHaveLength(2);
  });
});
