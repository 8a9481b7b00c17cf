// OAuth 2.0 protocol endpoints without a user: discovery, client_credentials at
// /oauth2/token and /connect/token, introspection, revocation, refusals, the
// `armor client create` command and the metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { startServer, runArmor } from './lib.mjs';
import { cliClient, discover, verifyJwt, postForm } from './oauth_helpers.mjs';

let s, svc, other, config;
before(async () => {
  s = await startServer();
  svc = await cliClient(s, { name: 'svc', scopes: ['api:read', 'api:write'],
    extra: ['--resource', 'https://api.example.com/', '--resource=http://127.0.0.1:9000/rs'] });
  other = await cliClient(s, { name: 'other', scopes: ['api:read'] });
  config = await discover(s, svc.client_id, svc.client_secret);
});
after(async () => { await s?.stop(); });

const basic = (c) => 'Basic ' + Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret)}`).toString('base64');

test('discovery document is complete and names the issuer', async () => {
  const r = await fetch(s.url + '/.well-known/openid-configuration');
  assert.equal(r.status, 200);
  const d = await r.json();
  assert.equal(d.issuer, s.url);
  for (const [k, p] of [['authorization_endpoint', '/oauth2/authorize'], ['token_endpoint', '/oauth2/token'],
    ['userinfo_endpoint', '/oauth2/userinfo'], ['jwks_uri', '/.well-known/jwks.json'], ['end_session_endpoint', '/oauth2/logout'],
    ['introspection_endpoint', '/oauth2/introspect'], ['revocation_endpoint', '/oauth2/revoke']]) assert.equal(d[k], s.url + p);
  assert.deepEqual(d.response_types_supported, ['code']);
  assert.deepEqual(d.subject_types_supported, ['public']);
  assert.deepEqual(d.id_token_signing_alg_values_supported, ['ES256', 'RS256']);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  assert.equal(d.authorization_response_iss_parameter_supported, true);
  assert.ok(d.grant_types_supported.includes('client_credentials'));
  assert.ok(!d.grant_types_supported.includes('password') && !d.grant_types_supported.includes('implicit'));
  assert.ok(d.scopes_supported.includes('openid'));
  assert.ok(d.claims_supported.includes('sub'));
  assert.deepEqual(d.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none']);
  assert.equal(config.serverMetadata().issuer, s.url);
});

test('armor client create prints client_id and client_secret (256 bits)', async () => {
  assert.match(svc.client_id, /^[0-9a-f-]{36}$/);
  assert.ok(Buffer.from(svc.client_secret, 'base64url').length >= 32);
  assert.deepEqual(Object.keys(svc).sort(), ['client_id', 'client_secret']);
  const bad = await runArmor(['client', 'create', '--name', 'x', '--grant', 'password', '--database', s.database, '--data-dir', s.dataDir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unsupported grant type/);
  const none = await runArmor(['client', 'create', '--database', s.database, '--data-dir', s.dataDir]);
  assert.equal(none.code, 2);
});

test('client_credentials through openid-client: RFC 9068 access token verified with the JWKS', async () => {
  const t = await client.clientCredentialsGrant(config, { scope: 'api:read' });
  assert.equal(t.token_type.toLowerCase(), 'bearer');
  assert.equal(t.scope, 'api:read');
  assert.ok(t.expires_in > 0);
  assert.equal(t.refresh_token, undefined);
  const { payload, protectedHeader } = await verifyJwt(s, t.access_token, { audience: svc.client_id, typ: 'at+jwt' });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.sub, svc.client_id);
  assert.equal(payload.client_id, svc.client_id);
  assert.equal(payload.scope, 'api:read');
  assert.ok(payload.jti && payload.iat && payload.exp > payload.iat);
  assert.equal(payload.perms, undefined, 'never user or admin permissions');
});

test('POST /connect/token (seed 002) with client_secret_post; default scope is every registered scope', async () => {
  const r = await postForm(s.url + '/connect/token', { grant_type: 'client_credentials', client_id: svc.client_id, client_secret: svc.client_secret });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const b = await r.json();
  assert.equal(b.scope, 'api:read api:write');
  const { payload } = await verifyJwt(s, b.access_token, { audience: svc.client_id });
  assert.equal(payload.scope, 'api:read api:write');
});

test('resource parameter sets the audience (RFC 8707), but only to a resource registered for the client', async () => {
  for (const resource of ['https://api.example.com/', 'http://127.0.0.1:9000/rs']) {
    const r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', resource }, { authorization: basic(svc) });
    assert.equal(r.status, 200, resource);
    const { payload } = await verifyJwt(s, (await r.json()).access_token, { audience: resource });
    assert.equal(payload.aud, resource);
    assert.equal(payload.client_id, svc.client_id);
  }
  // not registered (also near misses of a registered one), not a URI, or for a client without a list
  for (const [c, resource] of [[svc, 'https://evil.example.com/'], [svc, 'https://api.example.com'], [svc, 'https://API.example.com/'],
    [svc, 'https://api.example.com/x'], [svc, 'https://api.example.com/#f'], [svc, 'http://api.example.com/'], [svc, 'not a uri'],
    [svc, ''], [other, 'https://api.example.com/']]) {
    const bad = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', resource }, { authorization: basic(c) });
    assert.equal(bad.status, 400, resource);
    const b = await bad.json();
    assert.equal(b.error, 'invalid_target', resource);
    assert.equal(b.access_token, undefined);
  }
  // without a resource the audience stays the client_id
  const r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic(other) });
  assert.equal((await verifyJwt(s, (await r.json()).access_token, { audience: other.client_id })).payload.aud, other.client_id);
});

test('client_credentials refusals: scope beyond the client, wrong secret, unknown client, public auth', async () => {
  let r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', scope: 'api:admin' }, { authorization: basic(svc) });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'invalid_scope');
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', scope: 'openid' }, { authorization: basic(svc) });
  assert.equal(r.status, 400);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic({ ...svc, client_secret: 'wrong' }) });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Basic/);
  assert.equal((await r.json()).error, 'invalid_client');
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', client_id: svc.client_id, client_secret: svc.client_secret + 'x' });
  assert.equal(r.status, 401);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', client_id: '00000000-0000-4000-8000-000000000000', client_secret: 'x' });
  assert.equal(r.status, 401);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', client_id: svc.client_id });
  assert.equal(r.status, 401);
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials' });
  assert.equal(r.status, 401);
  // two authentication methods at once
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'client_credentials', client_secret: svc.client_secret }, { authorization: basic(svc) });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'invalid_request');
  await assert.rejects(client.clientCredentialsGrant(await discover(s, svc.client_id, 'nope')), (e) => e.status === 401 || e.error === 'invalid_client');
});

test('password, implicit and unknown grants are refused with unsupported_grant_type', async () => {
  for (const g of ['password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'foo']) {
    const r = await postForm(s.url + '/oauth2/token', { grant_type: g, username: 'a', password: 'b' }, { authorization: basic(svc) });
    assert.equal(r.status, 400, g);
    assert.equal((await r.json()).error, 'unsupported_grant_type', g);
  }
  let r = await postForm(s.url + '/oauth2/token', {}, { authorization: basic(svc) });
  assert.equal((await r.json()).error, 'invalid_request');
  // a client without authorization_code may not redeem codes
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://a.example/cb' }, { authorization: basic(svc) });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'unauthorized_client');
  r = await postForm(s.url + '/oauth2/token', { grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: basic(svc) });
  assert.equal((await r.json()).error, 'unauthorized_client');
  r = await fetch(s.url + '/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic(svc) }, body: '{"grant_type":"client_credentials"}' });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'invalid_request');
  r = await fetch(s.url + '/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(svc) }, body: 'grant_type=client_credentials&grant_type=client_credentials' });
  assert.equal((await r.json()).error, 'invalid_request');
});

test('introspection: active token, then inactive after revocation; unknown and garbage tokens inactive', async () => {
  const t = await client.clientCredentialsGrant(config, { scope: 'api:read' });
  const i = await client.tokenIntrospection(config, t.access_token);
  assert.equal(i.active, true);
  assert.equal(i.client_id, svc.client_id);
  assert.equal(i.scope, 'api:read');
  assert.equal(i.sub, svc.client_id);
  assert.equal(i.iss, s.url);
  assert.ok(i.exp > Date.now() / 1000);
  // another confidential client (a resource server) may introspect too
  const oc = await discover(s, other.client_id, other.client_secret);
  assert.equal((await client.tokenIntrospection(oc, t.access_token)).active, true);
  // only the owner may revoke
  let r = await postForm(s.url + '/oauth2/revoke', { token: t.access_token }, { authorization: basic(other) });
  assert.equal(r.status, 400);
  assert.equal((await client.tokenIntrospection(config, t.access_token)).active, true);
  await client.tokenRevocation(config, t.access_token);
  assert.equal((await client.tokenIntrospection(config, t.access_token)).active, false);
  assert.equal((await client.tokenIntrospection(oc, t.access_token)).active, false);
  for (const junk of ['nope', 'a.b.c', 'x'.repeat(5000), t.access_token.slice(0, -4) + 'AAAA'])
    assert.equal((await client.tokenIntrospection(config, junk)).active, false);
  // revoking twice or revoking garbage is fine (RFC 7009)
  await client.tokenRevocation(config, t.access_token);
  await client.tokenRevocation(config, 'garbage');
  r = await postForm(s.url + '/oauth2/revoke', {}, { authorization: basic(svc) });
  assert.equal(r.status, 400);
});

test('introspection answers of a cached token: same bytes every time, for every client; mixed credentials refused', async () => {
  const t = await client.clientCredentialsGrant(config, { scope: 'api:read api:write' });
  const ask = async (c) => {
    const r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token }, { authorization: basic(c) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    return r.text();
  };
  const first = await ask(svc);
  for (let i = 0; i < 3; i++) assert.equal(await ask(svc), first);
  assert.equal(await ask(other), first);
  const i = JSON.parse(first);
  assert.deepEqual(Object.keys(i).sort(), ['active', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub', 'token_type']);
  assert.equal(i.active, true);
  assert.equal(i.token_type, 'Bearer');
  assert.equal(i.scope, 'api:read api:write');
  // the claims of the token, nothing more and nothing less
  const payload = JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url'));
  assert.deepEqual({ ...i, active: undefined, token_type: undefined }, { ...payload, active: undefined, token_type: undefined });
  // one client's id with the other's secret, after both were cached
  for (const mixed of [{ client_id: svc.client_id, client_secret: other.client_secret }, { client_id: other.client_id, client_secret: svc.client_secret }]) {
    const r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token }, { authorization: basic(mixed) });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /^Basic/);
    assert.equal((await r.json()).error, 'invalid_client');
  }
  assert.equal(await ask(svc), first);
  // revoked while its answer is kept: inactive for everyone
  await client.tokenRevocation(config, t.access_token);
  const r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token }, { authorization: basic(other) });
  assert.equal(await r.text(), '{"active":false}');
});

test('introspection needs client authentication', async () => {
  const t = await client.clientCredentialsGrant(config);
  let r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error, 'invalid_client');
  r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token, client_id: svc.client_id });
  assert.equal(r.status, 401);
  r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token }, { authorization: basic({ ...svc, client_secret: 'bad' }) });
  assert.equal(r.status, 401);
  r = await postForm(s.url + '/oauth2/introspect', {}, { authorization: basic(svc) });
  assert.equal(r.status, 400);
  r = await postForm(s.url + '/oauth2/introspect', { token: t.access_token, client_id: svc.client_id, client_secret: svc.client_secret });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal((await r.json()).active, true);
});

test('userinfo refuses client_credentials tokens', async () => {
  const t = await client.clientCredentialsGrant(config);
  const r = await fetch(s.url + '/oauth2/userinfo', { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
  const none = await fetch(s.url + '/oauth2/userinfo');
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
});

test('metrics count issued tokens and introspections', async () => {
  const m = await (await fetch(s.url + '/metrics')).text();
  assert.match(m, /armor_oauth_tokens_issued_total\{grant="client_credentials"\} [1-9]\d*/);
  assert.match(m, /armor_oauth_introspections_total\{active="true"\} [1-9]/);
  assert.match(m, /armor_oauth_introspections_total\{active="false"\} [1-9]/);
  assert.match(m, /armor_oauth_revocations_total [1-9]/);
  assert.match(m, /armor_oauth_authorize_total\{result="code"\} \d+/);
});

test('every OAuth route is in /openapi.json', async () => {
  const routes = JSON.parse((await runArmor(['routes'])).stdout);
  const doc = await (await fetch(s.url + '/openapi.json')).json();
  const mine = routes.filter((r) => /^\/(oauth2|connect|\.well-known\/openid|api\/clients|api\/auth\/(authorize|token)$)/.test(r.path));
  assert.ok(mine.length >= 20);
  for (const r of mine) assert.ok(doc.paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`);
});
