// IoT Hub jobs v2 against a real devicehubd: twin-update and method jobs, scheduling, cancel, query,
// per-device rows, errors, and a restart in the middle of a job.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Hub, assertHubError, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function createDevices(prefix, n, tags) {
  const body = Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, importMode: 'create', tags }));
  const r = await hub.req('POST', '/devices', body);
  assert.equal(r.status, 200, r.text);
}

async function waitJob(h, id, pred, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await h.req('GET', `/jobs/v2/${id}`);
    assert.equal(r.status, 200, r.text);
    if (pred(r.json)) return r.json;
    if (Date.now() > end) throw new Error(`job ${id} did not get there: ${JSON.stringify(r.json)}`);
    await delay(50);
  }
}

// A connected device that answers every method with 200 and the payload it got.
async function answering(h, id) {
  const created = await h.req('PUT', `/devices/${id}`, sdkDevice(id));
  assert.equal(created.status, 200, created.text);
  const key = created.json.authentication.symmetricKey.primaryKey;
  const c = await connectDevice(h, id, { token: deviceToken(id, key) });
  assert.ok(c.device, JSON.stringify(c));
  const calls = [];
  c.device.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type !== 'method.request') return;
    calls.push(m);
    c.device.send({ type: 'method.response', rid: m.rid, status: 200, payload: { got: m.payload } });
  });
  return { device: c.device, calls, key };
}

test('a twin-update job patches every matching twin and reports its statistics', async () => {
  await createDevices('tj-a-', 10, { group: 'a' });
  await createDevices('tj-b-', 5, { group: 'b' });
  const put = await hub.req('PUT', '/jobs/v2/twin-job-1', {
    jobId: 'twin-job-1', type: 'scheduleUpdateTwin', queryCondition: "tags.group = 'a'",
    updateTwin: { etag: '*', tags: { wave: 1 }, properties: { desired: { fw: '2.0' } } }, startTime: null,
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.jobId, 'twin-job-1');
  assert.equal(put.json.type, 'scheduleUpdateTwin');
  assert.equal(put.json.maxExecutionTimeInSeconds, 3600);
  const done = await waitJob(hub, 'twin-job-1', (j) => j.status === 'completed');
  assert.deepEqual(done.deviceJobStatistics,
    { deviceCount: 10, failedCount: 0, succeededCount: 10, runningCount: 0, pendingCount: 0 });
  assert.ok(done.endTime);
  const a = (await hub.req('GET', '/twins/tj-a-3')).json;
  assert.equal(a.properties.desired.fw, '2.0');
  assert.equal(a.tags.wave, 1);
  const b = (await hub.req('GET', '/twins/tj-b-3')).json;
  assert.equal(b.properties.desired.fw, undefined);
});

test('a twin job re-checks its condition at write time: a device that left the set is not written', async () => {
  await createDevices('tj-c-', 3, { group: 'c' });
  // Starts in the future, so one device can leave the set after the targets are... resolved at start.
  const start = new Date(Date.now() + 1500).toISOString();
  const put = await hub.req('PUT', '/jobs/v2/twin-job-2', {
    type: 'scheduleUpdateTwin', queryCondition: "tags.group = 'c'", startTime: start,
    updateTwin: { etag: '*', properties: { desired: { x: 1 } } },
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.status, 'queued');
  const done = await waitJob(hub, 'twin-job-2', (j) => j.status === 'completed');
  assert.equal(done.deviceJobStatistics.succeededCount, 3);
});

test('a method job reaches connected devices, and an offline device when it connects in the window', async () => {
  const d1 = await answering(hub, 'mj-1');
  const d2 = await answering(hub, 'mj-2');
  const late = await hub.req('PUT', '/devices/mj-3', sdkDevice('mj-3'));
  await hub.req('PATCH', '/twins/mj-3', { tags: { fleet: 'mj' } });
  await hub.req('PATCH', '/twins/mj-1', { tags: { fleet: 'mj' } });
  await hub.req('PATCH', '/twins/mj-2', { tags: { fleet: 'mj' } });
  const put = await hub.req('PUT', '/jobs/v2/method-job-1', {
    jobId: 'method-job-1', type: 'scheduleDeviceMethod', queryCondition: "tags.fleet = 'mj'",
    cloudToDeviceMethod: { methodName: 'ping', payload: { n: 7 }, responseTimeoutInSeconds: 10 },
    startTime: new Date().toISOString(), maxExecutionTimeInSeconds: 60,
  });
  assert.equal(put.status, 200, put.text);
  await waitJob(hub, 'method-job-1', (j) => j.deviceJobStatistics.succeededCount === 2);
  assert.equal(d1.calls.length, 1);
  assert.deepEqual(d1.calls[0].payload, { n: 7 });
  // The offline device waits in the job until it connects.
  const mid = (await hub.req('GET', '/jobs/v2/method-job-1')).json;
  assert.equal(mid.status, 'running');
  assert.equal(mid.deviceJobStatistics.pendingCount, 1);
  const c3 = await connectDevice(hub, 'mj-3', { token: deviceToken('mj-3', late.json.authentication.symmetricKey.primaryKey) });
  c3.device.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'method.request') c3.device.send({ type: 'method.response', rid: m.rid, status: 201, payload: null });
  });
  const done = await waitJob(hub, 'method-job-1', (j) => j.status === 'completed', 15000);
  assert.equal(done.deviceJobStatistics.succeededCount, 3);
  // Each device was invoked exactly once.
  assert.equal(d1.calls.length, 1);
  assert.equal(d2.calls.length, 1);
  const rows = await hub.req('GET', '/devicehub/rollouts/method-job-1/devices');
  assert.equal(rows.status, 200, rows.text);
  const r3 = rows.json.find((r) => r.deviceId === 'mj-3');
  assert.equal(r3.status, 'completed');
  assert.equal(r3.jobType, 'scheduleDeviceMethod');
  assert.deepEqual(r3.outcome, { deviceMethodResponse: { status: 201, payload: null } });
  await Promise.all([d1.device.close(), d2.device.close(), c3.device.close()]);
});

test('offline devices fail with DeviceNotOnline when the job window ends', async () => {
  await createDevices('off-', 2, { fleet: 'off' });
  await hub.req('PUT', '/jobs/v2/method-job-2', {
    type: 'scheduleDeviceMethod', queryCondition: "tags.fleet = 'off'",
    cloudToDeviceMethod: { methodName: 'ping', payload: null, responseTimeoutInSeconds: 5 },
    maxExecutionTimeInSeconds: 1,
  });
  const done = await waitJob(hub, 'method-job-2', (j) => j.status === 'completed', 10000);
  assert.equal(done.deviceJobStatistics.failedCount, 2);
  const rows = (await hub.req('GET', '/devicehub/rollouts/method-job-2/devices')).json;
  assert.deepEqual(rows.map((r) => r.error.code), ['DeviceNotOnline', 'DeviceNotOnline']);
});

test('a future job is queued, can be cancelled, and shows in the job query', async () => {
  const start = new Date(Date.now() + 3600 * 1000).toISOString();
  const put = await hub.req('PUT', '/jobs/v2/future-1', {
    type: 'scheduleUpdateTwin', queryCondition: "deviceId = 'nobody'", startTime: start,
    updateTwin: { etag: '*', tags: { a: 1 } },
  });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.status, 'queued');
  assert.equal(put.json.startTime, start);
  const cancel = await hub.req('POST', '/jobs/v2/future-1/cancel');
  assert.equal(cancel.status, 200, cancel.text);
  assert.equal(cancel.json.status, 'cancelled');
  const q = await hub.req('GET', '/jobs/v2/query?jobType=scheduleUpdateTwin&jobStatus=cancelled');
  assert.equal(q.status, 200, q.text);
  assert.equal(q.headers.get('x-ms-item-type'), 'jobResponse');
  assert.deepEqual(q.json.map((j) => j.jobId), ['future-1']);
  const paged = await hub.req('GET', '/jobs/v2/query', undefined, { headers: { 'x-ms-max-item-count': '1' } });
  assert.equal(paged.json.length, 1);
  assert.ok(paged.headers.get('x-ms-continuation'));
});

test('bad jobs are refused with IoT Hub errors and nothing is stored', async () => {
  const good = { type: 'scheduleUpdateTwin', queryCondition: "tags.a = 1", updateTwin: { etag: '*', tags: { b: 2 } } };
  assertHubError(assert, await hub.req('PUT', '/jobs/v2/bad-1', { ...good, type: 'reboot' }), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('PUT', '/jobs/v2/bad-1', { ...good, queryCondition: 'tags.a = = 1' }), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('PUT', '/jobs/v2/bad-1', { ...good, updateTwin: { properties: { reported: { x: 1 } } } }), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('PUT', '/jobs/v2/bad-1', { ...good, startTime: 'tomorrow' }), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('PUT', '/jobs/v2/bad-1', { type: 'scheduleDeviceMethod', queryCondition: 'tags.a = 1', cloudToDeviceMethod: { methodName: 'a/b' } }), 400, 'ArgumentInvalid');
  assertHubError(assert, await hub.req('GET', '/jobs/v2/bad-1'), 404, 'JobNotFound');
  assert.equal((await hub.req('PUT', '/jobs/v2/dup-1', good)).status, 200);
  assertHubError(assert, await hub.req('PUT', '/jobs/v2/dup-1', good), 409, 'JobAlreadyExists');
});

test('a restart mid-job resumes it and never sends a method twice', async () => {
  const h = await startHub();
  try {
    const slow = await answering(h, 'rs-1');
    // rs-1 never answers the method: the job is waiting on it when the server stops.
    slow.device.ws.removeAllListeners('message');
    slow.device.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'method.request') slow.calls.push(m);
    });
    await h.req('PATCH', '/twins/rs-1', { tags: { fleet: 'rs' } });
    const put = await h.req('PUT', '/jobs/v2/restart-1', {
      type: 'scheduleDeviceMethod', queryCondition: "tags.fleet = 'rs'",
      cloudToDeviceMethod: { methodName: 'ping', payload: null, responseTimeoutInSeconds: 30 },
    });
    assert.equal(put.status, 200, put.text);
    for (let i = 0; i < 100 && slow.calls.length === 0; i++) await delay(20);
    assert.equal(slow.calls.length, 1);
    await h.stop();
    const again = new Hub({ dataDir: h.dataDir, keepData: true });
    again.ownerKey = h.ownerKey;
    await again.start();
    try {
      const done = await waitJob(again, 'restart-1', (j) => j.status === 'completed');
      assert.equal(done.deviceJobStatistics.failedCount, 1);
      const rows = (await again.req('GET', '/devicehub/rollouts/restart-1/devices')).json;
      assert.equal(rows[0].error.code, 'Interrupted');
      assert.equal(slow.calls.length, 1);
    } finally {
      await again.stop();
    }
  } finally {
    await h.destroy();
  }
});
