// Preload (`node --import`) for processes that run IoT Hub's SDKs against a test hub: resolves the host
// names listed in DH_TEST_HOSTS ("name=address,name2=address2") to those addresses, without touching
// /etc/hosts. The Node service SDK puts HostName straight into https.request({host}), and net resolves it
// with dns.lookup, read from the module at connect time, so patching that one function is enough.
import dns from 'node:dns';

const hosts = new Map((process.env.DH_TEST_HOSTS || '').split(',').filter(Boolean).map((pair) => {
  const [name, address] = pair.split('=');
  return [name.toLowerCase(), address];
}));
const realLookup = dns.lookup;

dns.lookup = function lookup(hostname, options, callback) {
  const address = typeof hostname === 'string' && hosts.get(hostname.toLowerCase());
  if (!address) return realLookup.call(this, hostname, options, callback);
  if (typeof options === 'function') { callback = options; options = {}; }
  if (typeof options === 'number') options = { family: options };
  const family = address.includes(':') ? 6 : 4;
  process.nextTick(() => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  });
  return {};
};
