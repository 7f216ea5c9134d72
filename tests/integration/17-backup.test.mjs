// Online backup and restore, and the graceful stop: a backup taken while several loops write twins and
// create devices neither stalls them nor misses anything acknowledged before it began; `devicehubd
// restore` installs it in a fresh data directory and a server there has the same devices and twins. A
// SIGTERM lets a direct method in flight get its answer before the server exits 0.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BIN, Hub, assertHubError, sdkDevice } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

const dirs = [];
const hubs = [];
function newDataDir() {
  const d = mkdtempSync(join(tmpdir(), 'devicehub-backup-'));
  dirs.push(d);
  return d;
}
async function start(dataDir, ownerKey) {
  const h = new Hub({ dataDir, keepData: true });
  if (ownerKey) h.ownerKey = ownerKey;
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
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const ANY = { headers: { 'If-Match': '"*"' } };
const DEVICES = 40;
const LOOPS = 4;

test('a backup under write load restores to the devices and twins acknowledged before it', { timeout: 120000 }, async () => {
  const dataDir = newDataDir();
  const h = await start(dataDir);
  const bulk = Array.from({ length: DEVICES }, (_, i) => ({ id: `bk-${i}`, importMode: 'create' }));
  assert.equal((await h.req('POST', '/devices', bulk)).status, 200);
  for (let i = 0; i < DEVICES; i++) {
    assert.equal((await h.req('PATCH', `/twins/bk-${i}`, { tags: { n: i, seq: 0 } }, ANY)).status, 200);
  }

  // The load: LOOPS loops patch their own twins with increasing seq; one more creates devices.
  let stop = false;
  let backupStarted = false;
  const failures = [];
  let slowest = 0;
  let writes = 0;
  let writesDuringBackup = 0;
  let backupRunning = false;
  const ackedBefore = new Map();  // twin -> last seq acknowledged before the backup was asked for
  const createdBefore = [];
  const timed = async (fn) => {
    const t0 = performance.now();
    const r = await fn();
    slowest = Math.max(slowest, performance.now() - t0);
    writes++;
    if (backupRunning) writesDuringBackup++;
    if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
    return r;
  };
  const patchLoop = async (loop) => {
    for (let seq = 1; !stop; seq++) {
      for (let i = loop; i < DEVICES && !stop; i += LOOPS) {
        const r = await timed(() => h.req('PATCH', `/twins/bk-${i}`, { tags: { seq } }, ANY));
        if (r.status === 200 && !backupStarted) ackedBefore.set(`bk-${i}`, seq);
      }
    }
  };
  const createLoop = async () => {
    for (let n = 0; !stop; n++) {
      const r = await timed(() => h.req('PUT', `/devices/load-${n}`, sdkDevice(`load-${n}`)));
      if (r.status === 200 && !backupStarted) createdBefore.push(`load-${n}`);
    }
  };
  const loops = [...Array.from({ length: LOOPS }, (_, l) => patchLoop(l)), createLoop()];
  await delay(500);

  backupStarted = true;
  backupRunning = true;
  const backup = await h.req('POST', '/devicehub/backup');
  backupRunning = false;
  assert.equal(backup.status, 200, backup.text);
  assert.match(backup.json.path, /\/backups\/devicehub-\d{8}T\d{6}\.\d{3}Z\.db$/);
  assert.ok(backup.json.path.startsWith(dataDir));
  assert.ok(backup.json.sizeBytes > 0 && backup.json.pages > 0 && backup.json.durationMs >= 0, backup.text);
  await delay(300);
  stop = true;
  await Promise.all(loops);
  assert.deepEqual(failures, [], 'every write during the backup succeeded');
  assert.ok(writes > 50, `the load ran (${writes} writes)`);
  assert.ok(slowest < 2000, `no write took 2 s or more (slowest ${slowest.toFixed(0)} ms)`);
  assert.ok(createdBefore.length > 0);
  console.log(`backup under load: ${writes} writes, ${writesDuringBackup} while the backup ran (${backup.json.durationMs} ms, ${backup.json.pages} pages), slowest ${slowest.toFixed(0)} ms`);

  // Names stay inside the backups directory; only the owner may take one.
  assertHubError(assert, await h.req('POST', '/devicehub/backup', { path: '../x' }), 400, 'ArgumentInvalid');
  assertHubError(assert, await h.req('POST', '/devicehub/backup', { path: '/tmp/x.db' }), 400, 'ArgumentInvalid');
  assertHubError(assert, await h.req('POST', '/devicehub/backup', { path: 7 }), 400, 'ArgumentInvalid');
  // A body, when there is one, is JSON (the gate checks it); OpenAPI says it is optional.
  assertHubError(assert, await h.req('POST', '/devicehub/backup', '{"path":', {}), 400, 'ArgumentInvalid');
  assert.equal((await h.req('POST', '/devicehub/backup', 'path=x', { headers: { 'Content-Type': 'text/plain' } })).status, 415);
  const api = (await h.req('GET', '/openapi.json', undefined, { auth: null })).json;
  assert.deepEqual(api.paths['/devicehub/backup'].post.requestBody, { required: false, content: { 'application/json': {} } });
  const service = (await h.policies()).service;
  const r401 = await h.req('POST', '/devicehub/backup', undefined, { auth: h.token('service', service.primaryKey) });
  assert.equal(r401.status, 401, r401.text);
  const named = await h.req('POST', '/devicehub/backup', { path: 'named.db' });
  assert.equal(named.status, 200, named.text);
  assert.equal(named.json.path, join(dataDir, 'backups', 'named.db'));
  assertHubError(assert, await h.req('POST', '/devicehub/backup', { path: 'named.db' }), 400, 'ArgumentInvalid');
  assert.ok(!existsSync(join(dataDir, 'x')), 'nothing was written outside backups/');

  // The CLI backs up beside the running server; a restore is refused while the server holds the database.
  const cliCopy = join(newDataDir(), 'cli.db');
  const cli = await run(['backup', '--data-dir', dataDir, '--to', cliCopy]);
  assert.equal(cli.code, 0, cli.err);
  assert.ok(existsSync(cliCopy));
  const busy = await run(['restore', '--data-dir', dataDir, '--from', backup.json.path]);
  assert.notEqual(busy.code, 0);
  assert.match(busy.err, /in use: stop the server first/);

  await h.stop('SIGTERM');
  assert.deepEqual(await h.exited, { code: 0, signal: null });

  // Restore into a fresh data directory and compare.
  const fresh = newDataDir();
  const restored = await run(['restore', '--data-dir', fresh, '--from', backup.json.path]);
  assert.equal(restored.code, 0, restored.err);
  assert.match(restored.out, /restored .*devicehub\.db from/);
  assert.ok(existsSync(backup.json.path), 'the backup itself stays');
  const bad = await run(['restore', '--data-dir', newDataDir(), '--from', join(fresh, 'nope.db')]);
  assert.notEqual(bad.code, 0);

  const h2 = await start(fresh, h.ownerKey);
  const ids = new Set((await h2.req('GET', '/devices?top=1000')).json.map((d) => d.deviceId));
  for (let i = 0; i < DEVICES; i++) {
    const twin = await h2.req('GET', `/twins/bk-${i}`);
    assert.equal(twin.status, 200);
    assert.equal(twin.json.tags.n, i);
    assert.ok(twin.json.tags.seq >= (ackedBefore.get(`bk-${i}`) ?? 0),
      `bk-${i}: seq ${twin.json.tags.seq} is at least the ${ackedBefore.get(`bk-${i}`)} acknowledged before the backup`);
  }
  for (const id of createdBefore) assert.ok(ids.has(id), `${id} was created before the backup`);
  // The restored hub takes writes and the same owner key.
  assert.equal((await h2.req('PATCH', '/twins/bk-0', { tags: { after: true } }, ANY)).status, 200);
  await h2.stop('SIGTERM');
  assert.deepEqual(await h2.exited, { code: 0, signal: null });

  // Restoring over an existing database keeps the old one aside.
  const again = await run(['restore', '--data-dir', fresh, '--from', cliCopy]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /the old database is now .*devicehub\.db\.before-restore-\d{8}T\d{6}Z/);
});

test('SIGTERM lets a direct method in flight get its answer, closes devices with 1000, exits 0', { timeout: 60000 }, async () => {
  const h = await start(newDataDir());
  const created = await h.req('PUT', '/devices/slow-1', sdkDevice('slow-1'));
  assert.equal(created.status, 200);
  const key = created.json.authentication.symmetricKey.primaryKey;
  const { device } = await connectDevice(h, 'slow-1', { token: deviceToken('slow-1', key) });
  assert.ok(device);
  let requested;
  const seen = new Promise((resolve) => { requested = resolve; });
  device.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type !== 'method.request') return;
    requested();
    setTimeout(() => device.send({ type: 'method.response', rid: m.rid, status: 200, payload: { slow: true } }), 1000);
  });
  const call = h.req('POST', '/twins/slow-1/methods', { methodName: 'slow', payload: {}, responseTimeoutInSeconds: 20 });
  await seen;
  const t0 = performance.now();
  h.proc.kill('SIGTERM');
  const answer = await call;
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(answer.json, { status: 200, payload: { slow: true } });
  assert.equal((await device.closed).code, 1000);
  assert.deepEqual(await h.exited, { code: 0, signal: null });
  assert.ok(performance.now() - t0 < 8000, 'the drain ended when the last request was answered');
  h.checkSanitizers();
  // Nothing listens any more: clients reconnect elsewhere or later.
  await assert.rejects(fetch(`${h.base}/healthz`));
});
