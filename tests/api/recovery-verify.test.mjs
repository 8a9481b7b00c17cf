// Email verification: the mailed link, redeeming it, resending, and the errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api } from './lib.mjs';
import { FAST_ARGON, smtpEnv, startSmtp, parseMail, linkIn, register } from './notify_lib.mjs';

let srv, B, smtp;
before(async () => {
  smtp = await startSmtp();
  srv = await startServer({ env: { ...FAST_ARGON, ...smtpEnv(smtp), ARMOR_APP_NAME: 'Verify App' } });
  B = srv.url;
});
after(async () => { await srv?.stop(); await smtp?.close(); });

const mailsTo = (addr) => smtp.mails.filter((m) => m.to.includes(addr)).map((m) => parseMail(m.raw));
const me = async (token) => (await api(B, 'GET', '/api/auth/me', { token })).body.data;

test('registration mails a verification link; redeeming it marks the email verified once', async () => {
  const tom = await register(B, { username: 'tom', password: 'tom-password-1', email: 'tom@example.test' });
  assert.equal(tom.user.email_verified, false);
  await smtp.waitFor(1, 10000, (m) => m.to.includes('tom@example.test'));
  const mail = mailsTo('tom@example.test')[0];
  assert.match(mail.subject, /Verify App/);
  const { link, token } = linkIn(mail);
  assert.ok(link.startsWith(`${B}/ui/verify-email?token=`), link);
  let r = await api(B, 'POST', '/api/auth/email/verify', { body: { token } });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.email_verified, true);
  assert.equal(r.body.data.user_id, tom.user.id);
  assert.equal((await me(tom.token)).user.email_verified, true);
  r = await api(B, 'POST', '/api/auth/email/verify', { body: { token } });
  assert.equal(r.status, 400, 'single use');
  assert.equal(r.body.details.field, 'token');
  r = await api(B, 'POST', '/api/auth/email/verify/resend', { token: tom.token });
  assert.equal(r.status, 409, 'already verified');
  // No email, no mail.
  const n = smtp.mails.length;
  await register(B, { username: 'tom2', password: 'tom2-password-1' });
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(smtp.mails.length, n);
});

test('resend mails a new link and voids the older one', async () => {
  const uma = await register(B, { username: 'uma', password: 'uma-password-1', email: 'uma@example.test' });
  await smtp.waitFor(1, 10000, (m) => m.to.includes('uma@example.test'));
  const first = linkIn(mailsTo('uma@example.test')[0]).token;
  const r = await api(B, 'POST', '/api/auth/email/verify/resend', { token: uma.token });
  assert.equal(r.status, 202);
  await smtp.waitFor(2, 10000, (m) => m.to.includes('uma@example.test'));
  const second = linkIn(mailsTo('uma@example.test')[1]).token;
  assert.notEqual(first, second);
  assert.equal((await api(B, 'POST', '/api/auth/email/verify', { body: { token: first } })).status, 400);
  assert.equal((await api(B, 'POST', '/api/auth/email/verify', { body: { token: second } })).status, 200);
});

test('errors: no email on the account, no token, bad token, unauthenticated resend', async () => {
  const vic = await register(B, { username: 'vic', password: 'vic-password-1' });
  let r = await api(B, 'POST', '/api/auth/email/verify/resend', { token: vic.token });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'email');
  r = await api(B, 'POST', '/api/auth/email/verify/resend');
  assert.equal(r.status, 401);
  r = await api(B, 'POST', '/api/auth/email/verify', { body: {} });
  assert.equal(r.status, 400);
  r = await api(B, 'POST', '/api/auth/email/verify', { body: { token: 'x'.repeat(43) } });
  assert.equal(r.status, 400);
  r = await api(B, 'POST', '/api/auth/email/verify', { body: { token: 'abc', extra: 1 } });
  assert.equal(r.status, 422);
});

test('resends are rate limited per account', async () => {
  const wes = await register(B, { username: 'wes', password: 'wes-password-1', email: 'wes@example.test' });
  const codes = [];
  for (let i = 0; i < 6; i++) codes.push((await api(B, 'POST', '/api/auth/email/verify/resend', { token: wes.token })).status);
  assert.deepEqual(codes, [202, 202, 202, 202, 202, 429]);
});
