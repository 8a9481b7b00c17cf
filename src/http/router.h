/*
 * Route matching over the static table in api/routes.c. Pure: no I/O, no
 * allocation beyond the caller's arena; unit-tested without a server.
 */
#ifndef ARMOR_ROUTER_H
#define ARMOR_ROUTER_H
#include "http/http.h"

/* Prepares the table (index of literal prefixes). Call once before matching. */
void armor_router_init(void);

/* Lets ROUTE_TEST routes match (the API test suite sets ARMOR_TEST_ROUTES=1). Off by default. */
void armor_router_enable_test_routes(bool on);

/*
 * Matches method and path. Returns 200 with *out set and params filled
 * (values are copies in `arena`), 405 with `allow` holding "GET, POST", or 404.
 * HEAD matches GET routes, and Allow lists HEAD wherever it lists GET.
 */
int armor_router_match(struct armor_arena *arena, const char *method, const char *path, const struct armor_route **out,
                       size_t *index, struct armor_kv *params, int *nparams, char *allow, size_t allowlen);

#endif
