// Shared steps of the end-to-end tests: signing in through the page, calling the API as
// admin for set-up the UI is not under test for, axe scans and screenshots.
import AxeBuilder from '@axe-core/playwright';
import { expect, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';

export const ADMIN = { username: 'admin', password: process.env.E2E_ADMIN_PASSWORD ?? '' };
export const VIEWER = { username: 'e2e-viewer', password: 'e2e-viewer-password-2026' };

/** Signs in through the login page and waits for the signed-in frame. */
export async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('User name').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toContainText('Signed in as');
  await expect(page).not.toHaveURL(/\/login/);
}

/** An access token for `user`, through the API. */
export async function apiToken(request: APIRequestContext, user = ADMIN): Promise<string> {
  const response = await request.post('/api/v1/auth/login', { data: user });
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()).access_token as string;
}

/** Creates the viewer account once (idempotent across tests). */
export async function ensureViewer(request: APIRequestContext): Promise<void> {
  const token = await apiToken(request);
  const response = await request.post('/api/v1/users', {
    headers: { authorization: `Bearer ${token}` },
    data: { username: VIEWER.username, password: VIEWER.password, role: 'viewer', display_name: 'E2E viewer' },
  });
  expect([201, 409], await response.text()).toContain(response.status());
}

const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * Fails on serious or critical accessibility violations (axe) of the page, listing them.
 * Toasts are left out: one can arrive at any moment (a run ending) and fades in over
 * 400 ms, and measured mid-fade its text fails a contrast it meets once shown.
 * `expectToastAccessible` scans a toast once it is fully shown.
 */
export async function expectAccessible(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(WCAG_TAGS).exclude('[data-sonner-toaster]').analyze();
  await expectNoBlockingViolations(results.violations, testInfo, name);
}

/** Waits until the first toast is fully shown and scans only the toasts (axe). */
export async function expectToastAccessible(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const toast = page.locator('[data-sonner-toast]').first();
  await expect(toast).toBeVisible();
  await expect.poll(() => toast.evaluate((element) => getComputedStyle(element).opacity)).toBe('1');
  const results = await new AxeBuilder({ page }).withTags(WCAG_TAGS).include('[data-sonner-toaster]').analyze();
  await expectNoBlockingViolations(results.violations, testInfo, name);
}

async function expectNoBlockingViolations(
  violations: Awaited<ReturnType<AxeBuilder['analyze']>>['violations'],
  testInfo: TestInfo,
  name: string,
): Promise<void> {
  await testInfo.attach(`axe-${name}.json`, { body: JSON.stringify(violations, null, 2), contentType: 'application/json' });
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    blocking.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`),
    `axe on ${name}`,
  ).toEqual([]);
}

/** A full-page screenshot kept as a test artifact (and in test-results/screenshots). */
export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = `test-results/screenshots/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}
