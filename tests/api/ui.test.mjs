// The pages that mailed links open (/ui/verify-email, /ui/reset-password), driven over plain HTTP with a cookie
// jar: headers, escaping, CSRF, the token spent only by the POST, policy refusals shown in the form (which then
// carries the reset grant), mismatched passwords, used links. tests/api/browser.test.mjs drives them in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api } from './lib.mjs';
import { FAST_ARGON, ADMIN, smtpEnv, startSmtp, parseMail, linkIn, login, register, notVerification } from './notify_lib.mjs';
import { Browser, parseForm, postForm } from './oauth_helpers.mjs';

let srv, B, smtp;
before(async () => {
  smtp = await startSmtp();
  srv = await startServer({
    env: { ...FAST_ARGON, ...ADMIN, ...smtpEnv(smtp), ARMOR_APP_NAME: 'Pages <&> App', ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '10000' },
  });
  B = srv.url;
});
after(async () => { await srv?.stop(); await smtp?.close(); });

const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
function pageHeaders(res) {
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('content-security-policy'), CSP);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(res.headers.get('cache-control'), 'no-store');
}

async function mailLink(addr, n, pred = () => true) {
  const f = (m) => m.to.includes(addr) && pred(m);
  await smtp.waitFor(n, 10000, f);
  return linkIn(parseMail(smtp.mails.filter(f)[n - 1].raw));
}
const local = (link) => { const u = new URL(link); return u.pathname + u.search; };

test('verify-email: GET shows a button and spends nothing; POST verifies once; errors are pages', async () => {
  const u = await register(B, { username: 'vera', password: 'vera-password-1', email: 'vera@example.test' });
  const { link, token } = await mailLink('vera@example.test', 1);
  const b = new Browser(B);
  let { res, text } = await b.get(local(link));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  pageHeaders(res);
  assert.ok(text.includes('Pages &lt;&amp;&gt; App'), 'app name escaped');
  assert.ok(!text.includes('<&>'));
  assert.ok(!/<script/i.test(text));
  const form = parseForm(text);
  assert.equal(form.action, '/ui/verify-email');
  assert.equal(form.fields.token, token);
  assert.ok(form.fields.csrf);
  // A second GET (a mail scanner) spends nothing.
  assert.equal((await b.get(local(link))).res.status, 200);
  // Without the cookie: refused, the form is shown again, nothing spent.
  let r = await postForm(B + '/ui/verify-email', form.fields);
  assert.equal(r.status, 400);
  pageHeaders(r);
  assert.match(await r.text(), /expired or was not sent from this browser/);
  assert.equal((await api(B, 'GET', '/api/auth/me', { token: u.token })).body.data.user.email_verified, false);

  ({ res, text } = await b.post('/ui/verify-email', form.fields));
  assert.equal(res.status, 303, text);
  pageHeaders(res);
  assert.equal(res.headers.get('location'), '/ui/verify-email/done');
  ({ res, text } = await b.get('/ui/verify-email/done'));
  assert.equal(res.status, 200);
  pageHeaders(res);
  assert.match(text, /Your email address is confirmed/);
  assert.equal((await api(B, 'GET', '/api/auth/me', { token: u.token })).body.data.user.email_verified, true);

  ({ res, text } = await b.post('/ui/verify-email', form.fields));
  assert.equal(res.status, 400, 'single use');
  assert.match(text, /invalid, already used or expired/);
  ({ res, text } = await b.get('/ui/verify-email'));
  assert.equal(res.status, 400);
  assert.match(text, /link is incomplete/);
});

test('reset-password: escaping, mismatch and policy refusals re-render, then success; used links fail', async () => {
  await register(B, { username: 'rosa', password: 'rosa-password-1', email: 'rosa@example.test' });
  assert.equal((await api(B, 'POST', '/api/auth/recovery/email', { body: { username: 'rosa' } })).status, 202);
  const { link, token } = await mailLink('rosa@example.test', 1, notVerification);
  assert.ok(link.startsWith(`${B}/ui/reset-password?token=`), link);
  const b = new Browser(B);

  // Hostile token text is escaped in the hidden input.
  let { res, text } = await b.get('/ui/reset-password?token=' + encodeURIComponent('"><script>alert(1)</script>'));
  assert.equal(res.status, 200);
  assert.ok(!text.includes('<script>'));
  assert.ok(text.includes('&quot;&gt;&lt;script&gt;'));

  ({ res, text } = await b.get(local(link)));
  assert.equal(res.status, 200);
  pageHeaders(res);
  let form = parseForm(text);
  assert.equal(form.action, '/ui/reset-password');
  assert.equal(form.fields.token, token);
  assert.match(text, /Use at least 8 characters/);

  // Mismatch: 422, the token is not spent (the form still carries it).
  ({ res, text } = await b.post('/ui/reset-password', { ...form.fields, new_password: 'rosa-new-password', confirm_password: 'rosa-other-password' }));
  assert.equal(res.status, 422);
  pageHeaders(res);
  assert.match(text, /do not match/);
  form = parseForm(text);
  assert.equal(form.fields.token, token);
  // No CSRF cookie: 400, form again.
  const r = await postForm(B + '/ui/reset-password', { ...form.fields, new_password: 'rosa-new-password', confirm_password: 'rosa-new-password' });
  assert.equal(r.status, 400);
  assert.match(await r.text(), /expired or was not sent from this browser/);

  // Too short: the policy refuses; the token is spent, the form carries the grant instead.
  ({ res, text } = await b.post('/ui/reset-password', { ...form.fields, new_password: 'short', confirm_password: 'short' }));
  assert.equal(res.status, 422);
  assert.match(text, /class="error"/);
  form = parseForm(text);
  assert.equal(form.fields.token, undefined);
  assert.ok(form.fields.grant && form.fields.grant.length >= 43);
  assert.equal((await api(B, 'POST', '/api/auth/recovery/validate', { body: { recovery_token: token } })).status, 400, 'token spent');

  ({ res, text } = await b.post('/ui/reset-password', { ...form.fields, new_password: 'rosa-new-password', confirm_password: 'rosa-new-password' }));
  assert.equal(res.status, 303, text);
  pageHeaders(res);
  assert.equal(res.headers.get('location'), '/ui/reset-password/done');
  ({ res, text } = await b.get('/ui/reset-password/done'));
  assert.equal(res.status, 200);
  assert.match(text, /Your password was changed/);
  await login(B, 'rosa', 'rosa-new-password');
  assert.equal((await api(B, 'POST', '/api/auth/login', { body: { username: 'rosa', password: 'rosa-password-1' } })).status, 401);

  // The grant and the token are spent now.
  ({ res, text } = await b.post('/ui/reset-password', { ...form.fields, new_password: 'rosa-newer-password', confirm_password: 'rosa-newer-password' }));
  assert.equal(res.status, 400);
  assert.match(text, /invalid, already used or expired/);
  form = parseForm((await b.get(local(link))).text);
  ({ res, text } = await b.post('/ui/reset-password', { ...form.fields, new_password: 'rosa-newer-password', confirm_password: 'rosa-newer-password' }));
  assert.equal(res.status, 400);
  assert.match(text, /invalid, already used or expired/);
  await login(B, 'rosa', 'rosa-new-password');
});

test('the pages are hidden from the OpenAPI document and routes answer HEAD', async () => {
  const doc = (await api(B, 'GET', '/openapi.json')).body;
  assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/ui/')));
  const r = await fetch(B + '/ui/reset-password?token=x', { method: 'HEAD' });
  assert.equal(r.status, 200);
});
