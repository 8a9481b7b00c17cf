/* Helpers of core/util.c: parsing, formatting, buffers, the arena, UUIDs, hex, constant-time compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/armor.h"
#include <jansson.h>
#include <sodium.h>
#include <string.h>

static void parse_int(void **state) {
  (void)state;
  long long v = 0;
  assert_true(armor_parse_int("42", 0, 100, &v));
  assert_int_equal(v, 42);
  assert_true(armor_parse_int("-5", -10, 10, &v));
  assert_int_equal(v, -5);
  assert_false(armor_parse_int("101", 0, 100, &v));
  assert_false(armor_parse_int("", 0, 100, &v));
  assert_false(armor_parse_int(NULL, 0, 100, &v));
  assert_false(armor_parse_int("12abc", 0, 100, &v));
  assert_false(armor_parse_int("1 ", 0, 100, &v));
  assert_false(armor_parse_int("99999999999999999999999", 0, 100, &v));
  assert_false(armor_parse_int("0x10", 0, 100, &v));
}

static void fmt_truncates_safely(void **state) {
  (void)state;
  char b[8];
  assert_true(armor_fmt(b, sizeof b, "%s", "1234567"));
  assert_string_equal(b, "1234567");
  assert_false(armor_fmt(b, sizeof b, "%s", "12345678"));
  assert_string_equal(b, "1234567");
}

static void buf_has_a_hard_cap(void **state) {
  (void)state;
  struct armor_buf b;
  armor_buf_init(&b, 16);
  assert_true(armor_buf_append(&b, "0123456789", 10));
  assert_true(armor_buf_append(&b, "abcde", 5));
  assert_false(armor_buf_append(&b, "x", 1)); /* 15 + 1 + NUL > 16 */
  assert_int_equal(b.len, 15);
  assert_string_equal(b.data, "0123456789abcde");
  assert_false(armor_buf_printf(&b, "%d", 1));
  armor_buf_free(&b);
  armor_buf_init(&b, 1 << 20);
  char big[3000];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_true(armor_buf_printf(&b, "<%s>", big));
  assert_int_equal(b.len, sizeof big + 1);
  armor_buf_free(&b);
  armor_buf_free(&b); /* twice is harmless */
}

static void arena_allocations(void **state) {
  (void)state;
  struct armor_arena *a = armor_arena_new();
  char *s = armor_arena_strdup(a, "hello");
  assert_string_equal(s, "hello");
  assert_null(armor_arena_strdup(a, NULL));
  assert_string_equal(armor_arena_strndup(a, "hello", 3), "hel");
  assert_string_equal(armor_arena_printf(a, "%d-%s", 7, "x"), "7-x");
  void *big = armor_arena_alloc(a, 100000);
  memset(big, 1, 100000);
  for (int i = 0; i < 1000; i++) {
    unsigned char *p = armor_arena_alloc(a, 33);
    assert_int_equal(((uintptr_t)p) % 16, 0);
    memset(p, 2, 33);
  }
  armor_arena_free(a);
  armor_arena_free(NULL);
}

static void uuids(void **state) {
  (void)state;
  char u[37], v[37];
  armor_uuid_new(u);
  armor_uuid_new(v);
  assert_true(armor_uuid_valid(u));
  assert_string_not_equal(u, v);
  assert_int_equal(u[14], '4');
  assert_true(armor_uuid_valid("00000000-0000-0000-0000-000000000000"));
  assert_false(armor_uuid_valid("00000000-0000-0000-0000-00000000000"));
  assert_false(armor_uuid_valid("00000000x0000-0000-0000-000000000000"));
  assert_false(armor_uuid_valid("g0000000-0000-0000-0000-000000000000"));
  assert_false(armor_uuid_valid(NULL));
}

static void hex_and_hashes(void **state) {
  (void)state;
  char h[9];
  armor_hex((const unsigned char *)"\x01\xab\xff\x00", 4, h);
  assert_string_equal(h, "01abff00");
  char d[65];
  armor_sha256_hex("abc", 3, d);
  assert_string_equal(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  char r[64];
  armor_random_b64url(32, r, sizeof r);
  assert_int_equal(strlen(r), 43);
  for (const char *p = r; *p; p++)
    assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
}

static void constant_time_equality(void **state) {
  (void)state;
  assert_true(armor_str_eq_ct("secret", "secret"));
  assert_false(armor_str_eq_ct("secret", "secreT"));
  assert_false(armor_str_eq_ct("secret", "secret1"));
  assert_false(armor_str_eq_ct("", "x"));
  assert_true(armor_str_eq_ct("", ""));
  assert_false(armor_str_eq_ct(NULL, "x"));
  assert_true(armor_streq_ci("Content-Type", "content-type"));
  assert_false(armor_streq_ci("a", NULL));
}

static void times(void **state) {
  (void)state;
  char t[32];
  armor_time_rfc3339(0, t);
  assert_string_equal(t, "1970-01-01T00:00:00Z");
  armor_time_rfc3339(1795459928, t);
  assert_string_equal(t, "2026-11-23T18:52:08Z");
  int64_t a = armor_now_us(), b = armor_now_us();
  assert_true(b >= a);
}

static void log_levels(void **state) {
  (void)state;
  assert_int_equal(armor_log_level_parse("error"), ARMOR_LOG_ERR);
  assert_int_equal(armor_log_level_parse("warning"), ARMOR_LOG_WARNING);
  assert_int_equal(armor_log_level_parse("info"), ARMOR_LOG_INFO);
  assert_int_equal(armor_log_level_parse("debug"), ARMOR_LOG_DEBUG);
  assert_int_equal(armor_log_level_parse("loud"), -1);
  assert_int_equal(armor_log_level_parse(NULL), -1);
  assert_string_equal(armor_rc_name(ARMOR_CONFLICT), "CONFLICT");
  assert_string_equal(armor_rc_name(12345), "INTERNAL");
}

static void json_str_round_trips_through_jansson(void **state) {
  (void)state;
  /* Every byte from 1 to 127, then UTF-8 text: jansson reads back exactly the input. */
  char in[200];
  size_t n = 0;
  for (int c = 1; c < 128; c++) in[n++] = (char)c;
  const char *utf8 = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91 \"q\" \\ </script>";
  memcpy(in + n, utf8, strlen(utf8) + 1);
  const char *cases[] = {"", "plain", "\"", "\\", "\x01", "a\nb", in};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct armor_buf b;
    armor_buf_init(&b, 4096);
    armor_buf_append(&b, "[", 1);
    armor_buf_append_json_str(&b, cases[i]);
    armor_buf_append(&b, "]", 1);
    json_error_t err;
    json_t *j = json_loadb(b.data, b.len, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_array_get(j, 0)), cases[i]);
    json_decref(j);
    armor_buf_free(&b);
  }
  struct armor_buf b;
  armor_buf_init(&b, 64);
  armor_buf_append_json_str(&b, "a\"b\\c\x1f");
  assert_string_equal(b.data, "\"a\\\"b\\\\c\\u001f\"");
  armor_buf_free(&b);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  armor_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_int),
      cmocka_unit_test(fmt_truncates_safely),
      cmocka_unit_test(buf_has_a_hard_cap),
      cmocka_unit_test(json_str_round_trips_through_jansson),
      cmocka_unit_test(arena_allocations),
      cmocka_unit_test(uuids),
      cmocka_unit_test(hex_and_hashes),
      cmocka_unit_test(constant_time_equality),
      cmocka_unit_test(times),
      cmocka_unit_test(log_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
