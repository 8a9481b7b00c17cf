// Helpers for the OAuth/OIDC API tests: clients from the CLI, openid-client
// configurations for http:// issuers, JWT verification against the JWKS, and a
// tiny browser (cookie jar + HTML form parsing) to drive the login and consent pages.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { runArmor } from './lib.mjs';

/** Creates a client with `armor client create` against the server's database; returns {client_id, client_secret}. */
export async function cliClient(s, { name = 'svc', grants = ['client_credentials'], scopes = [], uris = [], extra = [] } = {}) {
  const args = ['client', 'create', '--name', name, '--database', s.database, '--data-dir', s.dataDir];
  for (const g of grants) args.push('--grant', g);
  for (const sc of scopes) args.push('--scope', sc);
  for (const u of uris) args.push('--redirect-uri', u);
  const r = await runArmor([...args, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** openid-client configuration for an http:// issuer. */
export async function discover(s, clientId, secretOrMeta, auth) {
  return client.discovery(new URL(s.url), clientId, secretOrMeta, auth, { execute: [client.allowInsecureRequests] });
}

const jwksCache = new Map();
/**
 * Verifies a JWT with the server's JWKS; returns { payload, protectedHeader }. An unknown kid refetches the
 * JWKS at once (no cool-down): a new server publishes its RS256 key a moment after it starts answering.
 */
export async function verifyJwt(s, token, opts = {}) {
  if (!jwksCache.has(s.url)) jwksCache.set(s.url, createRemoteJWKSet(new URL(s.url + '/.well-known/jwks.json'), { cooldownDuration: 0 }));
  return jwtVerify(token, jwksCache.get(s.url), { issuer: s.url, ...opts });
}
export { decodeProtectedHeader };

/** POSTs a form; returns the fetch Response (redirects not followed). */
export async function postForm(url, fields, headers = {}) {
  return fetch(url, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** A minimal browser: keeps cookies, follows nothing by itself, parses forms. */
export class Browser {
  constructor(base) { this.base = base; this.jar = new Map(); }
  cookieHeader() { return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '); }
  store(res) {
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      const k = kv.slice(0, i), v = kv.slice(i + 1);
      if (/max-age=0/i.test(c) || v === '') this.jar.delete(k); else this.jar.set(k, v);
    }
  }
  async get(url) {
    const res = await fetch(new URL(url, this.base), { redirect: 'manual', headers: { cookie: this.cookieHeader() } });
    this.store(res);
    return { res, text: await res.text() };
  }
  async post(url, fields) {
    const res = await postForm(new URL(url, this.base), fields, { cookie: this.cookieHeader() });
    this.store(res);
    return { res, text: await res.text() };
  }
}

/** The hidden inputs and action of the first form of a page. */
export function parseForm(html) {
  const form = html.match(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/);
  assert.ok(form, 'page has a form');
  const fields = {};
  for (const m of form[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return { action: form[1], fields };
}

/**
 * Drives the browser through /oauth2/authorize: signs in when the form shows, consents when asked.
 * Returns the final redirect URL (to the client) as a URL.
 */
export async function authorizeInBrowser(b, authUrl, { username, password, decision = 'allow' } = {}) {
  let { res, text } = await b.get(authUrl);
  for (let step = 0; step < 5; step++) {
    if (res.status === 302 || res.status === 303) {
      const loc = new URL(res.headers.get('location'), b.base);
      if (loc.origin === new URL(b.base).origin && loc.pathname.startsWith('/oauth2/')) {
        ({ res, text } = await b.get(loc.toString()));
        continue;
      }
      return loc;
    }
    assert.equal(res.status, 200, `unexpected ${res.status}: ${text.slice(0, 300)}`);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
    const { action, fields } = parseForm(text);
    assert.ok(fields.csrf, 'form carries a CSRF token');
    if (action === '/oauth2/login') {
      ({ res, text } = await b.post(action, { ...fields, username, password }));
      if (res.status !== 303) return { status: res.status, text };
    } else {
      ({ res, text } = await b.post(action, { ...fields, decision }));
      assert.equal(res.status, 303);
    }
  }
  throw new Error('too many steps');
}
