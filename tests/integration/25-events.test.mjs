// The live event stream (docs/events.md) against a real devicehubd: tickets, the devicehub.events.v1
// socket on the device port (hello, live events, catch-up with since, resync), what the domain publishes
// (connections, twins, jobs, failed devices) and GET /devicehub/events.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { assertHubError, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

const PROTOCOL = 'devicehub.events.v1';
let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// An event socket client that queues every frame. next(pred) takes the first matching one.
class Events {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.all = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      this.inbox.push(m);
      this.all.push(m);
      this.waiters = this.waiters.filter((w) => !w());
    });
  }

  next(pred = () => true, ms = 5000) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        const i = this.inbox.findIndex(pred);
        if (i < 0) return false;
        clearTimeout(timer);
        resolve(this.inbox.splice(i, 1)[0]);
        return true;
      };
      if (check()) return;
      timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no matching event within ${ms} ms; inbox: ${JSON.stringify(this.inbox).slice(0, 2000)}`));
      }, ms);
      this.waiters.push(check);
    });
  }

  async close() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    return this.closed;
  }
}

async function ticket() {
  const r = await hub.req('POST', '/devicehub/events/ticket');
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// Resolves { events, hello } once hello arrived, or { status } when the upgrade was refused.
function openEvents({ ticket: t, since, headers = {}, path = '/devicehub/events', protocol = PROTOCOL } = {}) {
  const q = new URLSearchParams();
  if (t !== undefined) q.set('ticket', t);
  if (since !== undefined) q.set('since', String(since));
  const qs = q.toString();
  const url = `ws://127.0.0.1:${hub.devicePort}${path}${qs ? `?${qs}` : ''}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocol, { headers });
    let done = false;
    const finish = (v) => { if (!done) { done = true; resolve(v); } };
    ws.on('unexpected-response', (_req, res) => { finish({ status: res.statusCode }); ws.terminate(); });
    ws.on('error', (e) => finish({ error: e.message }));
    ws.on('close', (code) => finish({ error: `closed ${code}` }));
    ws.once('open', () => {
      const events = new Events(ws);
      events.next((m) => m.type === 'hello').then((hello) => finish({ events, hello }), (e) => finish({ error: e.message }));
    });
  });
}

async function subscribe(opts = {}) {
  const t = opts.ticket ?? (await ticket()).ticket;
  const r = await openEvents({ ...opts, ticket: t });
  assert.ok(r.events, JSON.stringify(r));
  return r;
}

async function createDevice(id) {
  const r = await hub.req('PUT', `/devices/${id}`, sdkDevice(id));
  assert.equal(r.status, 200, r.text);
  return r.json.authentication.symmetricKey.primaryKey;
}

test('a ticket opens the socket: hello with the latest and oldest seq', async () => {
  const t = await ticket();
  assert.equal(t.expiresInSeconds, 60);
  assert.equal(t.port, hub.devicePort);
  assert.equal(t.path, '/devicehub/events');
  assert.equal(t.secure, false);
  assert.match(t.ticket, /^[A-Za-z0-9_-]{44}$/);
  const before = await hub.req('GET', '/devicehub/events?top=1');
  const { events, hello } = await subscribe({ ticket: t.ticket });
  assert.equal(typeof hello.seq, 'number');
  assert.ok(hello.seq >= before.json.seq);
  assert.ok(hello.oldest <= hello.seq);
  assert.equal(events.ws.protocol, PROTOCOL);
  await events.close();
});

test('a used, bogus or missing ticket is refused with 401 at the upgrade', async () => {
  const t = (await ticket()).ticket;
  const ok = await openEvents({ ticket: t });
  assert.ok(ok.events);
  await ok.events.close();
  assert.equal((await openEvents({ ticket: t })).status, 401, 'a ticket is single-use');
  assert.equal((await openEvents({ ticket: 'x'.repeat(44) })).status, 401);
  assert.equal((await openEvents({ ticket: 'bogus' })).status, 401);
  assert.equal((await openEvents({})).status, 401);
  // A wrong subprotocol or since is a bad request; the ticket is not spent on it.
  const t2 = (await ticket()).ticket;
  assert.equal((await openEvents({ ticket: t2, since: 'abc' })).status, 400);
  assert.equal((await openEvents({ ticket: t2, since: '-1' })).status, 400);
  assert.equal((await openEvents({ ticket: t2, protocol: 'devicehub.v1' })).status, 400);
  const ok2 = await openEvents({ ticket: t2 });
  assert.ok(ok2.events, JSON.stringify(ok2));
  await ok2.events.close();
  // The events subprotocol on the device path does not bypass the ticket.
  const wrongPath = await openEvents({ path: '/devices/x', protocol: PROTOCOL });
  assert.ok(!wrongPath.events, JSON.stringify(wrongPath));
});

test('a ticket needs an authenticated caller', async () => {
  const r = await hub.req('POST', '/devicehub/events/ticket', undefined, { auth: null });
  assertHubError(assert, r, 401, 'IotHubUnauthorizedAccess');
  const g = await hub.req('GET', '/devicehub/events', undefined, { auth: null });
  assertHubError(assert, g, 401, 'IotHubUnauthorizedAccess');
  // A dashboard session (any role) gets one with its CSRF token, and the ticket opens the socket.
  const session = await hub.login();
  const viaSession = await hub.req('POST', '/devicehub/events/ticket', undefined, { session });
  assert.equal(viaSession.status, 200, viaSession.text);
  const opened = await openEvents({ ticket: viaSession.json.ticket });
  assert.ok(opened.events, JSON.stringify(opened));
  await opened.events.close();
  const noCsrf = await hub.req('POST', '/devicehub/events/ticket', undefined, { session, csrf: false });
  assert.equal(noCsrf.status, 403, noCsrf.text);
  // The ticket is a POST that only reads: a viewer may have one, and may list events.
  const made = await hub.req('PUT', '/devicehub/accounts/ev-viewer', { role: 'viewer', password: 'viewer-password-1234' },
    { session });
  assert.equal(made.status, 200, made.text);
  const viewer = await hub.login('ev-viewer', 'viewer-password-1234');
  const vt = await hub.req('POST', '/devicehub/events/ticket', undefined, { session: viewer });
  assert.equal(vt.status, 200, vt.text);
  const vl = await hub.req('GET', '/devicehub/events?top=1', undefined, { session: viewer });
  assert.equal(vl.status, 200, vl.text);
});

test('a service SAS token with ServiceConnect opens the socket; a device-only one does not', async () => {
  const policies = await hub.policies();
  const svc = hub.token('service', policies.service.primaryKey);
  const r = await openEvents({ headers: { Authorization: svc } });
  assert.ok(r.events, JSON.stringify(r));
  await r.events.close();
  const dev = hub.token('device', policies.device.primaryKey);
  assert.equal((await openEvents({ headers: { Authorization: dev } })).status, 401);
  assert.equal((await openEvents({ headers: { Authorization: 'SharedAccessSignature sr=x&sig=y&se=1&skn=service' } })).status, 401);
});

test('a bulk create gives one registry.bulk summary, not an event per device', async () => {
  const { events } = await subscribe();
  assert.equal((await hub.req('PUT', '/devices/ev-bulk-1', sdkDevice('ev-bulk-1'))).status, 200);
  const r = await hub.req('POST', '/devices', [
    { id: 'ev-bulk-1', importMode: 'create' }, // exists already: this entry fails
    { id: 'ev-bulk-2', importMode: 'create' }, { id: 'ev-bulk-3', importMode: 'create' }]);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.errors.length, 1, r.text);
  const ev = await events.next((m) => m.type === 'registry.bulk');
  assert.equal(ev.source, 'bulk');
  assert.equal(ev.entries, 3);
  assert.equal(ev.failed, 1);
  assert.equal((await hub.req('GET', '/devices/ev-bulk-3')).status, 200);
  const listed = await hub.req('GET', '/devicehub/events?types=device.created&top=100');
  assert.deepEqual(listed.json.items.filter((e) => e.deviceId?.startsWith('ev-bulk-')).map((e) => e.deviceId), ['ev-bulk-1'],
    'only the single PUT has its own event');
  // An import: one summary per committed batch, naming the import.
  const imp = await hub.req('POST', '/devicehub/imports', '{"deviceId":"ev-imp-1"}\n{"deviceId":"ev-imp-2"}\n',
    { headers: { 'Content-Type': 'application/x-ndjson' } });
  assert.equal(imp.status, 202, imp.text);
  const iev = await events.next((m) => m.type === 'registry.bulk' && m.source === 'import');
  assert.equal(iev.importId, imp.json.id);
  assert.equal(iev.entries, 2);
});

test('a device connecting and disconnecting gives device.connected and device.disconnected', async () => {
  const key = await createDevice('ev-dev-1');
  const { events } = await subscribe();
  const created = await hub.req('PUT', '/devices/ev-dev-2', sdkDevice('ev-dev-2'));
  assert.equal(created.status, 200);
  const ce = await events.next((m) => m.type === 'device.created' && m.deviceId === 'ev-dev-2');
  assert.equal(ce.status, 'enabled');
  const c = await connectDevice(hub, 'ev-dev-1', { token: deviceToken('ev-dev-1', key) });
  assert.ok(c.device, JSON.stringify(c));
  const con = await events.next((m) => m.type === 'device.connected');
  assert.equal(con.deviceId, 'ev-dev-1');
  assert.equal(con.moduleId, undefined);
  assert.equal(typeof con.seq, 'number');
  assert.ok(!Number.isNaN(Date.parse(con.time)), con.time);
  await c.device.close();
  const dis = await events.next((m) => m.type === 'device.disconnected');
  assert.equal(dis.deviceId, 'ev-dev-1');
  assert.ok(dis.seq > con.seq);
  const del = await hub.req('DELETE', '/devices/ev-dev-2');
  assert.equal(del.status, 204);
  await events.next((m) => m.type === 'device.deleted' && m.deviceId === 'ev-dev-2');
  // Every frame arrived in seq order.
  const seqs = events.all.filter((m) => m.seq !== undefined && m.type !== 'hello').map((m) => m.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  await events.close();
});

test('self-registration gives device.created once; retiring and replacing give device.deleted with the reason', async () => {
  const g = await hub.req('PUT', '/devicehub/enrollment-groups/ev-group', {});
  assert.equal(g.status, 200, g.text);
  const key = createHmac('sha256', Buffer.from(g.json.attestation.symmetricKey.primaryKey, 'base64')).update('ev-enr-1').digest('base64');
  const { events } = await subscribe();
  for (let i = 0; i < 2; i++) { // the second connect finds the identity: no second device.created
    const c = await connectDevice(hub, 'ev-enr-1', { token: deviceToken('ev-enr-1', key) });
    assert.ok(c.device, JSON.stringify(c));
    await events.next((m) => m.type === 'device.connected' && m.deviceId === 'ev-enr-1');
    await c.device.close();
    await events.next((m) => m.type === 'device.disconnected' && m.deviceId === 'ev-enr-1');
  }
  const created = events.all.filter((m) => m.type === 'device.created' && m.deviceId === 'ev-enr-1');
  assert.equal(created.length, 1, JSON.stringify(created));
  assert.equal(created[0].status, 'enabled');
  assert.equal(created[0].source, 'enrollment');
  assert.equal(created[0].enrollmentGroup, 'ev-group');
  assert.ok(created[0].seq < events.all.find((m) => m.type === 'device.connected').seq, 'created before it connected');

  const r = await hub.req('POST', '/devicehub/devices/ev-enr-1/retire', { reason: 'broken' });
  assert.equal(r.status, 200, r.text);
  const gone = await events.next((m) => m.type === 'device.deleted' && m.deviceId === 'ev-enr-1');
  assert.equal(gone.retired, true);
  assert.equal(gone.reason, 'broken');
  assert.equal(gone.replacedBy, undefined);

  await createDevice('ev-old');
  const rep = await hub.req('POST', '/devicehub/devices/ev-old/replace', { newDeviceId: 'ev-new', reason: 'swap' });
  assert.equal(rep.status, 200, rep.text);
  const old = await events.next((m) => m.type === 'device.deleted' && m.deviceId === 'ev-old');
  assert.deepEqual([old.retired, old.reason, old.replacedBy], [true, 'swap', 'ev-new']);
  const fresh = await events.next((m) => m.type === 'device.created' && m.deviceId === 'ev-new');
  assert.deepEqual([fresh.status, fresh.replaces], ['enabled', 'ev-old']);
  assert.ok(fresh.seq > old.seq);
  // A refused replace (the new id exists) publishes nothing.
  await createDevice('ev-taken');
  const registry = async () => (await hub.req('GET', '/devicehub/events?types=device.created,device.deleted&top=1')).json.items[0].seq;
  const before = await registry();
  assert.equal((await hub.req('POST', '/devicehub/devices/ev-new/replace', { newDeviceId: 'ev-taken' })).status, 409);
  assert.equal(await registry(), before);
  assert.equal((await hub.req('GET', '/devices/ev-new')).status, 200);
  await events.close();
});

test('twin PATCH and a device reported patch give twin.updated with section and version', async () => {
  const key = await createDevice('ev-twin');
  const { events } = await subscribe();
  const p = await hub.req('PATCH', '/twins/ev-twin', { tags: { site: 'a' }, properties: { desired: { fw: '1.0' } } });
  assert.equal(p.status, 200, p.text);
  const tags = await events.next((m) => m.type === 'twin.updated' && m.section === 'tags');
  assert.equal(tags.deviceId, 'ev-twin');
  const desired = await events.next((m) => m.type === 'twin.updated' && m.section === 'desired');
  assert.equal(desired.version, p.json.properties.desired.$version);
  const c = await connectDevice(hub, 'ev-twin', { token: deviceToken('ev-twin', key) });
  const ack = await c.device.request({ type: 'reported.patch', rid: 'r1', body: { battery: 80 } });
  assert.equal(ack.status, 204, JSON.stringify(ack));
  const rep = await events.next((m) => m.type === 'twin.updated' && m.section === 'reported');
  assert.equal(rep.deviceId, 'ev-twin');
  assert.equal(rep.version, ack.version);
  await c.device.close();
  await events.close();
});

test('a job reports job.progress up to its final status', async () => {
  for (let i = 0; i < 3; i++) await createDevice(`ev-job-${i}`);
  const { events } = await subscribe();
  const put = await hub.req('PUT', '/jobs/v2/ev-job-1', {
    jobId: 'ev-job-1', type: 'scheduleUpdateTwin', queryCondition: "startswith(deviceId, 'ev-job-')",
    updateTwin: { etag: '*', properties: { desired: { wave: 1 } } }, startTime: null,
  });
  assert.equal(put.status, 200, put.text);
  const done = await events.next((m) => m.type === 'job.progress' && m.jobId === 'ev-job-1' && m.status === 'completed', 10000);
  assert.equal(done.jobType, 'scheduleUpdateTwin');
  assert.equal(done.deviceJobStatistics.deviceCount, 3);
  assert.equal(done.deviceJobStatistics.succeededCount, 3);
  assert.equal(done.rollout, undefined);
  const progress = events.all.filter((m) => m.type === 'job.progress' && m.jobId === 'ev-job-1');
  assert.equal(progress[0].status, 'queued');
  assert.ok(progress.length <= 6, `throttled: ${JSON.stringify(progress)}`);
  // The twin job's desired writes are twin.updated events too.
  const twins = events.all.filter((m) => m.type === 'twin.updated' && m.section === 'desired' && m.deviceId.startsWith('ev-job-'));
  assert.equal(twins.length, 3);
  await events.close();
});

test('a rollout device that fails gives device.failed; rollouts add their members and phases', async () => {
  const key = await createDevice('ev-fail');
  const tagged = await hub.req('PATCH', '/twins/ev-fail', { tags: { ring: 'evf' } });
  assert.equal(tagged.status, 200);
  const c = await connectDevice(hub, 'ev-fail', { token: deviceToken('ev-fail', key) });
  c.device.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'method.request') c.device.send({ type: 'method.response', rid: m.rid, status: 500, payload: {} });
  });
  const { events } = await subscribe();
  const r = await hub.req('PUT', '/devicehub/rollouts/ev-roll', {
    type: 'scheduleDeviceMethod', queryCondition: "tags.ring = 'evf'",
    cloudToDeviceMethod: { methodName: 'update', payload: {}, responseTimeoutInSeconds: 10 }, policy: {},
  });
  assert.equal(r.status, 200, r.text);
  const failed = await events.next((m) => m.type === 'device.failed' && m.jobId === 'ev-roll', 10000);
  assert.equal(failed.deviceId, 'ev-fail');
  assert.equal(failed.errorCode, 'MethodStatus500');
  const end = await events.next((m) => m.type === 'job.progress' && m.jobId === 'ev-roll' &&
    m.status !== 'running' && m.status !== 'queued', 10000);
  assert.equal(end.rollout, true);
  assert.equal(typeof end.currentPhase, 'number');
  assert.equal(end.paused, false);
  assert.equal(end.awaitingApproval, false);
  assert.equal(end.deviceJobStatistics.failedCount, 1);
  const phases = events.all.filter((m) => m.type === 'rollout.phase' && m.jobId === 'ev-roll');
  assert.deepEqual(phases.map((m) => [m.phase, m.event]), [[0, 'started'], [0, 'completed']]);
  assert.ok(phases[1].seq < end.seq, 'the final job.progress comes after the phase events');
  await c.device.close();
  await events.close();
});

test('since=<last seq> catches up exactly the missed events, in order', async () => {
  const { events } = await subscribe();
  await hub.req('PATCH', '/twins/ev-twin', { tags: { mark: 'before' } });
  const last = await events.next((m) => m.type === 'twin.updated' && m.deviceId === 'ev-twin');
  await events.close();
  for (let i = 0; i < 5; i++) {
    const r = await hub.req('PATCH', '/twins/ev-twin', { tags: { n: i } });
    assert.equal(r.status, 200);
  }
  const latest = await hub.req('GET', '/devicehub/events?top=1');
  const missed = latest.json.seq - last.seq;
  assert.ok(missed >= 5);
  const { events: again, hello } = await subscribe({ since: last.seq });
  assert.equal(hello.seq, latest.json.seq);
  for (let i = 0; i < missed; i++) {
    const m = await again.next();
    assert.equal(m.seq, last.seq + 1 + i, JSON.stringify(m));
  }
  const tagEvents = again.all.filter((m) => m.type === 'twin.updated' && m.section === 'tags');
  assert.equal(tagEvents.length, 5);
  // Nothing more than the missed ones: no resync, no duplicates.
  await delay(200);
  assert.equal(again.inbox.length, 0, JSON.stringify(again.inbox));
  await again.close();
});

test('since older than the ring (or ahead of it) gives resync, then live events', async () => {
  // The ring keeps 10,000 events: push the seq past it with cheap twin patches.
  let latest = (await hub.req('GET', '/devicehub/events?top=1')).json.seq;
  while (latest < 10050) {
    const batch = [];
    for (let i = 0; i < 50; i++) batch.push(hub.req('PATCH', '/twins/ev-twin', { tags: { k: i } }));
    await Promise.all(batch);
    latest = (await hub.req('GET', '/devicehub/events?top=1')).json.seq;
  }
  const { events, hello } = await subscribe({ since: 1 });
  assert.ok(hello.oldest > 2, JSON.stringify(hello));
  const first = await events.next();
  assert.deepEqual(first, { type: 'resync' });
  await hub.req('PATCH', '/twins/ev-twin', { tags: { live: 1 } });
  const live = await events.next((m) => m.type === 'twin.updated');
  assert.ok(live.seq > hello.seq);
  await events.close();
  const ahead = await subscribe({ since: hello.seq + 1000000 });
  assert.deepEqual(await ahead.events.next(), { type: 'resync' });
  await ahead.events.close();
});

test('GET /devicehub/events returns the latest, newest first, filtered by type', async () => {
  const key = await createDevice('ev-get');
  const c = await connectDevice(hub, 'ev-get', { token: deviceToken('ev-get', key) });
  assert.ok(c.device, JSON.stringify(c));
  await c.device.close();
  // The hub may see the close a moment after the client does.
  for (let i = 0; i < 100; i++) {
    const r = await hub.req('GET', '/devicehub/events?top=1&types=device.disconnected');
    if (r.json.items[0]?.deviceId === 'ev-get') break;
    await delay(20);
  }
  await hub.req('PATCH', '/twins/ev-twin', { tags: { after: 1 } });
  const r = await hub.req('GET', '/devicehub/events?top=5');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.items.length, 5);
  assert.equal(r.json.items[0].seq, r.json.seq);
  for (let i = 1; i < 5; i++) assert.equal(r.json.items[i].seq, r.json.items[i - 1].seq - 1);
  const f = await hub.req('GET', '/devicehub/events?top=50&types=device.connected,device.disconnected');
  assert.equal(f.status, 200);
  assert.equal(f.json.items.length, 2, JSON.stringify(f.json));
  assert.deepEqual(f.json.items.map((m) => [m.type, m.deviceId]),
    [['device.disconnected', 'ev-get'], ['device.connected', 'ev-get']]);
  assert.ok(f.json.items[0].seq < f.json.seq, 'the twin patch came later');
  const d = await hub.req('GET', '/devicehub/events');
  assert.equal(d.json.items.length, 50, 'top defaults to 50');
  for (const bad of ['0', '1001', 'abc', '5x']) {
    const b = await hub.req('GET', `/devicehub/events?top=${bad}`);
    assertHubError(assert, b, 400, 'ArgumentInvalid');
  }
});

test('over TLS the ticket says secure and the socket is wss on the device port', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dh-events-tls-'));
  const file = (n) => join(dir, n);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('key.pem'), '-out',
    file('cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'ignore' });
  const ca = readFileSync(file('cert.pem'));
  const tlsHub = await startHub({ tls: { cert: file('cert.pem'), key: file('key.pem'), ca } });
  try {
    const r = await tlsHub.req('POST', '/devicehub/events/ticket');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.secure, true);
    assert.equal(r.json.port, tlsHub.devicePort);
    const ws = new WebSocket(`wss://127.0.0.1:${r.json.port}${r.json.path}?ticket=${r.json.ticket}`, PROTOCOL, { ca });
    const events = new Events(ws);
    const hello = await events.next((m) => m.type === 'hello');
    assert.equal(typeof hello.seq, 'number');
    // Left open: the hub's stop closes it (and must not leak or crash).
  } finally {
    await tlsHub.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
