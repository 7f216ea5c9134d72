// Hostile and malformed requests: every one gets IoT Hub's JSON error shape, and none changes stored data.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { assertHubError, sdkDevice, startHub } from './lib/hub.mjs';

let hub;
let snapshot;
const ANY = { 'If-Match': '"*"' };

async function state() {
  const d = await hub.req('GET', '/devices/bad-dev');
  const t = await hub.req('GET', '/twins/bad-dev');
  const l = await hub.req('GET', '/devices?top=1000');
  const s = await hub.req('GET', '/statistics/devices');
  assert.equal(d.status, 200);
  assert.equal(t.status, 200);
  return { device: d.json, twin: t.json, ids: l.json.map((x) => x.deviceId).sort(), stats: s.json };
}

async function assertUnchanged() {
  assert.deepEqual(await state(), snapshot, 'a refused request changed stored data');
  const h = await fetch(`${hub.base}/healthz`);
  assert.equal(h.status, 200);
}

before(async () => {
  hub = await startHub();
  assert.equal((await hub.req('PUT', '/devices/bad-dev', sdkDevice('bad-dev'))).status, 200);
  const p = await hub.req('PATCH', '/twins/bad-dev', { tags: { t: 1 }, properties: { desired: { d: 'x' } } }, { headers: ANY });
  assert.equal(p.status, 200);
  assert.equal((await hub.req('PUT', '/devices/bad-dev/modules/m1', { moduleId: 'm1' })).status, 201);
});
beforeEach(async () => { snapshot = await state(); });
after(async () => { await hub?.destroy(); });

test('malformed JSON → 400 ArgumentInvalid with a JSON error body', async () => {
  const bodies = ['{', '{"deviceId":', '{"a":1,}', "{'a':1}", 'nul', '{"a":1}{"b":2}', '{"a":1, "a":2}', '\u00ff\u00fe', '[1,2'];
  const targets = [
    ['PUT', '/devices/bad-dev', ANY],
    ['PUT', '/devices/bad-new', {}],
    ['PATCH', '/twins/bad-dev', ANY],
    ['PUT', '/twins/bad-dev', ANY],
    ['POST', '/devices', {}],
  ];
  for (const [method, path, headers] of targets) {
    for (const body of bodies) {
      const r = await hub.req(method, path, body, { headers });
      const msg = assertHubError(assert, r, 400, 'ArgumentInvalid');
      assert.ok(msg.length > 0);
    }
  }
  // invalid UTF-8 bytes inside a string
  const raw = Buffer.concat([Buffer.from('{"tags":{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
  const r = await fetch(`${hub.base}/twins/bad-dev?api-version=2021-04-12`, {
    method: 'PATCH', body: raw, headers: { Authorization: hub.token(), 'Content-Type': 'application/json', ...ANY },
  });
  assert.equal(r.status, 400);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.match((await r.json()).Message, /^ErrorCode:ArgumentInvalid;/);
  await assertUnchanged();
});

test('a well-formed body of the wrong shape → 400', async () => {
  for (const body of ['[]', '"text"', '42', 'null', '{"status":7}', '{"authentication":"sas"}', '{"capabilities":{"iotEdge":"yes"}}']) {
    const r = await hub.req('PUT', '/devices/bad-dev', body, { headers: ANY });
    assert.equal(r.status, 400, `${body}: ${r.status} ${r.text}`);
    assert.match(r.json.Message, /^ErrorCode:Argument(Invalid|Null);/);
  }
  for (const body of ['[]', '"x"', '{"tags":[1]}', '{"tags":"x"}', '{"properties":1}', '{"properties":{"desired":[1]}}']) {
    const r = await hub.req('PATCH', '/twins/bad-dev', body, { headers: ANY });
    assertHubError(assert, r, 400, 'ArgumentInvalid');
  }
  for (const body of ['{}', '[1]', '[{"importMode":"create"}]', '[{"id":5}]']) {
    const r = await hub.req('POST', '/devices', body);
    assert.equal(r.status, 400, `${body}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /^application\/json/);
  }
  await assertUnchanged();
});

test('Content-Type text/plain on a JSON route → 415', async () => {
  for (const [method, path] of [['PUT', '/devices/bad-dev'], ['PATCH', '/twins/bad-dev'], ['POST', '/devices'], ['PUT', '/devices/bad-ct']]) {
    const r = await hub.req(method, path, JSON.stringify({ tags: { t: 2 } }), { headers: { ...ANY, 'Content-Type': 'text/plain' } });
    assertHubError(assert, r, 415, 'UnsupportedMediaType');
  }
  const f = await hub.req('PUT', '/devices/bad-ct', JSON.stringify(sdkDevice('bad-ct')), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assertHubError(assert, f, 415, 'UnsupportedMediaType');
  await assertUnchanged();
});

test('a body over the route limit → 413 MessageTooLarge', async () => {
  const bulk = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ id: `big-${i}`, importMode: 'create', statusReason: 'r', tags: { pad: 'p'.repeat(20000) } })));
  assert.ok(bulk.length > 2 * 1024 * 1024 - 100000);
  const padded = bulk + ' '.repeat(Math.max(0, 2 * 1024 * 1024 - bulk.length));
  assertHubError(assert, await hub.req('POST', '/devices', padded), 413, 'MessageTooLarge');

  const twin = JSON.stringify({ tags: { t: 2 } }) + ' '.repeat(100 * 1024);
  assertHubError(assert, await hub.req('PATCH', '/twins/bad-dev', twin, { headers: ANY }), 413, 'MessageTooLarge');
  assertHubError(assert, await hub.req('PUT', '/twins/bad-dev', twin, { headers: ANY }), 413, 'MessageTooLarge');

  const dev = JSON.stringify({ ...sdkDevice('bad-dev'), status: 'disabled', pad: 'x'.repeat(20 * 1024) });
  assertHubError(assert, await hub.req('PUT', '/devices/bad-dev', dev, { headers: ANY }), 413, 'MessageTooLarge');

  // a route that takes no body refuses a large one too
  const g = await hub.req('DELETE', '/devices/bad-dev', 'x'.repeat(64 * 1024), { headers: ANY });
  assertHubError(assert, g, 413, 'MessageTooLarge');
  await assertUnchanged();
});

test('nesting depth 1000 → 400, the server stays healthy', async () => {
  const deep = '['.repeat(1000) + ']'.repeat(1000);
  const deepObj = '{"a":'.repeat(1000) + '1' + '}'.repeat(1000);
  for (const [method, path, body] of [
    ['PATCH', '/twins/bad-dev', `{"tags":{"x":${deep}}}`],
    ['PATCH', '/twins/bad-dev', `{"properties":{"desired":${deepObj}}}`],
    ['PUT', '/devices/bad-dev', deepObj],
    ['POST', '/devices', deep],
  ]) {
    const r = await hub.req(method, path, body, { headers: ANY });
    assertHubError(assert, r, 400, 'ArgumentInvalid');
  }
  // a depth just over the JSON parser's cap, and far too deep for the stack if parsed recursively
  const huge = '['.repeat(200000) + ']'.repeat(200000);
  assertHubError(assert, await hub.req('POST', '/devices', huge), 400, 'ArgumentInvalid');
  await assertUnchanged();
});

test('unknown route → 404 with a JSON body; wrong method → 405', async () => {
  for (const path of ['/nothing', '/devices/bad-dev/things', '/twins', '/devices/bad-dev/modules/m1/x/y', '/a/b/c/d/e/f/g/h/i/j']) {
    const r = await hub.req('GET', path);
    assertHubError(assert, r, 404, 'NotFound');
  }
  for (const [method, path] of [['DELETE', '/devices'], ['POST', '/devices/bad-dev'], ['PATCH', '/devices/bad-dev'],
    ['DELETE', '/twins/bad-dev'], ['PUT', '/devicehub/policies'], ['POST', '/statistics/devices'], ['PUT', '/healthz']]) {
    const r = await hub.req(method, path, method === 'GET' || method === 'DELETE' ? undefined : { tags: {} }, { headers: ANY });
    assertHubError(assert, r, 405, 'MethodNotAllowed');
  }
  await assertUnchanged();
});

test('empty body on PUT/PATCH → 400', async () => {
  for (const [method, path] of [['PUT', '/devices/bad-dev'], ['PUT', '/devices/bad-empty'], ['PATCH', '/twins/bad-dev'], ['PUT', '/twins/bad-dev'], ['POST', '/devices']]) {
    const r = await hub.req(method, path, '', { headers: ANY });
    assert.equal(r.status, 400, `${method} ${path}: ${r.status} ${r.text}`);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.match(r.json.Message, /^ErrorCode:Argument(Null|Invalid);/);
  }
  await assertUnchanged();
});

test('malformed paths → 400, not a crash', async () => {
  for (const path of ['/devices/%zz', '/devices/%', '/devices/a%00b', `/devices/${'a'.repeat(600)}`, '/twins/%E0%A4%A']) {
    const r = await hub.req('GET', path);
    assert.equal(r.status, 400, `${path}: ${r.status} ${r.text}`);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.match(r.json.Message, /^ErrorCode:ArgumentInvalid;/);
  }
  await assertUnchanged();
});

test('bad If-Match values → 412, not a crash', async () => {
  for (const v of ['"', 'W/"abc"', 'x'.repeat(300), '"MA== "', '"AAAAAAAAAAM="x']) {
    const r = await hub.req('PATCH', '/twins/bad-dev', { tags: { t: 9 } }, { headers: { 'If-Match': v } });
    assertHubError(assert, r, 412, 'PreconditionFailed');
    const d = await hub.req('PUT', '/devices/bad-dev', { ...snapshot.device, status: 'disabled' }, { headers: { 'If-Match': v } });
    assertHubError(assert, d, 412, 'PreconditionFailed');
  }
  await assertUnchanged();
});

// An empty entity tag matches no entity (RFC 9110 §13.1.1); the identity path answers 412, the twin path
// must not treat it as "no condition".
test('If-Match "" → 412 on devices and twins', async () => {
  const d = await hub.req('PUT', '/devices/bad-dev', { ...snapshot.device, status: 'disabled' }, { headers: { 'If-Match': '""' } });
  assertHubError(assert, d, 412, 'PreconditionFailed');
  const t = await hub.req('PATCH', '/twins/bad-dev', { tags: { t: 10 } }, { headers: { 'If-Match': '""' } });
  assertHubError(assert, t, 412, 'PreconditionFailed');
  await assertUnchanged();
});

test('every answer has Content-Type application/json, success or error', async () => {
  const calls = [
    ['GET', '/devices/bad-dev'], ['GET', '/twins/bad-dev'], ['GET', '/devices'], ['GET', '/statistics/devices'],
    ['GET', '/devices/bad-dev/modules'], ['GET', '/nope'], ['GET', '/devices/none'], ['POST', '/devices/bad-dev'],
  ];
  for (const [m, p] of calls) {
    const r = await hub.req(m, p);
    assert.match(r.headers.get('content-type') || '', /^application\/json/, `${m} ${p}`);
    assert.notEqual(r.json, undefined, `${m} ${p} body is not JSON: ${r.text}`);
  }
  const noAuth = await hub.req('GET', '/devices/bad-dev', undefined, { auth: null });
  assert.match(noAuth.headers.get('content-type'), /^application\/json/);
  const del = await hub.req('PUT', '/devices/bad-tmp', sdkDevice('bad-tmp'));
  assert.equal(del.status, 200);
  const d = await hub.req('DELETE', '/devices/bad-tmp', undefined, { headers: ANY });
  assert.equal(d.status, 204);
  assert.match(d.headers.get('content-type') || '', /^application\/json/);
  await assertUnchanged();
});

test('a request cut off mid-body leaves data unchanged and the server serving', async () => {
  await new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: hub.port, method: 'PATCH', path: '/twins/bad-dev?api-version=2021-04-12',
      headers: { Authorization: hub.token(), 'Content-Type': 'application/json', 'Content-Length': '1000', ...ANY } });
    req.on('error', () => resolve());
    req.write('{"tags":{"t":');
    setTimeout(() => { req.destroy(); resolve(); }, 100);
  });
  await new Promise((r) => setTimeout(r, 100));
  await assertUnchanged();
});
