// Password recovery by SMS one-time code, through the webhook, twilio and log providers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, sleep } from './lib.mjs';
import { FAST_ARGON, startHook, login, register } from './notify_lib.mjs';

let srv, B, hook;
before(async () => {
  hook = await startHook();
  srv = await startServer({
    env: {
      ...FAST_ARGON, ARMOR_SMS_PROVIDER: 'webhook', ARMOR_SMS_URL: hook.url + '/sms', ARMOR_SMS_AUTH_TOKEN: 'hook-secret',
      ARMOR_APP_NAME: 'Acme ID', ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '10000', ARMOR_OUTBOX_RETRY_MS: '300',
    },
  });
  B = srv.url;
});
after(async () => { await srv?.stop(); await hook?.close(); });

const post = (path, body) => api(B, 'POST', path, { body });
const smsTo = (phone) => hook.requests.filter((r) => JSON.parse(r.body).to === phone);
async function nextCode(phone, n) {
  const deadline = Date.now() + 10000;
  while (smsTo(phone).length < n) {
    if (Date.now() > deadline) throw new Error(`no SMS #${n} to ${phone}`);
    await sleep(25);
  }
  const req = smsTo(phone)[n - 1];
  const m = /\b(\d{6})\b/.exec(JSON.parse(req.body).message);
  assert.ok(m, 'a 6-digit code');
  return { code: m[1], req };
}

test('SMS recovery: webhook with bearer token, code for a recovery token, then grant and reset', async () => {
  await register(B, { username: 'kim', password: 'kim-password-1', phone: '+15550100201' });
  let r = await post('/api/auth/recovery/sms', { username: 'kim' });
  assert.equal(r.status, 202);
  const { code, req } = await nextCode('+15550100201', 1);
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/sms');
  assert.equal(req.headers.authorization, 'Bearer hook-secret');
  assert.match(req.headers['content-type'], /application\/json/);
  const body = JSON.parse(req.body);
  assert.deepEqual(Object.keys(body).sort(), ['message', 'to']);
  assert.match(body.message, /Acme ID/);

  r = await post('/api/auth/recovery/sms/complete', { phone: '+15550100201', otp: code });
  assert.equal(r.status, 200);
  const rt = r.body.data.recovery_token;
  assert.ok(rt.length >= 43);
  r = await post('/api/auth/recovery/sms/complete', { username: 'kim', otp: code });
  assert.equal(r.status, 400, 'single use');
  r = await post('/api/auth/recovery/validate', { recovery_token: rt });
  assert.equal(r.status, 200);
  r = await post('/api/auth/password/reset', { reset_grant: r.body.data.reset_grant, new_password: 'kim-new-password' });
  assert.equal(r.status, 200);
  await login(B, 'kim', 'kim-new-password');
});

test('a code dies after 5 wrong guesses, and a newer code voids the older', async () => {
  await register(B, { username: 'lee', password: 'lee-password-1', phone: '+15550100202' });
  await post('/api/auth/recovery/sms', { username: 'lee' });
  const { code } = await nextCode('+15550100202', 1);
  const wrong = String((Number(code) + 1) % 1000000).padStart(6, '0');
  for (let i = 0; i < 5; i++) {
    const r = await post('/api/auth/recovery/sms/complete', { username: 'lee', otp: wrong });
    assert.equal(r.status, 400);
    assert.equal(r.body.details.field, 'otp');
  }
  let r = await post('/api/auth/recovery/sms/complete', { username: 'lee', otp: code });
  assert.equal(r.status, 400, 'dead after 5 wrong guesses');

  await post('/api/auth/recovery/sms', { phone: '+15550100202' });
  const c2 = (await nextCode('+15550100202', 2)).code;
  await post('/api/auth/recovery/sms', { username: 'lee' });
  const c3 = (await nextCode('+15550100202', 3)).code;
  if (c2 !== c3) {
    r = await post('/api/auth/recovery/sms/complete', { username: 'lee', otp: c2 });
    assert.equal(r.status, 400, 'the older code is void');
  }
  r = await post('/api/auth/recovery/sms/complete', { username: 'lee', otp: c3 });
  assert.equal(r.status, 200);
});

test('unknown accounts and accounts without a phone get the same answer; nothing is sent', async () => {
  await register(B, { username: 'mo', password: 'mo-password-1', phone: '+15550100203' });
  await register(B, { username: 'nophone', password: 'nophone-password' });
  const n0 = hook.requests.length;
  const known = await post('/api/auth/recovery/sms', { username: 'mo' });
  for (const body of [{ username: 'nobody-here' }, { phone: '+15550109999' }, { username: 'nophone' }]) {
    const r = await post('/api/auth/recovery/sms', body);
    assert.equal(r.status, known.status);
    assert.deepEqual(r.body, known.body);
  }
  await hook.waitFor(n0 + 1);
  await sleep(500);
  assert.equal(hook.requests.length, n0 + 1);
  const c1 = await post('/api/auth/recovery/sms/complete', { username: 'nobody-here', otp: '123456' });
  const c2 = await post('/api/auth/recovery/sms/complete', { username: 'mo', otp: '999999' });
  assert.equal(c1.status, 400);
  assert.deepEqual(c1.body, c2.body);
});

test('input errors: code format, identifiers', async () => {
  let r = await post('/api/auth/recovery/sms/complete', { username: 'x', otp: '12ab56' });
  assert.equal(r.status, 422);
  assert.equal(r.body.details.field, 'otp');
  r = await post('/api/auth/recovery/sms/complete', { username: 'x', otp: '123' });
  assert.equal(r.status, 422);
  r = await post('/api/auth/recovery/sms/complete', { username: 'x' });
  assert.equal(r.status, 400);
  assert.equal(r.body.details.field, 'otp');
  r = await post('/api/auth/recovery/sms/complete', { otp: '123456' });
  assert.equal(r.status, 400);
  r = await post('/api/auth/recovery/sms', { email: 'a@b.test' });
  assert.equal(r.status, 400, 'SMS recovery takes a username or a phone');
  r = await api(B, 'GET', '/api/auth/recovery/context?phone=%2B15550100203');
  assert.deepEqual(r.body.data.channels, ['sms']);
  assert.equal(r.body.data.preferred_channel, 'sms');
});

test('a webhook failure is retried until the provider accepts; the SMS is delivered once', async () => {
  await register(B, { username: 'ned', password: 'ned-password-1', phone: '+15550100204' });
  hook.status = 503;
  try {
    await post('/api/auth/recovery/sms', { username: 'ned' });
    await sleep(800);
    assert.equal(smsTo('+15550100204').length, 0);
  } finally {
    hook.status = 200;
  }
  await nextCode('+15550100204', 1);
  await sleep(1000);
  assert.equal(smsTo('+15550100204').length, 1);
});

test('twilio provider: form POST to {base}/2010-04-01/Accounts/{sid}/Messages.json with basic auth', async () => {
  const tw = await startHook();
  const s = await startServer({
    env: {
      ...FAST_ARGON, ARMOR_SMS_PROVIDER: 'twilio', ARMOR_SMS_URL: tw.url, ARMOR_SMS_ACCOUNT_SID: 'AC0123',
      ARMOR_SMS_AUTH_TOKEN: 'tw-token', ARMOR_SMS_FROM: '+15550000001',
    },
  });
  try {
    await register(s.url, { username: 'ola', password: 'ola-password-1', phone: '+15550100205' });
    assert.equal((await api(s.url, 'POST', '/api/auth/recovery/sms', { body: { username: 'ola' } })).status, 202);
    const [req] = await tw.waitFor(1);
    assert.equal(req.path, '/2010-04-01/Accounts/AC0123/Messages.json');
    assert.equal(req.headers.authorization, 'Basic ' + Buffer.from('AC0123:tw-token').toString('base64'));
    assert.match(req.headers['content-type'], /application\/x-www-form-urlencoded/);
    const form = new URLSearchParams(req.body);
    assert.equal(form.get('To'), '+15550100205');
    assert.equal(form.get('From'), '+15550000001');
    const code = /\b(\d{6})\b/.exec(form.get('Body'))[1];
    const r = await api(s.url, 'POST', '/api/auth/recovery/sms/complete', { body: { username: 'ola', otp: code } });
    assert.equal(r.status, 200);
  } finally {
    await s.stop();
    await tw.close();
  }
});

test('log provider: one line with the masked number and the length, never the code', async () => {
  const s = await startServer({ env: { ...FAST_ARGON, ARMOR_SMS_PROVIDER: 'log' }, keepData: false });
  try {
    await register(s.url, { username: 'pat', password: 'pat-password-1', phone: '+15550100206' });
    assert.equal((await api(s.url, 'POST', '/api/auth/recovery/sms', { body: { username: 'pat' } })).status, 202);
    const deadline = Date.now() + 5000;
    while (!/sms \(log provider\)/.test(s.log()) && Date.now() < deadline) await sleep(25);
    const line = s.log().split('\n').find((l) => l.includes('sms (log provider)'));
    assert.ok(line, s.log());
    assert.match(line, /\+1\*{7}06/);
    assert.ok(!/\d{6}/.test(line.replace(/^\S+/, '').replace(/\+1\*+06/, '')), line);
    assert.ok(!s.log().includes('recovery code is'));
  } finally {
    await s.stop();
  }
});
