// The outbox: a mail queued while the SMTP server is down arrives exactly once when
// it comes back; a queued mail survives SIGKILL and a restart; two nodes sharing one
// database deliver each message once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer, api, sleep, PG_URL, dropPgDatabase } from './lib.mjs';
import { FAST_ARGON, smtpEnv, startSmtp, parseMail, linkIn, register, notVerification } from './notify_lib.mjs';

// Registration also mails a verification link; these tests count the recovery mails.
const recoveryMails = (smtp) => smtp.mails.filter(notVerification);

const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

const recover = (base, username) => api(base, 'POST', '/api/auth/recovery/email', { body: { username } });

test('SMTP down when recovery is requested: the mail arrives once the server is back, exactly once', async () => {
  const smtp = await startSmtp();
  cleanups.push(() => smtp.close());
  const s = await startServer({ env: { ...FAST_ARGON, ...smtpEnv(smtp, { ARMOR_OUTBOX_RETRY_MS: '400' }) } });
  cleanups.push(() => s.stop());
  await register(s.url, { username: 'quinn', password: 'quinn-password-1', email: 'quinn@example.test' });
  await smtp.close();
  assert.equal((await recover(s.url, 'quinn')).status, 202);
  await sleep(1500); // a few attempts fail meanwhile
  assert.equal(recoveryMails(smtp).length, 0);
  assert.match(s.log(), /not delivered \(attempt 1\)/);
  await smtp.open();
  const [m] = await smtp.waitFor(1, 15000, notVerification);
  assert.deepEqual(m.to, ['quinn@example.test']);
  assert.ok(linkIn(parseMail(m.raw)).token);
  await sleep(1500);
  assert.equal(recoveryMails(smtp).length, 1, 'exactly once');
  const metrics = (await api(s.url, 'GET', '/metrics')).text;
  assert.match(metrics, /armor_outbox_messages_total\{channel="email",outcome="sent"\} [1-9]/);
  assert.match(metrics, /armor_outbox_messages_total\{channel="email",outcome="retry"\} [1-9]/);
});

test('a queued mail survives SIGKILL and is delivered after the restart', async () => {
  const smtp = await startSmtp();
  cleanups.push(() => smtp.close());
  await smtp.close();
  const env = { ...FAST_ARGON, ...smtpEnv(smtp, { ARMOR_OUTBOX_RETRY_MS: '400' }) };
  const s1 = await startServer({ env, keepData: true });
  const { dataDir, database } = s1;
  cleanups.push(() => { rmSync(dataDir, { recursive: true, force: true }); if (PG_URL) dropPgDatabase(database); });
  await register(s1.url, { username: 'rae', password: 'rae-password-1', email: 'rae@example.test' });
  assert.equal((await recover(s1.url, 'rae')).status, 202);
  await sleep(300);
  const st = await s1.kill();
  assert.equal(st.signal, 'SIGKILL');
  await smtp.open();
  await sleep(500);
  assert.equal(smtp.mails.length, 0, 'nobody sends while no server runs');
  const s2 = await startServer({ env, dataDir, database });
  cleanups.push(() => s2.stop());
  const [m] = await smtp.waitFor(1, 15000, notVerification);
  assert.deepEqual(m.to, ['rae@example.test']);
  // The token in the mail is valid on the restarted server (same database, same master key).
  const { token } = linkIn(parseMail(m.raw));
  assert.equal((await api(s2.url, 'POST', '/api/auth/recovery/validate', { body: { recovery_token: token } })).status, 200);
  // The registration's verification mail was queued first and failed more often while no mail server ran, so its
  // next attempt may come after the recovery mail's (the backoff doubles); wait for it, then check nothing repeats.
  await smtp.waitFor(2, 15000);
  await sleep(1000);
  assert.equal(recoveryMails(smtp).length, 1, 'exactly once');
  assert.equal(smtp.mails.length, 2, 'and the verification mail of the registration, once');
});

test('two nodes on one database share the outbox without double sends', async () => {
  const smtp = await startSmtp();
  cleanups.push(() => smtp.close());
  const env = { ...FAST_ARGON, ...smtpEnv(smtp, { ARMOR_OUTBOX_RETRY_MS: '300' }), ARMOR_RECOVERY_IP_LIMIT_PER_HOUR: '1000' };
  const a = await startServer({ env, keepData: true });
  const { dataDir, database } = a;
  cleanups.push(() => { rmSync(dataDir, { recursive: true, force: true }); if (PG_URL) dropPgDatabase(database); });
  const b = await startServer({ env, dataDir, database });
  cleanups.push(() => b.stop());
  cleanups.push(() => a.stop());
  const N = 12;
  for (let i = 0; i < N; i++) await register(a.url, { username: `u${i}`, password: 'shared-password-1', email: `u${i}@example.test` });
  // Queue everything while the mail server is down, so that both senders find work at the same moment.
  await smtp.close();
  for (let i = 0; i < N; i++) assert.equal((await recover(i % 2 ? a.url : b.url, `u${i}`)).status, 202);
  await sleep(700);
  await smtp.open();
  await smtp.waitFor(2 * N, 20000);
  await sleep(1500);
  const rcpts = recoveryMails(smtp).map((m) => m.to[0]).sort();
  assert.equal(rcpts.length, N, `mails: ${rcpts.join(', ')}`);
  assert.equal(new Set(rcpts).size, N, 'no duplicates');
  assert.equal(smtp.mails.length, 2 * N, 'N recovery mails and N verification mails, each once');
  const sentBy = (s) => (s.log().match(/outbox: email \S+ sent/g) || []).length;
  assert.equal(sentBy(a) + sentBy(b), 2 * N);
});
