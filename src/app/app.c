/*
 * Starts and stops the services in order. Each service owns its threads and
 * state; this file only sequences them.
 */
#include "app/app.h"
#include "api/api.h"
#include "core/config.h"
#include "core/secret.h"
#include "store/store.h"

#include <stdio.h>

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
  return 0;
}

void armor_app_stop(void) {}

const struct armor_command armor_commands[] = {
  {NULL, NULL, NULL},
};
