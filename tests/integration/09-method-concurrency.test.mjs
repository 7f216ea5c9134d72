// Direct methods wait without holding a worker thread: 2,000 calls outstanding at once against a device
// that answers each after half a second. The server has 2 HTTP threads; if a waiting call held one, the
// calls would be answered two at a time (~500 s) and this test would time out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, fetch as undiciFetch } from 'undici';
import { startHub } from './lib/hub.mjs';
import { connectDevice, deviceToken } from './lib/device.mjs';

const CALLS = 2000;
let hub;

before(async () => { hub = await startHub(); });
after(async () => { await hub?.destroy(); });

test(`${CALLS} direct methods outstanding at once all complete`, { timeout: 60000 }, async () => {
  const created = await hub.req('PUT', '/devices/busy', { authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } } });
  assert.equal(created.status, 200);
  const key = created.json.authentication.symmetricKey.primaryKey;
  const { device } = await connectDevice(hub, 'busy', { token: deviceToken('busy', key) });
  assert.ok(device, 'device connected');
  let maxWaiting = 0, waiting = 0;
  device.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.type !== 'method.request') return;
    waiting++;
    maxWaiting = Math.max(maxWaiting, waiting);
    setTimeout(() => {
      waiting--;
      device.send({ type: 'method.response', rid: msg.rid, status: 200, payload: { echo: msg.payload.n } });
    }, 500);
  });

  const agent = new Agent({ connections: CALLS, pipelining: 0 });
  const token = hub.token();
  const calls = Array.from({ length: CALLS }, (_, n) => undiciFetch(
    `${hub.base}/twins/busy/methods?api-version=2021-04-12`,
    { method: 'POST', dispatcher: agent,
      headers: { Authorization: token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ methodName: 'slow', payload: { n }, responseTimeoutInSeconds: 30 }) },
  ).then(async (r) => ({ status: r.status, body: await r.json() })));
  const answers = await Promise.all(calls);
  answers.forEach((a, n) => {
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { status: 200, payload: { echo: n } });
  });
  // The device held most of the calls at the same time: they were outstanding together.
  assert.ok(maxWaiting > CALLS / 2, `at most ${maxWaiting} calls were waiting at once`);
  await agent.close();
  await device.close();
});
