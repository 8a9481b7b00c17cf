/*
 * The OAuth service without HTTP, against a temporary SQLite database (or
 * PostgreSQL when ARMOR_TEST_PG is set): redirect URI and scope rules, PKCE,
 * page escaping, clients and their secrets, codes (single use, replay revokes
 * the grant), refresh rotation with reuse detection, and revocation by jti.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/accounts.h"
#include "auth/tokens.h"
#include "core/config.h"
#include "core/secret.h"
#include "oauth/oauth.h"
#include "oauth/oauth_int.h"
#include "oauth/pages.h"
#include "settings/settings.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../support/service_db.h"



static void redirect_uris_follow_the_rules(void **state) {
  (void)state;
  char why[128];
  static const char *const good[] = {"https://app.example.com/cb",
                                     "https://app.example.com:8443/cb?x=1",
                                     "http://127.0.0.1:9000/cb",
                                     "http://localhost/cb",
                                     "http://[::1]/cb",
                                     "com.example.app:/oauth2redirect",
                                     NULL};
  static const char *const bad[] = {"http://app.example.com/cb",
                                    "https://app.example.com/cb#x",
                                    "javascript:alert(1)",
                                    "data:text/html,x",
                                    "/relative",
                                    "https://u:p@app.example.com/cb",
                                    "https:///cb",
                                    "HTTPS://app.example.com/cb",
                                    "https://app.example.com/c b",
                                    "",
                                    "vbscript:x",
                                    "file:///etc/passwd",
                                    "http://127.0.0.1.evil.example/cb",
                                    NULL};
  for (const char *const *u = good; *u; u++) assert_true(armor_oauth_redirect_uri_ok(*u, why, sizeof why));
  for (const char *const *u = bad; *u; u++) {
    if (armor_oauth_redirect_uri_ok(*u, why, sizeof why)) fail_msg("accepted %s", *u);
  }
  json_t *list = json_pack("[s]", "https://app.example.com/cb");
  assert_true(armor_oauth_uri_listed(list, "https://app.example.com/cb"));
  assert_false(armor_oauth_uri_listed(list, "https://app.example.com/cb/"));
  assert_false(armor_oauth_uri_listed(list, "https://APP.example.com/cb"));
  assert_false(armor_oauth_uri_listed(list, "https://app.example.com/x/../cb"));
  assert_false(armor_oauth_uri_listed(list, "https://app.example.com/cb?x=1"));
  assert_false(armor_oauth_uri_listed(list, NULL));
  json_decref(list);
}

static void resources_follow_the_rules(void **state) {
  (void)state;
  char why[128];
  static const char *const good[] = {"https://api.example.com/", "https://api.example.com:8443/v1?x=1",
                                     "http://127.0.0.1:9000/rs", "http://localhost/rs", NULL};
  static const char *const bad[] = {"http://api.example.com/",
                                    "https://api.example.com/#f",
                                    "com.example.app:/rs",
                                    "urn:example:rs",
                                    "/relative",
                                    "https://u:p@api.example.com/",
                                    "",
                                    "HTTPS://api.example.com/",
                                    NULL};
  for (const char *const *u = good; *u; u++) assert_true(armor_oauth_resource_uri_ok(*u, why, sizeof why));
  for (const char *const *u = bad; *u; u++)
    if (armor_oauth_resource_uri_ok(*u, why, sizeof why)) fail_msg("accepted %s", *u);
  json_t *in = json_pack("{s:s, s:[s], s:[s,s]}", "name", "rs", "grant_types", "client_credentials", "resources",
                         "https://api.example.com/", "http://127.0.0.1:9000/rs");
  json_t *out = NULL;
  struct armor_oauth_verr e = {0};
  assert_int_equal(armor_oauth_client_create(in, NULL, &out, &e), ARMOR_OK);
  json_decref(in);
  const char *id = json_string_value(json_object_get(out, "client_id"));
  const char *secret = json_string_value(json_object_get(out, "client_secret"));
  /* An authenticated (cached, list-less) copy still knows the resources. */
  struct armor_oauth_client c;
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, secret, &c), ARMOR_OK);
  assert_null(c.resources);
  assert_true(armor_oauth_resource_allowed(&c, "https://api.example.com/"));
  assert_true(armor_oauth_resource_allowed(&c, "http://127.0.0.1:9000/rs"));
  assert_false(armor_oauth_resource_allowed(&c, "https://api.example.com"));
  assert_false(armor_oauth_resource_allowed(&c, "https://evil.example.com/"));
  assert_false(armor_oauth_resource_allowed(&c, NULL));
  struct armor_oauth_error err = {0};
  assert_false(armor_oauth_resource_check(&c, "https://evil.example.com/", &err));
  assert_string_equal(err.error, "invalid_target");
  assert_true(armor_oauth_resource_check(&c, NULL, &err));
  json_decref(out);
}

static void scopes_are_tokens(void **state) {
  (void)state;
  assert_true(armor_oauth_scope_valid("openid profile"));
  assert_false(armor_oauth_scope_valid("openid  profile"));
  assert_false(armor_oauth_scope_valid(" openid"));
  assert_false(armor_oauth_scope_valid("openid "));
  assert_false(armor_oauth_scope_valid("a\"b"));
  assert_false(armor_oauth_scope_valid(""));
  assert_true(armor_oauth_scope_has("openid profile", "profile"));
  assert_false(armor_oauth_scope_has("openid profile", "pro"));
  assert_true(armor_oauth_scope_subset("profile openid", "openid email profile"));
  assert_false(armor_oauth_scope_subset("openid admin", "openid email profile"));
  assert_true(armor_oauth_scope_subset("", "openid"));
}

static void pkce_s256_matches_rfc7636_vector(void **state) {
  (void)state;
  assert_true(armor_oauth_pkce_s256_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                                            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  assert_false(armor_oauth_pkce_s256_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
                                             "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
}

static void pages_escape_everything(void **state) {
  (void)state;
  struct armor_oauth_page p = {"<App>", "\"Evil\" & <script>", "req\"x", "csrf'y"};
  char *h = armor_oauth_page_login(&p, "<b>", "<i>err</i>");
  assert_null(strstr(h, "<script>"));
  assert_null(strstr(h, "<b>"));
  assert_null(strstr(h, "<i>"));
  assert_non_null(strstr(h, "&quot;Evil&quot; &amp; &lt;script&gt;"));
  assert_non_null(strstr(h, "name=\"username\""));
  assert_non_null(strstr(h, "name=\"password\""));
  assert_non_null(strstr(h, "value=\"req&quot;x\""));
  armor_free(h);
  h = armor_oauth_page_consent(&p, "<u>", "openid <x>");
  assert_null(strstr(h, "<x>"));
  assert_non_null(strstr(h, "value=\"allow\""));
  assert_non_null(strstr(h, "value=\"deny\""));
  armor_free(h);
}

/* The introspection answer, parsed (it is compact JSON text). */
static json_t *introspect(const struct armor_oauth_client *c, const char *token) {
  size_t len = 0;
  char *text = armor_oauth_introspect(c, token, NULL, &len);
  assert_non_null(text);
  assert_int_equal(strlen(text), len);
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
  armor_free(text);
  assert_non_null(o);
  return o;
}

static json_t *client_input(const char *grants) {
  json_t *in = json_pack("{s:s, s:[s], s:[s,s]}", "name", "t", "redirect_uris", "https://app.example.com/cb", "scopes",
                         "openid", "api");
  json_t *g = json_array();
  char buf[128];
  armor_fmt(buf, sizeof buf, "%s", grants);
  for (char *s = buf, *e; s && *s; s = e ? e + 1 : NULL) {
    e = strchr(s, ' ');
    if (e) *e = 0;
    json_array_append_new(g, json_string(s));
  }
  json_object_set_new(in, "grant_types", g);
  return in;
}

static void secrets_are_hashed_rotated_and_checked(void **state) {
  (void)state;
  json_t *in = client_input("client_credentials"), *out = NULL;
  struct armor_oauth_verr e = {0};
  assert_int_equal(armor_oauth_client_create(in, NULL, &out, &e), ARMOR_OK);
  json_decref(in);
  const char *id = json_string_value(json_object_get(out, "client_id"));
  const char *secret = json_string_value(json_object_get(out, "client_secret"));
  assert_int_equal(strlen(secret), 43);
  struct armor_oauth_client c;
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, secret, &c), ARMOR_OK);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, secret, &c), ARMOR_OK); /* cached */
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, "wrong", &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, NULL, &c), ARMOR_UNAUTHORIZED);
  /* the stored value is a hash, not the secret */
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "SELECT secret_hash FROM oauth_clients WHERE id = $1", "t", id);
  assert_int_equal(armor_stmt_step(st), 1);
  assert_string_not_equal(armor_stmt_text(st, 0), secret);
  armor_stmt_done(st);
  char fresh[64];
  assert_int_equal(armor_oauth_client_rotate_secret(id, fresh), ARMOR_OK);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, secret, &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, fresh, &c), ARMOR_OK);
  json_t *t = armor_oauth_client_credentials(&c, "api", NULL, &(struct armor_oauth_error){0});
  assert_non_null(t);
  const char *at = json_string_value(json_object_get(t, "access_token"));
  json_t *i = introspect(&c, at);
  assert_true(json_is_true(json_object_get(i, "active")));
  json_decref(i);
  assert_int_equal(armor_oauth_revoke(&c, at, NULL), ARMOR_OK);
  i = introspect(&c, at);
  assert_true(json_is_false(json_object_get(i, "active")));
  json_decref(i);
  json_decref(t);
  assert_int_equal(armor_oauth_client_delete(id), ARMOR_OK);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id, fresh, &c), ARMOR_UNAUTHORIZED);
  json_decref(out);
}

static void codes_are_single_use_and_replay_revokes(void **state) {
  (void)state;
  struct armor_user_new un = {.username = "carol", .password = "carol-password"};
  struct armor_user u;
  char field[32], msg[160];
  assert_int_equal(armor_accounts_create(&un, &u, field, sizeof field, msg, sizeof msg), ARMOR_OK);
  json_t *in = client_input("authorization_code refresh_token"), *out = NULL;
  struct armor_oauth_verr e = {0};
  assert_int_equal(armor_oauth_client_create(in, NULL, &out, &e), ARMOR_OK);
  json_decref(in);
  struct armor_oauth_client c;
  assert_int_equal(armor_oauth_client_get(json_string_value(json_object_get(out, "client_id")), &c), ARMOR_OK);
  const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  struct armor_oauth_authz a = {.kind = "oauth",
                                .client = &c,
                                .user_id = u.id,
                                .scope = "openid",
                                .redirect_uri = "https://app.example.com/cb",
                                .nonce = "n",
                                .code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                                .auth_time = armor_time()};
  char code[64];
  assert_int_equal(armor_oauth_code_issue(&a, code), ARMOR_OK);
  struct armor_oauth_grant g;
  struct armor_oauth_error err;
  /* the wrong kind of endpoint cannot redeem it (and burns it) */
  char code2[64];
  assert_int_equal(armor_oauth_code_issue(&a, code2), ARMOR_OK);
  assert_int_equal(armor_oauth_code_redeem("api", &c, code2, a.redirect_uri, verifier, &g, &err), ARMOR_INVALID);
  assert_int_equal(armor_oauth_code_redeem("oauth", &c, code, a.redirect_uri, verifier, &g, &err), ARMOR_OK);
  json_t *t = armor_oauth_tokens_for_grant(&c, &g, NULL, NULL, &err);
  assert_non_null(t);
  assert_non_null(json_object_get(t, "id_token"));
  const char *rt = json_string_value(json_object_get(t, "refresh_token"));
  assert_non_null(rt);
  json_t *t2 = armor_oauth_refresh(&c, rt, NULL, NULL, &err);
  assert_non_null(t2);
  /* replaying the code revokes the grant: the rotated refresh token dies too */
  assert_int_equal(armor_oauth_code_redeem("oauth", &c, code, a.redirect_uri, verifier, &g, &err), ARMOR_INVALID);
  assert_string_equal(err.error, "invalid_grant");
  assert_null(armor_oauth_refresh(&c, json_string_value(json_object_get(t2, "refresh_token")), NULL, NULL, &err));
  json_t *i = introspect(&c, json_string_value(json_object_get(t2, "access_token")));
  assert_true(json_is_false(json_object_get(i, "active")));
  json_decref(i);
  json_decref(t);
  json_decref(t2);
  armor_oauth_client_clear(&c);
  json_decref(out);
}

/* The authentication cache: raw credentials and id + secret of two clients never stand in for each other. */
static void client_cache_keeps_clients_apart(void **state) {
  (void)state;
  json_t *out[2] = {NULL, NULL};
  const char *id[2], *secret[2];
  char raw[2][512];
  for (int i = 0; i < 2; i++) {
    json_t *in = client_input("client_credentials");
    struct armor_oauth_verr e = {0};
    assert_int_equal(armor_oauth_client_create(in, NULL, &out[i], &e), ARMOR_OK);
    json_decref(in);
    id[i] = json_string_value(json_object_get(out[i], "client_id"));
    secret[i] = json_string_value(json_object_get(out[i], "client_secret"));
    armor_fmt(raw[i], sizeof raw[i], "Basic %s:%s", id[i], secret[i]); /* any text that carries the secret */
  }
  struct armor_oauth_client c;
  for (int round = 0; round < 2; round++) /* the second round is answered from the cache */
    for (int i = 0; i < 2; i++) {
      memset(&c, 0, sizeof c);
      assert_int_equal(armor_oauth_client_authenticate(raw[i], id[i], secret[i], &c), ARMOR_OK);
      assert_string_equal(c.id, id[i]);
      assert_int_equal(armor_oauth_client_authenticate(raw[i], NULL, NULL, &c), ARMOR_OK);
      assert_string_equal(c.id, id[i]);
      assert_int_equal(armor_oauth_client_authenticate(NULL, id[i], secret[i], &c), ARMOR_OK);
      assert_string_equal(c.id, id[i]);
    }
  /* One client's id with the other's secret, raw or not. */
  char mixed[512];
  armor_fmt(mixed, sizeof mixed, "Basic %s:%s", id[0], secret[1]);
  assert_int_equal(armor_oauth_client_authenticate(mixed, id[0], secret[1], &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id[0], secret[1], &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id[1], secret[0], &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(mixed, NULL, NULL, &c), ARMOR_UNAUTHORIZED);
  /* A rotated secret stops at once on this node, cached or not. */
  char fresh[64];
  assert_int_equal(armor_oauth_client_rotate_secret(id[0], fresh), ARMOR_OK);
  assert_int_equal(armor_oauth_client_authenticate(raw[0], NULL, NULL, &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(raw[0], id[0], secret[0], &c), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_oauth_client_authenticate(NULL, id[0], fresh, &c), ARMOR_OK);
  assert_int_equal(armor_oauth_client_authenticate(raw[1], NULL, NULL, &c), ARMOR_UNAUTHORIZED); /* flushed */
  assert_int_equal(armor_oauth_client_authenticate(raw[1], id[1], secret[1], &c), ARMOR_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(armor_oauth_client_delete(id[i]), ARMOR_OK);
    json_decref(out[i]);
  }
}

/* What introspection answered before its answers were kept with the cached token: the verified claims
   without sid, plus active and token_type, rendered by jansson. */
static char *expected_answer(const char *token) {
  json_t *claims = NULL;
  assert_int_equal(armor_jwt_verify(token, NULL, &claims), ARMOR_OK);
  json_object_del(claims, "sid");
  json_object_set_new(claims, "active", json_true());
  json_object_set_new(claims, "token_type", json_string("Bearer"));
  char *s = json_dumps(claims, JSON_COMPACT);
  json_decref(claims);
  return s;
}

static char *introspect_text(const struct armor_oauth_client *c, const char *token) {
  size_t len = 0;
  char *text = armor_oauth_introspect(c, token, NULL, &len);
  assert_non_null(text);
  assert_int_equal(strlen(text), len);
  return text;
}

/* A token as this provider signs them (jti is added when NULL); without client_id when cid is NULL. */
static char *sign_access(const char *cid, const char *jti, const char *sid, int64_t ttl, const char *extra) {
  json_t *c = json_object();
  json_object_set_new(c, "sub", json_string("user-1"));
  json_object_set_new(c, "aud", json_string("https://api.example.com/"));
  if (cid) json_object_set_new(c, "client_id", json_string(cid));
  json_object_set_new(c, "scope", json_string("openid api:read"));
  json_object_set_new(c, "exp", json_integer(armor_time() + ttl));
  if (jti) json_object_set_new(c, "jti", json_string(jti));
  if (sid) json_object_set_new(c, "sid", json_string(sid));
  if (extra) json_object_set_new(c, "note", json_string(extra));
  char *t = armor_jwt_sign(c, "at+jwt", NULL);
  json_decref(c);
  assert_non_null(t);
  return t;
}

static void introspection_answers_are_kept_and_checked_each_time(void **state) {
  (void)state;
  struct armor_oauth_client c;
  memset(&c, 0, sizeof c);
  armor_fmt(c.id, sizeof c.id, "%s", "a-resource-server");
  /* Quotes, backslashes, control characters, a script tag and non-ASCII text in a claim. */
  const char *odd = "q\"uote\\ back\n\t\x01 </script> \xc3\xa9t\xc3\xa9 \xf0\x9f\x94\x91";
  char sid[37], jti[32], jti2[32];
  armor_uuid_new(sid);
  armor_random_b64url(16, jti, sizeof jti);
  armor_random_b64url(16, jti2, sizeof jti2);
  char *t = sign_access("client-1", jti, sid, 900, odd);

  /* The same bytes as the jansson rendering of the claims, on the first call and from the cache after. */
  char *want = expected_answer(t);
  for (int i = 0; i < 3; i++) {
    char *got = introspect_text(&c, t);
    assert_string_equal(got, want);
    armor_free(got);
  }
  json_t *o = introspect(&c, t);
  assert_true(json_is_true(json_object_get(o, "active")));
  assert_string_equal(json_string_value(json_object_get(o, "note")), odd);
  assert_string_equal(json_string_value(json_object_get(o, "token_type")), "Bearer");
  assert_string_equal(json_string_value(json_object_get(o, "jti")), jti);
  assert_null(json_object_get(o, "sid"));
  json_decref(o);
  for (const char *p = want; *p; p++) assert_true((unsigned char)*p >= 0x20);

  /* A revoked jti and a revoked grant (sid) answer inactive although the answer was kept. */
  armor_oauth_jti_add(jti, armor_time() + 900);
  char *got = introspect_text(&c, t);
  assert_string_equal(got, "{\"active\":false}");
  armor_free(got);
  char *t2 = sign_access("client-1", jti2, sid, 900, NULL);
  got = introspect_text(&c, t2);
  assert_non_null(strstr(got, "\"active\":true"));
  armor_free(got);
  assert_int_equal(armor_revoke_session(sid, armor_time() + 900), ARMOR_OK);
  got = introspect_text(&c, t2);
  assert_string_equal(got, "{\"active\":false}");
  armor_free(got);

  /* Tokens without client_id (Armor's own API tokens) are not this provider's access tokens. */
  char *t3 = sign_access(NULL, NULL, NULL, 900, NULL);
  for (int i = 0; i < 2; i++) {
    got = introspect_text(&c, t3);
    assert_string_equal(got, "{\"active\":false}");
    armor_free(got);
  }

  /* Expiry while cached. */
  armor_random_b64url(16, jti2, sizeof jti2);
  char *t4 = sign_access("client-1", jti2, NULL, 2, NULL);
  got = introspect_text(&c, t4);
  assert_non_null(strstr(got, "\"active\":true"));
  armor_free(got);
  sleep(3);
  got = introspect_text(&c, t4);
  assert_string_equal(got, "{\"active\":false}");
  armor_free(got);

  armor_free(want);
  armor_free(t);
  armor_free(t2);
  armor_free(t3);
  armor_free(t4);
}

static int setup(void **state) {
  (void)state;
  return armor_test_services_open("oauth");
}

static int teardown(void **state) {
  (void)state;
  armor_test_services_close("oauth");
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(redirect_uris_follow_the_rules),
      cmocka_unit_test(scopes_are_tokens),
      cmocka_unit_test(resources_follow_the_rules),
      cmocka_unit_test(pkce_s256_matches_rfc7636_vector),
      cmocka_unit_test(pages_escape_everything),
      cmocka_unit_test(secrets_are_hashed_rotated_and_checked),
      cmocka_unit_test(codes_are_single_use_and_replay_revokes),
      cmocka_unit_test(client_cache_keeps_clients_apart),
      cmocka_unit_test(introspection_answers_are_kept_and_checked_each_time),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
