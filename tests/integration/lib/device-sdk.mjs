// Drives IoT Hub's Node device SDK from a test file: deviceSdkProcess() starts device-sdk-child.mjs with
// the hub's name resolved to its loopback address and the test CA trusted, and returns call(fn, ...args),
// which runs fn(ctx, ...args) there (see device-sdk-child.mjs) and resolves with its JSON result or
// rejects with an Error carrying the SDK error's name. call.events(name) lists the events emitted so far;
// call.waitEvent(name, pred, ms) waits for one.
import { fork } from 'node:child_process';

export async function deviceSdkProcess({ hosts, caFile }) {
  const child = fork(new URL('./device-sdk-child.mjs', import.meta.url).pathname, [], {
    execArgv: ['--import', new URL('./resolve-preload.mjs', import.meta.url).href],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile,
      DH_TEST_HOSTS: Object.entries(hosts).map(([n, a]) => `${n}=${a}`).join(',') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  const events = [];
  let waiters = [];
  let nextId = 1;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`device SDK process exited (${code ?? signal})`));
    pending.clear();
    resolve();
  }));
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m.ready ? resolve() : reject(new Error('unexpected first message'))));
    child.once('exit', (code) => reject(new Error(`device SDK process exited at start (${code})`)));
  });
  child.on('message', (msg) => {
    if (msg.event) {
      events.push(msg);
      waiters = waiters.filter((w) => !w());
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(Object.assign(new Error(`${msg.error.name}: ${msg.error.message}`), { sdk: msg.error }));
    else p.resolve(msg.result);
  });
  const call = (fn, ...args) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, fn: fn.toString(), args });
  });
  call.events = (name) => events.filter((e) => e.event === name).map((e) => e.data);
  call.waitEvent = (name, pred = () => true, ms = 5000) => new Promise((resolve, reject) => {
    const check = () => {
      const e = events.find((x) => x.event === name && pred(x.data));
      if (!e) return false;
      clearTimeout(timer);
      resolve(e.data);
      return true;
    };
    const timer = setTimeout(() => {
      waiters = waiters.filter((w) => w !== check);
      reject(new Error(`no '${name}' event within ${ms} ms; got ${JSON.stringify(events)}`));
    }, ms);
    if (!check()) waiters.push(check);
  });
  call.close = async () => {
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return call;
}
