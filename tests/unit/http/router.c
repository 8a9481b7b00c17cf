/* Route matching over the real route table: literals, {params}, prefixes, 404, 405 with Allow, HEAD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/router.h"
#include <stdio.h>
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

/* The reference: does pattern p match path s (a {capture} is one non-empty segment, '*' of a prefix route the rest)? */
static bool ref_match(const struct armor_route *rt, const char *s) {
  const char *p = rt->pattern;
  while (*p) {
    if (*p == '{') {
      p = strchr(p, '}') + 1;
      size_t n = strcspn(s, "/");
      if (!n) return false;
      s += n;
    } else if (*p == '*' && (rt->flags & ROUTE_PREFIX)) {
      return true;
    } else if (*p++ != *s++) {
      return false;
    }
  }
  return !*s;
}

static void lookup_agrees_with_a_scan_of_the_table(void **state) {
  (void)state;
  /* For concrete paths of every pattern (and some near misses), with several methods, the router gives
     what a scan of the whole table in order gives: the first route matching path and method, else 405
     with the methods of the routes matching the path (in table order), else 404. */
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
  static const char *const fills[] = {"x", "me", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", ""};
  for (size_t i = 0; i < armor_routes_count(); i++) {
    for (size_t f = 0; f < sizeof fills / sizeof *fills; f++) {
      for (int tail = 0; tail < 3; tail++) {
        char path[600];
        size_t j = 0;
        for (const char *p = armor_routes_at(i)->pattern; *p && j < 500; p++) {
          if (*p == '{') {
            p = strchr(p, '}');
            j += (size_t)snprintf(path + j, sizeof path - j, "%s", fills[f]);
          } else if (*p == '*') {
            j += (size_t)snprintf(path + j, sizeof path - j, "%s", fills[f]);
          } else {
            path[j++] = *p;
          }
        }
        path[j] = 0;
        if (tail == 1) strcat(path, "/");
        if (tail == 2) strcat(path, "z");
        for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
          const char *method = methods[k];
          int want = 404;
          size_t want_i = 0;
          char allow[128] = "";
          for (size_t r = 0; r < armor_routes_count(); r++) {
            const struct armor_route *rt = armor_routes_at(r);
            if (!ref_match(rt, path)) continue;
            if (!strcmp(rt->method, method) || (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"))) {
              want = 200;
              want_i = r;
              break;
            }
            want = 405;
            const char *add[2] = {rt->method, !strcmp(rt->method, "GET") ? "HEAD" : NULL};
            for (int a = 0; a < 2 && add[a]; a++) {
              char probe[32];
              snprintf(probe, sizeof probe, ", %s,", add[a]);
              char have[160];
              snprintf(have, sizeof have, ", %s,", allow);
              if (strstr(have, probe)) continue;
              if (*allow) strcat(allow, ", ");
              strcat(allow, add[a]);
            }
          }
          struct m m = match(method, path);
          if (m.status != want) print_message("%s %s: %d, want %d\n", method, path, m.status, want);
          assert_int_equal(m.status, want);
          if (want == 200) assert_ptr_equal(m.rt, armor_routes_at(want_i));
          if (want == 405) assert_string_equal(m.allow, allow);
        }
      }
    }
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
      cmocka_unit_test(lookup_agrees_with_a_scan_of_the_table),
      cmocka_unit_test(allow_buffer_never_overflows),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
