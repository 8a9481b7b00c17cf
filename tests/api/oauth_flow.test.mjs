// The authorization code flow end to end with openid-client through the login
// and consent forms, every JWT verified with jose against the JWKS; refresh
// rotation, userinfo, introspection, logout, the seed-001 two-step login, and
// a negative test for every refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as client from 'openid-client';
import { startServer, api, sleep } from './lib.mjs';
import { discover, verifyJwt, decodeProtectedHeader, postForm, Browser, authorizeInBrowser, parseForm } from './oauth_helpers.mjs';

const ENV = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1', ARMOR_ADMIN_USERNAME: 'root', ARMOR_ADMIN_PASSWORD: 'root-password-1' };
const CB = 'https://app.example.com/cb';
const API = 'https://api.example.com/';
const ALICE = { username: 'alice', password: 'alice-password-1' };
let s, admin, alice, web, spa, first, rs, config;

async function newClient(body) {
  const r = await api(s.url, 'POST', '/api/clients', { token: admin, body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.data;
}
const basic = (c) => 'Basic ' + Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64');
const pkce = () => {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
};
function authUrl(c, params = {}) {
  const u = new URL(s.url + '/oauth2/authorize');
  const p = { client_id: c.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid profile email', state: 'st-' + crypto.randomUUID(), ...params };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}
/** A code for client c through a signed-in browser (new browser unless given). */
async function getCode(c, params = {}, b = new Browser(s.url)) {
  const { verifier, challenge } = pkce();
  const loc = await authorizeInBrowser(b, authUrl(c, { code_challenge: challenge, code_challenge_method: 'S256', ...params }), ALICE);
  assert.ok(loc instanceof URL, JSON.stringify(loc));
  assert.ok(loc.searchParams.get('code'), loc.toString());
  return { code: loc.searchParams.get('code'), verifier, loc, b };
}
const redeem = (c, code, verifier, extra = {}) => postForm(s.url + '/oauth2/token',
  { grant_type: 'authorization_code', code, redirect_uri: CB, ...(verifier ? { code_verifier: verifier } : {}), ...extra },
  c.client_secret ? { authorization: basic(c) } : {});
const introspect = async (token) => (await (await postForm(s.url + '/oauth2/introspect', { token }, { authorization: basic(web) })).json()).active;

before(async () => {
  s = await startServer({ env: ENV });
  admin = (await api(s.url, 'POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-1' } })).body.data.token;
  const reg = await api(s.url, 'POST', '/api/auth/register', { body: { ...ALICE, email: 'alice@example.com' } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  alice = reg.body.data.user;
  const scopes = ['openid', 'profile', 'email', 'phone'];
  web = await newClient({ name: 'Web <App>', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [CB], scopes, post_logout_redirect_uris: ['https://app.example.com/bye'], resources: [API] });
  spa = await newClient({ name: 'SPA', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [CB], scopes, token_endpoint_auth_method: 'none' });
  first = await newClient({ name: 'First party', grant_types: ['authorization_code'], redirect_uris: [CB], scopes, skip_consent: true });
  rs = await newClient({ name: 'RS', grant_types: ['authorization_code'], redirect_uris: [CB], scopes, skip_consent: true, id_token_signed_response_alg: 'RS256' });
  config = await discover(s, web.client_id, web.client_secret);
});
after(async () => { await s?.stop(); });

test('authorization code + PKCE through the login and consent forms with openid-client; JWTs verify with the JWKS', async () => {
  const b = new Browser(s.url);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState(), nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: CB, scope: 'openid profile email', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  // the login page: a plain form, escaped client name, frame protections, no caching
  const page = await b.get(url.toString());
  assert.equal(page.res.status, 200);
  assert.match(page.res.headers.get('content-type'), /^text\/html/);
  assert.equal(page.res.headers.get('x-frame-options'), 'DENY');
  assert.match(page.res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.equal(page.res.headers.get('cache-control'), 'no-store');
  assert.match(page.text, /name="username"/);
  assert.match(page.text, /name="password"/);
  assert.match(page.text, /Web &lt;App&gt;/);
  assert.ok(!page.text.includes('Web <App>'));
  const cb = await authorizeInBrowser(b, url.toString(), ALICE);
  assert.equal(cb.origin + cb.pathname, CB);
  assert.equal(cb.searchParams.get('state'), state);
  assert.equal(cb.searchParams.get('iss'), s.url);
  const cookie = [...b.jar.keys()];
  assert.ok(cookie.includes('armor_session') && cookie.includes('armor_csrf'), cookie.join());

  const tokens = await client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.refresh_token);
  assert.equal(tokens.scope, 'openid profile email');
  const at = await verifyJwt(s, tokens.access_token, { audience: web.client_id, typ: 'at+jwt' });
  assert.equal(at.payload.sub, alice.id);
  assert.equal(at.payload.client_id, web.client_id);
  assert.equal(at.payload.scope, 'openid profile email');
  assert.ok(at.payload.jti && at.payload.exp > at.payload.iat);
  const idt = await verifyJwt(s, tokens.id_token, { audience: web.client_id });
  assert.equal(idt.protectedHeader.alg, 'ES256');
  assert.equal(idt.payload.sub, alice.id);
  assert.equal(idt.payload.azp, web.client_id);
  assert.equal(idt.payload.nonce, nonce);
  assert.ok(idt.payload.auth_time <= idt.payload.iat);
  const half = crypto.createHash('sha256').update(tokens.access_token).digest().subarray(0, 16).toString('base64url');
  assert.equal(idt.payload.at_hash, half);
  assert.equal(tokens.claims().sub, alice.id);

  const ui = await client.fetchUserInfo(config, tokens.access_token, alice.id);
  assert.equal(ui.sub, alice.id);
  assert.equal(ui.preferred_username, 'alice');
  assert.equal(ui.email, 'alice@example.com');
  assert.equal(typeof ui.email_verified, 'boolean');
  assert.equal(ui.phone_number, undefined);
  const post = await postForm(s.url + '/oauth2/userinfo', { access_token: tokens.access_token });
  assert.equal(post.status, 200);
  assert.equal((await post.json()).sub, alice.id);

  const intro = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(intro.active, true);
  assert.equal(intro.sub, alice.id);
  assert.equal(intro.client_id, web.client_id);
  const rintro = await client.tokenIntrospection(config, tokens.refresh_token);
  assert.equal(rintro.active, true);

  // refresh rotation: the new pair works, the old refresh token is dead and its reuse revokes the family
  const t2 = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(t2.refresh_token && t2.refresh_token !== tokens.refresh_token);
  assert.ok(t2.id_token);
  assert.equal((await verifyJwt(s, t2.access_token, { audience: web.client_id })).payload.sub, alice.id);
  assert.equal(await introspect(t2.access_token), true);
  const narrowed = await client.refreshTokenGrant(config, t2.refresh_token, { scope: 'openid' });
  assert.equal(narrowed.scope, 'openid');
  await assert.rejects(client.refreshTokenGrant(config, narrowed.refresh_token, { scope: 'openid phone' }), (e) => e.error === 'invalid_scope');
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === 'invalid_grant');
  // the family is revoked: the newest refresh token and every access token of the grant
  await assert.rejects(client.refreshTokenGrant(config, narrowed.refresh_token), (e) => e.error === 'invalid_grant');
  assert.equal(await introspect(t2.access_token), false);
  assert.equal(await introspect(tokens.access_token), false);
  const gone = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: `Bearer ${narrowed.access_token}` } });
  assert.equal(gone.status, 401);
});

test('a signed-in browser with consent skips both forms; prompt and max_age behave as OIDC says', async () => {
  const b = new Browser(s.url);
  await getCode(web, {}, b); // signs in and consents
  // no form now: straight back to the client
  let r = await b.get(authUrl(web, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.equal(r.res.status, 302);
  assert.ok(new URL(r.res.headers.get('location')).searchParams.get('code'));
  r = await b.get(authUrl(web, { prompt: 'none', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.equal(r.res.status, 302);
  assert.ok(new URL(r.res.headers.get('location')).searchParams.get('code'));
  // prompt=login and max_age=0 show the login form again
  for (const p of [{ prompt: 'login' }, { max_age: '0' }]) {
    await sleep(1100);
    r = await b.get(authUrl(web, { ...p, code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    assert.equal(r.res.status, 200, JSON.stringify(p));
    assert.equal(parseForm(r.text).action, '/oauth2/login');
  }
  // login_hint pre-fills the username (escaped)
  r = await b.get(authUrl(web, { prompt: 'login', login_hint: '"><b>x', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.match(r.text, /value="&quot;&gt;&lt;b&gt;x"/);
  // prompt=consent shows the consent page although consent was given
  r = await b.get(authUrl(web, { prompt: 'consent', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.equal(r.res.status, 200);
  assert.equal(parseForm(r.text).action, '/oauth2/consent');
  assert.match(r.text, /decision/);
  // more scopes than consented: consent again; prompt=none then answers consent_required
  r = await b.get(authUrl(web, { prompt: 'none', scope: 'openid phone', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.equal(r.res.status, 302);
  const loc = new URL(r.res.headers.get('location'));
  assert.equal(loc.searchParams.get('error'), 'consent_required');
  assert.equal(loc.searchParams.get('iss'), s.url);
  // prompt=none without a session
  const fresh = new Browser(s.url);
  const st = 'xyz';
  r = await fresh.get(authUrl(web, { prompt: 'none', state: st, code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.equal(r.res.status, 302);
  const l2 = new URL(r.res.headers.get('location'));
  assert.equal(l2.origin + l2.pathname, CB);
  assert.equal(l2.searchParams.get('error'), 'login_required');
  assert.equal(l2.searchParams.get('state'), st);
  r = await fresh.get(authUrl(web, { prompt: 'none login' }));
  assert.equal(new URL(r.res.headers.get('location')).searchParams.get('error'), 'invalid_request');
});

test('skip_consent clients get a code right after sign-in; RS256 id_token on request', async () => {
  const b = new Browser(s.url);
  const { verifier, challenge } = pkce();
  let r = await b.get(authUrl(first, { code_challenge: challenge, code_challenge_method: 'S256' }));
  const { fields } = parseForm(r.text);
  r = await b.post('/oauth2/login', { ...fields, ...ALICE });
  assert.equal(r.res.status, 303);
  const loc = new URL(r.res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, CB);
  const t = await (await redeem(first, loc.searchParams.get('code'), verifier)).json();
  assert.ok(t.id_token, JSON.stringify(t));
  assert.equal(t.refresh_token, undefined, 'no refresh_token grant');
  const c2 = await getCode(rs, {}, b);
  const t2 = await (await redeem(rs, c2.code, c2.verifier)).json();
  assert.equal(decodeProtectedHeader(t2.id_token).alg, 'RS256');
  await verifyJwt(s, t2.id_token, { audience: rs.client_id });
});

test('errors before the redirect URI is trusted render a page and never redirect', async () => {
  const variants = ['https://APP.example.com/cb', 'https://app.example.com/CB', 'https://app.example.com/cb/',
    'https://app.example.com/x/../cb', 'https://app.example.com/cb?extra=1', 'https://app.example.com/cb#f',
    'http://app.example.com/cb', 'https://app.example.com:443/cb', 'https://evil.example/cb', ''];
  const b = new Browser(s.url);
  for (const v of variants) {
    const r = await b.get(authUrl(web, { redirect_uri: v }));
    assert.equal(r.res.status, 400, v);
    assert.equal(r.res.headers.get('location'), null, v);
    assert.match(r.res.headers.get('content-type'), /text\/html/);
  }
  let r = await b.get(authUrl({ client_id: '00000000-0000-4000-8000-000000000000' }));
  assert.equal(r.res.status, 400);
  assert.equal(r.res.headers.get('location'), null);
  r = await b.get(authUrl({ client_id: 'nope' }));
  assert.equal(r.res.status, 400);
  r = await b.get(s.url + '/oauth2/authorize?response_type=code');
  assert.equal(r.res.status, 400);
  r = await b.get(authUrl(web) + '&client_id=' + web.client_id);
  assert.equal(r.res.status, 400);
  assert.equal(r.res.headers.get('location'), null);
});

test('refusals after the redirect URI is trusted go back with error, state and iss', async () => {
  const b = new Browser(s.url);
  const cases = [
    [web, { response_type: 'token' }, 'unsupported_response_type'],
    [web, { response_type: 'code id_token' }, 'unsupported_response_type'],
    [web, { response_type: undefined }, 'invalid_request'],
    [spa, {}, 'invalid_request'], // public client without PKCE
    [web, { code_challenge: pkce().challenge, code_challenge_method: 'plain' }, 'invalid_request'],
    [web, { code_challenge: pkce().challenge }, 'invalid_request'], // method defaults to plain
    [web, { code_challenge: 'short', code_challenge_method: 'S256' }, 'invalid_request'],
    [web, { scope: 'openid admin' }, 'invalid_scope'],
    [web, { request: 'eyJ.x.y' }, 'request_not_supported'],
    [web, { max_age: '-1' }, 'invalid_request'],
  ];
  for (const [c, p, err] of cases) {
    const r = await b.get(authUrl(c, { state: 's1', ...p }));
    assert.equal(r.res.status, 302, JSON.stringify(p));
    const loc = new URL(r.res.headers.get('location'));
    assert.equal(loc.origin + loc.pathname, CB);
    assert.equal(loc.searchParams.get('error'), err, JSON.stringify(p));
    assert.equal(loc.searchParams.get('state'), 's1');
    assert.equal(loc.searchParams.get('iss'), s.url);
    assert.equal(loc.searchParams.get('code'), null);
  }
  const m2m = await newClient({ name: 'm2m', grant_types: ['client_credentials'], redirect_uris: [CB] });
  const r = await b.get(authUrl(m2m, { scope: undefined }));
  assert.equal(new URL(r.res.headers.get('location')).searchParams.get('error'), 'unauthorized_client');
});

test('denying consent answers access_denied', async () => {
  const b = new Browser(s.url);
  const loc = await authorizeInBrowser(b, authUrl(web, { state: 'd1', scope: 'openid phone', code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { ...ALICE, decision: 'deny' });
  assert.equal(loc.searchParams.get('error'), 'access_denied');
  assert.equal(loc.searchParams.get('state'), 'd1');
  assert.equal(loc.searchParams.get('iss'), s.url);
  assert.equal(loc.searchParams.get('code'), null);
});

test('the login form: wrong password, CSRF mismatch, forged request', async () => {
  const b = new Browser(s.url);
  const r = await b.get(authUrl(web, { prompt: 'consent', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  const { fields } = parseForm(r.text);
  let x = await b.post('/oauth2/login', { ...fields, username: 'alice', password: 'wrong-password' });
  assert.equal(x.res.status, 401);
  assert.match(x.text, /Invalid username or password/);
  assert.equal(parseForm(x.text).action, '/oauth2/login');
  assert.ok(!b.jar.has('armor_session'));
  x = await b.post('/oauth2/login', { ...fields, csrf: 'A'.repeat(43), ...ALICE });
  assert.equal(x.res.status, 400);
  x = await b.post('/oauth2/login', { ...fields, request: fields.request.slice(0, -8) + 'AAAAAAA=', ...ALICE });
  assert.equal(x.res.status, 400);
  // another browser (no CSRF cookie) cannot replay the form
  x = await new Browser(s.url).post('/oauth2/login', { ...fields, ...ALICE });
  assert.equal(x.res.status, 400);
  x = await b.post('/oauth2/login', { ...fields, ...ALICE });
  assert.equal(x.res.status, 303);
  assert.ok(b.jar.has('armor_session'));
  // the consent page needs the session
  const consent = new URL(x.res.headers.get('location'), s.url);
  assert.equal(consent.pathname, '/oauth2/consent');
  const other = new Browser(s.url);
  other.jar.set('armor_csrf', b.jar.get('armor_csrf'));
  const y = await other.get(consent.toString());
  assert.equal(y.res.status, 400);
  const z = await b.get(consent.toString());
  assert.equal(z.res.status, 200);
  const cf = parseForm(z.text);
  const bad = await b.post('/oauth2/consent', { ...cf.fields, decision: 'maybe' });
  assert.equal(bad.res.status, 400);
});

test('code reuse fails with invalid_grant and revokes what the first redemption issued', async () => {
  const { code, verifier } = await getCode(web);
  const r1 = await redeem(web, code, verifier);
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('cache-control'), 'no-store');
  const t = await r1.json();
  assert.equal(await introspect(t.access_token), true);
  const r2 = await redeem(web, code, verifier);
  assert.equal(r2.status, 400);
  assert.equal((await r2.json()).error, 'invalid_grant');
  assert.equal(await introspect(t.access_token), false);
  const rr = await postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token }, { authorization: basic(web) });
  assert.equal((await rr.json()).error, 'invalid_grant');
});

test('refresh: a wider scope is invalid_scope and leaves the refresh token usable; a narrowed refresh keeps the grant scope', async () => {
  const { code, verifier } = await getCode(web, { scope: 'openid profile' });
  const r = await redeem(web, code, verifier);
  assert.equal(r.status, 200);
  const t = await r.json();
  const refresh = (rt, extra = {}) => postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: rt, ...extra }, { authorization: basic(web) });
  // wider than the grant (email is registered for the client but was not granted), or not a scope at all
  for (const scope of ['openid profile email', 'openid  profile', 'admin']) {
    const w = await refresh(t.refresh_token, { scope });
    assert.equal(w.status, 400, scope);
    assert.equal((await w.json()).error, 'invalid_scope', scope);
  }
  // the same refresh token still works: nothing was spent, the grant is not revoked
  assert.equal(await introspect(t.access_token), true);
  let n = await refresh(t.refresh_token, { scope: 'openid' });
  assert.equal(n.status, 200);
  const narrowed = await n.json();
  assert.equal(narrowed.scope, 'openid');
  assert.equal((await verifyJwt(s, narrowed.access_token, { audience: web.client_id })).payload.scope, 'openid');
  // RFC 6749 section 6: the new refresh token keeps the scope of the one presented, not the narrowed one
  n = await refresh(narrowed.refresh_token);
  assert.equal(n.status, 200);
  const full = await n.json();
  assert.equal(full.scope, 'openid profile');
  n = await refresh(full.refresh_token, { scope: 'openid profile' });
  assert.equal(n.status, 200);
  assert.equal(await introspect(t.access_token), true, 'the grant was never revoked');
});

test('resource on the code and refresh grants: only a registered one, refused before the code or token is spent', async () => {
  const { code, verifier } = await getCode(web, { scope: 'openid profile' });
  const refresh = (rt, extra = {}) => postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: rt, ...extra }, { authorization: basic(web) });
  for (const resource of ['https://evil.example.com/', 'https://api.example.com', 'not a uri']) {
    const r = await redeem(web, code, verifier, { resource });
    assert.equal(r.status, 400, resource);
    assert.equal((await r.json()).error, 'invalid_target', resource);
  }
  // the code was not spent by the refusals
  let r = await redeem(web, code, verifier, { resource: API });
  assert.equal(r.status, 200);
  const t = await r.json();
  const at = await verifyJwt(s, t.access_token, { audience: API, typ: 'at+jwt' });
  assert.equal(at.payload.sub, alice.id);
  assert.equal(at.payload.client_id, web.client_id);
  assert.equal((await verifyJwt(s, t.id_token, { audience: web.client_id })).payload.aud, web.client_id, 'the id_token is for the client');
  r = await refresh(t.refresh_token, { resource: 'https://evil.example.com/' });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'invalid_target');
  // the refresh token was not spent either; with the resource the audience is the resource, without it the client
  r = await refresh(t.refresh_token, { resource: API });
  assert.equal(r.status, 200);
  const t2 = await r.json();
  assert.equal((await verifyJwt(s, t2.access_token, { audience: API })).payload.aud, API);
  r = await refresh(t2.refresh_token);
  assert.equal(r.status, 200);
  assert.equal((await verifyJwt(s, (await r.json()).access_token, { audience: web.client_id })).payload.aud, web.client_id);
  // a client without registered resources gets invalid_target for any
  const c2 = await getCode(first);
  r = await redeem(first, c2.code, c2.verifier, { resource: API });
  assert.equal((await r.json()).error, 'invalid_target');
});

test('racing redemptions: at most one wins, and what it got is revoked', async () => {
  for (let i = 0; i < 3; i++) {
    const { code, verifier } = await getCode(web);
    const rs2 = await Promise.all([redeem(web, code, verifier), redeem(web, code, verifier)]);
    const bodies = await Promise.all(rs2.map((r) => r.json()));
    const ok = bodies.filter((b) => b.access_token);
    assert.ok(ok.length <= 1, JSON.stringify(bodies));
    assert.ok(bodies.some((b) => b.error === 'invalid_grant'));
    await sleep(50);
    for (const b of ok) assert.equal(await introspect(b.access_token), false);
  }
});

test('PKCE: wrong verifier, missing verifier, verifier without challenge', async () => {
  let c = await getCode(web);
  let r = await redeem(web, c.code, pkce().verifier);
  assert.equal((await r.json()).error, 'invalid_grant');
  c = await getCode(web);
  r = await redeem(web, c.code, undefined);
  assert.equal((await r.json()).error, 'invalid_grant');
  // a confidential client may skip PKCE, but then a code_verifier is refused
  c = await getCode(web, { code_challenge: undefined, code_challenge_method: undefined });
  r = await redeem(web, c.code, pkce().verifier);
  assert.equal((await r.json()).error, 'invalid_grant');
  c = await getCode(web, { code_challenge: undefined, code_challenge_method: undefined });
  r = await redeem(web, c.code, undefined);
  assert.equal(r.status, 200);
  // public client: PKCE round trip with client_id only
  c = await getCode(spa);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'authorization_code', code: c.code, redirect_uri: CB, code_verifier: c.verifier, client_id: spa.client_id });
  assert.equal(r.status, 200);
  const t = await r.json();
  assert.ok(t.refresh_token);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: spa.client_id });
  assert.equal(r.status, 200);
  const spaConfig = await discover(s, spa.client_id, { token_endpoint_auth_method: 'none' }, client.None());
  const c2 = await getCode(spa);
  const cb = new URL(c2.loc);
  const t2 = await client.authorizationCodeGrant(spaConfig, cb, { pkceCodeVerifier: c2.verifier, expectedState: cb.searchParams.get('state') });
  assert.ok(t2.access_token);
});

test('codes and refresh tokens are bound to their client and redirect URI; wrong secrets are 401', async () => {
  let c = await getCode(web);
  let r = await redeem(first, c.code, c.verifier);
  assert.equal((await r.json()).error, 'invalid_grant');
  c = await getCode(web);
  r = await redeem(web, c.code, c.verifier, { redirect_uri: CB + '/' });
  assert.equal((await r.json()).error, 'invalid_grant');
  c = await getCode(web);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'authorization_code', code: c.code, redirect_uri: CB, code_verifier: c.verifier }, { authorization: basic({ ...web, client_secret: 'wrong' }) });
  assert.equal(r.status, 401);
  assert.ok(r.headers.get('www-authenticate'));
  assert.equal((await r.json()).error, 'invalid_client');
  // a public client cannot pose as the confidential one
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'authorization_code', code: c.code, redirect_uri: CB, code_verifier: c.verifier, client_id: web.client_id });
  assert.equal(r.status, 401);
  r = await redeem(web, c.code, c.verifier);
  const t = await r.json();
  assert.ok(t.refresh_token);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: spa.client_id });
  assert.equal((await r.json()).error, 'invalid_grant');
  // another client cannot introspect the refresh token or revoke it
  const fc = await discover(s, first.client_id, first.client_secret);
  assert.equal((await client.tokenIntrospection(fc, t.refresh_token)).active, false);
  r = await postForm(s.url + '/oauth2/revoke', { token: t.refresh_token }, { authorization: basic(first) });
  assert.equal(r.status, 400);
  // the owner revokes its refresh token: the grant ends
  await client.tokenRevocation(config, t.refresh_token, { token_type_hint: 'refresh_token' });
  assert.equal((await client.tokenIntrospection(config, t.refresh_token)).active, false);
  assert.equal(await introspect(t.access_token), false);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token }, { authorization: basic(web) });
  assert.equal((await r.json()).error, 'invalid_grant');
});

test('userinfo claims follow the scope; insufficient scope is 403', async () => {
  let c = await getCode(first, { scope: 'openid' });
  let t = await (await redeem(first, c.code, c.verifier)).json();
  let r = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: `Bearer ${t.access_token}` } });
  const ui = await r.json();
  assert.deepEqual(Object.keys(ui), ['sub']);
  c = await getCode(first, { scope: 'profile' });
  t = await (await redeem(first, c.code, c.verifier)).json();
  assert.equal(t.id_token, undefined);
  r = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(r.status, 403);
  assert.match(r.headers.get('www-authenticate'), /insufficient_scope/);
  r = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: 'Bearer nope' } });
  assert.equal(r.status, 401);
  // an Armor API token is not an OAuth access token
  r = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(r.status, 401);
});

test('RP-initiated logout: registered post_logout_redirect_uri only; the browser session ends', async () => {
  const b = new Browser(s.url);
  const c = await getCode(web, {}, b);
  const t = await (await redeem(web, c.code, c.verifier)).json();
  let r = await b.get(`/oauth2/logout?id_token_hint=${t.id_token}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`);
  assert.equal(r.res.status, 400);
  assert.equal(r.res.headers.get('location'), null);
  r = await b.get(`/oauth2/logout?post_logout_redirect_uri=${encodeURIComponent('https://app.example.com/bye')}`);
  assert.equal(r.res.status, 400, 'no client named');
  const url = client.buildEndSessionUrl(config, { id_token_hint: t.id_token, post_logout_redirect_uri: 'https://app.example.com/bye', state: 'bye1' });
  r = await b.get(url.toString());
  assert.equal(r.res.status, 302);
  const loc = new URL(r.res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, 'https://app.example.com/bye');
  assert.equal(loc.searchParams.get('state'), 'bye1');
  assert.ok(!b.jar.has('armor_session'));
  r = await b.get(authUrl(web, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
  assert.equal(r.res.status, 200, 'login form again');
  r = await b.get('/oauth2/logout');
  assert.equal(r.res.status, 200);
  assert.match(r.text, /signed out/);
});

test('seed 001: POST /api/auth/authorize then POST /api/auth/token; reuse ends the session', async () => {
  const { verifier, challenge } = pkce();
  let r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, client_id: spa.client_id, redirect_uri: CB, code_challenge: challenge, code_challenge_method: 'S256', state: 'abc', scope: 'openid profile', nonce: 'n1' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.success, true);
  const code = r.body.data.code;
  assert.ok(code);
  assert.equal(r.body.data.state, 'abc');
  const body = { code, code_verifier: verifier, client_id: spa.client_id, redirect_uri: CB };
  r = await api(s.url, 'POST', '/api/auth/token', { body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const d = r.body.data;
  for (const k of ['token', 'token_type', 'expires_in', 'refresh_token', 'user', 'permissions', 'id_token']) assert.ok(k in d, k);
  assert.equal(d.user.id, alice.id);
  const idt = await verifyJwt(s, d.id_token, { audience: spa.client_id });
  assert.equal(idt.payload.nonce, 'n1');
  assert.equal(idt.payload.preferred_username, 'alice');
  let st = await api(s.url, 'GET', '/api/auth/state', { token: d.token });
  assert.equal(st.status, 200);
  r = await api(s.url, 'POST', '/api/auth/token', { body });
  assert.equal(r.status, 400);
  assert.equal(r.body.success, false);
  await sleep(100);
  st = await api(s.url, 'GET', '/api/auth/state', { token: d.token });
  assert.equal(st.status, 401, 'the session of the first redemption ended');
  const re = await api(s.url, 'POST', '/api/auth/token/reissue', { body: { refresh_token: d.refresh_token } });
  assert.equal(re.status, 401, 'its refresh token is dead too');
  // the bearer variant, and refusals
  const p2 = pkce();
  const login = (await api(s.url, 'POST', '/api/auth/login', { body: ALICE })).body.data.token;
  r = await api(s.url, 'POST', '/api/auth/authorize', { token: login, body: { client_id: first.client_id, redirect_uri: CB, code_challenge: p2.challenge } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await api(s.url, 'POST', '/api/auth/token', { body: { code: r.body.data.code, code_verifier: p2.verifier, client_id: first.client_id, redirect_uri: CB } });
  assert.equal(r.status, 401, 'a confidential client must send its secret');
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, client_id: spa.client_id, redirect_uri: CB } });
  assert.equal(r.status, 400, 'PKCE required');
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, password: 'wrong-password', client_id: spa.client_id, redirect_uri: CB, code_challenge: p2.challenge } });
  assert.equal(r.status, 401);
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, client_id: spa.client_id, redirect_uri: CB + '/', code_challenge: p2.challenge } });
  assert.equal(r.status, 400);
  assert.equal(r.body.details.field, 'redirect_uri');
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, client_id: spa.client_id, redirect_uri: CB, code_challenge: p2.challenge, code_challenge_method: 'plain' } });
  assert.equal(r.status, 400);
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { client_id: spa.client_id, redirect_uri: CB, code_challenge: p2.challenge } });
  assert.equal(r.status, 401);
  // a code from /api/auth/authorize is not an /oauth2/token code, and the verifier must match
  const p3 = pkce();
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, client_id: spa.client_id, redirect_uri: CB, code_challenge: p3.challenge } });
  const c3 = r.body.data.code;
  r = await api(s.url, 'POST', '/api/auth/token', { body: { code: c3, code_verifier: p2.verifier, client_id: spa.client_id, redirect_uri: CB } });
  assert.equal(r.status, 400);
  const p4 = pkce();
  r = await api(s.url, 'POST', '/api/auth/authorize', { body: { ...ALICE, client_id: spa.client_id, redirect_uri: CB, code_challenge: p4.challenge } });
  const o = await postForm(s.url + '/oauth2/token', { grant_type: 'authorization_code', code: r.body.data.code, redirect_uri: CB, code_verifier: p4.verifier, client_id: spa.client_id });
  assert.equal((await o.json()).error, 'invalid_grant');
});

test('authorization decisions and token issuance are counted', async () => {
  const m = await (await fetch(s.url + '/metrics')).text();
  assert.match(m, /armor_oauth_tokens_issued_total\{grant="authorization_code"\} [1-9]/);
  assert.match(m, /armor_oauth_tokens_issued_total\{grant="refresh_token"\} [1-9]/);
  assert.match(m, /armor_oauth_authorize_total\{result="code"\} [1-9]/);
  assert.match(m, /armor_oauth_authorize_total\{result="denied"\} [1-9]/);
  assert.match(m, /armor_oauth_replays_total [1-9]/);
  const a = await api(s.url, 'GET', '/api/audit?limit=200', { token: admin });
  assert.equal(a.status, 200);
  const events = JSON.stringify(a.body.data);
  for (const e of ['oauth.authorize', 'oauth.token.issued', 'oauth.grant.revoked', 'oauth.consent.granted', 'oauth.client.created'])
    assert.ok(events.includes(e), e);
});
