// Device groups and the tag schema against a real devicehubd: group CRUD with etags, live member counts
// as tags change, member pages, a job targeting a group, schema enforcement on PATCH/PUT twins, bulk
// import and jobs with messages naming the key, and violations of twins stored before the schema.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHubError, startHub } from './lib/hub.mjs';

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function createDevices(prefix, n, tags) {
  const body = Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, importMode: 'create', tags }));
  const r = await hub.req('POST', '/devices', body);
  assert.equal(r.status, 200, r.text);
}

async function count(name) {
  const r = await hub.req('GET', `/devicehub/groups/${name}`);
  assert.equal(r.status, 200, r.text);
  return r.json.memberCount;
}

test('group CRUD with etags and a live member count', async () => {
  await createDevices('g-eu-', 3, { site: 'eu' });
  await createDevices('g-us-', 2, { site: 'us' });
  const put = await hub.req('PUT', '/devicehub/groups/eu', { condition: "tags.site = 'eu'", description: 'Europe' });
  assert.equal(put.status, 201, put.text);
  assert.equal(put.json.name, 'eu');
  assert.equal(put.json.memberCount, 3);
  assert.equal(put.headers.get('etag'), `"${put.json.etag}"`);
  assert.equal(await count('eu'), 3);

  // Live: a tag change moves a device in or out without touching the group.
  let r = await hub.req('PATCH', '/twins/g-us-0', { tags: { site: 'eu' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(await count('eu'), 4);
  r = await hub.req('PATCH', '/twins/g-eu-0', { tags: { site: null } });
  assert.equal(r.status, 200, r.text);
  assert.equal(await count('eu'), 3);

  const members = await hub.req('GET', '/devicehub/groups/eu/devices', undefined,
    { headers: { 'x-ms-max-item-count': '2' } });
  assert.equal(members.status, 200, members.text);
  assert.equal(members.json.length, 2);
  assert.ok(members.headers.get('x-ms-continuation'));
  const rest = await hub.req('GET', '/devicehub/groups/eu/devices', undefined,
    { headers: { 'x-ms-max-item-count': '2', 'x-ms-continuation': members.headers.get('x-ms-continuation') } });
  assert.equal(rest.json.length, 1);
  assert.deepEqual([...members.json, ...rest.json].map((t) => t.deviceId).sort(), ['g-eu-1', 'g-eu-2', 'g-us-0']);

  // A stale etag changes nothing; the current one replaces.
  r = await hub.req('PUT', '/devicehub/groups/eu', { condition: 'true' }, { headers: { 'If-Match': '"bogus"' } });
  assertHubError(assert, r, 412, 'PreconditionFailed');
  r = await hub.req('PUT', '/devicehub/groups/eu', { condition: "tags.site IN ['eu', 'us']" },
    { headers: { 'If-Match': `"${put.json.etag}"` } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.memberCount, 4);
  assert.notEqual(r.json.etag, put.json.etag);

  r = await hub.req('PUT', '/devicehub/groups/bad', { condition: "tags.site = 'eu' AND" });
  const msg = assertHubError(assert, r, 400, 'ArgumentInvalid');
  assert.match(msg, /condition/);
  r = await hub.req('PUT', '/devicehub/groups/us', { condition: "tags.site = 'us'" });
  assert.equal(r.status, 201, r.text);
  const list = await hub.req('GET', '/devicehub/groups');
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.map((g) => [g.name, g.memberCount]), [['eu', 4], ['us', 1]]);

  r = await hub.req('DELETE', '/devicehub/groups/us');
  assert.equal(r.status, 204, r.text);
  r = await hub.req('GET', '/devicehub/groups/us');
  assertHubError(assert, r, 404, 'NotFound');
  r = await hub.req('GET', '/devicehub/groups/us/devices');
  assertHubError(assert, r, 404, 'NotFound');
});

test('a job and a configuration can target a group', async () => {
  await createDevices('gj-', 4, { ring: 'canary' });
  await createDevices('gk-', 2, { ring: 'broad' });
  let r = await hub.req('PUT', '/devicehub/groups/canary', { condition: "tags.ring = 'canary'" });
  assert.equal(r.status, 201, r.text);
  r = await hub.req('PUT', '/jobs/v2/group-job', {
    jobId: 'group-job', type: 'scheduleUpdateTwin', group: 'canary',
    updateTwin: { etag: '*', tags: { wave: 1 } }, startTime: null,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.queryCondition, "tags.ring = 'canary'");
  let job;
  for (let i = 0; i < 200; i++) {
    job = (await hub.req('GET', '/jobs/v2/group-job')).json;
    if (job.status === 'completed') break;
    await delay(50);
  }
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.deviceJobStatistics.succeededCount, 4);
  const twin = await hub.req('GET', '/twins/gk-0');
  assert.equal(twin.json.tags.wave, undefined);

  r = await hub.req('PUT', '/jobs/v2/group-job-2', {
    type: 'scheduleUpdateTwin', group: 'nope', updateTwin: { tags: { wave: 2 } },
  });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /group 'nope' does not exist/);
  r = await hub.req('PUT', '/jobs/v2/group-job-3', {
    type: 'scheduleUpdateTwin', group: 'canary', queryCondition: 'true', updateTwin: { tags: { wave: 2 } },
  });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /either group or queryCondition/);

  // A rollout resolves the group the same way (its dry run shows what it would target).
  r = await hub.req('POST', '/devicehub/rollouts/dryrun', {
    type: 'scheduleUpdateTwin', group: 'canary', updateTwin: { tags: { wave: 3 } },
    policy: { phases: [{ percent: 100 }] },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.targets, 4);

  r = await hub.req('PUT', '/configurations/canary-cfg', {
    group: 'canary', content: { deviceContent: { 'properties.desired.mode': 'x' } },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.targetCondition, "tags.ring = 'canary'");
  r = await hub.req('DELETE', '/configurations/canary-cfg');
  assert.equal(r.status, 204, r.text);
});

test('the tag schema is enforced on every twin write, with the key named', async () => {
  await createDevices('ts-', 2, { location: 'eu', floor: 1 });
  let r = await hub.req('PUT', '/devicehub/tag-schema', { keys: { floor: { type: 'date' } } });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /'floor'/);
  r = await hub.req('GET', '/devicehub/tag-schema');
  assertHubError(assert, r, 404, 'NotFound');

  // Only the owner sets it.
  const service = (await hub.policies()).service;
  const schema = {
    keys: {
      location: { type: 'string', values: ['eu', 'us'] }, floor: { type: 'number' }, site: { type: 'object' },
      ring: { type: 'string' }, wave: { type: 'number' },
    },
    additionalKeys: false,
  };
  r = await hub.req('PUT', '/devicehub/tag-schema', schema, { auth: hub.token('service', service.primaryKey) });
  assert.equal(r.status, 401, r.text);
  r = await hub.req('PUT', '/devicehub/tag-schema', schema);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.additionalKeys, false);
  r = await hub.req('GET', '/devicehub/tag-schema', undefined, { auth: hub.token('service', service.primaryKey) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.keys.location, { type: 'string', values: ['eu', 'us'] });

  r = await hub.req('PATCH', '/twins/ts-0', { tags: { floor: 'two' } });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /tag 'floor' must be a number/);
  r = await hub.req('PATCH', '/twins/ts-0', { tags: { location: 'mars' } });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /tag 'location' must be one of \["eu","us"\]/);
  r = await hub.req('PUT', '/twins/ts-0', { tags: { location: 'us', colour: 'red' } });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /tag 'colour' is not allowed/);
  r = await hub.req('GET', '/twins/ts-0');
  assert.deepEqual(r.json.tags, { location: 'eu', floor: 1 });
  r = await hub.req('PATCH', '/twins/ts-0', { tags: { floor: 2, site: { building: 'A' } } });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('PUT', '/twins/ts-1', { tags: { location: 'us' } });
  assert.equal(r.status, 200, r.text);

  // Bulk import: the bad entry fails with the key named, the good one goes in.
  r = await hub.req('POST', '/devices', [
    { id: 'ts-bulk-ok', importMode: 'create', tags: { location: 'us' } },
    { id: 'ts-bulk-bad', importMode: 'create', tags: { floor: 'ground' } },
  ]);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.errors.length, 1);
  assert.equal(r.json.errors[0].deviceId, 'ts-bulk-bad');
  assert.match(r.json.errors[0].errorStatus, /tag 'floor' must be a number/);

  // A twin-update job is refused at creation when its tags break the schema.
  r = await hub.req('PUT', '/jobs/v2/ts-job', {
    type: 'scheduleUpdateTwin', queryCondition: "deviceId = 'ts-0'", updateTwin: { tags: { floor: 'x' } },
  });
  assert.match(assertHubError(assert, r, 400, 'ArgumentInvalid'), /tag 'floor' must be a number/);
});

test('violations of stored twins are listed and the twins are left alone', async () => {
  let r = await hub.req('DELETE', '/devicehub/tag-schema');
  assert.equal(r.status, 204, r.text);
  r = await hub.req('GET', '/devicehub/tag-schema/violations');
  assertHubError(assert, r, 404, 'NotFound');
  await createDevices('tv-', 1, { floor: 'ground', location: 'eu' });
  await createDevices('tw-', 1, { location: 'asia' });
  r = await hub.req('PUT', '/devicehub/tag-schema', {
    keys: { location: { type: 'string', values: ['eu', 'us'] }, floor: { type: 'number' } },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.additionalKeys, true);
  r = await hub.req('GET', '/devicehub/tag-schema/violations');
  assert.equal(r.status, 200, r.text);
  const mine = r.json.violations.filter((v) => v.deviceId.startsWith('tv-') || v.deviceId.startsWith('tw-'));
  assert.deepEqual(mine.map((v) => [v.deviceId, v.key]), [['tv-0', 'floor'], ['tw-0', 'location']]);
  assert.match(mine[0].message, /tag 'floor' must be a number/);
  assert.equal(r.json.truncated, false);
  assert.ok(r.json.count >= 2);
  r = await hub.req('GET', '/twins/tv-0');
  assert.deepEqual(r.json.tags, { floor: 'ground', location: 'eu' });
  // Desired-only writes and deleting the offending key still work.
  r = await hub.req('PATCH', '/twins/tv-0', { properties: { desired: { x: 1 } } });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('PATCH', '/twins/tv-0', { tags: { floor: null } });
  assert.equal(r.status, 200, r.text);
  r = await hub.req('GET', '/devicehub/tag-schema/violations');
  assert.deepEqual(r.json.violations.filter((v) => v.deviceId.startsWith('tv-')), []);
  r = await hub.req('DELETE', '/devicehub/tag-schema');
  assert.equal(r.status, 204, r.text);
});
