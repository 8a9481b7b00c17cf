/*
 * Users, passwords with lockout, the per-IP failure limit, built-in roles and
 * the permission catalog, and the first administrator (environment, setup
 * link, CLI). SQL goes through store/ only; nothing here knows HTTP.
 *
 * Lockout state lives in the users table so that it holds across nodes; the
 * per-IP counters live in memory, per node (documented for operators).
 */
#include "auth/accounts.h"
#include "auth/audit.h"
#include "auth/password.h"
#include "auth/verification.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <locale.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <wctype.h>

/* ================================================================ permission catalog */

const char *const armor_permission_names[] = {
    "users:read",   "users:write",    "roles:read",     "roles:write",    "orgs:read",       "orgs:write",
    "servers:read", "servers:manage", "settings:read",  "settings:write", "clients:read",    "clients:write",
    "audit:read",   "api-keys:read",  "api-keys:write", "sessions:read",  "sessions:revoke", NULL,
};

static const char *const permission_descriptions[] = {
    "List and read user accounts",
    "Create, change, disable and delete user accounts",
    "List and read roles",
    "Create, change and delete roles",
    "List and read organizations",
    "Create, change and delete organizations",
    "List servers and their health",
    "Register, change, test and delete servers",
    "Read settings",
    "Change settings",
    "List OAuth clients",
    "Create, change and delete OAuth clients",
    "Read the audit log",
    "List API keys",
    "Create and revoke API keys",
    "List sessions of every user",
    "End sessions of every user",
};

json_t *armor_permissions_catalog(void) {
  json_t *a = json_array();
  for (int i = 0; armor_permission_names[i]; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(armor_permission_names[i]));
    json_object_set_new(o, "description", json_string(permission_descriptions[i]));
    json_array_append_new(a, o);
  }
  return a;
}

/* ================================================================ users */

#define USER_COLS "id, username, email, phone, email_verified, disabled, created_at"

static void copy_col(char *dst, size_t n, const char *v) { armor_fmt(dst, n, "%s", v ? v : ""); }

static void user_from_row(struct armor_stmt *st, struct armor_user *u) {
  memset(u, 0, sizeof *u);
  copy_col(u->id, sizeof u->id, armor_stmt_text(st, 0));
  copy_col(u->username, sizeof u->username, armor_stmt_text(st, 1));
  copy_col(u->email, sizeof u->email, armor_stmt_text(st, 2));
  copy_col(u->phone, sizeof u->phone, armor_stmt_text(st, 3));
  u->email_verified = armor_stmt_int(st, 4) != 0;
  u->disabled = armor_stmt_int(st, 5) != 0;
  u->created_at = armor_stmt_int(st, 6);
}

/* Runs a query returning USER_COLS first; fills out from the first row. */
static int user_query(struct armor_stmt *st, struct armor_user *out) {
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  if (rc == 1) user_from_row(st, out);
  armor_stmt_done(st);
  return rc == 1 ? ARMOR_OK : rc == 0 ? ARMOR_NOT_FOUND : ARMOR_DB;
}

int armor_user_get(const char *id, struct armor_user *out) {
  if (!id || !armor_uuid_valid(id)) return ARMOR_NOT_FOUND;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  return user_query(armor_db_query(db, "SELECT " USER_COLS " FROM users WHERE id = $1", "t", id), out);
}

/* ---- normalisation: usernames fold case with the C.UTF-8 locale, emails fold ASCII ---- */

static locale_t utf8_locale;
static pthread_once_t locale_once = PTHREAD_ONCE_INIT;
static void locale_init(void) { utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }

static size_t utf8_encode(unsigned cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes one code point of valid UTF-8 (checked before); advances *p. */
static unsigned utf8_next(const unsigned char **p) {
  const unsigned char *s = *p;
  unsigned cp;
  int extra;
  if (s[0] < 0x80) {
    cp = s[0];
    extra = 0;
  } else if ((s[0] & 0xE0) == 0xC0) {
    cp = s[0] & 0x1F;
    extra = 1;
  } else if ((s[0] & 0xF0) == 0xE0) {
    cp = s[0] & 0x0F;
    extra = 2;
  } else {
    cp = s[0] & 0x07;
    extra = 3;
  }
  for (int i = 1; i <= extra; i++) cp = (cp << 6) | (s[i] & 0x3F);
  *p = s + 1 + extra;
  return cp;
}

/* Case-folded key of a valid username (out: 4x the input + 1). */
static void username_key(const char *name, char *out, size_t outlen) {
  pthread_once(&locale_once, locale_init);
  const unsigned char *p = (const unsigned char *)name;
  size_t j = 0;
  while (*p && j + 5 < outlen) {
    unsigned cp = utf8_next(&p);
    unsigned lc = utf8_locale ? (unsigned)towlower_l((wint_t)cp, utf8_locale)
                              : (cp < 0x80 && cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    j += utf8_encode(lc, out + j);
  }
  out[j] = 0;
}

bool armor_username_normalize(const char *in, char *out, size_t outlen, char *msg, size_t msglen) {
  if (!in) {
    armor_fmt(msg, msglen, "A username is required");
    return false;
  }
  while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r') in++;
  size_t n = strlen(in);
  while (n && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\n' || in[n - 1] == '\r')) n--;
  if (n == 0) {
    armor_fmt(msg, msglen, "The username must not be empty");
    return false;
  }
  if (n > 64 || n >= outlen) {
    armor_fmt(msg, msglen, "The username must be 1 to 64 characters (64 bytes of UTF-8)");
    return false;
  }
  char tmp[65];
  memcpy(tmp, in, n);
  tmp[n] = 0;
  if (armor_utf8_length(tmp) < 0) {
    armor_fmt(msg, msglen, "The username must be valid UTF-8 text");
    return false;
  }
  const unsigned char *p = (const unsigned char *)tmp;
  while (*p) {
    unsigned cp = utf8_next(&p);
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
      armor_fmt(msg, msglen, "The username must not contain control characters");
      return false;
    }
  }
  memcpy(out, tmp, n + 1);
  return true;
}

static bool email_valid(const char *e) {
  size_t n = strlen(e);
  if (n < 3 || n > 254) return false;
  const char *at = strchr(e, '@');
  if (!at || strchr(at + 1, '@') || at == e || at - e > 64) return false;
  const char *dom = at + 1;
  size_t dl = strlen(dom);
  if (dl < 3 || !strchr(dom, '.') || dom[0] == '.' || dom[dl - 1] == '.' || strstr(dom, "..")) return false;
  for (const unsigned char *p = (const unsigned char *)e; *p; p++)
    if (*p <= 0x20 || *p == 0x7F || *p == '<' || *p == '>' || *p == '"' || *p == ',' || *p == ';' || *p == '\\' ||
        *p == '(' || *p == ')' || *p == '[' || *p == ']')
      return false;
  return armor_utf8_length(e) > 0;
}

static void email_key(const char *e, char *out, size_t outlen) {
  size_t j = 0;
  for (; e[j] && j + 1 < outlen; j++) out[j] = (e[j] >= 'A' && e[j] <= 'Z') ? (char)(e[j] + 32) : e[j];
  out[j] = 0;
}

/* E.164: "+" and 8 to 15 digits, the first not 0. */
static bool phone_valid(const char *p) {
  if (p[0] != '+' || p[1] < '1' || p[1] > '9') return false;
  size_t n = 0;
  for (const char *q = p + 1; *q; q++, n++)
    if (*q < '0' || *q > '9') return false;
  return n >= 8 && n <= 15;
}

int armor_user_find(const char *field, const char *value, struct armor_user *out) {
  if (!field || !value) return ARMOR_NOT_FOUND;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  char key[300], msg[96];
  if (!strcmp(field, "username")) {
    char name[65];
    if (!armor_username_normalize(value, name, sizeof name, msg, sizeof msg)) return ARMOR_NOT_FOUND;
    username_key(name, key, sizeof key);
    return user_query(armor_db_query(db, "SELECT " USER_COLS " FROM users WHERE username_norm = $1", "t", key), out);
  }
  if (!strcmp(field, "email")) {
    if (strlen(value) > 254) return ARMOR_NOT_FOUND;
    email_key(value, key, sizeof key);
    return user_query(armor_db_query(db, "SELECT " USER_COLS " FROM users WHERE email_norm = $1", "t", key), out);
  }
  if (!strcmp(field, "phone"))
    return user_query(
        armor_db_query(db, "SELECT " USER_COLS " FROM users WHERE phone = $1 ORDER BY created_at LIMIT 1", "t", value),
        out);
  return ARMOR_INVALID;
}

json_t *armor_user_to_json(const struct armor_user *u) {
  json_t *o = json_object();
  char ts[32];
  armor_time_rfc3339(u->created_at, ts);
  json_object_set_new(o, "id", json_string(u->id));
  json_object_set_new(o, "username", json_string(u->username));
  json_object_set_new(o, "email", u->email[0] ? json_string(u->email) : json_null());
  json_object_set_new(o, "phone", u->phone[0] ? json_string(u->phone) : json_null());
  json_object_set_new(o, "email_verified", json_boolean(u->email_verified));
  json_object_set_new(o, "disabled", json_boolean(u->disabled));
  json_object_set_new(o, "created_at", json_string(ts));
  return o;
}

/* ================================================================ roles and permissions */

bool armor_accounts_is_admin(const char *user_id) {
  struct armor_db *db = armor_db_get();
  if (!db || !user_id) return false;
  struct armor_stmt *st = armor_db_query(db, "SELECT 1 FROM user_roles WHERE user_id = $1 AND role_id = $2", "tt",
                                         user_id, ARMOR_ROLE_ADMIN_ID);
  if (!st) return false;
  bool yes = armor_stmt_step(st) == 1;
  armor_stmt_done(st);
  return yes;
}

json_t *armor_accounts_permissions(const char *user_id) {
  json_t *a = json_array();
  if (armor_accounts_is_admin(user_id)) {
    for (int i = 0; armor_permission_names[i]; i++) json_array_append_new(a, json_string(armor_permission_names[i]));
    return a;
  }
  struct armor_db *db = armor_db_get();
  struct armor_stmt *st =
      db ? armor_db_query(
               db,
               "SELECT DISTINCT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id "
               "WHERE ur.user_id = $1 ORDER BY rp.permission",
               "t", user_id)
         : NULL;
  if (!st) return a;
  while (armor_stmt_step(st) == 1) json_array_append_new(a, json_string(armor_stmt_text(st, 0)));
  armor_stmt_done(st);
  return a;
}

json_t *armor_accounts_roles(const char *user_id) {
  json_t *a = json_array();
  struct armor_db *db = armor_db_get();
  struct armor_stmt *st = db ? armor_db_query(db,
                                              "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
                                              "WHERE ur.user_id = $1 ORDER BY r.name",
                                              "t", user_id)
                             : NULL;
  if (!st) return a;
  while (armor_stmt_step(st) == 1) json_array_append_new(a, json_string(armor_stmt_text(st, 0)));
  armor_stmt_done(st);
  return a;
}

bool armor_accounts_admin_exists(void) {
  struct armor_db *db = armor_db_get();
  if (!db) return false;
  struct armor_stmt *st =
      armor_db_query(db, "SELECT 1 FROM user_roles WHERE role_id = $1 LIMIT 1", "t", ARMOR_ROLE_ADMIN_ID);
  if (!st) return false;
  bool yes = armor_stmt_step(st) == 1;
  armor_stmt_done(st);
  return yes;
}

/* ================================================================ per-IP failure limit (memory, per node) */

#define IP_SLOTS 4096
#define IP_PROBE 8
#define IP_WINDOW 60

struct ip_slot {
  char ip[48];
  int64_t window_start;
  int count;
};
static struct ip_slot ip_table[IP_SLOTS];
static pthread_mutex_t ip_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t ip_hash(const char *ip) {
  uint32_t h = 2166136261u;
  for (; *ip; ip++) h = (h ^ (unsigned char)*ip) * 16777619u;
  return h;
}

/* The slot of ip (or a free/stale/oldest one to take over when create). Caller holds ip_lock. */
static struct ip_slot *ip_find(const char *ip, int64_t now, bool create) {
  uint32_t h = ip_hash(ip);
  struct ip_slot *victim = NULL;
  for (int i = 0; i < IP_PROBE; i++) {
    struct ip_slot *s = &ip_table[(h + (uint32_t)i) % IP_SLOTS];
    if (!strcmp(s->ip, ip)) return s;
    if (!victim || s->window_start < victim->window_start) victim = s;
  }
  if (!create) return NULL;
  armor_fmt(victim->ip, sizeof victim->ip, "%s", ip);
  victim->window_start = now;
  victim->count = 0;
  return victim;
}

int armor_ip_limit_check(const char *ip, int *retry_after) {
  if (!ip || !*ip) return ARMOR_OK;
  struct armor_security_settings s;
  armor_settings_security(&s);
  if (s.ip_limit_per_minute <= 0) return ARMOR_OK;
  int64_t now = armor_time();
  int rc = ARMOR_OK;
  pthread_mutex_lock(&ip_lock);
  struct ip_slot *sl = ip_find(ip, now, false);
  if (sl && now - sl->window_start < IP_WINDOW && sl->count >= s.ip_limit_per_minute) {
    rc = ARMOR_LIMITED;
    *retry_after = (int)(sl->window_start + IP_WINDOW - now);
    if (*retry_after < 1) *retry_after = 1;
  }
  pthread_mutex_unlock(&ip_lock);
  return rc;
}

void armor_ip_limit_fail(const char *ip) {
  if (!ip || !*ip) return;
  int64_t now = armor_time();
  pthread_mutex_lock(&ip_lock);
  struct ip_slot *sl = ip_find(ip, now, true);
  if (now - sl->window_start >= IP_WINDOW) {
    sl->window_start = now;
    sl->count = 0;
  }
  sl->count++;
  pthread_mutex_unlock(&ip_lock);
}

/* ================================================================ passwords and lockout */

/* Counts a failed password for the user and locks the account at the threshold. */
static void record_failure(struct armor_db *db, const char *user_id) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(db,
                                         "UPDATE users SET failed_logins = failed_logins + 1, updated_at = $2 WHERE id "
                                         "= $1 RETURNING failed_logins, lock_count",
                                         "ti", user_id, now);
  if (!st) return;
  int64_t failed = 0, locks = 0;
  if (armor_stmt_step(st) == 1) {
    failed = armor_stmt_int(st, 0);
    locks = armor_stmt_int(st, 1);
  }
  armor_stmt_done(st);
  if (s.lockout_threshold <= 0 || failed < s.lockout_threshold) return;
  int64_t secs = (int64_t)s.lockout_base_seconds << (locks > 20 ? 20 : locks);
  if (s.lockout_max_seconds > 0 && secs > s.lockout_max_seconds) secs = s.lockout_max_seconds;
  int64_t changed = 0;
  armor_db_exec(db, &changed,
                "UPDATE users SET failed_logins = 0, lock_count = lock_count + 1, locked_until = $2 "
                "WHERE id = $1 AND failed_logins >= $3",
                "tii", user_id, now + secs, (int64_t)s.lockout_threshold);
  if (changed) {
    json_t *d = json_object();
    json_object_set_new(d, "seconds", json_integer(secs));
    json_object_set_new(d, "lock", json_integer(locks + 1));
    armor_audit("account.locked", NULL, user_id, NULL, NULL, d);
    armor_info("account %s locked for %lld s after %lld failed passwords", user_id, (long long)secs, (long long)failed);
  }
}

/* The user row with the fields authentication needs. */
struct auth_row {
  struct armor_user u;
  char *hash; /* malloc'ed */
  int64_t locked_until, failed, locks;
};

static int auth_row_query(struct armor_stmt *st, struct auth_row *ar) {
  memset(ar, 0, sizeof *ar);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  if (rc == 1) {
    user_from_row(st, &ar->u);
    const char *h = armor_stmt_text(st, 7);
    ar->hash = h ? armor_strdup(h) : NULL;
    ar->locked_until = armor_stmt_int(st, 8);
    ar->failed = armor_stmt_int(st, 9);
    ar->locks = armor_stmt_int(st, 10);
  }
  armor_stmt_done(st);
  return rc == 1 ? ARMOR_OK : rc == 0 ? ARMOR_NOT_FOUND : ARMOR_DB;
}

#define AUTH_COLS USER_COLS ", password_hash, locked_until, failed_logins, lock_count"

/*
 * The shared core of login and re-authentication: lock check, argon2id
 * verification (against the dummy hash when there is no user), failure
 * accounting, reset and rehash on success.
 */
static int check_row(struct armor_db *db, int found, struct auth_row *ar, const char *password, const char *ip,
                     int *retry_after) {
  int64_t now = armor_time();
  if (found == ARMOR_OK && ar->locked_until > now) {
    *retry_after = (int)(ar->locked_until - now);
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string("locked"));
    armor_audit("login.failure", NULL, ar->u.id, ip, NULL, d);
    return ARMOR_LIMITED;
  }
  bool ok = armor_password_verify(found == ARMOR_OK ? ar->hash : NULL, password ? password : "");
  if (!ok) {
    armor_ip_limit_fail(ip);
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string(found == ARMOR_OK ? "bad_password" : "unknown_user"));
    if (found == ARMOR_OK) record_failure(db, ar->u.id);
    armor_audit("login.failure", NULL, found == ARMOR_OK ? ar->u.id : NULL, ip, NULL, d);
    return ARMOR_UNAUTHORIZED;
  }
  if (ar->u.disabled) {
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string("disabled"));
    armor_audit("login.failure", NULL, ar->u.id, ip, NULL, d);
    return ARMOR_DENIED;
  }
  if (ar->failed || ar->locks)
    armor_db_exec(db, NULL, "UPDATE users SET failed_logins = 0, lock_count = 0 WHERE id = $1", "t", ar->u.id);
  if (armor_password_needs_rehash(ar->hash)) {
    char h[crypto_pwhash_STRBYTES];
    if (armor_password_hash(password, h, sizeof h) == ARMOR_OK) {
      armor_db_exec(db, NULL, "UPDATE users SET password_hash = $2 WHERE id = $1", "tt", ar->u.id, h);
      armor_info("password of %s rehashed with the current argon2id cost", ar->u.id);
    }
  }
  return ARMOR_OK;
}

int armor_accounts_authenticate(const char *username, const char *password, const char *ip, struct armor_user *out,
                                int *retry_after) {
  *retry_after = 0;
  if (armor_ip_limit_check(ip, retry_after) == ARMOR_LIMITED) {
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string("ip_limit"));
    armor_audit("login.failure", NULL, NULL, ip, NULL, d);
    return ARMOR_LIMITED;
  }
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct auth_row ar;
  int found = ARMOR_NOT_FOUND;
  char name[65], key[300], msg[96];
  if (armor_username_normalize(username, name, sizeof name, msg, sizeof msg)) {
    username_key(name, key, sizeof key);
    found =
        auth_row_query(armor_db_query(db, "SELECT " AUTH_COLS " FROM users WHERE username_norm = $1", "t", key), &ar);
    if (found == ARMOR_NOT_FOUND && strchr(name, '@')) {
      email_key(name, key, sizeof key);
      found =
          auth_row_query(armor_db_query(db, "SELECT " AUTH_COLS " FROM users WHERE email_norm = $1", "t", key), &ar);
    }
  } else {
    memset(&ar, 0, sizeof ar);
  }
  if (found == ARMOR_DB) return ARMOR_DB;
  int rc = check_row(db, found, &ar, password, ip, retry_after);
  if (rc == ARMOR_OK) *out = ar.u;
  armor_free(ar.hash);
  return rc;
}

int armor_accounts_check_password(const char *user_id, const char *password, const char *ip, int *retry_after) {
  *retry_after = 0;
  if (armor_ip_limit_check(ip, retry_after) == ARMOR_LIMITED) return ARMOR_LIMITED;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct auth_row ar;
  int found = auth_row_query(armor_db_query(db, "SELECT " AUTH_COLS " FROM users WHERE id = $1", "t", user_id), &ar);
  if (found == ARMOR_DB) return ARMOR_DB;
  int rc = check_row(db, found, &ar, password, ip, retry_after);
  armor_free(ar.hash);
  return rc;
}

int armor_accounts_lock_state(const char *user_id, int *retry_after) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_stmt *st = armor_db_query(db, "SELECT locked_until FROM users WHERE id = $1", "t", user_id);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  int64_t until = rc == 1 ? armor_stmt_int(st, 0) : 0;
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (rc == 0) return ARMOR_NOT_FOUND;
  int64_t now = armor_time();
  if (until > now) {
    *retry_after = (int)(until - now);
    return ARMOR_LIMITED;
  }
  return ARMOR_OK;
}

int armor_accounts_set_password(const char *user_id, const char *new_password, char *msg, size_t msglen) {
  if (armor_password_check_policy(new_password, msg, msglen)) return ARMOR_INVALID;
  char h[crypto_pwhash_STRBYTES];
  if (armor_password_hash(new_password, h, sizeof h)) return ARMOR_INTERNAL;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t now = armor_time(), changed = 0;
  int rc =
      armor_db_exec(db, &changed,
                    "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3, failed_logins = 0 "
                    "WHERE id = $1",
                    "tti", user_id, h, now);
  sodium_memzero(h, sizeof h);
  if (rc) return ARMOR_DB;
  return changed ? ARMOR_OK : ARMOR_NOT_FOUND;
}

int armor_accounts_set_email_verified(const char *user_id, bool verified) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t changed = 0;
  int rc = armor_db_exec(db, &changed, "UPDATE users SET email_verified = $2, updated_at = $3 WHERE id = $1", "tbi",
                         user_id, verified, armor_time());
  if (rc) return ARMOR_DB;
  return changed ? ARMOR_OK : ARMOR_NOT_FOUND;
}

int armor_accounts_set_username(const char *user_id, const char *new_username, char *msg, size_t msglen) {
  char name[65], key[300];
  if (!armor_username_normalize(new_username, name, sizeof name, msg, msglen)) return ARMOR_INVALID;
  username_key(name, key, sizeof key);
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t changed = 0;
  int rc =
      armor_db_exec(db, &changed, "UPDATE users SET username = $2, username_norm = $3, updated_at = $4 WHERE id = $1",
                    "ttti", user_id, name, key, armor_time());
  if (rc == ARMOR_CONFLICT) {
    armor_fmt(msg, msglen, "Username already taken");
    return ARMOR_CONFLICT;
  }
  if (rc) return ARMOR_DB;
  return changed ? ARMOR_OK : ARMOR_NOT_FOUND;
}

/* ================================================================ creating users */

static bool exists(struct armor_db *db, const char *sql, const char *v) {
  struct armor_stmt *st = armor_db_query(db, sql, "t", v);
  if (!st) return false;
  bool yes = armor_stmt_step(st) == 1;
  armor_stmt_done(st);
  return yes;
}

int armor_accounts_create(const struct armor_user_new *in, struct armor_user *out, char *field, size_t fieldlen,
                          char *msg, size_t msglen) {
  char name[65], ukey[300], ekey[300] = "";
  const char *email = in->email && *in->email ? in->email : NULL;
  const char *phone = in->phone && *in->phone ? in->phone : NULL;
  armor_fmt(field, fieldlen, "%s", "");
  if (!armor_username_normalize(in->username, name, sizeof name, msg, msglen)) {
    armor_fmt(field, fieldlen, "username");
    return ARMOR_INVALID;
  }
  if (armor_password_check_policy(in->password, msg, msglen)) {
    armor_fmt(field, fieldlen, "password");
    return ARMOR_INVALID;
  }
  if (email && !email_valid(email)) {
    armor_fmt(field, fieldlen, "email");
    armor_fmt(msg, msglen, "The email address is not valid");
    return ARMOR_INVALID;
  }
  if (phone && !phone_valid(phone)) {
    armor_fmt(field, fieldlen, "phone");
    armor_fmt(msg, msglen, "The phone number must be in E.164 form, such as +15550100123");
    return ARMOR_INVALID;
  }
  username_key(name, ukey, sizeof ukey);
  if (email) email_key(email, ekey, sizeof ekey);
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;

  /* The role: admin, or the app's default role when it exists, else user. */
  char role_id[37];
  armor_fmt(role_id, sizeof role_id, "%s", ARMOR_ROLE_USER_ID);
  if (in->role && !strcmp(in->role, "admin")) {
    armor_fmt(role_id, sizeof role_id, "%s", ARMOR_ROLE_ADMIN_ID);
  } else {
    struct armor_app_settings app;
    armor_settings_app(&app);
    const char *want = in->role ? in->role : app.default_role;
    struct armor_stmt *st = armor_db_query(db, "SELECT id FROM roles WHERE name = $1", "t", want);
    if (st && armor_stmt_step(st) == 1) armor_fmt(role_id, sizeof role_id, "%s", armor_stmt_text(st, 0));
    armor_stmt_done(st);
  }

  /* Checked before hashing so that a taken name costs no argon2id; the unique indexes decide races. */
  if (exists(db, "SELECT 1 FROM users WHERE username_norm = $1", ukey)) goto taken_username;
  if (email && exists(db, "SELECT 1 FROM users WHERE email_norm = $1", ekey)) goto taken_email;

  char hash[crypto_pwhash_STRBYTES];
  if (armor_password_hash(in->password, hash, sizeof hash)) return ARMOR_INTERNAL;
  char id[37];
  armor_uuid_new(id);
  int64_t now = armor_time();
  int rc = armor_db_begin(db);
  if (!rc)
    rc = armor_db_exec(db, NULL,
                       "INSERT INTO users (id, username, username_norm, email, email_norm, phone, password_hash, "
                       "password_changed_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)",
                       "ttttttti", id, name, ukey, email, email ? ekey : NULL, phone, hash, now);
  sodium_memzero(hash, sizeof hash);
  if (!rc) rc = armor_db_exec(db, NULL, "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)", "tt", id, role_id);
  /* The verification mail is queued in the same transaction: sent if and only if the account exists. */
  if (!rc && email) rc = armor_verification_send(db, id, email);
  if (!rc) rc = armor_db_commit(db);
  if (rc) {
    armor_db_rollback(db);
    if (rc != ARMOR_CONFLICT) return ARMOR_DB;
    if (exists(db, "SELECT 1 FROM users WHERE username_norm = $1", ukey)) goto taken_username;
    goto taken_email;
  }
  return armor_user_get(id, out);

taken_username:
  armor_fmt(field, fieldlen, "username");
  armor_fmt(msg, msglen, "Username already taken");
  return ARMOR_CONFLICT;
taken_email:
  armor_fmt(field, fieldlen, "email");
  armor_fmt(msg, msglen, "Email address already in use");
  return ARMOR_CONFLICT;
}

/* ================================================================ first administrator: setup tokens */

#define SETUP_TOKEN_TTL (24 * 3600)

int armor_setup_token_new(char **token) {
  char t[64];
  armor_random_b64url(32, t, sizeof t);
  char h[65];
  armor_secret_token_hash(t, h);
  struct armor_db *db = armor_db_get();
  int64_t now = armor_time();
  int rc = db ? armor_db_exec(db, NULL, "INSERT INTO setup_tokens (hash, created_at, expires_at) VALUES ($1, $2, $3)",
                              "tii", h, now, now + SETUP_TOKEN_TTL)
              : ARMOR_DB;
  if (rc) {
    sodium_memzero(t, sizeof t);
    return ARMOR_DB;
  }
  *token = armor_strdup(t);
  sodium_memzero(t, sizeof t);
  return ARMOR_OK;
}

int armor_setup_redeem(const char *token, const struct armor_user_new *in, struct armor_user *out, char *field,
                       size_t fieldlen, char *msg, size_t msglen) {
  armor_fmt(field, fieldlen, "token");
  armor_fmt(msg, msglen, "The setup token is unknown, used or expired");
  if (!token || !*token || strlen(token) > 128) return ARMOR_DENIED;
  char h[65];
  armor_secret_token_hash(token, h);
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(
      db, "SELECT 1 FROM setup_tokens WHERE hash = $1 AND used_at IS NULL AND expires_at > $2", "ti", h, now);
  if (!st) return ARMOR_DB;
  int found = armor_stmt_step(st);
  armor_stmt_done(st);
  if (found != 1) return found < 0 ? ARMOR_DB : ARMOR_DENIED;
  if (armor_accounts_admin_exists()) {
    armor_fmt(msg, msglen, "An administrator exists already");
    return ARMOR_DENIED;
  }
  struct armor_user_new a = *in;
  a.role = "admin";
  int rc = armor_accounts_create(&a, out, field, fieldlen, msg, msglen);
  if (rc) return rc;
  /* Single use: whoever marks the token used first keeps the admin. */
  int64_t changed = 0;
  rc = armor_db_exec(db, &changed, "UPDATE setup_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL", "ti", h,
                     now);
  if (rc || !changed) {
    armor_db_exec(db, NULL, "DELETE FROM users WHERE id = $1", "t", out->id);
    armor_fmt(field, fieldlen, "token");
    armor_fmt(msg, msglen, "The setup token is unknown, used or expired");
    return rc ? ARMOR_DB : ARMOR_DENIED;
  }
  /* Every other setup link dies with the first admin. */
  armor_db_exec(db, NULL, "UPDATE setup_tokens SET used_at = $1 WHERE used_at IS NULL", "i", now);
  return ARMOR_OK;
}
