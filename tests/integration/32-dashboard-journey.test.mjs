// An operator's first day, end to end, in Debian's Chromium against a real devicehubd and the real
// simulator (devicehub-sim): sign in, create a device from the dashboard, watch it connect when the
// simulator starts, edit its desired properties and see the device apply them, invoke a direct method it
// answers, start a rollout over a simulated fleet and watch it progress to the end without a reload, and
// see a viewer refused a change. Screenshots go to tests/screenshots/32-dashboard-journey/; axe-core
// checks every page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, startHub } from './lib/hub.mjs';
import { assertAccessible, launchBrowser, login, openPage, screenshotter } from './lib/browser.mjs';

const SIM = process.env.DEVICEHUB_SIM_BIN || join(dirname(BIN), 'devicehub-sim');
const VIEWER_PASSWORD = 'viewer-password-5678';
const shot = screenshotter(import.meta.filename);
let hub;
let browser;
let page;
const sims = [];

function startSim(args) {
  const cs = `HostName=${hub.hostname};SharedAccessKeyName=iothubowner;SharedAccessKey=${hub.ownerKey}`;
  const proc = spawn(SIM, ['--connection-string', cs, '--api-url', hub.base, '--device-url', hub.deviceUrl,
    '--reboot-ms', '500', '--fw-step-ms', '100', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const s = { proc, output: '' };
  proc.stdout.on('data', (d) => { s.output += d; });
  proc.stderr.on('data', (d) => { s.output += d; });
  s.exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  sims.push(s);
  return s;
}

async function stopSim(s) {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
  const { code } = await s.exited;
  assert.equal(code, 0, `devicehub-sim exited with ${code}:\n${s.output.slice(-2000)}`);
  assert.doesNotMatch(s.output, /ERROR: (Address|Leak)Sanitizer|runtime error:/);
}

before(async () => {
  assert.ok(existsSync(SIM), `${SIM} is missing: build the devicehub-sim target`);
  hub = await startHub({ args: ['--fleet-history-interval', '1', '--health-interval', '1'] });
  const v = await hub.req('PUT', '/devicehub/accounts/viewer2', { role: 'viewer', password: VIEWER_PASSWORD });
  assert.equal(v.status, 200, v.text);
  browser = await launchBrowser();
  page = await openPage(browser, hub);
});

after(async () => {
  for (const s of sims) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  await browser?.close();
  await hub?.destroy();
});

test('sign in and create a device from the devices page', async () => {
  await login(page, 'admin', hub.adminPassword);
  await page.getByTestId('nav-devices').click();
  await page.waitForSelector('[data-page="devices"][data-ready="true"]');
  await page.getByTestId('create-device').click();
  await page.getByTestId('new-device-id').fill('sim-00001');
  await page.getByTestId('dialog-submit').click();
  await page.waitForSelector('[data-page="device"]');
  await page.getByTestId('device-connection').getByText('Disconnected', { exact: true }).waitFor();
  const r = await hub.req('GET', '/devices/sim-00001');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'enabled');
  await shot(page, 'device-created');
  await assertAccessible(assert, page, 'device (new)');
});

test('the simulator connects the device and the page follows without a reload', async () => {
  // Without --create the simulator reads the key the dashboard's create made.
  startSim(['--count', '1', '--prefix', 'sim-', '--first', '1']);
  await page.getByTestId('device-connection').getByText('Connected', { exact: true }).waitFor({ timeout: 15000 });
  // Its first report (capabilities) arrives live in the reported table.
  await page.getByTestId('reported-table').getByText('firmware').first().waitFor({ timeout: 10000 });
  await shot(page, 'device-connected');
});

test('desired properties edited on the page reach the device, which reports them back', async () => {
  await page.getByTestId('twin-desired').fill('{"telemetryInterval": 15}');
  await page.getByTestId('twin-save').click();
  await page.getByTestId('toast').filter({ hasText: 'Twin saved' }).waitFor();
  // The simulator mirrors desired into reported; the page shows it live.
  await page.getByTestId('reported-table').getByText('telemetryInterval').waitFor({ timeout: 10000 });
  const twin = (await hub.req('GET', '/twins/sim-00001')).json;
  assert.equal(twin.properties.desired.telemetryInterval, 15);
  assert.equal(twin.properties.reported.telemetryInterval, 15);
  await shot(page, 'desired-applied');
});

test('a direct method the device answers; the reboot shows as a reconnect', async () => {
  await page.getByTestId('method-name').fill('reboot');
  await page.getByTestId('method-payload').fill('{}');
  await page.getByTestId('method-timeout').fill('10');
  await page.getByTestId('method-invoke').click();
  await page.getByTestId('method-status').filter({ hasText: 'Status 200' }).waitFor({ timeout: 10000 });
  assert.match(await page.getByTestId('method-payload-result').textContent(), /rebooting/);
  await shot(page, 'method-answered');
  await page.getByTestId('device-connection').getByText('Connected', { exact: true }).waitFor({ timeout: 10000 });
  const twin = (await hub.req('GET', '/twins/sim-00001')).json;
  assert.ok(twin.properties.reported.reboot, 'the simulator reported its reboot');
  await assertAccessible(assert, page, 'device (connected)');
});

test('a rollout over a simulated fleet, watched to the end without a reload', async () => {
  const fleet = startSim(['--count', '8', '--prefix', 'fleet-', '--create']);
  const deadline = Date.now() + 20000;
  for (;;) {
    const r = await hub.req('POST', '/devices/query',
      { query: "SELECT COUNT() AS n FROM devices WHERE connectionState = 'Connected' AND STARTSWITH(deviceId, 'fleet-')" });
    if (r.json?.[0]?.n === 8) break;
    assert.ok(Date.now() < deadline, `the simulated fleet did not connect: ${fleet.output.slice(-500)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  await page.getByTestId('nav-jobs').click();
  await page.waitForSelector('[data-page="jobs"][data-ready="true"]');
  await page.getByTestId('job-new').click();
  await page.waitForSelector('[data-page="job-new"]');
  await page.getByTestId('job-id').fill('journey-rollout');
  await page.getByTestId('job-condition').fill("STARTSWITH(deviceId, 'fleet-')");
  await page.getByTestId('job-condition-count').filter({ hasText: /^8 devices match$/ }).waitFor({ timeout: 10000 });
  await page.getByTestId('method-name').fill('reboot');
  await page.getByTestId('method-payload').fill('{}');
  await page.getByTestId('job-preview').click();
  await page.getByTestId('dryrun').waitFor();
  assert.equal(await page.getByTestId('dryrun-targets').getAttribute('data-value'), '8');
  await shot(page, 'rollout-preview');
  await assertAccessible(assert, page, 'new rollout');
  await page.getByTestId('job-create').click();
  await page.waitForSelector('[data-page="job"]');
  // Progress arrives over the event socket: the page is never reloaded, so the completed status and the
  // counts can only come from there.
  await page.evaluate(() => { window.__journeyMarker = true; });
  // The form's default plan: a 10% canary phase that waits for approval, then the rest.
  await page.getByTestId('job-awaiting').waitFor({ timeout: 20000 });
  await shot(page, 'rollout-canary-done');
  await page.getByTestId('job-approve').click();
  await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
  try {
    await page.locator('[data-testid="job-status"][data-status="completed"]').waitFor({ timeout: 30000 });
  } catch (e) {
    const r = await hub.req('GET', '/devicehub/rollouts/journey-rollout');
    throw new Error(`${e.message}\nthe rollout now: ${r.text}`);
  }
  assert.equal(await page.evaluate(() => window.__journeyMarker), true, 'the page was not reloaded');
  const counts = page.getByTestId('job-counts');
  assert.equal(await counts.locator('[data-key="succeededCount"]').getAttribute('data-value'), '8');
  assert.equal(await counts.locator('[data-key="failedCount"]').getAttribute('data-value'), '0');
  // The per-device rows follow too: every device's outcome is completed.
  const rows = page.getByTestId('device-row');
  await page.waitForFunction(() => {
    const r = [...document.querySelectorAll('[data-testid="device-row"]')];
    return r.length === 8 && r.every((x) => /completed/.test(x.textContent));
  }, null, { timeout: 5000 });
  assert.equal(await rows.count(), 8);
  await shot(page, 'rollout-completed');
  await assertAccessible(assert, page, 'rollout');
  await stopSim(fleet);
});

test('a viewer sees the device but no write controls, and a forced change is refused', async () => {
  const viewer = await openPage(browser, hub);
  await login(viewer, 'viewer2', VIEWER_PASSWORD);
  await viewer.goto('/#/devices/sim-00001');
  await viewer.waitForSelector('[data-page="device"][data-ready="true"]');
  for (const id of ['twin-save', 'method-invoke', 'toggle-status', 'delete-device']) {
    assert.equal(await viewer.getByTestId(id).count(), 0, `${id} is hidden from a viewer`);
  }
  await shot(viewer, 'viewer-device');
  await assertAccessible(assert, viewer, 'device (viewer)');
  // The server refuses what the page hides, with the session's own CSRF token.
  const res = await viewer.evaluate(async () => {
    const s = await (await fetch('/devicehub/session')).json();
    const r = await fetch('/twins/sim-00001', { method: 'PATCH', headers: { 'Content-Type': 'application/json',
      'X-CSRF-Token': s.csrfToken }, body: JSON.stringify({ properties: { desired: { telemetryInterval: 1 } } }) });
    return { status: r.status, body: await r.text() };
  });
  assert.equal(res.status, 403, res.body);
  const twin = (await hub.req('GET', '/twins/sim-00001')).json;
  assert.equal(twin.properties.desired.telemetryInterval, 15, 'the refused change changed nothing');
  await viewer.context().close();
  for (const s of sims) if (s.proc.exitCode === null) await stopSim(s);
});
