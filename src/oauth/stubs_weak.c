/*
 * TEMPORARY: weak stand-ins for the tokens, accounts and audit services until
 * their branches merge; the real definitions replace these. Deleted after the merge.
 */
#include "auth/accounts.h"
#include "auth/audit.h"
#include "auth/tokens.h"
#include "core/config.h"

#include <cjose/cjose.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define WEAK __attribute__((weak))

static cjose_jwk_t *key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void mk(void) { key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, NULL); }

WEAK const char *armor_tokens_issuer(void) { return armor_cfg.public_url ? armor_cfg.public_url : "http://localhost"; }

WEAK char *armor_jwt_sign(json_t *claims, const char *typ, const char *alg) {
  pthread_once(&once, mk);
  json_t *c = json_deep_copy(claims);
  if (!json_object_get(c, "iss")) json_object_set_new(c, "iss", json_string(armor_tokens_issuer()));
  if (!json_object_get(c, "jti")) {
    char j[37];
    armor_uuid_new(j);
    json_object_set_new(c, "jti", json_string(j));
  }
  char *pt = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  cjose_header_t *h = cjose_header_new(NULL);
  cjose_header_set(h, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, NULL);
  cjose_header_set(h, "typ", typ ? typ : "JWT", NULL);
  cjose_header_set(h, CJOSE_HDR_KID, "stub", NULL);
  cjose_jws_t *jws = cjose_jws_sign(key, h, (uint8_t *)pt, strlen(pt), NULL);
  armor_free(pt);
  const char *ser = NULL;
  char *out = NULL;
  if (jws && cjose_jws_export(jws, &ser, NULL)) out = armor_strdup(ser);
  cjose_jws_release(jws);
  cjose_header_release(h);
  (void)alg;
  return out;
}

WEAK int armor_jwt_verify(const char *token, const char *aud, json_t **claims) {
  pthread_once(&once, mk);
  if (claims) *claims = NULL;
  cjose_jws_t *jws = cjose_jws_import(token, strlen(token), NULL);
  if (!jws) return ARMOR_UNAUTHORIZED;
  int rc = ARMOR_UNAUTHORIZED;
  uint8_t *pt = NULL;
  size_t n = 0;
  if (cjose_jws_verify(jws, key, NULL) && cjose_jws_get_plaintext(jws, &pt, &n, NULL)) {
    json_t *c = json_loadb((const char *)pt, n, 0, NULL);
    if (c) {
      json_int_t exp = json_integer_value(json_object_get(c, "exp"));
      const char *sid = json_string_value(json_object_get(c, "sid"));
      if (exp && exp < armor_time()) rc = ARMOR_EXPIRED;
      else if (sid && armor_session_is_revoked(sid)) rc = ARMOR_UNAUTHORIZED;
      else rc = ARMOR_OK;
      (void)aud;
      if (rc == ARMOR_OK && claims) *claims = c;
      else json_decref(c);
    }
  }
  cjose_jws_release(jws);
  return rc;
}

static char revoked[64][64];
static int nrevoked;
static pthread_mutex_t rl = PTHREAD_MUTEX_INITIALIZER;
WEAK int armor_revoke_session(const char *sid, int64_t until) {
  (void)until;
  pthread_mutex_lock(&rl);
  if (nrevoked < 64) armor_fmt(revoked[nrevoked++], 64, "%s", sid);
  pthread_mutex_unlock(&rl);
  return ARMOR_OK;
}
WEAK bool armor_session_is_revoked(const char *sid) {
  bool r = false;
  pthread_mutex_lock(&rl);
  for (int i = 0; i < nrevoked; i++) r |= !strcmp(revoked[i], sid);
  pthread_mutex_unlock(&rl);
  return r;
}
WEAK int armor_jwt_at_hash(const char *value, const char *alg, char out[64]) {
  unsigned char h[32];
  SHA256((const unsigned char *)value, strlen(value), h);
  sodium_bin2base64(out, 64, h, 16, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  (void)alg;
  return 0;
}

WEAK void armor_audit(const char *event, const char *actor_id, const char *subject_id, const char *ip,
                      const char *request_id, json_t *details) {
  json_decref(details);
}

WEAK int armor_user_get(const char *id, struct armor_user *out) { return ARMOR_NOT_FOUND; }
WEAK int armor_accounts_authenticate(const char *username, const char *password, const char *ip, struct armor_user *out,
                                     int *retry_after) {
  return ARMOR_UNAUTHORIZED;
}
WEAK json_t *armor_accounts_permissions(const char *user_id) { return json_array(); }
WEAK int armor_sessions_create(const char *user_id, const char *ip, const char *user_agent, json_t **login_data) {
  return ARMOR_INTERNAL;
}
