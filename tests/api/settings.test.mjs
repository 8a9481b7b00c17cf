// Settings: read and change the sections with field-level validation, write-only
// secrets encrypted at rest, audit of every change, changes visible on another node
// without a restart, and the SMTP test mail (plain, STARTTLS, implicit TLS, AUTH).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, api, sleep, PG_URL, dropPgDatabase } from './lib.mjs';
import { FAST_ARGON, ADMIN, smtpEnv, startSmtp, selfSigned, parseMail, linkIn, login, register, auditEvents, notVerification } from './notify_lib.mjs';

let srv, B, smtp, root, user, tls;
before(async () => {
  tls = selfSigned();
  smtp = await startSmtp();
  srv = await startServer({
    env: {
      ...FAST_ARGON, ...ADMIN, ...smtpEnv(smtp), ARMOR_APP_NAME: 'Settings App', ARMOR_SMTP_CA_FILE: tls.certFile,
      ARMOR_SECURITY_PASSWORD_MIN_LENGTH: '9',
    },
    keepData: true,
  });
  B = srv.url;
  root = await login(B, 'root', 'root-password-1');
  user = await register(B, { username: 'plain', password: 'plain-password-1', email: 'plain@example.test' });
});
after(async () => {
  await srv?.stop();
  rmSync(srv.dataDir, { recursive: true, force: true });
  if (PG_URL) dropPgDatabase(srv.database);
  await smtp?.close();
});

const get = (token = root.token) => api(B, 'GET', '/api/settings', { token });
const put = (section, body, token = root.token) => api(B, 'PUT', `/api/settings/${section}`, { token, body });

/** The stored row of a section, straight from the database. */
function storedRow(section) {
  const sql = `SELECT data FROM settings WHERE section = '${section}'`;
  if (PG_URL) return execFileSync('psql', [srv.database, '-tAc', sql]).toString();
  return execFileSync('sqlite3', [join(srv.dataDir, 'armor.db'), sql]).toString();
}

test('only settings:read may read and settings:write may change', async () => {
  assert.equal((await api(B, 'GET', '/api/settings')).status, 401);
  let r = await get(user.token);
  assert.equal(r.status, 403);
  assert.equal(r.body.details.permission, 'settings:read');
  r = await put('app', { name: 'x' }, user.token);
  assert.equal(r.status, 403);
  r = await api(B, 'POST', '/api/settings/email/test', { token: user.token, body: { to: 'a@b.test' } });
  assert.equal(r.status, 403);
});

test('GET shows every section with its fields; first-start values come from ARMOR_* variables', async () => {
  const r = await get();
  assert.equal(r.status, 200);
  const d = r.body.data;
  assert.deepEqual(Object.keys(d).sort(), ['app', 'email', 'security', 'sms', 'system']);
  for (const k of ['name', 'public_url', 'registration_enabled', 'default_role']) assert.ok(k in d.app, k);
  for (const k of ['enabled', 'host', 'port', 'security', 'username', 'password_set', 'from_address', 'from_name']) assert.ok(k in d.email, k);
  for (const k of ['enabled', 'provider', 'url', 'auth_token_set', 'account_sid', 'from_number']) assert.ok(k in d.sms, k);
  for (const k of ['password_min_length', 'lockout_threshold', 'lockout_base_seconds', 'lockout_max_seconds', 'access_token_ttl_seconds',
    'session_idle_initial_seconds', 'session_idle_seconds', 'session_max_seconds', 'mfa_required']) assert.ok(k in d.security, k);
  for (const k of ['locale', 'timezone', 'log_level']) assert.ok(k in d.system, k);
  assert.ok(!('password' in d.email) && !('auth_token' in d.sms));
  assert.equal(d.app.name, 'Settings App');
  assert.equal(d.app.public_url, B, 'follows --public-url');
  assert.equal(d.email.enabled, true);
  assert.equal(d.email.port, smtp.port);
  assert.equal(d.email.security, 'none');
  assert.equal(d.security.password_min_length, 9);
  assert.equal(d.security.session_idle_initial_seconds, 300);
  assert.equal(d.sms.provider, 'log');
  assert.equal(d.system.timezone, 'UTC');
});

test('field-level validation: 422 (400 for a wrong type) naming the field, unknown fields and sections refused, nothing stored', async () => {
  const cases = [
    ['email', { port: 0 }, 'port'],
    ['email', { port: '25' }, 'port', 400],
    ['email', { security: 'ssl' }, 'security'],
    ['email', { from_address: 'nope' }, 'from_address'],
    ['email', { host: 'bad host name' }, 'host'],
    ['email', { enabled: 'yes' }, 'enabled', 400],
    ['email', { colour: 'red' }, 'colour'],
    ['sms', { provider: 'pigeon' }, 'provider'],
    ['sms', { enabled: true, provider: 'webhook', url: '' }, 'url'],
    ['sms', { enabled: true, provider: 'twilio' }, 'account_sid'],
    ['sms', { from_number: '555-0100' }, 'from_number'],
    ['sms', { url: 'gopher://x' }, 'url'],
    ['security', { password_min_length: 0 }, 'password_min_length'],
    ['security', { recovery_otp_ttl_seconds: 901 }, 'recovery_otp_ttl_seconds'],
    ['security', { mfa_required: 1 }, 'mfa_required', 400],
    ['app', { name: 7 }, 'name', 400],
    ['security', { lockout_base_seconds: 5000, lockout_max_seconds: 100 }, 'lockout_base_seconds'],
    ['app', { name: '' }, 'name'],
    ['app', { public_url: 'example.com' }, 'public_url'],
    ['app', { name: 'a\nb' }, 'name'],
    ['system', { log_level: 'verbose' }, 'log_level'],
    ['system', { timezone: 'Mars Base' }, 'timezone'],
  ];
  for (const [section, body, field, status = 422] of cases) {
    const r = await put(section, body);
    assert.equal(r.status, status, `${section} ${JSON.stringify(body)}: ${r.status}`);
    assert.equal(r.body.code, 'VALIDATION_FAILED');
    assert.equal(r.body.details.field, field, `${section} ${JSON.stringify(body)}`);
  }
  assert.equal((await get()).body.data.email.port, smtp.port, 'nothing stored');
  let r = await put('colours', { a: 1 });
  assert.equal(r.status, 404);
  r = await api(B, 'PUT', '/api/settings/app', { token: root.token, raw: '[1]', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  r = await api(B, 'PUT', '/api/settings/app', { token: root.token, raw: 'name=x', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 415);
});

test('secrets are write-only, encrypted at rest, and changes are audited by field name only', async () => {
  let r = await put('email', { password: 'smtp-secret-value', username: 'mailer' });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.password_set, true);
  assert.ok(!JSON.stringify(r.body).includes('smtp-secret-value'));
  r = await put('sms', { auth_token: 'sms-secret-value' });
  assert.equal(r.body.data.auth_token_set, true);
  const all = await get();
  assert.ok(!all.text.includes('secret-value'));
  const row = storedRow('email');
  assert.ok(row.includes('"password":"v1:'), row);
  assert.ok(!row.includes('smtp-secret-value'));
  // A GET answer may be sent back as is: "password_set" is read-only and ignored.
  r = await put('email', all.body.data.email);
  assert.equal(r.status, 200);
  assert.equal(r.body.data.password_set, true);
  r = await put('email', { password: null });
  assert.equal(r.body.data.password_set, false);

  const ev = await auditEvents(B, root.token, 'settings.changed');
  const emailChange = ev.find((e) => e.details.section === 'email' && e.details.fields.includes('password') &&
    e.details.fields.includes('username'));
  assert.ok(emailChange, JSON.stringify(ev));
  assert.equal(emailChange.actor_id, root.user.id);
  const text = JSON.stringify(await auditEvents(B, root.token));
  assert.ok(!text.includes('secret-value'));
  await put('email', { username: '' });
});

test('a change takes effect at once here and within 2 s on another node, without a restart', async () => {
  const other = await startServer({ env: { ...FAST_ARGON }, dataDir: srv.dataDir, database: srv.database });
  try {
    const r = await put('app', { name: 'Renamed App', public_url: 'https://login.example.test/' });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.name, 'Renamed App');
    // This node: the next recovery mail carries the new name and links to the new public_url.
    await register(B, { username: 'sam', password: 'sam-password-1', email: 'sam@example.test' });
    await api(B, 'POST', '/api/auth/recovery/email', { body: { username: 'sam' } });
    const [m] = await smtp.waitFor(1, 10000, (x) => x.to.includes('sam@example.test') && notVerification(x));
    const mail = parseMail(m.raw);
    assert.match(mail.subject, /Renamed App/);
    assert.ok(linkIn(mail).link.startsWith('https://login.example.test/ui/reset-password?token='), linkIn(mail).link);
    // The other node follows within 2 s.
    const t0 = Date.now();
    let name;
    const tok = (await login(other.url, 'root', 'root-password-1')).token;
    while (Date.now() - t0 < 2500) {
      name = (await api(other.url, 'GET', '/api/settings', { token: tok })).body.data.app.name;
      if (name === 'Renamed App') break;
      await sleep(100);
    }
    assert.equal(name, 'Renamed App');
    await put('security', { password_min_length: 12 });
    const t1 = Date.now();
    let reg;
    for (let i = 0; Date.now() - t1 < 2500; i++) {
      reg = await api(other.url, 'POST', '/api/auth/register', { body: { username: `tia${i}`, password: 'eleven-char' } });
      if (reg.status === 422) break;
      await sleep(100);
    }
    assert.equal(reg.status, 422, 'the other node applies the new password policy');
  } finally {
    await other.stop();
    await put('app', { name: 'Settings App', public_url: '' });
    await put('security', { password_min_length: 9 });
  }
});

test('POST /api/settings/email/test sends a mail and reports the SMTP answer', async () => {
  let r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'admin@example.test' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.sent, true);
  assert.match(r.body.data.response, /^250 /);
  const [m] = await smtp.waitFor(1, 5000, (x) => x.to.includes('admin@example.test'));
  assert.match(parseMail(m.raw).subject, /Test message/);
  r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'not an address' } });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'to');
  r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: {} });
  assert.equal(r.status, 400);
  // The mail server is down: 502 with what went wrong.
  await put('email', { port: 1 });
  r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'admin@example.test' } });
  assert.equal(r.status, 502);
  assert.equal(r.body.details.sent, false);
  assert.ok(r.body.details.response);
  // Email off: nothing to test.
  await put('email', { enabled: false });
  r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'admin@example.test' } });
  assert.equal(r.status, 422);
  await put('email', { enabled: true, port: smtp.port });
});

test('STARTTLS and implicit TLS with AUTH; a wrong password is reported', async () => {
  const starttls = await startSmtp({ tls, auth: { user: 'mailer', pass: 'mail-pass' } });
  const implicit = await startSmtp({ tls, secure: true, auth: { user: 'mailer', pass: 'mail-pass' } });
  try {
    await put('email', { security: 'starttls', port: starttls.port, username: 'mailer', password: 'mail-pass' });
    let r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'tls@example.test' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    let [m] = await starttls.waitFor(1);
    assert.equal(m.secure, true, 'upgraded with STARTTLS');
    assert.equal(m.auth, 'mailer');
    await put('email', { security: 'tls', port: implicit.port });
    r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'tls@example.test' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    [m] = await implicit.waitFor(1);
    assert.equal(m.secure, true);
    await put('email', { password: 'wrong-pass' });
    r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'tls@example.test' } });
    assert.equal(r.status, 502);
    assert.match(r.body.details.response, /^535/);
    // STARTTLS required but the server does not offer it: refused rather than sent in clear.
    await put('email', { security: 'starttls', port: smtp.port, username: '', password: '' });
    r = await api(B, 'POST', '/api/settings/email/test', { token: root.token, body: { to: 'clear@example.test' } });
    assert.equal(r.status, 502);
    assert.equal(smtp.mails.filter((x) => x.to.includes('clear@example.test')).length, 0);
  } finally {
    await put('email', { security: 'none', port: smtp.port, username: '', password: '' });
    await starttls.close();
    await implicit.close();
  }
});
