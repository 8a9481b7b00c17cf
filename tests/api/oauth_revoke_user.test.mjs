// A password change or a password reset ends the user's OAuth access: every grant (its refresh
// tokens at once, its access tokens through the revoked-session view within 2 s) and the provider's
// browser session (the next /oauth2/authorize shows the sign-in form). A password change keeps the
// Armor session that made it; other users' grants are untouched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, api, sleep } from './lib.mjs';
import { postForm, Browser, authorizeInBrowser } from './oauth_helpers.mjs';
import { FAST_ARGON, ADMIN, smtpEnv, startSmtp, parseMail, linkIn, login, register, notVerification } from './notify_lib.mjs';

const CB = 'https://app.example.com/cb';
let s, smtp, admin, web;

before(async () => {
  smtp = await startSmtp();
  s = await startServer({ env: { ...FAST_ARGON, ...ADMIN, ...smtpEnv(smtp), ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '10000' } });
  admin = (await login(s.url, 'root', 'root-password-1')).token;
  const r = await api(s.url, 'POST', '/api/clients', {
    token: admin,
    body: { name: 'Web', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [CB], scopes: ['openid', 'profile', 'email'] },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  web = r.body.data;
});
after(async () => { await s?.stop(); await smtp?.close(); });

const basic = (c) => 'Basic ' + Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64');
const refresh = (rt) => postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: rt }, { authorization: basic(web) });
const introspect = async (token) => (await (await postForm(s.url + '/oauth2/introspect', { token }, { authorization: basic(web) })).json()).active;

function authUrl(challenge) {
  const u = new URL(s.url + '/oauth2/authorize');
  const p = { client_id: web.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid profile', state: 'st',
    code_challenge: challenge, code_challenge_method: 'S256' };
  for (const [k, v] of Object.entries(p)) u.searchParams.set(k, v);
  return u.toString();
}

/** Signs the user in through the browser flow: { b (browser with the provider's cookie), tokens }. */
async function oauthLogin(username, password) {
  const b = new Browser(s.url);
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const loc = await authorizeInBrowser(b, authUrl(challenge), { username, password });
  assert.ok(loc instanceof URL && loc.searchParams.get('code'), JSON.stringify(loc));
  assert.ok(b.jar.has('armor_session'), 'the provider set its browser-session cookie');
  const r = await postForm(s.url + '/oauth2/token',
    { grant_type: 'authorization_code', code: loc.searchParams.get('code'), redirect_uri: CB, code_verifier: verifier },
    { authorization: basic(web) });
  assert.equal(r.status, 200);
  const tokens = await r.json();
  assert.ok(tokens.refresh_token && tokens.access_token);
  assert.equal(await introspect(tokens.access_token), true);
  return { b, tokens };
}

/** The browser's cookie no longer signs it in: /oauth2/authorize shows the sign-in form again. */
async function assertLoginFormShown(b) {
  const { res, text } = await b.get(authUrl(crypto.randomBytes(32).toString('base64url')));
  assert.equal(res.status, 200, `expected the sign-in form, got ${res.status} ${res.headers.get('location')}`);
  assert.match(text, /name="password"/);
}

/** The browser's cookie still signs it in: /oauth2/authorize goes on without the sign-in form. */
async function assertStillSignedIn(b) {
  const { res, text } = await b.get(authUrl(crypto.randomBytes(32).toString('base64url')));
  assert.ok(!/name="password"/.test(text), 'no sign-in form');
  assert.ok([200, 302, 303].includes(res.status), String(res.status));
}

async function assertOAuthAccessEnded({ b, tokens }) {
  const r = await refresh(tokens.refresh_token);
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'invalid_grant');
  let active = true;
  for (let i = 0; i < 40 && active; i++) {
    active = await introspect(tokens.access_token);
    if (active) await sleep(50);
  }
  assert.equal(active, false, 'the access token is inactive within 2 s');
  const ui = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(ui.status, 401);
  await assertLoginFormShown(b);
}

test('a password change ends every OAuth grant, refresh token and browser session; the current Armor session stays', async () => {
  await register(s.url, { username: 'alice', password: 'alice-password-1', email: 'alice@example.test' });
  await register(s.url, { username: 'bob', password: 'bob-password-1', email: 'bob@example.test' });
  const one = await oauthLogin('alice', 'alice-password-1');
  const two = await oauthLogin('alice', 'alice-password-1');
  const bob = await oauthLogin('bob', 'bob-password-1');
  const session = await login(s.url, 'alice', 'alice-password-1');

  const p = await api(s.url, 'PUT', '/api/auth/profile', { token: session.token,
    body: { currentPassword: 'alice-password-1', newPassword: 'alice-password-2' } });
  assert.equal(p.status, 200, p.text);
  await assertOAuthAccessEnded(one);
  await assertOAuthAccessEnded(two);
  // the Armor session that made the change keeps working
  const st = await api(s.url, 'GET', '/api/auth/state', { token: p.body.data.token });
  assert.equal(st.status, 200, st.text);
  // another user's grants are untouched
  await assertStillSignedIn(bob.b);
  const rb = await refresh(bob.tokens.refresh_token);
  assert.equal(rb.status, 200);
  // signing in again with the new password gives working tokens
  const again = await oauthLogin('alice', 'alice-password-2');
  assert.equal((await refresh(again.tokens.refresh_token)).status, 200);
});

test('a password reset ends every OAuth grant, refresh token and browser session', async () => {
  await register(s.url, { username: 'carol', password: 'carol-password-1', email: 'carol@example.test' });
  const grant = await oauthLogin('carol', 'carol-password-1');
  const to = (m) => m.to.includes('carol@example.test') && notVerification(m);
  const r = await api(s.url, 'POST', '/api/auth/recovery/email', { body: { username: 'carol' } });
  assert.equal(r.status, 202);
  await smtp.waitFor(1, 10000, to);
  const { token } = linkIn(parseMail(smtp.mails.filter(to)[0].raw));
  const v = await api(s.url, 'POST', '/api/auth/recovery/validate', { body: { recovery_token: token } });
  assert.equal(v.status, 200, v.text);
  const reset = await api(s.url, 'POST', '/api/auth/password/reset',
    { body: { reset_grant: v.body.data.reset_grant, new_password: 'carol-password-2' } });
  assert.equal(reset.status, 200, reset.text);
  await assertOAuthAccessEnded(grant);
  const events = (await api(s.url, 'GET', '/api/audit?limit=200&event=oauth.grant.revoked', { token: admin })).body.data.items;
  assert.ok(events.some((e) => e.details?.reason === 'all grants of the user'), JSON.stringify(events));
});
