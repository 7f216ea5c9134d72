// Runs IoT Hub's Node device SDK (azure-iot-device + azure-iot-device-mqtt) on behalf of a test file, in
// a process of its own: the MQTT transports only trust the test CA through NODE_EXTRA_CA_CERTS (mqtt.js
// forces rejectUnauthorized) and only reach the hub's name through resolve-preload.mjs. Started by
// deviceSdkProcess() in device-sdk.mjs with an IPC channel.
//
// Each request is {id, fn, args}: fn is the source of an async function called as
// fn({Client, Message, transports: {Mqtt, MqttWs}, state, emit}, ...args). state persists between calls;
// emit(event, data) sends an event to the test (a desired patch or method request as the device saw it).
import deviceSdk from 'azure-iot-device';
import mqttSdk from 'azure-iot-device-mqtt';

const ctx = {
  Client: deviceSdk.Client,
  Message: deviceSdk.Message,
  transports: { Mqtt: mqttSdk.Mqtt, MqttWs: mqttSdk.MqttWs },
  state: {},
  emit: (event, data) => process.send({ event, data: JSON.parse(JSON.stringify(data ?? null)) }),
};

const AsyncFunction = (async () => {}).constructor;

process.on('message', async ({ id, fn, args }) => {
  try {
    const run = new AsyncFunction('ctx', 'args', `return (${fn})(ctx, ...args);`);
    const result = await run(ctx, args);
    process.send({ id, result: JSON.parse(JSON.stringify(result ?? null)) });
  } catch (e) {
    process.send({ id, error: { name: e?.name, constructor: e?.constructor?.name, message: String(e?.message ?? e) } });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
