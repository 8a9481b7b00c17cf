/*
 * Consents and the provider's browser sessions. A browser session is the
 * cookie that lets a signed-in user skip the login form: 256 random bits in
 * the cookie, its keyed hash in the database. Consents remember which scopes
 * a user granted to which client.
 */
#include "oauth/oauth.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <sodium.h>
#include <string.h>

bool armor_oauth_consent_has(const char *user_id, const char *client_id, const char *scope) {
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2", "tt",
                     user_id, client_id);
  bool ok = false;
  if (st && armor_stmt_step(st) == 1) ok = armor_oauth_scope_subset(scope, armor_stmt_text(st, 0));
  armor_stmt_done(st);
  return ok;
}

int armor_oauth_consent_save(const char *user_id, const char *client_id, const char *scope) {
  struct armor_db *db = armor_db_get();
  char merged[ARMOR_OAUTH_SCOPE_MAX * 2] = "";
  struct armor_stmt *st = armor_db_query(db, "SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2",
                                         "tt", user_id, client_id);
  if (!st) return ARMOR_DB;
  if (armor_stmt_step(st) == 1) armor_fmt(merged, sizeof merged, "%s", armor_stmt_text(st, 0));
  armor_stmt_done(st);
  /* Union of what was granted before and now. */
  for (const char *p = scope; *p;) {
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    char tok[256];
    if (l && l < sizeof tok) {
      memcpy(tok, p, l);
      tok[l] = 0;
      size_t ml = strlen(merged);
      if (!armor_oauth_scope_has(merged, tok)) armor_fmt(merged + ml, sizeof merged - ml, "%s%s", ml ? " " : "", tok);
    }
    p = e ? e + 1 : p + l;
  }
  if (strlen(merged) >= ARMOR_OAUTH_SCOPE_MAX) armor_fmt(merged, sizeof merged, "%s", scope);
  int64_t now = armor_time();
  return armor_db_exec(
             db, NULL,
             "INSERT INTO oauth_consents (user_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, "
             "$4, $4) ON CONFLICT (user_id, client_id) DO UPDATE SET scope = $3, updated_at = $4",
             "ttti", user_id, client_id, merged, now)
             ? ARMOR_DB
             : ARMOR_OK;
}

int armor_oauth_browser_login(const char *user_id, int64_t auth_time, char token[64]) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  char hash[65];
  armor_random_b64url(32, token, 64);
  armor_secret_token_hash(token, hash);
  int64_t now = armor_time();
  int rc = armor_db_exec(armor_db_get(), NULL,
                         "INSERT INTO oauth_browser_sessions (hash, user_id, auth_time, created_at, expires_at) VALUES "
                         "($1, $2, $3, $4, $5)",
                         "ttiii", hash, user_id, auth_time, now,
                         now + (s.session_idle_seconds > 0 ? s.session_idle_seconds : 1209600));
  if (rc) sodium_memzero(token, 64);
  return rc ? ARMOR_DB : ARMOR_OK;
}

int armor_oauth_browser_session(const char *token, char user_id[37], int64_t *auth_time) {
  if (!token || strlen(token) != 43) return ARMOR_NOT_FOUND;
  char hash[65];
  armor_secret_token_hash(token, hash);
  struct armor_stmt *st = armor_db_query(armor_db_get(),
                                         "SELECT user_id, auth_time FROM oauth_browser_sessions WHERE hash = $1 AND "
                                         "expires_at > $2",
                                         "ti", hash, armor_time());
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  if (rc == 1) {
    armor_fmt(user_id, 37, "%s", armor_stmt_text(st, 0));
    *auth_time = armor_stmt_int(st, 1);
  }
  armor_stmt_done(st);
  return rc == 1 ? ARMOR_OK : rc == 0 ? ARMOR_NOT_FOUND : ARMOR_DB;
}

void armor_oauth_browser_logout(const char *token) {
  if (!token || strlen(token) != 43) return;
  char hash[65];
  armor_secret_token_hash(token, hash);
  armor_db_exec(armor_db_get(), NULL, "DELETE FROM oauth_browser_sessions WHERE hash = $1", "t", hash);
}

#define REQUEST_TTL 1800

char *armor_oauth_request_seal(json_t *req) {
  json_object_set_new(req, "x", json_integer(armor_time() + REQUEST_TTL));
  char *plain = json_dumps(req, JSON_COMPACT);
  if (!plain) return NULL;
  char *sealed = armor_secret_encrypt(plain, strlen(plain));
  armor_free(plain);
  return sealed;
}

json_t *armor_oauth_request_open(const char *sealed) {
  if (!sealed || strlen(sealed) > 16384) return NULL;
  size_t n = 0;
  unsigned char *plain = armor_secret_decrypt(sealed, &n);
  if (!plain) return NULL;
  json_t *req = json_loadb((const char *)plain, n, 0, NULL);
  armor_free_secret(plain, n + 1);
  if (!json_is_object(req) || json_integer_value(json_object_get(req, "x")) < armor_time()) {
    json_decref(req);
    return NULL;
  }
  return req;
}
