// End-to-end tests in Debian's Chromium against OpsConductor in standalone mode, started
// the way the README starts it (`make run`, dev profile, a fresh data directory).
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const port = Number(process.env.E2E_HTTP_PORT ?? 18090);
// Evaluated in the runner and in each worker: the first one's directory is inherited.
process.env.E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), 'opsconductor-e2e-'));
process.env.E2E_ADMIN_PASSWORD ??= 'e2e-admin-password-2026';
export const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results/playwright',
  timeout: 120_000,
  expect: { timeout: 15_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  use: {
    baseURL,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: 'make run',
    cwd: resolve(import.meta.dirname, '..'),
    url: `${baseURL}/healthz`,
    timeout: 15 * 60_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
    env: {
      OPSCONDUCTOR_PROFILE: process.env.OPSCONDUCTOR_PROFILE ?? 'dev',
      OPSCONDUCTOR_DATA_DIR: process.env.E2E_DATA_DIR,
      OPSCONDUCTOR_HTTP_LISTEN: `127.0.0.1:${port}`,
      OPSCONDUCTOR_GRPC_LISTEN: `127.0.0.1:${port + 1}`,
      OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD: process.env.E2E_ADMIN_PASSWORD,
      OPSCONDUCTOR_LOG: 'warn',
    },
  },
});
