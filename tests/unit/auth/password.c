/*
 * Password hashing and policy (src/auth/password.c): argon2id strings, the
 * rehash decision when the cost changes, code-point counting of UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/password.h"
#include "core/armor.h"
#include "settings/settings.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void hash_and_verify(void **state) {
  (void)state;
  char h[crypto_pwhash_STRBYTES];
  assert_int_equal(armor_password_hash("correct horse", h, sizeof h), ARMOR_OK);
  assert_memory_equal(h, "$argon2id$", 10);
  assert_true(armor_password_verify(h, "correct horse"));
  assert_false(armor_password_verify(h, "correct horsf"));
  assert_false(armor_password_verify(NULL, "correct horse"));
  assert_false(armor_password_verify("$2y$10$notargon", "correct horse"));
  assert_false(armor_password_needs_rehash(h));
}

static void rehash_when_cost_changes(void **state) {
  (void)state;
  char h[crypto_pwhash_STRBYTES];
  assert_int_equal(armor_password_hash("pw-pw-pw-pw", h, sizeof h), ARMOR_OK);
  setenv("ARMOR_ARGON2_MEMORY_KIB", "128", 1);
  assert_int_equal(armor_password_init(), 0);
  assert_true(armor_password_needs_rehash(h));
  assert_true(armor_password_verify(h, "pw-pw-pw-pw"));
  setenv("ARMOR_ARGON2_MEMORY_KIB", "64", 1);
  assert_int_equal(armor_password_init(), 0);
  assert_false(armor_password_needs_rehash(h));
}

static void default_cost_is_owasp(void **state) {
  (void)state;
  assert_int_equal(ARMOR_ARGON2_MEMORY_KIB_DEFAULT, 19456);
  assert_int_equal(ARMOR_ARGON2_OPS_DEFAULT, 2);
}

static void utf8_length_counts_code_points(void **state) {
  (void)state;
  assert_int_equal(armor_utf8_length(""), 0);
  assert_int_equal(armor_utf8_length("abc"), 3);
  assert_int_equal(armor_utf8_length("パスワード"), 5);
  assert_int_equal(armor_utf8_length("\xF0\x9F\x94\x92"), 1); /* U+1F512 */
  assert_int_equal(armor_utf8_length("\xC0\xAF"), -1);        /* overlong */
  assert_int_equal(armor_utf8_length("\xED\xA0\x80"), -1);    /* surrogate */
  assert_int_equal(armor_utf8_length("\xFF"), -1);
  assert_int_equal(armor_utf8_length("ab\xE3\x83"), -1); /* truncated */
}

static void policy_uses_settings(void **state) {
  (void)state;
  char msg[128];
  assert_int_equal(armor_password_check_policy("1234567", msg, sizeof msg), ARMOR_INVALID);
  assert_non_null(strstr(msg, "at least 8"));
  assert_int_equal(armor_password_check_policy("12345678", msg, sizeof msg), ARMOR_OK);
  assert_int_equal(armor_password_check_policy("パスワードです。", msg, sizeof msg), ARMOR_OK);
  assert_int_equal(armor_password_check_policy("パスワードです", msg, sizeof msg), ARMOR_INVALID);
  char *big = malloc(1026);
  memset(big, 'a', 1025);
  big[1025] = 0;
  assert_int_equal(armor_password_check_policy(big, msg, sizeof msg), ARMOR_INVALID);
  big[1024] = 0;
  assert_int_equal(armor_password_check_policy(big, msg, sizeof msg), ARMOR_OK);
  free(big);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_ERR;
  setenv("ARMOR_ARGON2_MEMORY_KIB", "64", 1);
  setenv("ARMOR_ARGON2_OPS", "1", 1);
  if (armor_password_init()) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hash_and_verify),       cmocka_unit_test(rehash_when_cost_changes),
      cmocka_unit_test(default_cost_is_owasp), cmocka_unit_test(utf8_length_counts_code_points),
      cmocka_unit_test(policy_uses_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
