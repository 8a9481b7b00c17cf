/*
 * Shared set-up for unit tests of services that need a migrated store, the
 * settings, the signing keys and the accounts service: a fresh SQLite file, or
 * a fresh PostgreSQL database when ARMOR_TEST_PG names a server. Header-only:
 * every test binary includes it once.
 */
#ifndef ARMOR_TEST_SERVICE_DB_H
#define ARMOR_TEST_SERVICE_DB_H

#include "auth/accounts.h"
#include "auth/tokens.h"
#include "core/armor.h"
#include "core/config.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char test_pg_db[64];
static char test_db_url[1024];

/* Opens and migrates a fresh store named after `tag`, then starts settings, keys and accounts. 0 or -1. */
static int armor_test_services_open(const char *tag) {
  if (sodium_init() < 0) return -1;
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_ERR;
  armor_secret_init_ephemeral();
  armor_cfg.public_url = armor_strdup("https://armor.test");
  setenv("ARMOR_ARGON2_MEMORY_KIB", "64", 1);
  setenv("ARMOR_ARGON2_OPS", "1", 1);
  const char *pg = getenv("ARMOR_TEST_PG");
  if (pg && *pg) {
    unsigned char r[6];
    char hex[13], cmd[1024];
    randombytes_buf(r, sizeof r);
    armor_hex(r, sizeof r, hex);
    snprintf(test_pg_db, sizeof test_pg_db, "armor_u_%s", hex);
    snprintf(cmd, sizeof cmd, "psql '%s' -qc 'CREATE DATABASE %s' >/dev/null", pg, test_pg_db);
    if (system(cmd) != 0) return -1;
    const char *slash = strrchr(pg + strlen("postgres://"), '/');
    size_t base = slash ? (size_t)(slash - pg) : strlen(pg);
    snprintf(test_db_url, sizeof test_db_url, "%.*s/%s", (int)base, pg, test_pg_db);
  } else {
    snprintf(test_db_url, sizeof test_db_url, "sqlite:/tmp/armor-unit-%s-%d/armor.db", tag, (int)getpid());
  }
  char err[512] = "";
  if (armor_store_open(test_db_url, err, sizeof err) || armor_store_migrate(err, sizeof err)) {
    fprintf(stderr, "store: %s\n", err);
    return -1;
  }
  if (armor_settings_start() || armor_keys_start() || armor_accounts_init()) return -1;
  return 0;
}

/* Stops what armor_test_services_open started and removes the store. */
static void armor_test_services_close(const char *tag) {
  armor_accounts_shutdown();
  armor_keys_stop();
  armor_store_close();
  char cmd[1024];
  if (test_pg_db[0])
    snprintf(cmd, sizeof cmd, "psql '%s' -qc 'DROP DATABASE IF EXISTS %s WITH (FORCE)' >/dev/null 2>&1",
             getenv("ARMOR_TEST_PG"), test_pg_db);
  else
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/armor-unit-%s-%d", tag, (int)getpid());
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

#endif
