// IoT Hub's two Node SDKs against one devicehubd, end to end: the service SDK (azure-iothub) invokes a
// direct method and patches desired properties, and the device SDK (azure-iot-device + azure-iot-device-mqtt,
// over both Mqtt and MqttWs) answers the method through onDeviceMethod and receives the patch through the
// twin's 'properties.desired' event. Nothing in between is raw REST.
//
// Both SDKs hard-code their ports (HTTPS 443 for the service SDK; 8883 for Mqtt and 443 for MqttWs), so the
// hub listens for REST on 127.0.0.5:443 and for devices on 127.0.0.4:443 (devicehub.v1 and MQTT over
// WebSocket) and 127.0.0.4:8883 (MQTT over TLS), as root. One certificate, for hub.devicehub.test and both
// addresses, signed by a test CA, serves all three. Each SDK runs in a child process of its own that
// trusts the CA (NODE_EXTRA_CA_CERTS) and resolves hub.devicehub.test through lib/resolve-preload.mjs
// (DH_TEST_HOSTS, set per child): the service SDK's child to 127.0.0.5, the device SDK's to 127.0.0.4.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { deviceSdkProcess } from './lib/device-sdk.mjs';
import { sdkProcess } from './lib/sdk.mjs';
import { startHub } from './lib/hub.mjs';

const HOST = 'hub.devicehub.test';
const REST_ADDR = '127.0.0.5';
const DEVICE_ADDR = '127.0.0.4';
const dir = mkdtempSync(join(tmpdir(), 'devicehub-e2e-'));
const file = (name) => join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

let hub;
let service; // service(fn, ...args): fn({registry, client, jobClient, iothub}, ...args) in the service SDK child
let device; // device(fn, ...args): fn({Client, Message, transports, state, emit}, ...args) in the device SDK child

before(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error('23-sdk-end-to-end must run as root: the SDKs only connect to ports 443 and 8883 '
      + '(run the suite as root, as CI does)');
  }
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
    '-subj', '/CN=devicehub end-to-end test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'server.csr', '-subj', `/CN=${HOST}`);
  writeFileSync(file('server.ext'), `subjectAltName=DNS:${HOST},IP:${REST_ADDR},IP:${DEVICE_ADDR}\n`);
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'cert.pem', '-days', '2', '-extfile', 'server.ext');

  hub = await startHub({ addr: REST_ADDR, port: 443, hostname: HOST,
    tls: { cert: file('cert.pem'), key: file('key.pem'), ca: readFileSync(file('ca.pem')) },
    args: ['--device-addr', DEVICE_ADDR, '--device-port', '443', '--mqtt-port', '8883'] });
  service = await sdkProcess({
    connectionString: `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${hub.ownerKey}`,
    hosts: { [HOST]: REST_ADDR }, caFile: file('ca.pem'),
  });
  device = await deviceSdkProcess({ hosts: { [HOST]: DEVICE_ADDR }, caFile: file('ca.pem') });
});

after(async () => {
  await device?.close();
  await service?.close();
  await hub?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

for (const transport of ['Mqtt', 'MqttWs']) {
  test(`${transport}: a method invoked through the service SDK is answered by onDeviceMethod, and a desired `
    + 'patch made with Registry.updateTwin reaches the device SDK', async () => {
    const id = `e2e-${transport.toLowerCase()}`;

    // The device, created with the service SDK; its key comes back from the registry.
    const key = await service(async ({ registry }, id) => {
      await registry.create({ deviceId: id });
      return (await registry.get(id)).responseBody.authentication.symmetricKey.primaryKey;
    }, id);
    assert.equal(Buffer.from(key, 'base64').length, 32);

    // The device SDK connects over the transport, answers 'reboot' and listens for desired patches.
    const desired = await device(async (ctx, id, cs, transport) => {
      const client = ctx.Client.fromConnectionString(cs, ctx.transports[transport]);
      client.on('error', () => {});
      ctx.state[id] = client;
      await client.open();
      client.onDeviceMethod('reboot', (request, response) => {
        ctx.emit(`${id}.method`, { name: request.methodName, payload: request.payload });
        response.send(200, { rebooted: true, echo: request.payload }, () => {});
      });
      const twin = await client.getTwin();
      twin.on('properties.desired', (patch) => ctx.emit(`${id}.desired`, patch));
      return twin.properties.desired;
    }, id, `HostName=${HOST};DeviceId=${id};SharedAccessKey=${key}`, transport);
    assert.equal(typeof desired.$version, 'number');

    // The service SDK sees the device connected.
    const state = await service(async ({ registry }, id) => (await registry.getTwin(id)).responseBody.connectionState, id);
    assert.equal(state, 'Connected');

    // A direct method through Client.invokeDeviceMethod, answered by the device SDK.
    const invoked = await service(async ({ client }, id) => {
      const res = await client.invokeDeviceMethod(id,
        { methodName: 'reboot', payload: { delay: 3, reason: 'e2e' }, responseTimeoutInSeconds: 10 });
      return { result: res.result, httpStatus: res.message.statusCode };
    }, id);
    assert.deepEqual(invoked, {
      result: { status: 200, payload: { rebooted: true, echo: { delay: 3, reason: 'e2e' } } },
      httpStatus: 200,
    });
    assert.deepEqual(await device.waitEvent(`${id}.method`), { name: 'reboot', payload: { delay: 3, reason: 'e2e' } });

    // A desired patch through Registry.updateTwin, pushed to the device SDK's twin.
    const patched = await service(async ({ registry }, id) => (await registry.updateTwin(id,
      { properties: { desired: { interval: 30, mode: { name: 'eco' } } } }, '*')).responseBody, id);
    assert.equal(patched.properties.desired.interval, 30);
    const pushed = await device.waitEvent(`${id}.desired`, (p) => p.interval === 30);
    assert.deepEqual(pushed.mode, { name: 'eco' });
    assert.equal(pushed.$version, patched.properties.desired.$version);

    await device(async (ctx, id) => {
      await ctx.state[id].close();
      delete ctx.state[id];
      return true;
    }, id);
    const end = Date.now() + 3000;
    for (;;) {
      const s = await service(async ({ registry }, id) => (await registry.getTwin(id)).responseBody.connectionState, id);
      if (s === 'Disconnected') break;
      if (Date.now() > end) assert.fail(`the twin still shows ${s} after the device SDK closed`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
}
