// IoT Hub's own Node service SDK (azure-iothub, pinned in tests/package.json) against devicehubd over
// HTTPS, unchanged: Registry (devices, bulk, twins, query paging, statistics, modules, configurations),
// Client.invokeDeviceMethod and JobClient. docs/iothub-compatibility.md lists what this proves.
//
// The SDK puts HostName straight into https.request({host}) and so only speaks to port 443, and trusts
// a private CA only through NODE_EXTRA_CA_CERTS. So devicehubd serves HTTPS on 127.0.0.3:443 (this test
// must run as root) with a certificate for hub.devicehub.test from a test CA, and the SDK runs in a
// child process (lib/sdk.mjs) that trusts that CA and resolves hub.devicehub.test to 127.0.0.3
// (lib/resolve-preload.mjs), without touching /etc/hosts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hub, sdkDevice } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';
import { sdkProcess } from './lib/sdk.mjs';

const HOSTNAME = 'hub.devicehub.test';
const ADDR = '127.0.0.3';

const dir = mkdtempSync(join(tmpdir(), 'devicehub-sdk-'));
const file = (name) => join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// A test CA, and a server certificate for HOSTNAME signed by it. The SDK checks the name; the IP SANs
// are for the harness's own REST client (ADDR) and for devices on the WSS port (127.0.0.1).
function makeCertificates() {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
    '-subj', '/CN=devicehub SDK test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${HOSTNAME}`);
  writeFileSync(file('server.ext'), `subjectAltName=DNS:${HOSTNAME},IP:${ADDR},IP:127.0.0.1\n`);
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
}

let hub;
let sdk; // sdk(fn, ...args): runs fn({registry, client, jobClient, iothub}, ...args) in the SDK process
const devices = [];

before(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error('18-service-sdk must run as root: IoT Hub\'s Node service SDK only connects to port 443, '
      + `so devicehubd listens on ${ADDR}:443 (run the suite as root, as CI does)`);
  }
  makeCertificates();
  hub = await new Hub({ tls: { cert: file('server.pem'), key: file('server.key'), ca: readFileSync(file('ca.pem')) },
    addr: ADDR, port: 443, hostname: HOSTNAME }).start();
  sdk = await sdkProcess({
    connectionString: `HostName=${HOSTNAME};SharedAccessKeyName=iothubowner;SharedAccessKey=${hub.ownerKey}`,
    hosts: { [HOSTNAME]: ADDR }, caFile: file('ca.pem'),
  });
});

after(async () => {
  for (const d of devices) await d.close();
  await sdk?.close();
  await hub?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

// Asserts that an sdk() call failed with the SDK error `name` (and HTTP status); returns the error.
async function rejectsWith(promise, name, statusCode) {
  const e = await promise.then(() => null, (err) => err);
  assert.ok(e, `expected ${name}, but the call succeeded`);
  assert.ok(e.sdk, `not an SDK error: ${e.stack}`);
  assert.equal(e.sdk.name, name, e.message);
  if (statusCode) assert.equal(e.sdk.statusCode, statusCode, e.message);
  return e.sdk;
}

const isKey = (k) => typeof k === 'string' && Buffer.from(k, 'base64').length === 32;

// Polls fn until it returns something truthy.
async function eventually(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await delay(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A device created through the SDK and connected over WSS with the devicehub.v1 protocol.
async function connectedDevice(deviceId) {
  const dev = await sdk(async ({ registry }, id) => (await registry.create({ deviceId: id })).responseBody, deviceId);
  const r = await connectDevice(hub, deviceId,
    { token: deviceToken(deviceId, dev.authentication.symmetricKey.primaryKey, { hostname: HOSTNAME }) });
  assert.ok(r.device, `device ${deviceId} did not connect: ${JSON.stringify(r)}`);
  devices.push(r.device);
  return r.device;
}

test('the SDK reaches the hub by name over HTTPS on port 443', async () => {
  const r = await sdk(async ({ registry }) => {
    const res = await registry.getRegistryStatistics();
    return { body: res.responseBody, status: res.httpResponse.statusCode, type: res.httpResponse.headers['content-type'] };
  });
  assert.equal(r.status, 200);
  assert.match(r.type, /^application\/json/);
  assert.deepEqual(r.body, { totalDeviceCount: 0, enabledDeviceCount: 0, disabledDeviceCount: 0 });
});

test('a connection string with a wrong key is refused with UnauthorizedError', async () => {
  const wrongKey = Buffer.alloc(32, 7).toString('base64');
  await rejectsWith(sdk(async ({ iothub }, cs) => iothub.Registry.fromConnectionString(cs).get('nobody'),
    `HostName=${HOSTNAME};SharedAccessKeyName=iothubowner;SharedAccessKey=${wrongKey}`), 'UnauthorizedError', 401);
});

test('Registry.fromSharedAccessSignature and policy rights', async () => {
  const stats = await sdk(async ({ iothub }, token) =>
    (await iothub.Registry.fromSharedAccessSignature(token).getRegistryStatistics()).responseBody, hub.token());
  assert.equal(typeof stats.totalDeviceCount, 'number');
  // registryRead may read identities but not write them.
  const { registryRead } = await hub.policies();
  const cs = `HostName=${HOSTNAME};SharedAccessKeyName=registryRead;SharedAccessKey=${registryRead.primaryKey}`;
  assert.ok(Array.isArray(await sdk(async ({ iothub }, c) => (await iothub.Registry.fromConnectionString(c).list()).responseBody, cs)));
  await rejectsWith(sdk(async ({ iothub }, c) => iothub.Registry.fromConnectionString(c).create({ deviceId: 'sdk-ro' }), cs),
    'UnauthorizedError', 401);
});

test('Registry create/get/update/delete: generated keys, etags, SDK error classes', async () => {
  const created = await sdk(async ({ registry }) => {
    const res = await registry.create({ deviceId: 'sdk-dev1' });
    return { status: res.httpResponse.statusCode, device: res.responseBody };
  });
  assert.equal(created.status, 200);
  const dev = created.device;
  assert.equal(dev.deviceId, 'sdk-dev1');
  assert.equal(dev.status, 'enabled');
  assert.equal(dev.connectionState, 'Disconnected');
  assert.equal(dev.authentication.type, 'sas');
  assert.ok(isKey(dev.authentication.symmetricKey.primaryKey) && isKey(dev.authentication.symmetricKey.secondaryKey),
    JSON.stringify(dev.authentication));
  assert.ok(dev.etag && dev.generationId);

  await rejectsWith(sdk(async ({ registry }) => registry.create({ deviceId: 'sdk-dev1' })), 'DeviceAlreadyExistsError', 409);

  // Keys and thumbprints given by the caller are kept; thumbprints alone make a selfSigned device.
  const key = Buffer.alloc(32, 1).toString('base64');
  const withKeys = await sdk(async ({ registry }, k) => (await registry.create({ deviceId: 'sdk-dev2',
    authentication: { symmetricKey: { primaryKey: k, secondaryKey: k } } })).responseBody, key);
  assert.equal(withKeys.authentication.symmetricKey.primaryKey, key);
  const thumb = 'EDF8473D809B31627C77EACD83D7DE811E8385EE';
  const x509 = await sdk(async ({ registry }, t) => (await registry.create({ deviceId: 'sdk-dev3',
    authentication: { x509Thumbprint: { primaryThumbprint: t } } })).responseBody, thumb);
  assert.equal(x509.authentication.type, 'selfSigned');
  assert.equal(x509.authentication.x509Thumbprint.primaryThumbprint.toUpperCase(), thumb);

  const got = await sdk(async ({ registry }) => (await registry.get('sdk-dev1')).responseBody);
  assert.equal(got.generationId, dev.generationId);
  assert.equal(got.etag, dev.etag);
  assert.equal(got.authentication.symmetricKey.primaryKey, dev.authentication.symmetricKey.primaryKey);

  // update() always sends If-Match "*" and the whole device.
  const updated = await sdk(async ({ registry }, d) => (await registry.update({ ...d, status: 'disabled',
    statusReason: 'maintenance' })).responseBody, got);
  assert.equal(updated.status, 'disabled');
  assert.equal(updated.statusReason, 'maintenance');
  assert.notEqual(updated.etag, dev.etag);
  assert.equal(updated.generationId, dev.generationId);
  assert.equal(updated.authentication.symmetricKey.primaryKey, dev.authentication.symmetricKey.primaryKey);
  await rejectsWith(sdk(async ({ registry }) => registry.update({ deviceId: 'sdk-nobody', status: 'enabled' })),
    'DeviceNotFoundError', 404);

  await rejectsWith(sdk(async ({ registry }) => registry.get('sdk-nobody')), 'DeviceNotFoundError', 404);
  await rejectsWith(sdk(async ({ registry }) => registry.create({ deviceId: 'bad/id' })), 'ArgumentError', 400);

  const deleted = await sdk(async ({ registry }) => (await registry.delete('sdk-dev3')).httpResponse.statusCode);
  assert.equal(deleted, 204);
  await rejectsWith(sdk(async ({ registry }) => registry.get('sdk-dev3')), 'DeviceNotFoundError', 404);
  await rejectsWith(sdk(async ({ registry }) => registry.delete('sdk-dev3')), 'DeviceNotFoundError', 404);

  // Ids are percent-encoded by the SDK (encodeURIComponent) and decoded by the hub.
  const oddId = "dev:1(x)=@$'!?*%";
  const odd = await sdk(async ({ registry }, id) => (await registry.create({ deviceId: id })).responseBody, oddId);
  assert.equal(odd.deviceId, oddId);
  assert.equal((await sdk(async ({ registry }, id) => (await registry.get(id)).responseBody, oddId)).deviceId, oddId);
  await sdk(async ({ registry }, id) => registry.delete(id), oddId);
});

test('Registry list and bulk addDevices / updateDevices / removeDevices', async () => {
  const ids = ['bulk-1', 'bulk-2', 'bulk-3'];
  const added = await sdk(async ({ registry }, list) => {
    const res = await registry.addDevices(list.map((deviceId) => ({ deviceId })));
    return { status: res.httpResponse.statusCode, body: res.responseBody };
  }, ids);
  assert.equal(added.status, 200);
  assert.deepEqual(added.body, { isSuccessful: true, errors: [], warnings: [] });

  // A failing entry makes the call a 400 (ArgumentError) carrying the per-device errors.
  const failed = await rejectsWith(sdk(async ({ registry }) =>
    registry.addDevices([{ deviceId: 'bulk-1' }, { deviceId: 'bulk-4' }])), 'ArgumentError', 400);
  const report = typeof failed.responseBody === 'string' ? JSON.parse(failed.responseBody) : failed.responseBody;
  assert.equal(report.isSuccessful, false);
  assert.deepEqual(report.errors.map((e) => [e.deviceId, e.errorCode]), [['bulk-1', 'DeviceAlreadyExists']]);

  const listed = await sdk(async ({ registry }) => (await registry.list()).responseBody);
  for (const id of [...ids, 'bulk-4']) assert.ok(listed.some((d) => d.deviceId === id), `list() lacks ${id}`);
  assert.ok(listed.every((d) => d.authentication && d.etag));

  // updateDevices(force=true) is importMode "Update"; force=false is "UpdateIfMatchETag" with etag.
  await sdk(async ({ registry }) => registry.updateDevices([{ deviceId: 'bulk-1', status: 'disabled' }], true));
  assert.equal((await sdk(async ({ registry }) => (await registry.get('bulk-1')).responseBody)).status, 'disabled');
  const b2 = await sdk(async ({ registry }) => (await registry.get('bulk-2')).responseBody);
  await sdk(async ({ registry }, d) => registry.updateDevices([{ ...d, status: 'disabled' }], false), b2);
  const stale = await rejectsWith(sdk(async ({ registry }, d) =>
    registry.updateDevices([{ ...d, status: 'enabled' }], false), b2), 'ArgumentError', 400);
  assert.match(JSON.stringify(stale.responseBody), /bulk-2/);
  assert.equal((await sdk(async ({ registry }) => (await registry.get('bulk-2')).responseBody)).status, 'disabled');

  await sdk(async ({ registry }) => registry.removeDevices([{ deviceId: 'bulk-3' }, { deviceId: 'bulk-4' }], true));
  const b1 = await sdk(async ({ registry }) => (await registry.get('bulk-1')).responseBody);
  await sdk(async ({ registry }, d) => registry.removeDevices([d], false), b1);
  for (const id of ['bulk-1', 'bulk-3', 'bulk-4']) {
    await rejectsWith(sdk(async ({ registry }, x) => registry.get(x), id), 'DeviceNotFoundError', 404);
  }
});

test('Registry getTwin / updateTwin with etags, Twin.get and Twin.update', async () => {
  await sdk(async ({ registry }) => registry.create({ deviceId: 'sdk-twin' }));
  const twin = await sdk(async ({ registry }) => (await registry.getTwin('sdk-twin')).responseBody);
  assert.equal(twin.deviceId, 'sdk-twin');
  assert.ok(twin.etag);
  assert.equal(twin.status, 'enabled');
  assert.equal(twin.properties.desired.$version, 1);

  const patched = await sdk(async ({ registry }, etag) => (await registry.updateTwin('sdk-twin',
    { tags: { site: 'b43', floor: 2 }, properties: { desired: { fw: '1.0', cfg: { rate: 5 } } } }, etag)).responseBody,
  twin.etag);
  assert.deepEqual(patched.tags, { site: 'b43', floor: 2 });
  assert.equal(patched.properties.desired.fw, '1.0');
  assert.equal(patched.properties.desired.cfg.rate, 5);
  assert.equal(patched.properties.desired.$version, 2);
  assert.notEqual(patched.etag, twin.etag);

  // The old etag is stale now: 412 → InvalidEtagError, nothing changed.
  await rejectsWith(sdk(async ({ registry }, etag) => registry.updateTwin('sdk-twin', { tags: { site: 'x' } }, etag),
    twin.etag), 'InvalidEtagError', 412);
  // "*" always matches; null deletes.
  const star = await sdk(async ({ registry }) => (await registry.updateTwin('sdk-twin',
    { tags: { floor: null }, properties: { desired: { cfg: null } } }, '*')).responseBody);
  assert.deepEqual(star.tags, { site: 'b43' });
  assert.equal(star.properties.desired.cfg, undefined);

  // The Twin object: update() sends its own etag, get() refreshes it.
  const viaTwin = await sdk(async ({ registry }) => {
    const { responseBody: t } = await registry.getTwin('sdk-twin');
    await t.update({ properties: { desired: { fw: '1.1' } } });
    const first = t.properties.desired.fw;
    await t.get();
    return { first, fw: t.properties.desired.fw, version: t.properties.desired.$version, deviceId: t.deviceId };
  });
  assert.deepEqual(viaTwin, { first: '1.1', fw: '1.1', version: 4, deviceId: 'sdk-twin' });
  await rejectsWith(sdk(async ({ registry }) => registry.getTwin('sdk-nobody')), 'DeviceNotFoundError', 404);
});

test('Registry createQuery pages with next() until hasMoreResults is false', async () => {
  await sdk(async ({ registry }) => {
    for (let i = 0; i < 12; i++) {
      const id = `page-${String(i).padStart(2, '0')}`;
      await registry.create({ deviceId: id });
      await registry.updateTwin(id, { tags: { group: 'paging', n: i } }, '*');
    }
  });
  // Callback style, as the SDK's samples page. (Promise style must pass query.continuationToken: a bare
  // next() restarts from the first page, in the SDK, against IoT Hub too. See iothub-compatibility.md.)
  const paged = await sdk(async ({ registry }) => {
    const query = registry.createQuery("SELECT * FROM devices WHERE tags.group = 'paging'", 5);
    const pages = [];
    while (query.hasMoreResults && pages.length < 10) {
      const { result, message } = await new Promise((resolve, reject) => query.next((err, r, m) =>
        (err ? reject(err) : resolve({ result: r, message: m }))));
      pages.push({ ids: result.map((t) => t.deviceId), more: query.hasMoreResults,
        itemType: message.headers['x-ms-item-type'] });
    }
    return pages;
  });
  assert.deepEqual(paged.map((p) => p.ids.length), [5, 5, 2]);
  assert.deepEqual(paged.map((p) => p.more), [true, true, false]);
  assert.ok(paged.every((p) => p.itemType === 'twin'));
  assert.deepEqual(paged.flatMap((p) => p.ids).sort(), Array.from({ length: 12 }, (_, i) => `page-${String(i).padStart(2, '0')}`));

  // nextAsTwin() builds Twin objects (their constructor needs deviceId); projections come back raw.
  const twins = await sdk(async ({ registry, iothub }) => {
    const query = registry.createQuery("SELECT * FROM devices WHERE tags.group = 'paging' AND tags.n < 3");
    const { result } = await query.nextAsTwin();
    return { twins: result.every((t) => t instanceof iothub.Twin), tags: result.map((t) => t.tags.n).sort(), more: query.hasMoreResults };
  });
  assert.deepEqual(twins, { twins: true, tags: [0, 1, 2], more: false });
  const counted = await sdk(async ({ registry }) => {
    const query = registry.createQuery("SELECT COUNT() AS total FROM devices WHERE tags.group = 'paging'");
    const { result, message } = await query.next();
    return { result, itemType: message.headers['x-ms-item-type'] };
  });
  assert.deepEqual(counted, { result: [{ total: 12 }], itemType: 'raw' });
  await rejectsWith(sdk(async ({ registry }) => registry.createQuery('SELECT * FROM nowhere').next()), 'ArgumentError', 400);
});

test('Registry getRegistryStatistics counts enabled and disabled devices', async () => {
  const stats = await sdk(async ({ registry }) => (await registry.getRegistryStatistics()).responseBody);
  const all = (await hub.req('GET', '/devices')).json;
  assert.equal(stats.totalDeviceCount, all.length);
  assert.equal(stats.disabledDeviceCount, all.filter((d) => d.status === 'disabled').length);
  assert.equal(stats.enabledDeviceCount + stats.disabledDeviceCount, stats.totalDeviceCount);
  assert.ok(stats.disabledDeviceCount >= 2); // sdk-dev1 and bulk-2
});

test('Registry modules: addModule, getModule, getModulesOnDevice, updateModule, removeModule, module twins', async () => {
  await sdk(async ({ registry }) => registry.create({ deviceId: 'sdk-mod-dev' }));
  const added = await sdk(async ({ registry }) => {
    const res = await registry.addModule({ deviceId: 'sdk-mod-dev', moduleId: 'm1' });
    return { status: res.httpResponse.statusCode, module: res.responseBody };
  });
  assert.equal(added.status, 201);
  const m1 = added.module;
  assert.equal(m1.moduleId, 'm1');
  assert.equal(m1.deviceId, 'sdk-mod-dev');
  assert.ok(isKey(m1.authentication.symmetricKey.primaryKey));
  await rejectsWith(sdk(async ({ registry }) => registry.addModule({ deviceId: 'sdk-mod-dev', moduleId: 'm1' })),
    'DeviceAlreadyExistsError', 409);
  await sdk(async ({ registry }) => registry.addModule({ deviceId: 'sdk-mod-dev', moduleId: 'm2' }));

  const got = await sdk(async ({ registry }) => (await registry.getModule('sdk-mod-dev', 'm1')).responseBody);
  assert.equal(got.etag, m1.etag);
  const list = await sdk(async ({ registry }) => (await registry.getModulesOnDevice('sdk-mod-dev')).responseBody);
  assert.deepEqual(list.map((m) => m.moduleId).sort(), ['m1', 'm2']);

  // updateModule sends If-Match with the module's etag (forceUpdate false) or "*" (true).
  const upd = await sdk(async ({ registry }, m) => (await registry.updateModule({ ...m, managedBy: 'ops' })).responseBody, got);
  assert.equal(upd.managedBy, 'ops');
  assert.notEqual(upd.etag, got.etag);
  await rejectsWith(sdk(async ({ registry }, m) => registry.updateModule({ ...m, managedBy: 'late' }), got),
    'InvalidEtagError', 412);
  const forced = await sdk(async ({ registry }, m) => (await registry.updateModule({ ...m, managedBy: 'forced' }, true)).responseBody, got);
  assert.equal(forced.managedBy, 'forced');

  const mt = await sdk(async ({ registry }) => (await registry.getModuleTwin('sdk-mod-dev', 'm1')).responseBody);
  assert.equal(mt.deviceId, 'sdk-mod-dev');
  assert.equal(mt.moduleId, 'm1');
  const mtp = await sdk(async ({ registry }, etag) => (await registry.updateModuleTwin('sdk-mod-dev', 'm1',
    { properties: { desired: { interval: 10 } } }, etag)).responseBody, mt.etag);
  assert.equal(mtp.properties.desired.interval, 10);
  await rejectsWith(sdk(async ({ registry }, etag) => registry.updateModuleTwin('sdk-mod-dev', 'm1',
    { tags: { a: 1 } }, etag), mt.etag), 'InvalidEtagError', 412);

  // removeModule(module) sends the module's etag; removeModule(deviceId, moduleId) sends "*". The
  // one-argument form only works with a callback (the SDK's promise wrapper loses it).
  const removeWithCallback = async ({ registry }, m) => new Promise((resolve, reject) =>
    registry.removeModule(m, (err) => (err ? reject(err) : resolve(null))));
  await rejectsWith(sdk(removeWithCallback, got), 'InvalidEtagError', 412);
  await sdk(removeWithCallback, forced);
  await sdk(async ({ registry }) => registry.removeModule('sdk-mod-dev', 'm2'));
  const gone = await rejectsWith(sdk(async ({ registry }) => registry.getModule('sdk-mod-dev', 'm1')), 'Error', 404);
  assert.match(JSON.stringify(gone.responseBody), /ModuleNotFound/);
  assert.deepEqual(await sdk(async ({ registry }) => (await registry.getModulesOnDevice('sdk-mod-dev')).responseBody), []);
});

test('Client.invokeDeviceMethod: answer, offline device, timeout', async () => {
  const device = await connectedDevice('sdk-method');
  const call = sdk(async ({ client }) => {
    const res = await client.invokeDeviceMethod('sdk-method',
      { methodName: 'reboot', payload: { delay: 1 }, responseTimeoutInSeconds: 10 });
    return { result: res.result, status: res.message.statusCode };
  });
  const req = await device.next((m) => m.type === 'method.request', 10000);
  assert.equal(req.name, 'reboot');
  assert.deepEqual(req.payload, { delay: 1 });
  device.send({ type: 'method.response', rid: req.rid, status: 201, payload: { rebooting: true } });
  assert.deepEqual(await call, { result: { status: 201, payload: { rebooting: true } }, status: 200 });

  // A string payload and a device status of 500 still make a 200 call.
  const call2 = sdk(async ({ client }) => (await client.invokeDeviceMethod('sdk-method',
    { methodName: 'echo', payload: 'text' })).result);
  const req2 = await device.next((m) => m.type === 'method.request', 10000);
  assert.equal(req2.payload, 'text');
  device.send({ type: 'method.response', rid: req2.rid, status: 500, payload: null });
  assert.deepEqual(await call2, { status: 500, payload: null });

  // Offline: 404 with 404103 DeviceNotOnline in the body. The SDK makes it a plain 'Not found' Error
  // (it only names DeviceNotFound), as it does against IoT Hub.
  await sdk(async ({ registry }) => registry.create({ deviceId: 'sdk-offline' }));
  const offline = await rejectsWith(sdk(async ({ client }) =>
    client.invokeDeviceMethod('sdk-offline', { methodName: 'reboot' })), 'Error', 404);
  assert.match(JSON.stringify(offline.responseBody), /404103/);
  await rejectsWith(sdk(async ({ client }) => client.invokeDeviceMethod('sdk-nobody', { methodName: 'reboot' })),
    'DeviceNotFoundError', 404);

  // No answer within responseTimeoutInSeconds: 504 → GatewayTimeoutError.
  const t0 = Date.now();
  const late = await rejectsWith(sdk(async ({ client }) => client.invokeDeviceMethod('sdk-method',
    { methodName: 'slow', responseTimeoutInSeconds: 5 })), 'GatewayTimeoutError', 504);
  assert.ok(Date.now() - t0 >= 4500, 'timed out early');
  assert.match(JSON.stringify(late.responseBody), /504101/);
  await device.next((m) => m.type === 'method.request' && m.name === 'slow');

  // invokeDeviceMethod(deviceId, moduleId, params) reaches a module's connection.
  const mod = await sdk(async ({ registry }) => (await registry.addModule({ deviceId: 'sdk-method', moduleId: 'agent' })).responseBody);
  const r = await connectDevice(hub, 'sdk-method', { moduleId: 'agent',
    token: deviceToken('sdk-method', mod.authentication.symmetricKey.primaryKey, { moduleId: 'agent', hostname: HOSTNAME }) });
  assert.ok(r.device, JSON.stringify(r));
  devices.push(r.device);
  const call3 = sdk(async ({ client }) => (await client.invokeDeviceMethod('sdk-method', 'agent',
    { methodName: 'restartModule', payload: { force: true } })).result);
  const req3 = await r.device.next((m) => m.type === 'method.request', 10000);
  assert.equal(req3.name, 'restartModule');
  r.device.send({ type: 'method.response', rid: req3.rid, status: 200, payload: 'ok' });
  assert.deepEqual(await call3, { status: 200, payload: 'ok' });
});

test('JobClient scheduleDeviceMethod, scheduleTwinUpdate, getJob, cancelJob, createQuery', async () => {
  const device = await connectedDevice('sdk-job-dev');
  // Method job on the connected device, starting now.
  const scheduled = await sdk(async ({ jobClient }) => (await jobClient.scheduleDeviceMethod('job-method-1',
    "deviceId IN ['sdk-job-dev']", { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 10 })).jobStatus);
  assert.equal(scheduled.jobId, 'job-method-1');
  assert.equal(scheduled.type, 'scheduleDeviceMethod');
  assert.ok(['queued', 'scheduled', 'enqueued', 'running', 'completed'].includes(scheduled.status), scheduled.status);
  const req = await device.next((m) => m.type === 'method.request' && m.name === 'ping', 10000);
  assert.deepEqual(req.payload, { n: 1 });
  device.send({ type: 'method.response', rid: req.rid, status: 200, payload: { pong: true } });
  const done = await eventually(async () => {
    const job = await sdk(async ({ jobClient }) => (await jobClient.getJob('job-method-1')).jobStatus);
    return job.status === 'completed' && job;
  }, 'job-method-1 to complete');
  assert.equal(done.deviceJobStatistics.deviceCount, 1);
  assert.equal(done.deviceJobStatistics.succeededCount, 1);
  // The per-device row, through Registry.createQuery on devices.jobs (item type deviceJob).
  const rows = await sdk(async ({ registry }) => {
    const { result, message } = await registry.createQuery("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'job-method-1'").next(null);
    return { result, itemType: message.headers['x-ms-item-type'] };
  });
  assert.equal(rows.itemType, 'deviceJob');
  assert.equal(rows.result.length, 1);
  assert.equal(rows.result[0].deviceId, 'sdk-job-dev');
  assert.equal(rows.result[0].status, 'completed');
  assert.deepEqual(rows.result[0].outcome.deviceMethodResponse, { status: 200, payload: { pong: true } });
  await rejectsWith(sdk(async ({ jobClient }) => jobClient.scheduleDeviceMethod('job-method-1',
    "deviceId = 'sdk-job-dev'", { methodName: 'ping' })), 'DeviceAlreadyExistsError', 409);

  // Twin job over the paging devices (startTime now, no maxExecutionTimeInSeconds given).
  await sdk(async ({ jobClient }) => jobClient.scheduleTwinUpdate('job-twin-1', "tags.group = 'paging' AND tags.n < 4",
    { etag: '*', tags: { wave: 1 }, properties: { desired: { fw: '2.0' } } }));
  const twinJob = await eventually(async () => {
    const job = await sdk(async ({ jobClient }) => (await jobClient.getJob('job-twin-1')).jobStatus);
    return job.status === 'completed' && job;
  }, 'job-twin-1 to complete');
  assert.equal(twinJob.type, 'scheduleUpdateTwin');
  assert.equal(twinJob.deviceJobStatistics.succeededCount, 4);
  const t = await sdk(async ({ registry }) => (await registry.getTwin('page-02')).responseBody);
  assert.equal(t.tags.wave, 1);
  assert.equal(t.properties.desired.fw, '2.0');

  // A job in an hour is queued; cancelJob cancels it.
  const future = await sdk(async ({ jobClient }) => (await jobClient.scheduleDeviceMethod('job-future',
    "deviceId = 'sdk-job-dev'", { methodName: 'later' }, new Date(Date.now() + 3600e3), 600)).jobStatus);
  assert.equal(future.status, 'queued');
  assert.equal(future.maxExecutionTimeInSeconds, 600);
  const cancelled = await sdk(async ({ jobClient }) => (await jobClient.cancelJob('job-future')).jobStatus);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal((await sdk(async ({ jobClient }) => (await jobClient.getJob('job-future')).jobStatus)).status, 'cancelled');
  await rejectsWith(sdk(async ({ jobClient }) => jobClient.getJob('job-nobody')), 'Error', 404);

  // createQuery(jobType, jobStatus, pageSize) pages through /jobs/v2/query.
  const pages = await sdk(async ({ jobClient }) => {
    const query = jobClient.createQuery('scheduleDeviceMethod', null, 1);
    const out = [];
    while (query.hasMoreResults && out.length < 10) {
      const { result } = await query.next(query.continuationToken);
      out.push(result.map((j) => `${j.jobId}:${j.type}:${j.status}`));
    }
    return out;
  });
  assert.deepEqual(pages.flat().sort(),
    ['job-future:scheduleDeviceMethod:cancelled', 'job-method-1:scheduleDeviceMethod:completed']);
  assert.ok(pages.every((p) => p.length === 1), JSON.stringify(pages));
  const byStatus = await sdk(async ({ jobClient }) => (await jobClient.createQuery(null, 'completed').next()).result
    .map((j) => j.jobId).sort());
  assert.deepEqual(byStatus, ['job-method-1', 'job-twin-1']);
});

test('Registry configurations: add, get, update with etag, list, remove', async () => {
  const cfg = {
    id: 'sdk-cfg', labels: { team: 'ops' },
    content: { deviceContent: { 'properties.desired.telemetry': { interval: 30 } } },
    targetCondition: "tags.group = 'paging'", priority: 5,
    metrics: { queries: { applied: "SELECT deviceId FROM devices WHERE configurations.[[sdk-cfg]].status = 'Applied'" } },
  };
  const added = await sdk(async ({ registry }, c) => (await registry.addConfiguration(c)).responseBody, cfg);
  assert.equal(added.id, 'sdk-cfg');
  assert.equal(added.schemaVersion, '1.0');
  assert.ok(added.etag && added.createdTimeUtc);
  await rejectsWith(sdk(async ({ registry }, c) => registry.addConfiguration(c), cfg), 'DeviceAlreadyExistsError', 409);

  const applied = await eventually(async () => {
    const c = await sdk(async ({ registry }) => (await registry.getConfiguration('sdk-cfg')).responseBody);
    return c.systemMetrics?.results?.appliedCount === 12 && c;
  }, 'the configuration to apply to the 12 paging devices');
  assert.equal(applied.systemMetrics.results.targetedCount, 12);
  assert.equal(applied.metrics.results.applied, 12);
  const twin = await sdk(async ({ registry }) => (await registry.getTwin('page-07')).responseBody);
  assert.deepEqual(twin.properties.desired.telemetry, { interval: 30 });
  assert.deepEqual(twin.configurations, { 'sdk-cfg': { status: 'applied' } });
  // Twins carrying the member still parse and update: getTwin's Twin, Twin.update, nextAsTwin.
  const sdkTwins = await sdk(async ({ registry, iothub }) => {
    const { responseBody: t } = await registry.getTwin('page-07');
    await t.update({ tags: { seen: 'cfg' } });
    const updated = (await registry.updateTwin('page-07', { tags: { seen2: 'cfg' } }, t.etag)).responseBody;
    const { result } = await registry.createQuery("SELECT * FROM devices WHERE tags.group = 'paging' AND tags.n < 2").nextAsTwin();
    return { isTwin: t instanceof iothub.Twin, updatedTag: t.tags.seen, updatedCfg: updated.configurations,
      queried: result.map((q) => q instanceof iothub.Twin && q.configurations['sdk-cfg'].status) };
  });
  assert.deepEqual(sdkTwins, { isTwin: true, updatedTag: 'cfg', updatedCfg: { 'sdk-cfg': { status: 'applied' } },
    queried: ['applied', 'applied'] });

  // updateConfiguration sends the configuration's etag; a stale one is refused, force sends "*".
  const upd = await sdk(async ({ registry }, c) => (await registry.updateConfiguration({ ...c, priority: 7 })).responseBody, applied);
  assert.equal(upd.priority, 7);
  assert.notEqual(upd.etag, applied.etag);
  await rejectsWith(sdk(async ({ registry }, c) => registry.updateConfiguration({ ...c, priority: 8 }), applied),
    'InvalidEtagError', 412);
  const forced = await sdk(async ({ registry }, c) => (await registry.updateConfiguration({ ...c, priority: 9 }, true)).responseBody, applied);
  assert.equal(forced.priority, 9);

  const all = await sdk(async ({ registry }) => (await registry.getConfigurations()).responseBody);
  assert.deepEqual(all.map((c) => c.id), ['sdk-cfg']);

  await sdk(async ({ registry }) => registry.removeConfiguration('sdk-cfg'));
  const gone = await rejectsWith(sdk(async ({ registry }) => registry.getConfiguration('sdk-cfg')), 'Error', 404);
  assert.match(JSON.stringify(gone.responseBody), /ConfigurationNotFound/);
  await eventually(async () => {
    const t = await sdk(async ({ registry }) => (await registry.getTwin('page-07')).responseBody);
    return t.properties.desired.telemetry === undefined && t.configurations === undefined;
  }, 'the removed configuration\'s settings and status to leave the twin');
});
