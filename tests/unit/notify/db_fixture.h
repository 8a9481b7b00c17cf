/*
 * Test fixture: a fresh migrated store (SQLite in a temp folder, or a new
 * PostgreSQL database when ARMOR_TEST_PG holds a server URL) and an
 * ephemeral master key. Header-only; included by the settings and notify tests.
 */
#ifndef ARMOR_TEST_DB_FIXTURE_H
#define ARMOR_TEST_DB_FIXTURE_H
#include "core/armor.h"
#include "core/secret.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char fixture_url[512];

/* Opens and migrates a fresh database; returns 0 or -1. */
static int fixture_db_open(void) {
  if (sodium_init() < 0) return -1;
  armor_alloc_init();
  armor_secret_init_ephemeral();
  char err[256] = "";
  const char *pg = getenv("ARMOR_TEST_PG");
  if (pg && *pg) {
    if (armor_store_open(pg, err, sizeof err)) {
      fprintf(stderr, "fixture: %s\n", err);
      return -1;
    }
    unsigned char r[6];
    char hex[13], sql[128];
    randombytes_buf(r, sizeof r);
    armor_hex(r, sizeof r, hex);
    armor_fmt(sql, sizeof sql, "CREATE DATABASE armor_u_%s", hex);
    if (armor_db_exec(armor_db_get(), NULL, sql, "")) return -1;
    armor_store_close();
    const char *slash = strrchr(pg, '/');
    size_t base = slash && slash > pg + 12 ? (size_t)(slash - pg) : strlen(pg);
    armor_fmt(fixture_url, sizeof fixture_url, "%.*s/armor_u_%s", (int)base, pg, hex);
  } else {
    char dir[] = "/tmp/armor-unit-XXXXXX";
    if (!mkdtemp(dir)) return -1;
    armor_fmt(fixture_url, sizeof fixture_url, "sqlite:%s/t.db", dir);
  }
  if (armor_store_open(fixture_url, err, sizeof err) || armor_store_migrate(err, sizeof err)) {
    fprintf(stderr, "fixture: %s\n", err);
    return -1;
  }
  return 0;
}

/* Drops the PostgreSQL database made by fixture_db_open (SQLite files stay in /tmp). */
static void fixture_db_close(void) {
  armor_store_close();
  const char *pg = getenv("ARMOR_TEST_PG");
  if (!pg || !*pg) return;
  char err[256], sql[128];
  if (armor_store_open(pg, err, sizeof err)) return;
  armor_fmt(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", strrchr(fixture_url, '/') + 1);
  armor_db_exec(armor_db_get(), NULL, sql, "");
  armor_store_close();
}

#endif
