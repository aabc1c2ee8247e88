// Every main page: loads for an admin, passes an axe scan, and is kept as a screenshot;
// the theme switch and the viewer's read-only view.
import { expect, test } from '@playwright/test';
import { ADMIN, VIEWER, ensureViewer, expectAccessible, screenshot, signIn } from './support';

const PAGES = [
  { name: 'dashboard', path: '/', heading: /dashboard/i },
  { name: 'job-builder', path: '/jobs/new', heading: /new job/i },
  { name: 'runs', path: '/runs', heading: /runs/i },
  { name: 'agents', path: '/agents', heading: /agents/i },
  { name: 'settings', path: '/settings', heading: /settings/i },
  { name: 'settings-users', path: '/settings/users', heading: /settings/i },
  { name: 'settings-credentials', path: '/settings/credentials', heading: /settings/i },
];

test('the login page is accessible', async ({ page }, testInfo) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('heading', { name: 'Sign in to OpsConductor' })).toBeVisible();
  await expectAccessible(page, testInfo, 'login');
  await screenshot(page, testInfo, 'login');
});

test('a wrong password is refused with a message', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('User name').fill(ADMIN.username);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Sign-in failed');
});

for (const { name, path, heading } of PAGES) {
  test(`${name} loads and passes axe`, async ({ page }, testInfo) => {
    await signIn(page, ADMIN);
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await page.waitForLoadState('networkidle');
    await expectAccessible(page, testInfo, name);
    await screenshot(page, testInfo, name);
  });
}

test('dark theme is kept across a reload and passes axe', async ({ page }, testInfo) => {
  await signIn(page, ADMIN);
  await page.getByRole('radio', { name: 'Dark' }).click();
  await page.reload();
  await expect(page.locator('html')).toHaveClass(/dark/);
  await page.waitForLoadState('networkidle');
  await expectAccessible(page, testInfo, 'dashboard-dark');
  await screenshot(page, testInfo, 'dashboard-dark');
});

test('a viewer has no New job link and no admin sections', async ({ page, request }) => {
  await ensureViewer(request);
  await signIn(page, VIEWER);
  await expect(page.getByRole('link', { name: 'New job' })).toHaveCount(0);
  await page.goto('/settings');
  await expect(page.getByRole('navigation', { name: 'Settings sections' }).getByRole('link', { name: 'Users' })).toHaveCount(0);
  await page.goto('/jobs/new');
  await expect(page.getByRole('button', { name: 'Save', exact: true })).toBeDisabled();
});

test('an unknown page says so', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/no/such/page');
  await expect(page.getByText('Nothing here')).toBeVisible();
});

test('every main page fits a tablet without sideways scrolling', async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 768, height: 1024 });
  await signIn(page, ADMIN);
  for (const { name, path, heading } of PAGES) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await page.waitForLoadState('networkidle');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${name} is ${overflow}px wider than a 768px tablet`).toBeLessThanOrEqual(0);
    if (name === 'dashboard' || name === 'job-builder') await screenshot(page, testInfo, `${name}-tablet`);
  }
});
