// Device and module twins over REST (reference §1.1, §1.4, §5 twin limits).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, sdkDevice, startHub } from './lib/hub.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const ANY = { headers: { 'If-Match': '"*"' } };
const ifMatch = (etag) => ({ headers: { 'If-Match': `"${etag}"` } });
const twinEtag = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b.toString('base64'); };

async function newDevice(id) {
  const r = await hub.req('PUT', `/devices/${id}`, sdkDevice(id));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const getTwin = async (id) => {
  const r = await hub.req('GET', `/twins/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
};

test('GET /twins/{id}: deviceId, etag, version, properties with $metadata and $version', async () => {
  const dev = await newDevice('tw-1');
  const r = await hub.req('GET', '/twins/tw-1');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const t = r.json;
  assert.equal(t.deviceId, 'tw-1');
  assert.equal(t.moduleId, undefined);
  assert.equal(t.etag, twinEtag(1));
  assert.equal(r.headers.get('etag'), `"${t.etag}"`);
  assert.equal(t.deviceEtag, dev.etag);
  assert.equal(t.version, 1);
  assert.equal(t.status, 'enabled');
  assert.equal(t.connectionState, 'Disconnected');
  assert.equal(t.authenticationType, 'sas');
  assert.deepEqual(t.capabilities, { iotEdge: false });
  assert.deepEqual(t.tags, {});
  assert.equal(t.generationId, undefined);
  assert.equal(t.connectionStateUpdatedTime, undefined);
  const { desired, reported } = t.properties;
  assert.equal(desired.$version, 1);
  assert.equal(reported.$version, 1);
  assert.match(desired.$metadata.$lastUpdated, ISO_MS);
  assert.equal(desired.$metadata.$lastUpdatedVersion, 1);
  assert.match(reported.$metadata.$lastUpdated, ISO_MS);
  assert.equal(reported.$metadata.$lastUpdatedVersion, undefined);
  assert.deepEqual(Object.keys(desired).sort(), ['$metadata', '$version']);
  assert.deepEqual(Object.keys(reported).sort(), ['$metadata', '$version']);
});

test('PATCH merges tags and desired, null deletes, versions and metadata advance', async () => {
  await newDevice('tw-2');
  const t0 = await getTwin('tw-2');
  const p1 = await hub.req('PATCH', '/twins/tw-2', {
    tags: { loc: { region: 'EU', site: 's1' }, owner: 'ann' },
    properties: { desired: { fw: '1.0', cfg: { rate: 5, mode: 'fast' } } },
  }, ANY);
  assert.equal(p1.status, 200, p1.text);
  const t1 = p1.json;
  assert.equal(t1.deviceId, 'tw-2');
  assert.equal(t1.version, t0.version + 1);
  assert.equal(t1.etag, twinEtag(2));
  assert.equal(p1.headers.get('etag'), `"${t1.etag}"`);
  assert.deepEqual(t1.tags, { loc: { region: 'EU', site: 's1' }, owner: 'ann' });
  const d1 = t1.properties.desired;
  assert.equal(d1.fw, '1.0');
  assert.deepEqual(d1.cfg, { rate: 5, mode: 'fast' });
  assert.equal(d1.$version, 2);
  assert.equal(d1.$metadata.$lastUpdatedVersion, 2);
  for (const leaf of [d1.$metadata.fw, d1.$metadata.cfg.rate, d1.$metadata.cfg.mode, d1.$metadata.cfg]) {
    assert.match(leaf.$lastUpdated, ISO_MS);
    assert.equal(leaf.$lastUpdatedVersion, 2);
  }
  assert.deepEqual(t1.properties.reported.$version, 1, 'reported untouched');
  assert.deepEqual(await getTwin('tw-2'), t1);

  await new Promise((r) => setTimeout(r, 5));
  const p2 = await hub.req('PATCH', '/twins/tw-2', {
    tags: { loc: { site: null, floor: 3 }, owner: null },
    properties: { desired: { cfg: { mode: null }, extra: [1, 2] } },
  }, ifMatch(t1.etag));
  assert.equal(p2.status, 200, p2.text);
  const t2 = p2.json;
  assert.equal(t2.version, t1.version + 1);
  assert.deepEqual(t2.tags, { loc: { region: 'EU', floor: 3 } });
  const d2 = t2.properties.desired;
  assert.equal(d2.$version, 3);
  assert.equal(d2.fw, '1.0');
  assert.deepEqual(d2.cfg, { rate: 5 });
  assert.deepEqual(d2.extra, [1, 2]);
  assert.equal(d2.$metadata.$lastUpdatedVersion, 3);
  assert.equal(d2.$metadata.fw.$lastUpdatedVersion, 2, 'an untouched leaf keeps its version');
  assert.equal(d2.$metadata.fw.$lastUpdated, d1.$metadata.fw.$lastUpdated);
  assert.equal(d2.$metadata.cfg.rate.$lastUpdatedVersion, 2);
  assert.equal(d2.$metadata.cfg.mode, undefined, 'a deleted leaf has no metadata');
  assert.equal(d2.$metadata.extra.$lastUpdatedVersion, 3);
  assert.ok(Date.parse(d2.$metadata.$lastUpdated) >= Date.parse(d1.$metadata.$lastUpdated));

  // tags only: desired $version stays
  const p3 = await hub.req('PATCH', '/twins/tw-2', { tags: { only: 'tags' } }, ANY);
  assert.equal(p3.status, 200);
  assert.equal(p3.json.version, t2.version + 1);
  assert.equal(p3.json.properties.desired.$version, 3);
  assert.equal(p3.json.tags.only, 'tags');
});

test('PATCH with a stale If-Match: 412 and the twin unchanged', async () => {
  await newDevice('tw-3');
  const t0 = await getTwin('tw-3');
  const p1 = await hub.req('PATCH', '/twins/tw-3', { properties: { desired: { a: 1 } } }, ifMatch(t0.etag));
  assert.equal(p1.status, 200, p1.text);
  const stale = await hub.req('PATCH', '/twins/tw-3', { tags: { t: 1 }, properties: { desired: { a: 2 } } }, ifMatch(t0.etag));
  assertHubError(assert, stale, 412, 'PreconditionFailed');
  assert.deepEqual(await getTwin('tw-3'), p1.json);
  const stalePut = await hub.req('PUT', '/twins/tw-3', { tags: {}, properties: { desired: {} } }, ifMatch(t0.etag));
  assertHubError(assert, stalePut, 412, 'PreconditionFailed');
  assert.deepEqual(await getTwin('tw-3'), p1.json);
  // no If-Match at all is unconditional
  const none = await hub.req('PATCH', '/twins/tw-3', { properties: { desired: { a: 3 } } });
  assert.equal(none.status, 200);
  assert.equal(none.json.properties.desired.a, 3);
});

test('PUT replaces tags and desired wholesale', async () => {
  await newDevice('tw-4');
  const p = await hub.req('PATCH', '/twins/tw-4', { tags: { a: 1, b: { c: 2 } }, properties: { desired: { x: 1, y: { z: 2 } } } }, ANY);
  assert.equal(p.status, 200);
  const r = await hub.req('PUT', '/twins/tw-4', { deviceId: 'tw-4', etag: p.json.etag, tags: { b: { d: 3 } }, properties: { desired: { y: { w: 4 } } } }, ifMatch(p.json.etag));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.tags, { b: { d: 3 } });
  const d = r.json.properties.desired;
  assert.deepEqual(Object.keys(d).filter((k) => !k.startsWith('$')), ['y']);
  assert.deepEqual(d.y, { w: 4 });
  assert.equal(d.$version, p.json.properties.desired.$version + 1);
  assert.equal(d.$metadata.x, undefined);
  assert.equal(d.$metadata.y.w.$lastUpdatedVersion, d.$version);
  assert.equal(r.json.version, p.json.version + 1);
  assert.deepEqual(await getTwin('tw-4'), r.json);
  // a PUT without tags/desired empties them
  const e = await hub.req('PUT', '/twins/tw-4', {}, ANY);
  assert.equal(e.status, 200, e.text);
  assert.deepEqual(e.json.tags, {});
  assert.deepEqual(Object.keys(e.json.properties.desired).sort(), ['$metadata', '$version']);
});

test('properties.reported in a service patch or replace → 400, twin unchanged', async () => {
  await newDevice('tw-5');
  const t0 = await getTwin('tw-5');
  const r = await hub.req('PATCH', '/twins/tw-5', { tags: { a: 1 }, properties: { reported: { r: 1 } } }, ANY);
  assertHubError(assert, r, 400, 'ArgumentInvalid');
  const r2 = await hub.req('PUT', '/twins/tw-5', { properties: { desired: { a: 1 }, reported: { r: 1 } } }, ANY);
  assertHubError(assert, r2, 400, 'ArgumentInvalid');
  assert.deepEqual(await getTwin('tw-5'), t0);
});

function nest(depth, leaf = 1) {
  let v = leaf;
  for (let i = depth; i >= 1; i--) v = { [`l${i}`]: v };
  return v;
}

test('limits → 400 naming the limit, twin unchanged', async () => {
  await newDevice('tw-6');
  const base = await hub.req('PATCH', '/twins/tw-6', { tags: { keep: 'me' }, properties: { desired: { keep: 'me' } } }, ANY);
  assert.equal(base.status, 200);
  const cases = [
    ['tags over 8 KB', { tags: { big: 'x'.repeat(3000), big2: 'x'.repeat(3000), big3: 'x'.repeat(3000) } }, /tags/],
    ['desired over 32 KB', { properties: { desired: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'y'.repeat(4000)])) } }, /desired/],
    ['depth over 10', { properties: { desired: nest(12) } }, /deep|depth|nest/i],
    ['depth over 10 in tags', { tags: nest(12) }, /deep|depth|nest/i],
    ["key with '.'", { tags: { 'a.b': 1 } }, /'\.'|\./],
    ["key with '$'", { properties: { desired: { a: { $b: 1 } } } }, /\$/],
    ["key with ' '", { properties: { desired: { 'a b': 1 } } }, /' '|space/],
    ['string over 4 KB', { properties: { desired: { s: 'z'.repeat(4097) } } }, /4096|string/],
    ['integer out of range', { tags: { n: 4503599627370496 } }, /integer|range/],
  ];
  for (const [name, body, re] of cases) {
    const r = await hub.req('PATCH', '/twins/tw-6', body, ANY);
    const msg = assertHubError(assert, r, 400, 'ArgumentInvalid');
    assert.match(msg, re, `${name}: ${msg}`);
  }
  // a patch that only grows the stored section over the limit is refused too
  const grow1 = await hub.req('PATCH', '/twins/tw-6', { tags: { g1: 'a'.repeat(4000) } }, ANY);
  assert.equal(grow1.status, 200);
  const grow2 = await hub.req('PATCH', '/twins/tw-6', { tags: { g2: 'a'.repeat(4000) } }, ANY);
  assert.equal(grow2.status, 200);
  const grow3 = await hub.req('PATCH', '/twins/tw-6', { tags: { g3: 'a'.repeat(4000) } }, ANY);
  assert.match(assertHubError(assert, grow3, 400, 'ArgumentInvalid'), /tags/);
  assert.deepEqual(await getTwin('tw-6'), grow2.json);
  // within limits: depth 9 under the section, a 4096-byte string, max integer
  const ok = await hub.req('PATCH', '/twins/tw-6', { tags: { g1: null, g2: null }, properties: { desired: { deep: nest(8), s: 'q'.repeat(4096), n: 4503599627370495 } } }, ANY);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.properties.desired.n, 4503599627370495);
});

test('module twins via /twins/{id}/modules/{mid}', async () => {
  await newDevice('tw-m');
  const m = await hub.req('PUT', '/devices/tw-m/modules/mod1', { moduleId: 'mod1' });
  assert.equal(m.status, 201);
  const g = await hub.req('GET', '/twins/tw-m/modules/mod1');
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.deviceId, 'tw-m');
  assert.equal(g.json.moduleId, 'mod1');
  assert.equal(g.json.version, 1);
  const p = await hub.req('PATCH', '/twins/tw-m/modules/mod1', { tags: { mt: 1 }, properties: { desired: { md: 'x' } } }, ifMatch(g.json.etag));
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.moduleId, 'mod1');
  assert.deepEqual(p.json.tags, { mt: 1 });
  assert.equal(p.json.properties.desired.md, 'x');
  assert.equal(p.json.version, 2);
  const rep = await hub.req('PUT', '/twins/tw-m/modules/mod1', { tags: { only: true } }, ANY);
  assert.equal(rep.status, 200);
  assert.deepEqual(rep.json.tags, { only: true });
  assert.equal(rep.json.properties.desired.md, undefined);
  // the device twin is separate
  const dt = await getTwin('tw-m');
  assert.deepEqual(dt.tags, {});
  assert.equal(dt.version, 1);
  assert.equal((await hub.req('GET', '/twins/tw-m/modules/nomod')).status, 404);
  assert.equal((await hub.req('PATCH', '/twins/tw-m/modules/nomod', { tags: { a: 1 } }, ANY)).status, 404);
});

test('twin of a missing device: 404 DeviceNotFound', async () => {
  assertHubError(assert, await hub.req('GET', '/twins/ghost'), 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('PATCH', '/twins/ghost', { tags: { a: 1 } }, ANY), 404, 'DeviceNotFound');
  assertHubError(assert, await hub.req('PUT', '/twins/ghost', { tags: { a: 1 } }, ANY), 404, 'DeviceNotFound');
  assert.equal((await hub.req('GET', '/devices/ghost')).status, 404, 'a twin write does not create a device');
});

test('device replace does not touch the twin; twin patch does not touch the identity etag', async () => {
  const dev = await newDevice('tw-7');
  const p = await hub.req('PATCH', '/twins/tw-7', { tags: { a: 1 } }, ANY);
  assert.equal(p.status, 200);
  assert.equal((await hub.req('GET', '/devices/tw-7')).json.etag, dev.etag);
  const r = await hub.req('PUT', '/devices/tw-7', { ...dev, status: 'disabled' }, ANY);
  assert.equal(r.status, 200);
  const t = await getTwin('tw-7');
  assert.deepEqual(t.tags, { a: 1 });
  assert.equal(t.status, 'disabled');
  assert.equal(t.deviceEtag, r.json.etag);
});

test('concurrent PATCHes with the same If-Match: exactly one wins', async () => {
  await newDevice('tw-race');
  const t0 = await getTwin('tw-race');
  const rs = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    hub.req('PATCH', '/twins/tw-race', { properties: { desired: { winner: i } } }, ifMatch(t0.etag))));
  const ok = rs.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, rs.map((r) => r.status).join(','));
  for (const r of rs.filter((x) => x.status !== 200)) assertHubError(assert, r, 412, 'PreconditionFailed');
  const t1 = await getTwin('tw-race');
  assert.equal(t1.version, t0.version + 1);
  assert.equal(t1.properties.desired.winner, ok[0].json.properties.desired.winner);
});

test('concurrent unconditional PATCHes of different keys lose no update', async () => {
  await newDevice('tw-merge');
  const rs = await Promise.all(Array.from({ length: 16 }, (_, i) =>
    hub.req('PATCH', '/twins/tw-merge', { tags: { [`t${i}`]: i }, properties: { desired: { [`d${i}`]: i } } }, ANY)));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const t = await getTwin('tw-merge');
  for (let i = 0; i < 16; i++) {
    assert.equal(t.tags[`t${i}`], i);
    assert.equal(t.properties.desired[`d${i}`], i);
  }
  assert.equal(t.version, 17);
  assert.equal(t.properties.desired.$version, 17);
  assert.deepEqual(rs.map((r) => r.json.version).sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i + 2));
});

test('sizes count UTF-8 bytes; non-ASCII keys and values round-trip', async () => {
  await newDevice('tw-utf8');
  const ok = await hub.req('PATCH', '/twins/tw-utf8', { tags: { 'clé': 'é'.repeat(2048), 'ключ': '値' } }, ANY);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.tags['clé'], 'é'.repeat(2048));
  assert.equal((await getTwin('tw-utf8')).tags['ключ'], '値');
  const big = await hub.req('PATCH', '/twins/tw-utf8', { tags: { s: 'é'.repeat(2049) } }, ANY);
  assertHubError(assert, big, 400, 'ArgumentInvalid');
  const ctl = await hub.req('PATCH', '/twins/tw-utf8', { tags: { 'a\u0001b': 1 } }, ANY);
  assertHubError(assert, ctl, 400, 'ArgumentInvalid');
});
