/*
 * Accounts and sessions as services, without HTTP, against a temporary SQLite
 * database (or PostgreSQL when ARMOR_TEST_PG is set): usernames, creation,
 * authentication with lockout and equal answers, sessions, refresh rotation
 * and reuse, revocation, and bearer checks (refresh token, wrong audience).
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
#include "settings/settings.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../support/service_db.h"



static void new_user(const char *name, const char *pw, struct armor_user *u) {
  struct armor_user_new in = {.username = name, .password = pw};
  char field[32], msg[160];
  assert_int_equal(armor_accounts_create(&in, u, field, sizeof field, msg, sizeof msg), ARMOR_OK);
}

static void usernames_are_trimmed_and_checked(void **state) {
  (void)state;
  char out[65], msg[128];
  assert_true(armor_username_normalize("  Bob \t", out, sizeof out, msg, sizeof msg));
  assert_string_equal(out, "Bob");
  assert_false(armor_username_normalize("   ", out, sizeof out, msg, sizeof msg));
  assert_false(armor_username_normalize("a\x01", out, sizeof out, msg, sizeof msg));
  assert_false(armor_username_normalize("\xC2\x85x", out, sizeof out, msg, sizeof msg)); /* C1 control */
  char long_name[70];
  memset(long_name, 'x', 65);
  long_name[65] = 0;
  assert_false(armor_username_normalize(long_name, out, sizeof out, msg, sizeof msg));
  long_name[64] = 0;
  assert_true(armor_username_normalize(long_name, out, sizeof out, msg, sizeof msg));
}

static void create_refuses_duplicates_case_insensitively(void **state) {
  (void)state;
  struct armor_user u;
  new_user("Zoë", "zoe-password", &u);
  struct armor_user_new dup = {.username = "ZOË", .password = "zoe-password"};
  char field[32], msg[160];
  assert_int_equal(armor_accounts_create(&dup, &u, field, sizeof field, msg, sizeof msg), ARMOR_CONFLICT);
  assert_string_equal(field, "username");
  struct armor_user found;
  assert_int_equal(armor_user_find("username", "zoë", &found), ARMOR_OK);
  assert_string_equal(found.username, "Zoë");
  struct armor_user_new bad = {.username = "yan", .password = "yan-password", .phone = "+1"};
  assert_int_equal(armor_accounts_create(&bad, &u, field, sizeof field, msg, sizeof msg), ARMOR_INVALID);
  assert_string_equal(field, "phone");
}

static void authenticate_locks_after_threshold(void **state) {
  (void)state;
  struct armor_user u, out;
  new_user("lock-me", "lock-password", &u);
  int retry = 0;
  /* Unknown user and wrong password: the same answer. */
  assert_int_equal(armor_accounts_authenticate("nobody", "x", "10.0.0.1", &out, &retry), ARMOR_UNAUTHORIZED);
  for (int i = 0; i < 10; i++)
    assert_int_equal(armor_accounts_authenticate("lock-me", "wrong", "10.0.0.2", &out, &retry), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_accounts_authenticate("lock-me", "lock-password", "10.0.0.3", &out, &retry), ARMOR_LIMITED);
  assert_true(retry > 55 && retry <= 60);
  assert_int_equal(armor_accounts_lock_state(u.id, &retry), ARMOR_LIMITED);
}

static void sessions_refresh_rotates_and_detects_reuse(void **state) {
  (void)state;
  struct armor_user u;
  new_user("sess", "sess-password", &u);
  json_t *d;
  assert_int_equal(armor_sessions_create(u.id, "127.0.0.1", "unit", &d), ARMOR_OK);
  const char *rt1 = json_string_value(json_object_get(d, "refresh_token"));
  const char *tok = json_string_value(json_object_get(d, "token"));
  assert_non_null(rt1);
  struct armor_arena *a = armor_arena_new();
  struct armor_principal p;
  assert_int_equal(armor_sessions_check_access(tok, a, &p), ARMOR_OK);
  assert_string_equal(p.user_id, u.id);
  /* A refresh token is no bearer token. */
  assert_int_equal(armor_sessions_check_access(rt1, a, &p), ARMOR_UNAUTHORIZED);
  json_t *d2;
  int retry;
  assert_int_equal(armor_sessions_refresh(rt1, "127.0.0.1", &d2, &retry), ARMOR_OK);
  const char *rt2 = json_string_value(json_object_get(d2, "refresh_token"));
  assert_string_not_equal(rt1, rt2);
  json_t *d3 = NULL;
  assert_int_equal(armor_sessions_refresh(rt1, "127.0.0.1", &d3, &retry), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_sessions_refresh(rt2, "127.0.0.1", &d3, &retry), ARMOR_UNAUTHORIZED);
  assert_int_equal(armor_sessions_check_access(tok, a, &p), ARMOR_UNAUTHORIZED);
  json_decref(d);
  json_decref(d2);
  armor_arena_free(a);
}

static void revoke_user_keeps_the_current_session(void **state) {
  (void)state;
  struct armor_user u;
  new_user("many", "many-password", &u);
  json_t *a, *b;
  assert_int_equal(armor_sessions_create(u.id, NULL, NULL, &a), ARMOR_OK);
  assert_int_equal(armor_sessions_create_ex(u.id, NULL, NULL, ARMOR_TOKEN_OPAQUE, &b), ARMOR_OK);
  const char *keep = json_string_value(json_object_get(a, "session_id"));
  assert_int_equal(armor_sessions_revoke_user(u.id, keep), ARMOR_OK);
  struct armor_arena *ar = armor_arena_new();
  struct armor_principal p;
  assert_int_equal(armor_sessions_check_access(json_string_value(json_object_get(a, "token")), ar, &p), ARMOR_OK);
  assert_int_equal(armor_sessions_check_access(json_string_value(json_object_get(b, "token")), ar, &p),
                   ARMOR_UNAUTHORIZED);
  json_t *list = armor_sessions_list(u.id, keep);
  assert_int_equal(json_array_size(list), 1);
  json_decref(list);
  json_decref(a);
  json_decref(b);
  armor_arena_free(ar);
}

static void wrong_audience_is_refused(void **state) {
  (void)state;
  json_t *c = json_object();
  json_object_set_new(c, "sub", json_string("3f1c6a0e-5d2b-4d7e-9a61-0c7f2b9d8e11"));
  json_object_set_new(c, "sid", json_string("4f1c6a0e-5d2b-4d7e-9a61-0c7f2b9d8e11"));
  json_object_set_new(c, "aud", json_string("some-client"));
  json_object_set_new(c, "exp", json_integer(armor_time() + 60));
  char *t = armor_jwt_sign(c, "JWT", NULL);
  json_decref(c);
  assert_non_null(t);
  struct armor_arena *a = armor_arena_new();
  struct armor_principal p;
  assert_int_equal(armor_sessions_check_access(t, a, &p), ARMOR_UNAUTHORIZED);
  armor_free(t);
  armor_arena_free(a);
}

static int setup(void **state) {
  (void)state;
  return armor_test_services_open("accounts");
}

static int teardown(void **state) {
  (void)state;
  armor_test_services_close("accounts");
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(usernames_are_trimmed_and_checked),
      cmocka_unit_test(create_refuses_duplicates_case_insensitively),
      cmocka_unit_test(authenticate_locks_after_threshold),
      cmocka_unit_test(sessions_refresh_rotates_and_detects_reuse),
      cmocka_unit_test(revoke_user_keeps_the_current_session),
      cmocka_unit_test(wrong_audience_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
