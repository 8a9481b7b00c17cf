/*
 * armor_jwt_verify on arbitrary input, with a key service on a temporary
 * SQLite store and an ephemeral master key. The first byte picks the mode:
 *   0: the rest is the token, as is;
 *   1: "header\x01payload\x01signature": header and payload are base64url-encoded
 *      by the harness (so that the fuzzer reaches the JSON and claim checks);
 *   2: the rest is a claims object that Armor signs (ES256, or RS256 / at+jwt
 *      by the second byte) and then verifies: the claim checks on signed input;
 *   3: a valid token with input-driven byte edits (offset, xor) pairs.
 * Oracles: no sanitizer report; the result is one of OK/UNAUTHORIZED/EXPIRED;
 * claims are an object on OK; an edited token never verifies unless unchanged.
 */
#include "fuzz_common.h"
#include "auth/tokens.h"
#include "core/config.h"
#include "core/secret.h"
#include "store/store.h"

#include <assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

static char *valid_token;

static void cleanup(void) {
  armor_keys_stop();
  armor_store_close();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf /tmp/armor-fuzz-jwt-%d", (int)getpid());
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (sodium_init() < 0) abort();
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_ERR;
  armor_secret_init_ephemeral();
  armor_cfg.public_url = armor_strdup("https://armor.fuzz");
  char url[128], err[512] = "";
  snprintf(url, sizeof url, "sqlite:/tmp/armor-fuzz-jwt-%d/armor.db", (int)getpid());
  if (armor_store_open(url, err, sizeof err) || armor_store_migrate(err, sizeof err)) {
    fprintf(stderr, "store: %s\n", err);
    abort();
  }
  if (armor_keys_start() != 0) abort();
  atexit(cleanup);
  json_t *c = json_object();
  json_object_set_new(c, "sub", json_string("3f1c6a0e-5d2b-4d7e-9a61-0c7f2b9d8e11"));
  json_object_set_new(c, "aud", json_string(ARMOR_API_AUDIENCE));
  json_object_set_new(c, "exp", json_integer(armor_time() + 365 * 86400));
  valid_token = armor_jwt_sign(c, "JWT", NULL);
  json_decref(c);
  assert(valid_token && armor_jwt_verify(valid_token, ARMOR_API_AUDIENCE, NULL) == ARMOR_OK);
  return 0;
}

static char *b64url(const char *s, size_t n) {
  size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = malloc(cap);
  sodium_bin2base64(out, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

static void verify(const char *token) {
  static const char *auds[] = {ARMOR_API_AUDIENCE, NULL, "other"};
  for (size_t i = 0; i < 3; i++) {
    json_t *claims = NULL;
    int rc = armor_jwt_verify(token, auds[i], &claims);
    assert(rc == ARMOR_OK || rc == ARMOR_UNAUTHORIZED || rc == ARMOR_EXPIRED);
    if (rc == ARMOR_OK)
      assert(json_is_object(claims));
    else
      assert(!claims);
    json_decref(claims);
    rc = armor_jwt_verify_ex(token, auds[i], ARMOR_JWT_ALLOW_EXPIRED | ARMOR_JWT_IGNORE_REVOKED, &claims);
    assert(rc == ARMOR_OK || rc == ARMOR_UNAUTHORIZED || rc == ARMOR_EXPIRED);
    json_decref(claims);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 1 << 14) return 0;
  uint8_t mode = data[0] & 3;
  data++;
  size--;
  if (mode == 0) {
    char *t = fz_str(data, size);
    verify(t);
    free(t);
  } else if (mode == 1) {
    char *h, *rest, *p, *s;
    fz_split(data, size, 1, &h, &rest);
    fz_split((const uint8_t *)rest, strlen(rest), 1, &p, &s);
    char *hb = b64url(h, strlen(h)), *pb = b64url(p, strlen(p));
    size_t n = strlen(hb) + strlen(pb) + strlen(s) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", hb, pb, s);
    verify(t);
    free(t);
    free(hb);
    free(pb);
    free(h);
    free(rest);
    free(p);
    free(s);
  } else if (mode == 2) {
    if (!size) return 0;
    uint8_t flags = data[0];
    json_error_t e;
    json_t *c = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &e);
    if (c && json_is_object(c)) {
      char *t = armor_jwt_sign(c, (flags & 1) ? "at+jwt" : "JWT", (flags & 2) ? "RS256" : NULL);
      if (t) {
        verify(t);
        armor_free(t);
      }
    }
    json_decref(c);
  } else {
    char *t = armor_strdup(valid_token);
    size_t n = strlen(t);
    bool changed = false;
    for (size_t i = 0; i + 1 < size; i += 2) {
      size_t off = data[i] % n;
      char x = (char)(t[off] ^ data[i + 1]);
      if (!x) continue;
      if (x != t[off]) changed = true;
      t[off] = x;
    }
    int rc = armor_jwt_verify(t, ARMOR_API_AUDIENCE, NULL);
    /* Flipping bits of a signed token must not keep it valid (base64url is canonical since 605702c). */
    if (changed && strcmp(t, valid_token)) assert(rc != ARMOR_OK);
    verify(t);
    armor_free(t);
  }
  return 0;
}
