// The Job Builder end to end, entirely through the UI: a ping over 127.0.0.0/28 and an HTTP
// JSON health check whose parser is tried in the test panel; save; template save and load;
// export and re-import; run it and watch it reach 100 %; open a result; a viewer cannot edit.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, VIEWER, ensureViewer, expectAccessible, expectToastAccessible, screenshot, signIn } from './support';

const stamp = Date.now().toString(36);
const JOB = `e2e ping and health ${stamp}`;
const TEMPLATE = `e2e template ${stamp}`;
const PORT = new URL(process.env.E2E_BASE_URL ?? 'http://127.0.0.1:18090').port || '18090';
const HEALTH_SAMPLE = '{"status":"UP","checks":[{"name":"db","status":"UP"},{"name":"queue","status":"DOWN"}]}';

async function addAction(page: Page, search: string, option: string) {
  const add = page.getByRole('button', { name: 'Add action', exact: true });
  await ((await add.count()) > 0 ? add : page.getByRole('button', { name: 'Add another action' })).click();
  const dialog = page.getByRole('dialog', { name: 'Choose a command' });
  await dialog.getByRole('combobox', { name: 'Search commands' }).fill(search);
  await dialog.getByRole('option', { name: option }).click();
  await expect(dialog).toBeHidden();
}

test.describe.configure({ mode: 'serial' });

let jobUrl = '';
let exported = '';

test('build a job in the Job Builder, test its parser, save it, keep it as a template and export it', async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.getByRole('link', { name: 'New job' }).first().click();
  await expect(page.getByRole('heading', { level: 1, name: 'New job' })).toBeVisible();

  await page.getByLabel('Job name').fill(JOB);
  await page.getByLabel('Addresses, CIDRs, ranges and hostnames').fill('127.0.0.0/28');
  await expect(page.getByTestId('target-count')).toContainText('14');

  await addAction(page, 'ping', 'Ping (ICMP echo)');
  await addAction(page, 'json health', 'JSON health endpoint');
  const health = page.getByRole('region', { name: 'Action 2', exact: true });
  await health.getByLabel('Port', { exact: true }).fill(PORT);
  await health.getByLabel('Path', { exact: true }).fill('/healthz');
  // The live preview is rendered by the controller from the params as typed.
  await expect(page.getByTestId('action-1-preview')).toContainText(`:${PORT}/healthz`);

  // The parser test panel: sample output → fields, through the controller's parser.
  await health.getByLabel('Sample output').fill(HEALTH_SAMPLE);
  await health.getByRole('button', { name: 'Test parser' }).click();
  const parsed = health.getByTestId('parser-test-result');
  await expect(parsed).toContainText('UP');
  await expect(parsed).toContainText('queue');

  await expect(page.getByTestId('validation-summary')).toContainText('The job is valid.');
  await expectAccessible(page, testInfo, 'job-builder-filled');
  await screenshot(page, testInfo, 'job-builder-filled');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]+\/edit$/);
  await expect(page.getByTestId('builder-dirty-state')).toContainText('Saved, version');
  jobUrl = new URL(page.url()).pathname;

  await page.getByRole('button', { name: 'Save as template' }).click();
  await page.getByLabel('Template name').fill(TEMPLATE);
  await page.getByRole('button', { name: 'Save template' }).click();
  await expect(page.getByText(`Template ${TEMPLATE} saved.`)).toBeVisible();
  await expectToastAccessible(page, testInfo, 'toast');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export job JSON' }).click(),
  ]);
  exported = testInfo.outputPath('exported-job.json');
  await download.saveAs(exported);
  const job = JSON.parse(readFileSync(exported, 'utf8'));
  expect(job.name).toBe(JOB);
  expect(job.actions.map((a: { command: string }) => a.command)).toEqual(['ping.icmp', 'http.json_health']);
  expect(job.targets.include[0]).toMatchObject({ type: 'range', value: '127.0.0.0/28' });
});

test('a template loads back into a new job, and an exported job imports', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/jobs/new');
  await page.getByRole('button', { name: 'Load template' }).click();
  await page.getByRole('dialog', { name: 'Load a template' }).getByRole('button', { name: `Load template ${TEMPLATE}` }).click();
  await expect(page.getByRole('region', { name: 'Action 2', exact: true })).toBeVisible();
  await expect(page.getByLabel('Addresses, CIDRs, ranges and hostnames')).toHaveValue('127.0.0.0/28');

  await page.goto('/jobs/new');
  await page.getByLabel('Job file to import').setInputFiles(exported);
  await expect(page.getByLabel('Job name')).toHaveValue(JOB);
  await expect(page.getByRole('region', { name: 'Action 2', exact: true })).toBeVisible();
  // The same name is taken: saving the import under another name makes a second job.
  await page.getByLabel('Job name').fill(`${JOB} (imported)`);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]+\/edit$/);
  expect(new URL(page.url()).pathname).not.toBe(jobUrl);
});

test('the saved job runs from the builder, its progress reaches 100 % live, and its results open', async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.goto(jobUrl);
  await expect(page.getByLabel('Job name')).toHaveValue(JOB);
  await page.getByRole('button', { name: 'Save and run now' }).click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]+$/);
  await expect(page.getByRole('heading', { level: 1, name: `Run of ${JOB}` })).toBeVisible();

  // 14 targets × 2 actions; the page follows the run over the WebSocket.
  const progress = page.getByRole('progressbar', { name: 'Run progress' });
  await expect(progress).toHaveAttribute('aria-valuenow', '100', { timeout: 90_000 });
  await expect(page.getByTestId('run-progress-text')).toContainText('28 of 28');
  await expect(page.getByTestId('run-status')).toContainText('Completed');
  await expect(page.getByTestId('results-count')).toContainText('28 results');
  // The ping of 127.0.0.1 answers; its result shows the parsed ping statistics.
  await page.getByLabel('Target contains').fill('127.0.0.1');
  await page.getByRole('button', { name: /^Show the result of 127\.0\.0\.1, / }).first().click();
  const detail = page.getByTestId('result-detail');
  await expect(detail.getByRole('heading', { level: 2 })).toContainText('127.0.0.1');
  await expect(detail.getByTestId('result-raw')).not.toBeEmpty();
  await expectAccessible(page, testInfo, 'run-view');
  await screenshot(page, testInfo, 'run-view');

  // The job's history page charts what ran.
  await page.getByRole('link', { name: 'Job history' }).click();
  await expect(page.getByRole('heading', { level: 1, name: JOB })).toBeVisible();
  await expect(page.getByTestId('chart-success')).toBeVisible();
  await expectAccessible(page, testInfo, 'job-history');
  await screenshot(page, testInfo, 'job-history');

  // The dashboard shows the job with its last run.
  await page.goto('/');
  await page.getByRole('searchbox', { name: 'Search jobs' }).fill(JOB);
  const row = page.getByTestId('job-row').filter({ hasText: JOB }).first();
  await expect(row).toBeVisible();
  await expect(row.getByRole('link', { name: new RegExp(`^Last run of ${JOB}`) })).toBeVisible();
});

test('a viewer can read the job but not edit or run it', async ({ page, request }) => {
  await ensureViewer(request);
  await signIn(page, VIEWER);
  await page.getByRole('searchbox', { name: 'Search jobs' }).fill(JOB);
  const row = page.getByTestId('job-row').filter({ hasText: JOB }).first();
  await expect(row).toBeVisible();
  await expect(row.getByRole('link', { name: `Edit ${JOB}` })).toHaveCount(0);
  await expect(row.getByRole('checkbox')).toHaveCount(0);
  await expect(row.getByRole('button', { name: `Run now: ${JOB}` })).toBeDisabled();

  await page.goto(jobUrl);
  await expect(page.getByLabel('Job name')).toHaveValue(JOB);
  for (const name of ['Save', 'Save and run now', 'Save as template']) {
    await expect(page.getByRole('button', { name, exact: true })).toBeDisabled();
  }
});
