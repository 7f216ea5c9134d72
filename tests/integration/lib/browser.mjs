// The dashboard as a person meets it: Debian's Chromium driven by playwright-core, against a real
// devicehubd. Every test step can save a screenshot (tests/screenshots/<file>/<step>.png, kept for people
// to look at) and run axe-core on the page in front of it.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps dialing Google's hosts, which this network refuses.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export const SCREENSHOT_ROOT = process.env.DEVICEHUB_SCREENSHOTS ||
  new URL('../../screenshots', import.meta.url).pathname;

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

// A fresh browser context (its own cookies) on the hub, collecting the page's console errors and failed
// requests so a test can assert that nothing broke quietly.
export async function openPage(browser, hub, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport, baseURL: hub.base });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  return page;
}

// Logs in through the login form, as a person would, and waits for the landing page.
export async function login(page, name, password) {
  await page.goto('/#/login');
  await page.getByLabel(/name/i).first().fill(name);
  await page.getByLabel(/password/i).first().fill(password);
  await page.getByRole('button', { name: /log ?in|sign ?in/i }).click();
  await page.waitForSelector('[data-page]:not([data-page="login"])');
}

// Screenshots of one test file go to their own folder, numbered in the order taken.
export function screenshotter(testFile) {
  const dir = join(SCREENSHOT_ROOT, basename(testFile).replace(/\.test\.mjs$/, ''));
  mkdirSync(dir, { recursive: true });
  let n = 0;
  return async (page, step) => {
    n += 1;
    const file = join(dir, `${String(n).padStart(2, '0')}-${step}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
}

// axe-core's WCAG 2.1 A/AA rules on the current page. Returns the violations (empty when clean);
// assertAccessible fails the test with each rule and the elements it found.
export async function axeCheck(page) {
  // Evaluated through the DevTools protocol, not a <script> tag: the dashboard's Content-Security-Policy
  // rightly refuses inline scripts.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
}

export async function assertAccessible(assert, page, where) {
  const violations = await axeCheck(page);
  assert.deepEqual(violations, [], `${where}: accessibility violations:\n${JSON.stringify(violations, null, 2)}`);
}
