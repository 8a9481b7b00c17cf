// Helpers for the notification tests: a real SMTP server on loopback
// (npm smtp-server) whose received mails are parsed minimally here, a small
// HTTP receiver for SMS webhooks, a self-signed certificate for TLS tests,
// and shortcuts for users and the admin.
import { SMTPServer } from 'smtp-server';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, sleep } from './lib.mjs';

// Low argon2id cost for tests only.
export const FAST_ARGON = { ARMOR_ARGON2_MEMORY_KIB: '256', ARMOR_ARGON2_OPS: '1' };
export const ADMIN = { ARMOR_ADMIN_USERNAME: 'root', ARMOR_ADMIN_PASSWORD: 'root-password-1' };

/** Environment that points a server's email settings at `smtp` on first start. */
export function smtpEnv(smtp, extra = {}) {
  return {
    ARMOR_SMTP_HOST: '127.0.0.1', ARMOR_SMTP_PORT: String(smtp.port), ARMOR_SMTP_SECURITY: 'none',
    ARMOR_SMTP_FROM: 'noreply@armor.test', ARMOR_OUTBOX_RETRY_MS: '300', ...extra,
  };
}

/** A self-signed certificate for 127.0.0.1: { key, cert, certFile }. */
export function selfSigned() {
  const dir = mkdtempSync(join(tmpdir(), 'armor-smtp-tls-'));
  const keyFile = join(dir, 'key.pem'), certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
  { stdio: 'pipe' });
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

/**
 * Starts an SMTP server on loopback. opts: { port, secure (implicit TLS), tls: {key, cert} (enables STARTTLS or
 * implicit TLS), auth: {user, pass} (required when given), rejectRcpt (550) }.
 * Returns { port, mails: [{ from, to, raw, auth, secure }], waitFor(n, ms), close(), open() }.
 */
export async function startSmtp(opts = {}) {
  const mails = [];
  const self = { port: opts.port || 0, mails, server: null };
  const make = () => new SMTPServer({
    secure: !!opts.secure,
    key: opts.tls?.key, cert: opts.tls?.cert,
    disabledCommands: opts.tls ? (opts.auth ? [] : ['AUTH']) : (opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH']),
    allowInsecureAuth: !opts.tls,
    authOptional: !opts.auth,
    logger: false,
    onAuth(auth, session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username });
      return cb(new Error('Invalid username or password'));
    },
    onRcptTo(address, session, cb) {
      if (opts.rejectRcpt) { const e = new Error('No such user'); e.responseCode = 550; return cb(e); }
      cb();
    },
    onData(stream, session, cb) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'), auth: session.user || null, secure: session.secure,
        });
        cb(null, 'Message accepted');
      });
    },
  });
  self.open = () => new Promise((resolve, reject) => {
    self.server = make();
    self.server.on('error', () => {});
    self.server.listen(self.port, '127.0.0.1', (err) => {
      if (err) return reject(err);
      self.port = self.server.server.address().port;
      resolve();
    });
    self.server.server.once('error', reject);
  });
  self.close = () => new Promise((resolve) => { if (!self.server) return resolve(); self.server.close(() => resolve()); self.server = null; });
  self.waitFor = async (n = 1, ms = 10000, pred = () => true) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = mails.filter(pred);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`expected ${n} mail(s), got ${got.length}`);
      await sleep(25);
    }
  };
  await self.open();
  return self;
}

function decodeQP(s) {
  const bytes = [];
  const t = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(t.slice(i + 1, i + 3))) { bytes.push(parseInt(t.slice(i + 1, i + 3), 16)); i += 2; }
    else bytes.push(...Buffer.from(t[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeWords(v) {
  return v.replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi, (_, enc, txt) =>
    enc.toUpperCase() === 'B' ? Buffer.from(txt, 'base64').toString('utf8') : decodeQP(txt.replace(/_/g, ' ')));
}

function splitHead(raw) {
  const i = raw.search(/\r?\n\r?\n/);
  const head = i >= 0 ? raw.slice(0, i) : raw;
  const body = i >= 0 ? raw.slice(i).replace(/^\r?\n\r?\n/, '') : '';
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  return { headers, body };
}

/** Minimal MIME parse: { headers, subject, from, to, text, html, types: [content types seen] }. */
export function parseMail(raw) {
  const out = { text: null, html: null, types: [] };
  const top = splitHead(raw);
  out.headers = top.headers;
  out.subject = decodeWords(top.headers.subject || '');
  out.from = decodeWords(top.headers.from || '');
  out.to = top.headers.to || '';
  const walk = (headers, body) => {
    const ct = headers['content-type'] || 'text/plain';
    out.types.push(ct.split(';')[0].trim().toLowerCase());
    const m = /boundary="?([^";]+)"?/i.exec(ct);
    if (/^multipart\//i.test(ct) && m) {
      const parts = body.split('--' + m[1]);
      for (const p of parts.slice(1)) {
        if (p.startsWith('--')) break;
        const sub = splitHead(p.replace(/^\r?\n/, ''));
        walk(sub.headers, sub.body);
      }
      return;
    }
    const enc = (headers['content-transfer-encoding'] || '').toLowerCase();
    let text = body.replace(/\r?\n$/, '');
    if (enc === 'quoted-printable') text = decodeQP(text);
    else if (enc === 'base64') text = Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (/^text\/html/i.test(ct)) out.html = text; else if (/^text\/plain/i.test(ct)) out.text = text;
  };
  walk(top.headers, top.body);
  return out;
}

/** True for a received mail that is not an email verification mail (registration sends those). */
export const notVerification = (m) => !/Confirm your email/.test(parseMail(m.raw).subject);

/** The link with token= in a parsed mail's text part: { link, token }. */
export function linkIn(mail) {
  const m = /(https?:\/\/\S+\?token=([A-Za-z0-9_-]+))/.exec(mail.text || '');
  if (!m) throw new Error('no link in mail:\n' + mail.text);
  return { link: m[1], token: m[2] };
}

/**
 * A small HTTP receiver for SMS webhooks and the Twilio API.
 * Returns { url, requests: [{ method, path, headers, body }], status (settable), waitFor(n, ms), close() }.
 */
export async function startHook() {
  const self = { requests: [], status: 200 };
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (self.status < 300) self.requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      res.writeHead(self.status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  self.url = `http://127.0.0.1:${srv.address().port}`;
  self.waitFor = async (n = 1, ms = 10000) => {
    const deadline = Date.now() + ms;
    while (self.requests.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} request(s), got ${self.requests.length}`);
      await sleep(25);
    }
    return self.requests;
  };
  self.close = () => new Promise((r) => srv.close(r));
  return self;
}

/** Logs in; returns the login data ({token, user, ...}). */
export async function login(base, username, password) {
  const r = await api(base, 'POST', '/api/auth/login', { body: { username, password } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
  return r.body.data;
}

/** Registers a user; returns the login data. */
export async function register(base, body) {
  const r = await api(base, 'POST', '/api/auth/register', { body });
  if (r.status !== 201) throw new Error(`register ${body.username}: ${r.status} ${r.text}`);
  return r.body.data;
}

/** Audit events of the server, newest first (needs an admin token). */
export async function auditEvents(base, token, event) {
  const r = await api(base, 'GET', `/api/audit?limit=200${event ? '&event=' + encodeURIComponent(event) : ''}`, { token });
  if (r.status !== 200) throw new Error(`audit: ${r.status} ${r.text}`);
  return r.body.data.items;
}
