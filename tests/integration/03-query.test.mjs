// POST /devices/query: IoT Hub's query language over twins, projections, aggregates and paging
// (reference §1.4, §2).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, sasToken, startHub } from './lib/hub.mjs';

let hub;
const N = 30;
// q-0 .. q-29: env prod when i%3==0, region EU for odd i, n = i; desired fw 1.0 below 10, else 2.0.
const devs = Array.from({ length: N }, (_, i) => ({
  id: `q-${i}`,
  env: i % 3 === 0 ? 'prod' : 'test',
  region: i % 2 ? 'EU' : 'US',
  n: i,
  fw: i < 10 ? '1.0' : '2.0',
}));
const ALL = [...devs.map((d) => d.id), 'q-str', 'q-null'];

before(async () => {
  hub = await startHub();
  const body = devs.map((d) => ({
    id: d.id, importMode: 'create',
    tags: { env: d.env, region: d.region, n: d.n, ...(d.n === 7 ? { special: { on: true } } : {}) },
    properties: { desired: { fw: d.fw, level: d.n * 10 } },
  }));
  body.push({ id: 'q-str', importMode: 'create', tags: { n: '5', env: 'lab' } });
  body.push({ id: 'q-null', importMode: 'create', tags: { special: null, n: null } });
  const r = await hub.req('POST', '/devices', body);
  assert.equal(r.status, 200, r.text);
  for (const [dev, mod] of [['q-1', 'm1'], ['q-1', 'm2'], ['q-2', 'm1']]) {
    assert.equal((await hub.req('PUT', `/devices/${dev}/modules/${mod}`, { moduleId: mod })).status, 201);
    const p = await hub.req('PATCH', `/twins/${dev}/modules/${mod}`, { tags: { kind: mod } }, { headers: { 'If-Match': '"*"' } });
    assert.equal(p.status, 200);
  }
});
after(async () => { await hub?.destroy(); });

async function query(q, { max, token, auth } = {}) {
  const headers = {};
  if (max !== undefined) headers['x-ms-max-item-count'] = String(max);
  if (token !== undefined) headers['x-ms-continuation'] = token;
  return hub.req('POST', '/devices/query', { query: q }, { headers, auth });
}

async function ids(where) {
  const r = await query(`SELECT * FROM devices WHERE ${where}`, { max: 1000 });
  assert.equal(r.status, 200, `${where}: ${r.text}`);
  assert.equal(r.headers.get('x-ms-continuation'), null);
  return r.json.map((t) => t.deviceId).sort();
}
const expect = (pred) => devs.filter(pred).map((d) => d.id).sort();

test('SELECT * FROM devices: every twin, item type twin, no continuation', async () => {
  const r = await query('SELECT * FROM devices');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.headers.get('x-ms-item-type'), 'twin');
  assert.equal(r.headers.get('x-ms-continuation'), null);
  assert.ok(Array.isArray(r.json));
  assert.deepEqual(r.json.map((t) => t.deviceId).sort(), [...ALL].sort());
  const t5 = r.json.find((t) => t.deviceId === 'q-5');
  const direct = (await hub.req('GET', '/twins/q-5')).json;
  assert.deepEqual(t5, direct, 'a query row is the twin as GET /twins shows it');
  assert.ok(!r.json.some((t) => t.moduleId), 'FROM devices returns no module twins');
});

test('WHERE on tags and desired properties', async () => {
  assert.deepEqual(await ids("tags.env = 'prod'"), expect((d) => d.env === 'prod'));
  assert.deepEqual(await ids("properties.desired.fw = '2.0'"), expect((d) => d.fw === '2.0'));
  assert.deepEqual(await ids('properties.desired.level >= 250'), expect((d) => d.n >= 25));
  assert.deepEqual(await ids("deviceId = 'q-3'"), ['q-3']);
  assert.deepEqual(await ids('tags.special.on = true'), ['q-7']);
  assert.deepEqual(await ids("tags.env != 'test'"), [...expect((d) => d.env === 'prod'), 'q-str'].sort());
  assert.deepEqual(await ids("tags.env <> 'test' AND tags.env <> 'lab'"), expect((d) => d.env === 'prod'));
  assert.deepEqual(await ids("tags.nothing = 'x'"), []);
});

test('AND / OR / NOT and parentheses', async () => {
  assert.deepEqual(await ids("tags.env = 'prod' AND tags.region = 'EU'"), expect((d) => d.env === 'prod' && d.region === 'EU'));
  assert.deepEqual(await ids("tags.n < 3 OR properties.desired.level > 270"), expect((d) => d.n < 3 || d.n > 27));
  assert.deepEqual(await ids("NOT (tags.region = 'EU') AND tags.n < 10"), expect((d) => d.region !== 'EU' && d.n < 10));
  assert.deepEqual(await ids("(tags.n < 5 OR tags.n > 25) AND NOT tags.env = 'prod'"),
    expect((d) => (d.n < 5 || d.n > 25) && d.env !== 'prod'));
  assert.deepEqual(await ids("tags.n < 5 OR tags.n > 25 AND tags.env = 'prod'"),
    expect((d) => d.n < 5 || (d.n > 25 && d.env === 'prod')), 'AND binds tighter than OR');
});

test('IN / NIN with array constants', async () => {
  assert.deepEqual(await ids('tags.n IN [1, 2, 3]'), ['q-1', 'q-2', 'q-3']);
  assert.deepEqual(await ids("deviceId IN ['q-4', 'q-9', 'nope']"), ['q-4', 'q-9']);
  assert.deepEqual(await ids("tags.env NIN ['test', 'lab'] AND tags.n NIN [0, 3]"), expect((d) => d.env === 'prod' && d.n !== 0 && d.n !== 3));
});

test('IS_DEFINED, STARTSWITH, ENDSWITH', async () => {
  assert.deepEqual(await ids('IS_DEFINED(tags.special)'), ['q-7'], 'a deleted (null) tag is not defined');
  assert.deepEqual(await ids('IS_DEFINED(tags.special.on)'), ['q-7']);
  assert.deepEqual(await ids('NOT IS_DEFINED(tags.env)'), ['q-null']);
  assert.deepEqual(await ids("STARTSWITH(deviceId, 'q-2')"), expect((d) => d.id.startsWith('q-2')));
  assert.deepEqual(await ids("ENDSWITH(deviceId, '9')"), expect((d) => d.id.endsWith('9')));
  assert.deepEqual(await ids("STARTSWITH(tags.env, 'pro') AND ENDSWITH(properties.desired.fw, '.0')"), expect((d) => d.env === 'prod'));
});

test('type mismatches do not match', async () => {
  assert.deepEqual(await ids('tags.n = 5'), ['q-5']);
  assert.deepEqual(await ids("tags.n = '5'"), ['q-str']);
  assert.deepEqual(await ids("tags.n > '6'"), [], "'5' is not > '6', and numbers never compare with strings");
  assert.deepEqual(await ids("tags.n < '6'"), ['q-str'], 'strings compare with strings');
  assert.deepEqual(await ids('tags.env = 1'), []);
  assert.deepEqual(await ids('tags.env > 0'), []);
  assert.deepEqual(await ids("STARTSWITH(tags.n, '1')"), []);
  assert.deepEqual(await ids('tags.n'), [], 'only Boolean true passes a WHERE');
});

test('TOP', async () => {
  const r = await query("SELECT TOP 5 * FROM devices WHERE tags.env = 'test'");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.length, 5);
  assert.equal(r.headers.get('x-ms-continuation'), null);
  for (const t of r.json) assert.equal(t.tags.env, 'test');
  const p = await query('SELECT TOP 3 deviceId FROM devices');
  assert.equal(p.json.length, 3);
});

test('projections: raw item type, keyed by alias or last path segment', async () => {
  const r = await query("SELECT deviceId, tags.env, properties.desired.fw AS firmware FROM devices WHERE tags.n < 3", { max: 1000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-ms-item-type'), 'raw');
  const rows = r.json.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  assert.deepEqual(rows, [
    { deviceId: 'q-0', env: 'prod', firmware: '1.0' },
    { deviceId: 'q-1', env: 'test', firmware: '1.0' },
    { deviceId: 'q-2', env: 'test', firmware: '1.0' },
  ]);
  // a projected object and an undefined member (left out)
  const o = await query("SELECT deviceId, tags.special FROM devices WHERE tags.n IN [7, 8]");
  assert.deepEqual(o.json.sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
    [{ deviceId: 'q-7', special: { on: true } }, { deviceId: 'q-8' }]);
});

test('system fields match case-insensitively and come back in their canonical case', async () => {
  assert.deepEqual(await ids("DEVICEID = 'q-4'"), ['q-4']);
  const c = await query("SELECT DeviceId, Status FROM devices WHERE DeviceId = 'q-4'");
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.json, [{ deviceId: 'q-4', status: 'enabled' }]);
});

test('COUNT() AS total and GROUP BY with COUNT() AS numberOfDevices', async () => {
  const c = await query('SELECT COUNT() AS total FROM devices');
  assert.equal(c.status, 200, c.text);
  assert.equal(c.headers.get('x-ms-item-type'), 'raw');
  assert.deepEqual(c.json, [{ total: ALL.length }]);
  const w = await query("SELECT COUNT() AS total FROM devices WHERE tags.region = 'EU'");
  assert.deepEqual(w.json, [{ total: expect((d) => d.region === 'EU').length }]);

  const g = await query('SELECT tags.env, COUNT() AS numberOfDevices FROM devices GROUP BY tags.env');
  assert.equal(g.status, 200, g.text);
  assert.equal(g.headers.get('x-ms-item-type'), 'raw');
  const byEnv = Object.fromEntries(g.json.filter((x) => x.env !== undefined).map((x) => [x.env, x.numberOfDevices]));
  assert.deepEqual(byEnv, {
    prod: devs.filter((d) => d.env === 'prod').length,
    test: devs.filter((d) => d.env === 'test').length,
    lab: 1,
  });
  assert.equal(g.json.reduce((s, x) => s + x.numberOfDevices, 0), ALL.length, 'every device is in one group');
  for (const row of g.json) assert.deepEqual(Object.keys(row).sort(), row.env === undefined ? ['numberOfDevices'] : ['env', 'numberOfDevices']);
});

test('FROM devices.modules', async () => {
  const r = await query('SELECT * FROM devices.modules', { max: 1000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-ms-item-type'), 'twin');
  assert.deepEqual(r.json.map((t) => `${t.deviceId}/${t.moduleId}`).sort(), ['q-1/m1', 'q-1/m2', 'q-2/m1']);
  const w = await query("SELECT * FROM devices.modules WHERE moduleId = 'm1' AND tags.kind = 'm1'");
  assert.equal(w.status, 200, w.text);
  assert.deepEqual(w.json.map((t) => t.deviceId).sort(), ['q-1', 'q-2']);
  const c = await query("SELECT COUNT() AS total FROM devices.modules WHERE deviceId = 'q-1'");
  assert.deepEqual(c.json, [{ total: 2 }]);
});

async function pageAll(q, max) {
  const pages = [];
  let token;
  for (let i = 0; i < 100; i++) {
    const r = await query(q, { max, token });
    assert.equal(r.status, 200, r.text);
    pages.push(r);
    token = r.headers.get('x-ms-continuation') ?? undefined;
    if (token === undefined) return pages;
    assert.notEqual(token, '', 'an empty continuation makes the Node SDK loop forever');
  }
  assert.fail('paging did not end');
}

test('paging with x-ms-max-item-count follows x-ms-continuation until it is absent', async () => {
  const pages = await pageAll('SELECT * FROM devices', 7);
  assert.deepEqual(pages.map((p) => p.json.length), [7, 7, 7, 7, 4]);
  for (const p of pages) assert.equal(p.headers.get('x-ms-item-type'), 'twin');
  const seen = pages.flatMap((p) => p.json.map((t) => t.deviceId));
  assert.equal(new Set(seen).size, seen.length, 'a device was returned twice');
  assert.deepEqual(seen.sort(), [...ALL].sort());

  // a result that fills its last page exactly: no continuation, no empty extra page
  const exact = await pageAll("SELECT * FROM devices WHERE tags.n < 10", 5);
  assert.deepEqual(exact.map((p) => p.json.length), [5, 5]);
  assert.deepEqual(exact.flatMap((p) => p.json.map((t) => t.deviceId)).sort(), expect((d) => d.n < 10));

  // projections page by offset
  const raw = await pageAll("SELECT deviceId FROM devices WHERE tags.env = 'test'", 6);
  assert.deepEqual(raw.map((p) => p.json.length), [6, 6, 6, 2]);
  assert.deepEqual(raw.flatMap((p) => p.json.map((x) => x.deviceId)).sort(), expect((d) => d.env === 'test'));

  // TOP caps the total across pages
  const top = await pageAll('SELECT TOP 10 * FROM devices', 4);
  assert.deepEqual(top.map((p) => p.json.length), [4, 4, 2]);
  assert.equal(new Set(top.flatMap((p) => p.json.map((t) => t.deviceId))).size, 10);
});

test('writes between pages neither repeat nor skip unchanged devices', async () => {
  const first = await query("SELECT * FROM devices WHERE STARTSWITH(deviceId, 'q-')", { max: 10 });
  const token = first.headers.get('x-ms-continuation');
  assert.ok(token);
  // touch a device already returned and one not yet returned
  const returned = first.json[0].deviceId;
  await hub.req('PATCH', `/twins/${returned}`, { tags: { touched: 1 } }, { headers: { 'If-Match': '"*"' } });
  let rest = [];
  let t = token;
  while (t) {
    const r = await query("SELECT * FROM devices WHERE STARTSWITH(deviceId, 'q-')", { max: 10, token: t });
    assert.equal(r.status, 200, r.text);
    rest = rest.concat(r.json.map((x) => x.deviceId));
    t = r.headers.get('x-ms-continuation');
  }
  const all = first.json.map((x) => x.deviceId).concat(rest);
  assert.equal(new Set(all).size, all.length);
  assert.deepEqual(all.sort(), [...ALL].sort());
});

test('syntax and semantic errors → 400 with a position', async () => {
  for (const q of ['SELECT * FORM devices', 'SELECT * FROM devices WHERE', "SELECT * FROM devices WHERE tags.a = 'unterminated",
    'SELECT * FROM devices WHERE tags.n IN (1, 2)', 'SELECT * FROM devices WHERE (tags.n = 1', 'SELEC * FROM devices', '',
    "SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'q')", 'SELECT * FROM things']) {
    const r = await query(q);
    const msg = assertHubError(assert, r, 400, 'ArgumentInvalid');
    assert.match(msg, /position \d+/, `${q}: ${msg}`);
  }
  const r = await query('SELECT * FORM devices');
  assert.match(r.json.Message, /position 9/, r.json.Message);
});

test('a query over 8192 characters → 400', async () => {
  const pad = "SELECT * FROM devices WHERE deviceId = 'q-1'" + ' '.repeat(8192);
  assert.ok(pad.length > 8192);
  assertHubError(assert, await query(pad), 400, 'ArgumentInvalid');
  const exactly = "SELECT * FROM devices WHERE deviceId = 'q-1'";
  const ok = await query(exactly + ' '.repeat(8192 - exactly.length));
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json.map((t) => t.deviceId), ['q-1']);
});

test('a tampered or foreign continuation token → 400', async () => {
  const q = 'SELECT * FROM devices';
  const first = await query(q, { max: 5 });
  const token = first.headers.get('x-ms-continuation');
  assert.ok(token);
  const decoded = Buffer.from(token, 'base64').toString();
  const bad = [
    'not-a-token!!',
    token.slice(0, -4),
    `${token.slice(0, 8)}!${token.slice(9)}`,
    Buffer.from('{"k":"x"}').toString('base64'),
    Buffer.from(decoded.replace(/"h":"([0-9a-f])/, (_, c) => `"h":"${c === '0' ? '1' : '0'}`)).toString('base64'),
    Buffer.from(decoded.replace(/"k":\d+/, '"k":-5')).toString('base64'),
    'A'.repeat(5000),
  ];
  for (const t of bad) {
    const r = await query(q, { max: 5, token: t });
    assertHubError(assert, r, 400, 'ArgumentInvalid');
  }
  // a token replayed against another query
  const other = await query('SELECT * FROM devices WHERE tags.n >= 0', { max: 5, token });
  assertHubError(assert, other, 400, 'ArgumentInvalid');
  // the genuine token still works
  const ok = await query(q, { max: 5, token });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.length, 5);
  assert.ok(!ok.json.some((t) => first.json.some((f) => f.deviceId === t.deviceId)));
});

test('bad query bodies and rights', async () => {
  for (const body of [{}, { query: 5 }, { query: null }, ['SELECT * FROM devices']]) {
    assertHubError(assert, await hub.req('POST', '/devices/query', body), 400, 'ArgumentInvalid');
  }
  const pol = await hub.policies();
  const svc = await query('SELECT COUNT() AS total FROM devices', { auth: sasToken('testhub.local', pol.service.primaryKey, 'service') });
  assert.equal(svc.status, 200);
  const rr = await query('SELECT * FROM devices', { auth: sasToken('testhub.local', pol.registryRead.primaryKey, 'registryRead') });
  assertHubError(assert, rr, 401, 'IotHubUnauthorizedAccess');
});

test('injection attempts are just values', async () => {
  for (const q of ["SELECT * FROM devices WHERE deviceId = 'x'' OR 1=1 --'",
    "SELECT * FROM devices WHERE deviceId = 'q-1\\' OR \\'1\\'=\\'1'",
    "SELECT * FROM devices WHERE tags.[[a'); DROP TABLE devices; --]] = 1"]) {
    const r = await query(q);
    assert.ok(r.status === 200 || r.status === 400, `${q}: ${r.status} ${r.text}`);
    if (r.status === 200) assert.deepEqual(r.json, []);
  }
  assert.equal((await query('SELECT COUNT() AS total FROM devices')).json[0].total, ALL.length);
});
