/*
 * JWT signing and verification, the JWKS, rotation and the revocation view,
 * against a temporary SQLite database (or PostgreSQL when ARMOR_TEST_PG is set:
 * a fresh database is created with psql and dropped afterwards).
 * Forged tokens are built here with cjose and base64url; production code never
 * assembles JOSE by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/tokens_int.h"
#include "core/config.h"
#include "core/secret.h"
#include "store/store.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ISSUER "https://armor.test"

static char db_path[256];
static char pg_db[64];
static char pg_url[512];

/* ---------------------------------------------------------------- helpers */

static char *b64url(const void *data, size_t n) {
  char *out = NULL;
  size_t olen = 0;
  cjose_err e;
  assert_true(cjose_base64url_encode(data, n, &out, &olen, &e));
  char *r = armor_strndup(out, olen);
  cjose_get_dealloc()(out);
  return r;
}

static char *b64url_str(const char *s) { return b64url(s, strlen(s)); }

static char *join3(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
  char *s = armor_malloc(n);
  snprintf(s, n, "%s.%s.%s", a, b, c);
  return s;
}

static json_t *claims_new(int64_t exp_in) {
  json_t *c = json_object();
  json_object_set_new(c, "sub", json_string("3f1c6a0e-5d2b-4d7e-9a61-0c7f2b9d8e11"));
  json_object_set_new(c, "aud", json_string(ARMOR_API_AUDIENCE));
  json_object_set_new(c, "exp", json_integer(armor_time() + exp_in));
  json_object_set_new(c, "preferred_username", json_string("alice"));
  return c;
}

static char *claims_text(int64_t exp_in, const char *iss) {
  json_t *c = claims_new(exp_in);
  json_object_set_new(c, "iss", json_string(iss));
  json_object_set_new(c, "iat", json_integer(armor_time()));
  char *s = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  return s;
}

static char *sign_default(const char *alg) {
  json_t *c = claims_new(900);
  char *t = armor_jwt_sign(c, "JWT", alg);
  json_decref(c);
  assert_non_null(t);
  return t;
}

/* The header of a compact token as JSON (new reference). */
static json_t *header_of(const char *token) {
  cjose_err e;
  cjose_jws_t *jws = cjose_jws_import(token, strlen(token), &e);
  assert_non_null(jws);
  json_t *h = json_deep_copy((json_t *)cjose_jws_get_protected(jws));
  cjose_jws_release(jws);
  return h;
}

/* Signs payload with jwk under a header {alg, kid, typ}. */
static char *forge(const cjose_jwk_t *jwk, const char *alg, const char *kid, const char *payload) {
  cjose_err e;
  cjose_header_t *h = cjose_header_new(&e);
  assert_true(cjose_header_set(h, CJOSE_HDR_ALG, alg, &e));
  if (kid) assert_true(cjose_header_set(h, CJOSE_HDR_KID, kid, &e));
  assert_true(cjose_header_set(h, "typ", "JWT", &e));
  cjose_jws_t *jws = cjose_jws_sign(jwk, h, (const uint8_t *)payload, strlen(payload), &e);
  assert_non_null(jws);
  const char *ser = NULL;
  assert_true(cjose_jws_export(jws, &ser, &e));
  char *out = armor_strdup(ser);
  cjose_jws_release(jws);
  cjose_header_release(h);
  return out;
}

static void current_kids(char es[64], char rs[64]) {
  assert_int_equal(armor_keys_current_kid("ES256", es), 0);
  assert_int_equal(armor_keys_current_kid("RS256", rs), 0);
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state) {
  (void)state;
  if (sodium_init() < 0) return -1;
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_WARNING;
  armor_secret_init_ephemeral();
  armor_cfg.public_url = armor_strdup(ISSUER);
  char err[512] = "";
  const char *pg = getenv("ARMOR_TEST_PG");
  const char *url;
  if (pg && *pg) {
    unsigned char r[6];
    randombytes_buf(r, sizeof r);
    char hex[13];
    armor_hex(r, sizeof r, hex);
    snprintf(pg_db, sizeof pg_db, "armor_u_%s", hex);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "psql '%s' -qc 'CREATE DATABASE %s' >/dev/null", pg, pg_db);
    if (system(cmd) != 0) return -1;
    const char *slash = strrchr(pg + strlen("postgres://"), '/');
    size_t base = slash ? (size_t)(slash - pg) : strlen(pg);
    snprintf(pg_url, sizeof pg_url, "%.*s/%s", (int)base, pg, pg_db);
    url = pg_url;
  } else {
    snprintf(db_path, sizeof db_path, "sqlite:/tmp/armor-unit-jwt-%d/armor.db", (int)getpid());
    url = db_path;
  }
  if (armor_store_open(url, err, sizeof err) || armor_store_migrate(err, sizeof err)) {
    fprintf(stderr, "store: %s\n", err);
    return -1;
  }
  return armor_keys_start() == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  armor_keys_stop();
  armor_store_close();
  char cmd[1024];
  if (pg_db[0]) {
    snprintf(cmd, sizeof cmd, "psql '%s' -qc 'DROP DATABASE IF EXISTS %s WITH (FORCE)' >/dev/null 2>&1",
             getenv("ARMOR_TEST_PG"), pg_db);
  } else {
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/armor-unit-jwt-%d", (int)getpid());
  }
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return 0;
}

/* ---------------------------------------------------------------- tests */

static void roundtrip(const char *alg) {
  char *t = sign_default(alg);
  json_t *h = header_of(t);
  assert_string_equal(json_string_value(json_object_get(h, "alg")), alg ? alg : "ES256");
  assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
  char kid[64];
  assert_int_equal(armor_keys_current_kid(alg, kid), 0);
  assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
  json_decref(h);

  json_t *claims = NULL;
  long long hits = armor_tokens_m[armor_shard()].cache_hits;
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, &claims), ARMOR_OK);
  assert_non_null(claims);
  assert_string_equal(json_string_value(json_object_get(claims, "iss")), ISSUER);
  assert_string_equal(json_string_value(json_object_get(claims, "preferred_username")), "alice");
  assert_true(json_is_integer(json_object_get(claims, "iat")));
  assert_true(json_is_string(json_object_get(claims, "jti")));
  /* The caller owns its copy. */
  json_object_set_new(claims, "sub", json_string("changed"));
  json_decref(claims);
  /* Second time: served from the cache, same answer. */
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, &claims), ARMOR_OK);
  assert_true(armor_tokens_m[armor_shard()].cache_hits > hits);
  assert_string_equal(json_string_value(json_object_get(claims, "sub")), "3f1c6a0e-5d2b-4d7e-9a61-0c7f2b9d8e11");
  json_decref(claims);
  assert_int_equal(armor_jwt_verify(t, NULL, NULL), ARMOR_OK);
  armor_free(t);
}

static void test_roundtrip_es256(void **state) {
  (void)state;
  roundtrip(NULL);
  roundtrip("ES256");
}

static void test_roundtrip_rs256(void **state) {
  (void)state;
  roundtrip("RS256");
}

static void test_sign_keeps_given_claims(void **state) {
  (void)state;
  json_t *c = claims_new(900);
  json_object_set_new(c, "jti", json_string("fixed-jti"));
  json_object_set_new(c, "iat", json_integer(armor_time() - 5));
  char *t = armor_jwt_sign(c, "at+jwt", NULL);
  assert_null(json_object_get(c, "iss")); /* the caller's object is not modified */
  json_decref(c);
  json_t *out;
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, &out), ARMOR_OK);
  assert_string_equal(json_string_value(json_object_get(out, "jti")), "fixed-jti");
  json_decref(out);
  json_t *h = header_of(t);
  assert_string_equal(json_string_value(json_object_get(h, "typ")), "at+jwt");
  json_decref(h);
  armor_free(t);
  assert_null(armor_jwt_sign(NULL, "JWT", NULL));
  json_t *c2 = claims_new(60);
  assert_null(armor_jwt_sign(c2, "JWT", "HS256"));
  assert_null(armor_jwt_sign(c2, "JWT", "none"));
  json_decref(c2);
}

static void test_alg_none_refused(void **state) {
  (void)state;
  char es[64], rs[64];
  current_kids(es, rs);
  char hdr[256];
  snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"JWT\"}", es);
  char *h = b64url_str(hdr), *p0 = claims_text(900, ISSUER), *p = b64url_str(p0);
  char *t = join3(h, p, "");
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  t = join3(h, p, "c2lnbmF0dXJl");
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  /* "None", without kid, too. */
  armor_free(h);
  h = b64url_str("{\"alg\":\"None\"}");
  t = join3(h, p, "");
  assert_int_equal(armor_jwt_verify(t, NULL, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  armor_free(h);
  armor_free(p);
  armor_free(p0);
}

static void test_hs256_with_public_key_refused(void **state) {
  (void)state;
  char es[64], rs[64];
  current_kids(es, rs);
  json_t *jwks = armor_keys_jwks();
  char *payload = claims_text(900, ISSUER);
  size_t i;
  json_t *k;
  int tried = 0;
  json_array_foreach(json_object_get(jwks, "keys"), i, k) {
    const char *kid = json_string_value(json_object_get(k, "kid"));
    /* HMAC secret = the published JWK text, and = the raw modulus / x coordinate. */
    char *jwk_text = json_dumps(k, JSON_COMPACT);
    const char *secrets[2] = {jwk_text, json_string_value(json_object_get(k, json_object_get(k, "n") ? "n" : "x"))};
    for (int s = 0; s < 2; s++) {
      cjose_err e;
      cjose_jwk_t *oct = cjose_jwk_create_oct_spec((const uint8_t *)secrets[s], strlen(secrets[s]), &e);
      assert_non_null(oct);
      char *t = forge(oct, "HS256", kid, payload);
      assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
      armor_free(t);
      cjose_jwk_release(oct);
      tried++;
    }
    armor_free(jwk_text);
  }
  assert_true(tried >= 4);
  armor_free(payload);
  json_decref(jwks);
}

static void test_alg_kid_mismatch_refused(void **state) {
  (void)state;
  char es[64], rs[64];
  current_kids(es, rs);
  /* A real RS256 token whose header claims the ES256 kid, and the other way round. */
  char *t = sign_default("RS256");
  char *dot1 = strchr(t, '.');
  char hdr[256];
  snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", es);
  char *h = b64url_str(hdr);
  char *forged = armor_malloc(strlen(h) + strlen(dot1) + 1);
  sprintf(forged, "%s%s", h, dot1);
  assert_int_equal(armor_jwt_verify(forged, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(forged);
  armor_free(h);
  snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", rs);
  h = b64url_str(hdr);
  forged = armor_malloc(strlen(h) + strlen(dot1) + 1);
  sprintf(forged, "%s%s", h, dot1);
  assert_int_equal(armor_jwt_verify(forged, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(forged);
  armor_free(h);
  armor_free(t);
}

static void test_edited_payload_refused(void **state) {
  (void)state;
  const char *algs[] = {"ES256", "RS256"};
  for (int a = 0; a < 2; a++) {
    char *t = sign_default(algs[a]);
    assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    json_t *c = claims_new(900);
    json_object_set_new(c, "iss", json_string(ISSUER));
    json_object_set_new(c, "sub", json_string("admin"));
    char *ct = json_dumps(c, JSON_COMPACT);
    char *p = b64url_str(ct);
    char *h = armor_strndup(t, (size_t)(d1 - t));
    char *forged = join3(h, p, d2 + 1);
    assert_int_equal(armor_jwt_verify(forged, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
    /* The cache slot hash covers the signature segment and the length: a token of the same length with
       the cached token's signature and one payload character changed lands on the cached entry and must
       still be refused, and must not disturb the cached token. */
    char *same = armor_strdup(t);
    size_t at = (size_t)(d1 - t) + 6;
    same[at] = same[at] == 'A' ? 'B' : 'A';
    assert_int_equal(armor_jwt_verify(same, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
    assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
    armor_free(same);
    /* A flipped signature byte too. */
    char *bad = armor_strdup(t);
    size_t n = strlen(bad);
    bad[n - 5] = bad[n - 5] == 'A' ? 'B' : 'A';
    assert_int_equal(armor_jwt_verify(bad, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
    armor_free(bad);
    armor_free(forged);
    armor_free(h);
    armor_free(p);
    armor_free(ct);
    json_decref(c);
    armor_free(t);
  }
}

static void test_wrong_iss_refused(void **state) {
  (void)state;
  json_t *c = claims_new(900);
  json_object_set_new(c, "iss", json_string("https://evil.example"));
  char *t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED); /* cached: same */
  armor_free(t);
  json_object_set_new(c, "iss", json_integer(5));
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  json_decref(c);
}

static void test_aud(void **state) {
  (void)state;
  json_t *c = claims_new(900);
  json_object_set_new(c, "aud", json_string("some-client"));
  char *t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_jwt_verify(t, "some-client", NULL), ARMOR_OK);
  assert_int_equal(armor_jwt_verify(t, "some-clien", NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  json_t *arr = json_array();
  json_array_append_new(arr, json_string("x"));
  json_array_append_new(arr, json_string(ARMOR_API_AUDIENCE));
  json_object_set_new(c, "aud", arr);
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  assert_int_equal(armor_jwt_verify(t, "y", NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  json_object_del(c, "aud");
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_jwt_verify(t, NULL, NULL), ARMOR_OK);
  armor_free(t);
  json_decref(c);
}

static void test_expired(void **state) {
  (void)state;
  json_t *c = claims_new(-10);
  char *t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_EXPIRED);
  assert_int_equal(armor_jwt_verify_ex(t, ARMOR_API_AUDIENCE, ARMOR_JWT_ALLOW_EXPIRED, NULL), ARMOR_OK);
  assert_int_equal(armor_jwt_verify_ex(t, "other", ARMOR_JWT_ALLOW_EXPIRED, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  /* No exp at all: refused. */
  json_object_del(c, "exp");
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  /* exp not a number. */
  json_object_set_new(c, "exp", json_string("tomorrow"));
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  /* nbf / iat far in the future. */
  json_object_set_new(c, "exp", json_integer(armor_time() + 900));
  json_object_set_new(c, "nbf", json_integer(armor_time() + 600));
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  json_object_del(c, "nbf");
  json_object_set_new(c, "iat", json_integer(armor_time() + 600));
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  json_object_set_new(c, "iat", json_integer(armor_time() + 10)); /* within the leeway */
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  armor_free(t);
  /* A cached token still expires. */
  json_object_del(c, "iat");
  json_object_set_new(c, "exp", json_integer(armor_time() + 2));
  t = armor_jwt_sign(c, "JWT", NULL);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  sleep(3);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_EXPIRED);
  armor_free(t);
  json_decref(c);
}

static void test_unknown_kid_refused(void **state) {
  (void)state;
  char es[64], rs[64];
  current_kids(es, rs);
  cjose_err e;
  cjose_jwk_t *other = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &e);
  assert_non_null(other);
  char *payload = claims_text(900, ISSUER);
  char *t = forge(other, "ES256", "no-such-kid", payload);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  t = forge(other, "ES256", NULL, payload); /* no kid */
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  t = forge(other, "ES256", es, payload); /* our kid, someone else's key */
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);
  cjose_jwk_release(other);
  armor_free(payload);
}

static void test_garbage_refused(void **state) {
  (void)state;
  const char *bad[] = {"", "a", "a.b", "a.b.c", "..", "...", "a..c", ".b.", "!!!.@@@.###", "eyJ.eyJ.eyJ",
                       "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.", "eyJhbGciOiJFUzI1NiJ9..c2ln", "a.b.c.d.e",
                       "Bearer x.y.z", "\xff\xfe.\x80.\x01", NULL};
  for (int i = 0; bad[i]; i++) assert_int_equal(armor_jwt_verify(bad[i], ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_jwt_verify(NULL, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  /* Huge. */
  size_t n = 1 << 20;
  char *huge = armor_malloc(n + 1);
  memset(huge, 'A', n);
  huge[1000] = '.';
  huge[n / 2] = '.';
  huge[n] = 0;
  assert_int_equal(armor_jwt_verify(huge, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(huge);
  /* Valid signature over a payload that is not a JSON object. */
  char es[64], rs[64];
  current_kids(es, rs);
  struct armor_keyset *ks = armor_keyset_get();
  const struct armor_key *k = armor_keyset_find(ks, es);
  assert_non_null(k);
  const char *payloads[] = {"[1,2,3]", "not json", "{\"exp\":1,\"exp\":2}", "\"str\"", "{}", NULL};
  for (int i = 0; payloads[i]; i++) {
    char *t = forge(k->sign, "ES256", es, payloads[i]);
    assert_int_equal(armor_jwt_verify(t, NULL, NULL), ARMOR_UNAUTHORIZED);
    armor_free(t);
  }
  /* A header with crit is refused. */
  cjose_err e;
  cjose_header_t *h = cjose_header_new(&e);
  cjose_header_set(h, CJOSE_HDR_ALG, "ES256", &e);
  cjose_header_set(h, CJOSE_HDR_KID, es, &e);
  json_t *crit = json_array();
  json_array_append_new(crit, json_string("exp"));
  json_object_set_new((json_t *)h, "crit", crit);
  char *payload = claims_text(900, ISSUER);
  cjose_jws_t *jws = cjose_jws_sign(k->sign, h, (const uint8_t *)payload, strlen(payload), &e);
  const char *ser;
  assert_true(cjose_jws_export(jws, &ser, &e));
  assert_int_equal(armor_jwt_verify(ser, NULL, NULL), ARMOR_UNAUTHORIZED);
  cjose_jws_release(jws);
  cjose_header_release(h);
  /* Sanity: the same forge path with a good payload passes. */
  char *t = forge(k->sign, "ES256", es, payload);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  armor_free(t);
  armor_free(payload);
  armor_keyset_put(ks);
}

static char *sign_with_sid(const char *sid) {
  json_t *c = claims_new(900);
  json_object_set_new(c, "sid", json_string(sid));
  char *t = armor_jwt_sign(c, "JWT", NULL);
  json_decref(c);
  return t;
}

static void test_revoked_sid_refused(void **state) {
  (void)state;
  char sid[37];
  armor_uuid_new(sid);
  char *t = sign_with_sid(sid);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK); /* now cached */
  assert_false(armor_session_is_revoked(sid));
  assert_int_equal(armor_revoke_session(sid, armor_time() + 900), ARMOR_OK);
  assert_true(armor_session_is_revoked(sid));
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_jwt_verify_ex(t, ARMOR_API_AUDIENCE, ARMOR_JWT_IGNORE_REVOKED, NULL), ARMOR_OK);
  assert_int_equal(armor_revoke_session(sid, armor_time() + 900), ARMOR_OK); /* idempotent */
  assert_int_equal(armor_revoke_session("", 0), ARMOR_INVALID);
  assert_int_equal(armor_revoke_session(NULL, 0), ARMOR_INVALID);
  armor_free(t);

  /* Another node's revocation (a row written straight to the table) is seen within 2 s. */
  char sid2[37];
  armor_uuid_new(sid2);
  t = sign_with_sid(sid2);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  assert_int_equal(armor_db_exec(armor_db_get(), NULL,
                                 "INSERT INTO revoked_sessions (sid, revoked_at, expires_at) VALUES ($1, $2, $3)", "tii",
                                 sid2, armor_time(), armor_time() + 900),
                   ARMOR_OK);
  int64_t t0 = armor_now_ms();
  while (armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL) == ARMOR_OK && armor_now_ms() - t0 < 3000) usleep(20000);
  int64_t took = armor_now_ms() - t0;
  assert_true(took < 2000);
  assert_int_equal(armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL), ARMOR_UNAUTHORIZED);
  armor_free(t);

  /* Expired revocations are pruned from memory; a sid without tokens in flight is unaffected. */
  char sid3[37];
  armor_uuid_new(sid3);
  assert_int_equal(armor_revoke_session(sid3, armor_time() - 3600), ARMOR_OK);
  assert_true(armor_session_is_revoked(sid3));
  armor_revocation_prune();
  assert_false(armor_session_is_revoked(sid3));
  assert_true(armor_session_is_revoked(sid));
}

static void test_rotation(void **state) {
  (void)state;
  char es1[64], rs1[64];
  current_kids(es1, rs1);
  char *t_es = sign_default("ES256"), *t_rs = sign_default("RS256");
  json_t *before = armor_keys_jwks();
  size_t n_before = json_array_size(json_object_get(before, "keys"));
  assert_true(n_before >= 2);
  json_decref(before);

  assert_int_equal(armor_keys_rotate(), 0);
  char es2[64], rs2[64];
  current_kids(es2, rs2);
  assert_string_not_equal(es1, es2);
  assert_string_not_equal(rs1, rs2);

  json_t *jwks = armor_keys_jwks();
  json_t *keys = json_object_get(jwks, "keys");
  assert_int_equal(json_array_size(keys), n_before + 2);
  int found = 0;
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) {
    const char *kid = json_string_value(json_object_get(k, "kid"));
    const char *kty = json_string_value(json_object_get(k, "kty"));
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    assert_null(json_object_get(k, "d")); /* never a private member */
    assert_null(json_object_get(k, "p"));
    char tp[64];
    assert_int_equal(armor_jwk_thumbprint(k, tp), 0);
    assert_string_equal(tp, kid);
    if (!strcmp(kty, "EC")) {
      assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES256");
      assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-256");
      assert_non_null(json_object_get(k, "x"));
      assert_non_null(json_object_get(k, "y"));
    } else {
      assert_string_equal(kty, "RSA");
      assert_string_equal(json_string_value(json_object_get(k, "alg")), "RS256");
      assert_non_null(json_object_get(k, "n"));
      assert_string_equal(json_string_value(json_object_get(k, "e")), "AQAB");
    }
    if (!strcmp(kid, es1) || !strcmp(kid, rs1) || !strcmp(kid, es2) || !strcmp(kid, rs2)) found++;
  }
  assert_int_equal(found, 4);
  json_decref(jwks);

  /* Old tokens still verify (even uncached); new tokens carry the new kid. */
  armor_jwt_cache_clear();
  assert_int_equal(armor_jwt_verify(t_es, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  assert_int_equal(armor_jwt_verify(t_rs, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  char *t_new = sign_default(NULL);
  json_t *h = header_of(t_new);
  assert_string_equal(json_string_value(json_object_get(h, "kid")), es2);
  json_decref(h);
  assert_int_equal(armor_jwt_verify(t_new, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);

  /* A scheduled pass with a long period does nothing; the retired keys carry a publication end. */
  assert_int_equal(armor_keys_rotate_older_than(86400), ARMOR_OK);
  char es3[64], rs3[64];
  current_kids(es3, rs3);
  assert_string_equal(es2, es3);
  struct armor_keyset *ks = armor_keyset_get();
  const struct armor_key *old = armor_keyset_find(ks, es1);
  assert_non_null(old);
  assert_false(old->active);
  assert_true(old->not_after >= armor_time() + 900);
  armor_keyset_put(ks);

  /* A key another node has just written (straight into the table here) is picked up on its unknown kid. */
  cjose_err e;
  cjose_jwk_t *nk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &e);
  char *pub_text = cjose_jwk_to_json(nk, false, &e), *priv_text = cjose_jwk_to_json(nk, true, &e);
  json_t *pub = json_loads(pub_text, 0, NULL);
  char kid[64];
  assert_int_equal(armor_jwk_thumbprint(pub, kid), 0);
  char *enc = armor_secret_encrypt(priv_text, strlen(priv_text));
  assert_int_equal(armor_db_exec(armor_db_get(), NULL,
                                 "INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, active, "
                                 "retired_at, not_after) VALUES ($1, 'ES256', $2, $3, $4, 0, $4, $5)",
                                 "tttii", kid, pub_text, enc, armor_time(), armor_time() + 3600),
                   ARMOR_OK);
  char *payload = claims_text(900, ISSUER);
  char *t_other = forge(nk, "ES256", kid, payload);
  usleep(1100 * 1000); /* the unknown-kid reload is rate limited to once a second */
  assert_int_equal(armor_jwt_verify(t_other, ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  jwks = armor_keys_jwks();
  assert_int_equal(json_array_size(json_object_get(jwks, "keys")), n_before + 3);
  json_decref(jwks);
  armor_free(t_other);
  armor_free(payload);
  armor_free(enc);
  json_decref(pub);
  cjose_get_dealloc()(pub_text);
  cjose_get_dealloc()(priv_text);
  cjose_jwk_release(nk);
  armor_free(t_es);
  armor_free(t_rs);
  armor_free(t_new);
}

static void test_at_hash_and_thumbprint(void **state) {
  (void)state;
  char out[64];
  /* OpenID Connect Core, appendix A.3. */
  assert_int_equal(armor_jwt_at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256", out), 0);
  assert_string_equal(out, "77QmUPtjPfzWtF2AnpK9RQ");
  assert_int_equal(armor_jwt_at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "ES256", out), 0);
  assert_string_equal(out, "77QmUPtjPfzWtF2AnpK9RQ");
  assert_int_equal(armor_jwt_at_hash("x", "HS256", out), -1);
  /* RFC 7638, section 3.1. */
  json_t *k = json_pack(
    "{s:s, s:s, s:s, s:s}", "kty", "RSA", "e", "AQAB", "alg", "RS256", "n",
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
    "5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");
  assert_int_equal(armor_jwk_thumbprint(k, out), 0);
  assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  json_decref(k);
  k = json_pack("{s:s}", "kty", "oct");
  assert_int_equal(armor_jwk_thumbprint(k, out), -1);
  json_decref(k);
}

/* ---- borrowed claims and memos ---- */

static atomic_int memo_builds;

/* A memo: the compact claims text (one armor_malloc'ed block). */
static void *memo_text(const json_t *claims) {
  atomic_fetch_add(&memo_builds, 1);
  char *s = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
  return s;
}

static void *memo_none(const json_t *claims) {
  (void)claims;
  atomic_fetch_add(&memo_builds, 1);
  return NULL;
}

static void test_ref_and_memo(void **state) {
  (void)state;
  char sid[37];
  armor_uuid_new(sid);
  json_t *c = claims_new(2);
  json_object_set_new(c, "sid", json_string(sid));
  char *t = armor_jwt_sign(c, "JWT", NULL);
  json_decref(c);
  assert_non_null(t);

  /* Cached: every caller gets the same shared claims, no copy. */
  struct armor_jwt_ref *a = NULL, *b = NULL;
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, 0, &a), ARMOR_OK);
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, 0, &b), ARMOR_OK);
  assert_non_null(a);
  assert_ptr_equal(armor_jwt_ref_claims(a), armor_jwt_ref_claims(b));
  assert_string_equal(json_string_value(json_object_get(armor_jwt_ref_claims(a), "sid")), sid);
  armor_jwt_ref_put(b);
  assert_int_equal(armor_jwt_verify_ref(t, "someone-else", 0, &b), ARMOR_UNAUTHORIZED);
  assert_null(b);

  /* A memo is built once per cached token; a make that gives nothing keeps nothing. */
  atomic_store(&memo_builds, 0);
  assert_null(armor_jwt_ref_memo(a, ARMOR_JWT_MEMO_INTROSPECT, memo_none));
  const char *m1 = armor_jwt_ref_memo(a, ARMOR_JWT_MEMO_INTROSPECT, memo_text);
  assert_non_null(m1);
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, 0, &b), ARMOR_OK);
  const char *m2 = armor_jwt_ref_memo(b, ARMOR_JWT_MEMO_INTROSPECT, memo_text);
  assert_ptr_equal(m1, m2);
  assert_int_equal(atomic_load(&memo_builds), 2);
  assert_null(armor_jwt_ref_memo(b, ARMOR_JWT_MEMO_SLOTS, memo_text));
  armor_jwt_ref_put(b);

  /* A reference outlives the cache entry (cleared or evicted). */
  armor_jwt_cache_clear();
  assert_string_equal(json_string_value(json_object_get(armor_jwt_ref_claims(a), "sid")), sid);
  assert_non_null(strstr(m1, sid));
  armor_jwt_ref_put(a);
  armor_jwt_ref_put(NULL);

  /* Revocation and expiry are checked on every call, memo or not. */
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, 0, &a), ARMOR_OK);
  assert_non_null(armor_jwt_ref_memo(a, ARMOR_JWT_MEMO_INTROSPECT, memo_text));
  armor_jwt_ref_put(a);
  assert_int_equal(armor_revoke_session(sid, armor_time() + 60), ARMOR_OK);
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, 0, &a), ARMOR_UNAUTHORIZED);
  assert_null(a);
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, ARMOR_JWT_IGNORE_REVOKED, &a), ARMOR_OK);
  armor_jwt_ref_put(a);
  sleep(3);
  assert_int_equal(armor_jwt_verify_ref(t, ARMOR_API_AUDIENCE, ARMOR_JWT_IGNORE_REVOKED, &a), ARMOR_EXPIRED);
  assert_null(a);
  assert_int_equal(armor_jwt_verify_ref(NULL, NULL, 0, &a), ARMOR_UNAUTHORIZED);
  armor_free(t);
}

/* ---- concurrency and speed ---- */

struct worker {
  char **tokens;
  int ntokens, iterations, ok;
};

static void *sign_worker(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < w->iterations; i++) {
    json_t *c = claims_new(900);
    char *t = armor_jwt_sign(c, "JWT", i % 4 ? "ES256" : "RS256");
    json_decref(c);
    if (t && armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL) == ARMOR_OK) w->ok++;
    armor_free(t);
  }
  return NULL;
}

static void *verify_worker(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < w->iterations; i++) {
    json_t *c = NULL;
    if (armor_jwt_verify(w->tokens[i % w->ntokens], ARMOR_API_AUDIENCE, &c) == ARMOR_OK) w->ok++;
    json_decref(c);
  }
  return NULL;
}

/* Borrowed claims and their memo, while other threads verify, evict and clear: the memo always matches. */
static void *ref_worker(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < w->iterations; i++) {
    struct armor_jwt_ref *ref = NULL;
    if (armor_jwt_verify_ref(w->tokens[i % w->ntokens], ARMOR_API_AUDIENCE, 0, &ref) != ARMOR_OK) continue;
    const char *m = armor_jwt_ref_memo(ref, ARMOR_JWT_MEMO_INTROSPECT, memo_text);
    const char *jti = json_string_value(json_object_get(armor_jwt_ref_claims(ref), "jti"));
    if (m && jti && strstr(m, jti)) w->ok++;
    armor_jwt_ref_put(ref);
  }
  return NULL;
}

static void test_concurrent_and_rates(void **state) {
  (void)state;
  enum { NT = 64, THREADS = 4 };
  char *tokens[NT];
  int64_t t0 = armor_now_us();
  for (int i = 0; i < NT; i++) {
    json_t *c = claims_new(900);
    char sid[37];
    armor_uuid_new(sid);
    json_object_set_new(c, "sid", json_string(sid));
    tokens[i] = armor_jwt_sign(c, "JWT", NULL);
    json_decref(c);
    assert_non_null(tokens[i]);
  }
  double sign_rate = NT / ((armor_now_us() - t0) / 1e6);
  armor_jwt_cache_clear();
  t0 = armor_now_us();
  for (int i = 0; i < NT; i++) assert_int_equal(armor_jwt_verify(tokens[i], ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  double miss_rate = NT / ((armor_now_us() - t0) / 1e6);
  int iters = 20000;
  t0 = armor_now_us();
  for (int i = 0; i < iters; i++) {
    json_t *c = NULL;
    assert_int_equal(armor_jwt_verify(tokens[i % NT], ARMOR_API_AUDIENCE, &c), ARMOR_OK);
    json_decref(c);
  }
  double hit_rate = iters / ((armor_now_us() - t0) / 1e6);
  fprintf(stderr, "    ES256 sign %.0f/s, verify uncached %.0f/s, verify cached %.0f/s (one thread%s)\n", sign_rate,
          miss_rate, hit_rate, getenv("ARMOR_SANITIZED") ? ", sanitizer build" : "");

  /* Several threads on shared and evicting entries while revocations arrive. */
  pthread_t th[THREADS], sth[2];
  struct worker w[THREADS], sw[2];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker){tokens, NT, 5000, 0};
    pthread_create(&th[i], NULL, i % 2 ? ref_worker : verify_worker, &w[i]);
  }
  for (int i = 0; i < 2; i++) {
    sw[i] = (struct worker){NULL, 0, 200, 0};
    pthread_create(&sth[i], NULL, sign_worker, &sw[i]);
  }
  for (int i = 0; i < 8; i++) {
    char sid[37];
    armor_uuid_new(sid);
    armor_revoke_session(sid, armor_time() + 60);
  }
  armor_jwt_cache_clear();
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].ok, 5000);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(sth[i], NULL);
    assert_int_equal(sw[i].ok, 200);
  }
  for (int i = 0; i < NT; i++) armor_free(tokens[i]);
}

/* ---------------------------------------------------------------- the first RS256 key */

/* Holds a write lock on signing_keys (its own connection) from state 1 until the test sets state 2. */
struct key_lock {
  pthread_mutex_t m;
  pthread_cond_t c;
  int state;
  int rc;
};

static void *hold_signing_keys(void *arg) {
  struct key_lock *h = arg;
  struct armor_db *db = armor_db_get();
  int rc = armor_db_begin(db); /* SQLite: BEGIN IMMEDIATE takes the write lock */
  if (!rc && armor_store_kind() == ARMOR_DB_POSTGRES)
    rc = armor_db_exec(db, NULL, "LOCK TABLE signing_keys IN EXCLUSIVE MODE", ""); /* reads still pass */
  pthread_mutex_lock(&h->m);
  h->rc = rc;
  h->state = 1;
  pthread_cond_broadcast(&h->c);
  while (h->state != 2) pthread_cond_wait(&h->c, &h->m);
  pthread_mutex_unlock(&h->m);
  armor_db_rollback(db);
  armor_store_close();
  return NULL;
}

/* Signs with the alg in *arg (ES256 or RS256) and leaves the token there. */
static void *sign_worker_alg(void *arg) {
  char **io = arg;
  json_t *c = claims_new(900);
  *io = armor_jwt_sign(c, "JWT", *io);
  json_decref(c);
  armor_store_close();
  return NULL;
}

static int64_t count_keys(const char *alg) {
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "SELECT COUNT(*) FROM signing_keys WHERE alg = $1 AND active = 1", "t", alg);
  assert_non_null(st);
  assert_int_equal(armor_stmt_step(st), 1);
  int64_t n = armor_stmt_int(st, 0);
  armor_stmt_done(st);
  return n;
}

static size_t jwks_count(const char *alg, const char *kid) {
  json_t *jwks = armor_keys_jwks();
  size_t i, n = 0;
  json_t *k;
  json_array_foreach(json_object_get(jwks, "keys"), i, k) {
    if (alg && strcmp(json_string_value(json_object_get(k, "alg")), alg)) continue;
    if (kid && strcmp(json_string_value(json_object_get(k, "kid")), kid)) continue;
    n++;
  }
  json_decref(jwks);
  return n;
}

/*
 * A database without an RS256 key (a new one): start-up makes only the ES256 key, the key service's
 * thread makes the RS256 key afterwards, and a signer that asks for RS256 meanwhile waits for it.
 */
static void test_rs256_key_made_after_start(void **state) {
  (void)state;
  struct armor_db *db = armor_db_get();
  armor_keys_stop();
  assert_int_equal(armor_db_exec(db, NULL, "DELETE FROM signing_keys WHERE alg = 'RS256'", ""), ARMOR_OK);

  /* A stop while the key is being made returns (the generation is cancelled or has just finished). */
  assert_int_equal(armor_keys_start(), 0);
  armor_keys_stop();
  assert_true(count_keys("RS256") <= 1);
  assert_int_equal(count_keys("ES256"), 1);
  assert_int_equal(armor_db_exec(db, NULL, "DELETE FROM signing_keys WHERE alg = 'RS256'", ""), ARMOR_OK);

  /* With writes to signing_keys held back, the RS256 key cannot be stored: start-up still succeeds. */
  /* static: a failed assertion leaves the threads running */
  static struct key_lock h = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};
  pthread_t holder, signers[2];
  assert_int_equal(pthread_create(&holder, NULL, hold_signing_keys, &h), 0);
  pthread_mutex_lock(&h.m);
  while (h.state != 1) pthread_cond_wait(&h.c, &h.m);
  pthread_mutex_unlock(&h.m);
  assert_int_equal(h.rc, ARMOR_OK);

  assert_int_equal(armor_keys_start(), 0);
  struct armor_keyset *ks = armor_keyset_peek();
  assert_non_null(ks);
  assert_non_null(ks->signer_es256);
  assert_null(ks->signer_rs256);
  armor_keyset_put(ks);
  assert_true(jwks_count("ES256", NULL) >= 1);
  assert_int_equal(jwks_count("RS256", NULL), 0);

  /* Signatures asked for now wait for the key (armor_keyset_get) instead of failing. */
  static char *tokens[2];
  tokens[0] = "ES256";
  tokens[1] = "RS256";
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&signers[i], NULL, sign_worker_alg, &tokens[i]), 0);
  pthread_mutex_lock(&h.m);
  h.state = 2;
  pthread_cond_broadcast(&h.c);
  pthread_mutex_unlock(&h.m);
  pthread_join(holder, NULL);
  for (int i = 0; i < 2; i++) pthread_join(signers[i], NULL);
  assert_non_null(tokens[0]);
  assert_non_null(tokens[1]);

  char es[64], rs[64];
  current_kids(es, rs);
  const char *const algs[2] = {"ES256", "RS256"}, *kids[2] = {es, rs};
  for (int i = 0; i < 2; i++) {
    json_t *hdr = header_of(tokens[i]);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), algs[i]);
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), kids[i]);
    json_decref(hdr);
    assert_int_equal(armor_jwt_verify(tokens[i], ARMOR_API_AUDIENCE, NULL), ARMOR_OK);
  }
  assert_int_equal(jwks_count("RS256", rs), 1);
  assert_int_equal(count_keys("RS256"), 1);
  for (int i = 0; i < 2; i++) armor_free(tokens[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_roundtrip_es256),
    cmocka_unit_test(test_roundtrip_rs256),
    cmocka_unit_test(test_sign_keeps_given_claims),
    cmocka_unit_test(test_alg_none_refused),
    cmocka_unit_test(test_hs256_with_public_key_refused),
    cmocka_unit_test(test_alg_kid_mismatch_refused),
    cmocka_unit_test(test_edited_payload_refused),
    cmocka_unit_test(test_wrong_iss_refused),
    cmocka_unit_test(test_aud),
    cmocka_unit_test(test_expired),
    cmocka_unit_test(test_unknown_kid_refused),
    cmocka_unit_test(test_garbage_refused),
    cmocka_unit_test(test_revoked_sid_refused),
    cmocka_unit_test(test_ref_and_memo),
    cmocka_unit_test(test_rotation),
    cmocka_unit_test(test_at_hash_and_thumbprint),
    cmocka_unit_test(test_concurrent_and_rates),
    cmocka_unit_test(test_rs256_key_made_after_start),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
