// Operator accounts against a real devicehubd: the first admin (from --admin-password, or random and
// printed once), login cookies, wrong passwords and the failed-login limit, CSRF, the roles on routes
// (viewer / operator / admin, keys hidden from non-admins), account CRUD, password changes ending other
// sessions, logout, the audit log, and sessions surviving a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
let admin;
before(async () => {
  hub = await startHub();
  admin = await hub.login('admin', 'admin-password-for-tests');
});
after(async () => { await hub?.destroy(); });

async function makeAccount(name, role, password = `${name}-password-123`) {
  const r = await hub.req('PUT', `/devicehub/accounts/${name}`, { role, password }, { session: admin });
  assert.equal(r.status, 200, r.text);
  return hub.login(name, password);
}

async function rawLogin(name, password, headers = {}) {
  const res = await fetch(`${hub.base}/devicehub/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ name, password }),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

test('the first admin comes from --admin-password; login sets an HttpOnly SameSite=Strict cookie', async () => {
  assert.equal(admin.name, 'admin');
  assert.equal(admin.role, 'admin');
  assert.match(admin.csrf, /^[0-9a-f]{48}$/);
  const cookie = admin.res.headers.get('set-cookie');
  assert.match(cookie, /^dh_session=[0-9a-f]{64};/);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Path=\//);
  assert.doesNotMatch(cookie, /Secure/); // plain HTTP
  assert.ok(Date.parse(admin.expiresTime) > Date.now() + 11 * 3600 * 1000);
  assert.doesNotMatch(hub.output, /account 'admin' has the password/);
  const s = await hub.req('GET', '/devicehub/session', undefined, { session: admin });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(Object.keys(s.json).sort(), ['csrfToken', 'expiresTime', 'hostName', 'name', 'role']);
  assert.equal(s.json.hostName, hub.hostname);
  assert.equal(s.json.csrfToken, admin.csrf);
});

test('without --admin-password the admin password is random and printed once', async () => {
  const h = await startHub({ adminPassword: null, keepData: true });
  try {
    const m = h.output.match(/account 'admin' has the password[^\n]*\n\s*(\S+)/);
    assert.ok(m, h.output);
    const password = m[1];
    assert.ok(password.length >= 12);
    const s = await h.login('admin', password);
    assert.equal(s.role, 'admin');
    await h.stop();
    h.output = '';
    await h.start();
    assert.doesNotMatch(h.output, /account 'admin' has the password/);
    assert.equal((await h.login('admin', password)).role, 'admin');
  } finally {
    await h.stop();
    const { rmSync } = await import('node:fs');
    rmSync(h.dataDir, { recursive: true, force: true });
  }
});

test('a wrong password or name is 401 with one message; repeated failures are 429 with Retry-After', async () => {
  await makeAccount('thr', 'viewer', 'thr-right-password');
  const wrong = await rawLogin('thr', 'not-the-password');
  const text = assertHubError(assert, wrong, 401, 'IotHubUnauthorizedAccess');
  assert.equal(wrong.headers.get('set-cookie'), null);
  const unknown = await rawLogin('nobody-here', 'not-the-password');
  assert.equal(assertHubError(assert, unknown, 401, 'IotHubUnauthorizedAccess'), text);
  for (let i = 0; i < 4; i++) assert.equal((await rawLogin('thr', `wrong-${i}`)).status, 401);
  // Five failures for the name: even the right password is refused for a while.
  const limited = await rawLogin('thr', 'thr-right-password');
  assertHubError(assert, limited, 429, 'ThrottlingException');
  const retry = Number(limited.headers.get('retry-after'));
  assert.ok(retry > 0 && retry <= 300, `Retry-After ${retry}`);
  // Other names are not locked by it.
  assert.equal((await hub.login('admin', 'admin-password-for-tests')).role, 'admin');
  // Bad bodies: 400, not a login attempt.
  assertHubError(assert, await rawLogin(5, 'x'), 400, 'ArgumentInvalid');
});

test('a session request that changes something needs X-CSRF-Token: else 403 and nothing changed', async () => {
  let r = await hub.req('PUT', '/devices/csrf-1', { deviceId: 'csrf-1' }, { session: admin, csrf: false });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('PUT', '/devices/csrf-1', { deviceId: 'csrf-1' },
    { session: admin, csrf: false, headers: { 'X-CSRF-Token': 'f'.repeat(48) } });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('GET', '/devices/csrf-1');
  assert.equal(r.status, 404);
  // Reads need no token.
  r = await hub.req('GET', '/devices', undefined, { session: admin, csrf: false });
  assert.equal(r.status, 200, r.text);
  // A session cookie that names no session is 401.
  r = await hub.req('GET', '/devices', undefined, { session: { cookie: `dh_session=${'a'.repeat(64)}`, csrf: 'x' } });
  assertHubError(assert, r, 401, 'IotHubUnauthorizedAccess');
});

test('a viewer reads devices and twins without keys, and cannot change them', async () => {
  assert.equal((await hub.req('PUT', '/devices/v-1', { deviceId: 'v-1' })).status, 200);
  assert.equal((await hub.req('PATCH', '/twins/v-1', { tags: { site: 'a' } })).status, 200);
  const viewer = await makeAccount('vera', 'viewer');
  assert.equal(viewer.role, 'viewer');
  let r = await hub.req('GET', '/devices/v-1', undefined, { session: viewer });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.authentication.symmetricKey.primaryKey, null);
  assert.equal(r.json.authentication.symmetricKey.secondaryKey, null);
  r = await hub.req('GET', '/devices', undefined, { session: viewer });
  assert.equal(r.status, 200);
  assert.ok(r.json.length >= 1);
  for (const d of r.json) assert.equal(d.authentication.symmetricKey.primaryKey, null);
  r = await hub.req('GET', '/twins/v-1', undefined, { session: viewer });
  assert.equal(r.status, 200);
  assert.equal(r.json.tags.site, 'a');
  r = await hub.req('POST', '/devices/query', { query: 'SELECT * FROM devices' }, { session: viewer });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('PATCH', '/twins/v-1', { tags: { site: 'b' } }, { session: viewer });
  assert.match(assertHubError(assert, r, 403, 'Forbidden'), /operator role/);
  assert.equal((await hub.req('GET', '/twins/v-1')).json.tags.site, 'a');
  r = await hub.req('PUT', '/devices/v-2', { deviceId: 'v-2' }, { session: viewer });
  assert.match(assertHubError(assert, r, 403, 'Forbidden'), /admin role/);
  assert.equal((await hub.req('GET', '/devices/v-2')).status, 404);
  // The admin sees the keys; a SAS token still works as before with a viewer's cookie beside it.
  r = await hub.req('GET', '/devices/v-1', undefined, { session: admin });
  assert.match(r.json.authentication.symmetricKey.primaryKey, /=$/);
  r = await hub.req('PUT', '/devices/v-3', { deviceId: 'v-3' }, { headers: { Cookie: viewer.cookie } });
  assert.equal(r.status, 200, r.text);
});

test('an operator patches twins and starts jobs, but creates no devices and lists no policies', async () => {
  const op = await makeAccount('otto', 'operator');
  let r = await hub.req('PATCH', '/twins/v-1', { properties: { desired: { fw: '2' } } }, { session: op });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.properties.desired.fw, '2');
  r = await hub.req('PUT', '/jobs/v2/op-job-1', {
    jobId: 'op-job-1', type: 'scheduleUpdateTwin', queryCondition: "deviceId = 'v-1'",
    updateTwin: { etag: '*', tags: { wave: 1 } }, startTime: null,
  }, { session: op });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('PUT', '/devices/o-1', { deviceId: 'o-1' }, { session: op });
  assertHubError(assert, r, 403, 'Forbidden');
  // A raw body (a firmware package, 40 KB: past the default limit) is accepted from an operator's session;
  // without the CSRF token it is refused before the body is kept.
  const pkg = Buffer.alloc(40 * 1024, 7);
  r = await hub.req('PUT', '/devicehub/artifacts/op-fw?version=1.0.0&model=m', pkg,
    { session: op, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(r.status, 201, r.text);
  r = await hub.req('PUT', '/devicehub/artifacts/op-fw-2?version=1.0.0&model=m', pkg,
    { session: op, csrf: false, headers: { 'Content-Type': 'application/octet-stream' } });
  assertHubError(assert, r, 403, 'Forbidden');
  assert.equal((await hub.req('GET', '/devicehub/artifacts/op-fw-2')).status, 404);
  r = await hub.req('GET', '/devicehub/policies', undefined, { session: op });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('GET', '/devices/v-1', undefined, { session: op });
  assert.equal(r.json.authentication.symmetricKey.primaryKey, null);
  // The admin may.
  r = await hub.req('PUT', '/devices/o-1', { deviceId: 'o-1' }, { session: admin });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('GET', '/devicehub/policies', undefined, { session: admin });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.find((p) => p.keyName === 'iothubowner').primaryKey);
  // Exports carry keys only for an admin.
  r = await hub.req('GET', '/devicehub/exports?keys=true', undefined, { session: op });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('GET', '/devicehub/exports?keys=true', undefined, { session: admin });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /"primaryKey":"[^"]+="/);
  r = await hub.req('GET', '/devicehub/exports', undefined, { session: op });
  assert.equal(r.status, 200, r.text);
  assert.doesNotMatch(r.text, /"primaryKey":"/);
});

test('accounts CRUD; the last admin cannot be deleted or demoted', async () => {
  let r = await hub.req('PUT', '/devicehub/accounts/carl', { role: 'viewer' }, { session: admin });
  assertHubError(assert, r, 400, 'ArgumentInvalid'); // a new account needs a password
  r = await hub.req('PUT', '/devicehub/accounts/carl', { role: 'viewer', password: 'short' }, { session: admin });
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  r = await hub.req('PUT', '/devicehub/accounts/carl', { role: 'root', password: 'carl-password-123' }, { session: admin });
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  r = await hub.req('PUT', '/devicehub/accounts/bad%20name', { role: 'viewer', password: 'carl-password-123' }, { session: admin });
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  r = await hub.req('PUT', '/devicehub/accounts/carl', { role: 'viewer', password: 'carl-password-123' }, { session: admin });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual({ name: r.json.name, role: r.json.role }, { name: 'carl', role: 'viewer' });
  assert.ok(r.json.createdTime);
  const carl = await hub.login('carl', 'carl-password-123');
  // A role change applies to live sessions at once; no password needed for an update.
  r = await hub.req('PUT', '/devicehub/accounts/carl', { role: 'operator' }, { session: admin });
  assert.equal(r.json.role, 'operator');
  assert.equal((await hub.req('GET', '/devicehub/session', undefined, { session: carl })).json.role, 'operator');
  r = await hub.req('GET', '/devicehub/accounts', undefined, { session: admin });
  assert.equal(r.status, 200);
  const row = r.json.find((a) => a.name === 'carl');
  assert.equal(row.role, 'operator');
  assert.ok(row.lastLoginTime);
  assert.ok(!('password' in row) && !('passwordHash' in row));
  r = await hub.req('GET', '/devicehub/accounts', undefined, { session: carl });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('PUT', '/devicehub/accounts/x', { role: 'admin', password: 'x-password-1234' }, { session: carl });
  assertHubError(assert, r, 403, 'Forbidden');
  // The owner's SAS token administers accounts too.
  assert.equal((await hub.req('GET', '/devicehub/accounts')).status, 200);
  r = await hub.req('DELETE', '/devicehub/accounts/carl', undefined, { session: admin });
  assert.equal(r.status, 204, r.text);
  assertHubError(assert, await hub.req('GET', '/devicehub/session', undefined, { session: carl }), 401,
    'IotHubUnauthorizedAccess');
  assertHubError(assert, await hub.req('DELETE', '/devicehub/accounts/carl', undefined, { session: admin }), 404,
    'NotFound');
  r = await hub.req('DELETE', '/devicehub/accounts/admin', undefined, { session: admin });
  assertHubError(assert, r, 409, 'Conflict');
  r = await hub.req('PUT', '/devicehub/accounts/admin', { role: 'viewer' }, { session: admin });
  assertHubError(assert, r, 409, 'Conflict');
  assert.equal((await hub.req('GET', '/devicehub/session', undefined, { session: admin })).json.role, 'admin');
});

test('a password change ends the account\'s other sessions', async () => {
  const first = await makeAccount('pete', 'viewer', 'pete-password-1');
  const second = await hub.login('pete', 'pete-password-1');
  let r = await hub.req('PUT', '/devicehub/accounts/pete/password',
    { currentPassword: 'not-it-at-all', password: 'pete-password-2' }, { session: first });
  assertHubError(assert, r, 401, 'IotHubUnauthorizedAccess');
  r = await hub.req('PUT', '/devicehub/accounts/vera/password', { password: 'vera-password-999' }, { session: first });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('PUT', '/devicehub/accounts/pete/password',
    { currentPassword: 'pete-password-1', password: 'pete-password-2' }, { session: first });
  assert.equal(r.status, 204, r.text);
  assert.equal((await hub.req('GET', '/devicehub/session', undefined, { session: first })).status, 200);
  assertHubError(assert, await hub.req('GET', '/devicehub/session', undefined, { session: second }), 401,
    'IotHubUnauthorizedAccess');
  assert.equal((await rawLogin('pete', 'pete-password-1')).status, 401);
  const third = await hub.login('pete', 'pete-password-2');
  // An admin sets anyone's without the current one; all of that account's sessions end.
  r = await hub.req('PUT', '/devicehub/accounts/pete/password', { password: 'pete-password-3' }, { session: admin });
  assert.equal(r.status, 204, r.text);
  for (const s of [first, third]) {
    assert.equal((await hub.req('GET', '/devicehub/session', undefined, { session: s })).status, 401);
  }
  assert.equal((await hub.login('pete', 'pete-password-3')).name, 'pete');
});

test('logout ends the session and clears the cookie', async () => {
  const s = await hub.login('admin', 'admin-password-for-tests');
  let r = await hub.req('POST', '/devicehub/logout', undefined, { session: s, csrf: false });
  assertHubError(assert, r, 403, 'Forbidden');
  r = await hub.req('POST', '/devicehub/logout', undefined, { session: s });
  assert.equal(r.status, 204, r.text);
  assert.match(r.headers.get('set-cookie'), /^dh_session=; .*Max-Age=0/);
  assertHubError(assert, await hub.req('GET', '/devicehub/session', undefined, { session: s }), 401,
    'IotHubUnauthorizedAccess');
  assertHubError(assert, await hub.req('GET', '/devicehub/session', undefined, { auth: null }), 401,
    'IotHubUnauthorizedAccess');
  // A SAS token is not a session.
  assertHubError(assert, await hub.req('GET', '/devicehub/session'), 401, 'IotHubUnauthorizedAccess');
});

test('the audit log records who changed what from where; filters and pages; admins only', async () => {
  const since = new Date().toISOString();
  assert.equal((await hub.req('PUT', '/devices/aud-1', { deviceId: 'aud-1' }, { session: admin })).status, 200);
  assert.equal((await hub.req('PUT', '/devices/aud-2', { deviceId: 'aud-2' })).status, 200);
  assert.equal((await hub.req('PUT', '/devices/aud-2', { deviceId: 'aud-2' })).status, 409);
  await hub.req('GET', '/devices/aud-1', undefined, { session: admin }); // reads are not recorded
  // Nor are POSTs that only read (a query).
  assert.equal((await hub.req('POST', '/devices/query', { query: 'SELECT * FROM devices' }, { session: admin })).status, 200);
  let r = await hub.req('GET', `/devicehub/audit?since=${encodeURIComponent(since)}`, undefined, { session: admin });
  assert.equal(r.status, 200, r.text);
  const items = r.json.items;
  assert.equal(r.json.continuationToken, null);
  assert.deepEqual(items.map((e) => [e.who, e.action, e.path, e.status]), [
    ['policy:iothubowner', 'PUT /devices/{}', '/devices/aud-2', 409],
    ['policy:iothubowner', 'PUT /devices/{}', '/devices/aud-2', 200],
    ['admin', 'PUT /devices/{}', '/devices/aud-1', 200],
  ]);
  for (const e of items) {
    assert.equal(e.from, '127.0.0.1');
    assert.ok(Date.parse(e.time) >= Date.parse(since) - 1000);
    assert.equal(typeof e.id, 'number');
  }
  // Filters.
  r = await hub.req('GET', `/devicehub/audit?who=admin&action=${encodeURIComponent('PUT /devices/{}')}`, undefined,
    { session: admin });
  assert.ok(r.json.items.length >= 1);
  assert.ok(r.json.items.every((e) => e.who === 'admin' && e.action === 'PUT /devices/{}'));
  assert.ok(r.json.items.some((e) => e.path === '/devices/aud-1'));
  r = await hub.req('GET', `/devicehub/audit?until=${encodeURIComponent('2000-01-01T00:00:00Z')}`);
  assert.deepEqual(r.json.items, []);
  // Logins by name, and refused requests (403) are not changes that reached a handler.
  r = await hub.req('GET', '/devicehub/audit?action=POST%20/devicehub/login&who=vera');
  assert.ok(r.json.items.length >= 1);
  r = await hub.req('GET', '/devicehub/audit?who=vera&action=PATCH%20/twins/{}');
  assert.deepEqual(r.json.items, []);
  // Pages, newest first.
  const seen = [];
  let token = null;
  for (let i = 0; i < 5; i++) {
    const q = `/devicehub/audit?top=1&since=${encodeURIComponent(since)}${token ? `&continuationToken=${token}` : ''}`;
    r = await hub.req('GET', q);
    assert.equal(r.status, 200, r.text);
    seen.push(...r.json.items.map((e) => e.id));
    token = r.json.continuationToken;
    if (!token) break;
  }
  assert.deepEqual(seen, items.map((e) => e.id));
  assertHubError(assert, await hub.req('GET', '/devicehub/audit?since=yesterday'), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('GET', '/devicehub/audit?top=0'), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('GET', '/devicehub/audit?continuationToken=abc'), 400, 'ArgumentInvalid');
  const viewer = await hub.login('vera', 'vera-password-123');
  assertHubError(assert, await hub.req('GET', '/devicehub/audit', undefined, { session: viewer }), 403, 'Forbidden');
});

test('sessions survive a restart of devicehubd', async () => {
  const s = await hub.login('admin', 'admin-password-for-tests');
  await hub.stop();
  await hub.start();
  const r = await hub.req('GET', '/devicehub/session', undefined, { session: s });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.csrfToken, s.csrf);
  assert.equal((await hub.req('PUT', '/devices/after-restart', { deviceId: 'after-restart' }, { session: s })).status, 200);
  // The audit entries written before the stop are there.
  const a = await hub.req('GET', '/devicehub/audit?who=admin', undefined, { session: s });
  assert.ok(a.json.items.some((e) => e.path === '/devices/aud-1'));
});

test('the OpenAPI document shows the role each operation needs', async () => {
  const r = await hub.req('GET', '/openapi.json', undefined, { auth: null });
  assert.equal(r.status, 200);
  const role = (path, method) => r.json.paths[path][method]['x-devicehub-role'];
  assert.equal(role('/devices/{deviceId}', 'get'), 'viewer');
  assert.equal(role('/devices/{deviceId}', 'put'), 'admin');
  assert.equal(role('/twins/{deviceId}', 'patch'), 'operator');
  assert.equal(role('/devices/query', 'post'), 'viewer');
  assert.equal(role('/jobs/v2/{jobId}', 'put'), 'operator');
  assert.equal(role('/devicehub/policies', 'get'), 'admin');
  assert.equal(role('/devicehub/accounts/{accountName}', 'put'), 'admin');
  assert.equal(role('/devicehub/audit', 'get'), 'admin');
  assert.equal(role('/devicehub/login', 'post'), undefined);
  assert.equal(role('/metrics', 'get'), undefined);
});

test('/metrics and the public routes behave as before', async () => {
  assert.equal((await hub.req('GET', '/healthz', undefined, { auth: null })).status, 200);
  assert.equal((await hub.req('GET', '/readyz', undefined, { auth: null })).status, 200);
  assert.equal((await hub.req('GET', '/metrics')).status, 200);
  assertHubError(assert, await hub.req('GET', '/metrics', undefined, { auth: null }), 401, 'IotHubUnauthorizedAccess');
  // A session is not a metrics credential (the route checks its own tokens).
  const s = await hub.login('admin', 'admin-password-for-tests');
  assert.equal((await hub.req('GET', '/metrics', undefined, { session: s })).status, 401);
});

test('a direct method answered later loses its keys for an operator too, and is audited with its status', async () => {
  const made = await hub.req('PUT', '/devices/m-1', { deviceId: 'm-1' });
  assert.equal(made.status, 200, made.text);
  const c = await connectDevice(hub, 'm-1', { token: deviceToken('m-1', made.json.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, JSON.stringify(c));
  const op = await hub.login('otto', 'otto-password-123');
  const call = hub.req('POST', '/twins/m-1/methods', { methodName: 'keys', payload: {}, responseTimeoutInSeconds: 5 },
    { session: op });
  const req = await c.device.next((m) => m.type === 'method.request');
  c.device.send({ type: 'method.response', rid: req.rid, status: 200,
    payload: { primaryKey: 'secret', nested: [{ secondaryKey: 'secret' }], other: 'kept' } });
  const r = await call;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.payload, { primaryKey: null, nested: [{ secondaryKey: null }], other: 'kept' });
  await c.device.close();
  const a = await hub.req('GET', `/devicehub/audit?who=otto&action=${encodeURIComponent('POST /twins/{}/methods')}`);
  assert.equal(a.json.items.length, 1);
  assert.equal(a.json.items[0].path, '/twins/m-1/methods');
  assert.equal(a.json.items[0].status, 200);
});

test('over HTTPS the session cookie is Secure', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'devicehub-acc-tls-'));
  let h;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { cwd: dir, stdio: 'ignore' });
    h = await startHub({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: readFileSync(join(dir, 'cert.pem')) } });
    const s = await h.login('admin', 'admin-password-for-tests');
    assert.match(s.res.headers.get('set-cookie'), /; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200; Secure$/);
    const r = await h.req('GET', '/devicehub/session', undefined, { session: s });
    assert.equal(r.status, 200, r.text);
  } finally {
    await h?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
