// Configurations (IoT Hub automatic device management, reference §1.7) against a real devicehubd: CRUD
// with etags and IoT Hub's errors, content applied to the desired properties of targeted twins (and
// pushed to a connected device), priorities, devices leaving the target set, deletion, metrics that
// follow reported properties, and testQueries.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, sasToken, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const delay = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(fn, what, ms = 8000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

async function newDevice(id, tags) {
  const r = await hub.req('PUT', `/devices/${id}`, sdkDevice(id));
  assert.equal(r.status, 200, r.text);
  if (tags) {
    const t = await hub.req('PATCH', `/twins/${id}`, { tags });
    assert.equal(t.status, 200, t.text);
  }
  return r.json;
}
const getTwin = async (id) => (await hub.req('GET', `/twins/${id}`)).json;
const desiredOf = async (id) => (await getTwin(id)).properties.desired;
const getConfig = async (id) => (await hub.req('GET', `/configurations/${id}`)).json;

// The body the Node service SDK sends for Registry.addConfiguration [wire].
function configBody(id, { target, priority = 0, content, metrics = {} } = {}) {
  return {
    id, schemaVersion: '1.0', labels: { team: 'qa' },
    content: { deviceContent: content },
    targetCondition: target, priority, metrics: { queries: metrics },
  };
}
async function putConfig(id, opts) {
  const r = await hub.req('PUT', `/configurations/${id}`, configBody(id, opts));
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('create, read, list, update with etags, delete: IoT Hub shapes and errors', async () => {
  const c = await putConfig('crud-1', { target: "tags.env='none'", priority: 3,
    content: { 'properties.desired.fw': { version: '1.0' } }, metrics: { m1: 'SELECT deviceId FROM devices' } });
  assert.equal(c.id, 'crud-1');
  assert.equal(c.etag, 'MQ==');
  assert.equal(c.priority, 3);
  assert.equal(c.schemaVersion, '1.0');
  assert.deepEqual(c.labels, { team: 'qa' });
  assert.deepEqual(c.content, { deviceContent: { 'properties.desired.fw': { version: '1.0' } } });
  assert.match(c.createdTimeUtc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(c.lastUpdatedTimeUtc, c.createdTimeUtc);
  assert.deepEqual(c.metrics, { results: { m1: 0 }, queries: { m1: 'SELECT deviceId FROM devices' } });
  assert.deepEqual(c.systemMetrics, {
    results: { targetedCount: 0, appliedCount: 0 },
    queries: { targetedCount: "select deviceId from devices where tags.env='none'",
      appliedCount: "select deviceId from devices where configurations.[[crud-1]].status = 'Applied'" },
  });

  assertHubError(assert, await hub.req('PUT', '/configurations/crud-1', configBody('crud-1', { target: '',
    content: {} })), 409, 'ConfigurationAlreadyExists');

  const got = await hub.req('GET', '/configurations/crud-1');
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('etag'), '"MQ=="');
  assert.equal(got.json.targetCondition, "tags.env='none'");

  // Update: If-Match must match (quoted as the SDK sends it), content cannot change.
  const upd = { ...got.json, priority: 7, labels: { team: 'ops' } };
  assertHubError(assert, await hub.req('PUT', '/configurations/crud-1', upd, { headers: { 'If-Match': '"Mg=="' } }),
    412, 'PreconditionFailed');
  const u = await hub.req('PUT', '/configurations/crud-1', upd, { headers: { 'If-Match': '"MQ=="' } });
  assert.equal(u.status, 200, u.text);
  assert.equal(u.json.etag, 'Mg==');
  assert.equal(u.json.priority, 7);
  assert.deepEqual(u.json.labels, { team: 'ops' });
  assert.equal(u.json.createdTimeUtc, c.createdTimeUtc);
  const forced = await hub.req('PUT', '/configurations/crud-1', { ...upd, priority: 8 }, { headers: { 'If-Match': '"*"' } });
  assert.equal(forced.status, 200, forced.text);
  assert.equal(forced.json.etag, 'Mw==');
  const changed = { ...upd, content: { deviceContent: { 'properties.desired.fw': { version: '2.0' } } } };
  assertHubError(assert, await hub.req('PUT', '/configurations/crud-1', changed, { headers: { 'If-Match': '"*"' } }),
    400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('PUT', '/configurations/nope', configBody('nope', { content: {} }),
    { headers: { 'If-Match': '"*"' } }), 404, 'ConfigurationNotFound');

  await putConfig('crud-2', { target: '', content: {} });
  const list = await hub.req('GET', '/configurations');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.map((x) => x.id).filter((id) => id.startsWith('crud-')), ['crud-1', 'crud-2']);
  const top = await hub.req('GET', '/configurations?top=1');
  assert.equal(top.json.length, 1);

  assertHubError(assert, await hub.req('GET', '/configurations/missing'), 404, 'ConfigurationNotFound');
  assertHubError(assert, await hub.req('DELETE', '/configurations/crud-1', undefined, { headers: { 'If-Match': '"MQ=="' } }),
    412, 'PreconditionFailed');
  assert.equal((await hub.req('DELETE', '/configurations/crud-1', undefined, { headers: { 'If-Match': '"*"' } })).status, 204);
  assert.equal((await hub.req('DELETE', '/configurations/crud-2')).status, 204);
  assertHubError(assert, await hub.req('DELETE', '/configurations/crud-1'), 404, 'ConfigurationNotFound');
});

test('bad ids, content, conditions and metrics are 400; rights are ServiceConnect', async () => {
  const bad = async (id, body) => assertHubError(assert,
    await hub.req('PUT', `/configurations/${encodeURIComponent(id)}`, body), 400, 'ArgumentInvalid');
  const ok = { target: "tags.a='b'", content: { 'properties.desired.x': 1 } };
  await bad('Upper', configBody('Upper', ok));
  await bad('a b', configBody('a b', ok));
  await bad('a{b', configBody('a{b', ok));
  await bad('x'.repeat(129), configBody('x'.repeat(129), ok));
  await bad('mismatch', configBody('other', ok));
  await bad('c1', configBody('c1', { ...ok, content: { tags: { a: 1 } } }));
  await bad('c1', configBody('c1', { ...ok, content: { 'properties.reported.x': 1 } }));
  await bad('c1', configBody('c1', { ...ok, content: { 'properties.desired': 5 } }));
  await bad('c1', configBody('c1', { ...ok, content: { 'properties.desired.a..b': 1 } }));
  await bad('c1', configBody('c1', { ...ok, content: { 'properties.desired.a': 1, 'properties.desired.a.b': 2 } }));
  await bad('c1', configBody('c1', { ...ok, content: { 'properties.desired.a': 'x'.repeat(5000) } }));
  await bad('c1', { ...configBody('c1', ok), content: { modulesContent: { m: {} } } });
  await bad('c1', configBody('c1', { ...ok, target: 'tags.a = ' }));
  await bad('c1', configBody('c1', { ...ok, priority: -1 }));
  await bad('c1', configBody('c1', { ...ok, metrics: { m: 'SELECT FROM' } }));
  await bad('c1', configBody('c1', { ...ok,
    metrics: Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`m${i}`, 'SELECT deviceId FROM devices'])) }));
  const msg = assertHubError(assert, await hub.req('PUT', '/configurations/c1',
    configBody('c1', { ...ok, content: { 'properties.desired.fw': 1, tags: {} } })), 400, 'ArgumentInvalid');
  assert.match(msg, /properties\.desired/);

  const policies = await hub.policies();
  const reader = sasToken('testhub.local', policies.registryRead.primaryKey, 'registryRead');
  assertHubError(assert, await hub.req('GET', '/configurations', undefined, { auth: reader }), 401, 'IotHubUnauthorizedAccess');
  const service = sasToken('testhub.local', policies.service.primaryKey, 'service');
  assert.equal((await hub.req('GET', '/configurations', undefined, { auth: service })).status, 200);
});

test('a configuration sets desired properties on the twins it targets and a connected device hears it', async () => {
  const dev = await newDevice('cfg-t1', { env: 'test' });
  await newDevice('cfg-p1', { env: 'prod' });
  const c = await connectDevice(hub, 'cfg-t1', { token: deviceToken('cfg-t1', dev.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, JSON.stringify(c));

  await putConfig('apply-a', { target: "tags.env = 'test'", priority: 1,
    content: { 'properties.desired.fw': { version: '1.0' }, 'properties.desired': { rate: 5 } } });
  const desired = await waitFor(async () => {
    const d = await desiredOf('cfg-t1');
    return d.fw?.version === '1.0' && d.rate === 5 && d;
  }, 'desired fw 1.0 on cfg-t1');
  assert.deepEqual(desired.fw, { version: '1.0' });
  const push = await c.device.next((m) => m.type === 'desired.patch' && m.body.fw, 5000);
  assert.deepEqual(push.body.fw, { version: '1.0' });
  assert.equal(push.body.rate, 5);
  assert.equal(push.version, desired.$version);
  assert.equal((await desiredOf('cfg-p1')).fw, undefined);

  const cfg = await waitFor(async () => {
    const g = await getConfig('apply-a');
    return g.systemMetrics.results.appliedCount === 1 && g;
  }, 'appliedCount 1');
  assert.equal(cfg.systemMetrics.results.targetedCount, 1);
  const q = await hub.req('POST', '/devices/query',
    { query: "SELECT deviceId FROM devices WHERE configurations.[[apply-a]].status = 'Applied'" });
  assert.deepEqual(q.json, [{ deviceId: 'cfg-t1' }]);

  // Nothing changes on later passes: no further version bumps or pushes.
  const version = (await getTwin('cfg-t1')).properties.desired.$version;
  await delay(2500);
  assert.equal((await getTwin('cfg-t1')).properties.desired.$version, version);
  assert.equal(c.device.inbox.filter((m) => m.type === 'desired.patch').length, 0);

  // A new device that matches is picked up.
  await newDevice('cfg-t2', { env: 'test' });
  await waitFor(async () => (await desiredOf('cfg-t2')).fw?.version === '1.0', 'cfg-t2 configured');
  await c.device.close();
});

test('the higher priority wins a conflicting path; the lower one takes over again when it goes', async () => {
  await newDevice('prio-1', { ring: 'canary' });
  await putConfig('prio-low', { target: "tags.ring = 'canary'", priority: 1,
    content: { 'properties.desired.fw': { version: '1.0' }, 'properties.desired.mode': 'eco' } });
  await waitFor(async () => (await desiredOf('prio-1')).fw?.version === '1.0', 'low applied');
  await putConfig('prio-high', { target: "tags.ring = 'canary'", priority: 10,
    content: { 'properties.desired.fw': { version: '2.0' } } });
  await waitFor(async () => (await desiredOf('prio-1')).fw?.version === '2.0', 'high wins');
  assert.equal((await desiredOf('prio-1')).mode, 'eco', 'the low configuration keeps its other path');
  await waitFor(async () => {
    const [low, high] = [await getConfig('prio-low'), await getConfig('prio-high')];
    return low.systemMetrics.results.targetedCount === 1 && low.systemMetrics.results.appliedCount === 0 &&
      high.systemMetrics.results.appliedCount === 1;
  }, 'statuses: low Targeted, high Applied');

  // Same priority: the newer configuration wins.
  await putConfig('prio-newer', { target: "tags.ring = 'canary'", priority: 10,
    content: { 'properties.desired.fw': { version: '3.0' } } });
  await waitFor(async () => (await desiredOf('prio-1')).fw?.version === '3.0', 'newer of equal priority wins');

  assert.equal((await hub.req('DELETE', '/configurations/prio-newer')).status, 204);
  await waitFor(async () => (await desiredOf('prio-1')).fw?.version === '2.0', 'back to high');
  assert.equal((await hub.req('DELETE', '/configurations/prio-high')).status, 204);
  await waitFor(async () => (await desiredOf('prio-1')).fw?.version === '1.0', 'back to low');
  await waitFor(async () => (await getConfig('prio-low')).systemMetrics.results.appliedCount === 1, 'low Applied');
  assert.equal((await hub.req('DELETE', '/configurations/prio-low')).status, 204);
  await waitFor(async () => {
    const d = await desiredOf('prio-1');
    return d.fw === undefined && d.mode === undefined;
  }, 'settings removed after the last configuration went');
});

test("twins show the configurations that target them with IoT Hub's statuses", async () => {
  await newDevice('tc-both', { line: 'tc' });
  await newDevice('tc-none', { line: 'other' });
  const m = await hub.req('PUT', '/devices/tc-both/modules/m1', { deviceId: 'tc-both', moduleId: 'm1' });
  assert.ok(m.status === 200 || m.status === 201, m.text);
  // tc-low loses its fw path to tc-high, so it is only targeted; tc-high got all of its content.
  await putConfig('tc-low', { target: "tags.line = 'tc'", priority: 1,
    content: { 'properties.desired.fw': '1.0', 'properties.desired.mode': 'eco' } });
  await putConfig('tc-high', { target: "tags.line = 'tc'", priority: 5, content: { 'properties.desired.fw': '2.0' } });
  const expected = { 'tc-high': { status: 'applied' }, 'tc-low': { status: 'targeted' } };
  const twin = await waitFor(async () => {
    const t = await getTwin('tc-both');
    return t.properties.desired.fw === '2.0' && t.configurations?.['tc-low']?.status === 'targeted' && t;
  }, 'tc-both shows both configurations');
  assert.deepEqual(twin.configurations, expected);
  assert.equal(twin.properties.desired.mode, 'eco');
  // The query language keeps IoT Hub's 'Applied' / 'Targeted' (the systemMetrics queries use them).
  const applied = await hub.req('POST', '/devices/query',
    { query: "SELECT deviceId FROM devices WHERE configurations.[[tc-low]].status = 'Targeted'" });
  assert.deepEqual(applied.json, [{ deviceId: 'tc-both' }]);

  // Untargeted twins and module twins (configurations here target devices only) have no member.
  assert.equal('configurations' in (await getTwin('tc-none')), false);
  const mod = await hub.req('GET', '/twins/tc-both/modules/m1');
  assert.equal(mod.status, 200, mod.text);
  assert.equal('configurations' in mod.json, false);

  // SELECT * rows are whole twins, with the member; projections are not twins.
  const q = await hub.req('POST', '/devices/query',
    { query: "SELECT * FROM devices WHERE deviceId IN ['tc-both', 'tc-none']" });
  assert.equal(q.status, 200, q.text);
  assert.equal(q.headers.get('x-ms-item-type'), 'twin');
  const rows = Object.fromEntries(q.json.map((t) => [t.deviceId, t]));
  assert.deepEqual(rows['tc-both'].configurations, expected);
  assert.equal('configurations' in rows['tc-none'], false);
  // Paged with one twin per page: every page attaches its own twins' statuses.
  const p1 = await hub.req('POST', '/devices/query', { query: "SELECT * FROM devices WHERE tags.line IN ['tc', 'other']" },
    { headers: { 'x-ms-max-item-count': '1' } });
  const p2 = await hub.req('POST', '/devices/query', { query: "SELECT * FROM devices WHERE tags.line IN ['tc', 'other']" },
    { headers: { 'x-ms-max-item-count': '1', 'x-ms-continuation': p1.headers.get('x-ms-continuation') } });
  const paged = Object.fromEntries([...p1.json, ...p2.json].map((t) => [t.deviceId, t.configurations]));
  assert.deepEqual(paged, { 'tc-both': expected, 'tc-none': undefined });
  const modules = await hub.req('POST', '/devices/query', { query: "SELECT * FROM devices.modules WHERE deviceId = 'tc-both'" });
  assert.equal(modules.json.length, 1);
  assert.equal('configurations' in modules.json[0], false);

  // The service's own writes answer with the whole twin, member included; a body echoing the member is
  // accepted and the member ignored, like the other read-only members a fetched twin carries.
  const patched = await hub.req('PATCH', '/twins/tc-both', { tags: { note: 'x' } });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(patched.json.configurations, expected);
  const { deviceId, etag, version, tags, properties } = patched.json;
  const replaced = await hub.req('PUT', '/twins/tc-both', { deviceId, etag, version, tags,
    properties: { desired: properties.desired }, configurations: { bogus: { status: 'applied' } } });
  assert.equal(replaced.status, 200, replaced.text);
  assert.deepEqual(replaced.json.configurations, expected);

  // When tc-high goes, tc-low's content is all in effect: applied. When both go, the member goes too.
  assert.equal((await hub.req('DELETE', '/configurations/tc-high')).status, 204);
  await waitFor(async () => {
    const c = (await getTwin('tc-both')).configurations;
    return c && Object.keys(c).length === 1 && c['tc-low'].status === 'applied';
  }, 'tc-low applied alone');
  assert.equal((await hub.req('DELETE', '/configurations/tc-low')).status, 204);
  await waitFor(async () => !('configurations' in (await getTwin('tc-both'))), 'no configurations member left');
});

test('a device that leaves the target set loses the settings; deleting a configuration removes them', async () => {
  await newDevice('leave-1', { site: 'a' });
  await newDevice('leave-2', { site: 'a' });
  await putConfig('leave-cfg', { target: "tags.site = 'a'", content: { 'properties.desired.cfg': { level: 2 } } });
  await waitFor(async () => (await desiredOf('leave-1')).cfg?.level === 2 && (await desiredOf('leave-2')).cfg?.level === 2,
    'both configured');
  // A desired property the service set itself is left alone.
  assert.equal((await hub.req('PATCH', '/twins/leave-1', { properties: { desired: { own: true } } })).status, 200);

  assert.equal((await hub.req('PATCH', '/twins/leave-1', { tags: { site: null } })).status, 200);
  await waitFor(async () => (await desiredOf('leave-1')).cfg === undefined, 'leave-1 loses cfg');
  assert.equal((await desiredOf('leave-1')).own, true);
  await waitFor(async () => (await getConfig('leave-cfg')).systemMetrics.results.targetedCount === 1, 'targetedCount 1');
  assert.equal((await desiredOf('leave-2')).cfg.level, 2);

  assert.equal((await hub.req('DELETE', '/configurations/leave-cfg')).status, 204);
  await waitFor(async () => (await desiredOf('leave-2')).cfg === undefined, 'leave-2 loses cfg');
});

test("a configuration's metrics follow the devices' reports", async () => {
  const devs = {};
  for (const id of ['met-1', 'met-2']) devs[id] = await newDevice(id, { fleet: 'm' });
  await putConfig('met-cfg', { target: "tags.fleet = 'm'", content: { 'properties.desired.fw': '2.0' }, metrics: {
    upgraded: "SELECT deviceId FROM devices WHERE configurations.[[met-cfg]].status = 'Applied' AND properties.reported.fw = '2.0'",
    reporting: 'SELECT deviceId FROM devices WHERE IS_DEFINED(properties.reported.fw)',
  } });
  await waitFor(async () => (await getConfig('met-cfg')).systemMetrics.results.appliedCount === 2, 'applied to both');
  assert.deepEqual((await getConfig('met-cfg')).metrics.results, { upgraded: 0, reporting: 0 });

  const c = await connectDevice(hub, 'met-1', { token: deviceToken('met-1', devs['met-1'].authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, JSON.stringify(c));
  const ack = await c.device.request({ type: 'reported.patch', rid: '1', body: { fw: '2.0' } });
  assert.equal(ack.type, 'reported.ack');
  await waitFor(async () => (await getConfig('met-cfg')).metrics.results.upgraded === 1, 'upgraded = 1');
  assert.equal((await getConfig('met-cfg')).metrics.results.reporting, 1);

  await c.device.request({ type: 'reported.patch', rid: '2', body: { fw: '1.9' } });
  await waitFor(async () => (await getConfig('met-cfg')).metrics.results.upgraded === 0, 'upgraded back to 0');
  await c.device.close();
  assert.equal((await hub.req('DELETE', '/configurations/met-cfg')).status, 204);
});

test('testQueries validates a target condition and metric queries and counts what they select', async () => {
  await newDevice('tq-1', { zone: 'z9' });
  await newDevice('tq-2', { zone: 'z9' });
  const r = await hub.req('POST', '/configurations/testQueries', {
    targetCondition: "tags.zone = 'z9'",
    customMetricQueries: { all: "SELECT deviceId FROM devices WHERE tags.zone = 'z9'", bad: 'SELECT deviceId FROM' },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.targetConditionError, '');
  assert.equal(r.json.targetedCount, 2);
  assert.deepEqual(r.json.customMetricQueryResults, { all: 2 });
  assert.deepEqual(Object.keys(r.json.customMetricQueryErrors), ['bad']);
  assert.match(r.json.customMetricQueryErrors.bad, /syntax error at position/);

  const e = await hub.req('POST', '/configurations/testQueries', { targetCondition: 'tags.zone =' });
  assert.equal(e.status, 200);
  assert.match(e.json.targetConditionError, /syntax error/);
  assert.equal(e.json.targetedCount, undefined);
  assertHubError(assert, await hub.req('POST', '/configurations/testQueries', { targetCondition: 5 }), 400, 'ArgumentInvalid');
});

test('at most 100 configurations: the next is 403 IotHubQuotaExceeded', async () => {
  const existing = (await hub.req('GET', '/configurations')).json.length;
  const made = [];
  for (let i = existing; i < 100; i++) {
    const id = `quota-${i}`;
    await putConfig(id, { target: "tags.never = 'x'", content: { 'properties.desired.q': i } });
    made.push(id);
  }
  assertHubError(assert, await hub.req('PUT', '/configurations/quota-x',
    configBody('quota-x', { target: '', content: {} })), 403, 'IotHubQuotaExceeded');
  assert.equal((await hub.req('GET', '/configurations?top=500')).json.length, 100);
  for (const id of made) assert.equal((await hub.req('DELETE', `/configurations/${id}`)).status, 204);
});
