// Test harness: starts the real armor binary on a free loopback port with a
// fresh database (SQLite in a temp folder, or a new PostgreSQL database when
// ARMOR_TEST_PG_URL is set), and offers small HTTP helpers.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import crypto from 'node:crypto';

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

/**
 * Starts armor serve. opts: { env, args, database (URL; default fresh), dataDir, keepData }.
 * Returns { url, port, proc, dataDir, database, log(), stop(signal), kill() }.
 */
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || mkdtempSync(join(tmpdir(), 'armor-test-'));
  const database = opts.database || (PG_URL ? createPgDatabase() : `sqlite:${join(dataDir, 'armor.db')}`);
  const ownsDb = !opts.database;
  const port = opts.port || await freePort();
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--database', database, '--data-dir', dataDir,
    ...(opts.args || [])];
  let out = '';
  const env = { ...process.env, ARMOR_LOG_LEVEL: 'info', ...(opts.env || {}) };
  const proc = spawn(opts.bin || BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    const st = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 25))]);
    if (st) throw new Error(`armor exited early (${JSON.stringify(st)}):\n${out}`);
    try {
      const r = await fetch(url + '/health');
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('armor did not start:\n' + out); }
  }
  const server = {
    url, port, proc, dataDir, database, exited,
    log: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const st = await exited;
      if (!opts.keepData) {
        if (ownsDb && PG_URL) dropPgDatabase(database);
        if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      }
      return st;
    },
  };
  return server;
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

/** Runs the armor binary with args; returns { code, stdout, stderr }. */
export function runArmor(args, { env = {}, input, timeout = 10000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
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
