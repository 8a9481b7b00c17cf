// The command line: serve/migrate/version/routes, flags, ARMOR_* variables and the config file.
// Bad configuration stops start-up with one line on stderr and a non-zero exit.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { runArmor, startServer, api, freePort, PG_URL, createPgDatabase, dropPgDatabase, assertNoSanitizerReport } from './lib.mjs';

let dir;
before(() => { dir = mkdtempSync(join(tmpdir(), 'armor-cfg-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

/** Runs `armor serve` expecting a refusal: non-zero exit and exactly one line on stderr. */
async function refuses(args, pattern, env = {}) {
  const r = await runArmor(['serve', '--data-dir', join(dir, 'data'), ...args], { env: { ARMOR_LOG_LEVEL: 'warning', ...env }, cwd: dir });
  assertNoSanitizerReport(r.stderr);
  assert.notEqual(r.code, 0, `exit code for ${args.join(' ')}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.match(lines[0], /^armor/);
  return lines[0];
}

describe('configuration errors: one line and a non-zero exit', () => {
  test('unknown flag', async () => {
    await refuses(['--bogus'], /unknown flag '--bogus'/);
    await refuses(['--bogus=1'], /unknown flag '--bogus'/);
  });

  test('stray argument and missing value', async () => {
    await refuses(['extra'], /unexpected argument 'extra'/);
    await refuses(['--listen'], /needs a value/);
  });

  test('bad values', async () => {
    await refuses(['--listen', 'nonsense'], /--listen must be HOST:PORT/);
    await refuses(['--listen', '127.0.0.1:99999'], /port must be 1-65535/);
    await refuses(['--listen', 'example.com:80'], /IP address or localhost/);
    await refuses(['--log-level', 'loud'], /--log-level/);
    await refuses(['--conn-timeout', 'soon'], /--conn-timeout expects a positive integer/);
    await refuses(['--insecure-bind=maybe'], /--insecure-bind expects true or false/);
    await refuses(['--public-url', 'ftp://x'], /--public-url must start with http/);
  });

  test('unreadable certificate', async () => {
    await refuses(['--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'missing.key')], /cannot read certificate .*missing\.pem/);
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
    await refuses(['--tls-cert', join(dir, 'junk.pem'), '--tls-key', join(dir, 'junk.pem')], /not a PEM file/);
    await refuses(['--tls-cert', join(dir, 'junk.pem')], /--tls-cert and --tls-key must be given together/);
  });

  test('malformed database URL', async () => {
    await refuses(['--database', 'mysql://x/y'], /database URL must start with sqlite: or postgres/);
    await refuses(['--database', 'sqlite:'], /sqlite: URL needs a file path/);
    await refuses(['--database', 'postgres://u@127.0.0.1:notaport/db'], /malformed database URL/);
    const line = await refuses(['--database', 'postgres://u:hunter2@[::1/db'], /malformed database URL/);
    assert.doesNotMatch(line, /hunter2/, 'the password is not printed');
  });

  test('unreachable database', async () => {
    const port = await freePort();
    const line = await refuses(['--database', `postgres://u:hunter2@127.0.0.1:${port}/db`], /cannot connect to PostgreSQL/);
    assert.doesNotMatch(line, /hunter2/);
  });

  test('port in use', async () => {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address();
    try {
      await refuses(['--listen', `127.0.0.1:${port}`, '--database', `sqlite:${join(dir, 'inuse.db')}`], /already in use/);
    } finally {
      srv.close();
    }
  });

  test('non-loopback plain HTTP needs --insecure-bind', async () => {
    await refuses(['--listen', '0.0.0.0:3443'], /--insecure-bind/);
    await refuses(['--listen', '[::]:3443'], /--insecure-bind/);
    await refuses([], /--insecure-bind/, { ARMOR_LISTEN: '10.1.2.3:3443' });
  });

  test('unknown key in the config file names file and line', async () => {
    const f = join(dir, 'bad.conf');
    writeFileSync(f, '# comment\nlisten = 127.0.0.1:1\ncolour = blue\n');
    await refuses(['--config', f], /bad\.conf:3: unknown option colour/);
    await refuses(['--config', join(dir, 'nope.conf')], /cannot read config file/);
    writeFileSync(f, 'no equals sign\n');
    await refuses(['--config', f], /expected key = value/);
  });

  test('bad environment value names the variable', async () => {
    await refuses([], /ARMOR_HTTP_THREADS/, { ARMOR_HTTP_THREADS: 'many' });
  });
});

describe('sources of configuration', () => {
  test('config file, then environment, then flags', async () => {
    const p1 = await freePort();
    const f = join(dir, 'good.conf');
    writeFileSync(f, `# Armor\nlisten = 127.0.0.1:1\n  log-level = debug\naccess-log = false\n`);
    // The file says port 1, the environment overrides it, the flag overrides the environment's log level.
    const srv = await startServer({ port: p1, args: ['--config', f, '--log-level', 'info'], env: { ARMOR_LISTEN: `127.0.0.1:${p1}` } });
    try {
      const r = await api(srv.url, 'GET', '/health', { headers: { 'x-request-id': 'cfg-file-test' } });
      assert.equal(r.status, 200);
      assert.doesNotMatch(srv.log(), /cfg-file-test/, 'access-log = false from the file applies');
      assert.doesNotMatch(srv.log(), / debug /, 'the flag beat the file');
    } finally {
      await srv.stop();
    }
  });

  test('ARMOR_CONFIG names the file', async () => {
    const f = join(dir, 'env.conf');
    writeFileSync(f, 'colour = red\n');
    await refuses([], /env\.conf:1: unknown option colour/, { ARMOR_CONFIG: f });
  });

  test('diagnostic routes are off unless ARMOR_TEST_ROUTES=1', async () => {
    const srv = await startServer({ env: { ARMOR_TEST_ROUTES: '' } });
    try {
      const r = await api(srv.url, 'POST', '/api/_test/echo', { body: { name: 'x' } });
      assert.equal(r.status, 404);
    } finally {
      await srv.stop();
    }
  });
});

describe('commands', () => {
  test('armor version', async () => {
    const r = await runArmor(['version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^armor \d+\.\d+\.\d+\n$/);
    const h = await runArmor(['version', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /usage: armor version/);
  });

  test('--help for each command', async () => {
    for (const args of [['--help'], ['serve', '--help'], ['migrate', '--help'], ['version', '--help']]) {
      const r = await runArmor(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /usage: armor/, args.join(' '));
    }
    const s = await runArmor(['serve', '--help']);
    for (const flag of ['--listen', '--database', '--public-url', '--tls-cert', '--tls-key', '--config', '--insecure-bind',
      '--conn-timeout', '--request-timeout', 'ARMOR_LISTEN', 'ARMOR_DATABASE']) assert.ok(s.stdout.includes(flag), flag);
  });

  test('no command and unknown command exit non-zero', async () => {
    assert.notEqual((await runArmor([])).code, 0);
    const r = await runArmor(['frobnicate']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  test('armor migrate creates the schema and is idempotent', async () => {
    const url = PG_URL ? createPgDatabase() : `sqlite:${join(dir, 'mig', 'sub', 'armor.db')}`;
    try {
      for (let i = 0; i < 2; i++) {
        const r = await runArmor(['migrate', '--database', url], { cwd: dir });
        assertNoSanitizerReport(r.stderr);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /up to date/);
        if (i === 0) assert.match(r.stderr, /applied migration 001_platform\.sql/);
        else assert.doesNotMatch(r.stderr, /applied migration/);
      }
      // A server on the migrated database starts and is ready.
      const srv = await startServer({ database: url });
      try {
        assert.equal((await api(srv.url, 'GET', '/ready')).status, 200);
      } finally {
        await srv.stop();
      }
    } finally {
      if (PG_URL) dropPgDatabase(url);
    }
  });

  test('armor migrate refuses a bad URL with one line', async () => {
    const r = await runArmor(['migrate', '--database', 'oracle://x'], { cwd: dir });
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  test('armor routes prints the route table as JSON', async () => {
    const r = await runArmor(['routes']);
    assert.equal(r.code, 0);
    const routes = JSON.parse(r.stdout);
    assert.ok(routes.some((x) => x.method === 'GET' && x.path === '/health' && x.hidden === false));
    for (const x of routes) {
      assert.equal(typeof x.method, 'string');
      assert.match(x.path, /^\//);
      assert.equal(typeof x.hidden, 'boolean');
    }
  });

  test('serve creates the data folder and master key under --data-dir', async () => {
    const d = join(dir, 'fresh', 'nested');
    mkdirSync(join(dir, 'fresh'), { recursive: true });
    const srv = await startServer({ dataDir: d, database: `sqlite:${join(d, 'armor.db')}` }).catch((e) => e);
    if (srv instanceof Error) throw srv;
    await srv.stop();
    const { statSync } = await import('node:fs');
    assert.equal(statSync(join(d, 'master.key')).mode & 0o777, 0o600);
  });
});
