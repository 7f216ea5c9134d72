// node bench/dashboard-live.mjs BASE NAME PASSWORD SIM_BIN DEVICE_URL CONNECTION_STRING COUNT:
// the fleet page open in Chromium while devicehub-sim creates and connects COUNT devices. Prints, as
// "key value" lines: when the server counted every device connected (polling GET /statistics/service,
// the baseline), when the page's Connected tile showed it (it only learns it from the event socket: the
// page is never reloaded and polls nothing), the lag between the two, and the longest main-thread task
// the page ran during the storm (how "crawling" it felt).
import { spawn } from 'node:child_process';

const { chromium } = await import(new URL('../tests/node_modules/playwright-core/index.mjs', import.meta.url));
const [base, name, password, simBin, deviceUrl, cs, countArg] = process.argv.slice(2);
const count = Number(countArg);
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const res = await fetch(`${base}/devicehub/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ name, password }) });
if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
const cookie = res.headers.get('set-cookie').split(';')[0];
const eq = cookie.indexOf('=');

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium', args });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await context.addCookies([{ name: cookie.slice(0, eq), value: cookie.slice(eq + 1), url: base }]);
const page = await context.newPage();
await page.goto(`${base}/#/`);
await page.waitForSelector('[data-page="fleet"][data-ready="true"]');
await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]');
await page.evaluate(() => {
  window.__longest = 0;
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration); })
    .observe({ type: 'longtask', buffered: false });
});

const t0 = performance.now();
const sim = spawn(simBin, ['--connection-string', cs, '--api-url', base, '--device-url', deviceUrl, '--count', String(count),
  '--prefix', 'live-', '--create', '--duration', '120'], { stdio: 'ignore' });
let serverAt = null;
let pageAt = null;
const deadline = t0 + 120000;
const want = new Intl.NumberFormat().format(count);
while ((serverAt === null || pageAt === null) && performance.now() < deadline) {
  if (serverAt === null) {
    const r = await fetch(`${base}/statistics/service`, { headers: { Cookie: cookie } }).then((x) => x.json());
    if (r.connectedDeviceCount >= count) serverAt = performance.now() - t0;
  }
  if (pageAt === null) {
    const shown = await page.getByTestId('tile-connected').textContent();
    if (shown.replace(/\D/g, '') === String(count) || shown === want) pageAt = performance.now() - t0;
  }
  await new Promise((r) => setTimeout(r, 50));
}
const longest = await page.evaluate(() => window.__longest);
sim.kill('SIGTERM');
await browser.close();
console.log(`live_server_all_connected_s ${serverAt === null ? 'never' : (serverAt / 1000).toFixed(2)}`);
console.log(`live_page_all_connected_s ${pageAt === null ? 'never' : (pageAt / 1000).toFixed(2)}`);
console.log(`live_page_lag_ms ${serverAt !== null && pageAt !== null ? Math.max(0, pageAt - serverAt).toFixed(0) : '-'}`);
console.log(`live_longest_task_ms ${longest.toFixed(0)}`);
