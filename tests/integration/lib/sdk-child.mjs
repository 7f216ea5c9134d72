// Runs IoT Hub's Node service SDK (azure-iothub) on behalf of a test file, in a process of its own: the
// SDK only trusts the test CA through NODE_EXTRA_CA_CERTS (read at process start) and only reaches the
// hub's name through resolve-preload.mjs. Started by sdkProcess() in sdk.mjs with an IPC channel.
//
// Each request is {id, fn, args}: fn is the source of an async function called as
// fn({registry, client, jobClient, iothub}, ...args); its result goes back as JSON (SDK objects lose
// their private `_` members), a thrown error as {name, message, statusCode, responseBody}.
import iothub from 'azure-iothub';

const cs = process.env.DH_SERVICE_CS;
const ctx = {
  iothub,
  registry: iothub.Registry.fromConnectionString(cs),
  client: iothub.Client.fromConnectionString(cs),
  jobClient: iothub.JobClient.fromConnectionString(cs),
};

// SDK objects (Twin, Query, http responses) hold agents and sockets: keep only plain, public data.
function plain(value) {
  const seen = new WeakSet();
  return JSON.parse(JSON.stringify(value ?? null, (key, v) => {
    if (key.startsWith('_')) return undefined;
    if (v && typeof v === 'object') {
      if (seen.has(v)) return undefined;
      seen.add(v);
    }
    return v;
  }));
}

const AsyncFunction = (async () => {}).constructor;

process.on('message', async ({ id, fn, args }) => {
  try {
    const run = new AsyncFunction('ctx', 'args', `return (${fn})(ctx, ...args);`);
    const result = await run(ctx, args);
    process.send({ id, result: plain(result) });
  } catch (e) {
    process.send({ id, error: {
      name: e?.name, message: String(e?.message ?? e), statusCode: e?.response?.statusCode,
      responseBody: typeof e?.responseBody === 'string' ? e.responseBody : plain(e?.responseBody),
      code: e?.code,
    } });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
