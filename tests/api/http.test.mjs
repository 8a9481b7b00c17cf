// The HTTP layer: limits, envelope answers for bad input, headers, request ids, access log,
// timeouts, HTTPS and the drain on SIGTERM. Uses the diagnostic routes under /api/_test
// (ARMOR_TEST_ROUTES=1, set by the harness). The server must survive every bad input.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, api, rawRequest, parseRaw, httpsGet, sleep } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

// On a new connection: a pooled keep-alive connection may just have been closed by a short --conn-timeout.
async function alive(s = srv) {
  const { text } = await rawRequest(s.port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(parseRaw(text).status, 200, 'server still answers /health');
}

function assertError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body?.success, false, r.text);
  assert.equal(typeof r.body.message, 'string');
  if (code) assert.equal(r.body.code, code, r.text);
}

const echo = (body, headers) => api(srv.url, 'POST', '/api/_test/echo',
  typeof body === 'string' ? { raw: body, headers: { 'content-type': 'application/json', ...headers } } : { body, headers });

describe('JSON bodies', () => {
  test('a valid body is accepted', async () => {
    const r = await echo({ name: 'x', count: 3, flag: true });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.data, { name: 'x', count: 3, flag: true });
  });

  test('content type with parameters is accepted', async () => {
    const r = await echo('{"name":"x"}', { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(r.status, 200, r.text);
  });

  test('malformed JSON is 400', async () => {
    for (const bad of ['{', '{"name":}', '{"name":"x",}', 'nul', '{"name":"x"} trailing', '\u0000']) {
      const r = await echo(bad);
      assertError(r, 400, 'BAD_REQUEST');
    }
    await alive();
  });

  test('a body that is not an object is 400', async () => {
    for (const bad of ['[1,2]', '"str"', '42', 'null']) assertError(await echo(bad), 400, 'BAD_REQUEST');
  });

  test('deep nesting is 400 before parsing', async () => {
    const deep = '{"nested":' + '['.repeat(200) + ']'.repeat(200) + ',"name":"x"}';
    const r = await echo(deep);
    assertError(r, 400, 'BAD_REQUEST');
    assert.match(r.body.message, /nest/i);
    const deepObj = '{"a":'.repeat(100) + '1' + '}'.repeat(100);
    assertError(await echo(deepObj), 400, 'BAD_REQUEST');
    // Brackets inside strings do not count.
    const ok = await echo({ name: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' });
    assert.equal(ok.status, 200, ok.text);
    await alive();
  });

  test('duplicate keys and NUL in strings are refused', async () => {
    assertError(await echo('{"name":"a","name":"b"}'), 400, 'BAD_REQUEST');
    assertError(await echo('{"name":"a\\u0000b"}'), 400);
  });

  test('invalid UTF-8 is 400', async () => {
    const r = await api(srv.url, 'POST', '/api/_test/echo', {
      raw: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      headers: { 'content-type': 'application/json' },
    });
    assertError(r, 400, 'BAD_REQUEST');
  });

  test('a missing body is 400', async () => {
    const r = await api(srv.url, 'POST', '/api/_test/echo', { headers: { 'content-type': 'application/json' } });
    assertError(r, 400, 'BAD_REQUEST');
  });

  test('a non-JSON content type is 415', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'multipart/form-data; boundary=x']) {
      const r = await api(srv.url, 'POST', '/api/_test/echo', { raw: '{"name":"x"}', headers: { 'content-type': ct } });
      assertError(r, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    const none = await api(srv.url, 'POST', '/api/_test/echo', { raw: '{"name":"x"}', headers: { 'content-type': '' } });
    assertError(none, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('wrong field types are 400 naming the field', async () => {
    for (const [body, field] of [[{ name: 5 }, 'name'], [{ name: 'x', count: 'many' }, 'count'],
      [{ name: 'x', count: 1.5 }, 'count'], [{ name: 'x', flag: 'yes' }, 'flag'], [{}, 'name'], [{ name: null }, 'name'],
      [{ name: ['x'] }, 'name']]) {
      const r = await echo(body);
      assertError(r, 400, 'VALIDATION_FAILED');
      assert.equal(r.body.details.field, field, r.text);
      assert.match(r.body.message, new RegExp(field));
    }
  });

  test('values out of range and unknown fields are 422 naming the field', async () => {
    for (const [body, field] of [[{ name: 'x', count: 1000 }, 'count'], [{ name: 'x', count: -1 }, 'count'],
      [{ name: '' }, 'name'], [{ name: 'x'.repeat(65) }, 'name'], [{ name: 'x', extra: 1 }, 'extra']]) {
      const r = await echo(body);
      assertError(r, 422, 'VALIDATION_FAILED');
      assert.equal(r.body.details.field, field, r.text);
    }
    // Huge integers do not overflow.
    assertError(await echo('{"name":"x","count":99999999999999999999999}'), 400);
    await alive();
  });
});

describe('size limits', () => {
  test('a body over the route limit is 413 (Content-Length)', async () => {
    const r = await echo({ name: 'x', nested: 'y'.repeat(10000) });
    assertError(r, 413, 'PAYLOAD_TOO_LARGE');
    await alive();
  });

  test('a chunked body over the limit is 413', async () => {
    const chunk = 'a'.repeat(1000);
    let body = '';
    for (let i = 0; i < 10; i++) body += `${(chunk.length).toString(16)}\r\n${chunk}\r\n`;
    body += '0\r\n\r\n';
    const { text } = await rawRequest(srv.port, 'POST /api/_test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n' + body);
    const r = parseRaw(text);
    assert.equal(r.status, 413, text);
    assert.equal(r.json.code, 'PAYLOAD_TOO_LARGE');
    await alive();
  });

  test('a huge Content-Length is refused without reading', async () => {
    const t0 = Date.now();
    const { text } = await rawRequest(srv.port, 'POST /api/_test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Content-Length: 999999999999\r\n\r\n{');
    assert.equal(parseRaw(text).status, 413, text);
    assert.ok(Date.now() - t0 < 3000);
    await alive();
  });

  test('headers over 8 KiB are 431', async () => {
    const r = await api(srv.url, 'GET', '/health', { headers: { 'x-big': 'a'.repeat(10000) } });
    assertError(r, 431);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    await alive();
  });

  test('too many headers are 431', async () => {
    let req = 'GET /health HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 100; i++) req += `X-H${i}: ${i}\r\n`;
    const { text } = await rawRequest(srv.port, req + 'Connection: close\r\n\r\n');
    assert.equal(parseRaw(text).status, 431, text);
  });

  test('headers beyond the connection buffer are refused and the server lives', async () => {
    const { text } = await rawRequest(srv.port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ${'b'.repeat(100000)}\r\n\r\n`);
    const st = parseRaw(text).status;
    assert.ok(!text || (st >= 400 && st < 500), text.slice(0, 200));
    await alive();
  });

  test('a very long URL is refused with a 4xx', async () => {
    const r = await api(srv.url, 'GET', '/' + 'a'.repeat(70000));
    assert.ok(r.status >= 400 && r.status < 500, String(r.status));
    await alive();
  });
});

describe('routing', () => {
  test('unknown path is 404 in the envelope', async () => {
    const r = await api(srv.url, 'GET', '/api/no/such/thing');
    assertError(r, 404, 'NOT_FOUND');
    assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  test('wrong method is 405 with Allow in the header and the envelope', async () => {
    const r = await api(srv.url, 'POST', '/health', { body: {} });
    assertError(r, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
    assert.deepEqual(r.body.details.allow, ['GET', 'HEAD']);
    const p = await api(srv.url, 'PUT', '/api/_test/items/abc');
    assertError(p, 405, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(p.body.details.allow.sort(), ['DELETE', 'GET', 'HEAD']);
  });

  test('path parameters are captured', async () => {
    const r = await api(srv.url, 'GET', '/api/_test/items/a%20b');
    assert.equal(r.status, 200);
    assert.equal(r.body.data.id, 'a b');
    const d = await api(srv.url, 'DELETE', '/api/_test/items/42');
    assert.equal(d.body.data.method, 'DELETE');
    assertError(await api(srv.url, 'GET', '/api/_test/items/'), 404);
    assertError(await api(srv.url, 'GET', '/api/_test/items/a/b'), 404);
  });

  test('odd methods and paths never give 500', async () => {
    for (const [m, p] of [['PATCH', '/'], ['OPTIONS', '/health'], ['BREW', '/'], ['GET', '/%00'], ['GET', '/%zz'],
      ['GET', '//health'], ['GET', '/health/'], ['GET', '/./health'], ['TRACE', '/']]) {
      const { text } = await rawRequest(srv.port, `${m} ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const st = parseRaw(text).status;
      assert.ok(st >= 200 && st < 500, `${m} ${p}: ${text.slice(0, 120)}`);
    }
    await alive();
  });

  test('garbage on the wire does not hurt the server', async () => {
    for (const g of ['\r\n\r\n', 'GARBAGE\r\n\r\n', 'GET\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET / HTTP/1.1\r\nBad Header\r\n\r\n',
      '\x00\x01\x02\x03', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
      'POST /api/_test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde']) {
      const { text } = await rawRequest(srv.port, g, { timeout: 2000 });
      const st = parseRaw(text).status;
      assert.ok(!text || st < 500 || st === 505, JSON.stringify(g) + ' -> ' + text.slice(0, 100));
    }
    await alive();
  });
});

describe('form bodies', () => {
  test('form bodies are parsed and decoded', async () => {
    const r = await api(srv.url, 'POST', '/api/_test/form', {
      raw: 'a=1&b=hello+world&c=%C3%A9%26&d', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.data, { a: '1', b: 'hello world', c: 'é&', d: '' });
  });

  test('form decoding: stray and truncated escapes stay literal, plus signs and escapes mix', async () => {
    const long = 'x'.repeat(3000);
    const r = await api(srv.url, 'POST', '/api/_test/form', {
      raw: `e=100%25+sure%&f=%4&g=%zz%41+&h=++%2B&i=${long}%2${long}&j+k=%3d`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.data, { e: '100% sure%', f: '%4', g: '%zzA ', h: '  +', i: `${long}%2${long}`, 'j k': '=' });
  });

  test('a form route refuses JSON with 415', async () => {
    const r = await api(srv.url, 'POST', '/api/_test/form', { body: { a: 1 } });
    assertError(r, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('too many form fields are 400', async () => {
    const raw = Array.from({ length: 200 }, (_, i) => `k${i}=v`).join('&');
    const r = await api(srv.url, 'POST', '/api/_test/form', { raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assertError(r, 400, 'BAD_REQUEST');
  });
});

describe('headers and request ids', () => {
  test('API answers carry nosniff and no-store, success and error alike', async () => {
    for (const p of ['/', '/health', '/nope']) {
      const r = await api(srv.url, 'GET', p);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
      assert.equal(r.headers.get('cache-control'), 'no-store', p);
    }
    const e = await echo('{');
    assert.equal(e.headers.get('cache-control'), 'no-store');
  });

  test('a sane X-Request-Id is echoed', async () => {
    const r = await api(srv.url, 'GET', '/health', { headers: { 'x-request-id': 'abc-123_X.y' } });
    assert.equal(r.headers.get('x-request-id'), 'abc-123_X.y');
  });

  test('an insane X-Request-Id is replaced', async () => {
    for (const bad of ['<script>', 'a b', 'x'.repeat(65), 'a"b', 'é']) {
      const r = await api(srv.url, 'GET', '/health', { headers: { 'x-request-id': bad } });
      const id = r.headers.get('x-request-id');
      assert.ok(id && id !== bad && /^[A-Za-z0-9._-]{1,64}$/.test(id), `${bad} -> ${id}`);
    }
    const r = await api(srv.url, 'GET', '/health');
    assert.match(r.headers.get('x-request-id'), /^[A-Za-z0-9._-]{8,64}$/);
  });

  test('one access-log line per request, with its request id', async () => {
    const id = 'log-' + Date.now();
    await api(srv.url, 'GET', '/health', { headers: { 'x-request-id': id } });
    await api(srv.url, 'GET', '/nope?x="\\n"', { headers: { 'x-request-id': id + 'b' } });
    await srv.waitForLog(new RegExp(`id=${id}b`));
    const lines = srv.log().split('\n').filter((l) => l.includes(`id=${id}`) && !l.includes(`id=${id}b`));
    assert.equal(lines.length, 1, srv.log().slice(-2000));
    assert.match(lines[0], new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ access 127\\.0\\.0\\.1 "GET /health" 200 \\d+\\.\\d{3}ms id=${id}$`));
    const l2 = srv.log().split('\n').filter((l) => l.includes(`id=${id}b`));
    assert.equal(l2.length, 1);
    assert.match(l2[0], /"GET \/nope" 404/);
  });

  test('the access line neutralises quotes and control characters and caps the path', async () => {
    const id = 'logq-' + Date.now();
    const path = '/x%22y%01z' + 'p'.repeat(400);
    const { text } = await rawRequest(srv.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`);
    assert.equal(parseRaw(text).status, 404, text);
    await srv.waitForLog(new RegExp(`id=${id}`));
    const line = srv.log().split('\n').find((l) => l.includes(`id=${id}`));
    const m = line.match(/"GET ([^"]*)" 404 \d+\.\d{3}ms id=/);
    assert.ok(m, line);
    assert.ok(m[1].startsWith('/x?y?z'), m[1]);
    assert.equal(m[1].length, 255);
  });

  test('generated request ids are unique per request', async () => {
    const ids = new Set();
    for (let i = 0; i < 20; i++) ids.add((await api(srv.url, 'GET', '/health')).headers.get('x-request-id'));
    assert.equal(ids.size, 20);
    for (const id of ids) assert.match(id, /^[0-9a-f]{20}$/);
  });

  // Static answers (/health, /openapi.json) reuse one response object per thread and kind; only its
  // X-Request-Id and Date change. Each answer must still carry exactly its own id, one Date and the
  // right body, in pipelines, across many connections at once and with the two kinds interleaved.
  test('kept static answers carry their own request id and a current Date', async () => {
    const imf = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;
    const checkDate = (d, what) => {
      assert.match(d || '', imf, what);
      assert.ok(Math.abs(Date.parse(d) - Date.now()) < 5000, `${what}: ${d}`);
    };
    // A pipeline of ten on one connection.
    let req = '';
    for (let i = 0; i < 10; i++)
      req += `GET ${i % 3 === 2 ? '/openapi.json' : '/health'} HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-${i}\r\n${i === 9 ? 'Connection: close\r\n' : ''}\r\n`;
    const { text } = await rawRequest(srv.port, req, { timeout: 8000 });
    const heads = text.split('HTTP/1.1 ').slice(1);
    assert.equal(heads.length, 10, text.slice(0, 2000));
    heads.forEach((h, i) => {
      const head = h.slice(0, h.indexOf('\r\n\r\n'));
      assert.match(head, /^200 /, head);
      const ids = head.split('\r\n').filter((l) => /^x-request-id:/i.test(l));
      assert.deepEqual(ids.map((l) => l.slice(l.indexOf(':') + 1).trim()), [`pipe-${i}`], head);
      const dates = head.split('\r\n').filter((l) => /^date:/i.test(l));
      assert.equal(dates.length, 1, head);
      checkDate(dates[0].slice(5).trim(), head);
      assert.match(head, /\r\nContent-Type: application\/json\r\n/i, head);
      assert.match(head, /\r\nX-Content-Type-Options: nosniff\r\n/i, head);
    });
    // Many connections at once, generated and echoed ids mixed.
    const all = await Promise.all(Array.from({ length: 60 }, (_, i) => {
      const path = i % 5 === 4 ? '/openapi.json' : '/health';
      return api(srv.url, 'GET', path, { headers: i % 2 ? { 'x-request-id': `par-${i}` } : {} }).then((r) => ({ i, path, r }));
    }));
    const seen = new Set();
    for (const { i, path, r } of all) {
      assert.equal(r.status, 200);
      const id = r.headers.get('x-request-id');
      if (i % 2) assert.equal(id, `par-${i}`);
      else assert.match(id, /^[0-9a-f]{20}$/);
      assert.ok(!seen.has(id), `id ${id} twice`);
      seen.add(id);
      checkDate(r.headers.get('date'), path);
      if (path === '/health') {
        assert.deepEqual(r.body, { success: true, message: 'ok', data: { status: 'ok' } });
        assert.equal(r.headers.get('cache-control'), 'no-store');
      } else {
        assert.equal(r.body.openapi?.slice(0, 2), '3.');
      }
    }
    // The Date moves on: a kept response is not stuck at the second it was made.
    const d1 = Date.parse((await api(srv.url, 'GET', '/health')).headers.get('date'));
    await sleep(1100);
    const d2 = Date.parse((await api(srv.url, 'GET', '/health')).headers.get('date'));
    assert.ok(d2 > d1, `${d1} -> ${d2}`);
  });
});

describe('timeouts', () => {
  let s2;
  before(async () => { s2 = await startServer({ args: ['--conn-timeout', '2', '--request-timeout', '1'] }); });
  after(async () => { await s2?.stop(); });

  test('a client that stops sending headers is disconnected (--conn-timeout)', async () => {
    const t0 = Date.now();
    const { closed } = await rawRequest(s2.port, 'GET /health HTTP/1.1\r\nHost: x\r\n', { timeout: 6000 });
    assert.ok(closed, 'server closed the connection');
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    await alive(s2);
  });

  test('an idle keep-alive connection is closed', async () => {
    const { text, closed } = await rawRequest(s2.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', { timeout: 6000 });
    assert.equal(parseRaw(text).status, 200);
    assert.ok(closed);
  });

  test("a body trickled past --request-timeout is cut off and logged as 408", async () => {
    const net = await import('node:net');
    const res = await new Promise((resolve, reject) => {
      const sock = net.connect(s2.port, '127.0.0.1');
      let text = '';
      sock.setEncoding('latin1');
      sock.on('data', (d) => { text += d; });
      sock.on('close', () => resolve(text));
      sock.on('error', (e) => (e.code === 'ECONNRESET' ? resolve(text) : reject(e)));
      sock.write('POST /api/_test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      let n = 0;
      const iv = setInterval(() => {
        if (sock.destroyed || ++n > 30) { clearInterval(iv); sock.destroy(); return; }
        sock.write(' ');
      }, 250);
    });
    // libmicrohttpd cannot answer in the middle of a body: the connection is closed, the log says 408.
    assert.ok(!/^HTTP\/1\.1 200/.test(res), res);
    await s2.waitForLog(/"POST \/api\/_test\/echo" 408 /);
    await alive(s2);
  });
});

describe('HTTPS', () => {
  let dir, s3;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'armor-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
    s3 = await startServer({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
  });
  after(async () => { await s3?.stop(); rmSync(dir, { recursive: true, force: true }); });

  test('serves HTTPS with the given certificate', async () => {
    assert.match(s3.url, /^https:/);
    const r = await httpsGet(s3.url + '/', { ca: s3.ca });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).data.name, 'armor');
    assert.match(r.headers['strict-transport-security'], /max-age=\d+/);
    assert.equal(r.cert.subject.CN, '127.0.0.1');
    // /health's answer is a kept response (see 'kept static answers'): it must carry HSTS too.
    for (let i = 0; i < 3; i++) {
      const h = await httpsGet(s3.url + '/health', { ca: s3.ca });
      assert.equal(h.status, 200);
      assert.match(h.headers['strict-transport-security'], /max-age=\d+/);
      assert.match(h.headers['x-request-id'], /^[0-9a-f]{20}$/);
    }
  });

  test('plain HTTP on the HTTPS port gets no answer', async () => {
    const { text } = await rawRequest(s3.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', { timeout: 2000 });
    assert.ok(!/^HTTP\/1\.1 200/.test(text));
    const r = await httpsGet(s3.url + '/health', { ca: s3.ca });
    assert.equal(r.status, 200);
  });
});

// Waits until the server counts n requests in flight besides the /metrics request asking.
async function waitInflight(s, n) {
  const end = Date.now() + 10000;
  for (;;) {
    const m = /armor_http_inflight (\d+)/.exec((await api(s.url, 'GET', '/metrics')).text);
    if (m && Number(m[1]) - 1 >= n) return;
    if (Date.now() > end) throw new Error('requests never arrived');
    await sleep(20);
  }
}

describe('SIGTERM', () => {
  test('drains a request in flight and exits 0', async () => {
    const s = await startServer();
    const t0 = Date.now();
    const inflight = api(s.url, 'GET', '/api/_test/slow?ms=1500');
    await waitInflight(s, 1);
    s.proc.kill('SIGTERM');
    const r = await inflight;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.data.slept_ms, 1500);
    const st = await s.stop();
    assert.equal(st.code, 0, s.log());
    assert.ok(Date.now() - t0 >= 1500);
    assert.match(s.log(), /received SIGTERM, draining/);
    assert.match(s.log(), /stopped/);
  });

  test('drains a request whose body is still arriving', async () => {
    const s = await startServer();
    const net = await import('node:net');
    const text = await new Promise((resolve, reject) => {
      const sock = net.connect(s.port, '127.0.0.1');
      let out = '';
      sock.setEncoding('latin1');
      sock.on('data', (d) => { out += d; });
      sock.on('close', () => resolve(out));
      sock.on('error', reject);
      sock.write('POST /api/_test/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"name"');
      waitInflight(s, 1).then(() => {
        s.proc.kill('SIGTERM');
        setTimeout(() => sock.write(':"x"}'), 300);
      }, reject);
    });
    assert.equal(parseRaw(text).status, 200, text);
    const st = await s.stop();
    assert.equal(st.code, 0);
  });
});
