// The dashboard's core pages in Debian's Chromium against a real devicehubd: sign in, the fleet tiles, a
// device created from the UI that then connects (a test device over the device channel) while the page
// watches, desired properties edited from the device page and seen through REST, an ETag conflict that is
// shown and not overwritten, a direct method answered by the device, the devices page's query box, and a
// viewer who sees no write buttons and whose forced change is refused. Every step saves a screenshot
// (tests/screenshots/30-dashboard-core/) and every page passes axe-core's WCAG A/AA rules.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';
import { assertAccessible, launchBrowser, login, openPage, PHONE, screenshotter } from './lib/browser.mjs';

let hub;
let browser;
let page;          // the admin's page, kept across steps like a person's tab
const devices = [];
const shot = screenshotter(import.meta.filename);
const VIEWER_PASSWORD = 'viewer-password-1234';

before(async () => {
  hub = await startHub({ args: ['--fleet-history-interval', '1', '--health-interval', '1'] });
  const body = [
    { id: 'core-1', importMode: 'create', tags: { site: 'b43' } },
    { id: 'core-2', importMode: 'create', tags: { site: 'b43' } },
    { id: 'core-3', importMode: 'create', status: 'disabled', tags: { site: 'lab' } },
  ];
  const r = await hub.req('POST', '/devices', body);
  assert.equal(r.status, 200, r.text);
  const v = await hub.req('PUT', '/devicehub/accounts/viewer1', { role: 'viewer', password: VIEWER_PASSWORD });
  assert.equal(v.status, 200, v.text);
  browser = await launchBrowser();
  page = await openPage(browser, hub);
});

after(async () => {
  for (const d of devices) await d.close().catch(() => {});
  await browser?.close();
  await hub?.destroy();
});

async function online(id) {
  const r = await hub.req('GET', `/devices/${id}`);
  assert.equal(r.status, 200, r.text);
  const c = await connectDevice(hub, id, { token: deviceToken(id, r.json.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, `device ${id} did not connect: ${JSON.stringify(c)}`);
  devices.push(c.device);
  return c.device;
}

const tile = (key) => page.getByTestId(`tile-${key}`);

test('the dashboard is served with a strict CSP, right types and revalidation', async () => {
  let r = await hub.fetch(`${hub.base}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'none'/);
  for (const [file, type] of [['app.js', /^text\/javascript/], ['style.css', /^text\/css/], ['chart.min.js', /^text\/javascript/], ['favicon.svg', /^image\/svg\+xml/]]) {
    r = await hub.fetch(`${hub.base}/ui/${file}`);
    assert.equal(r.status, 200, file);
    assert.match(r.headers.get('content-type'), type, file);
    assert.equal(r.headers.get('cache-control'), 'no-cache', file);
    const etag = r.headers.get('etag');
    assert.ok(etag, file);
    await r.arrayBuffer();
    const again = await hub.fetch(`${hub.base}/ui/${file}`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, file);
    assert.equal(again.headers.get('content-type'), null, file);
  }
  r = await hub.fetch(`${hub.base}/ui/nothing.js`);
  assert.equal(r.status, 404);
  // HEAD is GET without the body.
  r = await hub.fetch(`${hub.base}/`, { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.equal((await r.arrayBuffer()).byteLength, 0);
  r = await hub.fetch(`${hub.base}/ui/chart.min.js`);
  assert.match(await r.text(), /Chart\.js v3\.9\.1/);
});

test('sign in: a wrong password is refused on the form, the right one lands on the fleet', async () => {
  await page.goto('/#/devices');
  await page.waitForSelector('[data-page="login"]');
  await page.getByLabel(/name/i).first().fill('admin');
  await page.getByLabel(/password/i).first().fill('not-the-password');
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.getByTestId('login-error').filter({ hasText: /wrong/i }).waitFor();
  await shot(page, 'login-refused');
  await assertAccessible(assert, page, 'login');
  // The right password brings the user back where they were going.
  await page.getByLabel(/password/i).first().fill(hub.adminPassword);
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForSelector('[data-page="devices"]');
  await page.goto('/#/');
  await page.waitForSelector('[data-page="fleet"]');
  assert.equal(await page.getByTestId('user-role').textContent(), 'admin');
});

test('fleet tiles show the registry and follow devices live', async () => {
  await assert.doesNotReject(tile('total').filter({ hasText: /^3$/ }).waitFor());
  assert.equal(await tile('enabled').textContent(), '2');
  assert.equal(await tile('disabled').textContent(), '1');
  assert.equal(await tile('connected').textContent(), '0');
  await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]');
  await shot(page, 'fleet');
  await assertAccessible(assert, page, 'fleet');
  // A device connects: the tile moves without a reload.
  await online('core-1');
  await tile('connected').filter({ hasText: /^1$/ }).waitFor({ timeout: 5000 });
  await page.getByTestId('event-list').getByText('core-1').first().waitFor();
  // A retirement reads as one in the feed, and leaves the counts as they were.
  assert.equal((await hub.req('PUT', '/devices/core-retired', { deviceId: 'core-retired' })).status, 200);
  assert.equal((await hub.req('POST', '/devicehub/devices/core-retired/retire', { reason: 'broken' })).status, 200);
  await page.getByTestId('event-list').getByText('core-retired retired (broken)').waitFor({ timeout: 5000 });
  await tile('total').filter({ hasText: /^3$/ }).waitFor({ timeout: 5000 });
  await shot(page, 'fleet-live');
  // The health rules are listed (seeded at first start).
  await page.getByTestId('rule-low-battery').waitFor();
});

test('fleet at phone width', async () => {
  const phone = await openPage(browser, hub, { viewport: PHONE });
  await login(phone, 'admin', hub.adminPassword);
  await phone.getByTestId('tile-total').filter({ hasText: /^3$/ }).waitFor();
  await shot(phone, 'fleet-phone');
  await assertAccessible(assert, phone, 'fleet (phone)');
  // The nav folds into a menu button.
  await phone.getByTestId('nav-toggle').click();
  await phone.getByTestId('nav-devices').click();
  await phone.waitForSelector('[data-page="devices"] [data-device-id="core-1"]');
  await shot(phone, 'devices-phone');
  await assertAccessible(assert, phone, 'devices (phone)');
  assert.deepEqual(phone.problems, []);
  await phone.context().close();
});

test('devices: query box errors at their position, count, tag filter chips', async () => {
  await page.getByTestId('nav-devices').click();
  await page.waitForSelector('[data-page="devices"] [data-device-id="core-3"]');
  assert.equal(await page.getByTestId('match-count').getAttribute('data-count'), '3');
  // A syntax error is shown with a caret under its position, and the list says so.
  await page.getByTestId('query-input').fill("status = 'enabled' AMD tags.site = 'b43'");
  await page.getByTestId('query-run').click();
  const err = page.getByTestId('query-error');
  await err.getByText(/syntax error at character 20: .*'AMD'/).waitFor();
  assert.match(await err.locator('pre').textContent(), /\n {19}\^$/);
  await shot(page, 'query-error');
  await assertAccessible(assert, page, 'devices with a query error');
  // A good query: the list and the count follow.
  await page.getByTestId('query-input').fill("status = 'enabled'");
  await page.getByTestId('query-run').click();
  await page.getByTestId('match-count').filter({ hasText: /^2 devices match$/ }).waitFor();
  assert.equal(await page.locator('[data-device-id="core-3"]').count(), 0);
  assert.match(page.url(), /#\/devices\?q=status/);
  // A tag chip narrows it.
  await page.getByTestId('add-tag-filter').click();
  await page.getByTestId('tag-filter-name').fill('site');
  await page.getByTestId('tag-filter-value').fill('b43');
  await page.getByTestId('dialog-submit').click();
  await page.getByTestId('tag-chip').filter({ hasText: "tags.site = b43" }).waitFor();
  await page.getByTestId('match-count').filter({ hasText: /^2 devices match$/ }).waitFor();
  // Autocomplete offers twin paths.
  await page.getByTestId('query-input').fill('connectionSt');
  await page.locator('#q-suggest li', { hasText: 'connectionState' }).waitFor();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  assert.equal(await page.getByTestId('query-input').inputValue(), 'connectionState ');
  // Selecting rows offers the actions an admin may take.
  await page.getByTestId('query-input').fill('');
  await page.getByRole('button', { name: /remove filter/i }).click();
  await page.waitForSelector('[data-device-id="core-3"]');
  await page.getByTestId('select-page').check();
  assert.equal(await page.getByTestId('selected-count').textContent(), '3 selected');
  assert.match(await page.getByTestId('action-rollout').getAttribute('href'), /^#\/jobs\/new\?query=deviceId\+IN/);
  await shot(page, 'devices-selected');
  await assertAccessible(assert, page, 'devices');
  await page.getByTestId('selection-clear').click();
});

test('create a device from the UI, then watch it connect without a reload', async () => {
  await page.getByTestId('create-device').click();
  await page.getByTestId('new-device-id').fill('ui-dev');
  await shot(page, 'create-device-dialog');
  await page.getByTestId('dialog-submit').click();
  await page.waitForSelector('[data-page="device"]');
  assert.equal(await page.locator('[data-page="device"] h1').textContent(), 'ui-dev');
  const r = await hub.req('GET', '/devices/ui-dev');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'enabled');
  await page.getByTestId('device-connection').getByText('Disconnected', { exact: true }).waitFor();
  await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]');
  // An admin gets every identity action (a viewer, below, gets none of them).
  for (const id of ['toggle-status', 'regenerate-keys', 'delete-device', 'toggle-keys', 'twin-save', 'method-invoke'])
    assert.equal(await page.getByTestId(id).count(), 1, `${id} is shown to an admin`);
  // Keys stay hidden until asked.
  assert.match(await page.getByTestId('primary-key').textContent(), /hidden/);
  await page.getByTestId('toggle-keys').click();
  assert.equal(await page.getByTestId('primary-key').textContent(), r.json.authentication.symmetricKey.primaryKey);
  assert.match(await page.getByTestId('connection-string').textContent(),
    new RegExp(`^HostName=${hub.hostname.replace(/\./g, '\\.')};DeviceId=ui-dev;SharedAccessKey=${r.json.authentication.symmetricKey.primaryKey.replace(/[+/=]/g, '\\$&')}$`));
  await page.getByTestId('toggle-keys').click();
  const dev = await online('ui-dev');
  await page.getByTestId('device-connection').getByText('Connected', { exact: true }).waitFor({ timeout: 5000 });
  await shot(page, 'device-connected');
  await assertAccessible(assert, page, 'device');
  page.device = dev;
});

test('edit desired properties from the device page; REST and the device see them', async () => {
  const dev = page.device;
  await page.getByTestId('twin-desired').fill('{"fw": "2.0", "interval": 30}');
  await page.getByTestId('twin-save').click();
  await page.getByTestId('toast').filter({ hasText: 'Twin saved' }).waitFor();
  const r = await hub.req('GET', '/twins/ui-dev');
  assert.equal(r.json.properties.desired.fw, '2.0');
  assert.equal(r.json.properties.desired.interval, 30);
  const patch = await dev.next((m) => m.type === 'desired.patch');
  assert.deepEqual(patch.body.fw, '2.0');
  // The device reports: the reported table shows it with its time, live.
  dev.send({ type: 'reported.patch', rid: 'r1', body: { fw: '2.0', battery: 88 } });
  await page.getByTestId('reported-table').getByText('battery').waitFor({ timeout: 5000 });
  await shot(page, 'twin-saved');
});

test('an ETag conflict is shown side by side and nothing is overwritten', async () => {
  await page.getByTestId('twin-desired').fill('{"fw": "3.0", "interval": 30}');
  // Someone else changes the twin meanwhile.
  const other = await hub.req('PATCH', '/twins/ui-dev', { properties: { desired: { mode: 'eco' } } });
  assert.equal(other.status, 200, other.text);
  // The page notices (live) but keeps the edit.
  await page.getByTestId('twin-changed').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('twin-desired').inputValue(), /3\.0/);
  await page.getByTestId('twin-save').click();
  const conflict = page.getByTestId('twin-conflict');
  await conflict.getByText(/changed elsewhere/).waitFor();
  assert.match(await page.getByTestId('conflict-theirs').textContent(), /"mode": "eco"/);
  assert.match(await page.getByTestId('conflict-mine').textContent(), /"fw": "3.0"/);
  await shot(page, 'twin-conflict');
  await assertAccessible(assert, page, 'device with a conflict');
  let r = await hub.req('GET', '/twins/ui-dev');
  assert.equal(r.json.properties.desired.fw, '2.0', 'the other change was not overwritten');
  assert.equal(r.json.properties.desired.mode, 'eco');
  // Re-applying puts the user's change on top of the current twin; saving keeps both.
  await page.getByTestId('conflict-reapply').click();
  const text = await page.getByTestId('twin-desired').inputValue();
  assert.match(text, /"mode": "eco"/);
  assert.match(text, /"fw": "3.0"/);
  await page.getByTestId('twin-save').click();
  await page.getByTestId('toast').filter({ hasText: 'Twin saved' }).last().waitFor();
  r = await hub.req('GET', '/twins/ui-dev');
  assert.equal(r.json.properties.desired.fw, '3.0');
  assert.equal(r.json.properties.desired.mode, 'eco');
});

test('invoke a direct method answered by the device', async () => {
  const dev = page.device;
  await page.getByTestId('method-name').fill('reboot');
  await page.getByTestId('method-payload').fill('{"delay": 1}');
  await page.getByTestId('method-timeout').fill('10');
  await page.getByTestId('method-invoke').click();
  const req = await dev.next((m) => m.type === 'method.request', 5000);
  assert.equal(req.name, 'reboot');
  assert.deepEqual(req.payload, { delay: 1 });
  dev.send({ type: 'method.response', rid: req.rid, status: 200, payload: { rebooted: true } });
  await page.getByTestId('method-status').filter({ hasText: 'Status 200' }).waitFor();
  assert.match(await page.getByTestId('method-payload-result').textContent(), /"rebooted": true/);
  // A device that is not connected: the error is shown.
  await page.goto('/#/devices/core-2');
  await page.getByTestId('method-name').fill('reboot');
  await page.getByTestId('method-timeout').fill('5');
  await page.getByTestId('method-invoke').click();
  await page.getByTestId('method-error').waitFor({ timeout: 15000 });
  await shot(page, 'method-offline');
  assert.deepEqual(page.problems.filter((p) => !/status of (4\d\d)/.test(p)), []);
});

test('disable, regenerate keys and delete a device, each after a confirmation', async () => {
  let r = await hub.req('PUT', '/devices/ui-tmp', { deviceId: 'ui-tmp' });
  assert.equal(r.status, 200, r.text);
  const before = r.json.authentication.symmetricKey;
  await page.goto('/#/devices/ui-tmp');
  await page.getByTestId('toggle-status').click();
  await page.getByTestId('confirm-dialog').waitFor();
  await shot(page, 'confirm-disable');
  await assertAccessible(assert, page, 'confirm dialog');
  // Cancel changes nothing.
  await page.getByTestId('confirm-cancel').click();
  assert.equal((await hub.req('GET', '/devices/ui-tmp')).json.status, 'enabled');
  await page.getByTestId('toggle-status').click();
  await page.getByTestId('confirm-ok').click();
  await page.getByTestId('device-status').getByText('disabled').waitFor();
  assert.equal((await hub.req('GET', '/devices/ui-tmp')).json.status, 'disabled');
  await page.getByTestId('regenerate-keys').click();
  await page.getByTestId('confirm-ok').click();
  await page.getByTestId('toast').filter({ hasText: 'New keys' }).waitFor();
  const after = (await hub.req('GET', '/devices/ui-tmp')).json.authentication.symmetricKey;
  assert.notEqual(after.primaryKey, before.primaryKey);
  assert.notEqual(after.secondaryKey, before.secondaryKey);
  await page.getByTestId('delete-device').click();
  await page.getByTestId('confirm-ok').click();
  await page.waitForSelector('[data-page="devices"]');
  r = await hub.req('GET', '/devices/ui-tmp');
  assert.equal(r.status, 404);
});

test('a viewer sees no write buttons, keys stay null, and a forced change is refused', async () => {
  const viewer = await openPage(browser, hub);
  await login(viewer, 'viewer1', VIEWER_PASSWORD);
  assert.equal(await viewer.getByTestId('user-role').textContent(), 'viewer');
  assert.equal(await viewer.getByTestId('nav-audit').count(), 0);
  assert.equal(await viewer.getByTestId('nav-accounts').count(), 0);
  await viewer.goto('/#/devices');
  await viewer.waitForSelector('[data-device-id="ui-dev"]');
  assert.equal(await viewer.getByTestId('create-device').count(), 0);
  assert.equal(await viewer.getByTestId('rollout-query').count(), 0);
  await viewer.getByTestId('select-page').check();
  assert.equal(await viewer.getByTestId('action-method').count(), 0);
  assert.equal(await viewer.getByTestId('action-patch').count(), 0);
  await shot(viewer, 'viewer-devices');
  await assertAccessible(assert, viewer, 'devices (viewer)');
  await viewer.goto('/#/devices/ui-dev');
  await viewer.getByTestId('device-connection').getByText('Connected', { exact: true }).waitFor();
  for (const id of ['toggle-status', 'regenerate-keys', 'delete-device', 'toggle-keys', 'twin-save', 'method-invoke'])
    assert.equal(await viewer.getByTestId(id).count(), 0, `${id} is hidden from a viewer`);
  assert.equal(await viewer.getByTestId('twin-desired').getAttribute('readonly'), '');
  assert.match(await viewer.getByTestId('identity').textContent(), /hidden \(admins only\)/);
  await shot(viewer, 'viewer-device');
  await assertAccessible(assert, viewer, 'device (viewer)');
  // Forcing the change from the page (the server is the judge) is refused and changes nothing.
  const forced = await viewer.evaluate(async () => {
    const s = await (await fetch('/devicehub/session')).json();
    const r = await fetch('/twins/ui-dev', { method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken, 'If-Match': '*' },
      body: JSON.stringify({ properties: { desired: { fw: 'evil' } } }) });
    return { status: r.status, code: r.headers.get('iothub-errorcode') };
  });
  assert.equal(forced.status, 403);
  const r = await hub.req('GET', '/twins/ui-dev');
  assert.equal(r.json.properties.desired.fw, '3.0');
  // Any role changes its own password from the user menu.
  await viewer.getByTestId('user-menu').locator('summary').click();
  await viewer.getByTestId('change-password').click();
  const dlg = viewer.getByTestId('password-dialog');
  await dlg.getByLabel('Current password').fill(VIEWER_PASSWORD);
  await dlg.getByLabel(/^New password/).fill('viewer-password-5678');
  await dlg.getByLabel(/^Repeat/).fill('viewer-password-5678');
  await assertAccessible(assert, viewer, 'change password dialog');
  await dlg.getByTestId('dialog-submit').click();
  await viewer.getByTestId('toast').filter({ hasText: 'Password changed' }).waitFor();
  await assert.rejects(hub.login('viewer1', VIEWER_PASSWORD));
  await hub.login('viewer1', 'viewer-password-5678');
  await viewer.context().close();
});

test('select devices and run a method on them as a job', async () => {
  const dev = devices[0]; // core-1, online since the fleet test
  await page.goto('/#/devices');
  await page.waitForSelector('[data-device-id="core-1"]');
  await page.locator('[data-device-id="core-1"] [data-testid="select-row"]').check();
  assert.equal(await page.getByTestId('selected-count').textContent(), '1 selected');
  await page.getByTestId('action-method').click();
  await page.getByTestId('job-method-name').fill('blink');
  await page.getByTestId('job-method-payload').fill('{"times": 3}');
  await shot(page, 'method-job-dialog');
  await assertAccessible(assert, page, 'method job dialog');
  await page.getByTestId('dialog-submit').click();
  const req = await dev.next((m) => m.type === 'method.request' && m.name === 'blink', 10000);
  assert.deepEqual(req.payload, { times: 3 });
  dev.send({ type: 'method.response', rid: req.rid, status: 200, payload: {} });
  await page.waitForURL(/#\/jobs\/ui-method-/);
  const jobId = decodeURIComponent(page.url().split('#/jobs/')[1]);
  const r = await hub.req('GET', `/jobs/v2/${encodeURIComponent(jobId)}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'scheduleDeviceMethod');
  assert.equal(r.json.queryCondition, "deviceId IN ['core-1']");
});

test('patch the twins of every device matching the query as a job', async () => {
  await page.goto("/#/devices?q=tags.site%20%3D%20'b43'");
  await page.getByTestId('match-count').filter({ hasText: /^2 devices match$/ }).waitFor();
  await page.getByTestId('select-page').check();
  await page.getByTestId('action-patch').click();
  const dlg = page.getByTestId('patch-job-dialog');
  await dlg.getByLabel('Devices').selectOption('query');
  await page.getByTestId('job-patch').fill('{"tags": {"wave": 1}}');
  await page.getByTestId('dialog-submit').click();
  await page.waitForURL(/#\/jobs\/ui-twin-/);
  const jobId = decodeURIComponent(page.url().split('#/jobs/')[1]);
  let r = await hub.req('GET', `/jobs/v2/${encodeURIComponent(jobId)}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'scheduleUpdateTwin');
  assert.equal(r.json.queryCondition, "tags.site = 'b43'");
  for (let i = 0; i < 100; i++) {
    r = await hub.req('GET', `/jobs/v2/${encodeURIComponent(jobId)}`);
    if (r.json.status === 'completed') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(r.json.status, 'completed', r.text);
  for (const id of ['core-1', 'core-2']) assert.equal((await hub.req('GET', `/twins/${id}`)).json.tags.wave, 1, id);
  assert.equal((await hub.req('GET', '/twins/core-3')).json.tags.wave, undefined);
});

test('a dropped event socket reconnects with since= and catches up on what it missed', async () => {
  // The page's event socket goes through Playwright's WebSocket routing, so the test can cut it and
  // hold the reconnection until something happened meanwhile.
  const tab = await openPage(browser, hub);
  const sockets = [];
  let release;
  const held = new Promise((r) => { release = r; });
  await tab.routeWebSocket(/\/devicehub\/events/, async (ws) => {
    sockets.push(ws);
    if (sockets.length === 2) await held;
    ws.connectToServer();
  });
  await login(tab, 'admin', hub.adminPassword);
  await tab.waitForSelector('[data-testid="live-indicator"][data-state="live"]');
  const connected = Number(await tab.getByTestId('tile-connected').textContent());
  assert.doesNotMatch(sockets[0].url(), /since=/, 'the first connection asks for nothing old');
  await sockets[0].close();
  await tab.waitForSelector('[data-testid="live-indicator"]:not([data-state="live"])');
  // While the page is cut off: a device is created and connects.
  const r = await hub.req('PUT', '/devices/catch-1', { deviceId: 'catch-1' });
  assert.equal(r.status, 200, r.text);
  await online('catch-1');
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(Number(await tab.getByTestId('tile-connected').textContent()), connected, 'nothing arrived while cut off');
  release();
  await tab.waitForSelector('[data-testid="live-indicator"][data-state="live"]', { timeout: 15000 });
  assert.match(sockets[1].url(), /[?&]since=\d+/, 'the reconnection asks for what it missed');
  await tab.getByTestId('tile-connected').filter({ hasText: new RegExp(`^${connected + 1}$`) }).waitFor({ timeout: 5000 });
  await tab.getByTestId('event-list').getByText('catch-1').first().waitFor();
  await shot(tab, 'caught-up');
  assert.deepEqual(tab.problems, []);
  await tab.context().close();
});

test('the event socket comes back after the hub restarts and the page catches up', async () => {
  await page.goto('/#/');
  await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]');
  await tile('connected').filter({ hasText: /^[1-9]/ }).waitFor();
  await hub.stop();
  await page.waitForSelector('[data-testid="live-indicator"]:not([data-state="live"])', { timeout: 10000 });
  await shot(page, 'offline');
  await hub.start();
  await page.waitForSelector('[data-testid="live-indicator"][data-state="live"]', { timeout: 40000 });
  // The restarted hub counts events from 1 again: the page refetched, and its devices are gone.
  await tile('connected').filter({ hasText: /^0$/ }).waitFor({ timeout: 5000 });
  await online('core-2');
  await tile('connected').filter({ hasText: /^1$/ }).waitFor({ timeout: 5000 });
  await shot(page, 'back-live');
});

test('logout ends the session and the next visit asks to sign in', async () => {
  await page.goto('/#/');
  await page.getByTestId('user-menu').locator('summary').click();
  await page.getByTestId('logout').click();
  await page.waitForSelector('[data-page="login"]');
  await page.goto('/#/devices');
  await page.waitForSelector('[data-page="login"]');
  await shot(page, 'logged-out');
});
