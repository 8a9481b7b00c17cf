/*
 * TEMPORARY weak stand-ins for auth/tokens.h until the tokens branch lands in
 * main (then this file is deleted). HS256 with a random per-process key and
 * an in-memory revocation set: enough to run the accounts routes and tests on
 * one node. Never shipped: the real definitions override these.
 */
#include "auth/tokens.h"
#include "core/config.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define WEAK __attribute__((weak))

static unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static void key_init(void) { randombytes_buf(key, sizeof key); }

WEAK const char *armor_tokens_issuer(void) {
  return armor_cfg.public_url && *armor_cfg.public_url ? armor_cfg.public_url : "http://armor.invalid";
}

WEAK json_t *armor_keys_jwks(void) { return json_pack("{s:[]}", "keys"); }
WEAK int armor_keys_rotate(void) { return 0; }

static char *b64(const void *p, size_t n) {
  size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *o = armor_malloc(len);
  sodium_bin2base64(o, len, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return o;
}

WEAK char *armor_jwt_sign(json_t *claims, const char *typ, const char *alg) {
  (void)alg;
  pthread_once(&key_once, key_init);
  json_t *c = json_deep_copy(claims);
  if (!json_object_get(c, "iss")) json_object_set_new(c, "iss", json_string(armor_tokens_issuer()));
  if (!json_object_get(c, "iat")) json_object_set_new(c, "iat", json_integer(armor_time()));
  char jti[37];
  armor_uuid_new(jti);
  if (!json_object_get(c, "jti")) json_object_set_new(c, "jti", json_string(jti));
  json_t *h = json_pack("{s:s,s:s,s:s}", "alg", "HS256", "typ", typ ? typ : "JWT", "kid", "fallback");
  char *hs = json_dumps(h, JSON_COMPACT), *cs = json_dumps(c, JSON_COMPACT);
  json_decref(h);
  json_decref(c);
  char *hb = b64(hs, strlen(hs)), *cb = b64(cs, strlen(cs));
  armor_free(hs);
  armor_free(cs);
  struct armor_buf b;
  armor_buf_init(&b, 1 << 16);
  armor_buf_printf(&b, "%s.%s", hb, cb);
  armor_free(hb);
  armor_free(cb);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(mac, (const unsigned char *)b.data, b.len, key);
  char *mb = b64(mac, sizeof mac);
  armor_buf_printf(&b, ".%s", mb);
  armor_free(mb);
  return b.data;
}

static json_t *decode_part(const char *s, size_t n) {
  unsigned char *buf = armor_malloc(n + 1);
  size_t len = 0;
  json_t *j = NULL;
  if (!sodium_base642bin(buf, n + 1, s, n, NULL, &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
    j = json_loadb((const char *)buf, len, 0, NULL);
  armor_free(buf);
  return j;
}

WEAK int armor_jwt_verify(const char *token, const char *aud, json_t **claims) {
  pthread_once(&key_once, key_init);
  *claims = NULL;
  const char *d1 = strchr(token, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) return ARMOR_UNAUTHORIZED;
  json_t *h = decode_part(token, (size_t)(d1 - token));
  const char *alg = h ? json_string_value(json_object_get(h, "alg")) : NULL;
  bool alg_ok = alg && !strcmp(alg, "HS256");
  json_decref(h);
  if (!alg_ok) return ARMOR_UNAUTHORIZED;
  unsigned char mac[crypto_auth_hmacsha256_BYTES], got[64];
  crypto_auth_hmacsha256(mac, (const unsigned char *)token, (size_t)(d2 - token), key);
  size_t gl = 0;
  if (sodium_base642bin(got, sizeof got, d2 + 1, strlen(d2 + 1), NULL, &gl, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
      gl != sizeof mac || sodium_memcmp(got, mac, sizeof mac))
    return ARMOR_UNAUTHORIZED;
  json_t *c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
  if (!c) return ARMOR_UNAUTHORIZED;
  const char *iss = json_string_value(json_object_get(c, "iss"));
  const char *a = json_string_value(json_object_get(c, "aud"));
  const char *sid = json_string_value(json_object_get(c, "sid"));
  if (!iss || strcmp(iss, armor_tokens_issuer()) || (aud && (!a || strcmp(a, aud)))) {
    json_decref(c);
    return ARMOR_UNAUTHORIZED;
  }
  if (json_integer_value(json_object_get(c, "exp")) <= armor_time()) {
    json_decref(c);
    return ARMOR_EXPIRED;
  }
  if (sid && armor_session_is_revoked(sid)) {
    json_decref(c);
    return ARMOR_UNAUTHORIZED;
  }
  *claims = c;
  return ARMOR_OK;
}

#define REVOKED_MAX 4096
static char revoked[REVOKED_MAX][37];
static int nrevoked;
static pthread_mutex_t rev_lock = PTHREAD_MUTEX_INITIALIZER;

WEAK int armor_revoke_session(const char *sid, int64_t until) {
  (void)until;
  pthread_mutex_lock(&rev_lock);
  armor_fmt(revoked[nrevoked % REVOKED_MAX], 37, "%s", sid);
  nrevoked++;
  pthread_mutex_unlock(&rev_lock);
  return 0;
}

WEAK bool armor_session_is_revoked(const char *sid) {
  bool yes = false;
  pthread_mutex_lock(&rev_lock);
  int n = nrevoked < REVOKED_MAX ? nrevoked : REVOKED_MAX;
  for (int i = 0; i < n && !yes; i++) yes = !strcmp(revoked[i], sid);
  pthread_mutex_unlock(&rev_lock);
  return yes;
}
