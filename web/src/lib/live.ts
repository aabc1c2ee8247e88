// The controller's WebSocket (`/api/v1/ws`): one connection per tab, shared by every
// component that watches runs or jobs. Subscriptions are reference-counted; the socket
// reconnects with backoff and re-subscribes, and after a reconnect or a `resync` every
// listener gets fresh `run_progress` snapshots from the server.
import { useEffect, useRef } from 'react';
import type { Schemas } from '../api/client';
import { freshAccessToken } from '../api/session';

export type Run = Schemas['Run'];
export type ResultRecord = Schemas['ResultRecord'];

export type LiveMessage =
  | { type: 'run_progress'; run: Run }
  | { type: 'results'; run_id: string; results: ResultRecord[] }
  | { type: 'results_skipped'; run_id: string; count: number }
  | { type: 'resync' }
  | { type: 'subscribed' | 'unsubscribed'; runs: string[]; jobs: string[] }
  | { type: 'error'; message: string };

type Listener = (message: LiveMessage) => void;

class LiveConnection {
  private socket: WebSocket | null = null;
  /** Set from the moment a socket is wanted until it is open or has failed: one at a time. */
  private connecting = false;
  /** Whether a socket was ever open: a later open is a reconnect, after which state is stale. */
  private everOpen = false;
  private readonly runs = new Map<string, number>();
  private readonly jobs = new Map<string, number>();
  private readonly listeners = new Set<Listener>();
  private retryDelay = 500;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    this.ensureOpen();
    return () => {
      this.listeners.delete(listener);
    };
  }

  watch(kind: 'runs' | 'jobs', ids: string[]): () => void {
    const counts = kind === 'runs' ? this.runs : this.jobs;
    const added = ids.filter((id) => {
      const n = counts.get(id) ?? 0;
      counts.set(id, n + 1);
      return n === 0;
    });
    if (added.length > 0) this.send({ type: 'subscribe', [kind]: added });
    this.ensureOpen();
    return () => {
      const removed = ids.filter((id) => {
        const n = (counts.get(id) ?? 1) - 1;
        if (n <= 0) counts.delete(id);
        else counts.set(id, n);
        return n <= 0;
      });
      if (removed.length > 0) this.send({ type: 'unsubscribe', [kind]: removed });
    };
  }

  private send(message: object) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private ensureOpen() {
    if (this.socket || this.connecting || this.retryTimer || typeof WebSocket === 'undefined') return;
    this.connecting = true;
    this.open().catch(() => this.scheduleRetry());
  }

  private scheduleRetry() {
    this.connecting = false;
    if (this.retryTimer || (this.listeners.size === 0 && this.runs.size === 0 && this.jobs.size === 0)) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.ensureOpen();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 15_000);
  }

  private async open() {
    const token = await freshAccessToken();
    if (!token) {
      // Signed out: nothing to watch until someone signs in and a page subscribes again.
      this.connecting = false;
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`, ['opsconductor.v1', `bearer.${token}`]);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.connecting = false;
      this.retryDelay = 500;
      const runs = [...this.runs.keys()];
      const jobs = [...this.jobs.keys()];
      if (runs.length + jobs.length > 0) this.send({ type: 'subscribe', runs, jobs });
      // Runs that ended while no socket was open send nothing more: listeners re-read.
      if (this.everOpen) this.listeners.forEach((l) => l({ type: 'resync' }));
      this.everOpen = true;
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let message: LiveMessage;
      try {
        message = JSON.parse(String(event.data)) as LiveMessage;
      } catch {
        return;
      }
      this.listeners.forEach((l) => l(message));
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.scheduleRetry();
    };
  }
}

const connection = new LiveConnection();

/**
 * Calls `onMessage` for every live message about the given runs and jobs (run progress of
 * any run of a watched job included). Ids may change between renders.
 */
export function useLive(
  { runs = [], jobs = [] }: { runs?: string[]; jobs?: string[] },
  onMessage: Listener,
): void {
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const runKey = runs.join(',');
  const jobKey = jobs.join(',');

  useEffect(() => connection.listen((m) => handler.current(m)), []);
  useEffect(() => (runKey ? connection.watch('runs', runKey.split(',')) : undefined), [runKey]);
  useEffect(() => (jobKey ? connection.watch('jobs', jobKey.split(',')) : undefined), [jobKey]);
}
