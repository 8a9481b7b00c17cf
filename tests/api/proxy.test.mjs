// Client addresses behind a reverse proxy: X-Forwarded-For is believed only
// from --trusted-proxies, read right to left, and never from other peers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, runArmor, sleep } from './lib.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

async function accessIp(srv, xff) {
  const id = 'xff-' + Math.random().toString(16).slice(2);
  const headers = { 'x-request-id': id };
  if (xff !== undefined) headers['x-forwarded-for'] = xff;
  const r = await api(srv.url, 'GET', '/health', { headers });
  assert.equal(r.status, 200);
  for (let i = 0; i < 50; i++) {
    const line = srv.log().split('\n').find((l) => l.includes(`id=${id}`));
    if (line) return line.split(' ')[2];
    await sleep(20);
  }
  throw new Error('no access-log line for ' + id);
}

test('without trusted proxies X-Forwarded-For is ignored', async () => {
  const srv = await startServer();
  servers.push(srv);
  assert.equal(await accessIp(srv, '203.0.113.9'), '127.0.0.1');
  assert.equal(await accessIp(srv), '127.0.0.1');
});

test('a trusted proxy names the client; entries are read right to left', async () => {
  const srv = await startServer({ args: ['--trusted-proxies', '127.0.0.1, 203.0.113.0/24'] });
  servers.push(srv);
  assert.equal(await accessIp(srv), '127.0.0.1');
  assert.equal(await accessIp(srv, '198.51.100.7'), '198.51.100.7');
  // A client-written entry on the left is not believed past an untrusted hop.
  assert.equal(await accessIp(srv, '192.0.2.1, 198.51.100.7'), '198.51.100.7');
  // Trusted hops (203.0.113.0/24) are skipped.
  assert.equal(await accessIp(srv, '198.51.100.7, 203.0.113.9'), '198.51.100.7');
  assert.equal(await accessIp(srv, '2001:db8::1'), '2001:db8::1');
  // Garbage ends the chain: the last good address stands.
  assert.equal(await accessIp(srv, 'not-an-ip'), '127.0.0.1');
  assert.equal(await accessIp(srv, 'not-an-ip, 198.51.100.8'), '198.51.100.8');
});

test('a malformed --trusted-proxies stops start-up with one line', async () => {
  for (const bad of ['10.0.0.0/33', 'nonsense', '::1/129']) {
    const r = await runArmor(['serve', '--listen', '127.0.0.1:1', '--trusted-proxies', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /trusted-proxies/);
  }
});
