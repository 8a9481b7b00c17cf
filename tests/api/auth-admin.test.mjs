// The first administrator: the one-time setup link printed at start,
// POST /api/auth/setup, and `armor admin create --password-stdin`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer, api, runArmor, sleep, PG_URL, dropPgDatabase } from './lib.mjs';

const FAST_ARGON = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1' };

async function setupToken(srv) {
  for (let i = 0; i < 100; i++) {
    const m = srv.log().match(/\/api\/auth\/setup\?token=([A-Za-z0-9_-]+)/);
    if (m) return m[1];
    await sleep(20);
  }
  throw new Error('no setup link in the log:\n' + srv.log());
}

test('without an admin the start prints a one-time setup link; POST /api/auth/setup makes the admin once', async () => {
  const srv = await startServer({ env: FAST_ARGON });
  const B = srv.url;
  try {
    const token = await setupToken(srv);
    assert.ok(srv.log().includes(`${B}/api/auth/setup?token=`), 'the link starts with the public URL');
    const page = await api(B, 'GET', `/api/auth/setup?token=${token}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    let r = await api(B, 'POST', '/api/auth/setup', { body: { token: 'wrong', username: 'boss', password: 'boss-password' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'FORBIDDEN');
    assert.equal(r.body.details.field, 'token');
    r = await api(B, 'POST', '/api/auth/setup', { body: { token, username: 'boss', password: 'short' } });
    assert.equal(r.status, 422);
    assert.equal(r.body.details.field, 'password');
    r = await api(B, 'POST', '/api/auth/setup', { body: { token, password: 'boss-password' } });
    assert.equal(r.status, 400);
    r = await api(B, 'POST', '/api/auth/setup', { body: { token, username: 'boss', password: 'boss-password' } });
    assert.equal(r.status, 201);
    assert.equal(r.body.data.user.username, 'boss');
    assert.ok(r.body.data.permissions.includes('settings:write'));
    // Single use.
    r = await api(B, 'POST', '/api/auth/setup', { body: { token, username: 'boss2', password: 'boss-password' } });
    assert.equal(r.status, 403);
  } finally {
    await srv.stop();
  }
});

test('armor admin create reads the password from stdin and makes an admin', async () => {
  const srv = await startServer({ env: FAST_ARGON, keepData: true });
  const { database, dataDir } = srv;
  await srv.stop();
  const args = ['admin', 'create', '--username', 'ops', '--email', 'ops@example.com', '--password-stdin',
    '--database', database, '--data-dir', dataDir];
  let r = await runArmor(args, { env: FAST_ARGON, input: 'ops-password-1\n' });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.username, 'ops');
  assert.deepEqual(out.roles, ['admin']);
  assert.ok(!r.stdout.includes('ops-password-1'));
  r = await runArmor(args, { env: FAST_ARGON, input: 'ops-password-1\n' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /already taken/);
  r = await runArmor(['admin', 'create', '--username', 'x', '--database', database, '--data-dir', dataDir]);
  assert.equal(r.code, 2);
  r = await runArmor(['admin', 'create', '--username', 'weak', '--password-stdin', '--database', database, '--data-dir', dataDir],
    { env: FAST_ARGON, input: 'short\n' });
  assert.equal(r.code, 1);
  const srv2 = await startServer({ env: FAST_ARGON, database, dataDir });
  try {
    const l = await api(srv2.url, 'POST', '/api/auth/login', { body: { username: 'OPS', password: 'ops-password-1' } });
    assert.equal(l.status, 200);
    assert.ok(l.body.data.permissions.includes('audit:read'));
    assert.ok(!/api\/auth\/setup\?token=/.test(srv2.log()), 'no setup link once an admin exists');
    const audit = await api(srv2.url, 'GET', '/api/audit?event=admin.created', { token: l.body.data.token });
    assert.equal(audit.body.data.items.length, 1);
  } finally {
    await srv2.stop();
    if (PG_URL) dropPgDatabase(database);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
