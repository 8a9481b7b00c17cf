// Test harness: starts the real armor binary on a free loopback port with a
// fresh database (SQLite in a temp folder, or a new PostgreSQL database when
// ARMOR_TEST_PG_URL is set), and offers small HTTP helpers.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import https from 'node:https';
import crypto from 'node:crypto';
import { after } from 'node:test';

// Servers a test forgot to stop (an assertion failed before stop()) would keep the test process alive
// forever; after the file's last test they are killed.
const live = new Set();
after(() => {
  for (const p of live) p.kill('SIGKILL');
});

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.ARMOR_BIN || join(root, 'build', 'armor');
export const PG_URL = process.env.ARMOR_TEST_PG_URL || '';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Creates a fresh PostgreSQL database and returns its URL.
export function createPgDatabase() {
  const name = 'armor_t_' + crypto.randomBytes(6).toString('hex');
  execFileSync('psql', [PG_URL, '-qc', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
  const u = new URL(PG_URL);
  u.pathname = '/' + name;
  return u.toString();
}

export function dropPgDatabase(url) {
  const name = new URL(url).pathname.slice(1);
  try {
    execFileSync('psql', [PG_URL, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: 'pipe' });
  } catch { /* best effort */ }
}

// Sanitizer reports in a server log fail the test that stopped the server.
const SANITIZER_RE = /(ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: |SUMMARY: UndefinedBehaviorSanitizer)/;

/** Throws when the text holds an ASan/LSan/UBSan report. */
export function assertNoSanitizerReport(text, what = 'armor') {
  const m = SANITIZER_RE.exec(text);
  if (m) {
    const from = Math.max(0, m.index - 200);
    throw new Error(`${what}: sanitizer report in the log:\n${text.slice(from, from + 4000)}`);
  }
}

/** GET over HTTPS that accepts the test's self-signed certificate. Returns { status, headers, text }. */
export function httpsGet(url, { ca, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, rejectUnauthorized: !!ca, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      const cert = res.socket.getPeerCertificate?.();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text, cert }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/**
 * Starts armor serve. opts: { env, args, database (URL; default fresh), dataDir, keepData, port, bin,
 * tls: { cert, key } (file paths; the server then speaks HTTPS) }.
 * The diagnostic routes under /api/_test are on (ARMOR_TEST_ROUTES=1) unless opts.env overrides it.
 * Returns { url, port, proc, dataDir, database, exited, ca, log(), waitForLog(re, ms), stop(signal), kill() }.
 * stop() throws when the log holds a sanitizer report.
 */
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || mkdtempSync(join(tmpdir(), 'armor-test-'));
  const database = opts.database || (PG_URL ? createPgDatabase() : `sqlite:${join(dataDir, 'armor.db')}`);
  const ownsDb = !opts.database;
  const port = opts.port || await freePort();
  const tlsArgs = opts.tls ? ['--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key] : [];
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--database', database, '--data-dir', dataDir,
    ...tlsArgs, ...(opts.args || [])];
  let out = '';
  const env = { ...process.env, ARMOR_LOG_LEVEL: 'info', ARMOR_TEST_ROUTES: '1', ...(opts.env || {}) };
  const proc = spawn(opts.bin || BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  live.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); }));
  const scheme = opts.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const ca = opts.tls ? readFileSync(opts.tls.cert) : undefined;
  const deadline = Date.now() + 20000;
  for (;;) {
    const st = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 25))]);
    if (st) {
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      if (ownsDb && PG_URL) dropPgDatabase(database);
      throw new Error(`armor exited early (${JSON.stringify(st)}):\n${out}`);
    }
    try {
      if (opts.tls) {
        if ((await httpsGet(url + '/health', { ca })).status === 200) break;
      } else {
        const r = await fetch(url + '/health');
        if (r.ok) break;
      }
    } catch { /* not yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('armor did not start:\n' + out); }
  }
  const server = {
    url, port, proc, dataDir, database, exited, ca,
    log: () => out,
    /** Resolves with the log once it matches re (a line may be written just after the answer was sent). */
    async waitForLog(re, timeout = 5000) {
      const end = Date.now() + timeout;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`log did not match ${re} within ${timeout} ms:\n${out.slice(-3000)}`);
        await sleep(20);
      }
      return out;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const st = await exited;
      if (!opts.keepData) {
        if (ownsDb && PG_URL) dropPgDatabase(database);
        if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      }
      assertNoSanitizerReport(out);
      return st;
    },
    kill() { return server.stop('SIGKILL'); },
  };
  return server;
}

/**
 * Sends raw bytes on a new TCP connection and collects what comes back until the server closes the
 * connection or `timeout` ms pass. Returns { text, closed } (closed: the server ended the connection).
 */
export function rawRequest(port, data, { timeout = 5000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    let text = '';
    let done = false;
    const finish = (closed) => { if (!done) { done = true; clearTimeout(t); sock.destroy(); resolve({ text, closed }); } };
    const t = setTimeout(() => finish(false), timeout);
    sock.setEncoding('latin1');
    sock.on('data', (d) => { text += d; });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => { if (e.code === 'ECONNRESET') finish(true); else if (!done) { done = true; clearTimeout(t); reject(e); } });
    sock.on('connect', () => { if (data) sock.write(data); });
  });
}

/** Parses the first HTTP response in raw text: { status, headers (lower-case names), body, json }. */
export function parseRaw(text) {
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  const lines = head.split('\r\n');
  const status = Number((lines[0] || '').split(' ')[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = end >= 0 ? text.slice(end + 4) : '';
  let json;
  try { json = JSON.parse(body); } catch { json = undefined; }
  return { status, headers, body, json };
}

/** fetch wrapper: JSON in, parsed JSON out. Returns { status, headers, body, text }. */
export async function api(base, method, path, { body, token, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) { payload = JSON.stringify(body); h['content-type'] ??= 'application/json'; }
  const r = await fetch(base + path, { method, headers: h, body: payload, redirect: 'manual' });
  const text = await r.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: r.status, headers: r.headers, body: json, text };
}

/** Runs the armor binary with args (opts: env, input, timeout ms, cwd); returns { code, stdout, stderr }. */
export function runArmor(args, { env = {}, input, timeout = 10000, cwd } = {}) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
    if (input !== undefined) p.stdin.end(input); else p.stdin.end();
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { readFileSync };
