// Device lifecycle (docs/lifecycle.md): enrollment groups and individual enrollments, self-registration on
// first connect and through the registration endpoint, and retiring / replacing devices into the archive.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { sasToken, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const derive = (groupKey, id) => createHmac('sha256', Buffer.from(groupKey, 'base64')).update(id).digest('base64');
const regToken = (id, key) => sasToken(encodeURIComponent(`${hub.hostname}/registrations/${id}`), key);
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function group(id, extra = {}) {
  const r = await hub.req('PUT', `/devicehub/enrollment-groups/${id}`, {
    initialTwin: { tags: { site: 'north' }, properties: { desired: { interval: 30 } } }, ...extra,
  });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function stats() {
  return (await hub.req('GET', '/statistics/devices')).json.totalDeviceCount;
}

test('a device derives its key from the group key and registers itself on first connect', async () => {
  const g = await group('g1');
  assert.equal(g.provisioningStatus, 'enabled');
  const gk = g.attestation.symmetricKey.primaryKey;
  assert.ok(gk.length >= 40, 'a key was generated');
  const key = derive(gk, 'enr-1');
  const c = await connectDevice(hub, 'enr-1', { token: deviceToken('enr-1', key) });
  assert.ok(c.device, JSON.stringify(c));
  const twin = (await hub.req('GET', '/twins/enr-1')).json;
  assert.equal(twin.tags.site, 'north');
  assert.equal(twin.properties.desired.interval, 30);
  const dev = (await hub.req('GET', '/devices/enr-1')).json;
  assert.equal(dev.authentication.symmetricKey.primaryKey, key, 'the derived key is the device key');
  await c.device.close();
  // It keeps working on the second connect.
  const again = await connectDevice(hub, 'enr-1', { token: deviceToken('enr-1', key) });
  assert.ok(again.device);
  await again.device.close();
  const regs = (await hub.req('GET', '/devicehub/registrations?group=g1')).json;
  assert.equal(regs.length, 1);
  assert.equal(regs[0].deviceId, 'enr-1');
  assert.equal(regs[0].enrollmentGroupId, 'g1');
});

test('the registration endpoint registers a device and records its address', async () => {
  const g = (await hub.req('GET', '/devicehub/enrollment-groups/g1')).json;
  const key = derive(g.attestation.symmetricKey.secondaryKey, 'enr-2');
  const r = await hub.req('PUT', '/devicehub/registrations/enr-2/register', { registrationId: 'enr-2' },
    { auth: regToken('enr-2', key) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { registrationId: 'enr-2', deviceId: 'enr-2', status: 'assigned', assignedHub: hub.hostname });
  const regs = (await hub.req('GET', '/devicehub/registrations')).json;
  const reg = regs.find((x) => x.deviceId === 'enr-2');
  assert.equal(reg.sourceAddress, '127.0.0.1');
  assert.equal(reg.enrollmentGroupId, 'g1');
  assert.ok(Date.parse(reg.createdTime) > 0);
  const c = await connectDevice(hub, 'enr-2', { token: deviceToken('enr-2', key) });
  assert.ok(c.device, 'the derived key works on the device channel');
  await c.device.close();
  const wrong = await hub.req('PUT', '/devicehub/registrations/enr-3/register', {}, { auth: regToken('enr-3', key) });
  assert.equal(wrong.status, 401);
});

test('a wrong group key is refused and registers nothing', async () => {
  const before = await stats();
  const bogus = randomBytes(32).toString('base64');
  const c = await connectDevice(hub, 'enr-bad', { token: deviceToken('enr-bad', derive(bogus, 'enr-bad')) });
  assert.equal(c.status, 401);
  assert.equal((await hub.req('GET', '/devices/enr-bad')).status, 404);
  assert.equal(await stats(), before);
});

test('a disabled group stops new registrations', async () => {
  const g = await group('g2', { provisioningStatus: 'disabled' });
  const key = derive(g.attestation.symmetricKey.primaryKey, 'enr-off');
  assert.equal((await connectDevice(hub, 'enr-off', { token: deviceToken('enr-off', key) })).status, 401);
  const r = await hub.req('PUT', '/devicehub/registrations/enr-off/register', {}, { auth: regToken('enr-off', key) });
  assert.equal(r.status, 401);
  assert.equal((await hub.req('GET', '/devices/enr-off')).status, 404);
  const list = (await hub.req('GET', '/devicehub/enrollment-groups')).json;
  assert.deepEqual(list.map((x) => x.enrollmentGroupId).sort(), ['g1', 'g2']);
});

test('enrollment validation', async () => {
  const bad = await hub.req('PUT', '/devicehub/enrollment-groups/g3', { provisioningStatus: 'maybe' });
  assert.equal(bad.status, 400);
  const badKey = await hub.req('PUT', '/devicehub/enrollment-groups/g3',
    { attestation: { symmetricKey: { primaryKey: 'not base64!' } } });
  assert.equal(badKey.status, 400);
  assert.equal((await hub.req('GET', '/devicehub/enrollment-groups/g3')).status, 404);
  assert.equal((await hub.req('GET', '/devicehub/enrollment-groups', undefined, { auth: null })).status, 401);
});

test('an individual enrollment registers its device with its own key', async () => {
  const key = randomBytes(32).toString('base64');
  const r = await hub.req('PUT', '/devicehub/enrollments/ind-1', {
    attestation: { symmetricKey: { primaryKey: key } }, initialTwin: { tags: { kind: 'single' } },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.attestation.symmetricKey.primaryKey, key);
  const c = await connectDevice(hub, 'ind-1', { token: deviceToken('ind-1', key) });
  assert.ok(c.device, JSON.stringify(c));
  await c.device.close();
  assert.equal((await hub.req('GET', '/twins/ind-1')).json.tags.kind, 'single');
  const reg = (await hub.req('GET', '/devicehub/registrations')).json.find((x) => x.deviceId === 'ind-1');
  assert.equal(reg.enrollmentGroupId, null);
  assert.equal((await hub.req('DELETE', '/devicehub/enrollments/ind-1')).status, 204);
  assert.equal((await hub.req('GET', '/devicehub/enrollments/ind-1')).status, 404);
});

test('retiring closes the live connection, archives the twin and keeps the device out', async () => {
  const g = (await hub.req('GET', '/devicehub/enrollment-groups/g1')).json;
  const key = derive(g.attestation.symmetricKey.primaryKey, 'enr-1');
  const c = await connectDevice(hub, 'enr-1', { token: deviceToken('enr-1', key) });
  assert.ok(c.device);
  const before = await stats();
  const r = await hub.req('POST', '/devicehub/devices/enr-1/retire', { reason: 'broken' });
  assert.equal(r.status, 200, r.text);
  assert.equal((await c.device.closed).code, 4003);
  assert.equal(await stats(), before - 1);
  assert.equal((await hub.req('GET', '/devices/enr-1')).status, 404);
  // Neither its key nor its group's derived key gets it back in.
  assert.equal((await connectDevice(hub, 'enr-1', { token: deviceToken('enr-1', key) })).status, 401);
  const a = (await hub.req('GET', '/devicehub/archive/enr-1')).json;
  assert.equal(a.reason, 'broken');
  assert.ok(Date.parse(a.retiredTime) > 0);
  assert.equal(a.twin.tags.site, 'north');
  assert.equal(a.twin.identity.authentication, undefined, 'no keys in the archive');
  const byReason = (await hub.req('GET', '/devicehub/archive?reason=broken')).json;
  assert.deepEqual(byReason.map((x) => x.deviceId), ['enr-1']);
  assert.equal((await hub.req('POST', '/devicehub/devices/nobody/retire', {})).status, 404);
});

test('replacing moves tags and desired to the new identity and retires the old one', async () => {
  const put = await hub.req('PUT', '/devices/old-1', { deviceId: 'old-1' });
  assert.equal(put.status, 200);
  await hub.req('PATCH', '/twins/old-1', { tags: { room: 7 }, properties: { desired: { mode: 'eco' } } });
  const r = await hub.req('POST', '/devicehub/devices/old-1/replace', { newDeviceId: 'new-1', reason: 'swap' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.device.deviceId, 'new-1');
  assert.ok(r.json.device.authentication.symmetricKey.primaryKey);
  const twin = (await hub.req('GET', '/twins/new-1')).json;
  assert.equal(twin.tags.room, 7);
  assert.equal(twin.properties.desired.mode, 'eco');
  const a = (await hub.req('GET', '/devicehub/archive/old-1')).json;
  assert.equal(a.replacedBy, 'new-1');
  assert.equal(a.reason, 'swap');
  assert.equal((await hub.req('GET', '/devices/old-1')).status, 404);
  const exists = await hub.req('POST', '/devicehub/devices/new-1/replace', { newDeviceId: 'enr-2' });
  assert.equal(exists.status, 409);
  assert.equal((await hub.req('GET', '/devices/new-1')).status, 200, 'a failed replace changes nothing');
});

test('the archive exports as JSON lines and purges', async () => {
  const ex = await hub.req('GET', '/devicehub/archive/export');
  assert.equal(ex.status, 200);
  const lines = ex.text.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((x) => x.deviceId), ['enr-1', 'old-1']);
  assert.equal((await hub.req('GET', '/devicehub/archive?top=1&skip=1')).json[0].deviceId, 'old-1');
  const keep = await hub.req('DELETE', '/devicehub/archive?olderThanDays=30');
  assert.equal(keep.json.purged, 0);
  await delay(5);
  const purge = await hub.req('DELETE', '/devicehub/archive?olderThanDays=0');
  assert.equal(purge.status, 200, purge.text);
  assert.equal(purge.json.purged, 2);
  assert.deepEqual((await hub.req('GET', '/devicehub/archive')).json, []);
  assert.equal((await hub.req('DELETE', '/devicehub/archive?olderThanDays=x')).status, 400);
});

test('--archive-retention-days purges older archived twins when another device retires', async () => {
  const h = await startHub({ args: ['--archive-retention-days', '1', '--test-clock', '1'] });
  try {
    for (const id of ['ret-a', 'ret-b']) assert.equal((await h.req('PUT', `/devices/${id}`, { deviceId: id })).status, 200);
    assert.equal((await h.req('POST', '/devicehub/devices/ret-a/retire', { reason: 'old' })).status, 200);
    assert.equal((await h.req('PUT', '/devicehub/clock', { offsetMs: 2 * 24 * 3600 * 1000 })).status, 200);
    assert.equal((await h.req('POST', '/devicehub/devices/ret-b/retire', { reason: 'new' })).status, 200);
    const left = (await h.req('GET', '/devicehub/archive')).json;
    assert.deepEqual(left.map((x) => x.deviceId), ['ret-b']);
  } finally {
    await h.destroy();
  }
});
