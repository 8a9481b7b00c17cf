// A real browser (Debian's Chromium driven by playwright-core) through the server-rendered pages: the OAuth
// authorization code flow (sign-in and consent forms, redirect to a loopback client), password reset from the
// mailed link, and email verification from its link. Screenshots of the final pages go to a temp folder, kept
// (and named in a test diagnostic) when ARMOR_TEST_SCREENSHOTS=1, removed otherwise. Skipped when
// /usr/bin/chromium is not installed (scripts/deps.sh installs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, api } from './lib.mjs';
import { FAST_ARGON, ADMIN, smtpEnv, startSmtp, parseMail, linkIn, login, register, notVerification } from './notify_lib.mjs';
import { cliClient } from './oauth_helpers.mjs';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium; scripts/deps.sh installs it)`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let srv, B, smtp, ctx, profile;
const shots = mkdtempSync(join(tmpdir(), 'armor-browser-shots-'));

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
  smtp = await startSmtp();
  srv = await startServer({
    env: { ...FAST_ARGON, ...ADMIN, ...smtpEnv(smtp), ARMOR_APP_NAME: 'Browser Test', ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '10000' },
  });
  B = srv.url;
  profile = mkdtempSync(join(tmpdir(), 'armor-chromium-profile-'));
  ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
  ctx.setDefaultTimeout(20000);
});
after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await srv?.stop();
  await smtp?.close();
  if (!process.env.ARMOR_TEST_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
});
const note = (t) => { if (process.env.ARMOR_TEST_SCREENSHOTS) t.diagnostic(`screenshots in ${shots}`); };

async function mailLink(addr, n, pred = () => true) {
  const f = (m) => m.to.includes(addr) && pred(m);
  await smtp.waitFor(n, 10000, f);
  return linkIn(parseMail(smtp.mails.filter(f)[n - 1].raw));
}

/** A loopback "client application": records the requests to /cb and answers a small page. */
async function startCallback() {
  const hits = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname === '/cb') hits.push(u); /* not /favicon.ico */
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>Client</title><p>Client application received the callback.</p>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { hits, uri: `http://127.0.0.1:${server.address().port}/cb`, close: () => new Promise((r) => server.close(r)) };
}

test('OAuth authorization code flow in Chromium: sign in, consent, redirect with code, state and iss', { skip }, async (t) => {
  await register(B, { username: 'alice', password: 'alice-password-1' });
  const cb = await startCallback();
  try {
    const c = await cliClient(srv, { name: 'Browser <App>', grants: ['authorization_code'], scopes: ['openid', 'profile'], uris: [cb.uri] });
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    const state = 'st-' + crypto.randomUUID();
    const u = new URL(B + '/oauth2/authorize');
    for (const [k, v] of Object.entries({ client_id: c.client_id, redirect_uri: cb.uri, response_type: 'code', scope: 'openid profile',
      state, code_challenge: challenge, code_challenge_method: 'S256' })) u.searchParams.set(k, v);

    const page = await ctx.newPage();
    const res = await page.goto(u.toString());
    assert.equal(res.status(), 200);
    assert.equal(res.headers()['x-frame-options'], 'DENY');
    assert.match(await page.locator('h1').innerText(), /Sign in to Browser Test/);
    assert.match(await page.content(), /Browser &lt;App&gt;/);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice-password-1');
    await Promise.all([page.waitForURL(/\/oauth2\/consent/), page.click('button[type=submit]')]);
    assert.match(await page.locator('h1').innerText(), /Browser <App> wants to access your account/);
    await page.screenshot({ path: join(shots, 'oauth-consent.png'), fullPage: true });
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(cb.uri)), page.click('button[value=allow]')]);
    await page.screenshot({ path: join(shots, 'oauth-callback.png'), fullPage: true });
    assert.equal(cb.hits.length, 1);
    const hit = cb.hits[0];
    const code = hit.searchParams.get('code');
    assert.ok(code, hit.toString());
    assert.equal(hit.searchParams.get('state'), state);
    assert.equal(hit.searchParams.get('iss'), B);
    await page.close();

    // The code works at the token endpoint.
    const tok = await fetch(B + '/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64') },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: cb.uri, code_verifier: verifier }).toString(),
    });
    const body = await tok.json();
    assert.equal(tok.status, 200, JSON.stringify(body));
    assert.ok(body.access_token && body.id_token);
    note(t);
  } finally {
    await cb.close();
  }
});

test('password reset from the mailed link in Chromium', { skip }, async (t) => {
  await register(B, { username: 'rita', password: 'rita-password-1', email: 'rita@example.test' });
  assert.equal((await api(B, 'POST', '/api/auth/recovery/email', { body: { email: 'rita@example.test' } })).status, 202);
  const { link } = await mailLink('rita@example.test', 1, notVerification);
  assert.ok(link.startsWith(`${B}/ui/reset-password?token=`), link);

  const page = await ctx.newPage();
  const res = await page.goto(link);
  assert.equal(res.status(), 200);
  assert.equal(res.headers()['referrer-policy'], 'no-referrer');
  assert.match(await page.locator('h1').innerText(), /Choose a new password/);
  // A mismatch is shown in the form; nothing is spent.
  await page.fill('#new_password', 'rita-new-password');
  await page.fill('#confirm_password', 'rita-typo-password');
  await Promise.all([page.waitForLoadState('load'), page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type=submit]')]);
  assert.match(await page.locator('.error').innerText(), /do not match/);
  await page.screenshot({ path: join(shots, 'reset-mismatch.png'), fullPage: true });

  await page.fill('#new_password', 'rita-new-password');
  await page.fill('#confirm_password', 'rita-new-password');
  await Promise.all([page.waitForURL(/\/ui\/reset-password\/done$/), page.click('button[type=submit]')]);
  assert.match(await page.locator('h1').innerText(), /Password changed/);
  assert.match(await page.locator('main').innerText(), /You can now sign in with the new password/);
  await page.screenshot({ path: join(shots, 'reset-done.png'), fullPage: true });
  await page.close();

  await login(B, 'rita', 'rita-new-password');
  assert.equal((await api(B, 'POST', '/api/auth/login', { body: { username: 'rita', password: 'rita-password-1' } })).status, 401);
  note(t);
});

test('email verification from its link in Chromium', { skip }, async (t) => {
  const v = await register(B, { username: 'vince', password: 'vince-password-1', email: 'vince@example.test' });
  const { link } = await mailLink('vince@example.test', 1);
  assert.ok(link.startsWith(`${B}/ui/verify-email?token=`), link);
  const page = await ctx.newPage();
  const res = await page.goto(link);
  assert.equal(res.status(), 200);
  assert.match(await page.locator('h1').innerText(), /Confirm your email address/);
  assert.equal((await api(B, 'GET', '/api/auth/me', { token: v.token })).body.data.user.email_verified, false, 'GET spends nothing');
  await Promise.all([page.waitForURL(/\/ui\/verify-email\/done$/), page.click('button[type=submit]')]);
  assert.match(await page.locator('main').innerText(), /Your email address is confirmed/);
  await page.screenshot({ path: join(shots, 'verify-done.png'), fullPage: true });
  // Going back and pressing again: the link is spent.
  await page.goto(link);
  await Promise.all([page.waitForLoadState('load'), page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type=submit]')]);
  assert.match(await page.locator('main').innerText(), /invalid, already used or expired/);
  await page.close();
  assert.equal((await api(B, 'GET', '/api/auth/me', { token: v.token })).body.data.user.email_verified, true);
  note(t);
});
