/* Route matching over the real route table: literals, {params}, prefixes, 404, 405 with Allow, HEAD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/router.h"
#include <string.h>

struct m {
  int status;
  const struct armor_route *rt;
  struct armor_kv params[ARMOR_MAX_PARAMS];
  int np;
  char allow[128];
};

static struct armor_arena *arena;

static struct m match(const char *method, const char *path) {
  struct m m;
  memset(&m, 0, sizeof m);
  size_t idx = 0;
  m.status = armor_router_match(arena, method, path, &m.rt, &idx, m.params, &m.np, m.allow, sizeof m.allow);
  if (m.status == 200) assert_ptr_equal(armor_routes_at(idx), m.rt);
  return m;
}

static int setup(void **state) {
  (void)state;
  arena = armor_arena_new();
  armor_router_enable_test_routes(true);
  return 0;
}
static int teardown(void **state) {
  (void)state;
  armor_arena_free(arena);
  return 0;
}

static void literal_routes(void **state) {
  (void)state;
  struct m m = match("GET", "/health");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.rt->pattern, "/health");
  assert_int_equal(m.np, 0);
  assert_int_equal(match("GET", "/").status, 200);
  assert_int_equal(match("GET", "/healthz").status, 404);
  assert_int_equal(match("GET", "/health/").status, 404);
  assert_int_equal(match("GET", "/hea").status, 404);
  assert_int_equal(match("GET", "").status, 404);
}

static void params_capture_one_segment(void **state) {
  (void)state;
  struct m m = match("GET", "/api/_test/items/abc-1");
  assert_int_equal(m.status, 200);
  assert_int_equal(m.np, 1);
  assert_string_equal(m.params[0].name, "id");
  assert_string_equal(m.params[0].value, "abc-1");
  assert_int_equal(match("GET", "/api/_test/items/").status, 404);
  assert_int_equal(match("GET", "/api/_test/items").status, 404);
  assert_int_equal(match("GET", "/api/_test/items/a/b").status, 404);
}

static void method_not_allowed_lists_allow(void **state) {
  (void)state;
  struct m m = match("POST", "/health");
  assert_int_equal(m.status, 405);
  assert_string_equal(m.allow, "GET, HEAD");
  m = match("PUT", "/api/_test/items/x");
  assert_int_equal(m.status, 405);
  assert_non_null(strstr(m.allow, "GET"));
  assert_non_null(strstr(m.allow, "HEAD"));
  assert_non_null(strstr(m.allow, "DELETE"));
  /* Each method once. */
  assert_null(strstr(strstr(m.allow, "GET") + 1, "GET"));
}

static void head_matches_get(void **state) {
  (void)state;
  struct m m = match("HEAD", "/health");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.rt->method, "GET");
  assert_int_equal(match("HEAD", "/api/_test/echo").status, 405);
}

static void prefix_routes(void **state) {
  (void)state;
  struct m m = match("GET", "/docs/swagger-ui.css");
  assert_int_equal(m.status, 200);
  assert_int_equal(m.np, 1);
  assert_string_equal(m.params[0].name, "*");
  assert_string_equal(m.params[0].value, "swagger-ui.css");
  m = match("GET", "/docs/");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.params[0].value, "");
  m = match("GET", "/docs");
  assert_int_equal(m.status, 200);
  assert_string_equal(m.rt->pattern, "/docs");
}

static void test_routes_can_be_disabled(void **state) {
  (void)state;
  armor_router_enable_test_routes(false);
  assert_int_equal(match("POST", "/api/_test/echo").status, 404);
  armor_router_enable_test_routes(true);
  assert_int_equal(match("POST", "/api/_test/echo").status, 200);
}

static void every_route_matches_itself(void **state) {
  (void)state;
  /* Each pattern, with its parameters filled in, reaches a route with the same pattern and method. */
  for (size_t i = 0; i < armor_routes_count(); i++) {
    const struct armor_route *rt = armor_routes_at(i);
    char path[512];
    size_t j = 0;
    for (const char *p = rt->pattern; *p && j < sizeof path - 4; p++) {
      if (*p == '{') {
        p = strchr(p, '}');
        assert_non_null(p);
        path[j++] = 'x';
      } else if (*p == '*') {
        path[j++] = 'y';
      } else {
        path[j++] = *p;
      }
    }
    path[j] = 0;
    struct m m = match(rt->method, path);
    assert_int_equal(m.status, 200);
    if (strcmp(m.rt->pattern, rt->pattern))
      print_message("%s %s shadowed by %s\n", rt->method, rt->pattern, m.rt->pattern);
    assert_string_equal(m.rt->method, rt->method);
  }
}

static void allow_buffer_never_overflows(void **state) {
  (void)state;
  char small[6];
  const struct armor_route *rt = NULL;
  size_t idx;
  struct armor_kv params[ARMOR_MAX_PARAMS];
  int np;
  int st = armor_router_match(arena, "PATCH", "/api/_test/items/x", &rt, &idx, params, &np, small, sizeof small);
  assert_int_equal(st, 405);
  assert_true(strlen(small) < sizeof small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(literal_routes),
      cmocka_unit_test(params_capture_one_segment),
      cmocka_unit_test(method_not_allowed_lists_allow),
      cmocka_unit_test(head_matches_get),
      cmocka_unit_test(prefix_routes),
      cmocka_unit_test(test_routes_can_be_disabled),
      cmocka_unit_test(every_route_matches_itself),
      cmocka_unit_test(allow_buffer_never_overflows),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
