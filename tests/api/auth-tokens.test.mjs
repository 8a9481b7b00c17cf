// Access tokens as outsiders see them: verified with npm `jose` against the
// published JWKS, forged tokens refused, revocation visible on another node
// within 2 s. The JWKS-dependent cases need the tokens module (signing keys in
// the database); they are skipped, saying so, on a build without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { rmSync } from 'node:fs';
import { startServer, api, sleep, freePort, PG_URL, dropPgDatabase } from './lib.mjs';

const FAST_ARGON = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1' };
const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const parts = (t) => t.split('.');
const decode = (p) => JSON.parse(Buffer.from(p, 'base64url').toString());

let srv, B, data, jwks;
before(async () => {
  srv = await startServer({ env: FAST_ARGON, keepData: true });
  B = srv.url;
  data = (await api(B, 'POST', '/api/auth/register', { body: { username: 'tom', password: 'tom-password' } })).body.data;
  const k = await api(B, 'GET', '/.well-known/jwks.json');
  jwks = k.status === 200 && k.body?.keys?.length ? k.body : null;
});
after(async () => {
  await srv?.stop();
  if (srv && PG_URL) dropPgDatabase(srv.database);
  if (srv) rmSync(srv.dataDir, { recursive: true, force: true });
});
const NO_KEYS = 'needs the tokens module: /.well-known/jwks.json publishes no key in this build';

test('the access token carries the documented claims', async () => {
  const [h, p] = parts(data.token).map((x, i) => (i < 2 ? decode(x) : x));
  assert.equal(h.typ, 'JWT');
  assert.equal(p.aud, 'armor');
  assert.equal(p.sub, data.user.id);
  assert.equal(p.sid, data.session_id);
  assert.equal(p.preferred_username, 'tom');
  assert.deepEqual(p.perms, []);
  assert.equal(p.iss, B);
  assert.ok(p.jti && p.iat && p.exp - p.iat === 900);
});

test('jose verifies the access token against the published JWKS', async (t) => {
  if (!jwks) return t.skip(NO_KEYS);
  const JWKS = jose.createRemoteJWKSet(new URL(B + '/.well-known/jwks.json'));
  const { payload, protectedHeader } = await jose.jwtVerify(data.token, JWKS, { issuer: B, audience: 'armor' });
  assert.equal(payload.sub, data.user.id);
  assert.equal(protectedHeader.alg, 'ES256');
  assert.ok(protectedHeader.kid);
});

test('forged tokens are refused: alg none, edited payload, foreign key, HS256 with the public key', async (t) => {
  const [h, p, s] = parts(data.token);
  const payload = decode(p);
  const state = (token) => api(B, 'GET', '/api/auth/state', { token });
  // alg none, with and without a trailing signature.
  const none = b64u({ alg: 'none', typ: 'JWT' }) + '.' + p + '.';
  assert.equal((await state(none)).status, 401);
  assert.equal((await state(none.slice(0, -1))).status, 401);
  // Edited payload keeping the signature: grant every permission.
  const edited = h + '.' + b64u({ ...payload, perms: ['users:write', 'audit:read'] }) + '.' + s;
  assert.equal((await state(edited)).status, 401);
  const later = h + '.' + b64u({ ...payload, exp: payload.exp + 3600 }) + '.' + s;
  assert.equal((await state(later)).status, 401);
  // Signed with a key of our own under the server's kid.
  const { privateKey } = await jose.generateKeyPair('ES256');
  const header = decode(h);
  const foreign = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: header.kid }).sign(privateKey);
  assert.equal((await state(foreign)).status, 401);
  // HS256 keyed with a secret guess, and (when keys are published) with the public key itself.
  const hs = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: header.kid })
    .sign(new TextEncoder().encode('secret'));
  assert.equal((await state(hs)).status, 401);
  if (jwks) {
    const pub = crypto.createPublicKey({ key: jwks.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hsPub = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwks.keys[0].kid })
      .sign(new TextEncoder().encode(pub));
    assert.equal((await state(hsPub)).status, 401);
    const hsJwk = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: jwks.keys[0].kid })
      .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
    assert.equal((await state(hsJwk)).status, 401);
  }
  // Garbage shapes.
  for (const bad of ['a.b.c', 'a.b', '....', data.token.replace(/\./g, ''), data.token.slice(0, -2)])
    assert.equal((await state(bad)).status, 401, bad);
  // The genuine token still works.
  assert.equal((await state(data.token)).status, 200);
});

test('another node: wrong issuer refused; revocation visible within 2 s', async (t) => {
  if (!jwks) return t.skip(NO_KEYS);
  // A second node on the same database under another public URL: the keys are shared, the issuer is not.
  const port = await freePort();
  const other = await startServer({
    env: FAST_ARGON, database: srv.database, dataDir: srv.dataDir, port, args: ['--public-url', `http://localhost:${port}`],
  });
  // A third node with the same issuer as the first.
  const port3 = await freePort();
  const same = await startServer({
    env: FAST_ARGON, database: srv.database, dataDir: srv.dataDir, port: port3, args: ['--public-url', B],
  });
  try {
    const d = (await api(B, 'POST', '/api/auth/login', { body: { username: 'tom', password: 'tom-password' } })).body.data;
    assert.equal((await api(other.url, 'GET', '/api/auth/state', { token: d.token })).status, 401, 'wrong iss');
    assert.equal((await api(same.url, 'GET', '/api/auth/state', { token: d.token })).status, 200);
    assert.equal((await api(B, 'POST', '/api/auth/logout', { token: d.token })).status, 200);
    const t0 = Date.now();
    let status = 200;
    while (Date.now() - t0 < 2500) {
      status = (await api(same.url, 'GET', '/api/auth/state', { token: d.token })).status;
      if (status === 401) break;
      await sleep(50);
    }
    assert.equal(status, 401);
    assert.ok(Date.now() - t0 <= 2100, `revocation took ${Date.now() - t0} ms`);
  } finally {
    await other.stop();
    await same.stop();
  }
});

// Regression: cjose alone accepts an ES256 signature segment with one extra base64url
// character (65 bytes, tail ignored); armor_jwt_verify insists on canonical segments.
test('a signature with trailing garbage is refused', async () => {
  assert.equal((await api(B, 'GET', '/api/auth/state', { token: data.token + 'x' })).status, 401);
});
