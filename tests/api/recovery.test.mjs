// Password recovery by email: the mailed link, validate, reset, cancel, context,
// initiation by an admin or the user, and the rules that keep accounts private.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, sleep } from './lib.mjs';
import { FAST_ARGON, ADMIN, smtpEnv, startSmtp, parseMail, linkIn, login, register, auditEvents, notVerification } from './notify_lib.mjs';

let srv, B, smtp, root;
before(async () => {
  smtp = await startSmtp();
  srv = await startServer({
    env: { ...FAST_ARGON, ...ADMIN, ...smtpEnv(smtp), ARMOR_APP_NAME: 'Acme ID', ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '10000' },
    args: ['--public-url', 'https://id.acme.test'],
  });
  B = srv.url;
  root = await login(B, 'root', 'root-password-1');
});
after(async () => { await srv?.stop(); await smtp?.close(); });

const post = (path, body, opts = {}) => api(B, 'POST', path, { body, ...opts });
// Mails to addr other than the verification mail that registration sends.
const to = (addr) => (m) => m.to.includes(addr) && notVerification(m);
const mailsTo = (addr) => smtp.mails.filter(to(addr)).map((m) => parseMail(m.raw));
async function nextMail(addr, n) {
  await smtp.waitFor(n, 10000, to(addr));
  return mailsTo(addr)[n - 1];
}

test('email recovery: link built from public_url, validate, reset, every session ends, a notice is mailed', async () => {
  const carol = await register(B, { username: 'carol', password: 'carol-password-1', email: 'carol@example.test', phone: '+15550100123' });
  // Host and X-Forwarded-Host must not steer the link.
  const r = await post('/api/auth/recovery/email', { username: 'carol' }, { headers: { 'x-forwarded-host': 'evil.test', 'x-forwarded-proto': 'http' } });
  assert.equal(r.status, 202);
  assert.equal(r.body.success, true);
  const mail = await nextMail('carol@example.test', 1);
  assert.match(mail.subject, /Acme ID/);
  assert.match(mail.from, /Acme ID/);
  assert.ok(mail.types.includes('multipart/alternative'), mail.types.join());
  assert.ok(mail.text && mail.html);
  const { link, token } = linkIn(mail);
  assert.ok(link.startsWith('https://id.acme.test/ui/reset-password?token='), link);
  assert.ok(!link.includes('evil'));
  assert.ok(mail.html.includes(token));
  assert.ok(token.length >= 43, 'at least 256 bits');

  let v = await post('/api/auth/recovery/validate', { recovery_token: token });
  assert.equal(v.status, 200);
  const grant = v.body.data.reset_grant;
  assert.ok(grant.length >= 43);
  assert.ok(v.body.data.expires_in > 0);
  v = await post('/api/auth/recovery/validate', { recovery_token: token });
  assert.equal(v.status, 400, 'single use');
  assert.equal(v.body.details.field, 'recovery_token');

  // A password the policy refuses leaves the grant usable.
  let p = await post('/api/auth/password/reset', { reset_grant: grant, new_password: 'short' });
  assert.equal(p.status, 422);
  assert.equal(p.body.details.field, 'new_password');
  p = await post('/api/auth/password/reset', { reset_grant: grant, new_password: 'carol-new-password' });
  assert.equal(p.status, 200);
  p = await post('/api/auth/password/reset', { reset_grant: grant, new_password: 'carol-newer-password' });
  assert.equal(p.status, 400);
  assert.equal(p.body.details.field, 'reset_grant');

  assert.equal((await post('/api/auth/login', { username: 'carol', password: 'carol-password-1' })).status, 401);
  await login(B, 'carol', 'carol-new-password');
  // The session that existed before the reset stops within 2 s.
  let st;
  for (let i = 0; i < 40; i++) {
    st = await api(B, 'GET', '/api/auth/state', { token: carol.token });
    if (st.status === 401) break;
    await sleep(100);
  }
  assert.equal(st.status, 401);
  const notice = await nextMail('carol@example.test', 2);
  assert.match(notice.subject, /password was changed/i);
  assert.ok(!/token=/.test(notice.text));

  const events = (await auditEvents(B, root.token)).filter((e) => e.subject_id === carol.user.id).map((e) => e.event);
  for (const e of ['recovery.requested', 'recovery.validated', 'password.reset']) assert.ok(events.includes(e), e);
  const all = JSON.stringify(await auditEvents(B, root.token));
  assert.ok(!all.includes(token) && !all.includes(grant) && !all.includes('carol-new-password'));
});

test('unknown accounts get the same answer in comparable time, and nothing is sent', async () => {
  await register(B, { username: 'dan', password: 'dan-password-1', email: 'dan@example.test' });
  await register(B, { username: 'noemail', password: 'noemail-password' });
  const sent = () => smtp.mails.filter(notVerification).length;
  const before_ = sent();
  const known = await post('/api/auth/recovery/email', { username: 'dan' });
  const unknown = await post('/api/auth/recovery/email', { username: 'nobody-at-all' });
  const byMail = await post('/api/auth/recovery/email', { email: 'nobody@example.test' });
  const noEmail = await post('/api/auth/recovery/email', { username: 'noemail' });
  for (const r of [unknown, byMail, noEmail]) {
    assert.equal(r.status, known.status);
    assert.deepEqual(r.body, known.body);
  }
  await smtp.waitFor(before_ + 1, 5000, notVerification);
  await sleep(500);
  assert.equal(sent(), before_ + 1, 'only the existing account with an email got a mail');

  // Timing: medians of known and unknown identifiers stay close.
  const time = async (body) => {
    const t = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      await post('/api/auth/recovery/email', body, { headers: { 'x-forwarded-for': `10.0.0.${i}` } });
      t.push(performance.now() - t0);
    }
    return t.sort((a, b) => a - b)[2];
  };
  const tk = await time({ email: 'dan@example.test' });
  const tu = await time({ email: 'nobody2@example.test' });
  assert.ok(Math.abs(tk - tu) < 100, `known ${tk.toFixed(1)} ms vs unknown ${tu.toFixed(1)} ms`);
});

test('a newer recovery token voids the older; DELETE /recovery cancels a token (body or query)', async () => {
  await register(B, { username: 'erin', password: 'erin-password-1', email: 'erin@example.test' });
  await post('/api/auth/recovery/email', { username: 'erin' });
  const t1 = linkIn(await nextMail('erin@example.test', 1)).token;
  await post('/api/auth/recovery/email', { email: 'ERIN@example.test' });
  const t2 = linkIn(await nextMail('erin@example.test', 2)).token;
  assert.notEqual(t1, t2);
  assert.equal((await post('/api/auth/recovery/validate', { recovery_token: t1 })).status, 400);

  let d = await api(B, 'DELETE', `/api/auth/recovery?recovery_token=${t2}`);
  assert.equal(d.status, 204);
  assert.equal((await post('/api/auth/recovery/validate', { recovery_token: t2 })).status, 400);
  d = await api(B, 'DELETE', `/api/auth/recovery?recovery_token=${t2}`);
  assert.equal(d.status, 404);
  await post('/api/auth/recovery/email', { username: 'erin' });
  const t3 = linkIn(await nextMail('erin@example.test', 3)).token;
  d = await api(B, 'DELETE', '/api/auth/recovery', { body: { recovery_token: t3 } });
  assert.equal(d.status, 204);
  assert.equal((await post('/api/auth/recovery/validate', { recovery_token: t3 })).status, 400);
  d = await api(B, 'DELETE', '/api/auth/recovery');
  assert.equal(d.status, 400);
  assert.equal(d.body.details.field, 'recovery_token');
  d = await api(B, 'DELETE', '/api/auth/recovery', { body: { token: 'x' } });
  assert.equal(d.status, 422);
});

test('recovery context: channels, preferred channel and masked hints; unknown users get stable fakes of the same shape', async () => {
  await register(B, { username: 'fay', password: 'fay-password-1', email: 'fay@example.test', phone: '+15550100177' });
  const r = await api(B, 'GET', '/api/auth/recovery/context?username=fay');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data, { channels: ['email'], preferred_channel: 'email', email_hint: 'f***@e***.test', phone_hint: '+1*******77' });
  const u1 = await api(B, 'GET', '/api/auth/recovery/context?username=ghost-user');
  const u2 = await api(B, 'GET', '/api/auth/recovery/context?username=ghost-user');
  assert.equal(u1.status, 200);
  assert.deepEqual(Object.keys(u1.body.data).sort(), Object.keys(r.body.data).sort());
  assert.deepEqual(u1.body, u2.body, 'stable');
  assert.equal(u1.body.message, r.body.message);
  const byMail = await api(B, 'GET', '/api/auth/recovery/context?email=ghost@example.test');
  assert.equal(byMail.body.data.email_hint, 'g***@e***.test');
  const byPhone = await api(B, 'GET', '/api/auth/recovery/context?phone=%2B15550100999');
  assert.equal(byPhone.body.data.phone_hint, '+1*******99');
  assert.equal((await api(B, 'GET', '/api/auth/recovery/context')).status, 400);
  assert.equal((await api(B, 'GET', '/api/auth/recovery/context?username=a&email=b%40c.d')).status, 400);
  assert.equal((await api(B, 'GET', '/api/auth/recovery/context?username=')).status, 422);
});

test('request errors: missing or doubled identifier, unknown field, wrong media type, SMS not configured', async () => {
  let r = await post('/api/auth/recovery/email', {});
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'VALIDATION_FAILED');
  r = await post('/api/auth/recovery/email', { username: 'a', email: 'a@b.test' });
  assert.equal(r.status, 400);
  r = await post('/api/auth/recovery/email', { username: 'a', colour: 'red' });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'colour');
  r = await post('/api/auth/recovery/email', { username: 42 });
  assert.equal(r.status, 400);
  r = await api(B, 'POST', '/api/auth/recovery/email', { raw: 'username=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 415);
  r = await post('/api/auth/recovery/validate', {});
  assert.equal(r.status, 400);
  r = await post('/api/auth/recovery/validate', { recovery_token: 'not-a-real-token-at-all-xxxxxxxxxxxxxxx' });
  assert.equal(r.status, 400);
  r = await post('/api/auth/password/reset', { reset_grant: 'nope-nope-nope-nope-nope-nope', new_password: 'whatever-123' });
  assert.equal(r.status, 400);
  r = await post('/api/auth/password/reset', { reset_grant: 'x' });
  assert.equal(r.status, 400);
  assert.equal(r.body.details.field, 'new_password');
  r = await post('/api/auth/recovery/sms', { username: 'fay' });
  assert.equal(r.status, 503, 'SMS is not configured on this server');
  assert.equal(r.body.code, 'UNAVAILABLE');
});

test('password reset initiate: an admin for anyone, a user for themself, nobody else', async () => {
  const gus = await register(B, { username: 'gus', password: 'gus-password-1', email: 'gus@example.test' });
  const hal = await register(B, { username: 'hal', password: 'hal-password-1' });
  let r = await post('/api/auth/password/reset/initiate', { username: 'gus' }, { token: root.token });
  assert.equal(r.status, 202);
  assert.equal(r.body.data.user_id, gus.user.id);
  const m1 = await nextMail('gus@example.test', 1);
  assert.ok(linkIn(m1).token);
  r = await post('/api/auth/password/reset/initiate', { user_id: gus.user.id }, { token: root.token });
  assert.equal(r.status, 202);
  await nextMail('gus@example.test', 2);
  r = await api(B, 'POST', '/api/auth/password/reset/initiate', { token: gus.token });
  assert.equal(r.status, 202, 'self, without a body');
  await nextMail('gus@example.test', 3);
  r = await post('/api/auth/password/reset/initiate', { username: 'gus' }, { token: hal.token });
  assert.equal(r.status, 403);
  r = await post('/api/auth/password/reset/initiate', { username: 'no-such-user' }, { token: hal.token });
  assert.equal(r.status, 403, 'a user learns nothing about other accounts');
  r = await post('/api/auth/password/reset/initiate', { username: 'no-such-user' }, { token: root.token });
  assert.equal(r.status, 404);
  r = await post('/api/auth/password/reset/initiate', { username: 'hal' }, { token: root.token });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'email');
  r = await post('/api/auth/password/reset/initiate', { username: 'gus', user_id: gus.user.id }, { token: root.token });
  assert.equal(r.status, 400);
  r = await post('/api/auth/password/reset/initiate', { username: 'gus' });
  assert.equal(r.status, 401);
  const events = (await auditEvents(B, root.token, 'password.reset_initiated')).map((e) => e.actor_id);
  assert.ok(events.includes(root.user.id) && events.includes(gus.user.id));
});

test('recovery tokens expire (TTL from the security settings, changed live)', async () => {
  await register(B, { username: 'ivy', password: 'ivy-password-1', email: 'ivy@example.test' });
  let r = await api(B, 'PUT', '/api/settings/security', { token: root.token, body: { recovery_token_ttl_seconds: 5 } });
  assert.equal(r.status, 200);
  try {
    await post('/api/auth/recovery/email', { username: 'ivy' });
    const t = linkIn(await nextMail('ivy@example.test', 1)).token;
    await sleep(6000);
    r = await post('/api/auth/recovery/validate', { recovery_token: t });
    assert.equal(r.status, 400);
  } finally {
    await api(B, 'PUT', '/api/settings/security', { token: root.token, body: { recovery_token_ttl_seconds: 1800 } });
  }
});

test('rate limits: per identifier and per IP with 429 + Retry-After for known and unknown alike; per account silently', async () => {
  const s = await startServer({
    env: { ...FAST_ARGON, ...smtpEnv(smtp), ARMOR_RECOVERY_LIMIT_PER_HOUR: '2', ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '7' },
  });
  try {
    await register(s.url, { username: 'jo', password: 'jo-password-1', email: 'jo@example.test' });
    const p = (body) => api(s.url, 'POST', '/api/auth/recovery/email', { body });
    const seq = async (body) => [(await p(body)).status, (await p(body)).status, await p(body)];
    const [k1, k2, k3] = await seq({ username: 'jo' });
    const [u1, u2, u3] = await seq({ username: 'jo-does-not-exist' });
    assert.deepEqual([k1, k2, u1, u2], [202, 202, 202, 202]);
    for (const r of [k3, u3]) {
      assert.equal(r.status, 429);
      assert.equal(r.body.code, 'RATE_LIMITED');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    }
    assert.deepEqual(k3.body, u3.body);
    // The account's limit (2) is reached: asking by email answers 202 but sends nothing more.
    await smtp.waitFor(2, 5000, to('jo@example.test'));
    const r = await p({ email: 'jo@example.test' });
    assert.equal(r.status, 202);
    await sleep(700);
    assert.equal(smtp.mails.filter(to('jo@example.test')).length, 2);
    // 7 allowed requests from this IP so far = 2 + 2 + 1 + ... one more, then every identifier is refused.
    await p({ username: 'someone-else-1' });
    await p({ username: 'someone-else-2' });
    const last = await p({ username: 'someone-else-3' });
    assert.equal(last.status, 429);
    const ctx = await api(s.url, 'GET', '/api/auth/recovery/context?username=jo');
    assert.equal(ctx.status, 200, 'the context has its own, larger budget');
  } finally {
    await s.stop();
  }
});
