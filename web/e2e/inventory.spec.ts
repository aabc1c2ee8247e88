// Scans, the inventory and device groups end to end, through the UI: import a CSV (a bad
// line reported by its number), find the devices, tag two of them, make a dynamic group of
// that tag and watch its live count, open a device, and scan 127.0.0.1-127.0.0.4 with ping
// only until it completes with 4 hosts alive. Every page passes axe and is kept as a
// screenshot; the new pages fit a tablet.
import { expect, test, type Page } from '@playwright/test';
import { ADMIN, expectAccessible, screenshot, signIn } from './support';

// Documentation addresses (TEST-NET-1): the scan of 127.0.0.x below never touches them.
const CSV = [
  'address,hostname,vendor,tags',
  '192.0.2.11,e2e-one,Cisco,e2e-seed',
  '192.0.2.300,e2e-bad,Cisco,e2e-seed',
  '192.0.2.12,e2e-two,Juniper,e2e-seed;lab',
  '192.0.2.13,e2e-three,Arista,e2e-seed',
  '',
].join('\n');
const GROUP = `e2e-tagged-${Date.now().toString(36)}`;
const RANGE = '127.0.0.1-127.0.0.4';

test.describe.configure({ mode: 'serial' });

let scanUrl = '';

async function inventoryRows(page: Page, search: string) {
  await page.getByRole('searchbox', { name: 'Search' }).fill(search);
  await expect(page).toHaveURL(new RegExp(`q=${encodeURIComponent(search).replace(/\./g, '\\.')}`));
  return page.getByTestId('device-row');
}

test('import a CSV through the UI: a dry run names the bad line, then the good lines go in', async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Inventory' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Inventory' })).toBeVisible();

  await page.getByRole('button', { name: 'Import', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Import devices' });
  await dialog.getByLabel('Choose a file…').setInputFiles({ name: 'e2e-devices.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
  // The dry run: one problem, on line 3 (the header is line 1), in the address column.
  await expect(dialog.getByTestId('import-summary')).toContainText('e2e-devices.csv was checked: 1 problem');
  const problem = dialog.getByTestId('import-problem');
  await expect(problem).toHaveCount(1);
  await expect(problem.getByRole('rowheader')).toHaveText('3');
  await expect(problem).toContainText('address');
  await expect(problem).toContainText('192.0.2.300');
  await expectAccessible(page, testInfo, 'inventory-import-dry-run');

  await dialog.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(dialog.getByTestId('import-summary')).toContainText('Import done. Created: 3, updated: 0, lines left out: 1.');
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();

  const rows = await inventoryRows(page, '192.0.2.');
  await expect(rows).toHaveCount(3);
  await expect(page.getByTestId('device-count')).toHaveText('3 devices');
  await expect(rows.filter({ hasText: 'e2e-two' })).toContainText('Juniper');
});

test('bulk-tag two devices, then a dynamic group of that tag counts them live', async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.goto('/inventory');
  const rows = await inventoryRows(page, '192.0.2.');
  await expect(rows).toHaveCount(3);

  await page.getByRole('checkbox', { name: 'Select 192.0.2.11' }).check();
  await page.getByRole('checkbox', { name: 'Select 192.0.2.12' }).check();
  await expect(page.getByTestId('selection-count')).toHaveText('2 selected');
  await page.getByRole('button', { name: 'Add tags' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add tags to 2 devices' });
  await expect(dialog.getByTestId('bulk-tag-text')).toContainText('192.0.2.11, 192.0.2.12');
  await dialog.getByLabel('Tags').fill('e2e');
  await dialog.getByRole('button', { name: 'Add tags to 2 devices' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('list', { name: 'Tags of 192.0.2.11' }).getByText('e2e', { exact: true })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Tags of 192.0.2.12' }).getByText('e2e', { exact: true })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Tags of 192.0.2.13' }).getByText('e2e', { exact: true })).toHaveCount(0);
  await expectAccessible(page, testInfo, 'inventory');
  await screenshot(page, testInfo, 'inventory');

  // Only the two tagged devices carry the tag exactly.
  await page.goto(`/inventory?filter=${encodeURIComponent('tag = "e2e"')}`);
  await expect(page.getByTestId('device-row')).toHaveCount(2);

  await page.goto('/groups');
  await expect(page.getByRole('heading', { level: 1, name: 'Groups' })).toBeVisible();
  await page.getByRole('button', { name: 'New group' }).click();
  const editor = page.getByRole('dialog', { name: 'New group' });
  await editor.getByLabel('Name', { exact: true }).fill(GROUP);
  await editor.getByLabel('Filter', { exact: true }).fill('tag = ');
  // A half-written filter: the server's mistake with its column, under the filter.
  await expect(editor.getByLabel('Filter', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(editor.getByTestId('filter-caret')).toBeVisible();
  await editor.getByLabel('Filter', { exact: true }).fill('tag = "e2e"');
  await expect(editor.getByTestId('group-live-count')).toHaveText('2');
  await expect(editor.getByTestId('group-preview-members')).toContainText('192.0.2.11');
  await expect(editor.getByTestId('group-preview-members')).toContainText('192.0.2.12');
  await expectAccessible(page, testInfo, 'group-editor');
  await editor.getByRole('button', { name: 'Create group' }).click();
  await expect(editor).toBeHidden();
  const row = page.getByTestId('group-row').filter({ hasText: GROUP });
  await expect(row.getByTestId('group-member-count')).toHaveText('2');
  await expect(row).toContainText('Dynamic');
  await expectAccessible(page, testInfo, 'groups');
  await screenshot(page, testInfo, 'groups');
});

test('a device page shows what is known, and its tags', async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.goto('/inventory');
  await inventoryRows(page, '192.0.2.11');
  await page.getByRole('link', { name: '192.0.2.11' }).click();
  await expect(page).toHaveURL(/\/inventory\/192\.0\.2\.11$/);
  await expect(page.getByRole('heading', { level: 1, name: '192.0.2.11' })).toBeVisible();
  await expect(page.getByTestId('device-hostname')).toHaveText('e2e-one');
  await expect(page.getByTestId('attribute-vendor')).toHaveText('Cisco');
  await expect(page.getByTestId('device-tags').getByRole('list', { name: 'Tags' }).getByText('e2e', { exact: true })).toBeVisible();
  await expect(page.getByTestId('device-results')).toContainText('No results yet');
  await expectAccessible(page, testInfo, 'device');
  await screenshot(page, testInfo, 'device');
});

test(`scan ${RANGE} with ping only and watch it complete with 4 alive`, async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Scans' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Scans' })).toBeVisible();
  await page.getByRole('button', { name: 'New scan' }).click();
  const form = page.getByRole('form', { name: 'New scan' });
  await form.getByLabel('Addresses, CIDRs, ranges and hostnames').fill(RANGE);
  await expect(form.getByTestId('target-count')).toHaveText('4');
  // Ping only: ping is on by default and no other probe is chosen.
  await expect(form.getByLabel('Ping first')).toBeChecked();
  await expect(form.getByLabel('TCP ports')).toHaveValue('');
  await expectAccessible(page, testInfo, 'scans-new');
  await form.getByRole('button', { name: 'Start scan' }).click();

  await expect(page).toHaveURL(/\/scans\/[0-9a-f-]+$/);
  scanUrl = new URL(page.url()).pathname;
  await expect(page.getByRole('heading', { level: 1, name: `Scan ${RANGE}` })).toBeVisible();
  await expect(page.getByTestId('scan-state')).toContainText('Completed', { timeout: 90_000 });
  await expect(page.getByRole('progressbar', { name: 'Scan progress' })).toHaveAttribute('aria-valuenow', '100');
  await expect(page.getByTestId('scan-counter-alive')).toHaveText('4');
  const diff = page.getByTestId('scan-diff');
  await expect(diff).toBeVisible();
  await expect(diff.getByRole('list', { name: 'New hosts' }).getByRole('link', { name: '127.0.0.1', exact: true })).toHaveAttribute('href', '/inventory/127.0.0.1');
  await expect(page.getByRole('link', { name: 'Run view' })).toHaveAttribute('href', /\/runs\/[0-9a-f-]+$/);
  await expectAccessible(page, testInfo, 'scan-detail');
  await screenshot(page, testInfo, 'scan-detail');

  await page.goto('/scans');
  const row = page.getByTestId('scan-row').filter({ hasText: RANGE }).first();
  await expect(row).toContainText('Completed');
  await expect(row).toContainText('4 alive');
  await expect(row).toContainText('admin');
  await expectAccessible(page, testInfo, 'scans');
  await screenshot(page, testInfo, 'scans');

  // What the scan found is in the inventory.
  await page.goto('/inventory');
  await inventoryRows(page, '127.0.0.');
  await expect(page.getByTestId('device-row')).toHaveCount(4);
});

test('the scans, inventory and groups pages fit a tablet without sideways scrolling', async ({ page }) => {
  await page.setViewportSize({ width: 768, height: 1024 });
  await signIn(page, ADMIN);
  for (const [path, heading] of [
    ['/scans', 'Scans'],
    [scanUrl || '/scans', scanUrl ? `Scan ${RANGE}` : 'Scans'],
    ['/inventory', 'Inventory'],
    ['/inventory/192.0.2.11', '192.0.2.11'],
    ['/groups', 'Groups'],
  ]) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await page.waitForLoadState('networkidle');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} is ${overflow}px wider than a 768px tablet`).toBeLessThanOrEqual(0);
  }
});
