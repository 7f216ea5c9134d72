// Starts a real devicehubd on a free loopback port with a temporary data directory, and gives tests a
// signed REST client. Each test file starts its own server and stops it in after().
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = process.env.DEVICEHUB_BIN || new URL('../../../build/devicehubd', import.meta.url).pathname;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function parseConnectionString(cs) {
  return Object.fromEntries(cs.split(';').map((kv) => {
    const i = kv.indexOf('=');
    return [kv.slice(0, i), kv.slice(i + 1)];
  }));
}

// IoT Hub's SAS: sig = base64(HMAC-SHA256(base64decode(key), sr + "\n" + se)).
export function sasToken(resource, keyB64, policy, ttl = 3600) {
  const se = Math.ceil(Date.now() / 1000) + ttl;
  const sig = createHmac('sha256', Buffer.from(keyB64, 'base64')).update(`${resource}\n${se}`).digest('base64');
  let t = `SharedAccessSignature sr=${resource}&sig=${encodeURIComponent(sig)}&se=${se}`;
  if (policy) t += `&skn=${policy}`;
  return t;
}

export class Hub {
  // tls: { cert, key, ca } starts the hub with --tls-cert/--tls-key (file paths) and makes the REST
  // client (undici, trusting ca) speak HTTPS and devices WSS.
  // addr: the REST listener's loopback address; hostname: the hub's --hostname (the SAS resource).
  // adminPassword: the first admin account's password, passed as --admin-password (null: not passed,
  // so the hub makes a random one and prints it).
  constructor({ dataDir, port, devicePort, args = [], keepData = false, tls, addr = '127.0.0.1',
    hostname = 'testhub.local', adminPassword = 'admin-password-for-tests' } = {}) {
    this.adminPassword = adminPassword;
    this.dataDir = dataDir || mkdtempSync(join(tmpdir(), 'devicehub-test-'));
    this.addr = addr;
    this.hostname = hostname;
    this.ownsData = !dataDir && !keepData;
    this.port = port;
    this.devicePort = devicePort;
    this.args = args;
    this.tls = tls;
    this.output = '';
  }

  // fetch against this hub: Node's own for plain HTTP, undici with the test CA for HTTPS.
  async fetch(url, opts = {}) {
    if (!this.tls) return fetch(url, opts);
    if (!this.tlsFetch) {
      const { Agent, fetch: undiciFetch } = await import('undici');
      const dispatcher = new Agent({ connect: { ca: this.tls.ca } });
      this.tlsFetch = (u, o) => undiciFetch(u, { ...o, dispatcher });
    }
    return this.tlsFetch(url, opts);
  }

  async start() {
    this.port ||= await freePort();
    // The device channel (WebSocket) listens on loopback too, on its own free port: test files run in
    // parallel and must not meet on the default 8081.
    this.devicePort ||= await freePort();
    this.proc = spawn(BIN, ['--data-dir', this.dataDir, '--http-addr', this.addr, '--http-port', String(this.port),
      '--device-addr', '127.0.0.1', '--device-port', String(this.devicePort), '--mqtt-port', '0',
      '--hostname', this.hostname,
      ...(this.tls ? ['--tls-cert', this.tls.cert, '--tls-key', this.tls.key] : []),
      ...(this.adminPassword != null ? ['--admin-password', this.adminPassword] : []), ...this.args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.output += d; });
    this.proc.stderr.on('data', (d) => { this.output += d; });
    // 'close' rather than 'exit': it fires after the output pipes drained, so sanitizer reports are in.
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve({ code, signal })));
    this.base = `${this.tls ? 'https' : 'http'}://${this.addr}:${this.port}`;
    this.deviceUrl = `${this.tls ? 'wss' : 'ws'}://127.0.0.1:${this.devicePort}`;
    // /readyz, not /healthz: the REST port answers before the device and redirect listeners are up, and a
    // test that connects a device at once must not race them.
    for (let i = 0; ; i++) {
      if (this.proc.exitCode !== null) throw new Error(`devicehubd exited: ${this.output}`);
      try {
        const r = await this.fetch(`${this.base}/readyz`);
        if (r.status === 200) break;
      } catch { /* not listening yet */ }
      if (i >= 600) throw new Error(`devicehubd was not ready within 30 s: ${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!this.ownerKey) {
      const m = this.output.match(/HostName=[^\s]+/);
      if (m) this.cs = parseConnectionString(m[0]);
      else this.cs = parseConnectionString(await this.ownerConnectionString());
      this.ownerKey = this.cs.SharedAccessKey;
    }
    return this;
  }

  async ownerConnectionString() {
    const p = spawn(BIN, ['owner-connection-string', '--data-dir', this.dataDir, '--hostname', this.hostname]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    await new Promise((r) => p.on('exit', r));
    return out.trim();
  }

  token(policy = 'iothubowner', key = this.ownerKey, ttl = 3600) {
    return sasToken(this.hostname, key, policy, ttl);
  }

  // Signs in as an operator account: { cookie: 'dh_session=...', csrf, name, role, expiresTime, res }.
  // Throws unless the answer is 200 with a dh_session cookie.
  async login(name = 'admin', password = this.adminPassword) {
    const res = await this.fetch(`${this.base}/devicehub/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password }),
    });
    const text = await res.text();
    const m = (res.headers.get('set-cookie') || '').match(/dh_session=[0-9a-f]+/);
    if (res.status !== 200 || !m) throw new Error(`login ${name}: ${res.status} ${text}`);
    const json = JSON.parse(text);
    return { cookie: m[0], csrf: json.csrfToken, name: json.name, role: json.role, expiresTime: json.expiresTime, res };
  }

  // A REST call signed as the owner unless opts.auth says otherwise (null = no header); with
  // opts.session (from login) it sends the session's cookie and X-CSRF-Token instead (opts.csrf: false
  // leaves the token out).
  async req(method, path, body, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    const auth = opts.auth === undefined ? (opts.session ? null : this.token()) : opts.auth;
    if (auth !== null) headers.Authorization = auth;
    if (opts.session) {
      headers.Cookie = opts.session.cookie;
      if (opts.csrf !== false) headers['X-CSRF-Token'] = opts.session.csrf;
    }
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      headers['Content-Type'] ??= 'application/json; charset=utf-8';
    }
    const sep = path.includes('?') ? '&' : '?';
    const res = await this.fetch(`${this.base}${path}${sep}api-version=2021-04-12`, { method, headers, body: payload });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, json, text };
  }

  async stop(signal = 'SIGTERM') {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill(signal);
      await this.exited;
    }
    this.checkSanitizers();
  }

  // Under -DDH_SANITIZE=ON a memory error, undefined behaviour or a leak at exit is a test failure.
  checkSanitizers() {
    const m = this.output.match(/(ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer)[^]*/);
    if (m) throw new Error(`devicehubd reported a sanitizer error:\n${m[0].slice(0, 4000)}`);
  }

  async destroy() {
    try {
      await this.stop();
    } finally {
      if (this.ownsData) rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

export async function startHub(opts) {
  return new Hub(opts).start();
}

// IoT Hub's legacy error shape (reference §1.0): status, iothub-errorcode header, Message
// "ErrorCode:<name>;<text>", ExceptionMessage "Tracking ID:...", JSON content type. Returns the text part.
export function assertHubError(assert, res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
  assert.equal(res.headers.get('iothub-errorcode'), code);
  assert.ok(res.json && typeof res.json.Message === 'string', `error body is not JSON: ${res.text}`);
  assert.ok(res.json.Message.startsWith(`ErrorCode:${code};`), res.json.Message);
  assert.match(res.json.ExceptionMessage, /^Tracking ID:/);
  return res.json.Message.slice(`ErrorCode:${code};`.length);
}

// The shared access policies as the owner sees them: { name: {primaryKey, secondaryKey, rights} }.
Hub.prototype.policies = async function policies() {
  const r = await this.req('GET', '/devicehub/policies');
  if (r.status !== 200) throw new Error(`GET /devicehub/policies: ${r.status} ${r.text}`);
  return Object.fromEntries(r.json.map((p) => [p.keyName, p]));
};

// The body the Node service SDK sends for Registry.create({deviceId}) [wire].
export function sdkDevice(deviceId, extra = {}) {
  return { deviceId, authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } }, ...extra };
}
