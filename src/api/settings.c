/*
 * Routes of the settings module (placeholder table until the module lands).
 */
#include "app/services.h"

const struct armor_route armor_routes_settings[] = {
  {NULL, NULL, NULL, 0, NULL, 0},
};
