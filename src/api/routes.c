/*
 * The single route table: one array per api/ module, listed here in the
 * order they are matched. A test checks this table against openapi.json.
 */
#include "api/api.h"

const struct armor_route *const armor_route_tables[] = {
  armor_routes_system,
  NULL,
};
