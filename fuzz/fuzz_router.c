/*
 * armor_router_match on an arbitrary method and path, with and without the
 * test routes. Input: "METHOD\nPATH" (no newline: the whole input is the
 * path for GET). Checks the contract: 200 fills out/params with at most
 * ARMOR_MAX_PARAMS entries and the route's method; 405 fills Allow; else 404.
 */
#include "fuzz_common.h"
#include "http/router.h"

#include <assert.h>
#include <stdio.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_ERR;
  armor_router_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  bool test_routes = size && (data[0] & 1);
  char *method, *path;
  if (memchr(data, '\n', size))
    fz_split(data, size, '\n', &method, &path);
  else {
    method = fz_str((const uint8_t *)"GET", 3);
    path = fz_str(data, size);
  }
  armor_router_enable_test_routes(test_routes);
  struct armor_arena *a = armor_arena_new();
  const struct armor_route *rt = NULL;
  size_t index = (size_t)-1;
  struct armor_kv params[ARMOR_MAX_PARAMS];
  int np = -1;
  char allow[128];
  int st = armor_router_match(a, method, path, &rt, &index, params, &np, allow, sizeof allow);
  if (st == 200) {
    assert(rt && index < armor_routes_count() && armor_routes_at(index) == rt);
    assert(np >= 0 && np <= ARMOR_MAX_PARAMS);
    assert(!strcmp(rt->method, method) || (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET")));
    for (int i = 0; i < np; i++) {
      assert(params[i].name && params[i].value);
      /* A captured segment never holds a slash, except the prefix wildcard. */
      if (strcmp(params[i].name, "*")) assert(!strchr(params[i].value, '/') && params[i].value[0]);
    }
  } else {
    assert(st == 404 || st == 405);
    assert(strlen(allow) < sizeof allow);
    if (st == 405) assert(allow[0]);
  }
  /* The same call without room for Allow must not write it. */
  char none[1] = {'Z'};
  armor_router_match(a, method, path, &rt, &index, params, &np, none, 0);
  assert(none[0] == 'Z');
  armor_arena_free(a);
  free(method);
  free(path);
  return 0;
}
