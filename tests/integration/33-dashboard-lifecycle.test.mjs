// Retiring and replacing devices from the dashboard, and the archive pages, in Debian's Chromium against a
// real devicehubd: an admin retires a device from its page (with a reason) and lands on its archived twin;
// the archive lists and filters retirements; a replace refused because the new id exists keeps its dialog
// open with the hub's message, then a replace succeeds and the successor carries the old tags and desired
// properties; a viewer reads the archive but gets no retire or replace controls; an admin creates an
// enrollment group on the Enrollments page, a device with a key derived from it registers itself and
// shows up live, and disabling the group refuses the next one; a viewer sees no keys. Screenshots in
// tests/screenshots/33-dashboard-lifecycle/; every page passes axe-core's WCAG A/AA rules.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';
import { assertAccessible, launchBrowser, login, openPage, PHONE, screenshotter } from './lib/browser.mjs';

const VIEWER_PASSWORD = 'viewer-password-1234';

let hub;
let browser;
let page;
const shot = screenshotter(import.meta.filename);

before(async () => {
  hub = await startHub();
  for (const id of ['life-1', 'life-2', 'life-taken']) {
    const r = await hub.req('PUT', `/devices/${id}`, { deviceId: id });
    assert.equal(r.status, 200, r.text);
  }
  for (const id of ['life-1', 'life-2']) {
    const p = await hub.req('PATCH', `/twins/${id}`, { tags: { site: 'north', id }, properties: { desired: { interval: 30 } } });
    assert.equal(p.status, 200, p.text);
  }
  // life-1 reports something before it is retired: the archive keeps it.
  const key = (await hub.req('GET', '/devices/life-1')).json.authentication.symmetricKey.primaryKey;
  const c = await connectDevice(hub, 'life-1', { token: deviceToken('life-1', key) });
  assert.ok(c.device, JSON.stringify(c));
  const ack = await c.device.request({ type: 'reported.patch', rid: 'r1', body: { firmware: '1.4.2' } });
  assert.equal(ack.status, 204);
  await c.device.close();
  const v = await hub.req('PUT', '/devicehub/accounts/viewer3', { role: 'viewer', password: VIEWER_PASSWORD });
  assert.equal(v.status, 200, v.text);
  browser = await launchBrowser();
  page = await openPage(browser, hub);
  await login(page, 'admin', hub.adminPassword);
});

after(async () => {
  await browser?.close();
  await hub?.destroy();
});

async function openDevice(p, id) {
  await p.goto(`/#/devices/${id}`);
  await p.waitForSelector('[data-page="device"][data-ready="true"]');
}

test('an admin retires a device from its page and lands on its archived twin', async () => {
  await openDevice(page, 'life-1');
  await page.getByTestId('retire-device').click();
  const dialog = page.getByTestId('retire-dialog');
  await dialog.waitFor();
  await assertAccessible(assert, page, 'retire dialog');
  await dialog.getByTestId('retire-reason').fill('water damage');
  await shot(page, 'retire-dialog');
  await dialog.getByTestId('dialog-submit').click();
  await page.waitForSelector('[data-page="archive-entry"][data-ready="true"]');
  assert.equal(await page.getByTestId('archive-entry-reason').textContent(), 'water damage');
  assert.deepEqual(JSON.parse(await page.getByTestId('archive-tags').textContent()), { site: 'north', id: 'life-1' });
  assert.deepEqual(JSON.parse(await page.getByTestId('archive-desired').textContent()), { interval: 30 });
  assert.deepEqual(JSON.parse(await page.getByTestId('archive-reported').textContent()), { firmware: '1.4.2' });
  assert.equal(await page.locator('[data-nav="archive"][aria-current="page"]').count(), 1, 'the nav marks the archive');
  await shot(page, 'archived-twin');
  await assertAccessible(assert, page, 'archived twin');
  // The hub agrees: no identity, an archive entry with the reason.
  assert.equal((await hub.req('GET', '/devices/life-1')).status, 404);
  assert.equal((await hub.req('GET', '/devicehub/archive/life-1')).json.reason, 'water damage');
});

test('the archive lists retirements and filters them by reason and device id', async () => {
  await page.getByTestId('nav-archive').click();
  await page.waitForSelector('[data-page="archive"][data-ready="true"]');
  await page.locator('[data-testid="archive-row"][data-device-id="life-1"]').waitFor();
  await page.getByTestId('archive-reason').fill('nothing like this');
  await page.getByTestId('archive-apply').click();
  await page.getByText('No archived device matches these filters.').waitFor();
  assert.match(page.url(), /reason=nothing/);
  await page.getByTestId('archive-clear').click();
  await page.getByTestId('archive-device').fill('life-1');
  await page.getByTestId('archive-apply').click();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="archive-row"]')];
    return rows.length === 1 && rows[0].dataset.reason === 'water damage';
  });
  await shot(page, 'archive-list');
  await assertAccessible(assert, page, 'archive');
  // The export link downloads the archive as JSON lines with the session's cookie.
  const href = await page.getByTestId('archive-export').getAttribute('href');
  const lines = await page.evaluate(async (u) => (await fetch(u)).text(), href);
  const entries = lines.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(entries.map((e) => e.deviceId), ['life-1']);
});

test('a replace refused for a taken id keeps its dialog; a replace then moves the twin to the successor', async () => {
  await openDevice(page, 'life-2');
  await page.getByTestId('replace-device').click();
  const dialog = page.getByTestId('replace-dialog');
  await dialog.getByTestId('replace-new-id').fill('life-taken');
  await dialog.getByTestId('retire-reason').fill('hardware swap');
  await dialog.getByTestId('dialog-submit').click();
  await dialog.locator('.form-error').filter({ hasText: /./ }).waitFor();
  assert.match(await dialog.locator('.form-error').textContent(), /life-taken|exist/i);
  assert.equal(await dialog.isVisible(), true, 'the dialog stays open with the error');
  await shot(page, 'replace-refused');
  assert.equal((await hub.req('GET', '/devices/life-2')).status, 200, 'nothing changed');

  await dialog.getByTestId('replace-new-id').fill('life-2b');
  await dialog.getByTestId('dialog-submit').click();
  await page.waitForURL(/#\/devices\/life-2b$/);
  await page.waitForSelector('[data-page="device"][data-ready="true"]');
  assert.deepEqual(JSON.parse(await page.getByTestId('twin-tags').inputValue()), { site: 'north', id: 'life-2' });
  assert.deepEqual(JSON.parse(await page.getByTestId('twin-desired').inputValue()), { interval: 30 });
  await shot(page, 'successor');
  await page.goto('/#/archive/life-2');
  await page.waitForSelector('[data-page="archive-entry"][data-ready="true"]');
  assert.equal(await page.getByTestId('archive-entry-reason').textContent(), 'hardware swap');
  await page.getByTestId('archive-replaced-by').getByRole('link', { name: 'life-2b' }).click();
  await page.waitForURL(/#\/devices\/life-2b$/);
});

test('a viewer reads the archive but has no retire or replace controls', async () => {
  const viewer = await openPage(browser, hub);
  await login(viewer, 'viewer3', VIEWER_PASSWORD);
  await openDevice(viewer, 'life-2b');
  for (const id of ['retire-device', 'replace-device', 'delete-device']) {
    assert.equal(await viewer.getByTestId(id).count(), 0, `${id} is hidden from a viewer`);
  }
  await viewer.goto('/#/archive/life-1');
  await viewer.waitForSelector('[data-page="archive-entry"][data-ready="true"]');
  assert.equal(await viewer.getByTestId('archive-entry-reason').textContent(), 'water damage');
  await viewer.goto('/#/archive/nobody');
  await viewer.getByTestId('archive-not-found').waitFor();
  // The server refuses what the page hides.
  const res = await viewer.evaluate(async () => {
    const s = await (await fetch('/devicehub/session')).json();
    const r = await fetch('/devicehub/devices/life-2b/retire', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken }, body: '{}' });
    return r.status;
  });
  assert.equal(res, 403);
  assert.equal((await hub.req('GET', '/devices/life-2b')).status, 200);
  await viewer.context().close();
});

const derive = (groupKey, id) => createHmac('sha256', Buffer.from(groupKey, 'base64')).update(id).digest('base64');

test('an enrollment group made on the page: a device registers itself live; disabled, it refuses the next', async () => {
  await page.getByTestId('nav-enrollments').click();
  await page.waitForSelector('[data-page="enrollments"][data-ready="true"]');
  await page.getByText('No enrollment groups.', { exact: false }).waitFor();
  await page.getByTestId('new-group').click();
  const dialog = page.getByTestId('enroll-dialog');
  await dialog.getByTestId('enroll-id').fill('plant-a');
  await dialog.getByTestId('enroll-tags').fill('{"site": "plant-a"}');
  await dialog.getByTestId('enroll-desired').fill('{"interval": 60}');
  await assertAccessible(assert, page, 'new enrollment group');
  await dialog.getByTestId('dialog-submit').click();
  const row = page.locator('[data-testid="group-row"][data-id="plant-a"]');
  await row.waitFor();
  assert.equal(await row.getAttribute('data-status'), 'enabled');
  // The key is hidden until asked, and it is the one the hub holds.
  assert.equal(await row.getByTestId('group-key').count(), 0);
  await row.getByTestId('group-toggle-key').click();
  const groupKey = await row.getByTestId('group-key').textContent();
  assert.equal(groupKey, (await hub.req('GET', '/devicehub/enrollment-groups/plant-a')).json.attestation.symmetricKey.primaryKey);

  // A device that holds only its derived key connects: it registers itself and the page shows it live.
  const c = await connectDevice(hub, 'plant-a-001', { token: deviceToken('plant-a-001', derive(groupKey, 'plant-a-001')) });
  assert.ok(c.device, JSON.stringify(c));
  await page.locator('[data-testid="registration-row"][data-device-id="plant-a-001"]').waitFor({ timeout: 5000 });
  assert.match(await page.locator('[data-testid="registration-row"][data-device-id="plant-a-001"]').textContent(), /group plant-a/);
  assert.deepEqual((await hub.req('GET', '/twins/plant-a-001')).json.tags, { site: 'plant-a' });
  await c.device.close();
  await shot(page, 'enrollments');
  await assertAccessible(assert, page, 'enrollments');

  // Disabled: the next device of the group is refused; the one registered keeps its identity.
  await row.getByTestId('group-toggle-status').click();
  await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
  await page.locator('[data-testid="group-row"][data-id="plant-a"][data-status="disabled"]').waitFor();
  const refused = await connectDevice(hub, 'plant-a-002', { token: deviceToken('plant-a-002', derive(groupKey, 'plant-a-002')) });
  assert.ok(!refused.device, 'a disabled group registers nobody');
  assert.equal((await hub.req('GET', '/devices/plant-a-002')).status, 404);
  assert.equal((await hub.req('GET', '/devices/plant-a-001')).status, 200);
  assert.equal((await hub.req('GET', '/devicehub/enrollment-groups/plant-a')).json.attestation.symmetricKey.primaryKey, groupKey,
    'changing the status kept the key');

  // The group's link filters the registrations.
  await row.getByRole('link', { name: 'plant-a' }).click();
  await page.waitForURL(/group=plant-a/);
  await page.locator('[data-testid="registration-row"][data-device-id="plant-a-001"]').waitFor();
});

test('an individual enrollment made on the page: its device registers with the enrollment\'s own key', async () => {
  await page.goto('/#/enrollments');
  await page.waitForSelector('[data-page="enrollments"][data-ready="true"]');
  await page.getByTestId('new-individual').click();
  const dialog = page.getByTestId('enroll-dialog');
  await dialog.getByTestId('enroll-id').fill('solo-1');
  await dialog.getByTestId('enroll-desired').fill('{"mode": "eco"}');
  await dialog.getByTestId('dialog-submit').click();
  const row = page.locator('[data-testid="individual-row"][data-id="solo-1"]');
  await row.waitFor();
  await row.getByTestId('individual-toggle-key').click();
  const key = await row.getByTestId('individual-key').textContent();
  // Creating it again is refused in the dialog instead of replacing it (and its keys).
  await page.getByTestId('new-individual').click();
  await dialog.getByTestId('enroll-id').fill('solo-1');
  await dialog.getByTestId('dialog-submit').click();
  await dialog.locator('.form-error').filter({ hasText: /exists already/ }).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await hub.req('GET', '/devicehub/enrollments/solo-1')).json.attestation.symmetricKey.primaryKey, key);

  const c = await connectDevice(hub, 'solo-1', { token: deviceToken('solo-1', key) });
  assert.ok(c.device, JSON.stringify(c));
  const reg = page.locator('[data-testid="registration-row"][data-device-id="solo-1"]');
  await reg.waitFor({ timeout: 5000 });
  assert.match(await reg.textContent(), /individual enrollment/);
  assert.deepEqual((await hub.req('GET', '/twins/solo-1')).json.properties.desired.mode, 'eco');
  await c.device.close();
});

test('a viewer sees the enrollments without keys or controls', async () => {
  const viewer = await openPage(browser, hub);
  await login(viewer, 'viewer3', VIEWER_PASSWORD);
  await viewer.goto('/#/enrollments');
  await viewer.waitForSelector('[data-page="enrollments"][data-ready="true"]');
  await viewer.locator('[data-testid="group-row"][data-id="plant-a"]').waitFor();
  for (const id of ['new-group', 'new-individual', 'group-toggle-key', 'group-toggle-status', 'group-delete']) {
    assert.equal(await viewer.getByTestId(id).count(), 0, `${id} is hidden from a viewer`);
  }
  const listed = await viewer.evaluate(async () => (await fetch('/devicehub/enrollment-groups')).json());
  assert.equal(listed[0].attestation.symmetricKey.primaryKey ?? null, null, 'the server gives a viewer no key');
  await viewer.context().close();
});

test('the archived twin at phone width', async () => {
  const phone = await openPage(browser, hub, { viewport: PHONE });
  await login(phone, 'admin', hub.adminPassword);
  await phone.goto('/#/archive/life-1');
  await phone.waitForSelector('[data-page="archive-entry"][data-ready="true"]');
  await shot(phone, 'archived-twin-phone');
  await assertAccessible(assert, phone, 'archived twin (phone)');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px)`);
  await phone.context().close();
});
