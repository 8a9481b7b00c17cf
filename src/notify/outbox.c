/*
 * The outbox and its sender thread. Messages are rows written by the caller's
 * transaction; the sender claims due rows with a lease (FOR UPDATE SKIP
 * LOCKED on PostgreSQL so that nodes never claim the same row; one UPDATE on
 * SQLite, whose single writer makes the claim atomic), delivers them, and
 * marks them sent, or schedules a retry with doubling backoff, or gives up
 * after the last attempt. A node that dies mid-send leaves a lease that
 * expires, so the message is retried elsewhere: delivery is at least once, and
 * exactly once unless a node dies between the server's "250" and the commit.
 * Message texts are stored encrypted and wiped once final.
 */
#include "notify/outbox.h"
#include "api/api.h"
#include "app/services.h"
#include "core/armor.h"
#include "core/secret.h"
#include "notify/notify.h"
#include "settings/settings.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 8
#define LEASE_MS 90000    /* longer than the slowest delivery (SMTP: 10 s connect + 30 s total) */
#define IDLE_POLL_MS 1000 /* how often an idle sender looks for work queued elsewhere */
#define BURST_POLL_MS 100 /* after a kick: the queuing transaction may not have committed yet */
#define BURST_MS 3000
#define MAX_BACKOFF_MS 600000

static int64_t retry_base_ms = 5000; /* ARMOR_OUTBOX_RETRY_MS */
static int max_attempts = 12;        /* ARMOR_OUTBOX_MAX_ATTEMPTS */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static bool kicked, stopping, running;
static int64_t burst_until;
static pthread_t sender;

/* Counters for /metrics, per node. */
static atomic_llong n_sent[2], n_retried[2], n_failed[2]; /* [0] email, [1] sms */

static void metrics(struct armor_buf *b) {
  armor_buf_printf(b, "# HELP armor_outbox_messages_total Outbox deliveries by channel and outcome on this node.\n"
                      "# TYPE armor_outbox_messages_total counter\n");
  static const char *const ch[2] = {"email", "sms"};
  for (int i = 0; i < 2; i++)
    armor_buf_printf(b,
                     "armor_outbox_messages_total{channel=\"%s\",outcome=\"sent\"} %lld\n"
                     "armor_outbox_messages_total{channel=\"%s\",outcome=\"retry\"} %lld\n"
                     "armor_outbox_messages_total{channel=\"%s\",outcome=\"failed\"} %lld\n",
                     ch[i], (long long)atomic_load(&n_sent[i]), ch[i], (long long)atomic_load(&n_retried[i]), ch[i],
                     (long long)atomic_load(&n_failed[i]));
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t armor_outbox_backoff_ms(int attempt) {
  int64_t d = retry_base_ms;
  for (int i = 1; i < attempt && d < MAX_BACKOFF_MS; i++) d *= 2;
  return d < MAX_BACKOFF_MS ? d : MAX_BACKOFF_MS;
}

/* ---------------------------------------------------------------- queueing */

static int add(struct armor_db *db, const char *channel, const char *to, const char *subject, const char *text,
               const char *html) {
  json_t *p = json_pack("{s:s}", "text", text);
  if (html) json_object_set_new(p, "html", json_string(html));
  char *plain = json_dumps(p, JSON_COMPACT);
  json_decref(p);
  char *enc = armor_secret_encrypt(plain, strlen(plain));
  armor_free_secret_str(plain);
  char id[37];
  armor_uuid_new(id);
  int rc = armor_db_exec(
      db, NULL,
      "INSERT INTO outbox (id, channel, recipient, subject, payload, status, attempts, next_at, created_at) "
      "VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
      "tttttii", id, channel, to, subject, enc, wall_ms(), armor_time());
  armor_free(enc);
  if (rc) return ARMOR_DB;
  armor_outbox_kick();
  return ARMOR_OK;
}

int armor_outbox_add_email(struct armor_db *db, const char *to, const char *subject, const char *text,
                           const char *html) {
  return add(db, "email", to, subject, text, html);
}

int armor_outbox_add_sms(struct armor_db *db, const char *to, const char *text) {
  return add(db, "sms", to, "", text, NULL);
}

void armor_outbox_kick(void) {
  pthread_mutex_lock(&mu);
  kicked = true;
  burst_until = armor_now_ms() + BURST_MS;
  if (running) pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

/* ---------------------------------------------------------------- delivery */

struct msg {
  char id[37];
  char channel[8];
  char *recipient, *subject, *payload;
  int attempts;
};

static int claim(struct armor_db *db, const char *claim_id, struct msg *out, int max) {
  int64_t now = wall_ms();
  const char *sql =
      armor_store_kind() == ARMOR_DB_POSTGRES
          ? "UPDATE outbox SET status = 'sending', claim = $1, lease_until = $2, attempts = attempts + 1 WHERE id IN "
            "(SELECT id FROM outbox WHERE (status = 'pending' AND next_at <= $3) OR (status = 'sending' AND "
            "lease_until < $3) "
            "ORDER BY next_at LIMIT 8 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, channel, recipient, subject, payload, attempts"
          : "UPDATE outbox SET status = 'sending', claim = $1, lease_until = $2, attempts = attempts + 1 WHERE id IN "
            "(SELECT id FROM outbox WHERE (status = 'pending' AND next_at <= $3) OR (status = 'sending' AND "
            "lease_until < $3) "
            "ORDER BY next_at LIMIT 8) "
            "RETURNING id, channel, recipient, subject, payload, attempts";
  struct armor_stmt *st = armor_db_query(db, sql, "tii", claim_id, now + LEASE_MS, now);
  if (!st) return ARMOR_DB;
  int n = 0, rc;
  while ((rc = armor_stmt_step(st)) == 1) {
    if (n >= max) continue; /* cannot happen: LIMIT 8 */
    struct msg *m = &out[n++];
    armor_fmt(m->id, sizeof m->id, "%s", armor_stmt_text(st, 0));
    armor_fmt(m->channel, sizeof m->channel, "%s", armor_stmt_text(st, 1));
    m->recipient = armor_strdup(armor_stmt_text(st, 2));
    m->subject = armor_strdup(armor_stmt_text(st, 3));
    m->payload = armor_strdup(armor_stmt_text(st, 4));
    m->attempts = (int)armor_stmt_int(st, 5);
  }
  armor_stmt_done(st);
  if (rc < 0) {
    for (int i = 0; i < n; i++) {
      armor_free(out[i].recipient);
      armor_free(out[i].subject);
      armor_free(out[i].payload);
    }
    return ARMOR_DB;
  }
  return n;
}

/* Delivers one claimed message; returns ARMOR_OK / ARMOR_INVALID (final failure) / ARMOR_BUSY (retry). */
static int deliver(const struct msg *m, char *answer, size_t answerlen) {
  size_t n = 0;
  unsigned char *plain = armor_secret_decrypt(m->payload, &n);
  if (!plain) {
    armor_fmt(answer, answerlen, "the stored message cannot be decrypted (was the master key changed?)");
    return ARMOR_INVALID;
  }
  json_t *p = json_loadb((const char *)plain, n, 0, NULL);
  armor_free_secret(plain, n + 1);
  const char *text = json_string_value(json_object_get(p, "text"));
  const char *html = json_string_value(json_object_get(p, "html"));
  int rc;
  if (!text) {
    armor_fmt(answer, answerlen, "the stored message is malformed");
    rc = ARMOR_INVALID;
  } else if (!strcmp(m->channel, "email")) {
    struct armor_email_settings e;
    struct armor_app_settings a;
    armor_settings_email(&e);
    armor_settings_app(&a);
    /* Not configured (any more): keep the message and retry, an admin may fix the settings. */
    rc = armor_smtp_send(&e, a.name, m->recipient, m->subject, text, html, answer, answerlen);
    if (rc == ARMOR_INVALID && !e.enabled) rc = ARMOR_BUSY;
    sodium_memzero(&e, sizeof e);
  } else {
    struct armor_sms_settings s;
    armor_settings_sms(&s);
    rc = armor_sms_send(&s, m->recipient, text, answer, answerlen);
    if (rc == ARMOR_INVALID && !s.enabled) rc = ARMOR_BUSY;
    sodium_memzero(&s, sizeof s);
  }
  if (p) {
    /* Wipe the texts held by the parsed payload before it is freed. */
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) {
      if (json_is_string(v)) sodium_memzero((void *)json_string_value(v), json_string_length(v));
    }
    json_decref(p);
  }
  return rc;
}

static void finish(struct armor_db *db, const struct msg *m, const char *claim_id, int rc, const char *answer) {
  char masked[96];
  if (!strcmp(m->channel, "email"))
    armor_mask_email(m->recipient, masked, sizeof masked);
  else
    armor_mask_phone(m->recipient, masked, sizeof masked);
  int dbrc, c = strcmp(m->channel, "email") ? 1 : 0;
  if (rc == ARMOR_OK) {
    atomic_fetch_add(&n_sent[c], 1);
    dbrc = armor_db_exec(
        db, NULL,
        "UPDATE outbox SET status = 'sent', sent_at = $1, payload = '', last_error = NULL, lease_until = 0 "
        "WHERE id = $2 AND claim = $3",
        "itt", armor_time(), m->id, claim_id);
    armor_info("outbox: %s %s sent to %s (attempt %d)", m->channel, m->id, masked, m->attempts);
  } else if (rc == ARMOR_INVALID || m->attempts >= max_attempts) {
    atomic_fetch_add(&n_failed[c], 1);
    dbrc = armor_db_exec(db, NULL,
                         "UPDATE outbox SET status = 'failed', payload = '', last_error = $1, lease_until = 0 "
                         "WHERE id = $2 AND claim = $3",
                         "ttt", answer, m->id, claim_id);
    armor_err("outbox: %s %s to %s failed for good after %d attempt(s): %s", m->channel, m->id, masked, m->attempts,
              answer);
  } else {
    atomic_fetch_add(&n_retried[c], 1);
    int64_t delay = armor_outbox_backoff_ms(m->attempts);
    dbrc = armor_db_exec(db, NULL,
                         "UPDATE outbox SET status = 'pending', next_at = $1, last_error = $2, lease_until = 0 "
                         "WHERE id = $3 AND claim = $4",
                         "ittt", wall_ms() + delay, answer, m->id, claim_id);
    armor_warn("outbox: %s %s to %s not delivered (attempt %d): %s; retrying in %lld ms", m->channel, m->id, masked,
               m->attempts, answer, (long long)delay);
  }
  if (dbrc) armor_err("outbox: cannot record the outcome of %s; its lease will expire and it may be sent again", m->id);
}

int armor_outbox_run_once(void) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  char claim_id[37];
  armor_uuid_new(claim_id);
  struct msg ms[BATCH];
  int n = claim(db, claim_id, ms, BATCH);
  if (n < 0) return n;
  for (int i = 0; i < n; i++) {
    char answer[512] = "";
    int rc = deliver(&ms[i], answer, sizeof answer);
    finish(db, &ms[i], claim_id, rc, answer);
    armor_free(ms[i].recipient);
    armor_free(ms[i].subject);
    armor_free_secret_str(ms[i].payload);
  }
  return n;
}

/* Deletes what is final and old: sent after 7 days, failed after 30. */
static void cleanup(struct armor_db *db) {
  int64_t now = armor_time();
  armor_db_exec(
      db, NULL,
      "DELETE FROM outbox WHERE (status = 'sent' AND sent_at < $1) OR (status = 'failed' AND created_at < $2)", "ii",
      now - 7 * 86400, now - 30 * 86400);
}

static void *sender_loop(void *arg) {
  (void)arg;
  int64_t last_cleanup = 0;
  pthread_mutex_lock(&mu);
  while (!stopping) {
    kicked = false;
    pthread_mutex_unlock(&mu);
    int n = armor_outbox_run_once();
    if (armor_now_ms() - last_cleanup > 3600 * 1000) {
      struct armor_db *db = armor_db_get();
      if (db) cleanup(db);
      last_cleanup = armor_now_ms();
    }
    pthread_mutex_lock(&mu);
    if (n > 0 || kicked || stopping) continue; /* more may be due at once */
    int64_t wait = armor_now_ms() < burst_until ? BURST_POLL_MS : IDLE_POLL_MS;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait / 1000;
    ts.tv_nsec += (wait % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  pthread_mutex_unlock(&mu);
  armor_store_close();
  return NULL;
}

static void env_int(const char *name, long long lo, long long hi, int64_t *out) {
  const char *v = getenv(name);
  long long x;
  if (v && armor_parse_int(v, lo, hi, &x))
    *out = x;
  else if (v)
    armor_warn("%s must be an integer in [%lld, %lld]; ignored", name, lo, hi);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
void armor_notify_curl_init(void) { pthread_once(&curl_once, curl_init_once); }

int armor_notify_start(void) {
  int64_t x = max_attempts;
  env_int("ARMOR_OUTBOX_RETRY_MS", 100, MAX_BACKOFF_MS, &retry_base_ms);
  env_int("ARMOR_OUTBOX_MAX_ATTEMPTS", 1, 1000, &x);
  max_attempts = (int)x;
  static bool registered;
  if (!registered) {
    armor_metrics_register(metrics);
    registered = true;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_lock(&mu);
  stopping = false;
  running = true;
  pthread_mutex_unlock(&mu);
  if (pthread_create(&sender, NULL, sender_loop, NULL)) {
    running = false;
    armor_err("outbox: cannot start the sender thread");
    return -1;
  }
  return 0;
}

void armor_notify_stop(void) {
  pthread_mutex_lock(&mu);
  if (!running) {
    pthread_mutex_unlock(&mu);
    return;
  }
  stopping = true;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  pthread_join(sender, NULL);
  running = false;
}
