/*
 * Starts and stops the services in order. Each service owns its threads and
 * state; this file only sequences them.
 */
#include "app/app.h"
#include "api/api.h"
#include "app/services.h"
#include "auth/tokens.h"
#include "core/config.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int armor_app_open_store(void) {
  char err[512] = "";
  int rc = armor_store_open(armor_cfg.database, err, sizeof err);
  if (rc) {
    fprintf(stderr, "armor: %s\n", err);
    return -1;
  }
  err[0] = 0;
  rc = armor_store_migrate(err, sizeof err);
  if (rc) {
    fprintf(stderr, "armor: database migration failed: %s\n", err);
    return -1;
  }
  return 0;
}

int armor_app_start(void) {
  armor_system_init();
  if (armor_openapi_init()) {
    fprintf(stderr, "armor: the built-in OpenAPI document is invalid\n");
    return -1;
  }
  if (armor_settings_start()) return -1;
  if (armor_keys_start()) return -1;
  if (armor_accounts_start()) return -1;
  if (armor_notify_start()) return -1;
  if (armor_oauth_start()) return -1;
  return 0;
}

void armor_app_stop(void) {
  armor_oauth_stop();
  armor_notify_stop();
  armor_accounts_stop();
  armor_keys_stop();
  armor_settings_stop();
}

/* Prints the route table as JSON: the OpenAPI test compares it with the document. */
static int cmd_routes(int argc, char **argv) {
  json_t *a = json_array();
  for (size_t i = 0; i < armor_routes_count(); i++) {
    const struct armor_route *r = armor_routes_at(i);
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(r->method));
    json_object_set_new(o, "path", json_string(r->pattern));
    json_object_set_new(o, "auth", json_boolean(r->flags & ROUTE_AUTH));
    json_object_set_new(o, "hidden", json_boolean(r->flags & ROUTE_HIDDEN));
    if (r->perm) json_object_set_new(o, "permission", json_string(r->perm));
    json_array_append_new(a, o);
  }
  char *s = json_dumps(a, JSON_INDENT(1));
  printf("%s\n", s);
  armor_free(s);
  json_decref(a);
  return 0;
}

const struct armor_command armor_commands[] = {
  {"admin", "manage administrators (armor admin create --username U --password-stdin)", armor_cmd_admin},
  {"keys", "manage signing keys (armor keys rotate)", armor_cmd_keys},
  {"client", "manage OAuth clients (armor client create --name N --grant G)", armor_cmd_client},
  {"routes", "print the route table as JSON", cmd_routes},
  {NULL, NULL, NULL},
};
