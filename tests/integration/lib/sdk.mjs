// Drives IoT Hub's service SDK from a test file: sdkProcess() starts sdk-child.mjs with the hub's name
// resolved to its loopback address and the test CA trusted, and returns call(fn, ...args), which runs
// fn({registry, client, jobClient, iothub}, ...args) there and resolves with its (JSON) result or
// rejects with an Error carrying the SDK error's name, statusCode and responseBody.
import { fork } from 'node:child_process';

export async function sdkProcess({ connectionString, hosts, caFile }) {
  const child = fork(new URL('./sdk-child.mjs', import.meta.url).pathname, [], {
    execArgv: ['--import', new URL('./resolve-preload.mjs', import.meta.url).href],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, DH_SERVICE_CS: connectionString,
      DH_TEST_HOSTS: Object.entries(hosts).map(([n, a]) => `${n}=${a}`).join(',') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 1;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`SDK process exited (${code ?? signal})`));
    pending.clear();
    resolve();
  }));
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m.ready ? resolve() : reject(new Error('unexpected first message'))));
    child.once('exit', (code) => reject(new Error(`SDK process exited at start (${code})`)));
  });
  child.on('message', ({ id, result, error }) => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (error) p.reject(Object.assign(new Error(`${error.name}: ${error.message}`), { sdk: error }));
    else p.resolve(result);
  });
  const call = (fn, ...args) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, fn: fn.toString(), args });
  });
  call.close = async () => {
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return call;
}
