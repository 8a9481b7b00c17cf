/*
 * Sessions: creation at login, access tokens (JWT through auth/tokens.h, or
 * opaque), refresh-token rotation with reuse detection, revocation, listing,
 * and the bearer check behind every protected route.
 *
 * A protected request writes nothing to the database: the use of a session is
 * recorded in an in-memory table and a background thread writes the batched
 * last-use times (and the moved expiry) every few seconds and at stop. Readers
 * on this node overlay the pending uses, so nothing waits for the flush.
 * The JWT path reads nothing from the database either; revocation reaches it
 * through the tokens module's in-memory revocation view (within 2 s).
 */
#include "auth/accounts.h"
#include "auth/audit.h"
#include "auth/password.h"
#include "auth/tokens.h"
#include "core/secret.h"
#include "oauth/oauth.h"
#include "settings/settings.h"
#include "store/store.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define FLUSH_INTERVAL_MS 5000

/* ================================================================ pending session uses */

#define TOUCH_STRIPES 32
#define TOUCH_BUCKETS 64

struct touch {
  char sid[37];
  int64_t at;
  struct touch *next;
};

struct stripe {
  pthread_mutex_t lock;
  struct touch *buckets[TOUCH_BUCKETS];
};

static struct stripe stripes[TOUCH_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void) {
  for (int i = 0; i < TOUCH_STRIPES; i++) pthread_mutex_init(&stripes[i].lock, NULL);
}

static uint32_t sid_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static void touch(const char *sid, int64_t at) {
  if (!sid || !*sid) return;
  pthread_once(&stripes_once, stripes_init);
  uint32_t h = sid_hash(sid);
  struct stripe *s = &stripes[h % TOUCH_STRIPES];
  pthread_mutex_lock(&s->lock);
  struct touch **b = &s->buckets[(h / TOUCH_STRIPES) % TOUCH_BUCKETS];
  struct touch *t = *b;
  while (t && strcmp(t->sid, sid)) t = t->next;
  if (!t) {
    t = armor_malloc(sizeof *t);
    armor_fmt(t->sid, sizeof t->sid, "%s", sid);
    t->at = at;
    t->next = *b;
    *b = t;
  } else if (at > t->at) {
    t->at = at;
  }
  pthread_mutex_unlock(&s->lock);
}

/* Last pending use of sid on this node, 0 when none. remove: forget it as well. */
static int64_t pending_use(const char *sid, bool remove) {
  pthread_once(&stripes_once, stripes_init);
  uint32_t h = sid_hash(sid);
  struct stripe *s = &stripes[h % TOUCH_STRIPES];
  int64_t at = 0;
  pthread_mutex_lock(&s->lock);
  struct touch **pp = &s->buckets[(h / TOUCH_STRIPES) % TOUCH_BUCKETS];
  while (*pp && strcmp((*pp)->sid, sid)) pp = &(*pp)->next;
  if (*pp) {
    at = (*pp)->at;
    if (remove) {
      struct touch *t = *pp;
      *pp = t->next;
      armor_free(t);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return at;
}

/* The expiry a session has once the pending use on this node is counted. */
static int64_t effective_expiry(const char *sid, int64_t expires_at, int64_t max_expires_at, int idle) {
  int64_t at = pending_use(sid, false);
  if (!at || at > expires_at) return expires_at;
  int64_t e = at + idle;
  if (e > max_expires_at) e = max_expires_at;
  return e > expires_at ? e : expires_at;
}

static int64_t effective_last_use(const char *sid, int64_t last) {
  int64_t at = pending_use(sid, false);
  return at > last ? at : last;
}

void armor_sessions_flush(void) {
  pthread_once(&stripes_once, stripes_init);
  struct touch *all = NULL;
  for (int i = 0; i < TOUCH_STRIPES; i++) {
    pthread_mutex_lock(&stripes[i].lock);
    for (int b = 0; b < TOUCH_BUCKETS; b++) {
      struct touch *t = stripes[i].buckets[b];
      while (t) {
        struct touch *n = t->next;
        t->next = all;
        all = t;
        t = n;
      }
      stripes[i].buckets[b] = NULL;
    }
    pthread_mutex_unlock(&stripes[i].lock);
  }
  if (!all) return;
  struct armor_security_settings s;
  armor_settings_security(&s);
  struct armor_db *db = armor_db_get();
  int n = 0;
  while (all) {
    struct touch *t = all;
    all = t->next;
    /* A use extends a session that was alive at that moment: expiry = min(use + idle, absolute maximum). */
    if (db && armor_db_exec(
                  db, NULL,
                  "UPDATE sessions SET last_used_at = $2, expires_at = CASE WHEN max_expires_at < CAST($3 AS BIGINT) "
                  "THEN max_expires_at ELSE CAST($3 AS BIGINT) END "
                  "WHERE id = $1 AND revoked_at IS NULL AND last_used_at < $2 AND expires_at >= $2",
                  "tii", t->sid, t->at, t->at + s.session_idle_seconds) == ARMOR_OK)
      n++;
    armor_free(t);
  }
  armor_debug("sessions: flushed %d session uses", n);
}

/* ---- the flusher thread ---- */

static pthread_t flusher;
static bool flusher_running, flusher_stop;
static pthread_mutex_t flusher_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flusher_cond = PTHREAD_COND_INITIALIZER;

static void *flusher_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&flusher_lock);
  while (!flusher_stop) {
    struct timespec ts = armor_deadline_ms(FLUSH_INTERVAL_MS);
    pthread_cond_timedwait(&flusher_cond, &flusher_lock, &ts);
    pthread_mutex_unlock(&flusher_lock);
    armor_sessions_flush();
    pthread_mutex_lock(&flusher_lock);
  }
  pthread_mutex_unlock(&flusher_lock);
  armor_store_close();
  return NULL;
}

int armor_accounts_init(void) {
  if (armor_password_init()) return -1;
  flusher_stop = false;
  if (pthread_create(&flusher, NULL, flusher_main, NULL)) return -1;
  flusher_running = true;
  return 0;
}

void armor_accounts_shutdown(void) {
  if (!flusher_running) return;
  pthread_mutex_lock(&flusher_lock);
  flusher_stop = true;
  pthread_cond_signal(&flusher_cond);
  pthread_mutex_unlock(&flusher_lock);
  pthread_join(flusher, NULL);
  flusher_running = false;
}

/* ================================================================ access tokens */

struct session_row {
  char id[37], user_id[37];
  enum armor_token_format fmt;
  int64_t expires_at, max_expires_at, last_used_at, created_at, revoked_at;
};

static json_t *string_array_copy(json_t *a) { return json_deep_copy(a); }

/*
 * Makes a new access token for the session into data: token, token_type,
 * expires_in (and stores the opaque token's hash). perms/roles borrowed.
 */
static int issue_access(struct armor_db *db, const struct session_row *s, const struct armor_user *u, json_t *perms,
                        json_t *roles, json_t *data) {
  struct armor_security_settings set;
  armor_settings_security(&set);
  int64_t now = armor_time();
  if (s->fmt == ARMOR_TOKEN_OPAQUE) {
    char tok[64], h[65];
    memcpy(tok, ARMOR_OPAQUE_PREFIX, 3);
    armor_random_b64url(32, tok + 3, sizeof tok - 3);
    armor_secret_token_hash(tok, h);
    int rc = armor_db_exec(db, NULL, "UPDATE sessions SET access_hash = $2 WHERE id = $1", "tt", s->id, h);
    if (rc) {
      sodium_memzero(tok, sizeof tok);
      return ARMOR_DB;
    }
    json_object_set_new(data, "token", json_string(tok));
    sodium_memzero(tok, sizeof tok);
    int64_t exp = effective_expiry(s->id, s->expires_at, s->max_expires_at, set.session_idle_seconds);
    json_object_set_new(data, "expires_in", json_integer(exp > now ? exp - now : 0));
  } else {
    int64_t exp = now + set.access_token_ttl_seconds;
    if (exp > s->max_expires_at) exp = s->max_expires_at;
    json_t *c = json_object();
    json_object_set_new(c, "sub", json_string(u->id));
    json_object_set_new(c, "sid", json_string(s->id));
    json_object_set_new(c, "aud", json_string(ARMOR_API_AUDIENCE));
    json_object_set_new(c, "preferred_username", json_string(u->username));
    json_object_set_new(c, "perms", string_array_copy(perms));
    json_object_set_new(c, "roles", string_array_copy(roles));
    json_object_set_new(c, "exp", json_integer(exp));
    /* iat from the same clock reading as exp: signing may happen in a later second. */
    json_object_set_new(c, "iat", json_integer(now));
    char *jwt = armor_jwt_sign(c, "JWT", NULL);
    json_decref(c);
    if (!jwt) {
      armor_err("sessions: cannot sign an access token");
      return ARMOR_INTERNAL;
    }
    json_object_set_new(data, "token", json_string(jwt));
    armor_free(jwt);
    json_object_set_new(data, "expires_in", json_integer(exp - now));
  }
  json_object_set_new(data, "token_type", json_string("Bearer"));
  return ARMOR_OK;
}

/* The answer data shared by login, register, reissue: user, permissions, session id and the tokens. */
static int answer(struct armor_db *db, const struct session_row *s, const char *refresh, json_t **out) {
  struct armor_user u;
  int rc = armor_user_get(s->user_id, &u);
  if (rc) return rc == ARMOR_NOT_FOUND ? ARMOR_UNAUTHORIZED : rc;
  json_t *perms = armor_accounts_permissions(u.id);
  json_t *roles = armor_accounts_roles(u.id);
  json_t *d = json_object();
  rc = issue_access(db, s, &u, perms, roles, d);
  if (rc) {
    json_decref(d);
    json_decref(perms);
    json_decref(roles);
    return rc;
  }
  if (refresh) json_object_set_new(d, "refresh_token", json_string(refresh));
  json_object_set_new(d, "token_format", json_string(s->fmt == ARMOR_TOKEN_OPAQUE ? "opaque" : "jwt"));
  json_object_set_new(d, "session_id", json_string(s->id));
  json_object_set_new(d, "user", armor_user_to_json(&u));
  json_object_set_new(d, "roles", roles);
  json_object_set_new(d, "permissions", perms);
  *out = d;
  return ARMOR_OK;
}

static void new_refresh(char out[64], char hash[65]) {
  memcpy(out, ARMOR_REFRESH_PREFIX, 3);
  armor_random_b64url(32, out + 3, 64 - 3);
  armor_secret_token_hash(out, hash);
}

int armor_sessions_create_ex(const char *user_id, const char *ip, const char *user_agent, enum armor_token_format fmt,
                             json_t **login_data) {
  *login_data = NULL;
  struct armor_security_settings set;
  armor_settings_security(&set);
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct session_row s;
  memset(&s, 0, sizeof s);
  armor_uuid_new(s.id);
  armor_fmt(s.user_id, sizeof s.user_id, "%s", user_id);
  s.fmt = fmt;
  int64_t now = armor_time();
  s.created_at = s.last_used_at = now;
  s.max_expires_at = now + set.session_max_seconds;
  s.expires_at = now + set.session_idle_initial_seconds;
  if (s.expires_at > s.max_expires_at) s.expires_at = s.max_expires_at;
  char refresh[64], rhash[65];
  new_refresh(refresh, rhash);
  char ua[256];
  armor_fmt(ua, sizeof ua, "%s", user_agent ? user_agent : "");
  int rc = armor_db_begin(db);
  if (!rc)
    rc = armor_db_exec(
        db, NULL,
        "INSERT INTO sessions (id, user_id, token_format, ip, user_agent, created_at, last_used_at, expires_at, "
        "max_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
        "tttttiii", s.id, s.user_id, fmt == ARMOR_TOKEN_OPAQUE ? "opaque" : "jwt", ip && *ip ? ip : NULL,
        ua[0] ? ua : NULL, now, s.expires_at, s.max_expires_at);
  if (!rc)
    rc = armor_db_exec(db, NULL, "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)", "tti",
                       rhash, s.id, now);
  if (!rc) rc = armor_db_commit(db);
  if (rc) {
    armor_db_rollback(db);
    sodium_memzero(refresh, sizeof refresh);
    return rc == ARMOR_CONFLICT ? ARMOR_INTERNAL : rc;
  }
  rc = answer(db, &s, refresh, login_data);
  sodium_memzero(refresh, sizeof refresh);
  return rc;
}

int armor_sessions_create(const char *user_id, const char *ip, const char *user_agent, json_t **login_data) {
  return armor_sessions_create_ex(user_id, ip, user_agent, ARMOR_TOKEN_JWT, login_data);
}

#define SESSION_COLS                                                                                                   \
  "s.id, s.user_id, s.token_format, s.expires_at, s.max_expires_at, s.last_used_at, s.created_at, s.revoked_at"

static void session_from_row(struct armor_stmt *st, int c, struct session_row *s) {
  memset(s, 0, sizeof *s);
  armor_fmt(s->id, sizeof s->id, "%s", armor_stmt_text(st, c));
  armor_fmt(s->user_id, sizeof s->user_id, "%s", armor_stmt_text(st, c + 1));
  const char *f = armor_stmt_text(st, c + 2);
  s->fmt = f && !strcmp(f, "opaque") ? ARMOR_TOKEN_OPAQUE : ARMOR_TOKEN_JWT;
  s->expires_at = armor_stmt_int(st, c + 3);
  s->max_expires_at = armor_stmt_int(st, c + 4);
  s->last_used_at = armor_stmt_int(st, c + 5);
  s->created_at = armor_stmt_int(st, c + 6);
  s->revoked_at = armor_stmt_is_null(st, c + 7) ? 0 : armor_stmt_int(st, c + 7);
}

/* ================================================================ revocation */

static int64_t token_horizon(void) {
  struct armor_security_settings set;
  armor_settings_security(&set);
  return armor_time() + set.access_token_ttl_seconds;
}

int armor_sessions_revoke(const char *sid, const char *owner_id, const char *reason) {
  if (!sid || !armor_uuid_valid(sid)) return ARMOR_NOT_FOUND;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(
      db,
      "UPDATE sessions SET revoked_at = $2, revoke_reason = $3, access_hash = NULL "
      "WHERE id = $1 AND revoked_at IS NULL AND (CAST($4 AS TEXT) IS NULL OR user_id = $4) RETURNING user_id",
      "titt", sid, now, reason, owner_id);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  char uid[37] = "";
  if (rc == 1) armor_fmt(uid, sizeof uid, "%s", armor_stmt_text(st, 0));
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (rc == 0) return ARMOR_NOT_FOUND;
  pending_use(sid, true);
  armor_revoke_session(sid, token_horizon());
  json_t *d = json_object();
  json_object_set_new(d, "session_id", json_string(sid));
  json_object_set_new(d, "reason", json_string(reason ? reason : "revoked"));
  armor_audit("session.revoked", NULL, uid, NULL, NULL, d);
  return ARMOR_OK;
}

int armor_sessions_revoke_user(const char *user_id, const char *except_sid) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_security_settings set;
  armor_settings_security(&set);
  int64_t now = armor_time();
  const char *keep = except_sid ? except_sid : "";
  /* Sessions whose last JWT may still be alive: expired for less than one access-token lifetime. */
  struct armor_stmt *st =
      armor_db_query(db,
                     "UPDATE sessions SET revoked_at = $2, revoke_reason = 'user', access_hash = NULL "
                     "WHERE user_id = $1 AND revoked_at IS NULL AND id <> $3 AND expires_at > $4 RETURNING id",
                     "titi", user_id, now, keep, now - set.access_token_ttl_seconds);
  if (!st) return ARMOR_DB;
  int rc, n = 0;
  char ids[64][37];
  int extra = 0;
  while ((rc = armor_stmt_step(st)) == 1) {
    if (n < 64)
      armor_fmt(ids[n++], 37, "%s", armor_stmt_text(st, 0));
    else
      extra++;
  }
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  for (int i = 0; i < n; i++) {
    pending_use(ids[i], true);
    armor_revoke_session(ids[i], now + set.access_token_ttl_seconds);
  }
  if (extra) {
    /* More than fit the buffer: publish the rest from a second read. */
    st = armor_db_query(db, "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at = $2 AND id <> $3", "tit",
                        user_id, now, keep);
    while (st && armor_stmt_step(st) == 1)
      armor_revoke_session(armor_stmt_text(st, 0), now + set.access_token_ttl_seconds);
    armor_stmt_done(st);
  }
  /* Expired long ago: nothing alive to stop, only mark them. */
  armor_db_exec(db, NULL,
                "UPDATE sessions SET revoked_at = $2, revoke_reason = 'user', access_hash = NULL "
                "WHERE user_id = $1 AND revoked_at IS NULL AND id <> $3",
                "tit", user_id, now, keep);
  if (n + extra) {
    json_t *d = json_object();
    json_object_set_new(d, "sessions", json_integer(n + extra));
    json_object_set_new(d, "reason", json_string(except_sid ? "all_other_sessions" : "all_sessions"));
    armor_audit("session.revoked", NULL, user_id, NULL, NULL, d);
  }
  /* Every session means the OAuth ones too: grants, their refresh tokens and the provider's browser
     sessions. (A password change keeps one Armor session and calls armor_oauth_revoke_user itself.) */
  if (!except_sid && armor_oauth_revoke_user(user_id) == ARMOR_DB) return ARMOR_DB;
  return ARMOR_OK;
}

/* ================================================================ refresh */

int armor_sessions_refresh(const char *refresh_token, const char *ip, json_t **data, int *retry_after) {
  *data = NULL;
  *retry_after = 0;
  if (!refresh_token || strncmp(refresh_token, ARMOR_REFRESH_PREFIX, 3) || strlen(refresh_token) > 128)
    return ARMOR_UNAUTHORIZED;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_security_settings set;
  armor_settings_security(&set);
  char h[65];
  armor_secret_token_hash(refresh_token, h);
  struct armor_stmt *st =
      armor_db_query(db,
                     "SELECT r.rotated_at, " SESSION_COLS
                     " FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
                     "t", h);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  struct session_row s;
  bool rotated = false;
  if (rc == 1) {
    rotated = !armor_stmt_is_null(st, 0);
    session_from_row(st, 1, &s);
  }
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (rc == 0) return ARMOR_UNAUTHORIZED;
  if (s.revoked_at) return ARMOR_UNAUTHORIZED;
  if (rotated) {
    armor_warn("sessions: a rotated refresh token was presented again; ending session %s", s.id);
    armor_sessions_revoke(s.id, NULL, "refresh_token_reuse");
    return ARMOR_UNAUTHORIZED;
  }
  int64_t now = armor_time();
  if (effective_expiry(s.id, s.expires_at, s.max_expires_at, set.session_idle_seconds) <= now)
    return ARMOR_UNAUTHORIZED;
  struct armor_user u;
  rc = armor_user_get(s.user_id, &u);
  if (rc) return rc == ARMOR_NOT_FOUND ? ARMOR_UNAUTHORIZED : rc;
  if (u.disabled) return ARMOR_DENIED;
  if (armor_accounts_lock_state(u.id, retry_after) == ARMOR_LIMITED) return ARMOR_LIMITED;

  char refresh[64], nh[65];
  new_refresh(refresh, nh);
  int64_t changed = 0;
  s.expires_at = now + set.session_idle_seconds;
  if (s.expires_at > s.max_expires_at) s.expires_at = s.max_expires_at;
  rc = armor_db_begin(db);
  if (!rc)
    rc = armor_db_exec(db, &changed, "UPDATE refresh_tokens SET rotated_at = $2 WHERE hash = $1 AND rotated_at IS NULL",
                       "ti", h, now);
  if (!rc && changed != 1) rc = ARMOR_CONFLICT;
  if (!rc)
    rc = armor_db_exec(db, NULL, "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)", "tti",
                       nh, s.id, now);
  if (!rc)
    rc = armor_db_exec(db, NULL, "UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1", "tii", s.id,
                       now, s.expires_at);
  if (!rc) rc = armor_db_commit(db);
  if (rc) {
    armor_db_rollback(db);
    sodium_memzero(refresh, sizeof refresh);
    if (rc == ARMOR_CONFLICT) {
      /* Two presentations of one token raced: the loser is a reuse. */
      armor_sessions_revoke(s.id, NULL, "refresh_token_reuse");
      return ARMOR_UNAUTHORIZED;
    }
    return rc;
  }
  (void)ip;
  rc = answer(db, &s, refresh, data);
  sodium_memzero(refresh, sizeof refresh);
  return rc;
}

int armor_sessions_reissue_access(const char *sid, json_t **data) {
  *data = NULL;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_stmt *st = armor_db_query(db, "SELECT " SESSION_COLS " FROM sessions s WHERE s.id = $1", "t", sid);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  struct session_row s;
  if (rc == 1) session_from_row(st, 0, &s);
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (rc == 0 || s.revoked_at) return ARMOR_UNAUTHORIZED;
  return answer(db, &s, NULL, data);
}

/* ================================================================ listing */

json_t *armor_sessions_list(const char *user_id, const char *current_sid) {
  json_t *a = json_array();
  struct armor_db *db = armor_db_get();
  if (!db) return a;
  struct armor_security_settings set;
  armor_settings_security(&set);
  int64_t now = armor_time();
  /* Pending uses on this node may have extended a session the database still shows as about to expire. */
  struct armor_stmt *st =
      armor_db_query(db,
                     "SELECT " SESSION_COLS ", s.ip, s.user_agent FROM sessions s WHERE s.user_id = $1 "
                     "AND s.revoked_at IS NULL AND s.expires_at > $2 ORDER BY s.created_at DESC, s.id",
                     "ti", user_id, now - FLUSH_INTERVAL_MS / 1000 - 60);
  while (st && armor_stmt_step(st) == 1) {
    struct session_row s;
    session_from_row(st, 0, &s);
    int64_t exp = effective_expiry(s.id, s.expires_at, s.max_expires_at, set.session_idle_seconds);
    if (exp <= now) continue;
    json_t *o = json_object();
    char t1[32], t2[32], t3[32];
    armor_time_rfc3339(s.created_at, t1);
    armor_time_rfc3339(effective_last_use(s.id, s.last_used_at), t2);
    armor_time_rfc3339(exp, t3);
    json_object_set_new(o, "id", json_string(s.id));
    json_object_set_new(o, "current", json_boolean(current_sid && !strcmp(current_sid, s.id)));
    json_object_set_new(o, "token_format", json_string(s.fmt == ARMOR_TOKEN_OPAQUE ? "opaque" : "jwt"));
    const char *ip = armor_stmt_text(st, 8), *ua = armor_stmt_text(st, 9);
    json_object_set_new(o, "ip", ip ? json_string(ip) : json_null());
    json_object_set_new(o, "user_agent", ua ? json_string(ua) : json_null());
    json_object_set_new(o, "created_at", json_string(t1));
    json_object_set_new(o, "last_used_at", json_string(t2));
    json_object_set_new(o, "expires_at", json_string(t3));
    json_array_append_new(a, o);
  }
  armor_stmt_done(st);
  return a;
}

/* ================================================================ the bearer check */

/* Copies s into dst (size bytes), cut to fit; what armor_fmt("%s") does, without the printf machinery. */
static void copy_str(char *dst, size_t size, const char *s) {
  size_t n = strnlen(s, size - 1);
  memcpy(dst, s, n);
  dst[n] = 0;
}

static void perms_from_json(const json_t *arr, struct armor_arena *arena, struct armor_principal *p) {
  size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
  p->perms = armor_arena_alloc(arena, sizeof(char *) * (n + 1));
  p->nperms = 0;
  for (size_t i = 0; i < n; i++) {
    const char *v = json_string_value(json_array_get(arr, i));
    if (v) p->perms[p->nperms++] = armor_arena_strdup(arena, v);
  }
  p->perms[p->nperms] = NULL;
}

static bool array_has(const json_t *arr, const char *v) {
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), v)) return true;
  return false;
}

static int check_opaque(const char *token, struct armor_arena *arena, struct armor_principal *p) {
  if (strlen(token) > 128) return ARMOR_UNAUTHORIZED;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  char h[65];
  armor_secret_token_hash(token, h);
  struct armor_stmt *st = armor_db_query(db,
                                         "SELECT " SESSION_COLS ", u.username, u.disabled FROM sessions s "
                                         "JOIN users u ON u.id = s.user_id WHERE s.access_hash = $1",
                                         "t", h);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  struct session_row s;
  char username[65] = "";
  bool disabled = false;
  if (rc == 1) {
    session_from_row(st, 0, &s);
    armor_fmt(username, sizeof username, "%s", armor_stmt_text(st, 8));
    disabled = armor_stmt_int(st, 9) != 0;
  }
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (rc == 0 || s.revoked_at || disabled || armor_session_is_revoked(s.id)) return ARMOR_UNAUTHORIZED;
  struct armor_security_settings set;
  armor_settings_security(&set);
  int64_t now = armor_time();
  int64_t exp = effective_expiry(s.id, s.expires_at, s.max_expires_at, set.session_idle_seconds);
  if (exp <= now) return ARMOR_EXPIRED;
  json_t *perms = armor_accounts_permissions(s.user_id);
  json_t *roles = armor_accounts_roles(s.user_id);
  perms_from_json(perms, arena, p);
  p->is_admin = array_has(roles, "admin");
  json_decref(perms);
  json_decref(roles);
  armor_fmt(p->user_id, sizeof p->user_id, "%s", s.user_id);
  armor_fmt(p->session_id, sizeof p->session_id, "%s", s.id);
  armor_fmt(p->username, sizeof p->username, "%s", username);
  touch(s.id, now);
  int64_t e2 = now + set.session_idle_seconds;
  p->exp = e2 < s.max_expires_at ? e2 : s.max_expires_at;
  return ARMOR_OK;
}

int armor_sessions_check_access(const char *token, struct armor_arena *arena, struct armor_principal *p) {
  memset(p, 0, sizeof *p);
  if (!token || !*token) return ARMOR_UNAUTHORIZED;
  /* A refresh token is never a bearer token (and no table of access tokens holds its hash). */
  if (!strncmp(token, ARMOR_REFRESH_PREFIX, 3)) return ARMOR_UNAUTHORIZED;
  int rc;
  if (!strncmp(token, ARMOR_OPAQUE_PREFIX, 3)) {
    rc = check_opaque(token, arena, p);
  } else {
    /* The verified claims are borrowed from the verification cache (read only, no copy). */
    struct armor_jwt_ref *ref = NULL;
    rc = armor_jwt_verify_ref(token, ARMOR_API_AUDIENCE, 0, &ref);
    if (rc == ARMOR_OK) {
      const json_t *claims = armor_jwt_ref_claims(ref);
      const char *sub = json_string_value(json_object_get(claims, "sub"));
      const char *sid = json_string_value(json_object_get(claims, "sid"));
      const char *name = json_string_value(json_object_get(claims, "preferred_username"));
      const char *org = json_string_value(json_object_get(claims, "org"));
      json_t *perms = json_object_get(claims, "perms");
      json_t *roles = json_object_get(claims, "roles");
      if (!sub || !sid || !armor_uuid_valid(sub) || !armor_uuid_valid(sid) || armor_session_is_revoked(sid)) {
        rc = ARMOR_UNAUTHORIZED;
      } else {
        copy_str(p->user_id, sizeof p->user_id, sub);
        copy_str(p->session_id, sizeof p->session_id, sid);
        copy_str(p->username, sizeof p->username, name ? name : "");
        if (org) copy_str(p->org_id, sizeof p->org_id, org);
        perms_from_json(perms, arena, p);
        p->is_admin = json_is_array(roles) && array_has(roles, "admin");
        p->exp = json_integer_value(json_object_get(claims, "exp"));
        touch(sid, armor_time());
      }
      armor_jwt_ref_put(ref);
    } else if (rc != ARMOR_EXPIRED) {
      rc = ARMOR_UNAUTHORIZED;
    }
  }
  if (rc == ARMOR_OK) p->token = armor_arena_strdup(arena, token);
  return rc;
}
