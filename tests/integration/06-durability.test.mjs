// Durability: a restart keeps everything, and a SIGKILL loses no write that was acknowledged.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, Hub, parseConnectionString, sdkDevice } from './lib/hub.mjs';

const dirs = [];
const hubs = [];
function newDataDir() {
  const d = mkdtempSync(join(tmpdir(), 'devicehub-durability-'));
  dirs.push(d);
  return d;
}
async function start(dataDir) {
  const h = new Hub({ dataDir, keepData: true });
  hubs.push(h);
  return h.start();
}
after(async () => {
  for (const h of hubs) await h.stop('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

const ANY = { headers: { 'If-Match': '"*"' } };

test('a SIGTERM restart keeps devices, modules, twins, keys and policies', async () => {
  const dataDir = newDataDir();
  const h1 = await start(dataDir);
  assert.match(h1.output, /HostName=testhub\.local;SharedAccessKeyName=iothubowner;SharedAccessKey=/, 'first start prints the owner connection string');

  const given = Buffer.alloc(32, 9).toString('base64');
  assert.equal((await h1.req('PUT', '/devices/keep-1', sdkDevice('keep-1'))).status, 200);
  assert.equal((await h1.req('PUT', '/devices/keep-2', { deviceId: 'keep-2', status: 'disabled', statusReason: 'why',
    authentication: { type: 'sas', symmetricKey: { primaryKey: given, secondaryKey: '' } } })).status, 200);
  assert.equal((await h1.req('PUT', '/devices/keep-1/modules/m1', { moduleId: 'm1' })).status, 201);
  assert.equal((await h1.req('PATCH', '/twins/keep-1', { tags: { a: { b: 1 } }, properties: { desired: { fw: '2.0' } } }, ANY)).status, 200);
  assert.equal((await h1.req('PATCH', '/twins/keep-1/modules/m1', { properties: { desired: { mod: true } } }, ANY)).status, 200);
  assert.equal((await h1.req('POST', '/devices', Array.from({ length: 20 }, (_, i) => ({ id: `keep-bulk-${i}`, importMode: 'create' })))).status, 200);
  assert.equal((await h1.req('DELETE', '/devices/keep-bulk-0', undefined, ANY)).status, 204);
  assert.equal((await h1.req('POST', '/devicehub/policies/service/rotate?key=both')).status, 200);

  const snap = async (h) => ({
    devices: (await h.req('GET', '/devices?top=1000')).json.sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
    modules: (await h.req('GET', '/devices/keep-1/modules')).json,
    twin: (await h.req('GET', '/twins/keep-1')).json,
    moduleTwin: (await h.req('GET', '/twins/keep-1/modules/m1')).json,
    twin2: (await h.req('GET', '/twins/keep-2')).json,
    stats: (await h.req('GET', '/statistics/devices')).json,
    policies: (await h.req('GET', '/devicehub/policies')).json,
  });
  const before = await snap(h1);
  assert.equal(before.devices.length, 21);
  const ownerKey = h1.ownerKey;
  await h1.stop('SIGTERM');
  assert.deepEqual(await h1.exited, { code: 0, signal: null }, 'SIGTERM is a clean exit');

  const h2 = await start(dataDir);
  assert.doesNotMatch(h2.output, /SharedAccessKey=/, 'the second start does not print the owner connection string');
  assert.equal(h2.ownerKey, ownerKey, 'the owner key survives');
  // a token signed with the old owner key works without fetching anything
  const r = await h2.req('GET', '/devices/keep-2', undefined, { auth: h1.token() });
  assert.equal(r.status, 200);
  assert.equal(r.json.authentication.symmetricKey.primaryKey, given);
  assert.deepEqual(await snap(h2), before);

  // counters carry on from where they were
  const p = await h2.req('PATCH', '/twins/keep-1', { properties: { desired: { fw: '2.1' } } }, ANY);
  assert.equal(p.status, 200);
  assert.equal(p.json.version, before.twin.version + 1);
  assert.equal(p.json.properties.desired.$version, before.twin.properties.desired.$version + 1);
  const c = await h2.req('PUT', '/devices/keep-bulk-0', sdkDevice('keep-bulk-0'));
  assert.equal(c.status, 200);
  assert.ok(!before.devices.some((d) => d.generationId === c.json.generationId));
  await h2.stop('SIGTERM');
});

test('devicehubd owner-connection-string --data-dir D prints the owner connection string', async () => {
  const dataDir = newDataDir();
  const h = await start(dataDir);
  const key = h.ownerKey;
  const live = await run(['owner-connection-string', '--data-dir', dataDir, '--hostname', 'testhub.local']);
  assert.equal(live.code, 0, live.err);
  assert.equal(live.out.trim(), `HostName=testhub.local;SharedAccessKeyName=iothubowner;SharedAccessKey=${key}`);
  await h.stop('SIGTERM');
  const stopped = await run(['owner-connection-string', '--data-dir', dataDir]);
  assert.equal(stopped.code, 0, stopped.err);
  const cs = parseConnectionString(stopped.out.trim());
  assert.equal(cs.SharedAccessKeyName, 'iothubowner');
  assert.equal(cs.SharedAccessKey, key);
  assert.ok(cs.HostName);
  assert.equal(stopped.out.trim().split('\n').length, 1, 'only the connection string on stdout');
});

test('SIGKILL during a stream of writes loses no acknowledged write', async (t) => {
  const dataDir = newDataDir();
  const h1 = await start(dataDir);
  const ackedDevices = new Set();
  const twinAcked = new Map();   // key -> last acknowledged value
  const twinTried = new Map();   // key -> last value sent
  let stop = false;
  let errorsAfterKill = 0;

  async function loop(w) {
    const twinId = `k-${w}-twin`;
    const r = await h1.req('PUT', `/devices/${twinId}`, sdkDevice(twinId));
    assert.equal(r.status, 200);
    for (let n = 0; !stop; n++) {
      try {
        const id = `k-${w}-${n}`;
        const d = await h1.req('PUT', `/devices/${id}`, sdkDevice(id));
        if (d.status === 200) ackedDevices.add(id);
        else assert.fail(`PUT ${id}: ${d.status} ${d.text}`);
        twinTried.set(twinId, n);
        const p = await h1.req('PATCH', `/twins/${twinId}`, { tags: { n }, properties: { desired: { n, [`v${n % 50}`]: n } } }, ANY);
        if (p.status === 200) twinAcked.set(twinId, n);
        else assert.fail(`PATCH ${twinId}: ${p.status} ${p.text}`);
      } catch (e) {
        if (!stop) throw e;
        errorsAfterKill++;
        return;
      }
    }
  }
  const loops = [0, 1, 2, 3].map(loop);
  await new Promise((r) => setTimeout(r, 2000));
  stop = true;
  h1.proc.kill('SIGKILL');
  const exit = await h1.exited;
  assert.equal(exit.signal, 'SIGKILL');
  await Promise.all(loops);
  assert.ok(ackedDevices.size > 20, `only ${ackedDevices.size} writes were acknowledged in 2 s`);
  t.diagnostic(`${ackedDevices.size} device creates and ${[...twinAcked.values()].reduce((a, n) => a + n + 1, 0)} twin patches acknowledged; ${errorsAfterKill} requests cut off by the kill`);

  const h2 = await start(dataDir);
  const listed = new Set((await h2.req('GET', '/devices?top=1000')).json.map((d) => d.deviceId));
  for (const id of ackedDevices) {
    // the list is capped at 1000 entries; anything not in it is looked up one by one
    if (!listed.has(id)) assert.equal((await h2.req('GET', `/devices/${id}`)).status, 200, `acknowledged device ${id} was lost`);
  }
  for (const [twinId, n] of twinAcked) {
    const t = await h2.req('GET', `/twins/${twinId}`);
    assert.equal(t.status, 200);
    const got = t.json.properties.desired.n;
    const tried = twinTried.get(twinId);
    assert.ok(got === n || got === tried, `${twinId}: acknowledged n=${n}, in flight ${tried}, found ${got}`);
    assert.equal(t.json.tags.n, got, 'tags and desired of one patch are written together');
    assert.equal(t.json.properties.desired[`v${got % 50}`], got);
    assert.equal(t.json.properties.desired.$version, got + 2, 'desired $version counts every acknowledged patch');
  }
  // the restarted hub takes writes again
  assert.equal((await h2.req('PUT', '/devices/after-kill', sdkDevice('after-kill'))).status, 200);
  await h2.stop('SIGTERM');
});
