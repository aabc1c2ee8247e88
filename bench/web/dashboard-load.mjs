#!/usr/bin/env node
// Dashboard first-load benchmark (issue "Web UI"): with 10,000 jobs in the store, how long
// from navigation until the dashboard is interactive, measured in Debian's Chromium.
//
// Starts `opsconductor standalone` (the binary given by OPSCONDUCTOR_BIN, default the
// release build) on a fresh data dir, creates the jobs through the REST API, then loads the
// dashboard in a fresh browser context (cold cache) several times and reports per load:
//   first row  — navigation start until the first job row is on screen;
//   interactive — until a search typed right after the first row has filtered the list
//                 (the main thread answered input), i.e. the "interactive" figure;
//   all counted — until every page of jobs is in and the counters are final.
//
// Usage: make bench-web   (knobs: BENCH_JOBS=10000 BENCH_LOADS=5 BENCH_PORT=18190)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const require = createRequire(join(root, 'web/package.json'));
const { chromium } = require('@playwright/test');

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const LOADS = Number(process.env.BENCH_LOADS ?? 5);
const PORT = Number(process.env.BENCH_PORT ?? 18190);
const BIN = process.env.OPSCONDUCTOR_BIN ?? join(root, 'target/release/opsconductor');
const PASSWORD = 'bench-admin-password-2026';
const base = `http://127.0.0.1:${PORT}`;
// Selectors of the dashboard (web/src/pages/dashboard).
const ROW = '[data-testid="job-row"]';
const SEARCH = { role: 'searchbox' };

const dataDir = mkdtempSync(join(tmpdir(), 'opsconductor-bench-web-'));
const server = spawn(BIN, ['standalone', '--data-dir', dataDir], {
  env: {
    ...process.env,
    OPSCONDUCTOR_HTTP_LISTEN: `127.0.0.1:${PORT}`,
    OPSCONDUCTOR_GRPC_LISTEN: `127.0.0.1:${PORT + 1}`,
    OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    OPSCONDUCTOR_LOG: 'warn',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const stop = () => {
  server.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
};
process.on('exit', stop);

async function waitHealthy() {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the controller did not start');
}

async function login() {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  if (!response.ok) throw new Error(`login: ${response.status} ${await response.text()}`);
  return response.json();
}

/** 10,000 jobs that look like a real estate: mixed schedules, some paused, tags. */
async function seed(token) {
  const started = performance.now();
  let next = 0;
  async function worker() {
    while (next < JOBS) {
      const i = next++;
      const body = {
        name: `bench job ${String(i).padStart(5, '0')}`,
        description: `site ${i % 40}, rack ${i % 12}`,
        tags: [`site-${i % 40}`, i % 3 === 0 ? 'core' : 'edge'],
        enabled: i % 7 !== 0,
        // Far-future fires keep 10,000 jobs from actually running during the benchmark.
        schedule: i % 2 ? { type: 'cron', expression: '0 3 1 1 *' } : { type: 'manual' },
        targets: { include: [{ type: 'range', value: `127.1.${Math.floor(i / 250)}.${i % 250}` }] },
        actions: [i % 2 ? { command: 'ping.icmp' } : { command: 'tcp.port', params: { port: 22 } }],
      };
      const response = await fetch(`${base}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      if (response.status !== 201) throw new Error(`job ${i}: ${response.status} ${await response.text()}`);
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  return (performance.now() - started) / 1000;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  await waitHealthy();
  const tokens = await login();
  const seeded = await seed(tokens.access_token);
  console.error(`seeded ${JOBS} jobs in ${seeded.toFixed(1)} s`);

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const loads = [];
  for (let n = 0; n < LOADS; n++) {
    // A fresh context: cold HTTP cache, signed in through stored tokens as after a login.
    const session = await login();
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.addInitScript((stored) => localStorage.setItem('opsconductor.session', stored), JSON.stringify({
      accessToken: session.access_token,
      accessExpiresAt: Date.now() + session.expires_in * 1000,
      refreshToken: session.refresh_token,
    }));
    const page = await context.newPage();
    await page.goto(`${base}/`, { waitUntil: 'commit' });
    await page.locator(ROW).first().waitFor({ state: 'visible', timeout: 30_000 });
    const firstRow = await page.evaluate(() => performance.now());
    // Interactive: input typed now is answered (the list filters to one job).
    await page.getByRole(SEARCH.role).first().fill('bench job 00042');
    await page.locator(ROW, { hasText: 'bench job 00042' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await page.waitForFunction((selector) => document.querySelectorAll(selector).length === 1, ROW, { timeout: 30_000 });
    const interactive = await page.evaluate(() => performance.now());
    await page.getByRole(SEARCH.role).first().fill('');
    await page.waitForFunction(() => !document.body.innerText.includes('Counting'), null, { timeout: 60_000 });
    const allCounted = await page.evaluate(() => performance.now());
    loads.push({ firstRow, interactive, allCounted });
    console.error(`load ${n + 1}: first row ${firstRow.toFixed(0)} ms, interactive ${interactive.toFixed(0)} ms, all counted ${allCounted.toFixed(0)} ms`);
    await context.close();
  }
  await browser.close();
  const summary = {
    jobs: JOBS,
    loads: LOADS,
    first_row_ms: { median: Math.round(median(loads.map((l) => l.firstRow))), max: Math.round(Math.max(...loads.map((l) => l.firstRow))) },
    interactive_ms: { median: Math.round(median(loads.map((l) => l.interactive))), max: Math.round(Math.max(...loads.map((l) => l.interactive))) },
    all_counted_ms: { median: Math.round(median(loads.map((l) => l.allCounted))), max: Math.round(Math.max(...loads.map((l) => l.allCounted))) },
    target_ms: 2000,
  };
  console.log(JSON.stringify(summary, null, 2));
  process.exitCode = summary.interactive_ms.max < 2000 ? 0 : 1;
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(stop);
