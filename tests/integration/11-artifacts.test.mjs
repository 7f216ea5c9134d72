// Firmware artifacts: upload with version and model, list, get, delete; devices download with their own
// SAS token, Range requests resume an interrupted download (docs/artifacts.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { dirname, join } from 'node:path';
import { BIN, assertHubError, sasToken, sdkDevice, startHub } from './lib/hub.mjs';
import { deviceToken } from './lib/device.mjs';

let hub;
let pol;
let devKey;
const PACKAGE = randomBytes(300 * 1024 + 17);
const SHA = createHash('sha256').update(PACKAGE).digest('hex');

before(async () => {
  hub = await startHub();
  pol = await hub.policies();
  let r = await hub.req('PUT', '/devices/fw-dev', sdkDevice('fw-dev'));
  assert.equal(r.status, 200, r.text);
  devKey = r.json.authentication.symmetricKey.primaryKey;
  r = await hub.req('PUT', '/devices/fw-off', sdkDevice('fw-off', { status: 'disabled' }));
  assert.equal(r.status, 200, r.text);
});
after(async () => { await hub?.destroy(); });

// A raw-body request (hub.req sends JSON). Returns status, headers, the body as bytes and parsed JSON.
async function raw(method, path, { body, auth = hub.token(), headers = {} } = {}) {
  const h = { ...headers };
  if (auth !== null) h.Authorization = auth;
  const res = await fetch(`${hub.base}${path}`, { method, headers: h, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json;
  try { json = JSON.parse(bytes.toString()); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, bytes, json, text: bytes.toString() };
}

const upload = (id, body, query = 'version=1.2.3&model=sim-model', opts = {}) =>
  raw(id ? 'PUT' : 'POST', `/devicehub/artifacts${id ? `/${encodeURIComponent(id)}` : ''}?${query}`,
    { body, headers: { 'Content-Type': 'application/octet-stream' }, ...opts });
const content = (id, opts) => raw('GET', `/devicehub/artifacts/${encodeURIComponent(id)}/content`, opts);
const devTok = (ttl) => deviceToken('fw-dev', devKey, { ttl });

test('upload: 201 with sha256, size, version, model and download path', async () => {
  const r = await upload('fw-1', PACKAGE);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.id, 'fw-1');
  assert.equal(r.json.version, '1.2.3');
  assert.equal(r.json.compatibleModel, 'sim-model');
  assert.equal(r.json.sha256, SHA);
  assert.equal(r.json.size, PACKAGE.length);
  assert.equal(r.json.contentType, 'application/octet-stream');
  assert.equal(r.json.downloadPath, '/devicehub/artifacts/fw-1/content');
  assert.ok(!Number.isNaN(Date.parse(r.json.createdTimeUtc)));
  // the file is in the data directory under its id, and nothing else is
  assert.deepEqual(readdirSync(join(hub.dataDir, 'artifacts')), ['fw-1']);
});

test('upload: same id again → 409, bad input → 400, generated ids, model lists', async () => {
  assertHubError(assert, await upload('fw-1', PACKAGE), 409, 'ArtifactAlreadyExists');
  assertHubError(assert, await upload('.hidden', Buffer.from('x')), 400, 'ArgumentInvalid'); // ids never start with '.'
  assertHubError(assert, await upload('bad', Buffer.from('x'), 'model=m'), 400, 'ArgumentInvalid');
  assertHubError(assert, await upload('bad', Buffer.from('x'), 'version=1'), 400, 'ArgumentInvalid');
  assertHubError(assert, await upload('bad', Buffer.alloc(0)), 400, 'ArgumentNull');
  assertHubError(assert, await upload('bad', Buffer.from('x'), 'version=1&model=a,,b'), 400, 'ArgumentInvalid');
  const l = await upload(null, Buffer.from('generated'), 'version=2.0&model=model-a,model-b');
  assert.equal(l.status, 201, l.text);
  assert.match(l.json.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(l.json.compatibleModel, ['model-a', 'model-b']);
  assert.equal((await raw('DELETE', `/devicehub/artifacts/${l.json.id}`)).status, 204);
});

test('upload needs ServiceConnect; over 64 MB → 413', async () => {
  assertHubError(assert, await upload('nope', PACKAGE, undefined, { auth: null }), 401, 'IotHubUnauthorizedAccess');
  const ro = sasToken('testhub.local', pol.registryRead.primaryKey, 'registryRead');
  assertHubError(assert, await upload('nope', PACKAGE, undefined, { auth: ro }), 401, 'IotHubUnauthorizedAccess');
  const big = Buffer.alloc(64 * 1024 * 1024 + 1);
  assertHubError(assert, await upload('too-big', big), 413, 'MessageTooLarge');
  assertHubError(assert, await raw('GET', '/devicehub/artifacts/too-big'), 404, 'ArtifactNotFound');
});

test('list and get', async () => {
  const l = await raw('GET', '/devicehub/artifacts');
  assert.equal(l.status, 200);
  assert.deepEqual(l.json.map((a) => a.id), ['fw-1']);
  const g = await raw('GET', '/devicehub/artifacts/fw-1');
  assert.equal(g.status, 200);
  assert.deepEqual(g.json, l.json[0]);
  assertHubError(assert, await raw('GET', '/devicehub/artifacts/missing'), 404, 'ArtifactNotFound');
});

test('download with the device token: identical bytes, ETag, Accept-Ranges', async () => {
  const r = await content('fw-1', { auth: devTok() });
  assert.equal(r.status, 200);
  assert.ok(r.bytes.equals(PACKAGE));
  assert.equal(r.headers.get('content-length'), String(PACKAGE.length));
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  assert.equal(r.headers.get('etag'), `"${SHA}"`);
  assert.equal(r.headers.get('accept-ranges'), 'bytes');
});

test('an interrupted download resumes with Range: 206 pieces concatenate to the package', async () => {
  const half = Math.floor(PACKAGE.length / 2);
  const first = await content('fw-1', { auth: devTok(), headers: { Range: `bytes=0-${half - 1}` } });
  assert.equal(first.status, 206);
  assert.equal(first.headers.get('content-range'), `bytes 0-${half - 1}/${PACKAGE.length}`);
  assert.equal(first.bytes.length, half);
  const rest = await content('fw-1', { auth: devTok(), headers: { Range: `bytes=${half}-`, 'If-Range': `"${SHA}"` } });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers.get('content-range'), `bytes ${half}-${PACKAGE.length - 1}/${PACKAGE.length}`);
  assert.ok(Buffer.concat([first.bytes, rest.bytes]).equals(PACKAGE));
  const tail = await content('fw-1', { auth: devTok(), headers: { Range: 'bytes=-10' } });
  assert.equal(tail.status, 206);
  assert.ok(tail.bytes.equals(PACKAGE.subarray(PACKAGE.length - 10)));
  // If-Range naming another package: the whole (current) file, 200
  const stale = await content('fw-1', { auth: devTok(), headers: { Range: 'bytes=5-', 'If-Range': '"0000"' } });
  assert.equal(stale.status, 200);
  assert.ok(stale.bytes.equals(PACKAGE));
});

test('a range past the end → 416 with Content-Range bytes */size', async () => {
  const r = await content('fw-1', { auth: devTok(), headers: { Range: `bytes=${PACKAGE.length}-` } });
  assertHubError(assert, r, 416, 'RequestedRangeNotSatisfiable');
  assert.equal(r.headers.get('content-range'), `bytes */${PACKAGE.length}`);
});

test('download auth: wrong, expired, missing, disabled-device tokens → 401; service token works', async () => {
  const wrongKey = Buffer.alloc(32, 7).toString('base64');
  for (const auth of [null, deviceToken('fw-dev', wrongKey), devTok(-60), deviceToken('fw-ghost', devKey),
    'SharedAccessSignature sr=x', deviceToken('fw-off', devKey)]) {
    const r = await content('fw-1', { auth });
    assert.equal(r.status, 401, `${auth}: ${r.text}`);
    assert.match(r.headers.get('iothub-errorcode'), /^IotHubUnauthorized(Access)?$/);
  }
  // the disabled device with its own key
  const off = await hub.req('GET', '/devices/fw-off');
  const offTok = deviceToken('fw-off', off.json.authentication.symmetricKey.primaryKey);
  assertHubError(assert, await content('fw-1', { auth: offTok }), 401, 'IotHubUnauthorizedAccess');
  // a token for another hub's device of the same name
  const other = deviceToken('fw-dev', devKey, { hostname: 'other.hub' });
  assert.equal((await content('fw-1', { auth: other })).status, 401);
  // policies: ServiceConnect and DeviceConnect download, RegistryRead does not
  for (const [name, status] of [['iothubowner', 200], ['service', 200], ['device', 200], ['registryRead', 401]]) {
    const r = await content('fw-1', { auth: sasToken('testhub.local', pol[name].primaryKey, name) });
    assert.equal(r.status, status, `${name}: ${r.text}`);
    if (status === 200) assert.ok(r.bytes.equals(PACKAGE));
  }
  // device tokens do not open the management routes
  assert.equal((await raw('GET', '/devicehub/artifacts', { auth: devTok() })).status, 401);
});

test('delete: 204, then 404 for metadata and download, file gone', async () => {
  assert.equal((await raw('DELETE', '/devicehub/artifacts/fw-1')).status, 204);
  assertHubError(assert, await raw('GET', '/devicehub/artifacts/fw-1'), 404, 'ArtifactNotFound');
  assertHubError(assert, await content('fw-1', { auth: devTok() }), 404, 'ArtifactNotFound');
  assertHubError(assert, await raw('DELETE', '/devicehub/artifacts/fw-1'), 404, 'ArtifactNotFound');
  assert.deepEqual(readdirSync(join(hub.dataDir, 'artifacts')), []);
  // the id is free again
  assert.equal((await upload('fw-1', Buffer.from('v2'))).status, 201);
});

test('the OpenAPI document names the artifact routes', async () => {
  const r = await raw('GET', '/openapi.json', { auth: null });
  assert.ok(r.json.paths['/devicehub/artifacts/{artifactId}/content'].get);
  assert.ok(r.json.paths['/devicehub/artifacts/{artifactId}'].put.requestBody.content['application/octet-stream']);
});

// devicehub-sim downloads a package from the hub with its device token, and resumes with Range when the
// connection breaks part-way: a proxy in front of the hub cuts the first download after half the bytes.
test('the simulator updates from a hub artifact, resuming a cut-off download', async () => {
  const SIM = process.env.DEVICEHUB_SIM_BIN || join(dirname(BIN), 'devicehub-sim');
  const pkg = randomBytes(512 * 1024);
  const sha = createHash('sha256').update(pkg).digest('hex');
  assert.equal((await upload('fw-sim', pkg, 'version=2.0.0&model=sim-model')).status, 201);
  let cuts = 0;
  let ranges = 0;
  const proxy = createNetServer((client) => {
    const upstream = connect(hub.port, '127.0.0.1');
    let download = false;
    let sent = 0;
    client.on('data', (d) => {
      const head = d.toString('latin1');
      if (head.startsWith('GET /devicehub/artifacts/fw-sim/content')) download = true;
      if (/\r\nRange: bytes=\d+-/i.test(head)) ranges++;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      sent += d.length;
      if (download && cuts === 0 && sent > pkg.length / 2) {
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const api = `http://127.0.0.1:${proxy.address().port}`;
  const cs = `HostName=testhub.local;SharedAccessKeyName=iothubowner;SharedAccessKey=${hub.ownerKey}`;
  const sim = spawn(SIM, ['--connection-string', cs, '--api-url', api, '--device-url', hub.deviceUrl, '--create',
    '--count', '1', '--prefix', 'fwsim-', '--fw-step-ms', '100', '--reboot-ms', '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  sim.stdout.on('data', (d) => { output += d; });
  sim.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => sim.on('close', r));
  try {
    const id = 'fwsim-00001';
    const until = async (fn, what, ms = 20000) => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const v = await fn().catch(() => null);
        if (v) return v;
      }
      throw new Error(`${what} not reached; simulator output:\n${output}`);
    };
    await until(async () => (await hub.req('GET', `/devices/${id}`)).json?.connectionState === 'Connected', 'connected');
    const r = await hub.req('POST', `/twins/${id}/methods`, {
      methodName: 'firmwareUpdate', responseTimeoutInSeconds: 20, connectTimeoutInSeconds: 0,
      payload: { url: `${api}/devicehub/artifacts/fw-sim/content`, sha256: sha, version: '2.0.0' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 200, JSON.stringify(r.json));
    await until(async () => {
      const fw = (await hub.req('GET', `/twins/${id}`)).json.properties.reported.firmware;
      return fw?.status === 'current' && fw.version === '2.0.0';
    }, 'firmware current 2.0.0');
    assert.equal(cuts, 1, 'the first download was cut off');
    assert.ok(ranges >= 1, 'the simulator resumed with a Range request');
  } finally {
    sim.kill('SIGINT');
    await exited;
    proxy.close();
  }
  const m = output.match(/(ERROR: (Address|Leak)Sanitizer|runtime error:)[^]*/);
  assert.ok(!m, `devicehub-sim reported a sanitizer error:\n${m?.[0].slice(0, 4000)}`);
});
