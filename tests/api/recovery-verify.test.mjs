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

test('resend mails a link to {public_url}/ui/verify-email; redeeming it marks the email verified once', async () => {
  const uma = await register(B, { username: 'uma', password: 'uma-password-1', email: 'uma@example.test' });
  const before_ = mailsTo('uma@example.test').length; // registration may already have sent one
  let r = await api(B, 'POST', '/api/auth/email/verify/resend', { token: uma.token });
  assert.equal(r.status, 202);
  await smtp.waitFor(before_ + 1, 10000, (m) => m.to.includes('uma@example.test'));
  const mail = mailsTo('uma@example.test').at(-1);
  assert.match(mail.subject, /Verify App/);
  const { link, token } = linkIn(mail);
  assert.ok(link.startsWith(`${B}/ui/verify-email?token=`), link);
  if (before_ > 0) {
    // The link from the registration mail was voided by the newer one.
    const old = linkIn(mailsTo('uma@example.test')[0]).token;
    assert.equal((await api(B, 'POST', '/api/auth/email/verify', { body: { token: old } })).status, 400);
  }
  r = await api(B, 'POST', '/api/auth/email/verify', { body: { token } });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.email_verified, true);
  assert.equal(r.body.data.user_id, uma.user.id);
  const u = await me(uma.token);
  assert.equal((u.user ?? u).email_verified, true);
  r = await api(B, 'POST', '/api/auth/email/verify', { body: { token } });
  assert.equal(r.status, 400, 'single use');
  assert.equal(r.body.details.field, 'token');
  r = await api(B, 'POST', '/api/auth/email/verify/resend', { token: uma.token });
  assert.equal(r.status, 409, 'already verified');
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
