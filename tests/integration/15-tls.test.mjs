// TLS (docs/tls.md): HTTPS for the REST API with HSTS, the plain-HTTP redirect port, WSS for devices with
// SAS tokens or X.509 client certificates matched by thumbprint, certificate reload on SIGHUP (on the REST,
// WSS and MQTT ports), and a refused start when the key does not belong to the certificate. Certificates
// are made with the openssl CLI in a temporary directory: a test CA signs the server certificates, device
// certificates are self-signed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, freePort, sdkDevice, startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

const dir = mkdtempSync(join(tmpdir(), 'devicehub-tls-'));
const file = (name) => join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

// A server certificate for 127.0.0.1 and localhost, signed by the test CA.
function serverCert(name) {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost');
  writeFileSync(file(`${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}

// A self-signed device certificate (EC P-256). Returns its PEM texts and thumbprints as IoT Hub shows them.
function deviceCert(name) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  const cert = readFileSync(file(`${name}.pem`));
  const x = new X509Certificate(cert);
  return {
    cert, key: readFileSync(file(`${name}.key`)),
    sha1: x.fingerprint.replaceAll(':', ''), sha256: x.fingerprint256.replaceAll(':', ''),
  };
}

openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
  '-subj', '/CN=devicehub test CA');
serverCert('server1');
serverCert('server2');
copyFileSync(file('server1.pem'), file('cert.pem'));
copyFileSync(file('server1.key'), file('key.pem'));
const ca = readFileSync(file('ca.pem'));
const dev1 = deviceCert('dev1');
const dev2 = deviceCert('dev2');
const stranger = deviceCert('stranger');

let hub;
let redirectPort;
let mqttPort; // IoT Hub's MQTT over TLS (docs/mqtt.md): its own listener, reloaded with the others
before(async () => {
  redirectPort = await freePort();
  mqttPort = await freePort();
  hub = await startHub({ tls: { cert: file('cert.pem'), key: file('key.pem'), ca },
    args: ['--http-redirect-port', String(redirectPort), '--mqtt-port', String(mqttPort)] });
});
after(async () => {
  await hub?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

// The SHA-256 fingerprint of the certificate a fresh TLS connection to port sees.
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, session: undefined }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}
const fingerprintOf = (path) => new X509Certificate(readFileSync(path)).fingerprint256;
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

async function newDevice(id, extra) {
  const r = await hub.req('PUT', `/devices/${encodeURIComponent(id)}`, sdkDevice(id, extra));
  assert.equal(r.status, 200, r.text);
  return r.json;
}
const x509Auth = (primaryThumbprint, secondaryThumbprint = null) =>
  ({ authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint, secondaryThumbprint } } });

test('the REST API answers over HTTPS with a SAS token, and every answer carries HSTS', async () => {
  assert.match(hub.base, /^https:/);
  const created = await hub.req('PUT', '/devices/tls-rest', sdkDevice('tls-rest'));
  assert.equal(created.status, 200, created.text);
  assert.equal(created.headers.get('strict-transport-security'), 'max-age=31536000');
  const missing = await hub.req('GET', '/devices/no-such-device');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('strict-transport-security'), 'max-age=31536000');
  const unauth = await hub.req('GET', '/devices/tls-rest', undefined, { auth: null });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.headers.get('strict-transport-security'), 'max-age=31536000');
});

test('plain HTTP on the TLS port gets no answer', async () => {
  await assert.rejects(fetch(`http://127.0.0.1:${hub.port}/healthz`));
});

test('the redirect port answers 308 to the same path and query on https://', async () => {
  const r = await fetch(`http://127.0.0.1:${redirectPort}/devices/a%2Fb?api-version=2021-04-12&top=5`,
    { redirect: 'manual' });
  assert.equal(r.status, 308);
  assert.equal(r.headers.get('location'), `https://127.0.0.1:${hub.port}/devices/a%2Fb?api-version=2021-04-12&top=5`);
  assert.equal(r.headers.get('strict-transport-security'), null);
  // The Host the client used names the https:// URL (fetch cannot set Host: node:http can).
  const post = await new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: redirectPort, method: 'POST', path: '/devices/query',
      headers: { Host: 'hub.example:80', 'Content-Type': 'application/json' } }, (res) => { res.resume(); resolve(res); });
    req.on('error', reject);
    req.end('{}');
  });
  assert.equal(post.statusCode, 308);
  assert.equal(post.headers.location, `https://hub.example:${hub.port}/devices/query`);
});

test('a device connects over WSS with a SAS token', async () => {
  const dev = await newDevice('tls-sas');
  const c = await connectDevice(hub, 'tls-sas', { token: deviceToken('tls-sas', dev.authentication.symmetricKey.primaryKey) });
  assert.ok(c.device, JSON.stringify(c));
  assert.equal(c.hello.deviceId, 'tls-sas');
  const twin = await c.device.request({ type: 'twin.get', rid: 'g1' });
  assert.equal(twin.status, 200, JSON.stringify(twin));
  await c.device.close();
  // Plain WebSocket on the WSS port fails.
  const plain = await connectDevice({ deviceUrl: `ws://127.0.0.1:${hub.devicePort}` }, 'tls-sas',
    { token: deviceToken('tls-sas', dev.authentication.symmetricKey.primaryKey) });
  assert.ok(!plain.device, JSON.stringify(plain));
});

test('an X.509 device connects with a client certificate matching its SHA-1 or SHA-256 thumbprint', async () => {
  await newDevice('tls-x509-sha1', x509Auth(dev1.sha1));
  const a = await connectDevice(hub, 'tls-x509-sha1', { cert: dev1.cert, key: dev1.key });
  assert.ok(a.device, JSON.stringify(a));
  assert.equal(a.hello.deviceId, 'tls-x509-sha1');
  const twin = await a.device.request({ type: 'twin.get', rid: 'x1' });
  assert.equal(twin.status, 200, JSON.stringify(twin));
  await a.device.close();

  // Thumbprints compare ignoring case; the secondary one counts too.
  await newDevice('tls-x509-sha256', x509Auth(stranger.sha1, dev2.sha256.toLowerCase()));
  const b = await connectDevice(hub, 'tls-x509-sha256', { cert: dev2.cert, key: dev2.key });
  assert.ok(b.device, JSON.stringify(b));
  await b.device.close();
});

test('a certificate that matches no thumbprint of the identity is refused with 401', async () => {
  await newDevice('tls-x509-wrong', x509Auth(dev1.sha1));
  assert.equal((await connectDevice(hub, 'tls-x509-wrong', { cert: stranger.cert, key: stranger.key })).status, 401);
  // No certificate and no token.
  assert.equal((await connectDevice(hub, 'tls-x509-wrong')).status, 401);
  // A SAS identity does not accept certificates; an unknown identity neither.
  assert.equal((await connectDevice(hub, 'tls-rest', { cert: dev1.cert, key: dev1.key })).status, 401);
  assert.equal((await connectDevice(hub, 'tls-nobody', { cert: dev1.cert, key: dev1.key })).status, 401);
  // A disabled X.509 device is refused.
  await newDevice('tls-x509-off', { ...x509Auth(dev2.sha1), status: 'disabled' });
  assert.equal((await connectDevice(hub, 'tls-x509-off', { cert: dev2.cert, key: dev2.key })).status, 401);
});

test('SIGHUP reloads the certificate: new connections see the new one, the server and open sessions go on', async () => {
  const ports = [hub.port, hub.devicePort, mqttPort]; // REST, devicehub.v1 WebSocket, MQTT
  const served = () => Promise.all(ports.map(servedFingerprint));
  const before1 = fingerprintOf(file('server1.pem'));
  assert.deepEqual(await served(), [before1, before1, before1]);
  await newDevice('tls-reload', x509Auth(dev1.sha256));
  const open = await connectDevice(hub, 'tls-reload', { cert: dev1.cert, key: dev1.key });
  assert.ok(open.device, JSON.stringify(open));

  copyFileSync(file('server2.pem'), file('cert.pem'));
  copyFileSync(file('server2.key'), file('key.pem'));
  hub.proc.kill('SIGHUP');
  const after2 = fingerprintOf(file('server2.pem'));
  for (let i = 0; i < 100; i++) {
    if ((await served()).every((fp) => fp === after2)) break;
    await delay(50);
  }
  assert.deepEqual(await served(), [after2, after2, after2]);
  assert.equal(hub.proc.exitCode, null);

  // The session opened before the reload still works; REST and new devices work with the new certificate.
  const twin = await open.device.request({ type: 'twin.get', rid: 'r1' });
  assert.equal(twin.status, 200, JSON.stringify(twin));
  assert.equal((await hub.req('GET', '/devices/tls-reload')).status, 200);
  const again = await connectDevice(hub, 'tls-x509-sha1', { cert: dev1.cert, key: dev1.key });
  assert.ok(again.device, JSON.stringify(again));
  await again.device.close();
  await open.device.close();

  // A reload with a key that does not belong to the certificate changes nothing.
  copyFileSync(file('server1.key'), file('key.pem'));
  hub.proc.kill('SIGHUP');
  await delay(300);
  assert.match(hub.output, /SIGHUP: .*does not belong to the certificate/);
  assert.deepEqual(await served(), [after2, after2, after2]);
  assert.equal((await hub.req('GET', '/devices/tls-reload')).status, 200);
});

test('a key that does not belong to the certificate stops the start with a clear error and exit status 1', async () => {
  const data = mkdtempSync(join(tmpdir(), 'devicehub-tls-bad-'));
  try {
    const p = spawn(BIN, ['--data-dir', data, '--http-addr', '127.0.0.1', '--http-port', String(await freePort()),
      '--device-addr', '127.0.0.1', '--device-port', String(await freePort()),
      '--tls-cert', file('server1.pem'), '--tls-key', file('server2.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => p.on('close', resolve));
    assert.equal(code, 1, out);
    assert.match(out, /cannot start: tls-cert .*server1\.pem \/ tls-key .*server2\.key: the private key does not belong to the certificate/);
    assert.doesNotMatch(out, /Sanitizer|runtime error/);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('SIGHUP reloads the log level from the settings file', async () => {
  const conf = file('devicehub.conf');
  writeFileSync(conf, 'log-level = info\n');
  const plain = await startHub({ args: ['--config', conf] });
  try {
    await plain.req('GET', '/devices/not-there-1');
    assert.doesNotMatch(plain.output, /debug .*not-there-1/);
    writeFileSync(conf, 'log-level = debug\n');
    plain.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && !/settings reloaded \(log level debug\)/.test(plain.output); i++) await delay(20);
    await plain.req('GET', '/devices/not-there-2');
    await delay(100);
    assert.match(plain.output, /debug .*not-there-2/);
    assert.equal(plain.proc.exitCode, null);
  } finally {
    await plain.destroy();
  }
});
