// node bench/dashboard.mjs BASE NAME PASSWORD RUNS LABEL:
// times the dashboard's pages in Debian's Chromium, each load in a fresh context that carries only the
// session cookie, from navigation start until the page's root says data-ready="true" (the router sets it
// once the page's first data is on screen). Prints "LABEL_<page>_ms <median>" lines, and
// "LABEL_baseline_ms" for Chromium loading the server's tiny /healthz answer.
// playwright-core is a test tool: it lives in tests/node_modules (make deps).
const { chromium } = await import(new URL('../tests/node_modules/playwright-core/index.mjs', import.meta.url));

const [base, name, password, runsArg, label] = process.argv.slice(2);
const runs = Number(runsArg) || 7;
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const res = await fetch(`${base}/devicehub/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ name, password }) });
if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
const cookie = res.headers.get('set-cookie').split(';')[0];
const { csrfToken } = await res.json();
const [cname, cvalue] = [cookie.slice(0, cookie.indexOf('=')), cookie.slice(cookie.indexOf('=') + 1)];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium', args });
async function load(path, readySelector) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: cname, value: cvalue, url: base }]);
  const page = await context.newPage();
  const t0 = performance.now();
  await page.goto(base + path, { waitUntil: 'commit' });
  await page.waitForSelector(readySelector, { timeout: 30000 });
  const ms = performance.now() - t0;
  await context.close();
  return ms;
}

// One device id for the detail page: the first the query answers.
const first = await fetch(`${base}/devices/query`, { method: 'POST',
  headers: { 'Content-Type': 'application/json', Cookie: cookie,
    'X-CSRF-Token': csrfToken },
  body: JSON.stringify({ query: 'SELECT TOP 1 deviceId FROM devices' }) }).then((r) => r.json()).catch(() => []);
const deviceId = first[0]?.deviceId;

const pages = { fleet: '/#/', devices: '/#/devices', jobs: '/#/jobs' };
if (deviceId) pages.device = `/#/devices/${encodeURIComponent(deviceId)}`;
const times = { baseline: [] };
for (let i = 0; i < runs; i++) {
  times.baseline.push(await load('/healthz', 'body'));
  for (const [p, path] of Object.entries(pages)) {
    (times[p] ||= []).push(await load(path, `[data-page="${p}"][data-ready="true"]`));
  }
}
await browser.close();
for (const [p, xs] of Object.entries(times)) console.log(`${label}_${p}_ms ${median(xs).toFixed(0)}`);
