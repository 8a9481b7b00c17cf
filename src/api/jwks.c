/*
 * Routes of the jwks module (placeholder table until the module lands).
 */
#include "app/services.h"

const struct armor_route armor_routes_jwks[] = {
  {NULL, NULL, NULL, 0, NULL, 0},
};
