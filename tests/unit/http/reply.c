/* The envelope and the JSON field helpers of http/reply.c, on a request built by hand (no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"
#include <string.h>

static struct armor_req *req_new(const char *json_text) {
  struct armor_req *r = armor_calloc(1, sizeof *r);
  r->arena = armor_arena_new();
  armor_fmt(r->request_id, sizeof r->request_id, "%s", "test");
  if (json_text) {
    r->json = json_loads(json_text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(r->json);
  }
  return r;
}

static void req_free(struct armor_req *r) {
  json_decref(r->json);
  armor_free(r->resp_body);
  armor_arena_free(r->arena);
  armor_free(r);
}

/* The reply as JSON (new reference). */
static json_t *body(struct armor_req *r) {
  assert_true(r->replied);
  json_t *j = json_loadb(r->resp_body, r->resp_len, 0, NULL);
  assert_non_null(j);
  return j;
}

static void assert_field_error(struct armor_req *r, int status, const char *field) {
  assert_int_equal(r->status, status);
  json_t *j = body(r);
  assert_true(json_is_false(json_object_get(j, "success")));
  assert_string_equal(json_string_value(json_object_get(j, "code")), "VALIDATION_FAILED");
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "details"), "field")), field);
  assert_non_null(strstr(json_string_value(json_object_get(j, "message")), field));
  json_decref(j);
}

static void envelope_ok(void **state) {
  (void)state;
  struct armor_req *r = req_new(NULL);
  armor_reply_ok(r, 201, "Created", json_pack("{s:i}", "x", 1));
  assert_int_equal(r->status, 201);
  assert_string_equal(r->content_type, "application/json");
  json_t *j = body(r);
  assert_true(json_is_true(json_object_get(j, "success")));
  assert_string_equal(json_string_value(json_object_get(j, "message")), "Created");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "x")), 1);
  json_decref(j);
  /* A second reply is ignored, the first stands. */
  armor_reply_error(r, 500, "INTERNAL", "x", NULL);
  assert_int_equal(r->status, 201);
  req_free(r);
}

static void rc_mapping(void **state) {
  (void)state;
  struct {
    int rc, status;
    const char *code;
  } m[] = {{ARMOR_INVALID, 400, "BAD_REQUEST"},
           {ARMOR_NOT_FOUND, 404, "NOT_FOUND"},
           {ARMOR_CONFLICT, 409, "ALREADY_EXISTS"},
           {ARMOR_DENIED, 403, "FORBIDDEN"},
           {ARMOR_UNAUTHORIZED, 401, "UNAUTHORIZED"},
           {ARMOR_EXPIRED, 401, "TOKEN_EXPIRED"},
           {ARMOR_LIMITED, 429, "RATE_LIMITED"},
           {ARMOR_BUSY, 503, "UNAVAILABLE"},
           {ARMOR_DB, 503, "UNAVAILABLE"},
           {ARMOR_INTERNAL, 500, "INTERNAL"}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    struct armor_req *r = req_new(NULL);
    armor_reply_rc(r, m[i].rc, NULL);
    assert_int_equal(r->status, m[i].status);
    json_t *j = body(r);
    assert_string_equal(json_string_value(json_object_get(j, "code")), m[i].code);
    json_decref(j);
    bool www = false, retry = false;
    for (int h = 0; h < r->nresp_headers; h++) {
      if (!strcmp(r->resp_headers[h].name, "WWW-Authenticate")) www = true;
      if (!strcmp(r->resp_headers[h].name, "Retry-After")) retry = true;
    }
    assert_int_equal(www, m[i].status == 401);
    assert_int_equal(retry, m[i].status == 429 || m[i].status == 503);
    req_free(r);
  }
}

static void internal_errors_say_nothing(void **state) {
  (void)state;
  struct armor_req *r = req_new(NULL);
  armor_reply_rc(r, ARMOR_INTERNAL, "secret detail from the database");
  json_t *j = body(r);
  assert_string_equal(json_string_value(json_object_get(j, "message")), "Internal error");
  json_decref(j);
  req_free(r);
}

static void string_fields(void **state) {
  (void)state;
  const char *v;
  struct armor_req *r = req_new("{\"a\":\"h\\u00e9llo\",\"n\":5}");
  assert_true(armor_json_str_or_reply(r, "a", true, 1, 5, &v)); /* 5 code points, 6 bytes */
  assert_string_equal(v, "h\xc3\xa9llo");
  assert_true(armor_json_str_or_reply(r, "missing", false, 0, 0, &v));
  assert_null(v);
  assert_false(r->replied);
  req_free(r);

  r = req_new("{\"a\":\"hello\"}");
  assert_false(armor_json_str_or_reply(r, "a", true, 1, 4, &v));
  assert_field_error(r, 422, "a");
  req_free(r);
  r = req_new("{}");
  assert_false(armor_json_str_or_reply(r, "name", true, 1, 4, &v));
  assert_field_error(r, 400, "name");
  req_free(r);
  r = req_new("{\"n\":5}");
  assert_false(armor_json_str_or_reply(r, "n", true, 0, 0, &v));
  assert_field_error(r, 400, "n");
  req_free(r);
}

static void int_and_bool_fields(void **state) {
  (void)state;
  long long n = 0;
  bool b = false, present = false;
  struct armor_req *r = req_new("{\"n\":5,\"b\":true,\"nul\":null}");
  assert_true(armor_json_int_or_reply(r, "n", 0, 10, &n, &present));
  assert_true(present);
  assert_int_equal(n, 5);
  assert_true(armor_json_bool_or_reply(r, "b", &b, &present));
  assert_true(b && present);
  assert_true(armor_json_int_or_reply(r, "nul", 0, 10, &n, &present));
  assert_false(present);
  req_free(r);
  r = req_new("{\"n\":11}");
  assert_false(armor_json_int_or_reply(r, "n", 0, 10, &n, NULL));
  assert_field_error(r, 422, "n");
  req_free(r);
  r = req_new("{\"n\":1.5}");
  assert_false(armor_json_int_or_reply(r, "n", 0, 10, &n, NULL));
  assert_field_error(r, 400, "n");
  req_free(r);
  r = req_new("{\"b\":\"true\"}");
  assert_false(armor_json_bool_or_reply(r, "b", &b, NULL));
  assert_field_error(r, 400, "b");
  req_free(r);
}

static void unknown_fields(void **state) {
  (void)state;
  static const char *const known[] = {"a", "b", NULL};
  struct armor_req *r = req_new("{\"a\":1,\"b\":2}");
  assert_true(armor_json_known_or_reply(r, known));
  req_free(r);
  r = req_new("{\"a\":1,\"evil\":2}");
  assert_false(armor_json_known_or_reply(r, known));
  assert_field_error(r, 422, "evil");
  req_free(r);
}

static void request_lookups(void **state) {
  (void)state;
  struct armor_req *r = req_new(NULL);
  struct armor_kv headers[] = {{"Authorization", "bearer  abc.def"}, {"Cookie", "a=1; sid=xyz; b="}, {"X-Y", "z"}};
  r->headers = headers;
  r->nheaders = 3;
  assert_string_equal(armor_req_header(r, "x-y"), "z");
  assert_null(armor_req_header(r, "x-z"));
  assert_string_equal(armor_req_bearer(r), "abc.def");
  assert_string_equal(armor_req_cookie(r, "sid"), "xyz");
  assert_string_equal(armor_req_cookie(r, "b"), "");
  assert_null(armor_req_cookie(r, "si"));
  headers[0].value = "Basic Zm9v";
  assert_null(armor_req_bearer(r));
  headers[0].value = "Bearer ";
  assert_null(armor_req_bearer(r));
  req_free(r);
}

int main(void) {
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_WARNING;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(envelope_ok),
      cmocka_unit_test(rc_mapping),
      cmocka_unit_test(internal_errors_say_nothing),
      cmocka_unit_test(string_fields),
      cmocka_unit_test(int_and_bool_fields),
      cmocka_unit_test(unknown_fields),
      cmocka_unit_test(request_lookups),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
