// IoT Hub's device-side MQTT (docs/mqtt.md) driven by IoT Hub's own Node device SDK (azure-iot-device
// 1.18.4 + azure-iot-device-mqtt 1.16.4) with both transports: Mqtt (mqtts://HostName, port 8883) and
// MqttWs (wss://HostName:443/$iothub/websocket). The SDK hard-codes those ports, so the hub listens on
// 127.0.0.4:8883 (MQTT over TLS) and 127.0.0.4:443 (the device port: devicehub.v1 and MQTT over
// WebSocket), with a certificate for hub.devicehub.test signed by a test CA; the SDK runs in a child
// process that resolves that name to 127.0.0.4 and trusts the CA through NODE_EXTRA_CA_CERTS.
// Also: the shared session layer (a devicehub.v1 device and an MQTT device both answer methods), and
// malformed packets closing only their own connection.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { connectDevice, deviceToken } from './lib/device.mjs';
import { deviceSdkProcess } from './lib/device-sdk.mjs';
import { sdkDevice, startHub } from './lib/hub.mjs';

const HOST = 'hub.devicehub.test';
const ADDR = '127.0.0.4';
const dir = mkdtempSync(join(tmpdir(), 'devicehub-mqtt-'));
const file = (name) => join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
  '-subj', '/CN=devicehub mqtt test CA');
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'server.csr', '-subj', `/CN=${HOST}`);
writeFileSync(file('server.ext'), `subjectAltName=DNS:${HOST},IP:${ADDR}\n`);
openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
  '-out', 'cert.pem', '-days', '2', '-extfile', 'server.ext');
const ca = readFileSync(file('ca.pem'));

let hub;
let sdk;
before(async () => {
  hub = await startHub({ addr: ADDR, port: 8443, hostname: HOST,
    tls: { cert: file('cert.pem'), key: file('key.pem'), ca },
    args: ['--device-addr', ADDR, '--device-port', '443', '--mqtt-port', '8883'] });
  hub.deviceUrl = `wss://${ADDR}:443`;
  sdk = await deviceSdkProcess({ hosts: { [HOST]: ADDR }, caFile: file('ca.pem') });
});
after(async () => {
  await sdk?.close();
  await hub?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function newDevice(id) {
  const r = await hub.req('PUT', `/devices/${encodeURIComponent(id)}`, sdkDevice(id));
  assert.equal(r.status, 200, r.text);
  return r.json.authentication.symmetricKey.primaryKey;
}

async function waitFor(fn, what, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// In the SDK process: opens a client for cs over transport, kept as state[name].
function openClient(name, cs, transport) {
  return sdk(async (ctx, name, cs, transport) => {
    const client = ctx.Client.fromConnectionString(cs, ctx.transports[transport]);
    client.on('error', () => {});
    ctx.state[name] = client;
    await client.open();
    return true;
  }, name, cs, transport);
}

function closeClient(name) {
  return sdk(async (ctx, name) => {
    await ctx.state[name]?.close();
    delete ctx.state[name];
    return true;
  }, name);
}

for (const transport of ['Mqtt', 'MqttWs']) {
  test(`${transport}: open, getTwin, reported and desired properties, a direct method, sendEvent`, async () => {
    const id = `sdk-${transport.toLowerCase()}`;
    const key = await newDevice(id);
    await hub.req('PATCH', `/twins/${id}`, { properties: { desired: { interval: 5 } } });
    await openClient(id, `HostName=${HOST};DeviceId=${id};SharedAccessKey=${key}`, transport);
    const twin0 = await hub.req('GET', `/twins/${id}`);
    assert.equal(twin0.json.connectionState, 'Connected');

    // getTwin: desired as set through REST, with $version.
    const desired = await sdk(async (ctx, id) => {
      const twin = await ctx.state[id].getTwin();
      ctx.state[`${id}.twin`] = twin;
      twin.on('properties.desired', (patch) => ctx.emit(`${id}.desired`, patch));
      return twin.properties.desired;
    }, id);
    assert.equal(desired.interval, 5);
    assert.equal(typeof desired.$version, 'number');

    // Reported patch, visible through REST.
    await sdk((ctx, id) => new Promise((resolve, reject) => {
      ctx.state[`${id}.twin`].properties.reported.update({ firmware: '1.2.3', battery: { level: 80 } },
        (err) => (err ? reject(err) : resolve(true)));
    }), id);
    const twin1 = await hub.req('GET', `/twins/${id}`);
    assert.equal(twin1.json.properties.reported.firmware, '1.2.3');
    assert.equal(twin1.json.properties.reported.battery.level, 80);

    // A bad reported patch fails in the SDK (the hub answers with an errorCode body).
    await assert.rejects(sdk((ctx, id) => new Promise((resolve, reject) => {
      ctx.state[`${id}.twin`].properties.reported.update({ 'bad key': 1, $nope: 2 },
        (err) => (err ? reject(err) : resolve(true)));
    }), id));

    // A desired patch through REST reaches the device.
    const r = await hub.req('PATCH', `/twins/${id}`, { properties: { desired: { color: 'red' } } });
    assert.equal(r.status, 200, r.text);
    const pushed = await sdk.waitEvent(`${id}.desired`, (p) => p.color === 'red');
    assert.equal(pushed.$version, r.json.properties.desired.$version);

    // A direct method invoked through REST, answered by onDeviceMethod.
    await sdk(async (ctx, id) => {
      ctx.state[id].onDeviceMethod('reboot', (request, response) => {
        ctx.emit(`${id}.method`, { name: request.methodName, payload: request.payload });
        response.send(200, { rebooted: true, echo: request.payload }, () => {});
      });
      return true;
    }, id);
    const m = await hub.req('POST', `/twins/${id}/methods`,
      { methodName: 'reboot', payload: { delay: 3 }, responseTimeoutInSeconds: 10 });
    assert.equal(m.status, 200, m.text);
    assert.deepEqual(m.json, { status: 200, payload: { rebooted: true, echo: { delay: 3 } } });
    assert.deepEqual(await sdk.waitEvent(`${id}.method`), { name: 'reboot', payload: { delay: 3 } });

    // sendEvent: accepted (PUBACK), counted and kept with its properties.
    await sdk(async (ctx, id) => {
      const msg = new ctx.Message(JSON.stringify({ temperature: 21.5 }));
      msg.messageId = 'mid-1';
      msg.contentType = 'application/json';
      msg.contentEncoding = 'utf-8';
      msg.properties.add('alert', 'high temp');
      await ctx.state[id].sendEvent(msg);
      return true;
    }, id);
    const msgs = await hub.req('GET', `/devicehub/devices/${id}/messages`);
    assert.equal(msgs.status, 200, msgs.text);
    const last = msgs.json.at(-1);
    assert.equal(last.properties['$.mid'], 'mid-1');
    assert.equal(last.properties['$.ct'], 'application/json');
    assert.equal(last.properties.alert, 'high temp');
    assert.equal(last.bodyEncoding, 'utf-8');
    assert.deepEqual(JSON.parse(last.body), { temperature: 21.5 });
    assert.match(last.enqueuedTime, /^\d{4}-\d\d-\d\dT/);

    await closeClient(id);
    await waitFor(async () => (await hub.req('GET', `/twins/${id}`)).json.connectionState === 'Disconnected',
      'the twin to show Disconnected');
  });

  test(`${transport}: an expired SAS token and a wrong key are refused with UnauthorizedError`, async () => {
    const id = `sdk-refused-${transport.toLowerCase()}`;
    const key = await newDevice(id);
    const expired = deviceToken(id, key, { ttl: -60, hostname: HOST });
    await assert.rejects(openClient(`${id}-exp`, `HostName=${HOST};DeviceId=${id};SharedAccessSignature=${expired}`,
      transport), (e) => e.sdk?.name === 'UnauthorizedError' || e.sdk?.constructor === 'UnauthorizedError');
    const wrong = randomBytes(32).toString('base64');
    await assert.rejects(openClient(`${id}-wrong`, `HostName=${HOST};DeviceId=${id};SharedAccessKey=${wrong}`,
      transport), (e) => e.sdk?.name === 'UnauthorizedError' || e.sdk?.constructor === 'UnauthorizedError');
    assert.equal((await hub.req('GET', `/twins/${id}`)).json.connectionState, 'Disconnected');
  });
}

test('one session layer: a devicehub.v1 device and an MQTT device both receive a method', async () => {
  const wsKey = await newDevice('shared-ws');
  const mqttKey = await newDevice('shared-mqtt');
  const c = await connectDevice(hub, 'shared-ws', { token: deviceToken('shared-ws', wsKey, { hostname: HOST }) });
  assert.ok(c.device, JSON.stringify(c));
  await openClient('shared-mqtt', `HostName=${HOST};DeviceId=shared-mqtt;SharedAccessKey=${mqttKey}`, 'Mqtt');
  await sdk(async (ctx) => {
    ctx.state['shared-mqtt'].onDeviceMethod('ping', (request, response) => response.send(201, { via: 'mqtt' }, () => {}));
    return true;
  });
  const toMqtt = hub.req('POST', '/twins/shared-mqtt/methods', { methodName: 'ping', payload: null, responseTimeoutInSeconds: 10 });
  const toWs = hub.req('POST', '/twins/shared-ws/methods', { methodName: 'ping', payload: null, responseTimeoutInSeconds: 10 });
  const req = await c.device.next((m) => m.type === 'method.request');
  c.device.send({ type: 'method.response', rid: req.rid, status: 202, payload: { via: 'ws' } });
  assert.deepEqual((await toWs).json, { status: 202, payload: { via: 'ws' } });
  assert.deepEqual((await toMqtt).json, { status: 201, payload: { via: 'mqtt' } });

  await closeClient('shared-mqtt');
  await c.device.close();
});

// A raw TLS connection to the MQTT port: resolves with what came back when the server closed it.
function rawMqtt(bytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const s = tlsConnect({ host: ADDR, port: 8883, servername: HOST, ca }, () => s.write(Buffer.from(bytes)));
    const timer = setTimeout(() => { s.destroy(); reject(new Error('the server kept the connection open')); }, 5000);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
  });
}

const str = (s) => [s.length >> 8, s.length & 255, ...Buffer.from(s)];

// A CONNECT packet for deviceId with password pw (IoT Hub's user name and client id).
function connectPacket(deviceId, pw) {
  const user = `${HOST}/${deviceId}/?api-version=2021-04-12`;
  const body = [...str('MQTT'), 4, 0xc2, 0, 60, ...str(deviceId), ...str(user), ...str(pw)];
  const len = body.length < 128 ? [body.length] : [(body.length & 127) | 128, body.length >> 7];
  return [0x10, ...len, ...body];
}

// A raw TLS MQTT connection kept open: {data (chunks so far), closed (promise), socket}.
function rawOpen(bytes) {
  const conn = { data: [] };
  conn.socket = tlsConnect({ host: ADDR, port: 8883, servername: HOST, ca }, () => conn.socket.write(Buffer.from(bytes)));
  conn.socket.on('data', (d) => conn.data.push(d));
  conn.socket.on('error', () => {});
  conn.closed = new Promise((resolve) => conn.socket.on('close', resolve));
  return conn;
}

test('a second connection of the same identity evicts the first', async () => {
  const key = await newDevice('evict-me');
  const token = deviceToken('evict-me', key, { hostname: HOST });
  const first = rawOpen(connectPacket('evict-me', token));
  await waitFor(() => Buffer.concat(first.data).length >= 4, 'the first CONNACK');
  assert.deepEqual([...Buffer.concat(first.data)], [0x20, 2, 0, 0]);
  const second = rawOpen(connectPacket('evict-me', token));
  await first.closed;
  assert.deepEqual([...Buffer.concat(second.data)], [0x20, 2, 0, 0]);
  assert.equal((await hub.req('GET', '/twins/evict-me')).json.connectionState, 'Connected');
  second.socket.end(Buffer.from([0xe0, 0])); // DISCONNECT
  await second.closed;
  await waitFor(async () => (await hub.req('GET', '/twins/evict-me')).json.connectionState === 'Disconnected',
    'Disconnected after DISCONNECT');
});

test('malformed MQTT packets close that connection and nothing else', async () => {
  const key = await newDevice('sdk-survivor');
  await openClient('sdk-survivor', `HostName=${HOST};DeviceId=sdk-survivor;SharedAccessKey=${key}`, 'Mqtt');
  const bad = [
    [0xf0, 0x00],                                 // reserved packet type 15
    [0x10, 0xff, 0xff, 0xff, 0xff, 0x7f],         // remaining length longer than 4 bytes
    [0x10, 0xff, 0xff, 0xff, 0x7f],               // 268 MB announced
    [0x30, 0x02, 0x00, 0x00],                     // PUBLISH before CONNECT
    [0x10, 0x04, 0x00, 0x04, 0x4d, 0x51],         // CONNECT cut short
    [0x82, 0x02, 0x00, 0x01],                     // SUBSCRIBE before CONNECT, no filter
  ];
  for (const bytes of bad) assert.equal((await rawMqtt(bytes)).length, 0, `no answer to ${bytes}`);
  // A CONNECT with a wrong password: CONNACK 5, then the close.
  const connack = await rawMqtt(connectPacket('sdk-survivor', 'SharedAccessSignature sr=x&sig=y&se=1'));
  assert.deepEqual([...connack], [0x20, 0x02, 0x00, 0x05]);

  // The SDK device connected before is still served.
  const twin = await sdk(async (ctx) => (await ctx.state['sdk-survivor'].getTwin()).properties.reported, 'x');
  assert.equal(typeof twin.$version, 'number');
  await closeClient('sdk-survivor');
  const metrics = await hub.req('GET', '/metrics');
  assert.match(metrics.text, /devicehub_device_telemetry_messages_total \d+/);
});
