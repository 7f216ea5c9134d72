// Identity registry: devices, modules, bulk, statistics (reference §1.1-§1.3, §5 id rules).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, sdkDevice, startHub } from './lib/hub.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const enc = encodeURIComponent;
const NEVER = '0001-01-01T00:00:00Z';
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const ANY = { headers: { 'If-Match': '"*"' } };
const ifMatch = (etag) => ({ headers: { 'If-Match': `"${etag}"` } });

function assertKey(k) {
  assert.equal(typeof k, 'string');
  assert.equal(Buffer.from(k, 'base64').length, 32, `key ${k} is not base64 of 32 bytes`);
  assert.equal(Buffer.from(k, 'base64').toString('base64'), k);
}

async function deviceCount() {
  const r = await hub.req('GET', '/devices?top=1000');
  assert.equal(r.status, 200);
  return r.json.length;
}

test('create with empty keys: 200, generated 32-byte keys, etag, generationId, defaults', async () => {
  const r = await hub.req('PUT', '/devices/reg-1', sdkDevice('reg-1'));
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const d = r.json;
  assert.equal(d.deviceId, 'reg-1');
  assert.equal(d.etag, 'MA==');
  assert.equal(r.headers.get('etag'), '"MA=="');
  assert.match(d.generationId, /^\d{15,}$/);
  assert.equal(d.status, 'enabled');
  assert.equal(d.statusReason, null);
  assert.equal(d.statusUpdatedTime, NEVER);
  assert.equal(d.connectionState, 'Disconnected');
  assert.equal(d.connectionStateUpdatedTime, NEVER);
  assert.equal(d.lastActivityTime, NEVER);
  assert.equal(d.cloudToDeviceMessageCount, 0);
  assert.equal(d.authentication.type, 'sas');
  assertKey(d.authentication.symmetricKey.primaryKey);
  assertKey(d.authentication.symmetricKey.secondaryKey);
  assert.notEqual(d.authentication.symmetricKey.primaryKey, d.authentication.symmetricKey.secondaryKey);
  assert.deepEqual(d.authentication.x509Thumbprint, { primaryThumbprint: null, secondaryThumbprint: null });
  assert.deepEqual(d.capabilities, { iotEdge: false });
  assert.equal(d.deviceScope, null);
  assert.deepEqual(d.parentScopes, []);

  const g = await hub.req('GET', '/devices/reg-1');
  assert.equal(g.status, 200);
  assert.deepEqual(g.json, d);
  assert.equal(g.headers.get('etag'), '"MA=="');
});

test('duplicate create: 409 DeviceAlreadyExists, keys unchanged', async () => {
  const before = (await hub.req('GET', '/devices/reg-1')).json;
  const r = await hub.req('PUT', '/devices/reg-1', sdkDevice('reg-1', { status: 'disabled' }));
  const msg = assertHubError(assert, r, 409, 'DeviceAlreadyExists');
  assert.match(msg, /reg-1/);
  assert.deepEqual((await hub.req('GET', '/devices/reg-1')).json, before);
});

test('replace with If-Match "*", with the current etag, and 412 with a stale etag', async () => {
  const created = (await hub.req('PUT', '/devices/reg-2', sdkDevice('reg-2'))).json;
  const keys = created.authentication.symmetricKey;

  const r1 = await hub.req('PUT', '/devices/reg-2',
    { deviceId: 'reg-2', status: 'disabled', statusReason: 'maintenance', authentication: { type: 'sas', symmetricKey: keys } }, ANY);
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json.status, 'disabled');
  assert.equal(r1.json.statusReason, 'maintenance');
  assert.notEqual(r1.json.etag, created.etag);
  assert.equal(r1.headers.get('etag'), `"${r1.json.etag}"`);
  assert.equal(r1.json.generationId, created.generationId);
  assert.deepEqual(r1.json.authentication.symmetricKey, keys);

  const r2 = await hub.req('PUT', '/devices/reg-2',
    { deviceId: 'reg-2', status: 'enabled', authentication: { type: 'sas', symmetricKey: keys } }, ifMatch(r1.json.etag));
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.json.status, 'enabled');
  assert.equal(r2.json.statusReason, null);
  assert.notEqual(r2.json.etag, r1.json.etag);

  const stale = await hub.req('PUT', '/devices/reg-2',
    { deviceId: 'reg-2', status: 'disabled', statusReason: 'stale', authentication: { type: 'sas', symmetricKey: keys } }, ifMatch(r1.json.etag));
  assertHubError(assert, stale, 412, 'PreconditionFailed');
  assert.deepEqual((await hub.req('GET', '/devices/reg-2')).json, r2.json);
});

test('replace of an absent device with If-Match: 404 DeviceNotFound, nothing created', async () => {
  const r = await hub.req('PUT', '/devices/reg-absent', sdkDevice('reg-absent'), ANY);
  assertHubError(assert, r, 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('GET', '/devices/reg-absent'), 404, 'DeviceNotFound');
});

test('deviceId in the body must match the path', async () => {
  const r = await hub.req('PUT', '/devices/reg-path', sdkDevice('reg-other'));
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('GET', '/devices/reg-path'), 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('GET', '/devices/reg-other'), 404, 'DeviceNotFound');
});

test('concurrent creates of one id: exactly one 200, the rest 409', async () => {
  const rs = await Promise.all(Array.from({ length: 10 }, () => hub.req('PUT', '/devices/reg-race', sdkDevice('reg-race'))));
  const ok = rs.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, rs.map((r) => r.status).join(','));
  for (const r of rs.filter((x) => x.status !== 200)) assertHubError(assert, r, 409, 'DeviceAlreadyExists');
  assert.deepEqual((await hub.req('GET', '/devices/reg-race')).json, ok[0].json);
});

test('GET of an absent device: 404 DeviceNotFound', async () => {
  assertHubError(assert, await hub.req('GET', '/devices/nope'), 404, 'DeviceNotFound');
});

test('DELETE with If-Match "*": 204 empty; stale etag 412; absent 404; re-create gets a new generationId', async () => {
  const c = (await hub.req('PUT', '/devices/reg-del', sdkDevice('reg-del'))).json;
  const upd = (await hub.req('PUT', '/devices/reg-del', { ...c, status: 'disabled' }, ANY)).json;
  assertHubError(assert, await hub.req('DELETE', '/devices/reg-del', undefined, ifMatch(c.etag)), 412, 'PreconditionFailed');
  assert.equal((await hub.req('GET', '/devices/reg-del')).status, 200);

  const d = await hub.req('DELETE', '/devices/reg-del', undefined, ANY);
  assert.equal(d.status, 204);
  assert.equal(d.text, '');
  assertHubError(assert, await hub.req('GET', '/devices/reg-del'), 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('DELETE', '/devices/reg-del', undefined, ANY), 404, 'DeviceNotFound');

  const again = (await hub.req('PUT', '/devices/reg-del', sdkDevice('reg-del'))).json;
  assert.notEqual(again.generationId, c.generationId);
  assert.equal(again.status, 'enabled');
  assert.notDeepEqual(again.authentication.symmetricKey, upd.authentication.symmetricKey);
  const d2 = await hub.req('DELETE', '/devices/reg-del', undefined, ifMatch(again.etag));
  assert.equal(d2.status, 204);
});

test('list: GET /devices/ (trailing slash) and ?top=N', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await hub.req('PUT', `/devices/list-${i}`, sdkDevice(`list-${i}`));
    assert.equal(r.status, 200);
  }
  const all = await hub.req('GET', '/devices/');
  assert.equal(all.status, 200);
  assert.ok(Array.isArray(all.json));
  const ids = all.json.map((d) => d.deviceId);
  for (let i = 0; i < 5; i++) assert.ok(ids.includes(`list-${i}`), `list-${i} missing from ${ids}`);
  assert.equal(new Set(ids).size, ids.length, 'a device is listed twice');
  for (const d of all.json) {
    assert.equal(typeof d.etag, 'string');
    assert.ok(d.authentication, 'list entries are full identities');
  }
  const noSlash = await hub.req('GET', '/devices');
  assert.deepEqual(noSlash.json.map((d) => d.deviceId).sort(), [...ids].sort());

  const top = await hub.req('GET', '/devices?top=3');
  assert.equal(top.status, 200);
  assert.equal(top.json.length, 3);
  const top1 = await hub.req('GET', '/devices/?top=1');
  assert.equal(top1.json.length, 1);
  // top outside 1..1000 means 1000
  assert.equal((await hub.req('GET', '/devices?top=0')).json.length, ids.length);
  assert.equal((await hub.req('GET', '/devices?top=5000')).json.length, ids.length);
});

test('ids with characters that need percent-encoding round-trip', async () => {
  for (const id of ["a:b@c$d'e", 'x%y', 'p(q)*r!s,t=u?v', 'A.B-C_D']) {
    const r = await hub.req('PUT', `/devices/${enc(id)}`, sdkDevice(id));
    assert.equal(r.status, 200, `${id}: ${r.text}`);
    assert.equal(r.json.deviceId, id);
    const g = await hub.req('GET', `/devices/${enc(id)}`);
    assert.equal(g.status, 200, `${id}: ${g.text}`);
    assert.equal(g.json.deviceId, id);
    const t = await hub.req('GET', `/twins/${enc(id)}`);
    assert.equal(t.status, 200);
    assert.equal(t.json.deviceId, id);
    assert.ok((await hub.req('GET', '/devices?top=1000')).json.some((d) => d.deviceId === id));
  }
  // ids are case-sensitive
  assertHubError(assert, await hub.req('GET', '/devices/a.b-c_d'), 404, 'DeviceNotFound');
});

test('invalid ids: 400 ArgumentInvalid and nothing stored', async () => {
  const countBefore = await deviceCount();
  const bad = ['x'.repeat(129), 'a#b', 'a+b', 'dev 1', 'caf\u00e9', 'a/b', 'a"b', 'a<b', 'a\\b', '\u0001'];
  for (const id of bad) {
    const r = await hub.req('PUT', `/devices/${enc(id)}`, sdkDevice(id));
    assertHubError(assert, r, 400, 'ArgumentInvalid');
  }
  // an encoded '/' is part of the id, not a separator
  assertHubError(assert, await hub.req('PUT', '/devices/a%2Fb', sdkDevice('a/b')), 400, 'ArgumentInvalid');
  // 128 characters is the longest valid id
  const longest = 'y'.repeat(128);
  const ok = await hub.req('PUT', `/devices/${longest}`, sdkDevice(longest));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(await deviceCount(), countBefore + 1);
  const ids = (await hub.req('GET', '/devices?top=1000')).json.map((d) => d.deviceId);
  for (const id of bad) assert.ok(!ids.includes(id), `${id} was stored`);
});

test('given keys are kept; invalid keys are 400 and nothing is stored', async () => {
  const primaryKey = Buffer.alloc(32, 1).toString('base64');
  const secondaryKey = Buffer.alloc(16, 2).toString('base64');
  const r = await hub.req('PUT', '/devices/keys-1',
    { deviceId: 'keys-1', authentication: { type: 'sas', symmetricKey: { primaryKey, secondaryKey } } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.authentication.symmetricKey, { primaryKey, secondaryKey });
  // only one key given: the other is generated
  const one = await hub.req('PUT', '/devices/keys-2',
    { deviceId: 'keys-2', authentication: { type: 'sas', symmetricKey: { primaryKey, secondaryKey: '' } } });
  assert.equal(one.status, 200);
  assert.equal(one.json.authentication.symmetricKey.primaryKey, primaryKey);
  assertKey(one.json.authentication.symmetricKey.secondaryKey);

  for (const badKey of ['not base64!!', Buffer.alloc(8).toString('base64'), Buffer.alloc(65).toString('base64'), 42]) {
    const b = await hub.req('PUT', '/devices/keys-bad',
      { deviceId: 'keys-bad', authentication: { type: 'sas', symmetricKey: { primaryKey: badKey, secondaryKey: '' } } });
    const msg = assertHubError(assert, b, 400, 'ArgumentInvalid');
    assert.match(msg, /primaryKey/);
  }
  assertHubError(assert, await hub.req('GET', '/devices/keys-bad'), 404, 'DeviceNotFound');
  // an invalid key on replace leaves the stored identity as it was
  const bad = await hub.req('PUT', '/devices/keys-1',
    { deviceId: 'keys-1', authentication: { type: 'sas', symmetricKey: { primaryKey: 'zz', secondaryKey } } }, ANY);
  assertHubError(assert, bad, 400, 'ArgumentInvalid');
  assert.deepEqual((await hub.req('GET', '/devices/keys-1')).json, r.json);
});

test('x509 thumbprints only: type selfSigned, no symmetric keys', async () => {
  const primaryThumbprint = 'A'.repeat(40);
  const secondaryThumbprint = 'b'.repeat(64);
  const r = await hub.req('PUT', '/devices/x509-1',
    { deviceId: 'x509-1', authentication: { x509Thumbprint: { primaryThumbprint, secondaryThumbprint } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.authentication.type, 'selfSigned');
  assert.deepEqual(r.json.authentication.x509Thumbprint, { primaryThumbprint, secondaryThumbprint });
  assert.deepEqual(r.json.authentication.symmetricKey, { primaryKey: null, secondaryKey: null });
  const bad = await hub.req('PUT', '/devices/x509-2',
    { deviceId: 'x509-2', authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'xyz' } } });
  assertHubError(assert, bad, 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('GET', '/devices/x509-2'), 404, 'DeviceNotFound');
});

test('status disabled/enabled with statusReason and statusUpdatedTime', async () => {
  const t0 = Date.now();
  const r = await hub.req('PUT', '/devices/st-1', sdkDevice('st-1', { status: 'disabled', statusReason: 'not yet' }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'disabled');
  assert.equal(r.json.statusReason, 'not yet');
  assert.match(r.json.statusUpdatedTime, ISO_MS);
  const t1 = Date.parse(r.json.statusUpdatedTime);
  assert.ok(t1 >= t0 - 2000 && t1 <= Date.now() + 2000, `statusUpdatedTime ${r.json.statusUpdatedTime}`);

  await new Promise((res) => setTimeout(res, 20));
  const e = await hub.req('PUT', '/devices/st-1', { ...r.json, status: 'enabled', statusReason: null }, ANY);
  assert.equal(e.status, 200, e.text);
  assert.equal(e.json.status, 'enabled');
  assert.equal(e.json.statusReason, null);
  assert.ok(Date.parse(e.json.statusUpdatedTime) > t1, 'statusUpdatedTime moves when the status changes');
  // the twin shows the same status
  assert.equal((await hub.req('GET', '/twins/st-1')).json.status, 'enabled');

  const bad = await hub.req('PUT', '/devices/st-1', { ...e.json, status: 'sleeping' }, ANY);
  assertHubError(assert, bad, 400, 'ArgumentInvalid');
  const long = await hub.req('PUT', '/devices/st-1', { ...e.json, statusReason: 'r'.repeat(129) }, ANY);
  assertHubError(assert, long, 400, 'ArgumentInvalid');
  assert.deepEqual((await hub.req('GET', '/devices/st-1')).json, e.json);
  // the 128 limit counts characters, not UTF-8 bytes
  const max = await hub.req('PUT', '/devices/st-2', sdkDevice('st-2', { statusReason: 'r'.repeat(128) }));
  assert.equal(max.status, 200, max.text);
  const accents = await hub.req('PUT', '/devices/st-3', sdkDevice('st-3', { statusReason: 'é'.repeat(100) }));
  assert.equal(accents.status, 200, accents.text);
  assert.equal(accents.json.statusReason, 'é'.repeat(100));
});

test('modules: create 201, duplicate 409, replace 200, list, get, delete', async () => {
  assert.equal((await hub.req('PUT', '/devices/mod-dev', sdkDevice('mod-dev'))).status, 200);
  const c = await hub.req('PUT', '/devices/mod-dev/modules/m1', { deviceId: 'mod-dev', moduleId: 'm1', authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } } });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.deviceId, 'mod-dev');
  assert.equal(c.json.moduleId, 'm1');
  assert.equal(c.json.managedBy, null);
  assert.equal(c.headers.get('etag'), `"${c.json.etag}"`);
  assertKey(c.json.authentication.symmetricKey.primaryKey);
  assert.equal(c.json.status, undefined, 'modules have no status');
  assert.equal(c.json.capabilities, undefined, 'modules have no capabilities');

  const dup = await hub.req('PUT', '/devices/mod-dev/modules/m1', { moduleId: 'm1' });
  assertHubError(assert, dup, 409, 'ModuleAlreadyExistsOnDevice');

  const rep = await hub.req('PUT', '/devices/mod-dev/modules/m1', { ...c.json, managedBy: 'edge' }, ifMatch(c.json.etag));
  assert.equal(rep.status, 200, rep.text);
  assert.equal(rep.json.managedBy, 'edge');
  assert.deepEqual(rep.json.authentication.symmetricKey, c.json.authentication.symmetricKey);
  assertHubError(assert, await hub.req('PUT', '/devices/mod-dev/modules/m1', { moduleId: 'm1' }, ifMatch(c.json.etag)), 412, 'PreconditionFailed');

  assert.equal((await hub.req('PUT', '/devices/mod-dev/modules/m2', { moduleId: 'm2' })).status, 201);
  const list = await hub.req('GET', '/devices/mod-dev/modules');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.map((m) => m.moduleId).sort(), ['m1', 'm2']);
  assert.deepEqual(list.json.find((m) => m.moduleId === 'm1'), rep.json);

  const g = await hub.req('GET', '/devices/mod-dev/modules/m1');
  assert.equal(g.status, 200);
  assert.deepEqual(g.json, rep.json);
  // the device list shows devices only
  assert.ok(!(await hub.req('GET', '/devices?top=1000')).json.some((d) => d.moduleId));

  const del = await hub.req('DELETE', '/devices/mod-dev/modules/m2', undefined, ANY);
  assert.equal(del.status, 204);
  assertHubError(assert, await hub.req('GET', '/devices/mod-dev/modules/m2'), 404, 'ModuleNotFound');
  assert.deepEqual((await hub.req('GET', '/devices/mod-dev/modules')).json.map((m) => m.moduleId), ['m1']);
  assert.equal((await hub.req('GET', '/devices/mod-dev')).status, 200, 'deleting a module keeps the device');
});

test('modules of a missing device: 404', async () => {
  assertHubError(assert, await hub.req('PUT', '/devices/no-dev/modules/m1', { moduleId: 'm1' }), 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('GET', '/devices/no-dev/modules'), 404, 'DeviceNotFound');
  const g = await hub.req('GET', '/devices/no-dev/modules/m1');
  assert.equal(g.status, 404);
  assertHubError(assert, await hub.req('PUT', '/devices/mod-dev/modules/bad%23id', { moduleId: 'bad#id' }), 400, 'ArgumentInvalid');
});

test('deleting a device deletes its modules', async () => {
  assert.equal((await hub.req('PUT', '/devices/mod-gone', sdkDevice('mod-gone'))).status, 200);
  assert.equal((await hub.req('PUT', '/devices/mod-gone/modules/ma', { moduleId: 'ma' })).status, 201);
  assert.equal((await hub.req('PUT', '/devices/mod-gone/modules/mb', { moduleId: 'mb' })).status, 201);
  assert.equal((await hub.req('DELETE', '/devices/mod-gone', undefined, ANY)).status, 204);
  assert.equal((await hub.req('GET', '/devices/mod-gone/modules/ma')).status, 404);
  assert.equal((await hub.req('GET', '/twins/mod-gone/modules/ma')).status, 404);
  // a new device with the same id starts without modules
  assert.equal((await hub.req('PUT', '/devices/mod-gone', sdkDevice('mod-gone'))).status, 200);
  const list = await hub.req('GET', '/devices/mod-gone/modules');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json, []);
  assertHubError(assert, await hub.req('GET', '/devices/mod-gone/modules/mb'), 404, 'ModuleNotFound');
});

test('bulk: 100 creates → 200 isSuccessful', async () => {
  const body = Array.from({ length: 100 }, (_, i) => ({
    id: `bulk-${i}`, importMode: 'create', status: 'enabled',
    authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
  }));
  const r = await hub.req('POST', '/devices', body);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { isSuccessful: true, errors: [], warnings: [] });
  for (const i of [0, 57, 99]) {
    const g = await hub.req('GET', `/devices/bulk-${i}`);
    assert.equal(g.status, 200);
    assertKey(g.json.authentication.symmetricKey.primaryKey);
  }
});

test('bulk: mixed-case importMode, lower-case etag, a failure among successes', async () => {
  const b2 = (await hub.req('GET', '/devices/bulk-2')).json;
  const b3 = (await hub.req('GET', '/devices/bulk-3')).json;
  const body = [
    { id: 'bulk-1', importMode: 'Update', status: 'disabled', statusReason: 'bulk' },
    { id: 'bulk-2', importMode: 'DeleteIfMatchETag', etag: b2.etag },
    { id: 'bulk-4', importMode: 'create' }, // exists: fails
    { id: 'bulk-new', importMode: 'CREATE', tags: { bulk: true }, properties: { desired: { d: 1 } } },
    { id: 'bulk-3', importMode: 'UpdateIfMatchETag', etag: 'c3RhbGU=', status: 'disabled' }, // stale: fails
    { id: 'bulk-5', importMode: 'Delete' },
  ];
  const r = await hub.req('POST', '/devices', body);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.isSuccessful, false);
  assert.deepEqual(r.json.warnings, []);
  assert.equal(r.json.errors.length, 2, r.text);
  const [e1, e2] = r.json.errors;
  assert.deepEqual(Object.keys(e1).sort(), ['deviceId', 'errorCode', 'errorStatus', 'moduleId', 'operation']);
  assert.equal(e1.deviceId, 'bulk-4');
  assert.equal(e1.errorCode, 'DeviceAlreadyExists');
  assert.equal(typeof e1.errorStatus, 'string');
  assert.ok(e1.errorStatus.length > 0);
  assert.equal(e1.moduleId, null);
  assert.match(e1.operation, /^create$/i);
  assert.equal(e2.deviceId, 'bulk-3');
  assert.equal(e2.errorCode, 'PreconditionFailed');

  const b1 = (await hub.req('GET', '/devices/bulk-1')).json;
  assert.equal(b1.status, 'disabled');
  assert.equal(b1.statusReason, 'bulk');
  assertHubError(assert, await hub.req('GET', '/devices/bulk-2'), 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('GET', '/devices/bulk-5'), 404, 'DeviceNotFound');
  assert.deepEqual((await hub.req('GET', '/devices/bulk-3')).json, b3);
  const tw = (await hub.req('GET', '/twins/bulk-new')).json;
  assert.deepEqual(tw.tags, { bulk: true });
  assert.equal(tw.properties.desired.d, 1);
});

test('bulk: DeleteIfMatchETag with a stale etag fails and keeps the device', async () => {
  const r = await hub.req('POST', '/devices', [{ id: 'bulk-6', importMode: 'deleteIfMatchETag', eTag: 'c3RhbGU=' }]);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.isSuccessful, false);
  assert.equal(r.json.errors[0].errorCode, 'PreconditionFailed');
  assert.equal((await hub.req('GET', '/devices/bulk-6')).status, 200);
});

test('bulk: duplicate ids → 400 DeviceDefinedMultipleTimes, nothing applied', async () => {
  const before = await deviceCount();
  const r = await hub.req('POST', '/devices', [
    { id: 'dup-new', importMode: 'create' },
    { id: 'bulk-7', importMode: 'delete' },
    { id: 'dup-new', importMode: 'create' },
  ]);
  assertHubError(assert, r, 400, 'DeviceDefinedMultipleTimes');
  assert.equal(await deviceCount(), before);
  assert.equal((await hub.req('GET', '/devices/dup-new')).status, 404);
  assert.equal((await hub.req('GET', '/devices/bulk-7')).status, 200);
});

test('bulk: 101 entries → 400, nothing applied; empty or non-array → 400', async () => {
  const before = await deviceCount();
  const body = Array.from({ length: 101 }, (_, i) => ({ id: `over-${i}`, importMode: 'create' }));
  assertHubError(assert, await hub.req('POST', '/devices', body), 400, 'ArgumentInvalid');
  assert.equal(await deviceCount(), before);
  assertHubError(assert, await hub.req('POST', '/devices', []), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('POST', '/devices', { id: 'x', importMode: 'create' }), 400, 'ArgumentInvalid');
  const badMode = await hub.req('POST', '/devices', [{ id: 'mode-x', importMode: 'explode' }]);
  assert.equal(badMode.status, 400);
  assert.equal((await hub.req('GET', '/devices/mode-x')).status, 404);
  assert.equal(await deviceCount(), before);
});

test('statistics/devices counts and statistics/service', async () => {
  const list = (await hub.req('GET', '/devices?top=1000')).json;
  const enabled = list.filter((d) => d.status === 'enabled').length;
  const s = await hub.req('GET', '/statistics/devices');
  assert.equal(s.status, 200);
  assert.deepEqual(s.json, { totalDeviceCount: list.length, enabledDeviceCount: enabled, disabledDeviceCount: list.length - enabled });
  assert.ok(list.length - enabled >= 1, 'earlier tests left disabled devices');

  assert.equal((await hub.req('PUT', '/devices/stat-off', sdkDevice('stat-off', { status: 'disabled' }))).status, 200);
  assert.equal((await hub.req('PUT', '/devices/stat-off/modules/m', { moduleId: 'm' })).status, 201);
  const s2 = (await hub.req('GET', '/statistics/devices')).json;
  assert.deepEqual(s2, { totalDeviceCount: list.length + 1, enabledDeviceCount: enabled, disabledDeviceCount: list.length - enabled + 1 });

  const svc = await hub.req('GET', '/statistics/service');
  assert.equal(svc.status, 200);
  assert.deepEqual(svc.json, { connectedDeviceCount: 0 });
});
