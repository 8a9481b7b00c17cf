// /api/clients: CRUD with clients:read / clients:write, validation of
// registrations (redirect URIs above all), the secret shown once and rotated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { startServer, api } from './lib.mjs';
import { discover, postForm } from './oauth_helpers.mjs';

const ENV = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1', ARMOR_ADMIN_USERNAME: 'root', ARMOR_ADMIN_PASSWORD: 'root-password-1' };
let s, admin, user;
before(async () => {
  s = await startServer({ env: ENV });
  admin = (await api(s.url, 'POST', '/api/auth/login', { body: { username: 'root', password: 'root-password-1' } })).body.data.token;
  const reg = await api(s.url, 'POST', '/api/auth/register', { body: { username: 'plain', password: 'plain-password-1' } });
  user = reg.body.data.token;
  assert.ok(admin && user);
});
after(async () => { await s?.stop(); });

const good = { name: 'Web app', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['https://app.example.com/cb'], scopes: ['openid', 'profile', 'email'] };

test('POST /api/clients answers client_id and, once, client_secret; GET never shows it', async () => {
  const r = await api(s.url, 'POST', '/api/clients', { token: admin, body: good });
  assert.equal(r.status, 201);
  assert.equal(r.body.success, true);
  const d = r.body.data;
  assert.match(d.client_id, /^[0-9a-f-]{36}$/);
  assert.ok(Buffer.from(d.client_secret, 'base64url').length >= 32);
  assert.equal(d.client_type, 'confidential');
  assert.equal(d.token_endpoint_auth_method, 'client_secret_basic');
  assert.deepEqual(d.redirect_uris, good.redirect_uris);
  assert.deepEqual(d.grant_types, ['authorization_code', 'refresh_token']);
  assert.equal(d.skip_consent, false);
  const g = await api(s.url, 'GET', `/api/clients/${d.client_id}`, { token: admin });
  assert.equal(g.status, 200);
  assert.equal(g.body.data.client_secret, undefined);
  assert.equal(g.body.data.name, 'Web app');
  assert.ok(!JSON.stringify(g.body).includes(d.client_secret));
  const l = await api(s.url, 'GET', '/api/clients', { token: admin });
  assert.equal(l.status, 200);
  assert.ok(l.body.data.clients.some((c) => c.client_id === d.client_id));
  assert.ok(!JSON.stringify(l.body).includes(d.client_secret));
});

test('public clients have no secret; client_credentials needs a confidential client', async () => {
  let r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { ...good, token_endpoint_auth_method: 'none' } });
  assert.equal(r.status, 201);
  assert.equal(r.body.data.client_secret, undefined);
  assert.equal(r.body.data.client_type, 'public');
  const rot = await api(s.url, 'POST', `/api/clients/${r.body.data.client_id}/secret`, { token: admin });
  assert.equal(rot.status, 409);
  r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { name: 'x', grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' } });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'grant_types');
});

test('registration validation: redirect URIs, grants, scopes, unknown fields', async () => {
  const bad = [
    ['redirect_uris', { redirect_uris: ['http://app.example.com/cb'] }],
    ['redirect_uris', { redirect_uris: ['https://app.example.com/cb#frag'] }],
    ['redirect_uris', { redirect_uris: ['javascript:alert(1)'] }],
    ['redirect_uris', { redirect_uris: ['data:text/html,hi'] }],
    ['redirect_uris', { redirect_uris: ['/relative/cb'] }],
    ['redirect_uris', { redirect_uris: ['https://user:pw@app.example.com/cb'] }],
    ['redirect_uris', { redirect_uris: [] }],
    ['redirect_uris', { redirect_uris: 'https://app.example.com/cb' }],
    ['grant_types', { grant_types: ['password'] }],
    ['grant_types', { grant_types: ['implicit'] }],
    ['grant_types', { grant_types: ['refresh_token'] }],
    ['grant_types', { grant_types: [] }],
    ['scopes', { scopes: ['bad scope'] }],
    ['token_endpoint_auth_method', { token_endpoint_auth_method: 'private_key_jwt' }],
    ['skip_consent', { skip_consent: 'yes' }],
    ['name', { name: '' }],
    ['secret', { secret: 'x' }],
  ];
  for (const [field, patch] of bad) {
    const r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { ...good, ...patch } });
    assert.equal(r.status, 422, JSON.stringify(patch));
    assert.equal(r.body.code, 'VALIDATION_FAILED');
    assert.equal(r.body.details.field, field, JSON.stringify(patch));
  }
  for (const uri of ['http://127.0.0.1:8080/cb', 'http://localhost/cb', 'http://[::1]:9/cb', 'com.example.app:/oauth', 'https://a.example/cb?x=1']) {
    const r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { ...good, redirect_uris: [uri] } });
    assert.equal(r.status, 201, uri);
  }
  const r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { name: 'm2m', grant_types: ['client_credentials'] } });
  assert.equal(r.status, 201);
  assert.deepEqual(r.body.data.scopes, []);
});

test('permissions: clients:read / clients:write; no token is 401', async () => {
  let r = await api(s.url, 'GET', '/api/clients');
  assert.equal(r.status, 401);
  r = await api(s.url, 'GET', '/api/clients', { token: user });
  assert.equal(r.status, 403);
  assert.equal(r.body.code, 'FORBIDDEN');
  r = await api(s.url, 'POST', '/api/clients', { token: user, body: good });
  assert.equal(r.status, 403);
  const c = (await api(s.url, 'POST', '/api/clients', { token: admin, body: good })).body.data;
  for (const [m, p] of [['GET', ''], ['PUT', ''], ['DELETE', ''], ['POST', '/secret']]) {
    r = await api(s.url, m, `/api/clients/${c.client_id}${p}`, { token: user, body: m === 'PUT' ? { name: 'x' } : undefined });
    assert.equal(r.status, 403, m + p);
  }
});

test('PUT changes fields, DELETE removes the client, unknown ids are 404', async () => {
  const c = (await api(s.url, 'POST', '/api/clients', { token: admin, body: good })).body.data;
  let r = await api(s.url, 'PUT', `/api/clients/${c.client_id}`, { token: admin, body: { name: 'Renamed', skip_consent: true, redirect_uris: ['https://app.example.com/cb2'] } });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.name, 'Renamed');
  assert.equal(r.body.data.skip_consent, true);
  assert.deepEqual(r.body.data.redirect_uris, ['https://app.example.com/cb2']);
  r = await api(s.url, 'PUT', `/api/clients/${c.client_id}`, { token: admin, body: { redirect_uris: ['http://evil.example/cb'] } });
  assert.equal(r.status, 422);
  r = await api(s.url, 'PUT', `/api/clients/${c.client_id}`, { token: admin, body: { token_endpoint_auth_method: 'none' } });
  assert.equal(r.status, 422);
  r = await api(s.url, 'PUT', `/api/clients/${c.client_id}`, { token: admin, body: { token_endpoint_auth_method: 'client_secret_post' } });
  assert.equal(r.status, 200);
  r = await api(s.url, 'DELETE', `/api/clients/${c.client_id}`, { token: admin });
  assert.equal(r.status, 204);
  for (const [m, p] of [['GET', ''], ['PUT', ''], ['DELETE', ''], ['POST', '/secret']]) {
    r = await api(s.url, m, `/api/clients/${c.client_id}${p}`, { token: admin, body: m === 'PUT' ? { name: 'x' } : undefined });
    assert.equal(r.status, 404, m + p);
  }
  r = await api(s.url, 'GET', '/api/clients/not-a-uuid', { token: admin });
  assert.equal(r.status, 404);
});

test('secret rotation: the new secret works, the old one stops at once; deleted clients cannot authenticate', async () => {
  const c = (await api(s.url, 'POST', '/api/clients', { token: admin, body: { name: 'svc', grant_types: ['client_credentials'], scopes: ['api'] } })).body.data;
  const cc = (secret) => postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', client_id: c.client_id, client_secret: secret });
  assert.equal((await cc(c.client_secret)).status, 200);
  const r = await api(s.url, 'POST', `/api/clients/${c.client_id}/secret`, { token: admin });
  assert.equal(r.status, 200);
  const fresh = r.body.data.client_secret;
  assert.notEqual(fresh, c.client_secret);
  assert.equal((await cc(c.client_secret)).status, 401);
  assert.equal((await cc(fresh)).status, 200);
  const config = await discover(s, c.client_id, fresh);
  assert.ok((await client.clientCredentialsGrant(config)).access_token);
  await api(s.url, 'DELETE', `/api/clients/${c.client_id}`, { token: admin });
  assert.equal((await cc(fresh)).status, 401);
});

test('resources: registered, validated, read back, changed; the token endpoint follows the list at once', async () => {
  const m2m = { name: 'rs-client', grant_types: ['client_credentials'], scopes: ['api'] };
  const bad = [
    'http://api.example.com/', // http only for loopback hosts
    'https://api.example.com/#frag',
    'https://user:pw@api.example.com/',
    'com.example.app:/rs', // private-use schemes are for redirects, not resources
    'urn:example:rs',
    '/relative',
    '',
  ];
  for (const uri of bad) {
    const r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { ...m2m, resources: [uri] } });
    assert.equal(r.status, 422, uri);
    assert.equal(r.body.details.field, 'resources', uri);
  }
  for (const body of [{ resources: 'https://api.example.com/' }, { resources: [1] },
    { resources: Array.from({ length: 21 }, (_, i) => `https://api${i}.example.com/`) }]) {
    const r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { ...m2m, ...body } });
    assert.equal(r.status, 422, JSON.stringify(body).slice(0, 80));
    assert.equal(r.body.details.field, 'resources');
  }
  const list = ['https://api.example.com/', 'http://127.0.0.1:9000/rs', 'https://reports.example.com/v1?tenant=a'];
  let r = await api(s.url, 'POST', '/api/clients', { token: admin, body: { ...m2m, resources: list } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const c = r.body.data;
  assert.deepEqual(c.resources, list);
  assert.deepEqual((await api(s.url, 'GET', `/api/clients/${c.client_id}`, { token: admin })).body.data.resources, list);
  assert.deepEqual((await api(s.url, 'POST', '/api/clients', { token: admin, body: m2m })).body.data.resources, []);

  const cc = (resource) => postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', client_id: c.client_id, client_secret: c.client_secret, resource });
  assert.equal((await cc('https://reports.example.com/v1?tenant=a')).status, 200);
  r = await api(s.url, 'PUT', `/api/clients/${c.client_id}`, { token: admin, body: { resources: ['https://other.example.com/'] } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data.resources, ['https://other.example.com/']);
  const gone = await cc('https://reports.example.com/v1?tenant=a');
  assert.equal(gone.status, 400);
  assert.equal((await gone.json()).error, 'invalid_target');
  assert.equal((await cc('https://other.example.com/')).status, 200);
  r = await api(s.url, 'PUT', `/api/clients/${c.client_id}`, { token: admin, body: { resources: ['http://evil.example/'] } });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'resources');
});
