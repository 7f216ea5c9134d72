// A `devicehub.v1` device for tests (docs/device-protocol.md): connects over WebSocket with the `ws`
// package, queues what the hub sends, and answers requests by rid.
import WebSocket from 'ws';
import { sasToken } from './hub.mjs';

export const PROTOCOL = 'devicehub.v1';

// A device-scoped SAS token: sr = encodeURIComponent(`${hostname}/devices/${id}[/modules/${mid}]`).
export function deviceToken(deviceId, key, { moduleId, ttl = 3600, hostname = 'testhub.local' } = {}) {
  const res = `${hostname}/devices/${deviceId}${moduleId ? `/modules/${moduleId}` : ''}`;
  return sasToken(encodeURIComponent(res), key, undefined, ttl);
}

export function devicePath(deviceId, moduleId) {
  return `/devices/${encodeURIComponent(deviceId)}${moduleId ? `/modules/${encodeURIComponent(moduleId)}` : ''}`;
}

export class Device {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      msg.receivedAt = performance.now();
      this.inbox.push(msg);
      this.waiters = this.waiters.filter((w) => !w.check());
    });
    ws.on('error', () => {}); // surfaced through `closed`
  }

  // Resolves with the first queued message matching pred (removing it), or rejects after ms.
  next(pred = () => true, ms = 3000) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const i = this.inbox.findIndex(pred);
          if (i < 0) return false;
          clearTimeout(w.timer);
          resolve(this.inbox.splice(i, 1)[0]);
          return true;
        },
      };
      if (w.check()) return;
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no matching message within ${ms} ms; inbox: ${JSON.stringify(this.inbox)}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  send(msg) {
    this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  }

  // Sends a request and waits for the hub's message with the same rid.
  async request(msg, ms) {
    this.send(msg);
    return this.next((m) => m.rid === msg.rid, ms);
  }

  async close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    return this.closed;
  }
}

// Opens a connection. Resolves { device, hello } once the hub's hello arrived, or { status } when the
// upgrade was refused with an HTTP status, or { error } when the connection failed otherwise. Over WSS
// the hub's test CA is trusted, and cert/key (PEM) are presented as the device's client certificate.
export function connectDevice(hub, deviceId, { moduleId, token, query, protocol = PROTOCOL, path, cert, key } = {}) {
  let url = `${hub.deviceUrl}${path ?? devicePath(deviceId, moduleId)}`;
  const headers = {};
  const tls = { ...(hub.tls ? { ca: hub.tls.ca } : {}), ...(cert ? { cert, key } : {}) };
  if (query) url += `?authorization=${encodeURIComponent(token)}`;
  else if (token) headers.Authorization = token;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocol === null ? undefined : protocol, { headers, ...tls });
    let done = false;
    const finish = (v) => { if (!done) { done = true; resolve(v); } };
    ws.on('unexpected-response', (_req, res) => { finish({ status: res.statusCode }); ws.terminate(); });
    ws.on('error', (e) => finish({ error: e.message }));
    ws.on('close', (code) => finish({ error: `closed ${code}` }));
    ws.once('open', () => {
      const device = new Device(ws);
      device.next((m) => m.type === 'hello').then((hello) => finish({ device, hello }),
        (e) => finish({ error: e.message }));
    });
  });
}
