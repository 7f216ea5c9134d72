// Fleet view and health rules against a real devicehubd: fleet counts as devices are created, disabled
// and connect; sampled history (--fleet-history-interval 1); health rule CRUD and validation; a rule that
// breaks when a device reports a low battery (--health-interval 1); AGO() in queries; configuration
// drift; twin paths for autocomplete.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
before(async () => {
  hub = await startHub({ args: ['--fleet-history-interval', '1', '--health-interval', '1'] });
});
after(async () => { await hub?.destroy(); });

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function newDevice(id, body = {}) {
  const r = await hub.req('PUT', `/devices/${id}`, { deviceId: id, ...body });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function connect(id, dev) {
  const c = await connectDevice(hub, id, { token: deviceToken(id, dev.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, `device ${id} did not connect: ${JSON.stringify(c)}`);
  return c.device;
}

async function report(device, body) {
  const ack = await device.request({ type: 'reported.patch', rid: `r${Math.random()}`, body });
  assert.equal(ack.type, 'reported.ack', JSON.stringify(ack));
}

async function fleet() {
  const r = await hub.req('GET', '/devicehub/fleet');
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// Polls fn until it returns a truthy value or ms pass; returns the last value.
async function until(fn, ms = 8000) {
  const end = Date.now() + ms;
  let v;
  while (!(v = await fn()) && Date.now() < end) await delay(150);
  return v;
}

async function health(name) {
  const r = await hub.req('GET', '/devicehub/health');
  assert.equal(r.status, 200, r.text);
  return name ? r.json.rules.find((x) => x.name === name) : r.json;
}

// Runs first: the twin paths are cached for 60 s from the first ask.
test('twin-paths lists a reported path after a device reports it, plus tags and the tag schema', async () => {
  const dev = await newDevice('tp-1');
  let r = await hub.req('PATCH', '/twins/tp-1', { tags: { site: { room: 'a1' } }, properties: { desired: { rate: 5 } } });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('PUT', '/devicehub/tag-schema', { keys: { floor: { type: 'number' } }, additionalKeys: true });
  assert.equal(r.status, 200, r.text);
  const d = await connect('tp-1', dev);
  await report(d, { sensors: { temperature: 21.5 }, list: [1, 2] });
  await d.close();
  r = await hub.req('GET', '/devicehub/twin-paths');
  assert.equal(r.status, 200, r.text);
  const paths = r.json.paths;
  for (const p of ['properties.reported.sensors.temperature', 'properties.reported.list', 'tags.site.room',
    'properties.desired.rate', 'tags.floor'])
    assert.ok(paths.includes(p), `${p} missing from ${JSON.stringify(paths)}`);
  assert.ok(!paths.some((p) => p.includes('$')), JSON.stringify(paths));
  assert.deepEqual(paths, [...paths].sort());
  assert.equal(new Set(paths).size, paths.length);
  r = await hub.req('DELETE', '/devicehub/tag-schema');
  assert.equal(r.status, 204, r.text);
  r = await hub.req('DELETE', '/devices/tp-1', undefined, { headers: { 'If-Match': '*' } });
  assert.equal(r.status, 204, r.text);
});

test('fleet counts follow creates, disables, deletes and connections', async () => {
  const base = await fleet();
  assert.ok(Date.parse(base.time) > 0, base.time);
  assert.equal(base.total, base.enabled + base.disabled);
  const a = await newDevice('fl-a');
  await newDevice('fl-b');
  await newDevice('fl-c', { status: 'disabled' });
  // A module is not a device.
  let r = await hub.req('PUT', '/devices/fl-a/modules/m1', { deviceId: 'fl-a', moduleId: 'm1' });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  let f = await fleet();
  assert.equal(f.total, base.total + 3);
  assert.equal(f.enabled, base.enabled + 2);
  assert.equal(f.disabled, base.disabled + 1);

  // The same as GET /statistics/devices.
  const stats = await hub.req('GET', '/statistics/devices');
  assert.equal(stats.json.totalDeviceCount, f.total);
  assert.equal(stats.json.enabledDeviceCount, f.enabled);

  const b = await hub.req('GET', '/devices/fl-b');
  r = await hub.req('PUT', '/devices/fl-b', { ...b.json, status: 'disabled' }, { headers: { 'If-Match': '*' } });
  assert.equal(r.status, 200, r.text);
  f = await fleet();
  assert.equal(f.enabled, base.enabled + 1);
  assert.equal(f.disabled, base.disabled + 2);

  const d = await connect('fl-a', a);
  f = await fleet();
  assert.equal(f.connected, base.connected + 1);
  await d.close();
  f = await until(async () => { const x = await fleet(); return x.connected === base.connected && x; });
  assert.ok(f, 'connected count did not go back down');

  r = await hub.req('DELETE', '/devices/fl-c', undefined, { headers: { 'If-Match': '*' } });
  assert.equal(r.status, 204, r.text);
  f = await fleet();
  assert.equal(f.total, base.total + 2);
  assert.equal(f.disabled, base.disabled + 1);

  // Bulk creates (one disabled), a bulk status update and a bulk delete keep the counters exact.
  r = await hub.req('POST', '/devices', Array.from({ length: 5 }, (_, i) =>
    ({ id: `fl-bulk-${i}`, importMode: 'create', ...(i === 0 ? { status: 'disabled' } : {}) })));
  assert.equal(r.status, 200, r.text);
  r = await hub.req('POST', '/devices', [{ id: 'fl-bulk-1', importMode: 'update', status: 'disabled' },
    { id: 'fl-bulk-2', importMode: 'delete' }, { id: 'fl-bulk-3', importMode: 'delete' }]);
  assert.equal(r.status, 200, r.text);
  f = await fleet();
  assert.equal(f.total, base.total + 5);
  assert.equal(f.disabled, base.disabled + 3);
  const again = await hub.req('GET', '/statistics/devices');
  assert.deepEqual([f.total, f.enabled, f.disabled], [again.json.totalDeviceCount, again.json.enabledDeviceCount,
    again.json.disabledDeviceCount]);
});

test('fleet history gets a point a second and reflects a connect', async () => {
  const dev = await newDevice('fh-1');
  const start = new Date().toISOString();
  const d = await connect('fh-1', dev);
  const now = (await fleet()).connected;
  const points = await until(async () => {
    const r = await hub.req('GET', `/devicehub/fleet/history?since=${start}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.intervalSeconds, 1);
    return r.json.points.some((p) => p.connected === now) && r.json.points;
  });
  await d.close();
  assert.ok(points, 'no history point shows the connected device');
  for (const p of points) {
    assert.ok(Date.parse(p.time) >= Date.parse(start) - 1, p.time);
    assert.equal(typeof p.total, 'number');
    assert.equal(typeof p.enabled, 'number');
  }
  // Default span: the last 24 hours, oldest first.
  const all = await hub.req('GET', '/devicehub/fleet/history');
  assert.equal(all.status, 200, all.text);
  assert.ok(all.json.points.length >= points.length);
  const times = all.json.points.map((p) => p.time);
  assert.deepEqual(times, [...times].sort());

  let r = await hub.req('GET', '/devicehub/fleet/history?since=yesterday');
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  r = await hub.req('GET', '/devicehub/fleet/history?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z');
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  r = await hub.req('GET', '/devicehub/fleet/history?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.points, []);
  // Percent-encoded arguments (encodeURIComponent turns ':' into %3A) are decoded by the gate.
  const since = new Date(Date.now() - 3600e3).toISOString();
  r = await hub.req('GET', `/devicehub/fleet/history?since=${encodeURIComponent(since)}`);
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.points.length >= 1, r.text);
});

test('health rules: seeded rules, CRUD, and validation that stores nothing', async () => {
  let r = await hub.req('GET', '/devicehub/health-rules');
  assert.equal(r.status, 200, r.text);
  const seeded = Object.fromEntries(r.json.map((x) => [x.name, x]));
  assert.equal(seeded['low-battery'].condition, 'properties.reported.battery < 20');
  assert.equal(seeded['firmware-error'].condition, "properties.reported.firmware.status = 'error'");
  assert.equal(seeded['not-seen-1h'].condition, "connectionState = 'Disconnected' AND lastActivityTime < AGO(3600)");

  r = await hub.req('PUT', '/devicehub/health-rules/hot', {
    condition: 'properties.reported.temperature > 80', threshold: 2, severity: 'critical', description: 'Too hot',
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.name, 'hot');
  assert.equal(r.json.threshold, 2);
  const created = r.json.createdTime;
  r = await hub.req('PUT', '/devicehub/health-rules/hot', {
    condition: 'properties.reported.temperature > 90', severity: 'warning',
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.threshold, 0);
  assert.equal(r.json.createdTime, created);
  assert.equal(r.json.condition, 'properties.reported.temperature > 90');

  const bad = [
    [{ condition: 'properties.reported.x >', severity: 'warning' }, /position/],
    [{ condition: 'FOO(properties.reported.x)', severity: 'warning' }, /position 0.*unknown function/],
    [{ condition: 'lastActivityTime < AGO(-5)', severity: 'warning' }, /position 23.*AGO/],
    [{ condition: 'x = 1', severity: 'fatal' }, /severity/],
    [{ condition: 'x = 1', severity: 'warning', threshold: -1 }, /threshold/],
    [{ condition: 'x = 1', severity: 'warning', threshold: 1.5 }, /threshold/],
    [{ condition: '', severity: 'warning' }, /condition/],
    [{ condition: 'x = 1', severity: 'warning', description: 'd'.repeat(257) }, /description/],
    [{ condition: 'x = 1', severity: 'warning', name: 'other' }, /name/],
  ];
  for (const [body, why] of bad) {
    r = await hub.req('PUT', '/devicehub/health-rules/hot', body);
    const msg = assertHubError(assert, r, 400, 'ArgumentInvalid');
    assert.match(msg, why, JSON.stringify(body));
  }
  r = await hub.req('PUT', '/devicehub/health-rules/bad%20name', { condition: 'x = 1', severity: 'warning' });
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  r = await hub.req('PUT', '/devicehub/health-rules/fresh', { condition: 'x >', severity: 'warning' });
  assertHubError(assert, r, 400, 'ArgumentInvalid');

  r = await hub.req('GET', '/devicehub/health-rules');
  const names = r.json.map((x) => x.name);
  assert.ok(!names.includes('fresh'), 'a refused rule was stored');
  assert.equal(r.json.find((x) => x.name === 'hot').condition, 'properties.reported.temperature > 90',
    'a refused replace changed the rule');

  r = await hub.req('DELETE', '/devicehub/health-rules/hot');
  assert.equal(r.status, 204, r.text);
  r = await hub.req('DELETE', '/devicehub/health-rules/hot');
  assert.equal(r.status, 404, r.text);
  r = await hub.req('GET', '/devicehub/health-rules');
  assert.ok(!r.json.some((x) => x.name === 'hot'));
});

test('a device reporting battery 10 makes low-battery break; health.changed is published', async () => {
  const before = await until(async () => { const h = await health(); return h.evaluatedTime && h; });
  assert.ok(before, 'no evaluation within the interval');
  const dev = await newDevice('hb-1');
  const d = await connect('hb-1', dev);
  await report(d, { battery: 10 });
  const rule = await until(async () => { const x = await health('low-battery'); return x.breaking && x; });
  assert.ok(rule, 'low-battery did not break');
  assert.ok(rule.count >= 1);
  assert.ok(rule.devices.includes('hb-1'), JSON.stringify(rule));
  assert.equal(rule.severity, 'warning');
  assert.equal(rule.threshold, 0);

  // A higher threshold: no longer breaking, evaluated at once after the change.
  let r = await hub.req('PUT', '/devicehub/health-rules/low-battery',
    { condition: 'properties.reported.battery < 20', threshold: 100, severity: 'warning' });
  assert.equal(r.status, 200, r.text);
  const calm = await until(async () => { const x = await health('low-battery'); return x.threshold === 100 && x; });
  assert.ok(calm);
  assert.equal(calm.breaking, false);
  assert.ok(calm.count >= 1);

  await report(d, { battery: 90 });
  await d.close();
  const events = await hub.req('GET', '/devicehub/events?types=health.changed&top=100');
  assert.equal(events.status, 200, events.text);
  const mine = events.json.items.filter((e) => e.name === 'low-battery');
  assert.ok(mine.some((e) => e.breaking === true && e.count >= 1), JSON.stringify(events.json));
  assert.ok(mine.some((e) => e.breaking === false && e.count >= 1), 'no event for the raised threshold');
});

test('AGO(seconds) in POST /devices/query', async () => {
  const dev = await newDevice('ago-1');
  await newDevice('ago-never');
  const d = await connect('ago-1', dev);
  await report(d, { seen: true });
  await d.close();
  const q = async (query) => {
    const r = await hub.req('POST', '/devices/query', { query });
    assert.equal(r.status, 200, r.text);
    return r.json.map((t) => t.deviceId).filter((id) => id.startsWith('ago-')).sort();
  };
  assert.deepEqual(await q('SELECT * FROM devices WHERE lastActivityTime > AGO(3600)'), ['ago-1']);
  assert.deepEqual(await q('SELECT * FROM devices WHERE lastActivityTime < AGO(3600)'), ['ago-never']);
  // A fraction of a second, lower case: ago-1's activity is older than 0.5 s by now.
  await delay(1100);
  assert.deepEqual(await q('SELECT * FROM devices WHERE lastActivityTime > ago(0.5) OR deviceId = \'ago-never\''),
    ['ago-never']);
  let r = await hub.req('POST', '/devices/query', { query: 'SELECT * FROM devices WHERE lastActivityTime < AGO()' });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /position 47.*AGO takes 1 argument/);
  r = await hub.req('POST', '/devices/query', { query: "SELECT * FROM devices WHERE lastActivityTime < AGO('1h')" });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /position 51.*AGO takes a number/);
  r = await hub.req('POST', '/devices/query', { query: 'SELECT * FROM devices WHERE lastActivityTime < AGO(99999999999)' });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /AGO takes from 0/);
});

test('configuration drift: matched and drifting devices per desired leaf', async () => {
  const devs = {};
  for (const id of ['dr-1', 'dr-2', 'dr-3']) {
    devs[id] = await newDevice(id);
    const r = await hub.req('PATCH', `/twins/${id}`, { tags: { ring: 'drift' } });
    assert.equal(r.status, 200, r.text);
  }
  await newDevice('dr-out');
  let r = await hub.req('PUT', '/configurations/drift-1', {
    id: 'drift-1',
    content: { deviceContent: { 'properties.desired.fw': { version: '2.0', channel: 'stable' }, 'properties.desired': { rate: 5 } } },
    targetCondition: "tags.ring = 'drift'", priority: 1,
  });
  assert.equal(r.status, 200, r.text);
  const targeted = await until(async () => {
    const x = await hub.req('GET', '/devicehub/configurations/drift-1/drift');
    assert.equal(x.status, 200, x.text);
    return x.json.targetedCount === 3 && x.json;
  });
  assert.ok(targeted, 'the configuration did not target 3 devices');

  // dr-1 reports everything, dr-2 only the version (and a wrong rate type), dr-3 nothing.
  const d1 = await connect('dr-1', devs['dr-1']);
  await report(d1, { fw: { version: '2.0', channel: 'stable' }, rate: 5 });
  await d1.close();
  const d2 = await connect('dr-2', devs['dr-2']);
  await report(d2, { fw: { version: '2.0', channel: 'beta' }, rate: '5' });
  await d2.close();

  r = await hub.req('GET', '/devicehub/configurations/drift-1/drift');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.configurationId, 'drift-1');
  const byPath = Object.fromEntries(r.json.properties.map((p) => [p.path, p]));
  assert.deepEqual(Object.keys(byPath).sort(),
    ['properties.desired.fw.channel', 'properties.desired.fw.version', 'properties.desired.rate']);
  assert.equal(byPath['properties.desired.fw.version'].value, '2.0');
  assert.equal(byPath['properties.desired.fw.version'].matched, 2);
  assert.equal(byPath['properties.desired.fw.version'].drifting, 1);
  assert.equal(byPath['properties.desired.fw.channel'].matched, 1);
  assert.equal(byPath['properties.desired.fw.channel'].drifting, 2);
  assert.equal(byPath['properties.desired.rate'].value, 5);
  assert.equal(byPath['properties.desired.rate'].matched, 1);
  assert.equal(byPath['properties.desired.rate'].drifting, 2);
  const since = byPath['properties.desired.rate'].oldestDriftSince;
  assert.ok(since && Date.parse(since) > 0, JSON.stringify(byPath['properties.desired.rate']));
  // The oldest desired $lastUpdated of the drifting devices (dr-2, dr-3).
  const written = [];
  for (const id of ['dr-2', 'dr-3']) {
    const twin = await hub.req('GET', `/twins/${id}`);
    written.push(twin.json.properties.desired.$metadata.rate.$lastUpdated);
  }
  assert.equal(since, written.sort()[0]);

  r = await hub.req('GET', '/devicehub/configurations/nope/drift');
  assert.equal(r.status, 404, r.text);
});

test('the new routes need a token', async () => {
  for (const path of ['/devicehub/fleet', '/devicehub/fleet/history', '/devicehub/health', '/devicehub/health-rules',
    '/devicehub/twin-paths']) {
    const r = await hub.req('GET', path, undefined, { auth: null });
    assert.equal(r.status, 401, `${path}: ${r.text}`);
  }
});

test('roles: a viewer reads the fleet and health, only an operator changes health rules', async () => {
  const admin = await hub.login();
  for (const [name, role] of [['fh-viewer', 'viewer'], ['fh-operator', 'operator']]) {
    const r = await hub.req('PUT', `/devicehub/accounts/${name}`, { role, password: 'a-long-password-1' }, { session: admin });
    assert.equal(r.status, 200, r.text);
  }
  const viewer = await hub.login('fh-viewer', 'a-long-password-1');
  const operator = await hub.login('fh-operator', 'a-long-password-1');
  for (const path of ['/devicehub/fleet', '/devicehub/fleet/history', '/devicehub/health', '/devicehub/health-rules',
    '/devicehub/twin-paths'])
    assert.equal((await hub.req('GET', path, undefined, { session: viewer })).status, 200, path);
  const body = { condition: 'properties.reported.x = 1', severity: 'warning' };
  let r = await hub.req('PUT', '/devicehub/health-rules/by-viewer', body, { session: viewer });
  assert.equal(r.status, 403, r.text);
  r = await hub.req('PUT', '/devicehub/health-rules/by-operator', body, { session: operator });
  assert.equal(r.status, 201, r.text);
  r = await hub.req('DELETE', '/devicehub/health-rules/by-operator', undefined, { session: viewer });
  assert.equal(r.status, 403, r.text);
  r = await hub.req('DELETE', '/devicehub/health-rules/by-operator', undefined, { session: operator });
  assert.equal(r.status, 204, r.text);
});
