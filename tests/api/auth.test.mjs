// Auth routes: register, login, state, profile, me, token reissue, logout,
// sessions, the permission catalog and the audit log, with every documented error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, sleep } from './lib.mjs';

// Low argon2id cost for tests only (the defaults stay OWASP's).
export const FAST_ARGON = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1' };

let srv, B;
before(async () => {
  srv = await startServer({ env: { ...FAST_ARGON, ARMOR_ADMIN_USERNAME: 'root', ARMOR_ADMIN_PASSWORD: 'root-password-1' } });
  B = srv.url;
});
after(async () => { await srv?.stop(); });

const reg = (body) => api(B, 'POST', '/api/auth/register', { body });
const login = (body) => api(B, 'POST', '/api/auth/login', { body });

function assertLoginData(d, username) {
  assert.equal(typeof d.token, 'string');
  assert.equal(d.token_type, 'Bearer');
  assert.ok(Number.isInteger(d.expires_in) && d.expires_in > 0);
  assert.match(d.refresh_token, /^rt_/);
  assert.equal(d.user.username, username);
  assert.match(d.user.id, /^[0-9a-f-]{36}$/);
  assert.match(d.user.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(typeof d.user.email_verified, 'boolean');
  assert.ok(Array.isArray(d.permissions));
}

test('register answers 201 with token, refresh token, user and permissions', async () => {
  const r = await reg({ username: '  Alice  ', password: 'correct horse', email: 'Alice@Example.com', phone: '+15550100123' });
  assert.equal(r.status, 201);
  assert.equal(r.body.success, true);
  assertLoginData(r.body.data, 'Alice');
  assert.equal(r.body.data.user.email, 'Alice@Example.com');
  assert.equal(r.body.data.user.phone, '+15550100123');
  assert.deepEqual(r.body.data.permissions, []);
  assert.equal(r.body.data.token.split('.').length, 3, 'a JWT by default');
});

test('register refuses duplicates case-insensitively with 409 ALREADY_EXISTS naming the field', async () => {
  let r = await reg({ username: 'ALICE', password: 'password-2' });
  assert.equal(r.status, 409);
  assert.equal(r.body.code, 'ALREADY_EXISTS');
  assert.equal(r.body.details.field, 'username');
  r = await reg({ username: 'alice2', password: 'password-2', email: 'alice@EXAMPLE.com' });
  assert.equal(r.status, 409);
  assert.equal(r.body.details.field, 'email');
});

test('register validates its fields', async () => {
  const cases = [
    [{ password: 'password-1' }, 400, 'username'],
    [{ username: 'bob', password: 'short' }, 422, 'password'],
    [{ username: '   ', password: 'password-1' }, 422, 'username'],
    [{ username: 'x'.repeat(65), password: 'password-1' }, 422, 'username'],
    [{ username: 'bob\u0007', password: 'password-1' }, 422, 'username'],
    [{ username: 'bob', password: 'password-1', email: 'not-an-email' }, 422, 'email'],
    [{ username: 'bob', password: 'password-1', phone: '5550100' }, 422, 'phone'],
    [{ username: 'bob', password: 12345678 }, 400, 'password'],
    [{ username: 'bob', password: 'password-1', extra: 1 }, 422, 'extra'],
    [{ username: 'bob', password: 'password-1', token_format: 'xml' }, 422, 'token_format'],
  ];
  for (const [body, status, field] of cases) {
    const r = await reg(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.body.success, false);
    assert.equal(r.body.details?.field, field, JSON.stringify(body));
  }
  let r = await api(B, 'POST', '/api/auth/register', { raw: '{"username":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'BAD_REQUEST');
  r = await api(B, 'POST', '/api/auth/register', { raw: 'username=a', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 415);
});

test('passwords are any Unicode, counted in code points', async () => {
  // 8 code points, 24 bytes: valid under a minimum of 8.
  const r = await reg({ username: 'ユーザー', password: 'パスワードです。' });
  assert.equal(r.status, 201);
  const l = await login({ username: 'ユーザー', password: 'パスワードです。' });
  assert.equal(l.status, 200);
  // 7 code points is too short even though it is 21 bytes.
  const s = await reg({ username: 'ユーザー2', password: 'パスワードです' });
  assert.equal(s.status, 422);
});

test('login answers the token data; wrong password and unknown user answer the same 401', async () => {
  const r = await login({ username: 'alice', password: 'correct horse' });
  assert.equal(r.status, 200);
  assertLoginData(r.body.data, 'Alice');
  const bad = await login({ username: 'alice', password: 'wrong horse' });
  const unknown = await login({ username: 'nobody-here', password: 'wrong horse' });
  assert.equal(bad.status, 401);
  assert.equal(unknown.status, 401);
  assert.equal(bad.body.code, 'UNAUTHORIZED');
  assert.deepEqual(bad.body, unknown.body);
  const missing = await login({ username: 'alice' });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.details.field, 'password');
});

test('login by email address works too', async () => {
  const r = await login({ username: 'ALICE@example.com', password: 'correct horse' });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.user.username, 'Alice');
});

test('state answers authenticated, username and permissions; 401 without or with a bad token', async () => {
  const { body } = await login({ username: 'alice', password: 'correct horse' });
  const r = await api(B, 'GET', '/api/auth/state', { token: body.data.token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data.authenticated, true);
  assert.equal(r.body.data.username, 'Alice');
  assert.deepEqual(r.body.data.permissions, []);
  const none = await api(B, 'GET', '/api/auth/state');
  assert.equal(none.status, 401);
  assert.equal(none.body.code, 'UNAUTHORIZED');
  assert.match(none.headers.get('www-authenticate'), /^Bearer/);
  const bad = await api(B, 'GET', '/api/auth/state', { token: 'garbage' });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate'), /^Bearer/);
});

test('a refresh token is never accepted as a bearer token', async () => {
  const { body } = await login({ username: 'alice', password: 'correct horse' });
  const r = await api(B, 'GET', '/api/auth/state', { token: body.data.refresh_token });
  assert.equal(r.status, 401);
  // Nor with the opaque prefix swapped in.
  const swapped = 'at_' + body.data.refresh_token.slice(3);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: swapped })).status, 401);
});

test('me answers user, roles, organizations and effective permissions', async () => {
  const { body } = await login({ username: 'alice', password: 'correct horse' });
  const r = await api(B, 'GET', '/api/auth/me', { token: body.data.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.user.username, 'Alice');
  assert.deepEqual(r.body.data.roles, ['user']);
  assert.deepEqual(r.body.data.organizations, []);
  assert.deepEqual(r.body.data.permissions, []);
  assert.equal(r.body.data.session_id, body.data.session_id);
  assert.equal((await api(B, 'GET', '/api/auth/me')).status, 401);
});

test('the first admin from ARMOR_ADMIN_* has every permission of the catalog', async () => {
  const r = await login({ username: 'root', password: 'root-password-1' });
  assert.equal(r.status, 200);
  const cat = await api(B, 'GET', '/api/permissions', { token: r.body.data.token });
  assert.equal(cat.status, 200);
  const names = cat.body.data.map((p) => p.name);
  for (const p of ['users:read', 'users:write', 'roles:read', 'roles:write', 'orgs:read', 'orgs:write', 'servers:read',
    'servers:manage', 'settings:read', 'settings:write', 'clients:read', 'clients:write', 'audit:read', 'api-keys:read',
    'api-keys:write', 'sessions:read', 'sessions:revoke']) assert.ok(names.includes(p), p);
  assert.deepEqual([...r.body.data.permissions].sort(), [...names].sort());
  const me = await api(B, 'GET', '/api/auth/me', { token: r.body.data.token });
  assert.deepEqual(me.body.data.roles, ['admin']);
  assert.equal((await api(B, 'GET', '/api/permissions')).status, 401);
});

test('token reissue rotates the refresh token; reuse of a rotated one ends the session', async () => {
  const { body } = await login({ username: 'alice', password: 'correct horse' });
  const rt1 = body.data.refresh_token;
  const r1 = await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: rt1 } });
  assert.equal(r1.status, 200);
  assertLoginData(r1.body.data, 'Alice');
  assert.notEqual(r1.body.data.refresh_token, rt1);
  assert.equal(r1.body.data.session_id, body.data.session_id);
  const rt2 = r1.body.data.refresh_token;
  const access2 = r1.body.data.token;
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: access2 })).status, 200);
  // The old one again: refused, and the whole session ends.
  const reuse = await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: rt1 } });
  assert.equal(reuse.status, 401);
  assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: rt2 } })).status, 401);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: access2 })).status, 401);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: body.data.token })).status, 401);
  // Errors: unknown token, missing field, an access token in its place.
  assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: 'rt_nope' } })).status, 401);
  const miss = await api(B, 'POST', '/api/auth/token/reissue', { body: {} });
  assert.equal(miss.status, 400);
  assert.equal(miss.body.details.field, 'refresh_token');
  assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: access2 } })).status, 401);
});

test('logout ends the session and its tokens', async () => {
  const { body } = await login({ username: 'alice', password: 'correct horse' });
  const t = body.data.token;
  const r = await api(B, 'POST', '/api/auth/logout', { token: t });
  assert.equal(r.status, 200);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: t })).status, 401);
  assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: body.data.refresh_token } })).status, 401);
  assert.equal((await api(B, 'POST', '/api/auth/logout')).status, 401);
});

test('sessions: list own, delete own, 404 for others and unknown ids', async () => {
  await reg({ username: 'carol', password: 'carol-password' });
  const a = (await login({ username: 'carol', password: 'carol-password' })).body.data;
  const b = (await login({ username: 'carol', password: 'carol-password' })).body.data;
  const list = await api(B, 'GET', '/api/auth/sessions', { token: a.token });
  assert.equal(list.status, 200);
  const ids = list.body.data.map((s) => s.id);
  assert.ok(ids.includes(a.session_id) && ids.includes(b.session_id));
  const cur = list.body.data.find((s) => s.id === a.session_id);
  assert.equal(cur.current, true);
  assert.equal(cur.ip, '127.0.0.1');
  assert.match(cur.expires_at, /Z$/);
  // Another user cannot end carol's session.
  const alice = (await login({ username: 'alice', password: 'correct horse' })).body.data;
  const other = await api(B, 'DELETE', `/api/auth/sessions/${b.session_id}`, { token: alice.token });
  assert.equal(other.status, 404);
  assert.equal(other.body.code, 'NOT_FOUND');
  assert.equal((await api(B, 'DELETE', '/api/auth/sessions/not-a-uuid', { token: a.token })).status, 404);
  const del = await api(B, 'DELETE', `/api/auth/sessions/${b.session_id}`, { token: a.token });
  assert.equal(del.status, 200);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: b.token })).status, 401);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: a.token })).status, 200);
  const again = await api(B, 'DELETE', `/api/auth/sessions/${b.session_id}`, { token: a.token });
  assert.equal(again.status, 404);
  assert.equal((await api(B, 'GET', '/api/auth/sessions')).status, 401);
  assert.equal((await api(B, 'DELETE', `/api/auth/sessions/${a.session_id}`)).status, 401);
  // An admin (sessions:revoke) may end anybody's session.
  const root = (await login({ username: 'root', password: 'root-password-1' })).body.data;
  assert.equal((await api(B, 'DELETE', `/api/auth/sessions/${a.session_id}`, { token: root.token })).status, 200);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: a.token })).status, 401);
});

test('opaque access tokens: checked against the session on every use, ended by logout', async () => {
  const r = await login({ username: 'alice', password: 'correct horse', token_format: 'opaque' });
  assert.equal(r.status, 200);
  const d = r.body.data;
  assert.match(d.token, /^at_/);
  assert.equal(d.token_format, 'opaque');
  const s = await api(B, 'GET', '/api/auth/state', { token: d.token });
  assert.equal(s.status, 200);
  assert.equal(s.body.data.username, 'Alice');
  // Reissue keeps the format and replaces the access token.
  const re = await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: d.refresh_token } });
  assert.equal(re.status, 200);
  assert.match(re.body.data.token, /^at_/);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: d.token })).status, 401);
  const t2 = re.body.data.token;
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: t2 })).status, 200);
  assert.equal((await api(B, 'POST', '/api/auth/logout', { token: t2 })).status, 200);
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: t2 })).status, 401);
});

test('profile: new username and password give a new token and end every other session', async () => {
  await reg({ username: 'dave', password: 'dave-password' });
  const a = (await login({ username: 'dave', password: 'dave-password' })).body.data;
  const b = (await login({ username: 'dave', password: 'dave-password' })).body.data;
  const r = await api(B, 'PUT', '/api/auth/profile', {
    token: a.token, body: { newUsername: 'David', currentPassword: 'dave-password', newPassword: 'david-password' },
  });
  assert.equal(r.status, 200);
  assert.equal(typeof r.body.data.token, 'string');
  assert.notEqual(r.body.data.token, a.token);
  assert.equal(r.body.data.user.username, 'David');
  assert.ok(Array.isArray(r.body.data.permissions));
  const st = await api(B, 'GET', '/api/auth/state', { token: r.body.data.token });
  assert.equal(st.body.data.username, 'David');
  // The other session ended; this one lives on.
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: b.token })).status, 401);
  assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: b.refresh_token } })).status, 401);
  assert.equal((await api(B, 'POST', '/api/auth/token/reissue', { body: { refresh_token: a.refresh_token } })).status, 200);
  assert.equal((await login({ username: 'dave', password: 'dave-password' })).status, 401);
  assert.equal((await login({ username: 'david', password: 'david-password' })).status, 200);
});

test('profile errors: nothing to change, missing or wrong current password, taken name, weak password', async () => {
  await reg({ username: 'erin', password: 'erin-password' });
  const t = (await login({ username: 'erin', password: 'erin-password' })).body.data.token;
  const put = (body, token = t) => api(B, 'PUT', '/api/auth/profile', { token, body });
  let r = await put({ currentPassword: 'erin-password' });
  assert.equal(r.status, 400);
  r = await put({ newUsername: 'erin2' });
  assert.equal(r.status, 400);
  assert.equal(r.body.details.field, 'currentPassword');
  r = await put({ newUsername: 'erin2', currentPassword: 'wrong-password' });
  assert.equal(r.status, 401);
  assert.equal(r.body.details.field, 'currentPassword');
  r = await put({ newUsername: 'ALICE', currentPassword: 'erin-password' });
  assert.equal(r.status, 409);
  assert.equal(r.body.code, 'ALREADY_EXISTS');
  assert.equal(r.body.details.field, 'newUsername');
  r = await put({ newPassword: 'short', currentPassword: 'erin-password' });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'newPassword');
  r = await put({ newUsername: '', currentPassword: 'erin-password' });
  assert.equal(r.status, 422);
  r = await put({ newUsername: 'erin2', currentPassword: 'erin-password' }, null);
  assert.equal(r.status, 401);
  // snake_case spellings are accepted as well.
  r = await put({ new_username: 'erin3', current_password: 'erin-password' });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.user.username, 'erin3');
});

test('audit: admin reads events filtered by event and user with cursor pagination; others get 403', async () => {
  const root = (await login({ username: 'root', password: 'root-password-1' })).body.data;
  const alice = (await login({ username: 'alice', password: 'correct horse' })).body.data;
  let r = await api(B, 'GET', '/api/audit?event=login.success&limit=2', { token: root.token });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.items.length, 2);
  for (const e of r.body.data.items) {
    assert.equal(e.event, 'login.success');
    assert.equal(e.ip, '127.0.0.1');
    assert.ok(e.request_id);
  }
  assert.ok(r.body.data.next_cursor);
  const page2 = await api(B, 'GET', `/api/audit?event=login.success&limit=2&cursor=${r.body.data.next_cursor}`, { token: root.token });
  assert.equal(page2.status, 200);
  assert.ok(page2.body.data.items[0].id < r.body.data.items[1].id);
  r = await api(B, 'GET', `/api/audit?user=${alice.user.id}&event=login.failure`, { token: root.token });
  assert.ok(r.body.data.items.length >= 1);
  assert.ok(r.body.data.items.every((e) => e.subject_id === alice.user.id));
  // Every kind of event the auth routes record is there, and no secret is.
  const all = await api(B, 'GET', '/api/audit?limit=200', { token: root.token });
  const kinds = new Set(all.body.data.items.map((e) => e.event));
  for (const k of ['login.success', 'login.failure', 'logout', 'password.changed', 'username.changed', 'session.revoked',
    'admin.created', 'user.registered']) assert.ok(kinds.has(k), k);
  const text = JSON.stringify(all.body);
  for (const secret of ['correct horse', 'root-password-1', alice.refresh_token, alice.token]) assert.ok(!text.includes(secret));
  assert.equal((await api(B, 'GET', '/api/audit', { token: alice.token })).status, 403);
  assert.equal((await api(B, 'GET', '/api/audit')).status, 401);
  assert.equal((await api(B, 'GET', '/api/audit?limit=0', { token: root.token })).status, 400);
  assert.equal((await api(B, 'GET', '/api/audit?cursor=abc', { token: root.token })).status, 400);
});

test('a protected GET writes nothing; session use is flushed in the background', async () => {
  const d = (await login({ username: 'alice', password: 'correct horse' })).body.data;
  for (let i = 0; i < 5; i++) assert.equal((await api(B, 'GET', '/api/auth/state', { token: d.token })).status, 200);
  const list = await api(B, 'GET', '/api/auth/sessions', { token: d.token });
  const s = list.body.data.find((x) => x.id === d.session_id);
  // Used, so the expiry moved from 5 minutes to 14 days ahead (seed 004).
  const days = (Date.parse(s.expires_at) - Date.now()) / 86400e3;
  assert.ok(days > 13.9 && days <= 14.01, `expiry ${s.expires_at}`);
  await sleep(10);
});
