// /openapi.json is a valid OpenAPI 3 document and agrees with the route table (`armor routes`) both ways:
// every route that is not hidden is documented with the same path template, and every documented
// operation is a route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startServer, api, runArmor } from './lib.mjs';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
let srv, doc, routes;
before(async () => {
  srv = await startServer();
  doc = (await api(srv.url, 'GET', '/openapi.json')).body;
  const r = await runArmor(['routes']);
  assert.equal(r.code, 0, r.stderr);
  routes = JSON.parse(r.stdout);
});
after(async () => { await srv?.stop(); });

test('the document validates (swagger-parser)', async () => {
  const copy = structuredClone(doc);
  await SwaggerParser.validate(copy);
  assert.match(doc.openapi, /^3\.0\./);
  assert.ok(doc.info.title && doc.info.version);
});

test('every operation has responses, a summary and a unique operationId', () => {
  const ids = new Set();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      assert.ok(op.summary, `${m.toUpperCase()} ${path}: summary`);
      assert.ok(op.responses && Object.keys(op.responses).length, `${m.toUpperCase()} ${path}: responses`);
      if (op.operationId) {
        assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
        ids.add(op.operationId);
      }
    }
  }
});

test('every route that is not hidden is in the document', () => {
  const missing = [];
  for (const r of routes) {
    if (r.hidden) continue;
    if (!doc.paths[r.path]?.[r.method.toLowerCase()]) missing.push(`${r.method} ${r.path}`);
  }
  assert.deepEqual(missing, [], `routes missing from openapi.json:\n${missing.join('\n')}`);
});

test('every documented operation is a route', () => {
  const known = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const extra = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) if (item[m] && !known.has(`${m.toUpperCase()} ${path}`)) extra.push(`${m.toUpperCase()} ${path}`);
  }
  assert.deepEqual(extra, [], `documented operations without a route:\n${extra.join('\n')}`);
});

test('authenticated routes declare security, public ones do not require it', () => {
  const bad = [];
  for (const r of routes) {
    if (r.hidden) continue;
    const op = doc.paths[r.path]?.[r.method.toLowerCase()];
    if (!op) continue;
    const sec = op.security ?? doc.security ?? [];
    const requires = sec.length > 0 && !sec.some((s) => Object.keys(s).length === 0);
    if (r.auth && !requires) bad.push(`${r.method} ${r.path}: needs a token but declares no security`);
    // OAuth protocol endpoints authenticate the caller themselves (client
    // credentials, or an OAuth access token at userinfo) and say so in the spec.
    const selfAuth = r.path.startsWith('/oauth2/');
    if (!r.auth && requires && !selfAuth) bad.push(`${r.method} ${r.path}: public but declares security`);
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});

test('path parameters in templates are declared', () => {
  const bad = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const params = [...(item.parameters || []), ...(op.parameters || [])]
        .map((p) => (p.$ref ? p.$ref.split('/').pop() : p))
        .map((p) => (typeof p === 'string' ? doc.components?.parameters?.[p] : p))
        .filter((p) => p?.in === 'path').map((p) => p.name);
      for (const n of names) if (!params.includes(n)) bad.push(`${m.toUpperCase()} ${path}: {${n}} not declared`);
    }
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});
