// Observability: GET /metrics (Prometheus text, auth unless --metrics-public 1), GET /readyz, JSON log
// lines (--log-format json), and the configuration file with its precedence (file < environment < flag).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, assertHubError, freePort, sasToken, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

// A small parser of the text exposition format 0.0.4: HELP/TYPE comments and samples
// `name{label="value",...} number`, with \\, \" and \n escapes in label values. Throws on anything else.
function parseProm(text) {
  const families = new Map();
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = line.match(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/);
    if (m) {
      const f = families.get(m[2]) || {};
      if (m[1] === 'TYPE') {
        assert.match(m[3], /^(counter|gauge|histogram|summary|untyped)$/, line);
        assert.equal(f.type, undefined, `second TYPE for ${m[2]}`);
        f.type = m[3];
      } else {
        f.help = m[3];
      }
      families.set(m[2], f);
      continue;
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`);
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = {};
    const body = m[3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let at = 0;
    while (at < body.length) {
      re.lastIndex = at;
      const l = re.exec(body);
      assert.ok(l, `bad labels in: ${line}`);
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    assert.ok(!Number.isNaN(value), `bad value: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  // Every sample belongs to a family declared before with TYPE.
  for (const s of samples) {
    const base = [s.name, s.name.replace(/_(bucket|sum|count)$/, '')].find((n) => families.get(n)?.type);
    assert.ok(base, `sample ${s.name} has no TYPE`);
    s.family = base;
  }
  return { families, samples };
}

const find = (prom, name, labels = {}) => prom.samples.filter((s) => s.name === name
  && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const value = (prom, name, labels) => find(prom, name, labels).reduce((a, s) => a + s.value, 0);

// Histograms: buckets ascend in le, counts never fall, +Inf equals _count, every series has _sum.
function checkHistograms(prom) {
  let n = 0;
  for (const [name, f] of prom.families) {
    if (f.type !== 'histogram') continue;
    const series = new Map();
    for (const s of find(prom, `${name}_bucket`)) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      if (!series.has(key)) series.set(key, []);
      series.get(key).push([le === '+Inf' ? Infinity : Number(le), s.value]);
    }
    for (const [key, buckets] of series) {
      n++;
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i][0] > buckets[i - 1][0], `${name} ${key}: le not ascending`);
        assert.ok(buckets[i][1] >= buckets[i - 1][1], `${name} ${key}: bucket counts fall`);
      }
      assert.equal(buckets.at(-1)[0], Infinity, `${name} ${key}: no +Inf bucket`);
      const labels = JSON.parse(key);
      assert.equal(value(prom, `${name}_count`, labels), buckets.at(-1)[1], `${name} ${key}: _count != +Inf`);
      assert.equal(find(prom, `${name}_sum`, labels).length, 1, `${name} ${key}: no _sum`);
    }
  }
  return n;
}

let hub;
before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

test('/metrics needs a ServiceConnect token by default', async () => {
  assertHubError(assert, await hub.req('GET', '/metrics', undefined, { auth: null }), 401, 'IotHubUnauthorizedAccess');
  const pol = await hub.policies();
  const readOnly = sasToken('testhub.local', pol.registryRead.primaryKey, 'registryRead');
  assert.equal((await hub.req('GET', '/metrics', undefined, { auth: readOnly })).status, 401);
  const service = sasToken('testhub.local', pol.service.primaryKey, 'service');
  const r = await hub.req('GET', '/metrics', undefined, { auth: service });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
});

test('/metrics counts requests by route pattern and status, with latency histograms', async () => {
  assert.equal((await hub.req('PUT', '/devices/obs-1', sdkDevice('obs-1'))).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await hub.req('GET', '/twins/obs-1')).status, 200);
  assert.equal((await hub.req('GET', '/twins/obs-missing')).status, 404);
  assert.equal((await hub.req('GET', '/no/such/path')).status, 404);
  const r = await hub.req('GET', '/metrics');
  assert.equal(r.status, 200);
  const prom = parseProm(r.text);
  assert.equal(prom.families.get('devicehub_http_requests_total').type, 'counter');
  assert.equal(value(prom, 'devicehub_http_requests_total', { method: 'GET', route: '/twins/{}', code: '200' }), 3);
  assert.equal(value(prom, 'devicehub_http_requests_total', { method: 'GET', route: '/twins/{}', code: '404' }), 1);
  assert.equal(value(prom, 'devicehub_http_requests_total', { method: 'PUT', route: '/devices/{}', code: '200' }), 1);
  assert.equal(value(prom, 'devicehub_http_requests_total', { route: 'unmatched', code: '404' }), 1);
  // Patterns, not paths: no id ever becomes a label value.
  assert.ok(!r.text.includes('obs-1') && !r.text.includes('obs-missing') && !r.text.includes('/no/such'));
  assert.equal(value(prom, 'devicehub_http_request_duration_seconds_count', { method: 'GET', route: '/twins/{}' }), 4);
  assert.ok(checkHistograms(prom) >= 3);
  assert.ok(value(prom, 'devicehub_store_transaction_duration_seconds_count', { kind: 'write' }) >= 1);
  assert.equal(find(prom, 'devicehub_store_busy_errors_total').length, 1);
  for (const status of ['queued', 'running', 'completed', 'failed', 'cancelled'])
    assert.equal(find(prom, 'devicehub_jobs', { kind: 'rollout', status }).length, 1, status);
});

test('/metrics shows devices, device messages and direct-method outcomes', async () => {
  const dev = (await hub.req('PUT', '/devices/obs-dev', sdkDevice('obs-dev'))).json;
  const offline = await hub.req('POST', '/twins/obs-dev/methods', { methodName: 'm', responseTimeoutInSeconds: 5 });
  assert.equal(offline.status, 404);
  const { device } = await connectDevice(hub, 'obs-dev', { token: deviceToken('obs-dev', dev.authentication.symmetricKey.primaryKey) });
  assert.ok(device, 'device connected');
  try {
    await device.request({ type: 'twin.get', rid: 'g1' });
    device.send('not json');
    await device.next((m) => m.type === 'error');
    const call = hub.req('POST', '/twins/obs-dev/methods', { methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 5 });
    const req = await device.next((m) => m.type === 'method.request');
    device.send({ type: 'method.response', rid: req.rid, status: 200, payload: { ok: true } });
    assert.equal((await call).status, 200);
    const prom = parseProm((await hub.req('GET', '/metrics')).text);
    assert.equal(value(prom, 'devicehub_devices_connected'), 1);
    assert.ok(value(prom, 'devicehub_device_connections_total') >= 1);
    assert.equal(value(prom, 'devicehub_device_messages_received_total', { type: 'twin.get' }), 1);
    assert.equal(value(prom, 'devicehub_device_messages_received_total', { type: 'method.response' }), 1);
    assert.equal(value(prom, 'devicehub_device_messages_received_total', { type: 'invalid' }), 1);
    assert.ok(value(prom, 'devicehub_device_messages_sent_total') >= 4); // hello, twin, error, method
    assert.equal(value(prom, 'devicehub_device_errors_total'), 1);
    assert.equal(value(prom, 'devicehub_method_calls_total', { outcome: 'answered' }), 1);
    assert.equal(value(prom, 'devicehub_method_calls_total', { outcome: 'DeviceNotOnline' }), 1);
    assert.equal(value(prom, 'devicehub_http_requests_total', { route: '/twins/{}/methods', code: '200' }), 1);
  } finally {
    await device.close();
  }
});

test('/readyz answers 200 with its checks, without a token', async () => {
  const r = await hub.req('GET', '/readyz', undefined, { auth: null });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ready', checks: { database: 'ok', listeners: 'up' } });
});

test('--metrics-public 1 serves /metrics without a token; --log-format json writes JSON lines', async () => {
  const open = await startHub({ args: ['--metrics-public', '1', '--log-format', 'json', '--log-level', 'debug'] });
  try {
    const r = await open.req('GET', '/metrics', undefined, { auth: null });
    assert.equal(r.status, 200);
    parseProm(r.text);
    await open.stop();
    const lines = open.output.split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.length >= 3, open.output);
    for (const l of lines) {
      const o = JSON.parse(l);
      assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(o.level), l);
      assert.equal(typeof o.msg, 'string');
    }
    assert.ok(lines.some((l) => JSON.parse(l).msg.includes('listening')));
    // Nothing is logged in the text form meanwhile.
    assert.ok(!/^\d{4}-\d\d-\d\dT\S+ (debug|info |warn |error)/m.test(open.output), open.output);
  } finally {
    await open.destroy();
  }
});

// Starts devicehubd with exactly args and env; resolves when /healthz answers on `port`.
async function startOn(port, args, env = {}) {
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => proc.on('close', resolve));
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`devicehubd exited: ${output}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  proc.kill('SIGTERM');
  await exited;
  assert.ok(!/Sanitizer|runtime error:/.test(output), output);
  return r.status;
}

test('a configuration file sets the port; the environment beats it, and a flag beats both', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'devicehub-conf-'));
  try {
    const [filePort, envPort, flagPort, devicePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const conf = join(dir, 'devicehubd.conf');
    writeFileSync(conf, `# test configuration\ndata-dir = ${join(dir, 'data')}\nhttp-addr = 127.0.0.1\n`
      + `http-port = ${filePort}\n\ndevice-addr = "127.0.0.1"\ndevice-port = ${devicePort}\nhostname = testhub.local\n`);
    assert.equal(await startOn(filePort, ['--config', conf]), 200);
    assert.equal(await startOn(envPort, [], { DEVICEHUB_CONFIG: conf, DEVICEHUB_HTTP_PORT: String(envPort) }), 200);
    assert.equal(await startOn(flagPort, ['--config', conf, '--http-port', String(flagPort)],
      { DEVICEHUB_HTTP_PORT: String(envPort) }), 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad configuration line exits 2 naming the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devicehub-conf-'));
  try {
    const conf = join(dir, 'bad.conf');
    writeFileSync(conf, 'http-port = 8080\n# fine\nhttp-prot = 9090\n');
    const r = spawnSync(BIN, ['--config', conf], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.ok(r.stderr.includes(`${conf}:3`), r.stderr);
    assert.match(r.stderr, /unknown setting 'http-prot'/);
    writeFileSync(conf, 'log-level = info\nhttp-port = lots\n');
    const v = spawnSync(BIN, [], { encoding: 'utf8', env: { ...process.env, DEVICEHUB_CONFIG: conf } });
    assert.equal(v.status, 2);
    assert.ok(v.stderr.includes(`${conf}:2`), v.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
