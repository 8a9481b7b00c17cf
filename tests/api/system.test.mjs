// System routes: index, health, readiness, metrics, the OpenAPI document and the Swagger UI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { startServer, api, PG_URL } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('GET / answers the index in the envelope', async () => {
  const r = await api(srv.url, 'GET', '/');
  assert.equal(r.status, 200);
  assert.equal(r.body.success, true);
  assert.equal(typeof r.body.message, 'string');
  assert.equal(r.body.data.name, 'armor');
  assert.match(r.body.data.version, /^\d+\.\d+\.\d+/);
  assert.ok(Array.isArray(r.body.data.authors) && r.body.data.authors.length > 0);
  assert.equal(typeof r.body.data.license, 'string');
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(r.headers.get('x-request-id'));
});

test('GET /health is alive', async () => {
  const r = await api(srv.url, 'GET', '/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.success, true);
  assert.equal(r.body.data.status, 'ok');
});

test('worker threads (password hashing) run at a lower priority than the HTTP threads', async () => {
  const threads = readdirSync(`/proc/${srv.proc.pid}/task`).map((tid) => {
    const comm = readFileSync(`/proc/${srv.proc.pid}/task/${tid}/comm`, 'utf8').trim();
    const stat = readFileSync(`/proc/${srv.proc.pid}/task/${tid}/stat`, 'utf8');
    const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); /* field 19 */
    return { comm, nice };
  });
  const workers = threads.filter((t) => t.comm === 'armor-worker');
  const http = threads.filter((t) => t.comm === 'MHD-worker');
  assert.ok(workers.length > 0 && http.length > 0, JSON.stringify(threads));
  const base = http[0].nice;
  for (const t of http) assert.equal(t.nice, base);
  for (const t of workers) assert.equal(t.nice, Math.min(19, base + 5), JSON.stringify(threads));
});

test('HEAD /health answers like GET without a body', async () => {
  const r = await fetch(srv.url + '/health', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '');
  assert.match(r.headers.get('content-type'), /application\/json/);
});

test('GET /ready reports the database', async () => {
  const r = await api(srv.url, 'GET', '/ready');
  assert.equal(r.status, 200);
  assert.equal(r.body.data.status, 'ready');
  assert.equal(r.body.data.database, PG_URL ? 'postgres' : 'sqlite');
});

test('GET /metrics is Prometheus text with request counters', async () => {
  await api(srv.url, 'GET', '/health');
  await api(srv.url, 'GET', '/no/such/route');
  const r = await api(srv.url, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  assert.match(r.text, /# TYPE armor_http_requests_total counter/);
  assert.match(r.text, /armor_http_requests_total\{method="GET",route="\/health",status="200"\} \d+/);
  assert.match(r.text, /armor_http_requests_total\{method="",route="unmatched",status="404"\} \d+/);
  assert.match(r.text, /armor_http_request_duration_seconds_bucket\{.*le="\+Inf"\} \d+/);
  assert.match(r.text, /process_resident_memory_bytes \d+/);
  assert.match(r.text, /armor_http_inflight \d+/);
  // Every non-comment line is "name{labels} value" or "name value".
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eE]+$|^\S+ (NaN|\+Inf|-Inf)$/, line);
  }
});

test('GET /openapi.json is an OpenAPI 3 document', async () => {
  const r = await api(srv.url, 'GET', '/openapi.json');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.match(r.body.openapi, /^3\./);
  assert.ok(r.body.paths['/health'].get);
  assert.equal(r.body.servers[0].url, srv.url);
});

test('GET /docs/ serves the Swagger UI from the binary', async () => {
  const r = await api(srv.url, 'GET', '/docs/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.match(r.text, /swagger-ui-bundle\.js/);
  assert.ok(r.headers.get('content-security-policy'));
  for (const [file, type] of [['swagger-ui-bundle.js', /javascript/], ['swagger-ui-standalone-preset.js', /javascript/],
    ['swagger-ui.css', /text\/css/], ['init.js', /javascript/], ['favicon-32x32.png', /image\/png/]]) {
    const a = await fetch(`${srv.url}/docs/${file}`);
    assert.equal(a.status, 200, file);
    assert.match(a.headers.get('content-type'), type, file);
    assert.ok((await a.arrayBuffer()).byteLength > 0, file);
  }
  const init = await api(srv.url, 'GET', '/docs/init.js');
  assert.match(init.text, /\/openapi\.json/);
});

test('unknown files under /docs/ are 404, and path tricks do not escape', async () => {
  for (const p of ['/docs/nope.js', '/docs/../openapi.json', '/docs/a/b.js', '/docs/%2e%2e/etc/passwd']) {
    const r = await api(srv.url, 'GET', p);
    assert.ok([404].includes(r.status) || (p.includes('..') && r.status === 200 && r.body?.openapi), `${p}: ${r.status}`);
  }
});

test('GET /swagger-ui.html and /docs redirect to /docs/', async () => {
  for (const p of ['/swagger-ui.html', '/docs']) {
    const r = await api(srv.url, 'GET', p);
    assert.equal(r.status, 301, p);
    assert.equal(r.headers.get('location'), '/docs/', p);
  }
});
