// The dashboard's operations pages in Debian's Chromium against a real devicehubd: an operator starts a
// rollout from the UI (live device count, a syntax error shown, condition phases with a manual approval,
// the dry-run preview) over connected test devices that answer the method, some failing; the funnel
// moves without a reload, failures are grouped by error code, the failed are retried, the next phase is
// approved; a page whose first answer is held back still shows what the event socket said meanwhile; a
// configuration is created from the UI and its drift shown, live, with a link to the drifting
// devices; an admin finds those changes in the audit log and manages accounts; a viewer sees no controls.
// Every step saves a screenshot (tests/screenshots/31-dashboard-ops/) and passes axe-core's WCAG A/AA rules.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';
import { assertAccessible, launchBrowser, login, openPage, PHONE, screenshotter } from './lib/browser.mjs';

const OPERATOR_PASSWORD = 'operator-password-1234';
const VIEWER_PASSWORD = 'viewer-password-1234';
const IDS = ['ops-1', 'ops-2', 'ops-3', 'ops-4', 'ops-5', 'ops-6'];
// ops-1 and ops-2 (phase 1) answer 500 to their first call only; ops-5 (phase 2) always answers 503.
const FAIL_ONCE = new Set(['ops-1', 'ops-2']);
const ROLLOUT = 'ops-rollout';

let hub;
let browser;
let page;          // the operator's tab, kept across steps
const devices = new Map();  // id → {device, calls: [], key}
const takeShot = screenshotter(import.meta.filename);
// From the top: a full-page screenshot of a scrolled page draws the sticky top bar mid-page.
async function shot(p, step) {
  await p.evaluate(() => window.scrollTo(0, 0));
  return takeShot(p, step);
}

before(async () => {
  hub = await startHub();
  const r = await hub.req('POST', '/devices', IDS.map((id) => ({ id, importMode: 'create', tags: { ring: 'ops' } })));
  assert.equal(r.status, 200, r.text);
  for (const [name, role, password] of [['operator1', 'operator', OPERATOR_PASSWORD], ['viewer1', 'viewer', VIEWER_PASSWORD]]) {
    const a = await hub.req('PUT', `/devicehub/accounts/${name}`, { role, password });
    assert.equal(a.status, 200, a.text);
  }
  for (const id of IDS) await online(id);
  browser = await launchBrowser();
  page = await openPage(browser, hub);
});

after(async () => {
  for (const d of devices.values()) await d.device.close().catch(() => {});
  await browser?.close();
  await hub?.destroy();
});

// A test device that answers every direct method (see FAIL_ONCE and ops-5 above).
async function online(id) {
  const r = await hub.req('GET', `/devices/${id}`);
  assert.equal(r.status, 200, r.text);
  const c = await connectDevice(hub, id, { token: deviceToken(id, r.json.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, `device ${id} did not connect: ${JSON.stringify(c)}`);
  const dev = { device: c.device, calls: [] };
  c.device.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type !== 'method.request') return;
    dev.calls.push(m);
    let status = 200;
    if (id === 'ops-5') status = 503;
    else if (FAIL_ONCE.has(id) && dev.calls.length === 1) status = 500;
    c.device.send({ type: 'method.response', rid: m.rid, status, payload: status === 200 ? { ok: true } : { reason: 'flash busy' } });
  });
  devices.set(id, dev);
}

// Console errors other than the browser's notes about 4xx answers the test asked for.
function pageErrors(p) {
  return p.problems.filter((x) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(x));
}

const phase = (i) => page.locator(`[data-testid="phase"][data-phase="${i}"]`);
const stage = (i, name) => phase(i).locator(`[data-stage="${name}"]`);

test('an operator starts a rollout from the UI: live count, syntax error, phases, dry run', async () => {
  await login(page, 'operator1', OPERATOR_PASSWORD);
  await page.goto('/#/jobs');
  await page.waitForSelector('[data-page="jobs"]');
  await page.getByText('No jobs yet').first().waitFor();
  await shot(page, 'jobs-empty');
  await assertAccessible(assert, page, 'jobs (empty)');

  await page.getByTestId('job-new').click();
  await page.waitForSelector('[data-page="job-new"]');
  const cond = page.getByTestId('job-condition');
  const count = page.getByTestId('job-condition-count');
  // A syntax error is shown under the field, where it is.
  await cond.fill("tags.ring = 'ops' AMD deviceId = 'x'");
  await count.getByText(/syntax error|position/i).waitFor();
  assert.equal(await cond.getAttribute('aria-invalid'), 'true');
  await shot(page, 'job-new-syntax-error');
  await assertAccessible(assert, page, 'new job with a syntax error');
  await cond.fill("tags.ring = 'ops'");
  await count.filter({ hasText: /^6 devices match$/ }).waitFor();

  await page.getByTestId('job-id').fill(ROLLOUT);
  await page.getByTestId('method-name').fill('update');
  await page.getByTestId('method-payload').fill('{"version": "2.0"}');
  // Condition phases: ops-1..3 first with a manual approval, then the rest.
  await page.getByTestId('phase-mode').selectOption('condition');
  await page.getByTestId('phase-condition-0').fill("deviceId IN ['ops-1', 'ops-2', 'ops-3']");
  assert.equal(await page.getByTestId('phase-manual-0').isChecked(), true);
  await page.getByTestId('phase-condition-1').fill('IS_DEFINED(deviceId)');
  // A policy the server refuses is shown next to the form, and nothing is created.
  await page.getByTestId('abort-percent').fill('250');
  await page.getByTestId('job-preview').click();
  await page.getByTestId('job-form-error').getByText(/abort\.failurePercent/).waitFor();
  await shot(page, 'job-new-server-error');
  await assertAccessible(assert, page, 'new job with a server error');
  assert.equal((await hub.req('GET', `/devicehub/rollouts/${ROLLOUT}`)).status, 404);
  await page.getByTestId('abort-percent').fill('');

  await page.getByTestId('job-preview').click();
  const dry = page.getByTestId('dryrun');
  await dry.waitFor();
  assert.equal(await page.getByTestId('dryrun-targets').getAttribute('data-value'), '6');
  assert.match(await page.getByTestId('dryrun-phases').textContent(), /wait for approval/);
  assert.match(await page.getByTestId('dryrun-offline').textContent(), /0/);
  await shot(page, 'job-new-preview');
  await assertAccessible(assert, page, 'new job preview');
  await page.getByTestId('job-create').click();
  await page.waitForSelector(`[data-page="job"]`);
  assert.equal(await page.evaluate(() => location.hash), `#/jobs/${ROLLOUT}`);
  const r = await hub.req('GET', `/devicehub/rollouts/${ROLLOUT}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.cloudToDeviceMethod.methodName, 'update');
  assert.deepEqual(r.json.cloudToDeviceMethod.payload, { version: '2.0' });
  assert.equal(r.json.policy.phases[0].successGate.approval, 'manual');
});

test('the funnel moves without a reload; failures are grouped by error code', async () => {
  // A marker that a reload would lose.
  await page.evaluate(() => { window.__noReload = true; });
  await phase(0).and(page.locator('[data-state="awaiting approval"]')).waitFor({ timeout: 15000 });
  await stage(0, 'failed').and(page.locator('[data-count="2"]')).waitFor();
  await stage(0, 'succeeded').and(page.locator('[data-count="1"]')).waitFor();
  assert.equal(await stage(1, 'pending').getAttribute('data-count'), '3');
  await page.getByTestId('job-awaiting').waitFor();
  const row = page.locator('[data-testid="failure-row"][data-code="MethodStatus500"]');
  await row.waitFor();
  assert.equal(await row.getAttribute('data-count'), '2');
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  // The per-device list filtered by that code lists the two devices.
  await row.getByRole('button', { name: /show devices/i }).click();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="device-row"]')];
    return rows.length === 2 && rows.every((r) => r.dataset.status === 'failed');
  });
  assert.deepEqual(await page.locator('[data-testid="device-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.deviceId).sort()),
    ['ops-1', 'ops-2']);
  await shot(page, 'rollout-awaiting-approval');
  await assertAccessible(assert, page, 'rollout awaiting approval');
  // Operators see the controls that apply now: approve, pause, retry, cancel; no resume.
  for (const c of ['job-approve', 'job-pause', 'job-retry', 'job-cancel']) assert.equal(await page.getByTestId(c).count(), 1, c);
  assert.equal(await page.getByTestId('job-resume').count(), 0);
});

test('retry the failed: they go again in their phase, which waits for approval again', async () => {
  await page.getByTestId('job-retry').click();
  const dlg = page.getByTestId('confirm-dialog');
  await dlg.waitFor();
  await shot(page, 'retry-confirm');
  await assertAccessible(assert, page, 'retry confirm dialog');
  await dlg.getByTestId('confirm-ok').click();
  await stage(0, 'succeeded').and(page.locator('[data-count="3"]')).waitFor({ timeout: 15000 });
  await phase(0).and(page.locator('[data-state="awaiting approval"]')).waitFor();
  await page.getByTestId('no-failures').waitFor();
  assert.equal(devices.get('ops-1').calls.length, 2);
  assert.equal(devices.get('ops-3').calls.length, 1);
  assert.equal(await page.getByTestId('job-retry').count(), 0, 'nothing left to retry');
  assert.equal(await page.evaluate(() => window.__noReload), true);
  await shot(page, 'rollout-retried');
});

test('approve the next phase: it runs live, its failure is grouped, the rollout completes', async () => {
  await page.getByTestId('job-approve').click();
  await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
  await page.locator('[data-testid="job-status"][data-status="completed"]').waitFor({ timeout: 15000 });
  await stage(1, 'succeeded').and(page.locator('[data-count="2"]')).waitFor();
  await stage(1, 'failed').and(page.locator('[data-count="1"]')).waitFor();
  await page.locator('[data-testid="failure-row"][data-code="MethodStatus503"][data-count="1"]').waitFor();
  assert.equal(await page.evaluate(() => window.__noReload), true);
  // A finished rollout has no controls.
  assert.equal(await page.getByTestId('job-controls').locator('button').count(), 0);
  await page.getByTestId('devices-filter-code').selectOption('MethodStatus503');
  await page.locator('[data-testid="device-row"][data-device-id="ops-5"]').waitFor();
  await shot(page, 'rollout-completed');
  await assertAccessible(assert, page, 'rollout completed');
  const r = await hub.req('GET', `/devicehub/rollouts/${ROLLOUT}`);
  assert.deepEqual(r.json.failures, { MethodStatus503: 1 });
  assert.equal(r.json.deviceJobStatistics.succeededCount, 5);
  // The jobs list shows it, filtered by status and type.
  await page.goto('/#/jobs?status=completed&type=rollout');
  await page.locator(`[data-testid="job-row"][data-job-id="${ROLLOUT}"][data-status="completed"]`).waitFor();
  await shot(page, 'jobs-list');
  await assertAccessible(assert, page, 'jobs list');
  assert.deepEqual(pageErrors(page), []);
});

test('a plain job: scheduled from the UI, its statistics, cancelled', async () => {
  await page.goto("/#/jobs/new?query=deviceId%20IN%20%5B'ops-4'%2C%20'ops-6'%5D");
  await page.getByTestId('job-condition-count').filter({ hasText: /^2 devices match$/ }).waitFor();
  await page.getByTestId('job-id').fill('ops-later');
  await page.getByTestId('kind-job').check();
  assert.equal(await page.getByTestId('policy').isVisible(), false);
  assert.equal(await page.getByTestId('action-firmware').isVisible(), false, 'firmware is for rollouts');
  await page.getByTestId('action-twin').check();
  await page.getByTestId('twin-desired').fill('{"mode": "night"}');
  await page.getByTestId('start-at').check();
  const at = new Date(Date.now() + 3600e3);
  const p2 = (n) => String(n).padStart(2, '0');
  await page.getByTestId('start-time').fill(`${at.getFullYear()}-${p2(at.getMonth() + 1)}-${p2(at.getDate())}T${p2(at.getHours())}:${p2(at.getMinutes())}`);
  await page.getByTestId('job-preview').click();
  assert.equal(await page.getByTestId('dryrun-targets').getAttribute('data-value'), '2');
  await page.getByTestId('job-create').click();
  await page.locator('[data-testid="job-status"][data-status="queued"]').waitFor();
  const j = await hub.req('GET', '/jobs/v2/ops-later');
  assert.equal(j.json.type, 'scheduleUpdateTwin');
  assert.deepEqual(j.json.updateTwin.properties.desired, { mode: 'night' });
  assert.ok(Date.parse(j.json.startTime) > Date.now() + 3000e3, j.json.startTime);
  assert.equal(j.json.policy, undefined, 'a plain job has no policy');
  // A plain job offers cancel only, and shows no phases.
  assert.deepEqual(await page.getByTestId('job-controls').locator('button').evaluateAll((b) => b.map((x) => x.dataset.testid)), ['job-cancel']);
  assert.equal(await page.getByTestId('phases-panel').isVisible(), false);
  await shot(page, 'plain-job-queued');
  await assertAccessible(assert, page, 'plain job');
  await page.getByTestId('job-cancel').click();
  await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
  await page.locator('[data-testid="job-status"][data-status="cancelled"]').waitFor();
  assert.equal((await hub.req('GET', '/jobs/v2/ops-later')).json.status, 'cancelled');
});

// Holds the page's first GET of `path` back (the server's real answer, read at once) until `until()`
// resolves, so that the events of what happens meanwhile reach the page before that older answer does.
async function holdFirstAnswer(p, path, until) {
  let held = null;
  const matcher = (url) => url.pathname === path;
  await p.route(matcher, async (route) => {
    if (held || route.request().method() !== 'GET') return route.continue();
    held = route.fetch().then(async (res) => ({ res, json: await res.json() }));
    const { res, json } = await held;
    await until(json);
    await route.fulfill({ response: res, json });
  });
  return async () => {
    await p.unroute(matcher);
    return held ? (await held).json : null;
  };
}

async function waitFor(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a slow first answer never hides what the event socket said meanwhile', async () => {
  // A twin job that starts while its page is still waiting for its first answer, which then says queued.
  const start = new Date(Date.now() + 1500).toISOString();
  const job = await hub.req('PUT', '/jobs/v2/ops-race', { jobId: 'ops-race', type: 'scheduleUpdateTwin',
    queryCondition: "deviceId = 'ops-6'", updateTwin: { etag: '*', tags: { race: 1 } }, startTime: start, maxExecutionTimeInSeconds: 60 });
  assert.equal(job.status, 200, job.text);
  const released = await holdFirstAnswer(page, '/devicehub/rollouts/ops-race', () =>
    waitFor('the job to complete', async () => (await hub.req('GET', '/jobs/v2/ops-race')).json.status === 'completed'));
  await page.goto('/#/jobs/ops-race');
  await page.locator('[data-testid="job-status"][data-status="completed"]').waitFor({ timeout: 20000 });
  const first = await released();
  assert.equal(first.status, 'queued', 'the held answer was read before the job started');
  const counts = page.getByTestId('job-counts');
  assert.equal(await counts.locator('[data-key="succeededCount"]').getAttribute('data-value'), '1');
  assert.equal(await counts.locator('[data-key="pendingCount"]').getAttribute('data-value'), '0');
  await page.locator('[data-testid="device-row"][data-status="completed"]').waitFor();
  await shot(page, 'slow-answer-job');

  // A device that connects while its page waits for the identity, which then says Disconnected.
  const r = await hub.req('PUT', '/devices/ops-race-dev', { deviceId: 'ops-race-dev' });
  assert.equal(r.status, 200, r.text);
  const key = r.json.authentication.symmetricKey.primaryKey;
  let conn;
  const releasedDevice = await holdFirstAnswer(page, '/devices/ops-race-dev', async () => {
    conn = await connectDevice(hub, 'ops-race-dev', { token: deviceToken('ops-race-dev', key) });
    assert.ok(conn.device, JSON.stringify(conn));
    await waitFor('the device to connect', async () => (await hub.req('GET', '/devices/ops-race-dev')).json.connectionState === 'Connected');
  });
  await page.goto('/#/devices/ops-race-dev');
  await page.getByTestId('device-connection').getByText('Connected', { exact: true }).waitFor({ timeout: 20000 });
  assert.equal((await releasedDevice()).connectionState, 'Disconnected', 'the held answer was read before the device connected');
  await shot(page, 'slow-answer-device');
  await conn.device.close();
  await page.getByTestId('device-connection').getByText('Disconnected', { exact: true }).waitFor({ timeout: 10000 });
});

test('the rollout pages at phone width', async () => {
  const phone = await openPage(browser, hub, { viewport: PHONE });
  await login(phone, 'operator1', OPERATOR_PASSWORD);
  await phone.goto(`/#/jobs/${ROLLOUT}`);
  await phone.locator('[data-testid="phase"][data-phase="1"]').waitFor();
  await shot(phone, 'rollout-phone');
  await assertAccessible(assert, phone, 'rollout (phone)');
  await phone.goto('/#/jobs/new');
  await phone.getByTestId('job-form').waitFor();
  await shot(phone, 'job-new-phone');
  await assertAccessible(assert, phone, 'new job (phone)');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the new-job page scrolls sideways by ${overflow}px at 390px`);
  await phone.context().close();
});

test('a configuration created from the UI, with its drift kept live', async () => {
  await page.goto('/#/configurations');
  await page.waitForSelector('[data-page="configurations"]');
  await page.getByText('No configurations yet').first().waitFor();
  await page.getByTestId('config-new').click();
  await page.getByTestId('config-id').fill('ops-mode');
  await page.getByTestId('config-condition').fill("tags.ring = 'ops'");
  await page.getByTestId('config-condition-count').filter({ hasText: /^6 devices match$/ }).waitFor();
  await page.getByTestId('config-content').fill('{"mode": "eco", "interval": 30}');
  await page.getByTestId('config-labels').fill('team=ops');
  await shot(page, 'configuration-new');
  await assertAccessible(assert, page, 'new configuration');
  await page.getByTestId('config-create').click();
  await page.waitForSelector('[data-page="configuration"]');
  const c = await hub.req('GET', '/configurations/ops-mode');
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.json.content.deviceContent, { 'properties.desired': { mode: 'eco', interval: 30 } });
  assert.deepEqual(c.json.labels, { team: 'ops' });

  // Nobody reports yet: every targeted device drifts on both paths.
  const modeRow = page.locator('[data-testid="drift-row"][data-path="properties.desired.mode"]');
  await modeRow.and(page.locator('[data-drifting="6"]')).waitFor({ timeout: 10000 });
  // Two devices report the desired mode: the drift view follows without a reload.
  await page.evaluate(() => { window.__noReload = true; });
  for (const id of ['ops-1', 'ops-2']) devices.get(id).device.send({ type: 'reported.patch', rid: `m-${id}`, body: { mode: 'eco' } });
  await modeRow.and(page.locator('[data-matched="2"][data-drifting="4"]')).waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__noReload), true);
  await page.getByTestId('targeted').and(page.locator('[data-value="6"]')).waitFor();
  await shot(page, 'configuration-drift');
  await assertAccessible(assert, page, 'configuration drift');

  // The link lists exactly the drifting devices on the devices page.
  await modeRow.getByTestId('drift-devices').click();
  await page.waitForSelector('[data-page="devices"] [data-device-id="ops-3"]');
  await page.getByTestId('match-count').filter({ hasText: /^4 devices match$/ }).waitFor();
  assert.equal(await page.locator('[data-page="devices"] [data-device-id="ops-1"]').count(), 0);
  await shot(page, 'drifting-devices');

  // Edit: a higher priority, saved with If-Match.
  await page.goBack();
  await page.waitForSelector('[data-page="configuration"]');
  await page.getByTestId('config-edit-priority').fill('20');
  await page.getByTestId('config-save').click();
  await page.getByTestId('toast').filter({ hasText: /saved/ }).waitFor();
  assert.equal((await hub.req('GET', '/configurations/ops-mode')).json.priority, 20);
  // The list shows the counts.
  await page.goto('/#/configurations');
  const row = page.locator('[data-testid="config-row"][data-config-id="ops-mode"]');
  await row.waitFor();
  assert.equal(await row.getByTestId('targeted').textContent(), '6');
  await shot(page, 'configurations-list');
  await assertAccessible(assert, page, 'configurations list');
  assert.deepEqual(pageErrors(page), []);
});

test('a viewer sees the rollout and the configuration but no controls', async () => {
  const viewer = await openPage(browser, hub);
  await login(viewer, 'viewer1', VIEWER_PASSWORD);
  await viewer.goto('/#/jobs');
  await viewer.locator(`[data-testid="job-row"][data-job-id="${ROLLOUT}"]`).waitFor();
  assert.equal(await viewer.getByTestId('job-new').count(), 0);
  await viewer.goto(`/#/jobs/${ROLLOUT}`);
  await viewer.locator('[data-testid="phase"][data-phase="1"]').waitFor();
  assert.equal(await viewer.getByTestId('job-controls').locator('button').count(), 0);
  await shot(viewer, 'viewer-rollout');
  await assertAccessible(assert, viewer, 'rollout (viewer)');
  await viewer.goto('/#/jobs/new');
  await viewer.getByTestId('job-new-refused').waitFor();
  assert.equal(await viewer.getByTestId('job-form').count(), 0);
  await viewer.goto('/#/configurations/ops-mode');
  await viewer.locator('[data-testid="drift-row"]').first().waitFor();
  assert.equal(await viewer.getByTestId('config-delete').count(), 0);
  assert.equal(await viewer.getByTestId('config-edit-form').count(), 0);
  await viewer.goto('/#/configurations');
  await viewer.locator('[data-testid="config-row"]').first().waitFor();
  assert.equal(await viewer.getByTestId('config-new').count(), 0);
  await shot(viewer, 'viewer-configurations');
  await assertAccessible(assert, viewer, 'configurations (viewer)');
  // Audit and accounts are for admins.
  await viewer.goto('/#/audit');
  await viewer.getByTestId('audit-refused').waitFor();
  await viewer.goto('/#/accounts');
  await viewer.getByTestId('accounts-refused').waitFor();
  assert.deepEqual(pageErrors(viewer), []);
  await viewer.context().close();
});

test('an admin finds the operator\'s changes in the audit log and manages accounts', async () => {
  const admin = await openPage(browser, hub);
  await login(admin, 'admin', hub.adminPassword);
  await admin.goto('/#/audit');
  await admin.locator('[data-testid="audit-row"]').first().waitFor();
  await admin.getByTestId('audit-who').fill('operator1');
  await admin.getByTestId('audit-apply').click();
  await admin.locator('[data-testid="audit-row"][data-action="PUT /devicehub/rollouts/{}"]').waitFor();
  const actions = await admin.locator('[data-testid="audit-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  for (const a of ['PUT /devicehub/rollouts/{}', 'POST /devicehub/rollouts/{}/{}', 'PUT /configurations/{}']) {
    assert.ok(actions.includes(a), `audit lists ${a}: ${actions.join(', ')}`);
  }
  // The previews (dry runs, including the refused abort.failurePercent 250) only read: no audit rows.
  assert.ok(!actions.includes('POST /devicehub/rollouts/dryrun'), `dry runs are not changes: ${actions.join(', ')}`);
  assert.ok((await admin.locator('[data-testid="audit-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.who))).every((w) => w === 'operator1'));
  // Each row carries the answer's status: the rollout was created.
  assert.ok(await admin.locator('[data-testid="audit-row"][data-action="PUT /devicehub/rollouts/{}"][data-status="200"]').count() >= 1);
  await shot(admin, 'audit-operator');
  await assertAccessible(assert, admin, 'audit');
  // The filter is in the address: an action filter narrows it further.
  assert.match(await admin.evaluate(() => location.hash), /who=operator1/);
  await admin.getByTestId('audit-action').fill('PUT /configurations/{}');
  await admin.getByTestId('audit-apply').click();
  await admin.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
    return rows.length > 0 && rows.every((r) => r.dataset.action === 'PUT /configurations/{}');
  });
  assert.equal(await admin.locator('[data-testid="audit-row"]').count(), 2); // create, then the priority edit

  // Accounts: create one, change its role, and the last admin cannot be deleted.
  await admin.goto('/#/accounts');
  await admin.locator('[data-testid="account-row"][data-name="operator1"]').waitFor();
  await admin.getByTestId('account-name').fill('auditor');
  await admin.getByTestId('account-role').selectOption('viewer');
  await admin.getByTestId('account-password').fill('short');
  await admin.getByTestId('account-create').click();
  await admin.getByTestId('account-form-error').getByText(/12/).waitFor();
  await admin.getByTestId('account-password').fill('auditor-password-123');
  await admin.getByTestId('account-create').click();
  const auditor = admin.locator('[data-testid="account-row"][data-name="auditor"]');
  await auditor.waitFor();
  await auditor.getByTestId('account-role-select').selectOption('operator');
  await admin.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
  await admin.locator('[data-testid="account-row"][data-name="auditor"][data-role="operator"]').waitFor();
  const adminRow = admin.locator('[data-testid="account-row"][data-name="admin"]');
  await adminRow.getByTestId('account-delete').click();
  await admin.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
  await admin.getByTestId('toast').filter({ hasText: /last admin/i }).waitFor();
  await adminRow.waitFor();
  await shot(admin, 'accounts');
  await assertAccessible(assert, admin, 'accounts');
  const list = await hub.req('GET', '/devicehub/accounts');
  assert.deepEqual(list.json.map((a) => `${a.name}:${a.role}`).sort(), ['admin:admin', 'auditor:operator', 'operator1:operator', 'viewer1:viewer']);
  assert.deepEqual(pageErrors(admin), []);
  await admin.context().close();
});
