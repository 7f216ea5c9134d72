// Rollouts (docs/rollouts.md, docs/jobs.md) against a real devicehubd: abort thresholds with 1,000
// simulated devices, canary approval, health gates, retries, a restart mid-rollout, maintenance windows
// (--test-clock) and context conditions, pause/resume, rate limiting, dry runs, dynamic targets, ETag
// conflicts of twin rollouts, and a firmware rollout of an uploaded artifact to devicehub-sim devices.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, Hub, freePort, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

const SIM = process.env.DEVICEHUB_SIM_BIN || join(dirname(BIN), 'devicehub-sim');
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

let hub;      // started with --public-url so firmware rollouts hand devices a reachable URL
const sims = [];

before(async () => {
  assert.ok(existsSync(SIM), `${SIM} is missing: build the devicehub-sim target`);
  const port = await freePort();
  hub = await new Hub({ port, args: ['--public-url', `http://127.0.0.1:${port}`] }).start();
});

after(async () => {
  for (const s of sims) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  await Promise.all(sims.map((s) => s.exited));
  await hub?.destroy();
});

// ---- helpers ----

// Polls fn until it returns a truthy value; the last value or failure is in the error.
async function eventually(fn, ms = 15000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (e) { last = e; }
    await delay(100);
  }
  throw new Error(`${what} not reached within ${ms} ms${last ? `: ${last.message}` : ''}`);
}

async function rollout(h, id) {
  const r = await h.req('GET', `/devicehub/rollouts/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function waitRollout(h, id, pred, ms = 15000) {
  let last;
  try {
    return await eventually(async () => {
      last = await rollout(h, id);
      return pred(last) ? last : null;
    }, ms, `rollout ${id}`);
  } catch (e) {
    throw new Error(`${e.message}; last seen: ${JSON.stringify(last)}`);
  }
}

async function rows(h, id) {
  const r = await h.req('GET', `/devicehub/rollouts/${id}/devices?top=5000`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function putRollout(h, id, body) {
  const r = await h.req('PUT', `/devicehub/rollouts/${id}`, body);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

const canceledCount = (ro) => ro.phases.reduce((n, p) => n + p.canceledCount, 0);

// Registry-only devices (no connection), for twin rollouts.
async function createDevices(h, prefix, n, tags) {
  const body = Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, importMode: 'create', tags }));
  const r = await h.req('POST', '/devices', body);
  assert.equal(r.status, 200, r.text);
  return body.map((d) => d.id);
}

// A devicehub.v1 device that answers methods with answer(msg, callNumber) → {status, payload, report} or
// null (no answer). `report` is sent as a reported patch after the answer.
async function fakeDevice(h, id, answer, tags) {
  let key = fakeDevice.keys.get(id);
  if (!key) {
    const created = await h.req('PUT', `/devices/${id}`, sdkDevice(id));
    assert.equal(created.status, 200, created.text);
    key = created.json.authentication.symmetricKey.primaryKey;
    fakeDevice.keys.set(id, key);
    if (tags) assert.equal((await h.req('PATCH', `/twins/${id}`, { tags })).status, 200);
  }
  const c = await connectDevice(h, id, { token: deviceToken(id, key) });
  assert.ok(c.device, JSON.stringify(c));
  const dev = { id, device: c.device, calls: [] };
  c.device.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type !== 'method.request') return;
    dev.calls.push({ ...m, at: Date.now() });
    const a = answer(m, dev.calls.length);
    if (!a) return;
    c.device.send({ type: 'method.response', rid: m.rid, status: a.status, payload: a.payload ?? null });
    if (a.report) c.device.send({ type: 'reported.patch', rid: `r-${m.rid}`, body: a.report });
  });
  return dev;
}
fakeDevice.keys = new Map();

const ok = () => ({ status: 200, payload: { ok: true } });

// Runs devicehub-sim against h; output collects stdout and stderr.
function startSim(h, args) {
  const cs = `HostName=testhub.local;SharedAccessKeyName=iothubowner;SharedAccessKey=${h.ownerKey}`;
  const proc = spawn(SIM, ['--connection-string', cs, '--api-url', h.base, '--device-url', h.deviceUrl,
    '--report-interval-ms', '300', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const s = { proc, output: '' };
  proc.stdout.on('data', (d) => { s.output += d; });
  proc.stderr.on('data', (d) => { s.output += d; });
  s.exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  sims.push(s);
  return s;
}

async function stopSim(s) {
  s.proc.kill('SIGINT');
  const { code } = await s.exited;
  assert.equal(code, 0, s.output.slice(-3000));
  const m = s.output.match(/(ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer)[^]*/);
  assert.ok(!m, `devicehub-sim reported a sanitizer error:\n${m?.[0].slice(0, 4000)}`);
}

async function connectedCount(h, prefix) {
  const r = await h.req('POST', '/devices/query',
    { query: `SELECT COUNT() AS n FROM devices WHERE connectionState = 'Connected' AND startswith(deviceId, '${prefix}')` });
  assert.equal(r.status, 200, r.text);
  return r.json[0].n;
}

// Methods answered by the simulator so far, from its latest summary line.
function simMethods(s) {
  const all = [...s.output.matchAll(/methods (\d+) \(failed (\d+)\)/g)];
  assert.ok(all.length, s.output);
  const m = all[all.length - 1];
  return { methods: Number(m[1]), failed: Number(m[2]) };
}

const twinBody = (cond, desired, policy, extra = {}) => ({
  type: 'scheduleUpdateTwin', queryCondition: cond,
  updateTwin: { etag: '*', properties: { desired } }, policy, ...extra,
});
const methodBody = (cond, methodName, policy, extra = {}) => ({
  type: 'scheduleDeviceMethod', queryCondition: cond,
  cloudToDeviceMethod: { methodName, payload: { n: 1 }, responseTimeoutInSeconds: 10 }, policy, ...extra,
});

// ---- tests ----

test('1,000 simulated devices with injected failures: the rollout aborts at its threshold', async () => {
  const N = 1000;
  const sim = startSim(hub, ['--create', '--count', String(N), '--prefix', 'ab-', '--fail-rate', '0.5',
    '--latency-ms', '150', '--reboot-ms', '300', '--seed', '7']);
  await eventually(async () => (await connectedCount(hub, 'ab-')) === N, 60000, `${N} devices connected`)
    .catch((e) => { throw new Error(`${e.message}\n${sim.output.slice(-2000)}`); });
  await putRollout(hub, 'abort-1', methodBody("startswith(deviceId, 'ab-')", 'reboot', {
    maxConcurrency: 50, abort: { failurePercent: 20, minDevices: 50 },
  }));
  const failed = await waitRollout(hub, 'abort-1', (j) => j.status !== 'running' && j.status !== 'queued', 60000);
  assert.equal(failed.status, 'failed', JSON.stringify(failed));
  assert.match(failed.failureReason, /threshold/);
  // Calls in flight at the abort finish; nothing else starts.
  const end = await waitRollout(hub, 'abort-1', (j) => j.deviceJobStatistics.runningCount === 0, 20000);
  const st = end.deviceJobStatistics;
  const canceled = canceledCount(end);
  assert.equal(st.deviceCount, N);
  assert.equal(st.pendingCount, 0, 'untouched devices are canceled, not left pending');
  assert.equal(st.succeededCount + st.failedCount + canceled, N, JSON.stringify(end));
  assert.ok(st.succeededCount + st.failedCount >= 50, 'no abort before minDevices finished');
  assert.ok(canceled >= N / 2, `most devices were never started: ${canceled} canceled`);
  assert.ok(st.failedCount >= 10, JSON.stringify(st));
  assert.deepEqual(Object.keys(end.failures), ['MethodStatus500']);
  assert.equal(end.failures.MethodStatus500, st.failedCount);

  const all = await rows(hub, 'abort-1');
  assert.equal(all.length, N);
  const endMs = Date.parse(end.endTime);
  for (const r of all) {
    const answered = r.outcome?.deviceMethodResponse?.status;
    if (r.status === 'canceled') {
      assert.ok(r.startTimeUtc == null, `canceled ${r.deviceId} was started: ${JSON.stringify(r)}`);
      assert.equal(answered, undefined);
    } else {
      // A 500 is a failure even when it arrived after the abort.
      assert.equal(r.status, answered >= 400 ? 'failed' : 'completed', JSON.stringify(r));
      // Nothing starts once the threshold is crossed (the abort is decided before more devices go).
      assert.ok(Date.parse(r.startTimeUtc) < endMs, `${r.deviceId} started at the abort: ${JSON.stringify(r)}`);
    }
  }
  // Canceled devices were never invoked: the simulator answered exactly the started ones.
  await eventually(() => simMethods(sim).methods === st.succeededCount + st.failedCount, 5000,
    'simulator method count').catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(simMethods(sim))} vs ${st.succeededCount + st.failedCount}`);
  });
  assert.equal(simMethods(sim).failed, st.failedCount);
  await stopSim(sim);
});

test('a canary phase waits for approval, then the rest go', async () => {
  const ids = await createDevices(hub, 'can-', 10, { ring: 'can' });
  await putRollout(hub, 'canary-1', twinBody("tags.ring = 'can'", { fw: '2.0' }, {
    phases: [{ percent: 10, name: 'canary', successGate: { approval: 'manual', minSuccessPercent: 100 } },
      { percent: 100 }],
  }));
  const waiting = await waitRollout(hub, 'canary-1', (j) => j.awaitingApproval);
  assert.equal(waiting.status, 'running');
  assert.equal(waiting.currentPhase, 0);
  assert.equal(waiting.deviceJobStatistics.succeededCount, 1);
  assert.equal(waiting.deviceJobStatistics.pendingCount, 9);
  assert.deepEqual(waiting.phases.map((p) => p.deviceCount), [1, 9]);
  // Nothing more happens while it waits.
  await delay(600);
  const still = await rollout(hub, 'canary-1');
  assert.equal(still.awaitingApproval, true);
  assert.equal(still.deviceJobStatistics.succeededCount, 1);
  const written = [];
  for (const id of ids) if ((await hub.req('GET', `/twins/${id}`)).json.properties.desired.fw === '2.0') written.push(id);
  assert.equal(written.length, 1);

  const ap = await hub.req('POST', '/devicehub/rollouts/canary-1/approve');
  assert.equal(ap.status, 200, ap.text);
  assert.equal(ap.json.awaitingApproval, false);
  assert.equal(ap.json.currentPhase, 1);
  const done = await waitRollout(hub, 'canary-1', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 10);
  // Approving again is refused: the rollout is not waiting (it finished).
  assert.equal((await hub.req('POST', '/devicehub/rollouts/canary-1/approve')).status, 400);
});

test('a health gate fails devices that never report the target version', async () => {
  const devs = [];
  for (let i = 0; i < 4; i++) {
    const good = i < 2;
    devs.push(await fakeDevice(hub, `hl-${i}`, () => ({
      status: 200, payload: { applying: true }, report: good ? { fw: { version: '2.0.0' } } : null,
    }), { ring: 'hl' }));
  }
  await putRollout(hub, 'health-1', methodBody("tags.ring = 'hl'", 'update', {
    health: { condition: "properties.reported.fw.version = '2.0.0'", timeoutSeconds: 2 },
  }));
  // Devices that answered well but do not report yet are verifying, not done.
  const verifying = await waitRollout(hub, 'health-1', (j) => j.phases[0].verifyingCount === 2 ||
    j.status === 'completed' || j.status === 'failed');
  assert.equal(verifying.status, 'running', JSON.stringify(verifying));
  assert.equal(verifying.deviceJobStatistics.failedCount, 0);
  const done = await waitRollout(hub, 'health-1', (j) => j.status === 'completed', 15000);
  assert.equal(done.deviceJobStatistics.succeededCount, 2);
  assert.equal(done.deviceJobStatistics.failedCount, 2);
  assert.deepEqual(done.failures, { HealthCheckTimeout: 2 });
  const byId = Object.fromEntries((await rows(hub, 'health-1')).map((r) => [r.deviceId, r]));
  assert.equal(byId['hl-0'].status, 'completed');
  assert.equal(byId['hl-3'].status, 'failed');
  assert.equal(byId['hl-3'].error.code, 'HealthCheckTimeout');
  assert.equal(byId['hl-3'].outcome.deviceMethodResponse.status, 200);
  for (const d of devs) assert.equal(d.calls.length, 1);
  await Promise.all(devs.map((d) => d.device.close()));
});

test('retries reach devices that failed once; failures are grouped by error code', async () => {
  const devs = [];
  for (let i = 0; i < 3; i++) devs.push(await fakeDevice(hub, `rt-${i}`, (_m, n) => (n === 1 ? { status: 500 } : ok()), { ring: 'rt' }));
  const always = await fakeDevice(hub, 'rt-bad', () => ({ status: 503, payload: { busy: true } }), { ring: 'rt' });
  const missing = await fakeDevice(hub, 'rt-404', () => ({ status: 404 }), { ring: 'rt' });
  await putRollout(hub, 'retry-1', methodBody("tags.ring = 'rt'", 'update', {
    retries: { count: 1, delaySeconds: 1 },
  }));
  const done = await waitRollout(hub, 'retry-1', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 3);
  assert.equal(done.deviceJobStatistics.failedCount, 2);
  assert.deepEqual(done.failures, { MethodStatus503: 1, MethodStatus404: 1 });
  for (const d of [...devs, always, missing]) {
    assert.equal(d.calls.length, 2, `${d.id}: one attempt and one retry`);
    assert.ok(d.calls[1].at - d.calls[0].at >= 900, `${d.id} retried before delaySeconds`);
  }
  const byId = Object.fromEntries((await rows(hub, 'retry-1')).map((r) => [r.deviceId, r]));
  assert.equal(byId['rt-0'].status, 'completed');
  assert.equal(byId['rt-0'].outcome.deviceMethodResponse.status, 200);
  assert.equal(byId['rt-bad'].status, 'failed');
  assert.equal(byId['rt-bad'].error.code, 'MethodStatus503');
  assert.deepEqual(byId['rt-bad'].outcome.deviceMethodResponse, { status: 503, payload: { busy: true } });
  await Promise.all([...devs, always, missing].map((d) => d.device.close()));
});

test('retry while waiting for approval runs the phase again, and its gate asks for approval again', async () => {
  const devs = [];
  for (let i = 0; i < 4; i++) {
    devs.push(await fakeDevice(hub, `ra-${i}`, (_m, n) => (n === 1 && i % 2 === 0 ? { status: 500 } : ok()), { ring: 'ra' }));
  }
  await putRollout(hub, 'retry-approve-1', methodBody("tags.ring = 'ra'", 'update', {
    phases: [{ condition: "deviceId IN ['ra-0', 'ra-1']", successGate: { approval: 'manual' } }, { condition: 'IS_DEFINED(deviceId)' }],
  }));
  const waiting = await waitRollout(hub, 'retry-approve-1', (j) => j.awaitingApproval);
  assert.equal(waiting.currentPhase, 0);
  assert.equal(waiting.phases[0].failedCount, 1); // ra-0 answers 500 the first time
  assert.equal(waiting.phases[0].succeededCount, 1);
  let r = await hub.req('POST', '/devicehub/rollouts/retry-approve-1/retry');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.awaitingApproval, false, 'the phase runs again');
  // The retried devices answer well the second time; the gate asks for approval again.
  const again = await waitRollout(hub, 'retry-approve-1', (j) => j.awaitingApproval && j.phases[0].succeededCount === 2);
  assert.equal(again.deviceJobStatistics.failedCount, 0);
  assert.deepEqual(again.failures, {});
  r = await hub.req('POST', '/devicehub/rollouts/retry-approve-1/approve');
  assert.equal(r.status, 200, r.text);
  const done = await waitRollout(hub, 'retry-approve-1', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 3);
  assert.deepEqual(done.failures, { MethodStatus500: 1 }); // ra-2, in phase 2, was not retried
  assert.deepEqual(devs.map((d) => d.calls.length), [2, 1, 1, 1]);
  await Promise.all(devs.map((d) => d.device.close()));
});

test('a manual retry after the phase moved on reaches the earlier phase\'s failed devices', async () => {
  const devs = [];
  for (let i = 0; i < 4; i++) devs.push(await fakeDevice(hub, `rp-${i}`, (_m, n) => (n === 1 ? { status: 500 } : ok()), { ring: 'rp' }));
  // Phase 2 holds an offline device, so the rollout is still running after phase 1 moved on.
  const off = await hub.req('PUT', '/devices/rp-off', sdkDevice('rp-off'));
  assert.equal(off.status, 200, off.text);
  assert.equal((await hub.req('PATCH', '/twins/rp-off', { tags: { ring: 'rp' } })).status, 200);
  await putRollout(hub, 'retry-phase-1', methodBody("tags.ring = 'rp'", 'update', {
    phases: [{ condition: "deviceId != 'rp-off'" }, { condition: 'IS_DEFINED(deviceId)' }],
  }));
  const moved = await waitRollout(hub, 'retry-phase-1', (j) => j.currentPhase === 1 && j.phases[1].pendingCount <= 1 &&
    j.phases[1].runningCount === 0 && j.phases[0].failedCount === j.phases[0].deviceCount);
  assert.equal(moved.status, 'running');
  const r = await hub.req('POST', '/devicehub/rollouts/retry-phase-1/retry');
  assert.equal(r.status, 200, r.text);
  const after = await waitRollout(hub, 'retry-phase-1', (j) => j.deviceJobStatistics.succeededCount === 4);
  assert.equal(after.deviceJobStatistics.pendingCount, 1, 'only the offline device is left');
  for (const d of devs) assert.equal(d.calls.length, 2, `${d.id}: one failure, one retry`);
  await hub.req('POST', '/devicehub/rollouts/retry-phase-1/cancel');
  await Promise.all(devs.map((d) => d.device.close()));
});

test('pause stops dispatching and resume restarts it', async () => {
  await createDevices(hub, 'pz-', 20, { ring: 'pz' });
  await putRollout(hub, 'pause-1', twinBody("tags.ring = 'pz'", { p: 1 }, { rate: { perSecond: 4 } }));
  await waitRollout(hub, 'pause-1', (j) => j.deviceJobStatistics.succeededCount >= 6);
  const p = await hub.req('POST', '/devicehub/rollouts/pause-1/pause');
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.paused, true);
  const atPause = p.json.deviceJobStatistics.succeededCount;
  assert.ok(atPause < 20, 'paused before the end');
  await delay(1500); // at 4/s, six more would have started
  const held = await rollout(hub, 'pause-1');
  assert.equal(held.status, 'running');
  assert.equal(held.paused, true);
  assert.equal(held.deviceJobStatistics.succeededCount, atPause);
  assert.equal(held.deviceJobStatistics.pendingCount, 20 - atPause);
  const r = await hub.req('POST', '/devicehub/rollouts/pause-1/resume');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.paused, false);
  const done = await waitRollout(hub, 'pause-1', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 20);
});

test('rate limiting: 20 devices per second spread 100 devices over about 4 seconds', async () => {
  await createDevices(hub, 'rl-', 100, { ring: 'rl' });
  const t0 = Date.now();
  await putRollout(hub, 'rate-1', twinBody("tags.ring = 'rl'", { r: 1 }, { rate: { perSecond: 20 } }));
  const samples = [];
  await eventually(async () => {
    const j = await rollout(hub, 'rate-1');
    const st = j.deviceJobStatistics;
    samples.push({ t: (Date.now() - t0) / 1000, started: st.succeededCount + st.failedCount + st.runningCount });
    return j.status === 'completed' ? j : null;
  }, 20000, 'rate-1 completed');
  // The bucket starts with one second's worth (20) and earns 20/s after that; t is measured from before
  // the rollout existed, so this bound only errs on the generous side.
  for (const s of samples) assert.ok(s.started <= 20 + 20 * s.t + 10, `too fast: ${JSON.stringify(s)}`);
  for (let i = 1; i < samples.length; i++) assert.ok(samples[i].started >= samples[i - 1].started);
  const first100 = samples.find((s) => s.started === 100);
  assert.ok(first100.t >= 3.5, `100 devices after ${first100.t} s`);
  assert.ok(new Set(samples.map((s) => s.started).filter((n) => n > 0 && n < 100)).size >= 3,
    `devices started in steps: ${JSON.stringify(samples)}`);
});

test('dynamic targets: a device that starts matching after the start joins the rollout', async () => {
  const a = await fakeDevice(hub, 'dy-a', ok, { ring: 'dy' });
  // Offline: it keeps the rollout running until it connects.
  const offline = await hub.req('PUT', '/devices/dy-off', sdkDevice('dy-off'));
  assert.equal(offline.status, 200);
  fakeDevice.keys.set('dy-off', offline.json.authentication.symmetricKey.primaryKey);
  await hub.req('PATCH', '/twins/dy-off', { tags: { ring: 'dy' } });
  await putRollout(hub, 'dyn-1', methodBody("tags.ring = 'dy'", 'update', { dynamicTargets: true }));
  const first = await waitRollout(hub, 'dyn-1', (j) => j.deviceJobStatistics.succeededCount === 1);
  assert.equal(first.deviceJobStatistics.deviceCount, 2);
  const late = await fakeDevice(hub, 'dy-late', ok, { ring: 'dy' });
  const joined = await waitRollout(hub, 'dyn-1', (j) => j.deviceJobStatistics.succeededCount === 2, 15000);
  assert.equal(joined.deviceJobStatistics.deviceCount, 3);
  assert.equal(late.calls.length, 1);
  const off = await fakeDevice(hub, 'dy-off', ok);
  const done = await waitRollout(hub, 'dyn-1', (j) => j.status === 'completed', 15000);
  assert.equal(done.deviceJobStatistics.succeededCount, 3);
  assert.equal(a.calls.length, 1);
  assert.equal(off.calls.length, 1);
  await Promise.all([a, late, off].map((d) => d.device.close()));
});

test('without dynamic targets a late device is not added', async () => {
  const a = await fakeDevice(hub, 'nd-a', ok, { ring: 'nd' });
  const offline = await hub.req('PUT', '/devices/nd-off', sdkDevice('nd-off'));
  fakeDevice.keys.set('nd-off', offline.json.authentication.symmetricKey.primaryKey);
  await hub.req('PATCH', '/twins/nd-off', { tags: { ring: 'nd' } });
  await putRollout(hub, 'nodyn-1', methodBody("tags.ring = 'nd'", 'update', {}));
  await waitRollout(hub, 'nodyn-1', (j) => j.deviceJobStatistics.succeededCount === 1);
  const late = await fakeDevice(hub, 'nd-late', ok, { ring: 'nd' });
  await delay(6000); // longer than the engine's look for new targets
  const j = await rollout(hub, 'nodyn-1');
  assert.equal(j.deviceJobStatistics.deviceCount, 2);
  assert.equal(late.calls.length, 0);
  await hub.req('POST', '/devicehub/rollouts/nodyn-1/cancel');
  await Promise.all([a, late].map((d) => d.device.close()));
});

test('a twin-patch rollout counts ETag conflicts', async () => {
  const ids = await createDevices(hub, 'et-', 6, { ring: 'et' });
  const etag = (await hub.req('GET', `/twins/${ids[0]}`)).json.etag;
  for (const id of ids.slice(1)) assert.equal((await hub.req('GET', `/twins/${id}`)).json.etag, etag);
  // Two twins change after the operator read them.
  for (const id of ids.slice(0, 2)) assert.equal((await hub.req('PATCH', `/twins/${id}`, { tags: { moved: true } })).status, 200);
  await putRollout(hub, 'etag-1', {
    type: 'scheduleUpdateTwin', queryCondition: "tags.ring = 'et'",
    updateTwin: { etag, properties: { desired: { v: 2 } } }, policy: {},
  });
  const done = await waitRollout(hub, 'etag-1', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 4);
  assert.equal(done.deviceJobStatistics.failedCount, 2);
  assert.deepEqual(done.failures, { PreconditionFailed: 2 });
  for (const id of ids) {
    const tw = (await hub.req('GET', `/twins/${id}`)).json;
    assert.equal(tw.properties.desired.v, ids.indexOf(id) < 2 ? undefined : 2, id);
  }
  const byId = Object.fromEntries((await rows(hub, 'etag-1')).map((r) => [r.deviceId, r]));
  assert.equal(byId['et-0'].error.code, 'PreconditionFailed');
  assert.equal(byId['et-5'].status, 'completed');
});

test('a context condition defers devices until they match', async () => {
  await createDevices(hub, 'cx-m-', 3, { ring: 'cx', power: 'mains' });
  const battery = await createDevices(hub, 'cx-b-', 2, { ring: 'cx', power: 'battery' });
  await putRollout(hub, 'ctx-1', twinBody("tags.ring = 'cx'", { c: 1 }, {
    context: { condition: "tags.power = 'mains'" },
  }));
  await waitRollout(hub, 'ctx-1', (j) => j.deviceJobStatistics.succeededCount === 3);
  await delay(1500); // the deferred devices are looked at again every second
  const held = await rollout(hub, 'ctx-1');
  assert.equal(held.status, 'running');
  assert.equal(held.deviceJobStatistics.pendingCount, 2);
  assert.equal(held.deviceJobStatistics.failedCount, 0);
  assert.equal((await hub.req('GET', `/twins/${battery[0]}`)).json.properties.desired.c, undefined);
  await hub.req('PATCH', `/twins/${battery[0]}`, { tags: { power: 'mains' } });
  await waitRollout(hub, 'ctx-1', (j) => j.deviceJobStatistics.succeededCount === 4);
  assert.equal((await rollout(hub, 'ctx-1')).deviceJobStatistics.pendingCount, 1);
  await hub.req('PATCH', `/twins/${battery[1]}`, { tags: { power: 'mains' } });
  const done = await waitRollout(hub, 'ctx-1', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 5);
});

test('maintenance windows defer devices by their own time zone (test clock)', async () => {
  const h = await startHub({ args: ['--test-clock', '1'] });
  try {
    const setClock = async (now) => {
      const r = await h.req('PUT', '/devicehub/clock', { now });
      assert.equal(r.status, 200, r.text);
    };
    await createDevices(h, 'mw-ber-', 2, { ring: 'mw', timezone: 'Europe/Berlin' });
    await createDevices(h, 'mw-utc-', 2, { ring: 'mw' });
    await createDevices(h, 'mw-ny-', 1, { ring: 'mw', timezone: 'America/New_York' });
    // 00:30 UTC is 01:30 in Berlin (CET): inside 01:00–05:00 there only.
    await setClock('2026-11-27T00:30:00Z');
    await putRollout(h, 'win-1', twinBody("tags.ring = 'mw'", { w: 1 }, {
      maintenanceWindows: [{ start: '01:00', end: '05:00' }], timezonePath: 'tags.timezone',
    }, { maxExecutionTimeInSeconds: 86400 }));
    const berlin = await waitRollout(h, 'win-1', (j) => j.deviceJobStatistics.succeededCount === 2);
    assert.equal(berlin.deviceJobStatistics.pendingCount, 3);
    const doneIds = async () => (await rows(h, 'win-1')).filter((r) => r.status === 'completed').map((r) => r.deviceId).sort();
    assert.deepEqual(await doneIds(), ['mw-ber-0', 'mw-ber-1']);
    await delay(1200);
    assert.equal((await rollout(h, 'win-1')).deviceJobStatistics.succeededCount, 2, 'UTC devices wait for 01:00 UTC');
    // 01:10 UTC: the UTC devices' window opened; New York (20:10) still waits.
    await setClock('2026-11-27T01:10:00Z');
    await waitRollout(h, 'win-1', (j) => j.deviceJobStatistics.succeededCount === 4);
    assert.deepEqual(await doneIds(), ['mw-ber-0', 'mw-ber-1', 'mw-utc-0', 'mw-utc-1']);
    await delay(1200);
    const ny = await rollout(h, 'win-1');
    assert.equal(ny.deviceJobStatistics.pendingCount, 1);
    assert.equal(ny.status, 'running');
    // 06:30 UTC is 01:30 in New York (EST).
    await setClock('2026-11-27T06:30:00Z');
    const done = await waitRollout(h, 'win-1', (j) => j.status === 'completed');
    assert.equal(done.deviceJobStatistics.succeededCount, 5);

    // Out of the window again (07:00 Berlin): a new rollout defers everyone.
    await setClock('2026-11-27T06:00:00Z');
    await putRollout(h, 'win-2', twinBody("startswith(deviceId, 'mw-ber-')", { w: 2 }, {
      maintenanceWindows: [{ start: '01:00', end: '05:00' }], timezonePath: 'tags.timezone',
    }, { maxExecutionTimeInSeconds: 86400 }));
    await delay(1500);
    const closed = await rollout(h, 'win-2');
    assert.equal(closed.status, 'running');
    assert.equal(closed.deviceJobStatistics.pendingCount, 2);
    await setClock('2026-11-28T00:15:00Z'); // 01:15 Berlin the next night
    await waitRollout(h, 'win-2', (j) => j.status === 'completed');
  } finally {
    await h.destroy();
  }
});

test('a restart mid-rollout resumes it; an interrupted device waits for its retry', async () => {
  const h = await startHub();
  let again;
  const devs = {};
  try {
    // r-0 never answers its first call, so the server stops with it in flight.
    const behave = (id) => (id === 'r-0' ? (_m, n) => (n === 1 && !devs.restarted ? null : ok()) : ok);
    const keys = {};
    for (let i = 0; i < 4; i++) {
      const id = `r-${i}`;
      const c = await h.req('PUT', `/devices/${id}`, sdkDevice(id));
      keys[id] = c.json.authentication.symmetricKey.primaryKey;
      await h.req('PATCH', `/twins/${id}`, { tags: { ring: 'r' } });
    }
    const connectAll = async (hh) => {
      for (const id of Object.keys(keys)) {
        const prev = devs[id]?.calls || [];
        fakeDevice.keys.set(id, keys[id]);
        devs[id] = await fakeDevice(hh, id, behave(id));
        devs[id].calls.unshift(...prev);
      }
    };
    await connectAll(h);
    await putRollout(h, 'restart-1', methodBody("tags.ring = 'r'", 'update', {
      phases: [{ condition: "deviceId = 'r-0'" }, { condition: 'true' }],
      retries: { count: 1, delaySeconds: 0 },
    }, { cloudToDeviceMethod: { methodName: 'update', payload: null, responseTimeoutInSeconds: 60 } }));
    await eventually(() => devs['r-0'].calls.length === 1, 10000, 'r-0 invoked');
    const mid = await rollout(h, 'restart-1');
    assert.equal(mid.deviceJobStatistics.runningCount, 1);
    assert.equal(mid.deviceJobStatistics.pendingCount, 3);
    await h.stop();
    devs.restarted = true;
    again = new Hub({ dataDir: h.dataDir, keepData: true });
    again.ownerKey = h.ownerKey;
    await again.start();
    await connectAll(again);
    const done = await waitRollout(again, 'restart-1', (j) => j.status === 'completed', 20000);
    assert.equal(done.deviceJobStatistics.succeededCount, 4, JSON.stringify(done));
    assert.equal(done.deviceJobStatistics.failedCount, 0);
    assert.equal(devs['r-0'].calls.length, 2, 'the interrupted device got its retry, once');
    for (const id of ['r-1', 'r-2', 'r-3']) assert.equal(devs[id].calls.length, 1, id);
  } finally {
    await Promise.all(Object.values(devs).filter((d) => d?.device).map((d) => d.device.close()));
    if (again) await again.stop();
    await h.destroy();
  }
});

test('a firmware rollout of an uploaded artifact reaches simulated devices; dry run first', async () => {
  const N = 6;
  const pkg = randomBytes(200 * 1024);
  const up = await fetch(`${hub.base}/devicehub/artifacts/fw-2.0.0?version=2.0.0&model=dh-any`, {
    method: 'PUT', headers: { Authorization: hub.token(), 'Content-Type': 'application/octet-stream' }, body: pkg,
  });
  assert.equal(up.status, 201, await up.text());
  const sim = startSim(hub, ['--create', '--count', String(N), '--prefix', 'fw-', '--fw-step-ms', '100',
    '--reboot-ms', '300']);
  await eventually(async () => (await connectedCount(hub, 'fw-')) === N, 20000, 'fw devices connected');
  await eventually(async () => {
    const r = await hub.req('POST', '/devices/query', { query:
      "SELECT COUNT() AS n FROM devices WHERE startswith(deviceId, 'fw-') AND properties.reported.firmware.version = '1.0.0'" });
    return r.json[0].n === N;
  }, 10000, 'capabilities reported');
  // One registry-only device matching too: offline, and without a reported version.
  await createDevices(hub, 'fwoff-', 1, {});
  const body = {
    queryCondition: "startswith(deviceId, 'fw')", firmware: { artifactId: 'fw-2.0.0' },
    policy: { phases: [{ percent: 25 }, { percent: 100 }], successGate: { minSuccessPercent: 100 } },
  };
  const dry = await hub.req('POST', '/devicehub/rollouts/dryrun', body);
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.targets, N + 1);
  assert.equal(dry.json.offline, 1);
  assert.deepEqual(dry.json.phases, [{ phase: 0, devices: 2 }, { phase: 1, devices: N - 1 }]);
  const versions = Object.fromEntries(dry.json.versions.map((v) => [String(v.version), v.devices]));
  assert.equal(versions['1.0.0'], N);
  assert.equal(Object.values(versions).reduce((a, b) => a + b, 0), N + 1);
  // A dry run starts nothing.
  assert.equal((await hub.req('GET', '/jobs/v2/query?jobType=scheduleDeviceMethod')).json
    .filter((j) => JSON.stringify(j.cloudToDeviceMethod || {}).includes('firmwareUpdate')).length, 0);

  await putRollout(hub, 'fw-rollout', { ...body, queryCondition: "startswith(deviceId, 'fw-')" });
  const done = await waitRollout(hub, 'fw-rollout', (j) => j.status !== 'running' && j.status !== 'queued', 60000);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(done.deviceJobStatistics.succeededCount, N);
  assert.equal(done.cloudToDeviceMethod.methodName, 'firmwareUpdate');
  assert.equal(done.cloudToDeviceMethod.payload.url, `${hub.base}/devicehub/artifacts/fw-2.0.0/content`);
  const c = await hub.req('GET', '/devicehub/rollouts/fw-rollout/compliance');
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.json, { targetVersion: '2.0.0', onTarget: N, inProgress: 0, failed: 0, notYet: 0 });
  for (const r of await rows(hub, 'fw-rollout')) assert.equal(r.outcome.deviceMethodResponse.status, 200);
  await stopSim(sim);
});
