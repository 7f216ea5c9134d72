// The device channel: `devicehub.v1` over WebSocket (docs/device-protocol.md) against a real devicehubd:
// handshake auth, twin get / reported / desired, errors that keep the session, limits, eviction, kicks,
// and direct methods end to end through the REST API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sasToken, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

async function newDevice(id, extra) {
  const r = await hub.req('PUT', `/devices/${encodeURIComponent(id)}`, sdkDevice(id, extra));
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// Creates a device and connects it with its primary key.
async function online(id) {
  const dev = await newDevice(id);
  const c = await connectDevice(hub, id, { token: deviceToken(id, dev.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, `connect failed: ${JSON.stringify(c)}`);
  return { dev, ...c };
}

const getDevice = async (id) => (await hub.req('GET', `/devices/${encodeURIComponent(id)}`)).json;
const getTwin = async (id) => (await hub.req('GET', `/twins/${encodeURIComponent(id)}`)).json;
// Direct-method errors use IoT Hub's newer envelope {errorCode, trackingId, message, info, timestampUtc},
// which for 404s the hub nests as a string in the legacy Message (reference §1.0).
function assertMethodError(res, status, name, number) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers.get('iothub-errorcode'), name);
  const env = typeof res.json?.Message === 'string' ? JSON.parse(res.json.Message) : res.json;
  assert.equal(env?.errorCode, number, res.text);
  assert.equal(typeof env.message, 'string');
}
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, what, ms = 2000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

test('a device connects with its primary key: hello, then Connected in the registry', async () => {
  const { device, hello } = await online('dc-1');
  assert.deepEqual(hello.type, 'hello');
  assert.equal(hello.protocol, 'devicehub.v1');
  assert.equal(hello.deviceId, 'dc-1');
  assert.equal(hello.moduleId, undefined);
  assert.equal(hello.desiredVersion, 1);
  assert.equal(hello.reportedVersion, 1);
  assert.equal(device.ws.protocol, 'devicehub.v1');
  await waitFor(async () => (await getDevice('dc-1')).connectionState === 'Connected', 'Connected');
  await device.close();
  await waitFor(async () => (await getDevice('dc-1')).connectionState === 'Disconnected', 'Disconnected');
});

test('secondary key, a device-policy token and ?authorization= all connect', async () => {
  const dev = await newDevice('dc-2');
  const { secondaryKey } = dev.authentication.symmetricKey;
  const a = await connectDevice(hub, 'dc-2', { token: deviceToken('dc-2', secondaryKey) });
  assert.equal(a.hello?.deviceId, 'dc-2', JSON.stringify(a));
  await a.device.close();

  const policies = await hub.policies();
  const policyToken = sasToken('testhub.local', policies.device.primaryKey, 'device');
  const b = await connectDevice(hub, 'dc-2', { token: policyToken });
  assert.equal(b.hello?.deviceId, 'dc-2', JSON.stringify(b));
  await b.device.close();

  const c = await connectDevice(hub, 'dc-2', { token: deviceToken('dc-2', secondaryKey), query: true });
  assert.equal(c.hello?.deviceId, 'dc-2', JSON.stringify(c));
  await c.device.close();
});

test('a module connects at /devices/{id}/modules/{mid} with its own key', async () => {
  await newDevice('dc-mod');
  const r = await hub.req('PUT', '/devices/dc-mod/modules/m1', { deviceId: 'dc-mod', moduleId: 'm1' });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  const key = r.json.authentication.symmetricKey.primaryKey;
  const c = await connectDevice(hub, 'dc-mod', { moduleId: 'm1', token: deviceToken('dc-mod', key, { moduleId: 'm1' }) });
  assert.equal(c.hello?.moduleId, 'm1', JSON.stringify(c));
  assert.equal(c.hello.deviceId, 'dc-mod');
  const ack = await c.device.request({ type: 'reported.patch', rid: 'm', body: { fw: '2' } });
  assert.equal(ack.type, 'reported.ack');
  const twin = (await hub.req('GET', '/twins/dc-mod/modules/m1')).json;
  assert.equal(twin.properties.reported.fw, '2');
  await c.device.close();
});

test('refused in the handshake: wrong key, expired, disabled, unknown, wrong subprotocol, bad path', async () => {
  const dev = await newDevice('dc-3');
  const key = dev.authentication.symmetricKey.primaryKey;
  const other = (await newDevice('dc-3b')).authentication.symmetricKey.primaryKey;

  assert.equal((await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3', other) })).status, 401);
  assert.equal((await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3', key, { ttl: -10 }) })).status, 401);
  assert.equal((await connectDevice(hub, 'dc-3', {})).status, 401, 'no token at all');
  assert.equal((await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3b', other) })).status, 401,
    'a token for another device');
  assert.equal((await connectDevice(hub, 'nobody', { token: deviceToken('nobody', key) })).status, 401);
  const policies = await hub.policies();
  assert.equal((await connectDevice(hub, 'dc-3', {
    token: sasToken('testhub.local', policies.registryRead.primaryKey, 'registryRead'),
  })).status, 401, 'a policy without DeviceConnect');

  const wrongProto = await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3', key), protocol: 'mqtt' });
  assert.ok(!wrongProto.device, `wrong subprotocol was accepted: ${JSON.stringify(wrongProto)}`);
  const noProto = await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3', key), protocol: null });
  assert.ok(!noProto.device, `no subprotocol was accepted: ${JSON.stringify(noProto)}`);
  const badPath = await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3', key), path: '/things/dc-3' });
  assert.ok(!badPath.device && badPath.status >= 400, JSON.stringify(badPath));

  const dis = await hub.req('PUT', '/devices/dc-3', { ...dev, status: 'disabled' }, { headers: { 'If-Match': '"*"' } });
  assert.equal(dis.status, 200, dis.text);
  assert.equal((await connectDevice(hub, 'dc-3', { token: deviceToken('dc-3', key) })).status, 401, 'disabled');

  // Nothing happened: the refused identity never showed as connected.
  const d = await getDevice('dc-3');
  assert.equal(d.connectionState, 'Disconnected');
});

test('twin.get returns desired and reported with $version; ifNewerThan gives 304', async () => {
  const { device } = await online('dc-4');
  const p = await hub.req('PATCH', '/twins/dc-4', { properties: { desired: { rate: 5 } } });
  assert.equal(p.status, 200, p.text);
  await device.next((m) => m.type === 'desired.patch');

  const t = await device.request({ type: 'twin.get', rid: 'g1' });
  assert.equal(t.type, 'twin');
  assert.equal(t.status, 200);
  assert.deepEqual(t.body, { desired: { rate: 5, $version: 2 }, reported: { $version: 1 } });

  const same = await device.request({ type: 'twin.get', rid: 7, ifNewerThan: 2 });
  assert.equal(same.rid, 7, 'a numeric rid is echoed as a number');
  assert.equal(same.status, 304);
  assert.equal(same.body, undefined);

  const older = await device.request({ type: 'twin.get', rid: 'g3', ifNewerThan: 1 });
  assert.equal(older.status, 200);
  assert.equal(older.body.desired.$version, 2);
  await device.close();
});

test('reported.patch: acked with the new version, visible in GET /twins and in queries at once', async () => {
  const { device } = await online('dc-5');
  const ack = await device.request({ type: 'reported.patch', rid: 'r1', body: { temp: 21.5, fw: { v: '1.2' } } });
  assert.deepEqual({ ...ack, receivedAt: undefined },
    { type: 'reported.ack', rid: 'r1', status: 204, version: 2, receivedAt: undefined });
  const twin = await getTwin('dc-5');
  assert.equal(twin.properties.reported.temp, 21.5);
  assert.deepEqual(twin.properties.reported.fw, { v: '1.2' });
  assert.equal(twin.properties.reported.$version, 2);
  const q = await hub.req('POST', '/devices/query', { query: "SELECT * FROM devices WHERE properties.reported.fw.v = '1.2'" });
  assert.equal(q.status, 200, q.text);
  assert.deepEqual(q.json.map((r) => r.deviceId), ['dc-5']);

  const del = await device.request({ type: 'reported.patch', rid: 'r2', body: { temp: null } });
  assert.equal(del.version, 3);
  assert.equal((await getTwin('dc-5')).properties.reported.temp, undefined, 'null deletes');
  await device.close();
});

test('a patch that would take the reported properties over 32 KB is refused whole; nothing of it is stored', async () => {
  const { device } = await online('dc-full');
  // Eight 4 KB values: each patch is fine on its own, together they fill the section.
  for (let i = 0; i < 8; i++) {
    const ack = await device.request({ type: 'reported.patch', rid: `f${i}`, body: { [`k${i}`]: 'v'.repeat(4094) } });
    assert.equal(ack.status, 204, JSON.stringify(ack));
  }
  const before = await getTwin('dc-full');
  // Valid keys and values, refused only once merged: the change to k0 must not survive either.
  device.send(JSON.stringify({ type: 'reported.patch', rid: 'over', body: { k0: 'w'.repeat(4094), z: 'x'.repeat(20) } }));
  const e = await device.next((m) => m.type === 'error' && m.rid === 'over');
  assert.equal(e.status, 400);
  assert.match(e.message, /exceed 32768 bytes/);
  const after = await getTwin('dc-full');
  assert.deepEqual(after.properties.reported, before.properties.reported);
  assert.equal(after.etag, before.etag);
  // The same device goes on: shrinking and adding in one patch is judged on the result.
  const ok = await device.request({ type: 'reported.patch', rid: 'fits', body: { k0: null, z: 1 } });
  assert.equal(ok.version, before.properties.reported.$version + 1);
  await device.close();
});

test('a desired PATCH over REST reaches the device within 100 ms', async () => {
  const { device } = await online('dc-6');
  const t0 = performance.now();
  const p = await hub.req('PATCH', '/twins/dc-6', { properties: { desired: { mode: 'eco', cfg: { a: 1 } } } });
  assert.equal(p.status, 200, p.text);
  const msg = await device.next((m) => m.type === 'desired.patch');
  assert.equal(msg.version, 2);
  assert.deepEqual(msg.body, { mode: 'eco', cfg: { a: 1 } });
  const ms = msg.receivedAt - t0;
  assert.ok(ms < 100, `desired.patch took ${ms.toFixed(1)} ms`);

  const replace = await hub.req('PUT', '/twins/dc-6', { properties: { desired: { only: true } } });
  assert.equal(replace.status, 200, replace.text);
  const whole = await device.next((m) => m.type === 'desired.patch');
  assert.equal(whole.version, 3);
  assert.equal(whole.body.only, true);
  await device.close();
});

test('bad messages are answered with error and the connection stays usable', async () => {
  const { device } = await online('dc-7');
  const cases = [
    ['not json', undefined],
    ['[1,2]', undefined],
    [JSON.stringify({ rid: 'x1' }), 'x1'],
    [JSON.stringify({ type: 'twin.teleport', rid: 'x2' }), 'x2'],
    [JSON.stringify({ type: 'twin.get' }), undefined],
    [JSON.stringify({ type: 'twin.get', rid: 'x3', ifNewerThan: 'abc' }), 'x3'],
    [JSON.stringify({ type: 'reported.patch', rid: 'x4' }), 'x4'],
    [JSON.stringify({ type: 'reported.patch', rid: 'x5', body: [1] }), 'x5'],
    [JSON.stringify({ type: 'method.response', rid: 'x6' }), 'x6'],
    [JSON.stringify({ type: 'reported.patch', rid: 'x7', body: { big: 'y'.repeat(40000) } }), 'x7'],
    [JSON.stringify({ type: 'reported.patch', rid: 'x8', body: JSON.parse(`${'{"a":'.repeat(13)}1${'}'.repeat(13)}`) }), 'x8'],
    [JSON.stringify({ type: 'reported.patch', rid: 'x9', body: { 'has.dot': 1 } }), 'x9'],
  ];
  for (const [text, rid] of cases) {
    device.send(text);
    const e = await device.next((m) => m.type === 'error');
    assert.equal(e.rid, rid, `rid for ${text.slice(0, 60)}`);
    assert.equal(e.status, 400, text.slice(0, 60));
    assert.equal(e.errorCode, 400004);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0);
  }
  const t = await device.request({ type: 'twin.get', rid: 'still-ok' });
  assert.equal(t.status, 200);
  assert.equal(t.body.reported.$version, 1, 'no bad patch was applied');
  assert.equal(device.ws.readyState, 1);
  await device.close();
});

test('a message sent in fragments is reassembled', async () => {
  const { device } = await online('dc-frag');
  const body = Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`s${i}`, 'z'.repeat(3000)]));
  const text = JSON.stringify({ type: 'reported.patch', rid: 'f', body });
  const cut = [0, 5, 9000, 15000, text.length];
  for (let i = 0; i + 1 < cut.length; i++) device.ws.send(text.slice(cut[i], cut[i + 1]), { fin: i + 2 === cut.length });
  const ack = await device.next((m) => m.rid === 'f');
  assert.equal(ack.type, 'reported.ack', JSON.stringify(ack));
  assert.equal((await getTwin('dc-frag')).properties.reported.s6.length, 3000);
  await device.close();
});

test('a frame over 256 KB closes the connection with 1009', async () => {
  const { device } = await online('dc-8');
  device.send(JSON.stringify({ type: 'reported.patch', rid: 'huge', body: { s: 'x'.repeat(300 * 1024) } }));
  const { code } = await device.closed;
  assert.equal(code, 1009);
  await waitFor(async () => (await getDevice('dc-8')).connectionState === 'Disconnected', 'Disconnected');
});

test('a second connection evicts the first with 4000', async () => {
  const { dev, device: first } = await online('dc-9');
  const key = dev.authentication.symmetricKey.primaryKey;
  const second = await connectDevice(hub, 'dc-9', { token: deviceToken('dc-9', key) });
  assert.ok(second.device);
  const { code } = await first.closed;
  assert.equal(code, 4000);
  assert.equal((await getDevice('dc-9')).connectionState, 'Connected', 'the new connection keeps it Connected');
  // Messages now go to the new connection.
  await hub.req('PATCH', '/twins/dc-9', { properties: { desired: { n: 1 } } });
  assert.equal((await second.device.next((m) => m.type === 'desired.patch')).body.n, 1);
  await second.device.close();
  await waitFor(async () => (await getDevice('dc-9')).connectionState === 'Disconnected', 'Disconnected');
});

test('disabling, deleting or re-keying a device closes its connection with 4003', async () => {
  const { dev, device } = await online('dc-10');
  const dis = await hub.req('PUT', '/devices/dc-10', { ...dev, status: 'disabled' }, { headers: { 'If-Match': '"*"' } });
  assert.equal(dis.status, 200, dis.text);
  assert.equal((await device.closed).code, 4003, 'disabled');

  const b = await online('dc-11');
  assert.equal((await hub.req('DELETE', '/devices/dc-11', undefined, { headers: { 'If-Match': '"*"' } })).status, 204);
  assert.equal((await b.device.closed).code, 4003, 'deleted');

  const c = await online('dc-12');
  const rekey = {
    ...c.dev,
    authentication: { type: 'sas', symmetricKey: { primaryKey: Buffer.alloc(32, 1).toString('base64'), secondaryKey: Buffer.alloc(32, 2).toString('base64') } },
  };
  const r = await hub.req('PUT', '/devices/dc-12', rekey, { headers: { 'If-Match': '"*"' } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await c.device.closed).code, 4003, 're-keyed');
});

test('direct method: the device answers and REST returns {status, payload}', async () => {
  const { device } = await online('dc-13');
  const call = hub.req('POST', '/twins/dc-13/methods',
    { methodName: 'reboot', payload: { a: 1 }, responseTimeoutInSeconds: 5 });
  const req = await device.next((m) => m.type === 'method.request');
  assert.equal(req.name, 'reboot');
  assert.deepEqual(req.payload, { a: 1 });
  assert.equal(typeof req.rid, 'string');
  device.send({ type: 'method.response', rid: req.rid, status: 200, payload: { rebooted: true, at: 'now' } });
  const r = await call;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 200, payload: { rebooted: true, at: 'now' } });
  await device.close();
});

test('direct method to an offline device: 404 DeviceNotOnline', async () => {
  await newDevice('dc-14');
  const r = await hub.req('POST', '/twins/dc-14/methods', { methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 5 });
  assertMethodError(r, 404, 'DeviceNotOnline', 404103);
});

test('direct method without an answer: 504 GatewayTimeout after responseTimeoutInSeconds', async () => {
  const { device } = await online('dc-15');
  const t0 = Date.now();
  const call = hub.req('POST', '/twins/dc-15/methods', { methodName: 'slow', payload: null, responseTimeoutInSeconds: 5 });
  const req = await device.next((m) => m.type === 'method.request');
  assert.equal(req.payload, null);
  const r = await call;
  const s = (Date.now() - t0) / 1000;
  assertMethodError(r, 504, 'GatewayTimeout', 504101);
  assert.ok(s >= 4.9 && s < 7, `answered after ${s} s`);
  // A late answer is dropped and the session goes on.
  device.send({ type: 'method.response', rid: req.rid, status: 200, payload: {} });
  assert.equal((await device.request({ type: 'twin.get', rid: 'after' })).status, 200);
  await device.close();
});

test('plain HTTP on the device port is not served', async () => {
  const r = await fetch(`${hub.deviceUrl.replace('ws:', 'http:')}/devices/x`);
  assert.equal(r.status, 404);
  await r.arrayBuffer();
});

test('stopping the server closes device connections with 1000', async () => {
  const other = await startHub();
  try {
    const r = await other.req('PUT', '/devices/dc-stop', sdkDevice('dc-stop'));
    const c = await connectDevice(other, 'dc-stop', { token: deviceToken('dc-stop', r.json.authentication.symmetricKey.primaryKey) });
    assert.ok(c.device, JSON.stringify(c));
    const closed = c.device.closed;
    await other.stop();
    assert.equal((await closed).code, 1000);
  } finally {
    await other.destroy();
  }
});
