/*
 * What the storage backends share and nobody else sees: the ops table each
 * backend exports and the connection header.
 */
#ifndef ARMOR_STORE_INT_H
#define ARMOR_STORE_INT_H
#include "store/store.h"
#include <stdarg.h>

struct armor_store_ops {
  int kind;
  /* Parse/validate URL; connect. */
  int (*check_url)(const char *url, char *err, size_t errlen);
  struct armor_db *(*connect)(const char *url, char *err, size_t errlen);
  void (*disconnect)(struct armor_db *db);
  struct armor_stmt *(*prepare)(struct armor_db *db, const char *sql);
  void (*bind_text)(struct armor_stmt *st, int idx, const char *v);
  void (*bind_int)(struct armor_stmt *st, int idx, int64_t v);
  void (*bind_null)(struct armor_stmt *st, int idx);
  int (*step)(struct armor_stmt *st);
  const char *(*text)(struct armor_stmt *st, int col);
  int64_t (*integer)(struct armor_stmt *st, int col);
  bool (*is_null)(struct armor_stmt *st, int col);
  int64_t (*changes)(struct armor_stmt *st);
  void (*done)(struct armor_stmt *st);
  /* Runs a script of several statements without parameters. */
  int (*script)(struct armor_db *db, const char *sql, char *err, size_t errlen);
  int (*begin)(struct armor_db *db);
  int (*lock)(struct armor_db *db); /* migration lock */
  void (*unlock)(struct armor_db *db);
};

extern const struct armor_store_ops armor_store_sqlite;
extern const struct armor_store_ops armor_store_pg;

#endif
