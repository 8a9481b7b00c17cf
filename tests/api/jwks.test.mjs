// The JWKS endpoint, the first keys of a new database, `armor keys rotate` and key sharing between nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, calculateJwkThumbprint, createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startServer, runArmor, api, PG_URL, dropPgDatabase, sleep } from './lib.mjs';
import { Browser, authorizeInBrowser, postForm } from './oauth_helpers.mjs';

async function jwks(url) {
  const r = await fetch(url + '/.well-known/jwks.json');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.match(r.headers.get('cache-control') || '', /max-age=\d+/);
  const body = await r.json();
  assert.ok(Array.isArray(body.keys));
  return body.keys;
}

/**
 * The JWKS once it holds at least n keys, or as it is after `timeout` ms. On a new database the server
 * answers before its RS256 key exists (RSA generation takes a moment) and publishes it once made.
 */
async function jwksWith(url, n, timeout = 30000) {
  const end = Date.now() + timeout;
  for (;;) {
    const keys = await jwks(url);
    if (keys.length >= n || Date.now() > end) return keys;
    await sleep(50);
  }
}

async function checkKey(k) {
  assert.equal(typeof k.kid, 'string');
  assert.equal(k.use, 'sig');
  assert.ok(['ES256', 'RS256'].includes(k.alg), k.alg);
  for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[priv], undefined, `private member ${priv}`);
  if (k.alg === 'ES256') {
    assert.equal(k.kty, 'EC');
    assert.equal(k.crv, 'P-256');
    assert.ok(k.x && k.y);
  } else {
    assert.equal(k.kty, 'RSA');
    assert.equal(k.e, 'AQAB');
    assert.ok(Buffer.from(k.n, 'base64url').length >= 256);
  }
  const key = await importJWK(k, k.alg);
  assert.ok(key);
  // kids are RFC 7638 thumbprints
  assert.equal(await calculateJwkThumbprint(k, 'sha256'), k.kid);
}

function cleanup(server) {
  if (PG_URL) dropPgDatabase(server.database);
  rmSync(server.dataDir, { recursive: true, force: true });
}

test('GET /.well-known/jwks.json publishes one ES256 and one RS256 key', async () => {
  const s = await startServer();
  try {
    // A new database: the ES256 key is made before the server answers, the RS256 key just after.
    const first = await jwks(s.url);
    assert.ok(first.some((k) => k.alg === 'ES256'), JSON.stringify(first));
    assert.ok(first.length <= 2);
    const keys = await jwksWith(s.url, 2);
    assert.equal(keys.length, 2);
    assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
    for (const k of keys) await checkKey(k);
    const head = await fetch(s.url + '/.well-known/jwks.json', { method: 'HEAD' });
    assert.equal(head.status, 200);
    const post = await fetch(s.url + '/.well-known/jwks.json', { method: 'POST' });
    assert.equal(post.status, 405);
    const m = await (await fetch(s.url + '/metrics')).text();
    assert.match(m, /armor_jwt_verify_total\{result="ok"\} \d+/);
    assert.match(m, /armor_revoked_sessions \d+/);
  } finally {
    await s.stop();
  }
});

test('armor keys rotate against a stopped server adds keys; old ones stay published', async () => {
  const s = await startServer({ keepData: true });
  let s2;
  try {
    const before = await jwksWith(s.url, 2);
    assert.equal(before.length, 2);
    await s.stop();
    // Another master key cannot open these keys: refused, nothing written.
    const other = mkdtempSync(join(tmpdir(), 'armor-test-other-'));
    try {
      const bad = await runArmor(['keys', 'rotate', '--database', s.database, '--data-dir', other], { timeout: 20000 });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /master key/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    const r = await runArmor(['keys', 'rotate', '--database', s.database, '--data-dir', s.dataDir], { timeout: 20000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /new signing keys: ES256 \S+, RS256 \S+/);
    const list = await runArmor(['keys', 'list', '--database', s.database, '--data-dir', s.dataDir]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.trim().split('\n').length, 4);
    assert.equal((list.stdout.match(/ active /g) || []).length, 2);

    s2 = await startServer({ database: s.database, dataDir: s.dataDir });
    const after = await jwks(s2.url);
    assert.equal(after.length, 4);
    for (const k of after) await checkKey(k);
    const kids = new Set(after.map((k) => k.kid));
    for (const k of before) assert.ok(kids.has(k.kid), `old key ${k.kid} still published`);
    // The new ones come first.
    assert.ok(!before.some((k) => k.kid === after[0].kid));
  } finally {
    if (s2) await s2.stop();
    cleanup(s);
  }
});

test('two nodes on one database share keys; a rotation reaches a running node', async () => {
  const a = await startServer({ keepData: true });
  let b;
  try {
    // Node b: own data folder, same database and master key.
    const ka = await jwksWith(a.url, 2);
    b = await startServer({ database: a.database, args: ['--master-key-file', join(a.dataDir, 'master.key')] });
    const kb = await jwks(b.url);
    assert.deepEqual(kb.map((k) => k.kid).sort(), ka.map((k) => k.kid).sort());

    const r = await runArmor(['keys', 'rotate', '--database', a.database, '--data-dir', a.dataDir], { timeout: 20000 });
    assert.equal(r.code, 0, r.stderr);
    // Each node reloads every 10 s.
    const deadline = Date.now() + 15000;
    let na = [], nb = [];
    while (Date.now() < deadline) {
      na = await jwks(a.url);
      nb = await jwks(b.url);
      if (na.length === 4 && nb.length === 4) break;
      await sleep(250);
    }
    assert.equal(na.length, 4);
    assert.equal(nb.length, 4);
    assert.deepEqual(nb.map((k) => k.kid).sort(), na.map((k) => k.kid).sort());
    assert.doesNotMatch(a.log() + b.log(), /cannot decrypt/);
  } finally {
    if (b) await b.stop();
    await a.stop();
    cleanup(a);
  }
});

test('armor keys: usage and errors', async () => {
  const r = await runArmor(['keys']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /armor keys rotate/);
  const u = await runArmor(['keys', 'spin']);
  assert.equal(u.code, 2);
  const h = await runArmor(['keys', 'rotate', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--database/);
});

test('two PostgreSQL nodes starting together create one key per algorithm', { skip: !PG_URL && 'needs ARMOR_TEST_PG_URL' }, async () => {
  const { createPgDatabase } = await import('./lib.mjs');
  const { randomBytes } = await import('node:crypto');
  const database = createPgDatabase();
  const key = randomBytes(32).toString('base64');
  const nodes = [];
  try {
    const started = await Promise.allSettled([0, 1, 2].map(() => startServer({ database, args: ['--master-key', key] })));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    for (const s of started) assert.equal(s.status, 'fulfilled', s.reason && s.reason.message);
    // Every node may have made an RS256 key; one was stored, the others loaded it.
    const sets = await Promise.all(nodes.map((n) => jwksWith(n.url, 2)));
    for (const keys of sets) {
      assert.equal(keys.length, 2);
      assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
      assert.deepEqual(keys.map((k) => k.kid).sort(), sets[0].map((k) => k.kid).sort());
    }
  } finally {
    for (const n of nodes) await n.stop();
    dropPgDatabase(database);
  }
});

test('right after a first start an RS256 id_token is signed (once the key exists) and verifies with the JWKS', async () => {
  const ENV = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1', ARMOR_ADMIN_USERNAME: 'root', ARMOR_ADMIN_PASSWORD: 'root-password-1' };
  const CB = 'https://app.example.com/cb';
  const s = await startServer({ env: ENV });
  try {
    const login = await api(s.url, 'POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-1' } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const cr = await api(s.url, 'POST', '/api/clients', {
      token: login.body.data.token,
      body: { name: 'RS', grant_types: ['authorization_code'], redirect_uris: [CB], scopes: ['openid'], skip_consent: true, id_token_signed_response_alg: 'RS256' },
    });
    assert.equal(cr.status, 201, JSON.stringify(cr.body));
    const c = cr.body.data;
    const verifier = crypto.randomBytes(32).toString('base64url');
    const u = new URL(s.url + '/oauth2/authorize');
    for (const [k, v] of Object.entries({ client_id: c.client_id, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st',
      code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' })) u.searchParams.set(k, v);
    const loc = await authorizeInBrowser(new Browser(s.url), u.toString(), { username: 'root', password: 'root-password-1' });
    assert.ok(loc instanceof URL && loc.searchParams.get('code'), JSON.stringify(loc));
    const r = await postForm(s.url + '/oauth2/token', { grant_type: 'authorization_code', code: loc.searchParams.get('code'), redirect_uri: CB, code_verifier: verifier },
      { authorization: 'Basic ' + Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64') });
    const t = await r.json();
    assert.equal(r.status, 200, JSON.stringify(t));
    assert.equal(decodeProtectedHeader(t.id_token).alg, 'RS256');
    // The key that signed it is published already: no waiting here.
    const keys = await jwks(s.url);
    const rsa = keys.find((k) => k.alg === 'RS256');
    assert.ok(rsa, JSON.stringify(keys));
    assert.equal(decodeProtectedHeader(t.id_token).kid, rsa.kid);
    const { payload } = await jwtVerify(t.id_token, createLocalJWKSet({ keys }), { issuer: s.url, audience: c.client_id, algorithms: ['RS256'] });
    assert.equal(payload.aud, c.client_id);
  } finally {
    await s.stop();
  }
});

test('a server stopped while it makes its first RS256 key exits 0 at once; the next start completes the key set', async () => {
  const s = await startServer({ keepData: true });
  let s2;
  try {
    const es = (await jwks(s.url)).find((k) => k.alg === 'ES256');
    assert.ok(es);
    assert.deepEqual(await s.stop(), { code: 0, signal: null });
    assert.doesNotMatch(s.log(), /Z error /);
    s2 = await startServer({ database: s.database, dataDir: s.dataDir });
    const keys = await jwksWith(s2.url, 2);
    assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
    assert.equal(keys.find((k) => k.alg === 'ES256').kid, es.kid);
    for (const k of keys) await checkKey(k);
  } finally {
    if (s2) await s2.stop();
    cleanup(s);
  }
});
