/*
 * The single route table: one array per api/ module, listed here in the
 * order they are matched. A test checks this table against openapi.json.
 */
#include "api/api.h"
#include "app/services.h"

const struct armor_route *const armor_route_tables[] = {
  armor_routes_system,
  armor_routes_jwks,
  armor_routes_auth,
  armor_routes_recovery,
  armor_routes_settings,
  armor_routes_oauth,
  armor_routes_ui,
  NULL,
};
