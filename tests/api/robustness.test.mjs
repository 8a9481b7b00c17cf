// Robustness: every route of the table (`armor routes`) gets a battery of bad requests, with and
// without an admin token: wrong Content-Type, malformed and non-object JSON, mutated fields (wrong
// types, 100 KB strings, NUL, invalid UTF-8, format strings), deep nesting, oversized bodies, odd
// path parameters and query strings, bogus Authorization headers and duplicated keys.
//
// For each answer: status < 500 (503 only with Retry-After), X-Request-Id present, /api/* errors are
// envelopes {success:false, message, code}, OAuth endpoints' JSON errors are {error, error_description}.
// After each route's battery the server must still answer /health; at the end the log must hold no
// sanitizer report and none of the secrets the test sent.
//
// ARMOR_ROBUST_REPORT=file writes every problem found there (the assertion message shows the first 200).
// The test adapts to new routes: it iterates the route table and reads request-body field names from
// /openapi.json (routes without a documented body get generic fields).
//
// Requests go over raw TCP (Connection: close) so that paths, headers and bodies are sent byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { startServer, runArmor, assertNoSanitizerReport, rawRequest, parseRaw } from './lib.mjs';

const CONCURRENCY = Number(process.env.ARMOR_ROBUST_CONCURRENCY || 8);
const rnd = () => crypto.randomBytes(6).toString('hex');
const ADMIN_USER = 'robustadmin';
const ADMIN_PASSWORD = `Adm1n-Secret-${rnd()}`;
// Values that must never appear in the server log.
const MARK_PASSWORD = `Fuzz-Pw-${rnd()}`;
const MARK_TOKEN = `fuzztok${rnd()}`;
const secrets = [ADMIN_PASSWORD, MARK_PASSWORD, MARK_TOKEN];

// Problems found on other branches and reported, not yet fixed there: matched against the problem lines,
// they are listed by the todo test at the end instead of failing the battery. Remove an entry once fixed.
const KNOWN = [];
const known = [];

let srv;
let routes = [];
let openapi = null;
let admin = { token: null, refresh: null };
const failures = [];   // collected per route so that one run reports every problem
let sent = 0;

// ------------------------------------------------------------------ raw HTTP client

/**
 * Sends one request on a new connection and reads until the server closes it.
 * req: { method, path, headers: [[name, value], ...], body: Buffer|string, contentLength, timeout }.
 * Returns { status, headers (lower-case; arrays joined by ', '), raw (Buffer body), text, json, closedEarly }.
 */
function send(port, req) {
  return new Promise((resolve) => {
    const body = req.body === undefined ? null : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
    const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
    for (const [n, v] of req.headers || []) lines.push(`${n}: ${v}`);
    if (body || req.contentLength !== undefined) lines.push(`Content-Length: ${req.contentLength ?? body.length}`);
    const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...parse(Buffer.concat(chunks), req.method), err });
    };
    const timer = setTimeout(() => finish('timeout'), req.timeout || 15000);
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish());
    sock.on('close', () => finish());
    sock.on('error', (e) => { if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') finish(e.code); });
    sock.on('connect', () => {
      sock.write(head);
      if (body) sock.write(body);
    });
  });
}

function parse(buf, method) {
  // Skip interim answers (100 Continue).
  while (/^HTTP\/1\.[01] 1\d\d /.test(buf.subarray(0, 16).toString('latin1'))) {
    const e = buf.indexOf('\r\n\r\n');
    if (e < 0) break;
    buf = buf.subarray(e + 4);
  }
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, raw: buf, text: buf.toString('latin1') };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number((lines[0] || '').split(' ')[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase(), v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let raw = buf.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const parts = [];
    let p = 0;
    for (;;) {
      const le = raw.indexOf('\r\n', p);
      if (le < 0) break;
      const n = parseInt(raw.subarray(p, le).toString('latin1'), 16);
      if (!n) break;
      parts.push(raw.subarray(le + 2, le + 2 + n));
      p = le + 2 + n + 2;
    }
    raw = Buffer.concat(parts);
  }
  const text = raw.toString('utf8');
  let json;
  try { json = text && method !== 'HEAD' ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status, headers, raw, text, json };
}

// Runs fns with at most `n` in flight.
async function pool(items, n, fn) {
  let i = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  });
  await Promise.all(workers);
}

// ------------------------------------------------------------------ route knowledge

/** Resolves a JSON pointer "#/components/schemas/X" in the OpenAPI document. */
function deref(o, depth = 0) {
  if (!o || depth > 10) return o;
  if (o.$ref) {
    let cur = openapi;
    for (const part of o.$ref.replace(/^#\//, '').split('/')) cur = cur?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    return deref(cur, depth + 1);
  }
  return o;
}

/** Collects { name: type } from a schema, following $ref, allOf, oneOf and anyOf. */
function schemaFields(schema, out = {}, depth = 0) {
  schema = deref(schema);
  if (!schema || depth > 6) return out;
  for (const k of ['allOf', 'oneOf', 'anyOf']) for (const s of schema[k] || []) schemaFields(s, out, depth + 1);
  for (const [name, p] of Object.entries(schema.properties || {})) {
    const d = deref(p) || {};
    out[name] = Array.isArray(d.type) ? d.type.find((t) => t !== 'null') : d.type || 'string';
  }
  return out;
}

const GENERIC_FIELDS = { username: 'string', password: 'string', email: 'string', token: 'string', name: 'string', refresh_token: 'string' };

/** What the route accepts as a body: { kind: 'json'|'form'|'none'|'unknown', fields }. */
function bodyInfo(route) {
  const op = openapi?.paths?.[route.path]?.[route.method.toLowerCase()];
  const rb = deref(op?.requestBody);
  if (rb?.content) {
    const types = Object.keys(rb.content);
    const ct = types.find((t) => /json/.test(t)) || types[0];
    const fields = schemaFields(rb.content[ct]?.schema);
    const kind = /json/.test(ct) ? 'json' : /x-www-form-urlencoded/.test(ct) ? 'form' : 'unknown';
    return { kind, required: !!rb.required, fields: Object.keys(fields).length ? fields : GENERIC_FIELDS };
  }
  if (op) return { kind: ['GET', 'HEAD', 'DELETE'].includes(route.method) ? 'none' : 'unknown', fields: GENERIC_FIELDS };
  return { kind: 'unknown', fields: GENERIC_FIELDS };
}

const isOAuth = (path) => path.startsWith('/oauth2/') || path.startsWith('/connect/');
const isApi = (path) => path.startsWith('/api/');

function instantiate(pattern, param = crypto.randomUUID()) {
  return pattern.replace(/\{[^}]+\}/g, param).replace(/\*$/, 'x');
}

function sample(type, name) {
  switch (type) {
  case 'integer': return 1;
  case 'number': return 1.5;
  case 'boolean': return true;
  case 'array': return [];
  case 'object': return {};
  default: return /pass|secret/i.test(name) ? MARK_PASSWORD : /token|code/i.test(name) ? MARK_TOKEN : 'x';
  }
}

function baseBody(fields) {
  const o = {};
  for (const [n, t] of Object.entries(fields)) o[n] = sample(t, n);
  return o;
}

// ------------------------------------------------------------------ the battery

const JSON_CT = ['Content-Type', 'application/json'];
const FORM_CT = ['Content-Type', 'application/x-www-form-urlencoded'];
const BIG = 'x'.repeat(100 * 1024);
const NEAR_LIMIT = 'y'.repeat(60 * 1024);
// {"k":"<invalid UTF-8>"}
const invalidUtf8 = (k) => Buffer.concat([Buffer.from(`{"${k}":"`), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}')]);

const FIELD_VALUES = [
  ['number', 42], ['negative', -1], ['float', 1.5], ['huge-number', 1e308], ['true', true], ['null', null],
  ['object', {}], ['array', []], ['array-of-strings', ['a']], ['mongo-op', { $gt: '' }], ['100KB', BIG],
  ['60KB', NEAR_LIMIT], ['NUL', 'a\u0000b'], ['empty', ''], ['space', ' '], ['unicode', 'é🦀'.repeat(200)],
  ['traversal', '../../etc/passwd'], ['html', '<script>alert(1)</script>'], ['sql', "' OR '1'='1' --"],
  ['format', '%s%n%x%p%s%s%s'], ['crlf', 'a\r\nSet-Cookie: x=1'],
];

const MALFORMED = ['{', '{"a":}', 'nul', '\u0000', '{"a":1} x', '\ufeff{}', "{'a':1}", '{"a":1,}', '{"a" 1}',
  '{"a":"\\ud800"}', '{"a":"\\x00"}', '{"a":1e99999}', '{"a":123456789012345678901234567890}',
  '{"a":"\\u0000"}', '{"\\u0000":1}', '"\\', '{"a":"\\"}', ' '];
const ODD_VALID = ['{"a":-0}', '{"a":1e-400}', '{"":""}', '{"a":"\\ud83e\\udd80"}', '{"a":{"b":{"c":[[[]]]}}}'];
const NON_OBJECT = ['[]', '"s"', '42', 'null', 'true', '[{}]', '[1,2,3]'];
const DEEP = ['['.repeat(100000), '{"a":'.repeat(40) + '1' + '}'.repeat(40), '{"a":' + '['.repeat(33) + ']'.repeat(33) + '}',
  '{"a":"\\\\"' + ',"b":' + '['.repeat(40) + ']'.repeat(40) + '}', '{"a":"\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
  ']'.repeat(50) + '{}'];

const PARAMS = ['not-a-uuid', '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  crypto.randomUUID().toUpperCase(), '%2F', 'a%2Fb', '%00', 'a%00b', '..', '%2e%2e', '.', '%C3%A9t%C3%A9',
  Buffer.from('été🦀', 'utf8').toString('latin1'), '%FF%FE', 'x'.repeat(3000), "'%20OR%201=1", '%25', '%', '%s%n',
  '%0d%0aX-Injected:%201', '%20', '+', '-1', '0', '99999999999999999999'];

const QUERIES = ['?a=1&a=2', '?=', '?&&&', '?=x', '?a', '?%00=%00', '?x=%ZZ&y=%', '?limit=&limit=1&cursor=&cursor=%00&user=&event=',
  '?limit=-1&offset=-1&page=0&per_page=0', '?limit=99999999999999999999999&offset=99999999999999999999',
  '?limit=abc&offset=1.5&page=%20', `?cursor=${'A'.repeat(4000)}`, `?q=${'%41'.repeat(1000)}`,
  '?' + Array.from({ length: 100 }, (_, i) => `p${i}=${i}`).join('&'),
  '?sort=-&order=;DROP&filter[a]=1&search=%27', '?redirect_uri=javascript:alert(1)&client_id=&response_type=&state=&scope=',
  '?token=' + MARK_TOKEN, '?id=..%2F..&user=00000000-0000-0000-0000-000000000000'];

function authVariants() {
  const v = [
    ['garbage', `Bearer ${MARK_TOKEN}`], ['empty-bearer', 'Bearer '], ['bearer-only', 'Bearer'],
    ['basic', `Basic ${Buffer.from(`admin:${MARK_PASSWORD}`).toString('base64')}`],
    ['long', `Bearer ${'A'.repeat(6000)}`], ['very long', `Bearer ${'A'.repeat(12000)}`], ['three-dots', 'Bearer a.b.c'], ['dots', 'Bearer ...'],
    ['alg-none', 'Bearer ' + Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url') + '.' +
      Buffer.from(`{"sub":"${crypto.randomUUID()}","aud":"armor","exp":9999999999}`).toString('base64url') + '.'],
    ['token-scheme', `Token ${MARK_TOKEN}`], ['bearer-nul-like', `Bearer ${MARK_TOKEN}%00`],
    ['utf8', 'Bearer ' + Buffer.from('été', 'utf8').toString('latin1')],
  ];
  if (admin.refresh) v.push(['refresh-as-access', `Bearer ${admin.refresh}`]);
  if (admin.token) {
    v.push(['tampered', `Bearer ${admin.token.slice(0, -2)}${admin.token.endsWith('AA') ? 'BB' : 'AA'}`]);
    v.push(['truncated', `Bearer ${admin.token.slice(0, admin.token.length >> 1)}`]);
    v.push(['appended', `Bearer ${admin.token}x`]);
  }
  return v;
}

/** The battery for one route: [{ name, method, path, headers, body, expect? }]. */
function battery(route) {
  const info = bodyInfo(route);
  const path = instantiate(route.path);
  const out = [];
  const withBody = !['GET', 'HEAD'].includes(route.method) || info.kind === 'json' || info.kind === 'form';
  const jsonRoute = info.kind === 'json' && isApi(route.path);
  const base = baseBody(info.fields);
  const add = (name, req) => out.push({ name, method: route.method, path, headers: [], ...req });

  add('plain', {});
  if (route.method === 'GET') add('HEAD', { method: 'HEAD' });
  add('X-Request-Id garbage', { headers: [['X-Request-Id', 'bad id\twith "quotes" and spaces ' + 'z'.repeat(200)]] });
  add('duplicate X-Request-Id', { headers: [['X-Request-Id', 'a'], ['X-Request-Id', 'b']] });
  add('many headers', { headers: Array.from({ length: 70 }, (_, i) => [`X-H${i}`, 'v']) });
  add('huge header', { headers: [['X-Big', 'h'.repeat(12000)]] }); // over the 8 KiB limit, inside the 16 KiB connection memory
  add('Expect 100-continue', { headers: [JSON_CT, ['Expect', '100-continue']], body: JSON.stringify(base) });
  add('chunked JSON', { headers: [JSON_CT, ['Transfer-Encoding', 'chunked']],
    body: Buffer.from(`2\r\n{}\r\n0\r\n\r\n`) });
  add('body on a route', { headers: [JSON_CT], body: JSON.stringify(base) });

  if (withBody) {
    const b = JSON.stringify(base);
    for (const ct of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/jsonx',
      'APPLICATION/JSON', 'application/json; charset=utf-16', 'application/json;;;', '', 'application/x-www-form-urlencoded'])
      add(`Content-Type "${ct}"`, { headers: [['Content-Type', ct]], body: b,
        expect: jsonRoute && !/^application\/json($|;)/i.test(ct) ? [415] : undefined });
    add('no Content-Type', { body: b, expect: jsonRoute ? [415] : undefined });
    add('two Content-Types', { headers: [JSON_CT, ['Content-Type', 'text/plain']], body: b });
    for (const m of MALFORMED) add(`malformed ${JSON.stringify(m).slice(0, 30)}`, { headers: [JSON_CT], body: m,
      expect: jsonRoute && m.trim() ? [400] : undefined });
    for (const m of ODD_VALID) add(`odd valid ${m.slice(0, 20)}`, { headers: [JSON_CT], body: m });
    for (const m of NON_OBJECT) add(`non-object ${m}`, { headers: [JSON_CT], body: m, expect: jsonRoute ? [400] : undefined });
    for (const m of DEEP) add(`deep ${m.slice(0, 12)}…`, { headers: [JSON_CT], body: m });
    add('duplicate keys', { headers: [JSON_CT], body: '{"a":1,"a":2}', expect: jsonRoute ? [400] : undefined });
    const first = Object.keys(base)[0];
    if (first) {
      const dup = JSON.stringify(base).replace(/^\{/, `{${JSON.stringify(first)}:"dup",`);
      add('duplicate field', { headers: [JSON_CT], body: dup, expect: jsonRoute ? [400] : undefined });
    }
    add('proto pollution', { headers: [JSON_CT], body: JSON.stringify({ ...base, __proto__: { admin: true }, constructor: 1 }) });
    add('unknown field', { headers: [JSON_CT], body: JSON.stringify({ ...base, zzz_unknown: 1 }) });
    // The name of an unknown field is quoted in the message cut at 64 bytes: the cut must not split a character.
    add('unknown long UTF-8 field', { headers: [JSON_CT], body: JSON.stringify({ ['a'.repeat(63) + 'é']: 1, ...base }) });
    add('unknown long field', { headers: [JSON_CT], body: JSON.stringify({ ['🦀'.repeat(40)]: 1, ...base }) });
    const formOf = (o) => Object.entries(o).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(
      typeof v === 'string' ? v : JSON.stringify(v))}`).join('&');
    for (const [field, type] of Object.entries(info.fields)) {
      for (const [label, value] of FIELD_VALUES) {
        if (type !== 'string' && typeof value === 'string' && label !== '100KB') continue;
        if (info.kind === 'form') add(`form field ${field}=${label}`, { headers: [FORM_CT], body: formOf({ ...base, [field]: value }) });
        else add(`field ${field}=${label}`, { headers: [JSON_CT], body: JSON.stringify({ ...base, [field]: value }) });
      }
      // An access token where a refresh token (or another token) is expected.
      if (/token/i.test(field) && admin.token && type === 'string') {
        const v = { ...base, [field]: admin.token };
        add(`field ${field}=access token`, info.kind === 'form' ? { headers: [FORM_CT], body: formOf(v) }
          : { headers: [JSON_CT], body: JSON.stringify(v), expect: route.path === '/api/auth/token/reissue' ? [401] : undefined });
      }
      if (info.kind === 'form') {
        add(`form field ${field} repeated`, { headers: [FORM_CT], body: `${formOf(base)}&${encodeURIComponent(field)}=again` });
        add(`form field ${field} raw bytes`, { headers: [FORM_CT], body: Buffer.concat([Buffer.from(`${field}=`), Buffer.from([0xff, 0x00, 0xc3])]) });
      }
      add(`field ${field}=invalid UTF-8`, { headers: [JSON_CT], body: invalidUtf8(field), expect: jsonRoute ? [400] : undefined });
      add(`field ${field} as form`, { headers: [FORM_CT], body: `${encodeURIComponent(field)}=%00%ZZ%&${field}=&${field}=2` });
    }
    // Form bodies (OAuth endpoints, and anything else that reads forms).
    for (const f of ['a=%', '=&=&', '%00=%00', 'x=%ZZ', '&&&&', 'a', 'a=b=c', Array.from({ length: 200 }, (_, i) => `k${i}=v`).join('&'),
      'grant_type=password&grant_type=client_credentials', `password=${MARK_PASSWORD}&username=admin`, 'a=' + 'b'.repeat(60000)])
      add(`form ${f.slice(0, 20)}`, { headers: [FORM_CT], body: f });
    add('invalid escape before a non-UTF-8 byte', { headers: [JSON_CT], body: Buffer.from('{"a":"[\\\xc7\x9d]"}', 'latin1'),
      expect: jsonRoute ? [400] : undefined });
    add('raw invalid UTF-8 body', { headers: [JSON_CT], body: Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x7b]) });
    add('binary body', { headers: [['Content-Type', 'application/octet-stream']], body: crypto.randomBytes(512) });
  }
  // Oversized bodies: one that is announced (refused at once) and one really sent.
  add('announced huge body', { headers: [JSON_CT], body: Buffer.from('{"a":"'), contentLength: 10 * 1024 * 1024,
    expect: [413], timeout: 5000, partial: true });
  add('sent huge body', { headers: [JSON_CT], body: JSON.stringify({ a: 'z'.repeat(300 * 1024) }), expect: [413] });

  if (/\{[^}]+\}/.test(route.path)) {
    for (const p of PARAMS) add(`param ${p.slice(0, 24)}`, { path: instantiate(route.path, p) });
  }
  for (const q of QUERIES) add(`query ${q.slice(0, 30)}`, { path: path + q });

  // Every request so far goes once without and once with the admin token.
  const both = [];
  for (const r of out) {
    both.push(r);
    if (admin.token) both.push({ ...r, name: r.name + ' [admin]', headers: [...r.headers, ['Authorization', `Bearer ${admin.token}`]] });
  }
  // Bogus credentials, on a request that passes body checks.
  const okBody = info.kind === 'json' ? { headers: [JSON_CT], body: JSON.stringify(base) } : info.kind === 'form' ? { headers: [FORM_CT], body: 'a=b' } : {};
  for (const [label, value] of authVariants()) {
    const req = { name: `auth ${label}`, method: route.method, path, headers: [...(okBody.headers || []), ['Authorization', value]], body: okBody.body };
    // Over the header limit (8 KiB) the answer is 431 before authentication.
    if (route.auth && info.kind !== 'json' && info.kind !== 'unknown') req.expect = label === 'very long' ? [401, 431] : [401];
    both.push(req);
  }
  if (admin.token) {
    both.push({ name: 'two Authorization headers', method: route.method, path,
      headers: [['Authorization', `Bearer ${admin.token}`], ['Authorization', `Bearer ${MARK_TOKEN}`]] });
    both.push({ name: 'lower-case scheme', method: route.method, path, headers: [['Authorization', `bearer ${admin.token}`]] });
  }
  return both;
}

// ------------------------------------------------------------------ checks

function check(route, req, res) {
  const what = `${route.method} ${route.path} — ${req.name}: ${req.method} ${req.path.slice(0, 120)}`;
  const problems = [];
  if (res.err === 'timeout') problems.push('no answer within the timeout (hang)');
  else if (!res.status) {
    // The connection closed without an answer. Allowed only where the server may cut off a sender.
    if (!req.partial) problems.push(`no HTTP answer (connection closed${res.err ? ': ' + res.err : ''})`);
  } else {
    if (res.status >= 500 && !(res.status === 503 && res.headers['retry-after'])) problems.push(`status ${res.status}`);
    if (!res.headers['x-request-id']) problems.push(`no X-Request-Id (status ${res.status})`);
    if (req.expect && !req.expect.includes(res.status)) problems.push(`status ${res.status}, expected ${req.expect.join('/')}`);
    const ctype = res.headers['content-type'] || '';
    const pathOnly = req.path.split('?')[0];
    if (res.status >= 400 && req.method !== 'HEAD') {
      if (isOAuth(pathOnly)) {
        if (/json/.test(ctype) && !(res.json && typeof res.json.error === 'string'
          && (res.json.error_description === undefined || typeof res.json.error_description === 'string')))
          problems.push(`OAuth error is not {error, error_description}: ${res.text.slice(0, 200)}`);
      } else if (isApi(pathOnly)) {
        const j = res.json;
        if (!(j && j.success === false && typeof j.message === 'string' && typeof j.code === 'string'))
          problems.push(`not an error envelope (status ${res.status}, ${ctype}): ${res.text.slice(0, 200)}`);
        // The parse error names line, column and reason (jansson quotes bytes that may not be UTF-8).
        if (j?.message === 'Malformed JSON body' && typeof j.details?.reason !== 'string')
          problems.push(`malformed-JSON answer without details.reason: ${res.text.slice(0, 200)}`);
      }
    }
    if (res.status === 401 && isApi(pathOnly) && !res.headers['www-authenticate']) problems.push('401 without WWW-Authenticate');
  }
  for (const p of problems) {
    const line = `${what}: ${p}`;
    const k = KNOWN.find((e) => e.match.test(line));
    if (k) known.push(`${line}  [${k.reason}]`);
    else failures.push(line);
  }
}

async function alive() {
  const r = await send(srv.port, { method: 'GET', path: '/health' });
  return r.status === 200;
}

async function login() {
  const r = await send(srv.port, { method: 'POST', path: '/api/auth/login', headers: [JSON_CT],
    body: JSON.stringify({ username: ADMIN_USER, password: ADMIN_PASSWORD }) });
  if (r.status !== 200 || !r.json?.data?.token) return false;
  admin = { token: r.json.data.token, refresh: r.json.data.refresh_token };
  secrets.push(admin.token, admin.refresh);
  return true;
}

async function adminValid() {
  if (!admin.token) return !routes.some((r) => r.method === 'POST' && r.path === '/api/auth/login');
  const r = await send(srv.port, { method: 'GET', path: '/api/auth/me', headers: [['Authorization', `Bearer ${admin.token}`]] });
  return r.status === 200;
}

// ------------------------------------------------------------------ the test

before(async () => {
  srv = await startServer({
    env: {
      ARMOR_ADMIN_USERNAME: ADMIN_USER, ARMOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
      ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1',
      // Failed logins of the battery must not lock out the re-login of the admin.
      ARMOR_SECURITY_LOCKOUT_THRESHOLD: '0', ARMOR_SECURITY_IP_LIMIT_PER_MINUTE: '0',
    },
  });
  const rt = await runArmor(['routes']);
  assert.equal(rt.code, 0, rt.stderr);
  routes = JSON.parse(rt.stdout);
  const doc = await send(srv.port, { method: 'GET', path: '/openapi.json' });
  try { openapi = JSON.parse(doc.text); } catch { openapi = null; }
  if (routes.some((r) => r.method === 'POST' && r.path === '/api/auth/login')) await login();
});

after(async () => { if (srv && srv.proc.exitCode === null) await srv.kill().catch(() => {}); });

test('every route survives its battery of bad requests', { timeout: 300000 }, async (t) => {
  assert.ok(routes.length > 5, 'the route table is read');
  if (routes.some((r) => r.method === 'POST' && r.path === '/api/auth/login')) assert.ok(admin.token, 'the admin logs in');
  else t.diagnostic('no POST /api/auth/login: the battery runs without an admin token');
  const started = Date.now();
  const dead = [];
  for (const route of routes) {
    if (!(await adminValid())) await login();
    const reqs = battery(route);
    const hist = {};
    await pool(reqs, CONCURRENCY, async (req) => {
      const res = await send(srv.port, req);
      sent++;
      hist[res.status || 'closed'] = (hist[res.status || 'closed'] || 0) + 1;
      check(route, req, res);
    });
    t.diagnostic(`${route.method} ${route.path}: ${Object.entries(hist).map(([k, v]) => `${k}×${v}`).join(' ')}`);
    if (!(await alive())) {
      dead.push(`${route.method} ${route.path}`);
      failures.push(`${route.method} ${route.path}: the server stopped answering /health after the battery`);
      break;
    }
  }
  t.diagnostic(`${routes.length} routes, ${sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (process.env.ARMOR_ROBUST_REPORT) writeFileSync(process.env.ARMOR_ROBUST_REPORT, failures.join('\n') + '\n');
  assert.deepEqual(dead, [], 'the server is alive after every battery');
  assert.deepEqual(failures, [], `${failures.length} problem(s):\n${failures.slice(0, 200).join('\n')}`);
});

test('known issues of other modules found by the battery', {
  todo: KNOWN.map((k) => k.reason).join('; ') || undefined,
}, () => {
  assert.deepEqual(known, [], `${known.length} known problem(s):\n${known.slice(0, 50).join('\n')}`);
});

test('the log holds no sanitizer report and none of the secrets sent', async () => {
  await srv.stop();
  const log = srv.log();
  assertNoSanitizerReport(log);
  for (const s of ['runtime error', 'AddressSanitizer', 'LeakSanitizer']) assert.ok(!log.includes(s), `"${s}" in the log`);
  for (const s of secrets.filter(Boolean)) {
    const i = log.indexOf(s);
    assert.equal(i, -1, `a secret sent by the test is in the log: …${log.slice(Math.max(0, i - 200), i + 60)}…`);
  }
});

// ------------------------------------------------------------------ below the router: libmicrohttpd's own answers
// These requests never reach Armor's handler: libmicrohttpd 0.9.75 answers itself, with an HTML body
// and without X-Request-Id or the envelope. Kept as todo tests with the exact reproduction.


const HTTP_LEVEL = [
  ['request line over the 16 KiB connection memory (414)', `GET /api/auth/me?${'a'.repeat(70000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
  ['header block over the 16 KiB connection memory (431)', `GET /api/auth/me HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(70000)}\r\nConnection: close\r\n\r\n`],
  ['malformed Content-Length (400)', 'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}'],
  ['malformed chunked encoding (400)', 'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
];

for (const [name, raw] of HTTP_LEVEL) {
  test(`/api answer to a ${name} is an envelope with X-Request-Id`, {
    todo: 'libmicrohttpd answers these itself (HTML body, no X-Request-Id); Armor has no hook before the access handler',
  }, async () => {
    const s = await startServer();
    try {
      const r = parseRaw((await rawRequest(s.port, raw, { timeout: 3000 })).text);
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
      assert.ok(r.headers['x-request-id'], 'X-Request-Id');
      assert.equal(r.json?.success, false, r.body.slice(0, 200));
    } finally { await s.stop(); }
  });
}

test('a malformed Content-Length gets one well-formed HTTP answer', {
  todo: 'libmicrohttpd 0.9.75 writes its 400 status line and headers twice (the body then starts with "HTTP/1.1 400")',
}, async () => {
  const s = await startServer();
  try {
    const { text } = await rawRequest(s.port, HTTP_LEVEL[2][1], { timeout: 3000 });
    assert.equal(text.split('HTTP/1.1 ').length - 1, 1, JSON.stringify(text.slice(0, 300)));
  } finally { await s.stop(); }
});

// Two framings for one request: libmicrohttpd takes the first Content-Length and would read the rest as a
// second request (a proxy that takes the other one sees one request: smuggling). Armor refuses and closes.
const SMUGGLE = [
  ['two Content-Length headers', 'Content-Length: 2\r\nContent-Length: 12\r\n'],
  ['Content-Length and Transfer-Encoding', 'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n'],
  ['two equal Content-Length headers', 'Content-Length: 2\r\nContent-Length: 2\r\n'],
];
test('conflicting framing headers are refused and the connection closes (request smuggling)', async () => {
  const s = await startServer();
  try {
    for (const [name, framing] of SMUGGLE) {
      const { text } = await rawRequest(s.port, 'POST /api/_test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
        + framing + '\r\n{}GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeout: 3000 });
      const r = parseRaw(text);
      assert.equal(r.status, 400, `${name}: ${text.slice(0, 300)}`);
      assert.equal(r.json?.code, 'BAD_REQUEST', name);
      assert.ok(r.headers['x-request-id'], name);
      assert.equal(text.split('HTTP/1.1 ').length - 1, 1, `${name}: no second (smuggled) answer: ${text}`);
    }
    assert.equal((await send(s.port, { method: 'GET', path: '/health' })).status, 200);
  } finally { await s.stop(); }
});

test('refusals before the handler on OAuth paths are RFC 6749 errors', async () => {
  const s = await startServer();
  try {
    const cases = [
      ['unknown endpoint', { method: 'GET', path: '/oauth2/robust-no-such-endpoint' }, 404],
      ['too many headers', { method: 'POST', path: '/connect/token', headers: Array.from({ length: 70 }, (_, i) => [`X-H${i}`, 'v']) }, 431],
      ['conflicting framing', { method: 'POST', path: '/oauth2/token', headers: [FORM_CT, ['Content-Length', '3']], body: 'a=b' }, 400],
    ];
    for (const [name, req, status] of cases) {
      const r = await send(s.port, req);
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.equal(typeof r.json?.error, 'string', `${name}: ${r.text}`);
      assert.equal(r.json.success, undefined, name);
      assert.ok(r.headers['x-request-id'], name);
    }
  } finally { await s.stop(); }
});
