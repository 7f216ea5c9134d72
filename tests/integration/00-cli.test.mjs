// The binary's command line: --help, settings errors, subcommands, and docs that match the settings table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, startHub } from './lib/hub.mjs';

const docs = new URL('../../docs/configuration.md', import.meta.url);

test('--help lists every setting with its environment variable, and the docs list them too', () => {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  const flags = [...r.stdout.matchAll(/^\s+--([a-z-]+)\s+(DEVICEHUB_[A-Z_]+)/gm)];
  assert.ok(flags.length >= 10, r.stdout);
  const doc = readFileSync(docs, 'utf8');
  for (const [, flag, env] of flags) {
    assert.ok(doc.includes(`\`--${flag}\``), `docs/configuration.md lacks --${flag}`);
    assert.ok(doc.includes(`\`${env}\``), `docs/configuration.md lacks ${env}`);
  }
});

test('bad settings exit with status 2 and say what is wrong', () => {
  const cases = [
    [['--http-port', '70000'], /http-port.*1 to 65535/],
    [['--nonsense'], /unknown setting/],
    [['--log-level', 'loud'], /log-level/],
  ];
  for (const [args, msg] of cases) {
    const r = spawnSync(BIN, args, { encoding: 'utf8' });
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, msg);
  }
  const env = spawnSync(BIN, [], { encoding: 'utf8', env: { ...process.env, DEVICEHUB_HTTP_PORT: 'abc' } });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /DEVICEHUB_HTTP_PORT/);
});

test('an owner key that is not base64 of 16-64 bytes stops the start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devicehub-cli-'));
  try {
    const r = spawnSync(BIN, ['--data-dir', dir, '--owner-key', 'short', '--http-port', '1'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /owner-key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sas-token prints a token the running server accepts; a given owner key is used', async () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  const hub = await startHub({ args: ['--owner-key', key] });
  try {
    assert.equal(hub.ownerKey, key);
    const r = spawnSync(BIN, ['sas-token', '--data-dir', hub.dataDir, '--hostname', 'testhub.local'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const token = r.stdout.trim();
    assert.match(token, /^SharedAccessSignature sr=testhub\.local&sig=.+&se=\d+&skn=iothubowner$/);
    const res = await hub.req('GET', '/statistics/devices', undefined, { auth: token });
    assert.equal(res.status, 200);
  } finally {
    await hub.destroy();
  }
});

test('schema/schema.sql is the schema the migrations produce', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'devicehub-schema-'));
  try {
    const made = spawnSync(BIN, ['owner-connection-string', '--data-dir', dir], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const dump = spawnSync('sqlite3', [join(dir, 'devicehub.db'), '.schema'], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    const file = readFileSync(new URL('../../schema/schema.sql', import.meta.url), 'utf8')
      .split('\n').filter((l) => !l.startsWith('--')).join('\n');
    assert.equal(file.trim(), dump.stdout.trim(), 'run scripts/schema.sh after adding a migration');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
