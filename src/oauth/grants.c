/*
 * Authorization codes, the grants they start, and every token the provider
 * mints: RFC 9068 access tokens, OpenID Connect id_tokens, rotating refresh
 * tokens with reuse detection, plus introspection (RFC 7662), revocation
 * (RFC 7009) and userinfo claims.
 *
 * Storage per token: client_credentials access tokens are stateless JWTs and
 * write nothing; a code writes one oauth_grants row; each refresh token one
 * oauth_refresh_tokens row. Access tokens of a grant carry sid = grant id, so
 * revoking the grant stops them through the revoked-session view of tokens.h.
 */
#include "oauth/oauth.h"
#include "oauth/oauth_int.h"
#include "auth/accounts.h"
#include "auth/tokens.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <sodium.h>
#include <string.h>

int armor_oauth_access_ttl(void) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  return s.access_token_ttl_seconds > 0 ? s.access_token_ttl_seconds : 900;
}

static bool fail(struct armor_oauth_error *err, const char *error, const char *description) {
  err->error = error;
  err->description = description;
  return false;
}

/* ================================================================ grants */

/* Marks a grant revoked and stops its access tokens and (api kind) its Armor session. */
static void grant_revoke(const char *grant_id, const char *reason) {
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(armor_db_get(),
                                         "UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL "
                                         "RETURNING client_id, user_id, session_id",
                                         "ti", grant_id, now);
  char client[37] = "", user[37] = "", sid[64] = "";
  if (st && armor_stmt_step(st) == 1) {
    armor_fmt(client, sizeof client, "%s", armor_stmt_text(st, 0));
    armor_fmt(user, sizeof user, "%s", armor_stmt_text(st, 1));
    if (!armor_stmt_is_null(st, 2)) armor_fmt(sid, sizeof sid, "%s", armor_stmt_text(st, 2));
  }
  armor_stmt_done(st);
  armor_revoke_session(grant_id, now + armor_oauth_access_ttl());
  if (sid[0]) armor_sessions_revoke(sid, NULL, reason);
  if (client[0]) {
    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(client));
    json_object_set_new(d, "grant_id", json_string(grant_id));
    json_object_set_new(d, "reason", json_string(reason));
    armor_oauth_audit("oauth.grant.revoked", user, user, d);
  }
}

int armor_oauth_revoke_user(const char *user_id) {
  if (!user_id || !armor_uuid_valid(user_id)) return ARMOR_NOT_FOUND;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t now = armor_time();
  int64_t horizon = now + armor_oauth_access_ttl();
  /* Every grant of the user, redeemed or not: its refresh tokens die with revoked_at, its pending code
     cannot be redeemed any more. The ids are collected first and published after the statement ends. */
  struct armor_stmt *st = armor_db_query(db,
                                         "UPDATE oauth_grants SET revoked_at = $2 WHERE user_id = $1 AND "
                                         "revoked_at IS NULL RETURNING id, kind",
                                         "ti", user_id, now);
  if (!st) return ARMOR_DB;
  json_t *ids = json_array();
  int rc;
  while ((rc = armor_stmt_step(st)) == 1)
    /* Access tokens of 'oauth' grants carry the grant id as sid. The Armor sessions of seed-001 ('api')
       grants are the caller's business (armor_sessions_revoke_user), so that a password change can keep
       the session it was made from. */
    if (!strcmp(armor_stmt_text(st, 1), "oauth")) json_array_append_new(ids, json_string(armor_stmt_text(st, 0)));
  armor_stmt_done(st);
  size_t i, n = json_array_size(ids);
  json_t *v;
  json_array_foreach(ids, i, v) armor_revoke_session(json_string_value(v), horizon);
  json_decref(ids);
  if (rc < 0) return ARMOR_DB;
  /* The provider's browser sessions: the next /oauth2/authorize shows the sign-in form again. */
  int64_t ended = 0;
  if (armor_db_exec(db, &ended, "DELETE FROM oauth_browser_sessions WHERE user_id = $1", "t", user_id)) return ARMOR_DB;
  if (n || ended) {
    json_t *d = json_object();
    json_object_set_new(d, "grants", json_integer((json_int_t)n));
    json_object_set_new(d, "browser_sessions", json_integer(ended));
    json_object_set_new(d, "reason", json_string("all grants of the user"));
    armor_oauth_audit("oauth.grant.revoked", NULL, user_id, d);
  }
  return ARMOR_OK;
}

int armor_oauth_code_issue(const struct armor_oauth_authz *a, char code[64]) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  char id[37], hash[65];
  armor_uuid_new(id);
  armor_random_b64url(32, code, 64);
  armor_secret_token_hash(code, hash);
  int64_t now = armor_time();
  /* The row lives as long as something issued from it can: the refresh family (or the Armor session
     of a seed-001 code), otherwise just the code and the access tokens of its one redemption. */
  bool long_lived = (a->client->grants & ARMOR_GRANT_REFRESH) || strcmp(a->kind, "oauth");
  int64_t expires = now + (long_lived ? (s.session_max_seconds > 0 ? s.session_max_seconds : 2592000)
                                      : ARMOR_OAUTH_CODE_TTL + armor_oauth_access_ttl() + 60);
  int rc = armor_db_exec(armor_db_get(), NULL,
                         "INSERT INTO oauth_grants (id, kind, client_id, user_id, scope, redirect_uri, nonce, "
                         "code_challenge, auth_time, code_hash, code_expires_at, created_at, expires_at) VALUES "
                         "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                         "ttttttttitiii", id, a->kind, a->client->id, a->user_id, a->scope, a->redirect_uri,
                         a->nonce && *a->nonce ? a->nonce : NULL,
                         a->code_challenge && *a->code_challenge ? a->code_challenge : NULL, a->auth_time, hash,
                         now + ARMOR_OAUTH_CODE_TTL, now, expires);
  if (rc) {
    sodium_memzero(code, 64);
    return ARMOR_DB;
  }
  return ARMOR_OK;
}

bool armor_oauth_pkce_value_ok(const char *v) {
  size_t n = strlen(v);
  if (n < 43 || n > 128) return false;
  for (const char *p = v; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
          *p == '_' || *p == '~'))
      return false;
  return true;
}

bool armor_oauth_pkce_s256_matches(const char *verifier, const char *challenge) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
  char b64[sodium_base64_ENCODED_LEN(sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return armor_str_eq_ct(b64, challenge);
}

int armor_oauth_code_redeem(const char *kind, const struct armor_oauth_client *c, const char *code,
                            const char *redirect_uri, const char *verifier, struct armor_oauth_grant *g,
                            struct armor_oauth_error *err) {
  memset(g, 0, sizeof *g);
  if (!code || !*code || strlen(code) > 128)
    return fail(err, "invalid_grant", "Invalid authorization code"), ARMOR_INVALID;
  char hash[65];
  armor_secret_token_hash(code, hash);
  struct armor_db *db = armor_db_get();
  /* The claim is one atomic UPDATE: of two racing redemptions exactly one sees the row. */
  struct armor_stmt *st = armor_db_query(db,
                                         "UPDATE oauth_grants SET code_used = 1 WHERE code_hash = $1 AND code_used = 0 "
                                         "RETURNING id, kind, client_id, user_id, scope, redirect_uri, nonce, "
                                         "code_challenge, auth_time, code_expires_at, expires_at, revoked_at",
                                         "t", hash);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  if (rc < 0) {
    armor_stmt_done(st);
    return ARMOR_DB;
  }
  if (rc == 0) {
    armor_stmt_done(st);
    /* Not claimable: unknown, or already redeemed - then everything it issued is revoked. */
    st = armor_db_query(db, "SELECT id FROM oauth_grants WHERE code_hash = $1", "t", hash);
    char id[37] = "";
    if (st && armor_stmt_step(st) == 1) armor_fmt(id, sizeof id, "%s", armor_stmt_text(st, 0));
    armor_stmt_done(st);
    if (id[0]) {
      armor_oauth_count(OAUTH_M_REUSE);
      grant_revoke(id, "authorization code reused");
      fail(err, "invalid_grant", "Authorization code was already used; its tokens are revoked");
    } else {
      fail(err, "invalid_grant", "Invalid authorization code");
    }
    return ARMOR_INVALID;
  }
  char gkind[16], challenge[160] = "", ruri[2048];
  armor_fmt(g->id, sizeof g->id, "%s", armor_stmt_text(st, 0));
  armor_fmt(gkind, sizeof gkind, "%s", armor_stmt_text(st, 1));
  armor_fmt(g->client_id, sizeof g->client_id, "%s", armor_stmt_text(st, 2));
  armor_fmt(g->user_id, sizeof g->user_id, "%s", armor_stmt_text(st, 3));
  armor_fmt(g->scope, sizeof g->scope, "%s", armor_stmt_text(st, 4));
  armor_fmt(ruri, sizeof ruri, "%s", armor_stmt_text(st, 5));
  if (!armor_stmt_is_null(st, 6)) armor_fmt(g->nonce, sizeof g->nonce, "%s", armor_stmt_text(st, 6));
  if (!armor_stmt_is_null(st, 7)) armor_fmt(challenge, sizeof challenge, "%s", armor_stmt_text(st, 7));
  g->auth_time = armor_stmt_int(st, 8);
  int64_t code_exp = armor_stmt_int(st, 9);
  g->expires_at = armor_stmt_int(st, 10);
  bool revoked = !armor_stmt_is_null(st, 11);
  armor_stmt_done(st);

  bool ok = true;
  if (strcmp(gkind, kind) || strcmp(g->client_id, c->id) || revoked)
    ok = fail(err, "invalid_grant", "Invalid authorization code");
  else if (code_exp < armor_time())
    ok = fail(err, "invalid_grant", "Authorization code expired");
  else if (!redirect_uri || strcmp(redirect_uri, ruri))
    ok = fail(err, "invalid_grant", "redirect_uri does not match the authorization request");
  else if (challenge[0] && (!verifier || !*verifier))
    ok = fail(err, "invalid_grant", "code_verifier is required (PKCE)");
  else if (!challenge[0] && verifier && *verifier)
    ok = fail(err, "invalid_grant", "code_verifier given but the authorization request had no code_challenge");
  else if (challenge[0] && (!armor_oauth_pkce_value_ok(verifier) || !armor_oauth_pkce_s256_matches(verifier, challenge)))
    ok = fail(err, "invalid_grant", "code_verifier does not match the code_challenge");
  if (!ok) {
    grant_revoke(g->id, "failed redemption");
    return ARMOR_INVALID;
  }
  struct armor_user u;
  if (armor_user_get(g->user_id, &u) != ARMOR_OK || u.disabled) {
    grant_revoke(g->id, "user unavailable");
    fail(err, "invalid_grant", "The user is no longer available");
    return ARMOR_INVALID;
  }
  return ARMOR_OK;
}

int armor_oauth_grant_set_session(const char *grant_id, const char *sid) {
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "UPDATE oauth_grants SET session_id = $2 WHERE id = $1 RETURNING revoked_at", "tt",
                     grant_id, sid);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  bool revoked = rc == 1 && !armor_stmt_is_null(st, 0);
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  /* A racing replay revoked the grant before the session existed: end it now. */
  if (revoked) {
    armor_sessions_revoke(sid, NULL, "authorization code reused");
    return ARMOR_CONFLICT;
  }
  return ARMOR_OK;
}

/* True when the grant was revoked meanwhile (a racing replay). */
static bool grant_revoked(const char *grant_id) {
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "SELECT revoked_at FROM oauth_grants WHERE id = $1", "t", grant_id);
  bool revoked = true;
  if (st && armor_stmt_step(st) == 1) revoked = !armor_stmt_is_null(st, 0);
  armor_stmt_done(st);
  return revoked;
}

/* ================================================================ minting */

bool armor_oauth_resource_check(const struct armor_oauth_client *c, const char *resource,
                                struct armor_oauth_error *err) {
  if (!resource) return true;
  char why[128];
  if (!armor_oauth_resource_uri_ok(resource, why, sizeof why))
    return fail(err, "invalid_target", "resource must be an absolute https URI without a fragment");
  if (!armor_oauth_resource_allowed(c, resource))
    return fail(err, "invalid_target", "resource is not registered for this client");
  return true;
}

static char *access_token(const struct armor_oauth_client *c, const char *sub, const char *scope, const char *sid,
                          int64_t auth_time, const char *resource, int ttl) {
  int64_t now = armor_time();
  json_t *claims = json_object();
  json_object_set_new(claims, "sub", json_string(sub));
  json_object_set_new(claims, "aud", json_string(resource && *resource ? resource : c->id));
  json_object_set_new(claims, "client_id", json_string(c->id));
  json_object_set_new(claims, "scope", json_string(scope ? scope : ""));
  json_object_set_new(claims, "iat", json_integer(now));
  json_object_set_new(claims, "exp", json_integer(now + ttl));
  if (sid) json_object_set_new(claims, "sid", json_string(sid));
  if (auth_time) json_object_set_new(claims, "auth_time", json_integer(auth_time));
  char *t = armor_jwt_sign(claims, "at+jwt", NULL);
  json_decref(claims);
  return t;
}

char *armor_oauth_id_token(const struct armor_oauth_client *c, const struct armor_oauth_grant *g, const char *access) {
  int64_t now = armor_time();
  int ttl = armor_oauth_access_ttl();
  if (ttl > ARMOR_ID_TOKEN_MAX_TTL) ttl = ARMOR_ID_TOKEN_MAX_TTL;
  const char *alg = strcmp(c->id_token_alg, "RS256") ? "ES256" : "RS256";
  json_t *claims = json_object();
  json_object_set_new(claims, "sub", json_string(g->user_id));
  json_object_set_new(claims, "aud", json_string(c->id));
  json_object_set_new(claims, "azp", json_string(c->id));
  json_object_set_new(claims, "iat", json_integer(now));
  json_object_set_new(claims, "exp", json_integer(now + ttl));
  json_object_set_new(claims, "auth_time", json_integer(g->auth_time));
  if (g->nonce[0]) json_object_set_new(claims, "nonce", json_string(g->nonce));
  char ath[64];
  if (access && !armor_jwt_at_hash(access, alg, ath)) json_object_set_new(claims, "at_hash", json_string(ath));
  armor_oauth_user_claims(g->user_id, g->scope, claims);
  char *t = armor_jwt_sign(claims, "JWT", strcmp(alg, "RS256") ? NULL : "RS256");
  json_decref(claims);
  return t;
}

/* Stores a new refresh token of the grant. */
static int refresh_issue(const struct armor_oauth_client *c, const struct armor_oauth_grant *g, const char *scope,
                         char token[64]) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  int64_t now = armor_time();
  int64_t exp = now + (s.session_idle_seconds > 0 ? s.session_idle_seconds : 1209600);
  if (g->expires_at && exp > g->expires_at) exp = g->expires_at;
  char hash[65];
  armor_random_b64url(32, token, 64);
  armor_secret_token_hash(token, hash);
  return armor_db_exec(armor_db_get(), NULL,
                       "INSERT INTO oauth_refresh_tokens (hash, grant_id, client_id, scope, created_at, expires_at) "
                       "VALUES ($1, $2, $3, $4, $5, $6)",
                       "ttttii", hash, g->id, c->id, scope, now, exp);
}

json_t *armor_oauth_tokens_for_grant(const struct armor_oauth_client *c, const struct armor_oauth_grant *g,
                                     const char *scope, const char *resource, struct armor_oauth_error *err) {
  if (!armor_oauth_resource_check(c, resource, err)) return NULL;
  if (!scope) scope = g->scope;
  int ttl = armor_oauth_access_ttl();
  char *at = access_token(c, g->user_id, scope, g->id, g->auth_time, resource, ttl);
  if (!at) {
    fail(err, "server_error", "Cannot sign the access token");
    return NULL;
  }
  json_t *o = json_object();
  json_object_set_new(o, "access_token", json_string(at));
  json_object_set_new(o, "token_type", json_string("Bearer"));
  json_object_set_new(o, "expires_in", json_integer(ttl));
  json_object_set_new(o, "scope", json_string(scope));
  if (armor_oauth_scope_has(scope, "openid")) {
    struct armor_oauth_grant g2 = *g;
    armor_fmt(g2.scope, sizeof g2.scope, "%s", scope);
    char *idt = armor_oauth_id_token(c, &g2, at);
    if (!idt) {
      armor_free(at);
      json_decref(o);
      fail(err, "server_error", "Cannot sign the id_token");
      return NULL;
    }
    json_object_set_new(o, "id_token", json_string(idt));
    armor_free(idt);
  }
  armor_free(at);
  if (c->grants & ARMOR_GRANT_REFRESH) {
    char rt[64];
    /* The refresh token keeps the grant's scope even when these tokens are narrower (RFC 6749 section 6:
       the new refresh token's scope is that of the one presented). */
    if (refresh_issue(c, g, g->scope, rt)) {
      json_decref(o);
      fail(err, "server_error", "Temporarily unavailable");
      return NULL;
    }
    json_object_set_new(o, "refresh_token", json_string(rt));
    sodium_memzero(rt, sizeof rt);
  }
  /* A replay that raced this redemption revoked the grant: hand out nothing. */
  if (grant_revoked(g->id)) {
    json_decref(o);
    fail(err, "invalid_grant", "The grant was revoked");
    return NULL;
  }
  return o;
}

json_t *armor_oauth_client_credentials(const struct armor_oauth_client *c, const char *scope, const char *resource,
                                       struct armor_oauth_error *err) {
  if (!(c->grants & ARMOR_GRANT_CC)) {
    fail(err, "unauthorized_client", "The client may not use client_credentials");
    return NULL;
  }
  if (scope && (!armor_oauth_scope_valid(scope) || !armor_oauth_scope_subset(scope, c->scope))) {
    fail(err, "invalid_scope", "The requested scope is not registered for this client");
    return NULL;
  }
  if (!armor_oauth_resource_check(c, resource, err)) return NULL;
  if (!scope) scope = c->scope;
  /* openid and the user-claim scopes mean nothing without a user. */
  if (armor_oauth_scope_has(scope, "openid") && scope != c->scope) {
    fail(err, "invalid_scope", "openid needs a user (use authorization_code)");
    return NULL;
  }
  int ttl = armor_oauth_access_ttl();
  char *at = access_token(c, c->id, scope, NULL, 0, resource, ttl);
  if (!at) {
    fail(err, "server_error", "Cannot sign the access token");
    return NULL;
  }
  json_t *o = json_object();
  json_object_set_new(o, "access_token", json_string(at));
  json_object_set_new(o, "token_type", json_string("Bearer"));
  json_object_set_new(o, "expires_in", json_integer(ttl));
  json_object_set_new(o, "scope", json_string(scope));
  armor_free(at);
  return o;
}

json_t *armor_oauth_refresh(const struct armor_oauth_client *c, const char *token, const char *scope,
                            const char *resource, struct armor_oauth_error *err) {
  if (!token || !*token || strlen(token) > 128) {
    fail(err, "invalid_grant", "Invalid refresh token");
    return NULL;
  }
  if (!(c->grants & ARMOR_GRANT_REFRESH)) {
    fail(err, "unauthorized_client", "The client may not use refresh_token");
    return NULL;
  }
  char hash[65];
  armor_secret_token_hash(token, hash);
  struct armor_db *db = armor_db_get();
  struct armor_stmt *st = armor_db_query(db,
                                         "SELECT r.grant_id, r.client_id, r.scope, r.expires_at, r.used_at, g.user_id, "
                                         "g.nonce, g.auth_time, g.revoked_at, g.expires_at FROM oauth_refresh_tokens r "
                                         "JOIN oauth_grants g ON g.id = r.grant_id WHERE r.hash = $1",
                                         "t", hash);
  if (!st) {
    fail(err, "server_error", "Temporarily unavailable");
    return NULL;
  }
  int rc = armor_stmt_step(st);
  if (rc != 1) {
    armor_stmt_done(st);
    fail(err, rc == 0 ? "invalid_grant" : "server_error",
         rc == 0 ? "Invalid refresh token" : "Temporarily unavailable");
    return NULL;
  }
  struct armor_oauth_grant g;
  memset(&g, 0, sizeof g);
  char owner[37], rscope[ARMOR_OAUTH_SCOPE_MAX];
  armor_fmt(g.id, sizeof g.id, "%s", armor_stmt_text(st, 0));
  armor_fmt(owner, sizeof owner, "%s", armor_stmt_text(st, 1));
  armor_fmt(rscope, sizeof rscope, "%s", armor_stmt_text(st, 2));
  int64_t rexp = armor_stmt_int(st, 3);
  bool used = !armor_stmt_is_null(st, 4);
  armor_fmt(g.user_id, sizeof g.user_id, "%s", armor_stmt_text(st, 5));
  if (!armor_stmt_is_null(st, 6)) armor_fmt(g.nonce, sizeof g.nonce, "%s", armor_stmt_text(st, 6));
  g.auth_time = armor_stmt_int(st, 7);
  bool revoked = !armor_stmt_is_null(st, 8);
  g.expires_at = armor_stmt_int(st, 9);
  armor_stmt_done(st);
  armor_fmt(g.client_id, sizeof g.client_id, "%s", owner);
  armor_fmt(g.scope, sizeof g.scope, "%s", rscope);
  int64_t now = armor_time();

  if (strcmp(owner, c->id)) {
    fail(err, "invalid_grant", "Invalid refresh token");
    return NULL;
  }
  if (revoked || rexp < now || g.expires_at < now) {
    fail(err, "invalid_grant", "Refresh token expired or revoked");
    return NULL;
  }
  if (used) {
    /* A rotated refresh token came back: the family is compromised. */
    armor_oauth_count(OAUTH_M_REUSE);
    grant_revoke(g.id, "refresh token reused");
    fail(err, "invalid_grant", "Refresh token was already used; the grant is revoked");
    return NULL;
  }
  /* The scope is checked before the token is spent, so a refused request leaves it usable. */
  if (scope && (!armor_oauth_scope_valid(scope) || !armor_oauth_scope_subset(scope, rscope))) {
    fail(err, "invalid_scope", "The requested scope exceeds the original grant");
    return NULL;
  }
  if (!armor_oauth_resource_check(c, resource, err)) return NULL; /* before spending, like the scope */
  int64_t changes = 0;
  if (armor_db_exec(db, &changes, "UPDATE oauth_refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
                    "ti", hash, now)) {
    fail(err, "server_error", "Temporarily unavailable");
    return NULL;
  }
  if (changes != 1) {
    /* Another redemption of the same token won the race: treat it as reuse. */
    armor_oauth_count(OAUTH_M_REUSE);
    grant_revoke(g.id, "refresh token reused");
    fail(err, "invalid_grant", "Refresh token was already used; the grant is revoked");
    return NULL;
  }
  struct armor_user u;
  if (armor_user_get(g.user_id, &u) != ARMOR_OK || u.disabled) {
    grant_revoke(g.id, "user unavailable");
    fail(err, "invalid_grant", "The user is no longer available");
    return NULL;
  }
  /* A refreshed grant keeps the scope it had (so does its new refresh token); the new access and id tokens
     carry the (narrower) requested one. */
  return armor_oauth_tokens_for_grant(c, &g, scope ? scope : rscope, resource, err);
}

/* ================================================================ introspection, revocation */

static bool looks_like_jwt(const char *t) {
  const char *d = strchr(t, '.');
  return d && strchr(d + 1, '.');
}

/* Verifies an access token this provider issued to some client (not an Armor API token). */
static int verify_access(const char *token, json_t **claims) {
  *claims = NULL;
  int rc = armor_jwt_verify(token, NULL, claims);
  if (rc) return rc;
  const char *cid = json_string_value(json_object_get(*claims, "client_id"));
  const char *jti = json_string_value(json_object_get(*claims, "jti"));
  if (!cid || !jti || armor_oauth_jti_revoked(jti)) {
    json_decref(*claims);
    *claims = NULL;
    return ARMOR_UNAUTHORIZED;
  }
  return ARMOR_OK;
}

static const char inactive_text[] = "{\"active\":false}";

static char *inactive(size_t *len) {
  armor_oauth_count(OAUTH_M_INTROSPECT_INACTIVE);
  *len = sizeof inactive_text - 1;
  return armor_strndup(inactive_text, *len);
}

static char *introspect_refresh(const struct armor_oauth_client *c, const char *token, size_t *len) {
  char hash[65];
  armor_secret_token_hash(token, hash);
  struct armor_stmt *st = armor_db_query(armor_db_get(),
                                         "SELECT r.client_id, r.scope, r.expires_at, r.used_at, r.created_at, "
                                         "g.user_id, g.revoked_at, g.expires_at FROM oauth_refresh_tokens r "
                                         "JOIN oauth_grants g ON g.id = r.grant_id WHERE r.hash = $1",
                                         "t", hash);
  if (!st) return inactive(len);
  json_t *o = NULL;
  int64_t now = armor_time();
  if (armor_stmt_step(st) == 1 && !strcmp(armor_stmt_text(st, 0), c->id) && armor_stmt_int(st, 2) > now &&
      armor_stmt_is_null(st, 3) && armor_stmt_is_null(st, 6) && armor_stmt_int(st, 7) > now) {
    o = json_object();
    json_object_set_new(o, "active", json_true());
    json_object_set_new(o, "client_id", json_string(armor_stmt_text(st, 0)));
    json_object_set_new(o, "scope", json_string(armor_stmt_text(st, 1)));
    json_object_set_new(o, "exp", json_integer(armor_stmt_int(st, 2)));
    json_object_set_new(o, "iat", json_integer(armor_stmt_int(st, 4)));
    json_object_set_new(o, "sub", json_string(armor_stmt_text(st, 5)));
    json_object_set_new(o, "iss", json_string(armor_tokens_issuer()));
    json_object_set_new(o, "token_type", json_string("refresh_token"));
  }
  armor_stmt_done(st);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!text) return inactive(len);
  armor_oauth_count(OAUTH_M_INTROSPECT_ACTIVE);
  *len = strlen(text);
  return text;
}

/* The active answer for a verified JWT, rendered once per cached token (a memo of the verification cache). */
struct introspect_memo {
  bool access; /* an access token of this provider: client_id and jti are strings (Armor API tokens are not) */
  size_t len;
  char text[]; /* the claims without sid, plus active and token_type, compact */
};

static void *introspect_render(const json_t *claims) {
  struct introspect_memo *m;
  if (!json_is_string(json_object_get(claims, "client_id")) || !json_is_string(json_object_get(claims, "jti"))) {
    m = armor_calloc(1, sizeof *m + 1);
    return m;
  }
  /* A private copy: the cached claims are shared and read-only. */
  json_t *o = json_deep_copy(claims);
  json_object_del(o, "sid");
  json_object_set_new(o, "active", json_true());
  json_object_set_new(o, "token_type", json_string("Bearer"));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s) return NULL;
  size_t n = strlen(s);
  m = armor_malloc(sizeof *m + n + 1);
  m->access = true;
  m->len = n;
  memcpy(m->text, s, n + 1);
  armor_free(s);
  return m;
}

char *armor_oauth_introspect(const struct armor_oauth_client *c, const char *token, const char *hint, size_t *len) {
  (void)hint; /* the token's shape says which kind it is */
  if (!token || !*token || strlen(token) > 8192) return inactive(len);
  if (!looks_like_jwt(token)) return introspect_refresh(c, token, len);
  struct armor_jwt_ref *ref;
  if (armor_jwt_verify_ref(token, NULL, 0, &ref)) return inactive(len);
  const struct introspect_memo *m = armor_jwt_ref_memo(ref, ARMOR_JWT_MEMO_INTROSPECT, introspect_render);
  /* Revocation of the jti is checked on every call; the answer itself depends on the claims only. */
  char *out = NULL;
  if (m && m->access &&
      !armor_oauth_jti_revoked(json_string_value(json_object_get(armor_jwt_ref_claims(ref), "jti")))) {
    out = armor_strndup(m->text, m->len);
    *len = m->len;
    armor_oauth_count(OAUTH_M_INTROSPECT_ACTIVE);
  }
  armor_jwt_ref_put(ref);
  return out ? out : inactive(len);
}

static int revoke_refresh(const struct armor_oauth_client *c, const char *token) {
  char hash[65];
  armor_secret_token_hash(token, hash);
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "SELECT grant_id, client_id FROM oauth_refresh_tokens WHERE hash = $1", "t", hash);
  if (!st) return ARMOR_DB;
  char grant[37] = "", owner[37] = "";
  int rc = armor_stmt_step(st);
  if (rc == 1) {
    armor_fmt(grant, sizeof grant, "%s", armor_stmt_text(st, 0));
    armor_fmt(owner, sizeof owner, "%s", armor_stmt_text(st, 1));
  }
  armor_stmt_done(st);
  if (rc < 0) return ARMOR_DB;
  if (!grant[0]) return ARMOR_OK;
  if (strcmp(owner, c->id)) return ARMOR_DENIED;
  grant_revoke(grant, "refresh token revoked by the client");
  armor_oauth_count(OAUTH_M_REVOKED);
  return ARMOR_OK;
}

int armor_oauth_revoke(const struct armor_oauth_client *c, const char *token, const char *hint) {
  (void)hint;
  if (!token || !*token || strlen(token) > 8192) return ARMOR_OK;
  if (!looks_like_jwt(token)) return revoke_refresh(c, token);
  json_t *claims = NULL;
  if (armor_jwt_verify(token, NULL, &claims)) return ARMOR_OK; /* expired or not ours: nothing to do */
  const char *cid = json_string_value(json_object_get(claims, "client_id"));
  const char *jti = json_string_value(json_object_get(claims, "jti"));
  json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
  int rc = ARMOR_OK;
  if (!cid || !jti) {
    rc = ARMOR_OK; /* an Armor API token: not revocable here */
  } else if (strcmp(cid, c->id)) {
    rc = ARMOR_DENIED;
  } else {
    rc = armor_db_exec(
        armor_db_get(), NULL,
        "INSERT INTO oauth_revoked_tokens (jti, client_id, revoked_at, expires_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (jti) DO NOTHING",
        "ttii", jti, cid, armor_time(), (int64_t)exp);
    if (!rc) {
      armor_oauth_jti_add(jti, exp);
      armor_oauth_count(OAUTH_M_REVOKED);
      json_t *d = json_object();
      json_object_set_new(d, "client_id", json_string(cid));
      json_object_set_new(d, "jti", json_string(jti));
      const char *sub = json_string_value(json_object_get(claims, "sub"));
      bool user = json_object_get(claims, "sid") != NULL;
      armor_oauth_audit("oauth.token.revoked", NULL, user ? sub : NULL, d);
    }
  }
  json_decref(claims);
  return rc;
}

int armor_oauth_access_token_verify(const char *token, json_t **claims) {
  if (!token || !looks_like_jwt(token)) return ARMOR_UNAUTHORIZED;
  int rc = verify_access(token, claims);
  if (rc) return rc;
  /* Only tokens issued for a user (from a grant) open userinfo. */
  if (!json_object_get(*claims, "sid")) {
    json_decref(*claims);
    *claims = NULL;
    return ARMOR_UNAUTHORIZED;
  }
  return ARMOR_OK;
}

/* ================================================================ claims */

bool armor_oauth_user_claims(const char *user_id, const char *scope, json_t *o) {
  struct armor_user u;
  if (armor_user_get(user_id, &u) != ARMOR_OK) return false;
  if (armor_oauth_scope_has(scope, "profile")) {
    json_object_set_new(o, "preferred_username", json_string(u.username));
    json_object_set_new(o, "name", json_string(u.username));
  }
  if (armor_oauth_scope_has(scope, "email") && u.email[0]) {
    json_object_set_new(o, "email", json_string(u.email));
    json_object_set_new(o, "email_verified", json_boolean(u.email_verified));
  }
  if (armor_oauth_scope_has(scope, "phone") && u.phone[0]) json_object_set_new(o, "phone_number", json_string(u.phone));
  return true;
}

int armor_oauth_userinfo(const char *user_id, const char *scope, json_t **out) {
  json_t *o = json_object();
  json_object_set_new(o, "sub", json_string(user_id));
  if (!armor_oauth_user_claims(user_id, scope, o)) {
    json_decref(o);
    return ARMOR_NOT_FOUND;
  }
  *out = o;
  return ARMOR_OK;
}
