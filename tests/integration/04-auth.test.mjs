// Service authentication and authorisation: SAS tokens, policies, rights, key rotation (reference §4).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { assertHubError, sasToken, sdkDevice, startHub } from './lib/hub.mjs';

const HOST = 'testhub.local';
let hub;
let pol;
before(async () => {
  hub = await startHub();
  pol = await hub.policies();
  const r = await hub.req('PUT', '/devices/auth-dev', sdkDevice('auth-dev'));
  assert.equal(r.status, 200);
});
after(async () => { await hub?.destroy(); });

const as = (auth) => ({ auth });
const tok = (policy, key = pol[policy].primaryKey, ttl = 3600) => sasToken(HOST, key, policy, ttl);
const unauthorized = (r) => {
  assert.equal(r.status, 401, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.match(r.headers.get('iothub-errorcode'), /^IotHubUnauthorized(Access)?$/);
  assert.match(r.json.Message, /^ErrorCode:IotHubUnauthorized(Access)?;/);
  assert.match(r.json.ExceptionMessage, /^Tracking ID:/);
};

test('no Authorization → 401 IotHubUnauthorizedAccess', async () => {
  const r = await hub.req('GET', '/devices/auth-dev', undefined, as(null));
  assertHubError(assert, r, 401, 'IotHubUnauthorizedAccess');
  // public routes stay open
  const h = await fetch(`${hub.base}/healthz`);
  assert.equal(h.status, 200);
});

test('malformed tokens → 401', async () => {
  const good = tok('iothubowner');
  const bad = [
    'Bearer abc',
    'SharedAccessSignature',
    'SharedAccessSignature garbage',
    `SharedAccessSignature sr=${HOST}&skn=iothubowner`,
    good.replace(/&se=\d+/, '&se=soon'),
    good.replace(/&se=\d+/, ''),
    good.replace(/sig=[^&]+/, 'sig=%ZZ'),
    good.replace(/sig=[^&]+/, 'sig='),
    good.replace('SharedAccessSignature ', 'SharedAccessSignature sr%'),
    `SharedAccessSignature sr=${'h'.repeat(5000)}&sig=abc&se=9999999999&skn=iothubowner`,
  ];
  for (const a of bad) {
    const r = await hub.req('GET', '/devices/auth-dev', undefined, as(a));
    unauthorized(r);
  }
});

test('expired token → 401 (IotHubUnauthorized, 401003)', async () => {
  const r = await hub.req('GET', '/devices/auth-dev', undefined, as(tok('iothubowner', undefined, -10)));
  assertHubError(assert, r, 401, 'IotHubUnauthorized');
  assert.match(r.json.Message, /expired/);
});

test('wrong signature, unknown skn, wrong sr host → 401', async () => {
  const other = Buffer.alloc(32, 7).toString('base64');
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(sasToken(HOST, other, 'iothubowner'))));
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(sasToken(HOST, pol.iothubowner.primaryKey, 'nobody'))));
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(sasToken('otherhub.local', pol.iothubowner.primaryKey, 'iothubowner'))));
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(sasToken(`${HOST}.evil.com`, pol.iothubowner.primaryKey, 'iothubowner'))));
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(sasToken('testhub', pol.iothubowner.primaryKey, 'iothubowner'))));
  // a key of another policy under the owner's name
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(sasToken(HOST, pol.service.primaryKey, 'iothubowner'))));
  // a valid token whose se was changed after signing
  const t = tok('iothubowner').replace(/se=(\d+)/, (_, se) => `se=${Number(se) + 100}`);
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(t)));
});

test('a token whose parameters come in another order, or whose sr has a trailing slash, is accepted', async () => {
  const se = Math.ceil(Date.now() / 1000) + 600;
  const sig = createHmac('sha256', Buffer.from(pol.iothubowner.primaryKey, 'base64')).update(`${HOST}\n${se}`).digest('base64');
  const t = `SharedAccessSignature skn=iothubowner&se=${se}&sig=${encodeURIComponent(sig)}&sr=${HOST}`;
  assert.equal((await hub.req('GET', '/devices/auth-dev', undefined, as(t))).status, 200);
  const sig2 = createHmac('sha256', Buffer.from(pol.iothubowner.primaryKey, 'base64')).update(`${HOST}/\n${se}`).digest('base64');
  const t2 = `SharedAccessSignature sr=${HOST}/&sig=${encodeURIComponent(sig2)}&se=${se}&skn=iothubowner`;
  assert.equal((await hub.req('GET', '/devices/auth-dev', undefined, as(t2))).status, 200);
});

test('device-scoped token (no skn) on a service route → 401', async () => {
  const dev = (await hub.req('GET', '/devices/auth-dev')).json;
  const key = dev.authentication.symmetricKey.primaryKey;
  const devTok = sasToken(encodeURIComponent(`${HOST}/devices/auth-dev`), key, undefined);
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(devTok)));
  unauthorized(await hub.req('GET', '/twins/auth-dev', undefined, as(devTok)));
  // the host-wide resource signed with a device key, no skn
  unauthorized(await hub.req('GET', '/twins/auth-dev', undefined, as(sasToken(HOST, key, undefined))));
  // the device policy holds DeviceConnect only
  unauthorized(await hub.req('GET', '/twins/auth-dev', undefined, as(tok('device'))));
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, as(tok('device'))));
});

test('registryRead can read the registry but not write it, nor twins', async () => {
  const a = as(tok('registryRead'));
  assert.equal((await hub.req('GET', '/devices/auth-dev', undefined, a)).status, 200);
  assert.equal((await hub.req('GET', '/devices', undefined, a)).status, 200);
  assert.equal((await hub.req('GET', '/statistics/devices', undefined, a)).status, 200);
  unauthorized(await hub.req('PUT', '/devices/rr-new', sdkDevice('rr-new'), a));
  unauthorized(await hub.req('DELETE', '/devices/auth-dev', undefined, { ...a, headers: { 'If-Match': '"*"' } }));
  unauthorized(await hub.req('POST', '/devices', [{ id: 'rr-bulk', importMode: 'create' }], a));
  unauthorized(await hub.req('GET', '/twins/auth-dev', undefined, a));
  assert.equal((await hub.req('GET', '/devices/rr-new')).status, 404);
  assert.equal((await hub.req('GET', '/devices/rr-bulk')).status, 404);
  assert.equal((await hub.req('GET', '/devices/auth-dev')).status, 200);
});

test('registryReadWrite can create and delete devices but not touch twins', async () => {
  const a = as(tok('registryReadWrite'));
  assert.equal((await hub.req('PUT', '/devices/rrw-1', sdkDevice('rrw-1'), a)).status, 200);
  unauthorized(await hub.req('PATCH', '/twins/rrw-1', { tags: { a: 1 } }, a));
  assert.equal((await hub.req('DELETE', '/devices/rrw-1', undefined, { ...a, headers: { 'If-Match': '"*"' } })).status, 204);
});

test('service policy can use twins but not write (or read) the registry', async () => {
  const a = as(tok('service'));
  assert.equal((await hub.req('GET', '/twins/auth-dev', undefined, a)).status, 200);
  const p = await hub.req('PATCH', '/twins/auth-dev', { tags: { by: 'service' } }, { ...a, headers: { 'If-Match': '"*"' } });
  assert.equal(p.status, 200, p.text);
  assert.equal((await hub.req('GET', '/statistics/service', undefined, a)).status, 200);
  unauthorized(await hub.req('PUT', '/devices/svc-new', sdkDevice('svc-new'), a));
  unauthorized(await hub.req('GET', '/devices/auth-dev', undefined, a));
  unauthorized(await hub.req('POST', '/devices', [{ id: 'svc-bulk', importMode: 'create' }], a));
  assert.equal((await hub.req('GET', '/devices/svc-new')).status, 404);
});

test('the secondary key works', async () => {
  assert.equal((await hub.req('GET', '/twins/auth-dev', undefined, as(tok('service', pol.service.secondaryKey)))).status, 200);
  assert.equal((await hub.req('GET', '/devices/auth-dev', undefined, as(tok('iothubowner', pol.iothubowner.secondaryKey)))).status, 200);
});

test('GET /devicehub/policies lists the five default policies, owner only', async () => {
  const r = await hub.req('GET', '/devicehub/policies');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.map((p) => p.keyName).sort(), ['device', 'iothubowner', 'registryRead', 'registryReadWrite', 'service']);
  const byName = Object.fromEntries(r.json.map((p) => [p.keyName, p]));
  assert.equal(byName.iothubowner.primaryKey, hub.ownerKey);
  assert.match(byName.service.rights, /ServiceConnect/);
  assert.doesNotMatch(byName.service.rights, /Registry/);
  assert.match(byName.registryReadWrite.rights, /RegistryWrite/);
  for (const p of r.json) {
    assert.equal(Buffer.from(p.primaryKey, 'base64').length, 32);
    assert.equal(Buffer.from(p.secondaryKey, 'base64').length, 32);
  }
  unauthorized(await hub.req('GET', '/devicehub/policies', undefined, as(tok('service'))));
  unauthorized(await hub.req('GET', '/devicehub/policies', undefined, as(tok('registryReadWrite'))));
  unauthorized(await hub.req('POST', '/devicehub/policies/service/rotate?key=primary', undefined, as(tok('service'))));
});

test('rotating the service primary key: old-key tokens 401, new ones 200, secondary unaffected', async () => {
  const old = pol.service;
  const oldTok = tok('service', old.primaryKey);
  assert.equal((await hub.req('GET', '/twins/auth-dev', undefined, as(oldTok))).status, 200);
  const r = await hub.req('POST', '/devicehub/policies/service/rotate?key=primary');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.keyName, 'service');
  assert.notEqual(r.json.primaryKey, old.primaryKey);
  assert.equal(Buffer.from(r.json.primaryKey, 'base64').length, 32);
  assert.equal(r.json.secondaryKey, old.secondaryKey);
  unauthorized(await hub.req('GET', '/twins/auth-dev', undefined, as(oldTok)));
  unauthorized(await hub.req('GET', '/twins/auth-dev', undefined, as(tok('service', old.primaryKey))));
  assert.equal((await hub.req('GET', '/twins/auth-dev', undefined, as(tok('service', r.json.primaryKey)))).status, 200);
  assert.equal((await hub.req('GET', '/twins/auth-dev', undefined, as(tok('service', old.secondaryKey)))).status, 200);
  const listed = await hub.policies();
  assert.equal(listed.service.primaryKey, r.json.primaryKey);
  pol = listed;
});

test('rotate: key=secondary, unknown policy 404, bad key argument 400', async () => {
  const r = await hub.req('POST', '/devicehub/policies/registryRead/rotate?key=secondary');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.primaryKey, pol.registryRead.primaryKey);
  assert.notEqual(r.json.secondaryKey, pol.registryRead.secondaryKey);
  unauthorized(await hub.req('GET', '/devices', undefined, as(tok('registryRead', pol.registryRead.secondaryKey))));
  assert.equal((await hub.req('GET', '/devices', undefined, as(tok('registryRead', r.json.secondaryKey)))).status, 200);
  const nf = await hub.req('POST', '/devicehub/policies/nobody/rotate?key=primary');
  assert.equal(nf.status, 404);
  assertHubError(assert, await hub.req('POST', '/devicehub/policies/service/rotate?key=tertiary'), 400, 'ArgumentInvalid');
  assert.equal((await hub.policies()).service.primaryKey, pol.service.primaryKey, 'a refused rotation changes nothing');
});
