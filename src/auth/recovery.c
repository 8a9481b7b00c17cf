/*
 * Password recovery and email verification (see recovery.h for the rules).
 * Secrets live in recovery_tokens as keyed hashes; messages go through the
 * outbox in the same transaction as the token they carry. Links are built
 * from the app's public_url setting only, never from request headers.
 * Never logs a token, an OTP or a password.
 */
#include "auth/recovery.h"
#include "auth/accounts.h"
#include "auth/audit.h"
#include "auth/verification.h"
#include "core/secret.h"
#include "notify/notify.h"
#include "notify/outbox.h"
#include "settings/settings.h"
#include "store/store.h"

#include <ctype.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#define OTP_MAX_GUESSES 5
#define WINDOW 3600
#define TOKEN_LEN 64

/* ---------------------------------------------------------------- small helpers */

static bool channel_ready(bool email) {
  if (email) {
    struct armor_email_settings e;
    armor_settings_email(&e);
    bool ok = e.enabled && e.host[0] && e.from_address[0];
    sodium_memzero(&e, sizeof e);
    return ok;
  }
  struct armor_sms_settings s;
  armor_settings_sms(&s);
  bool ok = s.enabled;
  sodium_memzero(&s, sizeof s);
  return ok;
}

/* Keyed hash of "kind:a:b" (b lower-cased): rate-limit keys hold no identifier in clear. */
static void limit_key(const char *kind, const char *a, const char *b, char out[65]) {
  char buf[600];
  armor_fmt(buf, sizeof buf, "%s:%s:%s", kind, a ? a : "", b ? b : "");
  for (char *p = buf + strlen(kind); *p; p++) *p = (char)tolower((unsigned char)*p);
  armor_secret_token_hash(buf, out);
}

/* ARMOR_OK, or ARMOR_LIMITED with *retry_after when `max` events of `key` happened in the last hour. */
static int limit_check(struct armor_db *db, const char *key, int max, int *retry_after) {
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(db, "SELECT COUNT(*), MIN(at) FROM recovery_events WHERE key = $1 AND at > $2",
                                         "ti", key, now - WINDOW);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  int64_t n = rc == 1 ? armor_stmt_int(st, 0) : 0, oldest = rc == 1 ? armor_stmt_int(st, 1) : now;
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (n < max) return ARMOR_OK;
  if (retry_after) {
    int64_t ra = oldest + WINDOW - now;
    *retry_after = ra < 1 ? 1 : (int)ra;
  }
  return ARMOR_LIMITED;
}

static int limit_note(struct armor_db *db, const char *key) {
  return armor_db_exec(db, NULL, "INSERT INTO recovery_events (key, at) VALUES ($1, $2)", "ti", key, armor_time());
}

/* Once an hour per node: forget old events and long-dead secrets. */
static void maybe_cleanup(struct armor_db *db) {
  static _Atomic int64_t last;
  int64_t now = armor_time(), prev = atomic_load(&last);
  if (now - prev < 3600 || !atomic_compare_exchange_strong(&last, &prev, now)) return;
  armor_db_exec(db, NULL, "DELETE FROM recovery_events WHERE at < $1", "i", now - 2 * WINDOW);
  armor_db_exec(db, NULL, "DELETE FROM recovery_tokens WHERE expires_at < $1", "i", now - 86400);
}

static void audit(const char *event, const struct armor_recovery_caller *c, const char *subject, json_t *details) {
  armor_audit(event, c ? c->actor_id : NULL, subject, c ? c->ip : NULL, c ? c->request_id : NULL, details);
}

/*
 * Queues a mail of a title, a paragraph, an optional link and a closing line,
 * as text and HTML, branded with the app name.
 */
static int queue_mail(struct armor_db *db, const char *to, const char *subject, const char *intro, const char *link,
                      const char *outro) {
  struct armor_app_settings app;
  armor_settings_app(&app);
  char subj[300];
  armor_fmt(subj, sizeof subj, "[%s] %s", app.name, subject);
  struct armor_buf t, h;
  armor_buf_init(&t, 16384);
  armor_buf_init(&h, 32768);
  armor_buf_printf(&t, "%s\n\n%s\n\n", app.name, intro);
  if (link) armor_buf_printf(&t, "%s\n\n", link);
  armor_buf_printf(&t, "%s\n", outro);
  armor_buf_printf(&h, "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><h2>");
  armor_buf_append_html(&h, app.name);
  armor_buf_printf(&h, "</h2><p>");
  armor_buf_append_html(&h, intro);
  armor_buf_printf(&h, "</p>");
  if (link) {
    armor_buf_printf(&h, "<p><a href=\"");
    armor_buf_append_html(&h, link);
    armor_buf_printf(&h, "\">");
    armor_buf_append_html(&h, link);
    armor_buf_printf(&h, "</a></p>");
  }
  armor_buf_printf(&h, "<p>");
  armor_buf_append_html(&h, outro);
  armor_buf_printf(&h, "</p></body></html>\n");
  int rc = armor_outbox_add_email(db, to, subj, t.data, h.data);
  sodium_memzero(t.data, t.len);
  sodium_memzero(h.data, h.len);
  armor_buf_free(&t);
  armor_buf_free(&h);
  return rc;
}

/* {public_url}{path}?token={token}: from the setting only, never from the request's Host. */
static void make_link(const char *path, const char *token, char *out, size_t outlen) {
  struct armor_app_settings app;
  armor_settings_app(&app);
  size_t n = strlen(app.public_url);
  while (n && app.public_url[n - 1] == '/') n--;
  armor_fmt(out, outlen, "%.*s%s?token=%s", (int)n, app.public_url, path, token);
}

/*
 * Stores a new secret for user/purpose, voiding the user's older ones of that
 * purpose. The stored hash of an OTP covers the user id, so equal codes of two
 * users differ. ARMOR_OK / ARMOR_DB.
 */
static int store_secret(struct armor_db *db, const char *user_id, const char *purpose, const char *secret,
                        const char *destination, int ttl) {
  int64_t now = armor_time();
  char hash[65], salted[160];
  if (!strcmp(purpose, "otp")) {
    armor_fmt(salted, sizeof salted, "%s:%s", user_id, secret);
    armor_secret_token_hash(salted, hash);
    sodium_memzero(salted, sizeof salted);
  } else {
    armor_secret_token_hash(secret, hash);
  }
  int rc = armor_db_exec(
      db, NULL, "UPDATE recovery_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
      "itt", now, user_id, purpose);
  if (rc) return ARMOR_DB;
  char id[37];
  armor_uuid_new(id);
  rc = armor_db_exec(
      db, NULL,
      "INSERT INTO recovery_tokens (id, user_id, purpose, token_hash, destination, attempts, expires_at, created_at) "
      "VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
      "tttttii", id, user_id, purpose, hash, destination, now + ttl, now);
  return rc ? ARMOR_DB : ARMOR_OK;
}

/*
 * Consumes a token of `purpose`: single use, unexpired. On ARMOR_OK user_id
 * (37 bytes) and, when non-NULL, dest (255 bytes) are filled. ARMOR_UNAUTHORIZED / ARMOR_DB.
 */
static int consume(struct armor_db *db, const char *token, const char *purpose, char *user_id, char *dest) {
  if (!token || strlen(token) < 20 || strlen(token) > 128) return ARMOR_UNAUTHORIZED;
  char hash[65];
  armor_secret_token_hash(token, hash);
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(
      db,
      "UPDATE recovery_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL "
      "AND expires_at > $1 RETURNING user_id, destination",
      "itt", now, hash, purpose);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  if (rc == 1) {
    armor_fmt(user_id, 37, "%s", armor_stmt_text(st, 0));
    if (dest) armor_fmt(dest, 255, "%s", armor_stmt_text(st, 1) ? armor_stmt_text(st, 1) : "");
  }
  armor_stmt_done(st);
  return rc == 1 ? ARMOR_OK : rc == 0 ? ARMOR_UNAUTHORIZED : ARMOR_DB;
}

/* Voids every outstanding recovery secret of the user (after a reset). */
static int void_all(struct armor_db *db, const char *user_id) {
  return armor_db_exec(db, NULL,
                       "UPDATE recovery_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL "
                       "AND purpose IN ('recovery', 'otp', 'grant')",
                       "it", armor_time(), user_id);
}

static void new_otp(char out[7]) {
  uint32_t n = randombytes_uniform(1000000);
  armor_fmt(out, 7, "%06u", (unsigned)n);
}

/* ---------------------------------------------------------------- starting recovery */

/* Queues the recovery message of `channel` for u in the open transaction. */
static int send_secret(struct armor_db *db, bool email, const struct armor_user *u, const char *secret,
                       const struct armor_security_settings *sec) {
  if (email) {
    char link[1024];
    make_link("/ui/reset-password", secret, link, sizeof link);
    char intro[256], outro[256];
    armor_fmt(
        intro, sizeof intro,
        "Someone asked to reset the password of the account %s. To choose a new password, open this link within %d "
        "minutes:",
        u->username, sec->recovery_token_ttl_seconds / 60 ? sec->recovery_token_ttl_seconds / 60 : 1);
    armor_fmt(outro, sizeof outro, "If you did not ask for this, ignore this message: your password stays as it is.");
    int rc = queue_mail(db, u->email, "Reset your password", intro, link, outro);
    sodium_memzero(link, sizeof link);
    return rc;
  }
  struct armor_app_settings app;
  armor_settings_app(&app);
  char text[320];
  int mins = sec->recovery_otp_ttl_seconds / 60 ? sec->recovery_otp_ttl_seconds / 60 : 1;
  armor_fmt(text, sizeof text, "%s: your password recovery code is %s. It expires in %d minute%s. Never share it.",
            app.name, secret, mins, mins == 1 ? "" : "s");
  int rc = armor_outbox_add_sms(db, u->phone, text);
  sodium_memzero(text, sizeof text);
  return rc;
}

int armor_recovery_start(const char *channel, const char *field, const char *value,
                         const struct armor_recovery_caller *c, int *retry_after) {
  bool email = !strcmp(channel, "email");
  if (!channel_ready(email)) return ARMOR_BUSY;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  maybe_cleanup(db);
  struct armor_security_settings sec;
  armor_settings_security(&sec);

  /* Limits that do not depend on the account: the client and the identifier it typed. */
  char kip[65], kid[65], kacct[65], kdest[65];
  limit_key("ip", c->ip, NULL, kip);
  limit_key("id", field, value, kid);
  int rc = limit_check(db, kip, sec.recovery_ip_limit_per_hour, retry_after);
  if (!rc) rc = limit_check(db, kid, sec.recovery_limit_per_hour, retry_after);
  if (rc) {
    if (rc == ARMOR_LIMITED)
      audit("recovery.limited", c, NULL, json_pack("{s:s, s:s}", "channel", channel, "by", field));
    return rc;
  }

  struct armor_user u;
  int fr = armor_user_find(field, value, &u);
  if (fr == ARMOR_DB) return ARMOR_DB;
  bool found = fr == ARMOR_OK && !u.disabled && (email ? u.email[0] : u.phone[0]);
  /*
   * Per account and per destination: when exceeded, nothing is sent but the
   * answer stays the same. Unknown identifiers do the same reads on keys of
   * their own so that both paths cost alike.
   */
  limit_key("user", found ? u.id : value, channel, kacct);
  limit_key("dest", found ? (email ? u.email : u.phone) : field, found ? "" : value, kdest);
  bool suppressed = limit_check(db, kacct, sec.recovery_limit_per_hour, NULL) != ARMOR_OK ||
                    limit_check(db, kdest, sec.recovery_limit_per_hour, NULL) != ARMOR_OK;

  char secret[TOKEN_LEN];
  if (email)
    armor_random_b64url(32, secret, sizeof secret);
  else
    new_otp(secret);
  rc = armor_db_begin(db);
  if (!rc) rc = limit_note(db, kip);
  if (!rc) rc = limit_note(db, kid);
  if (!rc) rc = limit_note(db, kacct);
  if (!rc) rc = limit_note(db, kdest);
  if (found && !suppressed) {
    if (!rc)
      rc = store_secret(db, u.id, email ? "recovery" : "otp", secret, NULL,
                        email ? sec.recovery_token_ttl_seconds : sec.recovery_otp_ttl_seconds);
    if (!rc) rc = send_secret(db, email, &u, secret, &sec);
  } else if (!rc) {
    /* The same write, on a row that can never be redeemed. */
    char nobody[37];
    armor_uuid_new(nobody);
    rc = store_secret(db, nobody, email ? "recovery" : "otp", secret, NULL, 0);
  }
  if (!rc)
    rc = armor_db_commit(db);
  else
    armor_db_rollback(db);
  sodium_memzero(secret, sizeof secret);
  if (rc) return ARMOR_DB;
  armor_outbox_kick();
  audit("recovery.requested", c, found ? u.id : NULL,
        json_pack("{s:s, s:s, s:b, s:b}", "channel", channel, "by", field, "account_found", found, "sent",
                  found && !suppressed));
  return ARMOR_OK;
}

/* ---------------------------------------------------------------- SMS completion */

int armor_recovery_sms_complete(const char *field, const char *value, const char *otp,
                                const struct armor_recovery_caller *c, char *token, size_t tokenlen, int *retry_after) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_security_settings sec;
  armor_settings_security(&sec);
  char kip[65], kid[65];
  limit_key("otp-ip", c->ip, NULL, kip);
  limit_key("otp-id", field, value, kid);
  int rc = limit_check(db, kip, sec.recovery_ip_limit_per_hour * OTP_MAX_GUESSES, retry_after);
  if (!rc) rc = limit_check(db, kid, sec.recovery_limit_per_hour * OTP_MAX_GUESSES, retry_after);
  if (!rc) rc = limit_note(db, kip);
  if (!rc) rc = limit_note(db, kid);
  if (rc) return rc;

  struct armor_user u;
  int fr = armor_user_find(field, value, &u);
  if (fr == ARMOR_DB) return ARMOR_DB;
  bool found = fr == ARMOR_OK && !u.disabled;
  char nobody[37];
  armor_uuid_new(nobody);
  const char *uid = found ? u.id : nobody;

  /* The newest live code of the user; a guess is reserved before it is compared, so at most 5 are ever compared. */
  struct armor_stmt *st =
      armor_db_query(db,
                     "SELECT id, token_hash FROM recovery_tokens WHERE user_id = $1 AND purpose = 'otp' "
                     "AND used_at IS NULL AND expires_at > $2 AND attempts < $3 ORDER BY created_at DESC LIMIT 1",
                     "tii", uid, armor_time(), (int64_t)OTP_MAX_GUESSES);
  if (!st) return ARMOR_DB;
  char id[37] = "", stored[65] = "";
  rc = armor_stmt_step(st);
  if (rc == 1) {
    armor_fmt(id, sizeof id, "%s", armor_stmt_text(st, 0));
    armor_fmt(stored, sizeof stored, "%s", armor_stmt_text(st, 1));
  }
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  int64_t reserved = 0;
  rc = armor_db_exec(
      db, &reserved,
      "UPDATE recovery_tokens SET attempts = attempts + 1 WHERE id = $1 AND used_at IS NULL AND attempts < $2", "ti",
      id, (int64_t)OTP_MAX_GUESSES);
  if (rc) return ARMOR_DB;
  char salted[160], hash[65];
  armor_fmt(salted, sizeof salted, "%s:%s", uid, otp);
  armor_secret_token_hash(salted, hash);
  sodium_memzero(salted, sizeof salted);
  bool match = reserved == 1 && armor_str_eq_ct(hash, stored);
  if (!match) {
    if (found) audit("recovery.otp_failed", c, u.id, NULL);
    return ARMOR_UNAUTHORIZED;
  }
  rc = armor_db_begin(db);
  int64_t used = 0;
  if (!rc)
    rc = armor_db_exec(db, &used, "UPDATE recovery_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL", "it",
                       armor_time(), id);
  if (!rc && used != 1) rc = ARMOR_UNAUTHORIZED;
  if (!rc) {
    armor_random_b64url(32, token, tokenlen);
    rc = store_secret(db, u.id, "recovery", token, NULL, sec.recovery_token_ttl_seconds);
  }
  if (!rc) rc = armor_db_commit(db);
  if (rc) {
    armor_db_rollback(db);
    sodium_memzero(token, tokenlen);
    return rc == ARMOR_UNAUTHORIZED ? rc : ARMOR_DB;
  }
  audit("recovery.otp_verified", c, u.id, NULL);
  return ARMOR_OK;
}

/* ---------------------------------------------------------------- context */

/* Stable pseudo-random bytes for an identifier that names no account. */
static void fake_bytes(const char *field, const char *value, unsigned char out[32]) {
  char hex[65];
  limit_key("context", field, value, hex);
  sodium_hex2bin(out, 32, hex, 64, NULL, NULL, NULL);
}

json_t *armor_recovery_context(const char *field, const char *value, const struct armor_recovery_caller *c, int *rc,
                               int *retry_after) {
  *rc = ARMOR_OK;
  struct armor_db *db = armor_db_get();
  if (!db) {
    *rc = ARMOR_DB;
    return NULL;
  }
  struct armor_security_settings sec;
  armor_settings_security(&sec);
  char kip[65];
  limit_key("context-ip", c->ip, NULL, kip);
  *rc = limit_check(db, kip, sec.recovery_ip_limit_per_hour * 10, retry_after);
  if (!*rc) *rc = limit_note(db, kip);
  if (*rc) return NULL;

  struct armor_user u;
  int fr = armor_user_find(field, value, &u);
  if (fr == ARMOR_DB) {
    *rc = ARMOR_DB;
    return NULL;
  }
  char email_hint[96] = "", phone_hint[64] = "";
  if (fr == ARMOR_OK) {
    if (u.email[0]) armor_mask_email(u.email, email_hint, sizeof email_hint);
    if (u.phone[0]) armor_mask_phone(u.phone, phone_hint, sizeof phone_hint);
  } else {
    /*
     * No such account: hints derived from a keyed hash of the identifier, so
     * they are the same on every ask. An identifier that is itself an email or
     * phone is masked as a real one would be.
     */
    unsigned char h[32];
    fake_bytes(field, value, h);
    static const char *const tlds[] = {".com", ".net", ".org", ".io"};
    if (!strcmp(field, "email"))
      armor_mask_email(value, email_hint, sizeof email_hint);
    else if (h[0] % 8)
      armor_fmt(email_hint, sizeof email_hint, "%c***@%c***%s", 'a' + h[1] % 26, 'a' + h[2] % 26, tlds[h[3] % 4]);
    if (!strcmp(field, "phone"))
      armor_mask_phone(value, phone_hint, sizeof phone_hint);
    else if (h[4] % 2)
      armor_fmt(phone_hint, sizeof phone_hint, "+1*******%02u", (unsigned)(h[5] % 100));
  }
  json_t *channels = json_array();
  if (email_hint[0] && channel_ready(true)) json_array_append_new(channels, json_string("email"));
  if (phone_hint[0] && channel_ready(false)) json_array_append_new(channels, json_string("sms"));
  json_t *d = json_object();
  json_object_set_new(d, "preferred_channel",
                      json_array_size(channels) ? json_incref(json_array_get(channels, 0)) : json_null());
  json_object_set_new(d, "channels", channels);
  json_object_set_new(d, "email_hint", email_hint[0] ? json_string(email_hint) : json_null());
  json_object_set_new(d, "phone_hint", phone_hint[0] ? json_string(phone_hint) : json_null());
  return d;
}

/* ---------------------------------------------------------------- validate, cancel */

int armor_recovery_validate(const char *recovery_token, const struct armor_recovery_caller *c, char *grant,
                            size_t grantlen, int *expires_in) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_security_settings sec;
  armor_settings_security(&sec);
  char uid[37];
  int rc = armor_db_begin(db);
  if (!rc) rc = consume(db, recovery_token, "recovery", uid, NULL);
  if (!rc) {
    armor_random_b64url(32, grant, grantlen);
    rc = store_secret(db, uid, "grant", grant, NULL, sec.reset_grant_ttl_seconds);
  }
  if (!rc) rc = armor_db_commit(db);
  if (rc) {
    armor_db_rollback(db);
    sodium_memzero(grant, grantlen);
    return rc;
  }
  *expires_in = sec.reset_grant_ttl_seconds;
  audit("recovery.validated", c, uid, NULL);
  return ARMOR_OK;
}

int armor_recovery_cancel(const char *recovery_token, const struct armor_recovery_caller *c) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  char uid[37];
  int rc = consume(db, recovery_token, "recovery", uid, NULL);
  if (rc == ARMOR_UNAUTHORIZED) return ARMOR_NOT_FOUND;
  if (rc) return rc;
  audit("recovery.cancelled", c, uid, NULL);
  return ARMOR_OK;
}

/* ---------------------------------------------------------------- admin / self initiation */

int armor_recovery_initiate_for(const char *user_id, const struct armor_recovery_caller *c, int *retry_after) {
  struct armor_user u;
  int rc = armor_user_get(user_id, &u);
  if (rc) return rc;
  if (!u.email[0]) return ARMOR_INVALID;
  if (!channel_ready(true)) return ARMOR_BUSY;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_security_settings sec;
  armor_settings_security(&sec);
  char kacct[65], kdest[65];
  limit_key("user", u.id, "email", kacct);
  limit_key("dest", u.email, "", kdest);
  rc = limit_check(db, kacct, sec.recovery_limit_per_hour, retry_after);
  if (!rc) rc = limit_check(db, kdest, sec.recovery_limit_per_hour, retry_after);
  if (rc) return rc;
  char secret[TOKEN_LEN];
  armor_random_b64url(32, secret, sizeof secret);
  rc = armor_db_begin(db);
  if (!rc) rc = limit_note(db, kacct);
  if (!rc) rc = limit_note(db, kdest);
  if (!rc) rc = store_secret(db, u.id, "recovery", secret, NULL, sec.recovery_token_ttl_seconds);
  if (!rc) rc = send_secret(db, true, &u, secret, &sec);
  if (!rc)
    rc = armor_db_commit(db);
  else
    armor_db_rollback(db);
  sodium_memzero(secret, sizeof secret);
  if (rc) return ARMOR_DB;
  armor_outbox_kick();
  audit("password.reset_initiated", c, u.id, json_pack("{s:s}", "channel", "email"));
  return ARMOR_OK;
}

/* ---------------------------------------------------------------- reset */

int armor_recovery_reset(const char *grant, const char *new_password, const struct armor_recovery_caller *c, char *msg,
                         size_t msglen) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  char uid[37];
  int rc = consume(db, grant, "grant", uid, NULL);
  if (rc) return rc;
  rc = armor_accounts_set_password(uid, new_password, msg, msglen);
  if (rc) {
    /* Refused by policy (or a storage failure): the grant stays usable for another try. */
    char hash[65];
    armor_secret_token_hash(grant, hash);
    armor_db_exec(db, NULL, "UPDATE recovery_tokens SET used_at = NULL WHERE token_hash = $1 AND purpose = 'grant'",
                  "t", hash);
    return rc == ARMOR_INVALID ? ARMOR_INVALID : rc == ARMOR_NOT_FOUND ? ARMOR_UNAUTHORIZED : ARMOR_DB;
  }
  armor_sessions_revoke_user(uid, NULL);
  struct armor_user u;
  bool have = armor_user_get(uid, &u) == ARMOR_OK;
  rc = armor_db_begin(db);
  if (!rc) rc = void_all(db, uid);
  if (!rc && have && u.email[0] && channel_ready(true))
    rc = queue_mail(db, u.email, "Your password was changed",
                    "The password of your account was just reset, and every session of the account was signed out.",
                    NULL, "If you did not do this, contact your administrator at once.");
  if (!rc)
    rc = armor_db_commit(db);
  else
    armor_db_rollback(db);
  if (rc) armor_err("recovery: password of %s reset, but the follow-up (voiding secrets, notice) failed", uid);
  armor_outbox_kick();
  audit("password.reset", c, uid, json_pack("{s:b}", "sessions_revoked", true));
  return ARMOR_OK;
}

/* ---------------------------------------------------------------- email verification */

int armor_verification_send(struct armor_db *db, const char *user_id, const char *email) {
  if (!email || !*email || !channel_ready(true)) return ARMOR_OK;
  struct armor_security_settings sec;
  armor_settings_security(&sec);
  char secret[TOKEN_LEN], link[1024];
  armor_random_b64url(32, secret, sizeof secret);
  int rc = store_secret(db, user_id, "verify", secret, email, sec.verification_ttl_seconds);
  if (!rc) {
    make_link("/ui/verify-email", secret, link, sizeof link);
    char intro[200];
    int hours = sec.verification_ttl_seconds / 3600;
    if (hours > 0)
      armor_fmt(intro, sizeof intro, "Please confirm your email address by opening this link within %d hour%s:", hours,
                hours == 1 ? "" : "s");
    else
      armor_fmt(intro, sizeof intro, "Please confirm your email address by opening this link within %d minutes:",
                sec.verification_ttl_seconds / 60 + 1);
    rc = queue_mail(db, email, "Confirm your email address", intro, link,
                    "If you did not create an account, ignore this message.");
    sodium_memzero(link, sizeof link);
  }
  sodium_memzero(secret, sizeof secret);
  if (!rc) armor_audit("email.verification_sent", NULL, user_id, NULL, NULL, NULL);
  return rc ? ARMOR_DB : ARMOR_OK;
}

int armor_verification_confirm(const char *token, const struct armor_recovery_caller *c, char *user_id) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  char dest[255];
  int rc = consume(db, token, "verify", user_id, dest);
  if (rc) return rc;
  struct armor_user u;
  rc = armor_user_get(user_id, &u);
  if (rc == ARMOR_NOT_FOUND) return ARMOR_UNAUTHORIZED;
  if (rc) return rc;
  /* A link sent to an address the account no longer has proves nothing. */
  if (!u.email[0] || !armor_streq_ci(u.email, dest)) return ARMOR_UNAUTHORIZED;
  rc = armor_accounts_set_email_verified(user_id, true);
  if (rc) return rc == ARMOR_NOT_FOUND ? ARMOR_UNAUTHORIZED : ARMOR_DB;
  audit("email.verified", c, user_id, NULL);
  return ARMOR_OK;
}

int armor_verification_resend(const char *user_id, const struct armor_recovery_caller *c, int *retry_after) {
  struct armor_user u;
  int rc = armor_user_get(user_id, &u);
  if (rc) return rc;
  if (!u.email[0]) return ARMOR_INVALID;
  if (u.email_verified) return ARMOR_CONFLICT;
  if (!channel_ready(true)) return ARMOR_BUSY;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_security_settings sec;
  armor_settings_security(&sec);
  char key[65];
  limit_key("verify", u.id, NULL, key);
  rc = limit_check(db, key, sec.recovery_limit_per_hour, retry_after);
  if (rc) return rc;
  rc = armor_db_begin(db);
  if (!rc) rc = limit_note(db, key);
  if (!rc) rc = armor_verification_send(db, u.id, u.email);
  if (!rc)
    rc = armor_db_commit(db);
  else
    armor_db_rollback(db);
  if (rc) return ARMOR_DB;
  armor_outbox_kick();
  audit("email.verification_resent", c, u.id, NULL);
  return ARMOR_OK;
}
