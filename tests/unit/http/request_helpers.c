/*
 * Request helpers and error envelopes of src/http/reply.c on a fake request:
 * cookies, bearer tokens, and envelopes that quote request text (which must
 * stay valid UTF-8 JSON with a message).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"

#include <string.h>

struct fake {
  struct armor_req r;
  struct armor_kv h[8];
};

static void fake_init(struct fake *f) {
  memset(f, 0, sizeof *f);
  f->r.arena = armor_arena_new();
  f->r.headers = f->h;
  armor_fmt(f->r.request_id, sizeof f->r.request_id, "unit");
}

static void fake_header(struct fake *f, const char *name, const char *value) {
  f->h[f->r.nheaders].name = name;
  f->h[f->r.nheaders].value = value;
  f->r.nheaders++;
}

static void fake_free(struct fake *f) {
  if (f->r.json) json_decref(f->r.json);
  armor_free(f->r.resp_body);
  armor_arena_free(f->r.arena);
}

static json_t *reply_doc(struct fake *f) {
  assert_true(f->r.replied);
  json_error_t e;
  json_t *j = json_loadb(f->r.resp_body, f->r.resp_len, 0, &e);
  assert_non_null(j);
  return j;
}

static void cookies(void **state) {
  (void)state;
  struct fake f;
  fake_init(&f);
  fake_header(&f, "Accept", "*/*");
  fake_header(&f, "cookie", "a=1; session=abc;b=; ;;=x; sess=no");
  fake_header(&f, "Cookie", "other=2; last=z");
  assert_string_equal(armor_req_cookie(&f.r, "session"), "abc");
  assert_string_equal(armor_req_cookie(&f.r, "a"), "1");
  assert_string_equal(armor_req_cookie(&f.r, "b"), "");
  assert_string_equal(armor_req_cookie(&f.r, "last"), "z");
  assert_string_equal(armor_req_cookie(&f.r, ""), "x");
  assert_null(armor_req_cookie(&f.r, "sessio"));
  assert_null(armor_req_cookie(&f.r, "missing"));
  fake_free(&f);
}

static void bearer(void **state) {
  (void)state;
  struct fake f;
  fake_init(&f);
  assert_null(armor_req_bearer(&f.r));
  fake_header(&f, "authorization", "bearer   tok.en");
  assert_string_equal(armor_req_bearer(&f.r), "tok.en");
  f.h[0].value = "Bearer ";
  assert_null(armor_req_bearer(&f.r));
  f.h[0].value = "Bearer";
  assert_null(armor_req_bearer(&f.r));
  f.h[0].value = "Basic YTpi";
  assert_null(armor_req_bearer(&f.r));
  f.h[0].value = "Bearertok";
  assert_null(armor_req_bearer(&f.r));
  fake_free(&f);
}

/* An unknown field's name is quoted in the message cut at 64 bytes; the cut must not split a character
   (json_string refuses invalid UTF-8, and the envelope then lost its message). */
static void unknown_field_utf8(void **state) {
  (void)state;
  static const char *const known[] = {"username", NULL};
  const char *keys[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9",
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xf0\x9f\xa6\x80zz",
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x",
                        "short"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    struct fake f;
    fake_init(&f);
    f.r.json = json_object();
    json_object_set_new(f.r.json, keys[i], json_integer(1));
    assert_false(armor_json_known_or_reply(&f.r, known));
    assert_int_equal(f.r.status, 422);
    json_t *doc = reply_doc(&f);
    assert_true(json_is_string(json_object_get(doc, "message")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "details"), "field")), keys[i]);
    json_decref(doc);
    fake_free(&f);
  }
}

/* Whatever a handler passes, the error envelope keeps a message. */
static void error_message_not_utf8(void **state) {
  (void)state;
  struct fake f;
  fake_init(&f);
  armor_reply_error(&f.r, 400, "BAD_REQUEST", "bad \xff byte", NULL);
  json_t *doc = reply_doc(&f);
  assert_string_equal(json_string_value(json_object_get(doc, "message")), "BAD_REQUEST");
  json_decref(doc);
  fake_free(&f);
}

int main(void) {
  armor_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cookies),
      cmocka_unit_test(bearer),
      cmocka_unit_test(unknown_field_utf8),
      cmocka_unit_test(error_message_not_utf8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
