// Lockout per account (progressive, in the database) and the per-IP failure
// limit (in memory, per node); expiry of access tokens and of unused sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, sleep } from './lib.mjs';

const FAST_ARGON = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1' };

test('progressive lockout: threshold failures lock the account, no token by any route, doubling, reset on success', async () => {
  const srv = await startServer({
    env: { ...FAST_ARGON, ARMOR_SECURITY_LOCKOUT_THRESHOLD: '3', ARMOR_SECURITY_LOCKOUT_BASE_SECONDS: '2',
      ARMOR_SECURITY_LOCKOUT_MAX_SECONDS: '3' },
  });
  const B = srv.url;
  try {
    const reg = await api(B, 'POST', '/api/auth/register', { body: { username: 'mallory', password: 'right-password' } });
    assert.equal(reg.status, 201);
    const login = (password) => api(B, 'POST', '/api/auth/login', { body: { username: 'mallory', password } });
    for (let i = 0; i < 3; i++) assert.equal((await login('wrong-password')).status, 401);
    // Locked: even the right password gets no token, and neither does a refresh.
    let r = await login('right-password');
    assert.equal(r.status, 429);
    assert.equal(r.body.code, 'RATE_LIMITED');
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(ra >= 1 && ra <= 2, `Retry-After ${ra}`);
    r = await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: reg.body.data.refresh_token } });
    assert.equal(r.status, 429);
    assert.ok(r.headers.get('retry-after'));
    // Profile re-authentication is refused as well.
    r = await api(B, 'PUT', '/api/auth/profile', { token: reg.body.data.token, body: { currentPassword: 'right-password', newUsername: 'm2' } });
    assert.equal(r.status, 429);
    await sleep(2100);
    // The second lock doubles (capped at 3 s here).
    for (let i = 0; i < 3; i++) assert.equal((await login('wrong-password')).status, 401);
    r = await login('right-password');
    assert.equal(r.status, 429);
    assert.equal(Number(r.headers.get('retry-after')) >= 2, true);
    await sleep(3100);
    assert.equal((await login('right-password')).status, 200);
    // Success reset the counters: two more failures do not lock.
    for (let i = 0; i < 2; i++) assert.equal((await login('wrong-password')).status, 401);
    assert.equal((await login('right-password')).status, 200);
  } finally {
    await srv.stop();
  }
});

test('per-IP failure limit across accounts answers 429 with Retry-After', async () => {
  const srv = await startServer({ env: { ...FAST_ARGON, ARMOR_SECURITY_IP_LIMIT_PER_MINUTE: '4' } });
  const B = srv.url;
  try {
    await api(B, 'POST', '/api/auth/register', { body: { username: 'ivan', password: 'ivan-password' } });
    for (let i = 0; i < 4; i++) {
      const r = await api(B, 'POST', '/api/auth/login', { body: { username: `user${i}`, password: 'guess-guess' } });
      assert.equal(r.status, 401);
    }
    const r = await api(B, 'POST', '/api/auth/login', { body: { username: 'ivan', password: 'ivan-password' } });
    assert.equal(r.status, 429);
    assert.equal(r.body.code, 'RATE_LIMITED');
    const ra = Number(r.headers.get('retry-after'));
    assert.ok(ra >= 1 && ra <= 60);
  } finally {
    await srv.stop();
  }
});

test('expired access token answers 401 TOKEN_EXPIRED; an unused session expires after the initial idle time', async () => {
  const srv = await startServer({
    env: { ...FAST_ARGON, ARMOR_SECURITY_ACCESS_TOKEN_TTL_SECONDS: '1', ARMOR_SECURITY_SESSION_IDLE_INITIAL_SECONDS: '2' },
  });
  const B = srv.url;
  try {
    const d = (await api(B, 'POST', '/api/auth/register', { body: { username: 'tina', password: 'tina-password' } })).body.data;
    assert.equal(d.expires_in, 1);
    const o = (await api(B, 'POST', '/api/auth/login', { body: { username: 'tina', password: 'tina-password', token_format: 'opaque' } })).body.data;
    await sleep(2600);
    const r = await api(B, 'GET', '/api/auth/state', { token: d.token });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'TOKEN_EXPIRED');
    assert.match(r.headers.get('www-authenticate'), /invalid_token/);
    // Never used: the session ended after 2 s, so neither refresh nor the opaque token works.
    assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: d.refresh_token } })).status, 401);
    const ro = await api(B, 'GET', '/api/auth/state', { token: o.token });
    assert.equal(ro.status, 401);
    assert.equal(ro.body.code, 'TOKEN_EXPIRED');
    // A used session lives on past the initial idle time.
    // (Access tokens live 1 s here, so the session is used through its refresh token.)
    const u = (await api(B, 'POST', '/api/auth/login', { body: { username: 'tina', password: 'tina-password', token_format: 'opaque' } })).body.data;
    await sleep(500);
    const r1 = await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: u.refresh_token } });
    assert.equal(r1.status, 200);
    assert.equal((await api(B, 'GET', '/api/auth/state', { token: r1.body.data.token })).status, 200);
    await sleep(2300);
    const r2 = await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: r1.body.data.refresh_token } });
    assert.equal(r2.status, 200);
    assert.equal((await api(B, 'GET', '/api/auth/state', { token: r2.body.data.token })).status, 200);
  } finally {
    await srv.stop();
  }
});
