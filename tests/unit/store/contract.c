/*
 * The storage contract: the same cases against SQLite and, when ARMOR_TEST_PG names a PostgreSQL URL, against
 * PostgreSQL (in a database created for the run and dropped after it). Whatever a service may rely on through
 * store.h is pinned here: CRUD, NULLs, unique conflicts, transactions, migrations, parameter casts, the
 * statement cache, threads, and (PostgreSQL) reconnecting after the server dropped the connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/assets.h"
#include "store/store.h"
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char url[1024];

static struct armor_db *db(void) {
  struct armor_db *d = armor_db_get();
  assert_non_null(d);
  return d;
}

static int64_t count_rows(const char *where_name) {
  struct armor_stmt *st = where_name
                              ? armor_db_query(db(), "SELECT COUNT(*) FROM ct_items WHERE name = $1", "t", where_name)
                              : armor_db_query(db(), "SELECT COUNT(*) FROM ct_items", "");
  assert_non_null(st);
  assert_int_equal(armor_stmt_step(st), 1);
  int64_t n = armor_stmt_int(st, 0);
  armor_stmt_done(st);
  return n;
}

static int setup_suite(void **state) {
  (void)state;
  char err[512] = "";
  int rc = armor_store_open(url, err, sizeof err);
  if (rc) {
    print_error("cannot open %s: %s\n", url, err);
    return -1;
  }
  return 0;
}

static int teardown_suite(void **state) {
  (void)state;
  armor_store_close();
  return 0;
}

static int fresh_table(void **state) {
  (void)state;
  assert_int_equal(armor_db_exec(db(), NULL, "DROP TABLE IF EXISTS ct_items", ""), ARMOR_OK);
  assert_int_equal(armor_db_exec(db(), NULL,
                                 "CREATE TABLE ct_items (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, n BIGINT, "
                                 "note TEXT, flag INTEGER NOT NULL DEFAULT 0)",
                                 ""),
                   ARMOR_OK);
  return 0;
}

/* ---------------------------------------------------------------- cases */

static void insert_select_update_delete(void **state) {
  (void)state;
  int64_t ch = -1;
  assert_int_equal(armor_db_exec(db(), &ch,
                                 "INSERT INTO ct_items (id, name, n, note, flag) VALUES ($1, $2, $3, $4, $5)", "ttitb",
                                 "a", "alpha", (int64_t)7, "first", true),
                   ARMOR_OK);
  assert_int_equal(ch, 1);
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name, n) VALUES ($1, $2, $3)", "tti", "b",
                                 "beta", (int64_t)-9000000000000000001LL),
                   ARMOR_OK);
  struct armor_stmt *st = armor_db_query(db(), "SELECT id, name, n, note, flag FROM ct_items ORDER BY id", "");
  assert_non_null(st);
  assert_int_equal(armor_stmt_step(st), 1);
  assert_string_equal(armor_stmt_text(st, 0), "a");
  assert_string_equal(armor_stmt_text(st, 1), "alpha");
  assert_int_equal(armor_stmt_int(st, 2), 7);
  assert_string_equal(armor_stmt_text(st, 3), "first");
  assert_int_equal(armor_stmt_int(st, 4), 1);
  assert_int_equal(armor_stmt_step(st), 1);
  assert_string_equal(armor_stmt_text(st, 0), "b");
  assert_true(armor_stmt_int(st, 2) == -9000000000000000001LL);
  assert_int_equal(armor_stmt_int(st, 4), 0);
  assert_int_equal(armor_stmt_step(st), 0);
  armor_stmt_done(st);

  assert_int_equal(armor_db_exec(db(), &ch, "UPDATE ct_items SET n = n + $1 WHERE id = $2", "it", (int64_t)1, "a"),
                   ARMOR_OK);
  assert_int_equal(ch, 1);
  assert_int_equal(armor_db_exec(db(), &ch, "UPDATE ct_items SET n = 0 WHERE id = $1", "t", "zzz"), ARMOR_OK);
  assert_int_equal(ch, 0);
  assert_int_equal(armor_db_exec(db(), &ch, "UPDATE ct_items SET flag = 1", ""), ARMOR_OK);
  assert_int_equal(ch, 2);
  assert_int_equal(armor_db_exec(db(), &ch, "DELETE FROM ct_items WHERE id = $1", "t", "b"), ARMOR_OK);
  assert_int_equal(ch, 1);
  assert_int_equal(count_rows(NULL), 1);
}

static void nulls(void **state) {
  (void)state;
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name, n, note) VALUES ($1, $2, $3, $4)", "ttnt",
                                 "n1", "null-one", (const char *)NULL),
                   ARMOR_OK);
  struct armor_stmt *st = armor_db_query(db(), "SELECT n, note, name FROM ct_items WHERE id = $1", "t", "n1");
  assert_int_equal(armor_stmt_step(st), 1);
  assert_true(armor_stmt_is_null(st, 0));
  assert_true(armor_stmt_is_null(st, 1));
  assert_null(armor_stmt_text(st, 1));
  assert_int_equal(armor_stmt_int(st, 0), 0);
  assert_false(armor_stmt_is_null(st, 2));
  armor_stmt_done(st);
  /* NULL never equals NULL; IS NULL finds it. */
  st = armor_db_query(db(), "SELECT COUNT(*) FROM ct_items WHERE note IS NULL AND n IS NULL", "");
  assert_int_equal(armor_stmt_step(st), 1);
  assert_int_equal(armor_stmt_int(st, 0), 1);
  armor_stmt_done(st);
  /* A NULL where NOT NULL is required is a database error, not a conflict. */
  assert_int_equal(
      armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "n2", (const char *)NULL),
      ARMOR_DB);
}

static void unique_conflict(void **state) {
  (void)state;
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "u1", "uniq"),
                   ARMOR_OK);
  /* Same primary key, same unique name: both are ARMOR_CONFLICT. */
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "u1", "other"),
                   ARMOR_CONFLICT);
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "u2", "uniq"),
                   ARMOR_CONFLICT);
  /* The step-level API says the same. */
  struct armor_stmt *st = armor_db_query(db(), "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "u3", "uniq");
  assert_int_equal(armor_stmt_step(st), ARMOR_CONFLICT);
  armor_stmt_done(st);
  assert_int_equal(armor_db_exec(db(), NULL, "UPDATE ct_items SET name = $1 WHERE id = $2", "tt", "uniq", "zz"),
                   ARMOR_OK);
  /* The connection is fine afterwards. */
  assert_int_equal(count_rows("uniq"), 1);
  assert_int_equal(armor_store_ping(), ARMOR_OK);
}

static void upsert_and_returning(void **state) {
  (void)state;
  const char *sql =
      "INSERT INTO ct_items (id, name, n) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET n = ct_items.n + "
      "excluded.n RETURNING n";
  for (int i = 1; i <= 3; i++) {
    struct armor_stmt *st = armor_db_query(db(), sql, "tti", "up", "upsert", (int64_t)10);
    assert_int_equal(armor_stmt_step(st), 1);
    assert_int_equal(armor_stmt_int(st, 0), 10 * i);
    assert_int_equal(armor_stmt_step(st), 0);
    armor_stmt_done(st);
  }
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                 "tt", "up", "upsert"),
                   ARMOR_OK);
}

static void transactions(void **state) {
  (void)state;
  assert_int_equal(armor_db_begin(db()), ARMOR_OK);
  assert_int_equal(
      armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "t1", "rolled-back"),
      ARMOR_OK);
  assert_int_equal(count_rows("rolled-back"), 1); /* visible inside */
  armor_db_rollback(db());
  assert_int_equal(count_rows("rolled-back"), 0);

  assert_int_equal(armor_db_begin(db()), ARMOR_OK);
  assert_int_equal(
      armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "t2", "committed"), ARMOR_OK);
  assert_int_equal(
      armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "t3", "committed2"), ARMOR_OK);
  assert_int_equal(armor_db_commit(db()), ARMOR_OK);
  assert_int_equal(count_rows("committed") + count_rows("committed2"), 2);

  /* A conflict inside a transaction, then rollback: nothing of it stays, the connection works. */
  assert_int_equal(armor_db_begin(db()), ARMOR_OK);
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "t4", "partial"),
                   ARMOR_OK);
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "t2", "dup"),
                   ARMOR_CONFLICT);
  armor_db_rollback(db());
  assert_int_equal(count_rows("partial"), 0);
  assert_int_equal(count_rows(NULL), 2);
  /* Rollback without a transaction is harmless. */
  armor_db_rollback(db());
  assert_int_equal(armor_store_ping(), ARMOR_OK);
}

static void cast_params(void **state) {
  (void)state;
  struct armor_stmt *st = armor_db_query(db(),
                                         "SELECT CAST($1 AS TEXT) || 'x', COALESCE(CAST($2 AS TEXT), 'none'), "
                                         "CAST($3 AS BIGINT) + 1",
                                         "tni", "abc", (int64_t)41);
  assert_int_equal(armor_stmt_step(st), 1);
  assert_string_equal(armor_stmt_text(st, 0), "abcx");
  assert_string_equal(armor_stmt_text(st, 1), "none");
  assert_int_equal(armor_stmt_int(st, 2), 42);
  armor_stmt_done(st);
  /* Text that looks like SQL is data. */
  const char *evil = "x'); DROP TABLE ct_items; --";
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "e", evil),
                   ARMOR_OK);
  assert_int_equal(count_rows(evil), 1);
  /* UTF-8 round trip. */
  const char *utf = "\xc3\xa9t\xc3\xa9 \xf0\x9f\x94\x92 \xe4\xb8\xad";
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "u", utf),
                   ARMOR_OK);
  st = armor_db_query(db(), "SELECT name FROM ct_items WHERE id = $1", "t", "u");
  assert_int_equal(armor_stmt_step(st), 1);
  assert_string_equal(armor_stmt_text(st, 0), utf);
  armor_stmt_done(st);
  /* The same parameter used twice. */
  st = armor_db_query(db(), "SELECT CAST($1 AS BIGINT) * CAST($1 AS BIGINT)", "i", (int64_t)12);
  assert_int_equal(armor_stmt_step(st), 1);
  assert_int_equal(armor_stmt_int(st, 0), 144);
  armor_stmt_done(st);
}

static void statement_cache(void **state) {
  (void)state;
  /* More distinct statements than any cache holds, each twice, SQL built in a buffer that is then reused. */
  char sql[128];
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 300; i++) {
      armor_fmt(sql, sizeof sql, "SELECT CAST($1 AS BIGINT) + %d", i);
      struct armor_stmt *st = armor_db_query(db(), sql, "i", (int64_t)round);
      assert_non_null(st);
      assert_int_equal(armor_stmt_step(st), 1);
      assert_int_equal(armor_stmt_int(st, 0), i + round);
      armor_stmt_done(st);
    }
  /* The same SQL in use twice at once (a query inside the loop over its own results). */
  for (int i = 0; i < 3; i++) {
    char id[8];
    armor_fmt(id, sizeof id, "c%d", i);
    assert_int_equal(
        armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name, n) VALUES ($1, $1, $2)", "ti", id, (int64_t)i),
        ARMOR_OK);
  }
  const char *q = "SELECT id, n FROM ct_items WHERE n >= $1 ORDER BY n";
  struct armor_stmt *outer = armor_db_query(db(), q, "i", (int64_t)0);
  int seen = 0;
  while (armor_stmt_step(outer) == 1) {
    int64_t n = armor_stmt_int(outer, 1);
    struct armor_stmt *inner = armor_db_query(db(), q, "i", n);
    int rows = 0;
    while (armor_stmt_step(inner) == 1) rows++;
    armor_stmt_done(inner);
    assert_int_equal(rows, 3 - n);
    assert_int_equal(armor_stmt_int(outer, 1), n); /* the outer row is intact */
    seen++;
  }
  armor_stmt_done(outer);
  assert_int_equal(seen, 3);
  /* A statement with a syntax error fails cleanly. */
  assert_null(armor_db_query(db(), "SELEKT nonsense", ""));
  assert_int_equal(armor_db_exec(db(), NULL, "SELECT * FROM no_such_table", ""), ARMOR_DB);
  assert_int_equal(armor_store_ping(), ARMOR_OK);
}

#define THREADS 4
#define PER_THREAD 40
static void *writer(void *arg) {
  intptr_t t = (intptr_t)arg;
  intptr_t bad = 0;
  for (int i = 0; i < PER_THREAD; i++) {
    struct armor_db *d = armor_db_get();
    if (!d) return (void *)1;
    char id[32];
    armor_fmt(id, sizeof id, "w%d-%d", (int)t, i);
    if (armor_db_begin(d)) {
      bad++;
      continue;
    }
    if (armor_db_exec(d, NULL, "INSERT INTO ct_items (id, name, n) VALUES ($1, $1, $2)", "ti", id, (int64_t)t) ||
        armor_db_exec(d, NULL, "UPDATE ct_items SET n = n + 1 WHERE id = $1", "t", id)) {
      armor_db_rollback(d);
      bad++;
      continue;
    }
    if (armor_db_commit(d)) bad++;
  }
  armor_store_close();
  return (void *)bad;
}

static void threads_write_concurrently(void **state) {
  (void)state;
  pthread_t th[THREADS];
  for (intptr_t t = 0; t < THREADS; t++) assert_int_equal(pthread_create(&th[t], NULL, writer, (void *)t), 0);
  for (int t = 0; t < THREADS; t++) {
    void *bad;
    pthread_join(th[t], &bad);
    assert_int_equal((intptr_t)bad, 0);
  }
  assert_int_equal(count_rows(NULL), THREADS * PER_THREAD);
}

static void migrations_idempotent(void **state) {
  (void)state;
  char err[256] = "";
  size_t n = 0;
  for (const struct armor_asset *a = armor_assets; a->kind; a++)
    if (!strcmp(a->kind, "migrations")) n++;
  for (int i = 0; i < 3; i++) {
    int rc = armor_store_migrate(err, sizeof err);
    if (rc) fail_msg("migrate: %s", err);
  }
  struct armor_stmt *st = armor_db_query(db(), "SELECT COUNT(*), MIN(version) FROM schema_migrations", "");
  assert_int_equal(armor_stmt_step(st), 1);
  assert_int_equal(armor_stmt_int(st, 0), (int64_t)n);
  assert_int_equal(armor_stmt_int(st, 1), 1);
  armor_stmt_done(st);
  /* The platform's own table exists and works. */
  assert_int_equal(armor_db_exec(db(), NULL,
                                 "INSERT INTO armor_meta (key, value, updated_at) VALUES ($1, $2, $3) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                 "tti", "contract", "1", (int64_t)0),
                   ARMOR_OK);
}

/* PostgreSQL: the server drops the connection (as after a restart); the next statement reconnects. */
static void *terminate(void *arg) {
  int64_t pid = *(int64_t *)arg;
  struct armor_db *d = armor_db_get();
  intptr_t ok = 0;
  struct armor_stmt *st = d ? armor_db_query(d, "SELECT pg_terminate_backend(CAST($1 AS INTEGER))", "i", pid) : NULL;
  if (st && armor_stmt_step(st) == 1) ok = 1;
  armor_stmt_done(st);
  armor_store_close();
  return (void *)ok;
}

static int64_t backend_pid(void) {
  struct armor_stmt *st = armor_db_query(db(), "SELECT pg_backend_pid()", "");
  assert_int_equal(armor_stmt_step(st), 1);
  int64_t pid = armor_stmt_int(st, 0);
  armor_stmt_done(st);
  return pid;
}

static void kill_own_connection(void) {
  int64_t pid = backend_pid();
  pthread_t th;
  void *ok;
  assert_int_equal(pthread_create(&th, NULL, terminate, &pid), 0);
  pthread_join(th, &ok);
  assert_int_equal((intptr_t)ok, 1);
  usleep(100000);
}

static void pg_reconnects(void **state) {
  (void)state;
  if (armor_store_kind() != ARMOR_DB_POSTGRES) skip();
  int64_t before = backend_pid();
  kill_own_connection();
  /* Outside a transaction the statement is retried on a new connection. */
  assert_int_equal(count_rows(NULL), 0);
  assert_true(backend_pid() != before);
  kill_own_connection();
  assert_int_equal(armor_store_ping(), ARMOR_OK);
  /* Inside a transaction the statement fails (the transaction is gone), and the connection is usable after. */
  assert_int_equal(armor_db_begin(db()), ARMOR_OK);
  kill_own_connection();
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "r1", "lost"),
                   ARMOR_DB);
  armor_db_rollback(db());
  assert_int_equal(count_rows("lost"), 0);
  kill_own_connection();
  /* begin after a dropped connection reconnects too. */
  assert_int_equal(armor_db_begin(db()), ARMOR_OK);
  assert_int_equal(armor_db_exec(db(), NULL, "INSERT INTO ct_items (id, name) VALUES ($1, $2)", "tt", "r2", "kept"),
                   ARMOR_OK);
  assert_int_equal(armor_db_commit(db()), ARMOR_OK);
  assert_int_equal(count_rows("kept"), 1);
}

static void kind_and_ping(void **state) {
  (void)state;
  int want = !strncmp(url, "sqlite:", 7) ? ARMOR_DB_SQLITE : ARMOR_DB_POSTGRES;
  assert_int_equal(armor_store_kind(), want);
  assert_int_equal(armor_store_ping(), ARMOR_OK);
}

/* ---------------------------------------------------------------- runner */

static const struct CMUnitTest cases[] = {
    cmocka_unit_test(kind_and_ping),
    cmocka_unit_test(migrations_idempotent),
    cmocka_unit_test_setup(insert_select_update_delete, fresh_table),
    cmocka_unit_test_setup(nulls, fresh_table),
    cmocka_unit_test_setup(unique_conflict, fresh_table),
    cmocka_unit_test_setup(upsert_and_returning, fresh_table),
    cmocka_unit_test_setup(transactions, fresh_table),
    cmocka_unit_test_setup(cast_params, fresh_table),
    cmocka_unit_test_setup(statement_cache, fresh_table),
    cmocka_unit_test_setup(threads_write_concurrently, fresh_table),
    cmocka_unit_test_setup(pg_reconnects, fresh_table),
};

/* Runs one admin statement on `admin_url` (CREATE/DROP DATABASE). */
static int admin(const char *admin_url, const char *sql) {
  char err[512];
  if (armor_store_open(admin_url, err, sizeof err)) {
    print_error("cannot open %s: %s\n", admin_url, err);
    return -1;
  }
  int rc = armor_db_exec(armor_db_get(), NULL, sql, "");
  armor_store_close();
  return rc;
}

int main(void) {
  if (sodium_init() < 0) return 1;
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_WARNING;
  int failures = 0;

  char dir[] = "/tmp/armor-contract-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  armor_fmt(url, sizeof url, "sqlite:%s/contract.db", dir);
  failures += cmocka_run_group_tests_name("store contract: SQLite", cases, setup_suite, teardown_suite);
  char cmd[128];
  armor_fmt(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);

  const char *pg = getenv("ARMOR_TEST_PG");
  if (pg && *pg) {
    /* A database of its own, dropped afterwards: the server may be shared. */
    unsigned char rnd[6];
    char hex[13], name[32], sql[96];
    randombytes_buf(rnd, sizeof rnd);
    armor_hex(rnd, sizeof rnd, hex);
    armor_fmt(name, sizeof name, "armor_contract_%s", hex);
    const char *scheme = strstr(pg, "://");
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *query = slash ? strchr(slash, '?') : NULL;
    if (!scheme) {
      fprintf(stderr, "ARMOR_TEST_PG must be a postgres:// URL\n");
      return 1;
    }
    armor_fmt(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (admin(pg, sql)) return 1;
    armor_fmt(url, sizeof url, "%.*s/%s%s", (int)(slash ? slash - pg : (ptrdiff_t)strlen(pg)), pg, name,
              query ? query : "");
    failures += cmocka_run_group_tests_name("store contract: PostgreSQL", cases, setup_suite, teardown_suite);
    armor_fmt(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    if (admin(pg, sql)) failures++;
  } else {
    printf("store contract: PostgreSQL skipped (set ARMOR_TEST_PG=postgres://...)\n");
  }
  return failures ? 1 : 0;
}
