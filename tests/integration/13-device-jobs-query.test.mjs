// SELECT * FROM devices.jobs over POST /devices/query: the per-device rows of jobs (reference §1.4, §1.6,
// §2), filtered on job fields, paged with continuation tokens, with twin fields and aggregates refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

let hub;
let answering;
const delay = (ms) => new Promise((r) => setTimeout(r, ms));
const FLEET = ['dj-0', 'dj-1', 'dj-2', 'dj-3', 'dj-4'];

async function waitJob(id, pred, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await hub.req('GET', `/jobs/v2/${id}`);
    assert.equal(r.status, 200, r.text);
    if (pred(r.json)) return r.json;
    if (Date.now() > end) throw new Error(`job ${id} did not get there: ${JSON.stringify(r.json)}`);
    await delay(50);
  }
}

async function query(q, { max, token } = {}) {
  const headers = {};
  if (max !== undefined) headers['x-ms-max-item-count'] = String(max);
  if (token !== undefined) headers['x-ms-continuation'] = token;
  return hub.req('POST', '/devices/query', { query: q }, { headers });
}

// All rows of a devices.jobs query, one page at a time. Every page says deviceJob.
async function rows(q, max = 1000) {
  const all = [];
  let token;
  for (let pages = 0; pages < 50; pages++) {
    const r = await query(q, { max, token });
    assert.equal(r.status, 200, `${q}: ${r.text}`);
    assert.equal(r.headers.get('x-ms-item-type'), 'deviceJob');
    assert.ok(Array.isArray(r.json));
    all.push(...r.json);
    token = r.headers.get('x-ms-continuation') ?? undefined;
    if (!token) return all;
  }
  throw new Error('too many pages');
}
const keys = (list) => list.map((r) => `${r.jobId}:${r.deviceId}`).sort();

before(async () => {
  hub = await startHub();
  // dj-0 is online and answers methods; dj-1..dj-4 are registered but never connect.
  const created = await hub.req('PUT', '/devices/dj-0', sdkDevice('dj-0'));
  assert.equal(created.status, 200, created.text);
  const c = await connectDevice(hub, 'dj-0', { token: deviceToken('dj-0', created.json.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, JSON.stringify(c));
  answering = c.device;
  answering.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'method.request') answering.send({ type: 'method.response', rid: m.rid, status: 200, payload: { pong: m.payload } });
  });
  const body = FLEET.slice(1).map((id) => ({ id, importMode: 'create', tags: { fleet: 'dj' } }));
  assert.equal((await hub.req('POST', '/devices', body)).status, 200);
  const tag = await hub.req('PATCH', '/twins/dj-0', { tags: { fleet: 'dj' } }, { headers: { 'If-Match': '"*"' } });
  assert.equal(tag.status, 200, tag.text);

  let r = await hub.req('PUT', '/jobs/v2/dj-twin', {
    jobId: 'dj-twin', type: 'scheduleUpdateTwin', queryCondition: "tags.fleet = 'dj'",
    updateTwin: { etag: '*', properties: { desired: { fw: '3.0' } } }, startTime: null,
  });
  assert.equal(r.status, 200, r.text);
  // Two targets: dj-0 answers, dj-1 is offline and fails when the 2 s window ends.
  r = await hub.req('PUT', '/jobs/v2/dj-method', {
    jobId: 'dj-method', type: 'scheduleDeviceMethod', queryCondition: "deviceId IN ['dj-0', 'dj-1']",
    cloudToDeviceMethod: { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 5 },
    startTime: new Date().toISOString(), maxExecutionTimeInSeconds: 2,
  });
  assert.equal(r.status, 200, r.text);
  await waitJob('dj-twin', (j) => j.status === 'completed');
  await waitJob('dj-method', (j) => j.status === 'completed' || j.status === 'failed');
});
after(async () => {
  await answering?.close();
  await hub?.destroy();
});

test("WHERE jobId = 'x' returns the job's rows as deviceJob items", async () => {
  const r = await query("SELECT * FROM devices.jobs WHERE jobId = 'dj-twin'");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-ms-item-type'), 'deviceJob');
  assert.equal(r.headers.get('x-ms-continuation'), null);
  assert.deepEqual(r.json.map((row) => row.deviceId).sort(), FLEET);
  for (const row of r.json) {
    assert.equal(row.jobId, 'dj-twin');
    assert.equal(row.jobType, 'scheduleUpdateTwin');
    assert.equal(row.status, 'completed');
    assert.deepEqual(row.outcome, { deviceMethodResponse: null });
    for (const t of ['startTimeUtc', 'endTimeUtc', 'createdDateTimeUtc', 'lastUpdatedDateTimeUtc'])
      assert.ok(!Number.isNaN(Date.parse(row[t])), `${t}: ${row[t]}`);
    assert.equal(row.moduleId, undefined);
    assert.equal(row.error, undefined);
  }
  // The same rows as the rollout's device list shows them: one renderer.
  const listed = await hub.req('GET', '/devicehub/rollouts/dj-twin/devices');
  assert.equal(listed.status, 200, listed.text);
  const byDevice = (list) => Object.fromEntries(list.map((row) => [row.deviceId, row]));
  assert.deepEqual(byDevice(r.json), byDevice(listed.json));
});

test('filters by deviceId, status, jobType and the outcome, with IoT Hub spellings', async () => {
  assert.deepEqual(keys(await rows("SELECT * FROM devices.jobs WHERE devices.jobs.deviceId = 'dj-0'")),
    ['dj-method:dj-0', 'dj-twin:dj-0']);
  assert.deepEqual(keys(await rows("select * from devices.jobs where DeviceId = 'dj-1' and JOBTYPE = 'scheduleDeviceMethod'")),
    ['dj-method:dj-1']);
  const failed = await rows("SELECT * FROM devices.jobs WHERE status = 'failed'");
  assert.deepEqual(keys(failed), ['dj-method:dj-1']);
  assert.equal(failed[0].error.code, 'DeviceNotOnline');
  assert.deepEqual(keys(await rows("SELECT * FROM devices.jobs WHERE error.code = 'DeviceNotOnline'")), ['dj-method:dj-1']);
  const answered = await rows("SELECT * FROM devices.jobs WHERE jobId = 'dj-method' AND status = 'completed'");
  assert.deepEqual(keys(answered), ['dj-method:dj-0']);
  assert.deepEqual(answered[0].outcome, { deviceMethodResponse: { status: 200, payload: { pong: { n: 1 } } } });
  assert.deepEqual(keys(await rows('SELECT * FROM devices.jobs WHERE outcome.deviceMethodResponse.status = 200')),
    ['dj-method:dj-0']);
  assert.equal((await rows("SELECT * FROM devices.jobs WHERE status IN ['completed', 'failed'] AND STARTSWITH(deviceId, 'dj-')")).length, 7);
  assert.deepEqual(keys(await rows("SELECT * FROM devices.jobs WHERE status NIN ['completed']")), ['dj-method:dj-1']);
  assert.deepEqual(keys(await rows("SELECT * FROM devices.jobs WHERE NOT (jobType = 'scheduleUpdateTwin') AND deviceId != 'dj-1'")),
    ['dj-method:dj-0']);
  assert.equal((await rows("SELECT * FROM devices.jobs WHERE createdDateTimeUtc > '2000-01-01' AND endTimeUtc != null")).length, 7);
  assert.deepEqual(await rows("SELECT * FROM devices.jobs WHERE jobId = 'no-such-job'"), []);
});

test('x-ms-max-item-count pages the rows with continuation tokens', async () => {
  const r1 = await query("SELECT * FROM devices.jobs WHERE jobId = 'dj-twin'", { max: 2 });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json.length, 2);
  const token = r1.headers.get('x-ms-continuation');
  assert.ok(token);
  const paged = await rows("SELECT * FROM devices.jobs WHERE jobId = 'dj-twin'", 2);
  assert.deepEqual(keys(paged), FLEET.map((d) => `dj-twin:${d}`));
  assert.deepEqual(keys(await rows('SELECT * FROM devices.jobs', 3)), keys(await rows('SELECT * FROM devices.jobs')));
  const top = await rows('SELECT TOP 3 * FROM devices.jobs', 2);
  assert.equal(top.length, 3);
  // A token only works with the query it came from.
  assertHubError(assert, await query('SELECT * FROM devices.jobs', { max: 2, token }), 400, 'ArgumentInvalid');
});

test('aggregates, projections and twin fields on devices.jobs → 400', async () => {
  for (const [q, want] of [
    ['SELECT COUNT() FROM devices.jobs', /only SELECT \*/],
    ['SELECT deviceId FROM devices.jobs', /only SELECT \*/],
    ['SELECT * FROM devices.jobs WHERE tags.a = 1', /not twin fields/],
    ["SELECT * FROM devices.jobs WHERE jobId = 'dj-twin' AND properties.reported.fw = '1'", /not twin fields/],
  ]) {
    const msg = assertHubError(assert, await query(q), 400, 'ArgumentInvalid');
    assert.match(msg, want, `${q}: ${msg}`);
    assert.match(msg, /position \d+/, `${q}: ${msg}`);
  }
});
