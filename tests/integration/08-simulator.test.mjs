// devicehub-sim against a real devicehubd: --create through the REST API, devices connected over
// devicehub.v1, capabilities reported, direct methods (reboot, firmwareUpdate against a package served
// here, unknown names), desired patches acknowledged, failure injection, and a clean SIGINT exit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { BIN, startHub } from './lib/hub.mjs';

// The simulator is built beside devicehubd (same CMake tree).
const SIM = process.env.DEVICEHUB_SIM_BIN || join(dirname(BIN), 'devicehub-sim');
const COUNT = 20;
const ids = Array.from({ length: COUNT }, (_, i) => `sim-${String(i + 1).padStart(5, '0')}`);

const firmware = Buffer.from('devicehub simulated firmware 2.0.0\n'.repeat(1000));
const firmwareSha = createHash('sha256').update(firmware).digest('hex');

let hub;
let files;       // the firmware package server
let filesUrl;
let sim;         // the long-running simulator of most tests

// Runs devicehub-sim with the hub's addresses; output collects stdout and stderr.
function startSim(args) {
  const cs = `HostName=testhub.local;SharedAccessKeyName=iothubowner;SharedAccessKey=${hub.ownerKey}`;
  const proc = spawn(SIM, ['--connection-string', cs, '--api-url', hub.base, '--device-url', hub.deviceUrl,
    '--report-interval-ms', '500', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const s = { proc, output: '' };
  proc.stdout.on('data', (d) => { s.output += d; });
  proc.stderr.on('data', (d) => { s.output += d; });
  s.exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  return s;
}

function assertNoSanitizerReport(output) {
  const m = output.match(/(ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer)[^]*/);
  assert.ok(!m, `devicehub-sim reported a sanitizer error:\n${m?.[0].slice(0, 4000)}`);
}

// Polls fn until it returns a truthy value; the last failure is in the error.
async function eventually(fn, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not reached within ${ms} ms${last ? `: ${last.message}` : ''}`);
}

async function connectedCount(prefix = 'sim-') {
  const r = await hub.req('POST', '/devices/query',
    { query: `SELECT COUNT() AS n FROM devices WHERE connectionState = 'Connected' AND startswith(deviceId, '${prefix}')` });
  assert.equal(r.status, 200, r.text);
  return r.json[0].n;
}

async function reported(id) {
  const r = await hub.req('GET', `/twins/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json.properties.reported;
}

function invoke(id, methodName, payload = null, responseTimeoutInSeconds = 15) {
  return hub.req('POST', `/twins/${id}/methods`, { methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds: 0 });
}

before(async () => {
  assert.ok(existsSync(SIM), `${SIM} is missing: build the devicehub-sim target`);
  hub = await startHub();
  files = createServer((req, res) => {
    if (req.url === '/fw-2.0.0.bin') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': firmware.length });
      res.end(firmware);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${files.address().port}`;
  sim = startSim(['--create', '--count', String(COUNT), '--prefix', 'sim-', '--fw-step-ms', '100', '--reboot-ms', '300']);
  await eventually(async () => (await connectedCount()) === COUNT, 20000, `${COUNT} devices connected`)
    .catch((e) => { throw new Error(`${e.message}\nsimulator output:\n${sim.output}`); });
});

after(async () => {
  for (const s of [sim]) if (s && s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  await new Promise((r) => (files ? files.close(r) : r()));
  await hub?.destroy();
});

test('--create made the devices through the REST API, with SAS keys', async () => {
  for (const id of [ids[0], ids[COUNT - 1]]) {
    const r = await hub.req('GET', `/devices/${id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'enabled');
    assert.equal(r.json.authentication.type, 'sas');
    assert.match(r.json.authentication.symmetricKey.primaryKey, /^[A-Za-z0-9+/]{43}=$/);
  }
  const all = await hub.req('GET', '/devices?top=1000');
  assert.equal(all.json.filter((d) => d.deviceId.startsWith('sim-')).length, COUNT);
});

test('every simulated device is Connected while the simulator runs', async () => {
  assert.equal(await connectedCount(), COUNT);
  const r = await hub.req('GET', `/devices/${ids[7]}`);
  assert.equal(r.json.connectionState, 'Connected');
});

test('each device reported its capabilities on connecting', async () => {
  for (const id of ids) {
    const rep = await eventually(async () => {
      const p = await reported(id);
      return p.firmware?.version ? p : null;
    }, 10000, `${id} capabilities`);
    assert.equal(rep.firmware.version, '1.0.0');
    assert.equal(rep.firmware.status, 'current');
    assert.equal(typeof rep.model, 'string');
    assert.match(rep.serial, /^SN-[0-9A-F]{10}$/);
    assert.ok(rep.battery >= 0 && rep.battery <= 100);
    assert.ok(['battery', 'mains'].includes(rep.powerSource));
    assert.equal(typeof rep.location.lat, 'number');
    assert.equal(typeof rep.location.lon, 'number');
  }
});

test('a desired patch is applied and acknowledged in reported config', async () => {
  const id = ids[4];
  const p = await hub.req('PATCH', `/twins/${id}`, { properties: { desired: { telemetryInterval: 30, mode: 'eco' } } });
  assert.equal(p.status, 200, p.text);
  const version = p.json.properties.desired.$version;
  const rep = await eventually(async () => {
    const r = await reported(id);
    return r.config?.applied === version ? r : null;
  }, 10000, 'config.applied');
  assert.equal(rep.config.status, 'ok');
  assert.equal(rep.telemetryInterval, 30);
  assert.equal(rep.mode, 'eco');
});

test('reboot answers 200, the device goes away and comes back, reporting the reboot', async () => {
  const id = ids[1];
  const r = await invoke(id, 'reboot');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 200);
  assert.equal(r.json.payload.status, 'rebooting');
  const rep = await eventually(async () => {
    const x = await reported(id);
    return x.reboot?.status === 'done' ? x : null;
  }, 10000, 'reboot done');
  assert.match(rep.reboot.lastReboot, /^\d{4}-\d\d-\d\dT/);
  await eventually(async () => (await hub.req('GET', `/devices/${id}`)).json.connectionState === 'Connected', 10000,
    'reconnected after reboot');
});

test('firmwareUpdate downloads and verifies the package, then reboots into the new version', async () => {
  const id = ids[2];
  const r = await invoke(id, 'firmwareUpdate', { url: `${filesUrl}/fw-2.0.0.bin`, sha256: firmwareSha, version: '2.0.0' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 200, JSON.stringify(r.json));
  const rep = await eventually(async () => {
    const x = await reported(id);
    return x.firmware?.status === 'current' && x.firmware.version === '2.0.0' ? x : null;
  }, 15000, 'firmware current 2.0.0');
  assert.equal(rep.firmware.progress, 100);
});

test('firmwareUpdate with a wrong sha256 reports error and answers 400', async () => {
  const id = ids[3];
  const r = await invoke(id, 'firmwareUpdate', { url: `${filesUrl}/fw-2.0.0.bin`, sha256: 'ab'.repeat(32), version: '2.0.0' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 400, JSON.stringify(r.json));
  assert.match(r.json.payload.reason, /sha256 mismatch/);
  const rep = await eventually(async () => {
    const x = await reported(id);
    return x.firmware?.status === 'error' ? x : null;
  }, 10000, 'firmware error');
  assert.match(rep.firmware.reason, /sha256 mismatch/);
  assert.equal(rep.firmware.version, '1.0.0', 'the installed version did not change');
});

test('firmwareUpdate whose package cannot be downloaded reports error', async () => {
  const r = await invoke(ids[5], 'firmwareUpdate', { url: `${filesUrl}/missing.bin`, sha256: firmwareSha, version: '2.0.0' });
  assert.equal(r.json.status, 400, JSON.stringify(r.json));
  assert.match(r.json.payload.reason, /HTTP 404/);
});

test('an unknown method answers 501, a malformed firmwareUpdate 400', async () => {
  const r = await invoke(ids[6], 'selfDestruct', { now: true });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 501);
  const bad = await invoke(ids[6], 'firmwareUpdate', { url: 'ftp://x', sha256: 'zz', version: '' });
  assert.equal(bad.json.status, 400);
});

test('SIGINT closes every connection and exits 0 with a final summary', async () => {
  // The live summary line shows the fleet back at full strength after the reboots above.
  await eventually(() => /connected 20\/20 [^\n]*\n$/.test(sim.output), 10000, 'a summary line with 20/20 connected');
  sim.proc.kill('SIGINT');
  const { code, signal } = await sim.exited;
  assert.equal(signal, null, sim.output);
  assert.equal(code, 0, sim.output);
  assert.match(sim.output, /final .*connected 0\/20/);
  assertNoSanitizerReport(sim.output);
  await eventually(async () => (await connectedCount()) === 0, 10000, 'all Disconnected');
});

test('without --create the simulator reads existing keys; devices keep their firmware', async () => {
  const s = startSim(['--count', '3', '--prefix', 'sim-', '--duration', '3']);
  const { code } = await s.exited;
  assert.equal(code, 0, s.output);
  assert.match(s.output, /connected 3\/3/);
  assert.equal((await reported(ids[2])).firmware.version, '2.0.0');
  assertNoSanitizerReport(s.output);
});

test('failure injection: --fail-rate answers 500 after --latency-ms; --drop-rate reconnects', async () => {
  const s = startSim(['--create', '--count', '4', '--prefix', 'flaky-', '--fail-rate', '1', '--latency-ms', '300',
    '--drop-rate', '0.4', '--duration', '6']);
  try {
    await eventually(async () => (await connectedCount('flaky-')) > 0, 10000, 'a flaky device connected');
    const id = await eventually(async () => {
      for (const i of [1, 2, 3, 4]) {
        const d = `flaky-${String(i).padStart(5, '0')}`;
        if ((await hub.req('GET', `/devices/${d}`)).json.connectionState === 'Connected') return d;
      }
      return null;
    }, 5000, 'a connected flaky device');
    const t0 = Date.now();
    const r = await invoke(id, 'reboot', null, 5);
    // The device may drop mid-call (--drop-rate): then the hub answers 504/404 and that is fine too.
    if (r.status === 200) {
      assert.equal(r.json.status, 500);
      assert.ok(Date.now() - t0 >= 290, 'answered after the injected latency');
    }
    const { code } = await s.exited;
    assert.equal(code, 0, s.output);
    const m = s.output.match(/final .* reconnects (\d+)\s+drops (\d+)/);
    assert.ok(m, s.output);
    assert.ok(Number(m[2]) > 0, `no drops: ${m[0]}`);
    assert.ok(Number(m[1]) > 0, `no reconnects: ${m[0]}`);
    assertNoSanitizerReport(s.output);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
});
