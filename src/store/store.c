/*
 * Backend selection, per-thread connections, the one-call query helpers and
 * the migration runner. Dialect differences stay in the backends; migrations
 * mark backend-only lines with "--@sqlite " or "--@postgres ".
 */
#include "store/store_int.h"
#include "core/assets.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const struct armor_store_ops *ops;
static char *store_url;
static pthread_key_t conn_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void close_conn(void *p) {
  if (p && ops) ops->disconnect(p);
}
static void make_key(void) { pthread_key_create(&conn_key, close_conn); }

int armor_store_kind(void) { return ops ? ops->kind : 0; }

int armor_store_open(const char *url, char *err, size_t errlen) {
  if (!strncmp(url, "sqlite:", 7))
    ops = &armor_store_sqlite;
  else if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
    ops = &armor_store_pg;
  else {
    armor_fmt(err, errlen, "database URL must start with sqlite: or postgres://");
    return ARMOR_INVALID;
  }
  int rc = ops->check_url(url, err, errlen);
  if (rc) return rc;
  armor_free(store_url);
  store_url = armor_strdup(url);
  pthread_once(&key_once, make_key);
  struct armor_db *db = ops->connect(store_url, err, errlen);
  if (!db) return ARMOR_DB;
  pthread_setspecific(conn_key, db);
  return ARMOR_OK;
}

void armor_store_close(void) {
  if (!ops) return;
  struct armor_db *db = pthread_getspecific(conn_key);
  if (db) {
    ops->disconnect(db);
    pthread_setspecific(conn_key, NULL);
  }
}

struct armor_db *armor_db_get(void) {
  if (!ops) return NULL;
  struct armor_db *db = pthread_getspecific(conn_key);
  if (db) return db;
  char err[256];
  db = ops->connect(store_url, err, sizeof err);
  if (!db) {
    armor_err("database: %s", err);
    return NULL;
  }
  pthread_setspecific(conn_key, db);
  return db;
}

int armor_store_ping(void) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_stmt *st = ops->prepare(db, "SELECT 1");
  if (!st) return ARMOR_DB;
  int rc = ops->step(st);
  ops->done(st);
  return rc == 1 ? ARMOR_OK : ARMOR_DB;
}

struct armor_stmt *armor_db_prepare(struct armor_db *db, const char *sql) {
  return db ? ops->prepare(db, sql) : NULL;
}
void armor_stmt_bind_text(struct armor_stmt *st, int idx, const char *v) {
  if (v)
    ops->bind_text(st, idx, v);
  else
    ops->bind_null(st, idx);
}
void armor_stmt_bind_int(struct armor_stmt *st, int idx, int64_t v) { ops->bind_int(st, idx, v); }
void armor_stmt_bind_null(struct armor_stmt *st, int idx) { ops->bind_null(st, idx); }
int armor_stmt_step(struct armor_stmt *st) { return ops->step(st); }
const char *armor_stmt_text(struct armor_stmt *st, int col) { return ops->text(st, col); }
int64_t armor_stmt_int(struct armor_stmt *st, int col) { return ops->integer(st, col); }
bool armor_stmt_is_null(struct armor_stmt *st, int col) { return ops->is_null(st, col); }
int64_t armor_stmt_changes(struct armor_stmt *st) { return ops->changes(st); }
void armor_stmt_done(struct armor_stmt *st) {
  if (st) ops->done(st);
}

static struct armor_stmt *vquery(struct armor_db *db, const char *sql, const char *types, va_list ap) {
  struct armor_stmt *st = armor_db_prepare(db, sql);
  if (!st) return NULL;
  int idx = 1;
  for (const char *t = types; t && *t; t++, idx++) {
    switch (*t) {
    case 't': armor_stmt_bind_text(st, idx, va_arg(ap, const char *)); break;
    case 'i': armor_stmt_bind_int(st, idx, va_arg(ap, int64_t)); break;
    case 'b': armor_stmt_bind_int(st, idx, va_arg(ap, int) ? 1 : 0); break;
    case 'n': armor_stmt_bind_null(st, idx); break;
    default:
      armor_err("database: bad bind type '%c'", *t);
      armor_stmt_done(st);
      return NULL;
    }
  }
  return st;
}

struct armor_stmt *armor_db_query(struct armor_db *db, const char *sql, const char *types, ...) {
  va_list ap;
  va_start(ap, types);
  struct armor_stmt *st = vquery(db, sql, types, ap);
  va_end(ap);
  return st;
}

int armor_db_exec(struct armor_db *db, int64_t *changes, const char *sql, const char *types, ...) {
  va_list ap;
  va_start(ap, types);
  struct armor_stmt *st = vquery(db, sql, types, ap);
  va_end(ap);
  if (!st) return ARMOR_DB;
  int rc;
  while ((rc = armor_stmt_step(st)) == 1) {}
  if (changes) *changes = rc == 0 ? armor_stmt_changes(st) : 0;
  armor_stmt_done(st);
  return rc == 0 ? ARMOR_OK : rc;
}

int armor_db_begin(struct armor_db *db) { return db ? ops->begin(db) : ARMOR_DB; }

static int simple(struct armor_db *db, const char *sql) {
  char err[256];
  if (!db) return ARMOR_DB;
  int rc = ops->script(db, sql, err, sizeof err);
  if (rc) armor_err("database: %s: %s", sql, err);
  return rc;
}

int armor_db_commit(struct armor_db *db) { return simple(db, "COMMIT"); }
void armor_db_rollback(struct armor_db *db) {
  char err[256];
  if (db) ops->script(db, "ROLLBACK", err, sizeof err);
}

/* ---------------------------------------------------------------- migrations */

static int cmp_asset(const void *a, const void *b) {
  const struct armor_asset *x = *(const struct armor_asset *const *)a, *y = *(const struct armor_asset *const *)b;
  return strcmp(x->name, y->name);
}

/* Keeps lines for this backend: strips "--@sqlite " / "--@postgres " markers. */
static char *dialect(const char *src, size_t n, int kind) {
  char *out = armor_malloc(n + 1);
  size_t j = 0;
  const char *p = src, *end = src + n;
  const char *mine = kind == ARMOR_DB_SQLITE ? "--@sqlite " : "--@postgres ";
  const char *other = kind == ARMOR_DB_SQLITE ? "--@postgres " : "--@sqlite ";
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl + 1 : end;
    const char *q = p;
    while (q < le && (*q == ' ' || *q == '\t')) q++;
    if ((size_t)(le - q) >= strlen(other) && !strncmp(q, other, strlen(other))) {
      /* skip */
    } else if ((size_t)(le - q) >= strlen(mine) && !strncmp(q, mine, strlen(mine))) {
      q += strlen(mine);
      memcpy(out + j, q, (size_t)(le - q));
      j += (size_t)(le - q);
    } else {
      memcpy(out + j, p, (size_t)(le - p));
      j += (size_t)(le - p);
    }
    p = le;
  }
  out[j] = 0;
  return out;
}

int armor_store_migrate(char *err, size_t errlen) {
  struct armor_db *db = armor_db_get();
  if (!db) {
    armor_fmt(err, errlen, "database unreachable");
    return ARMOR_DB;
  }
  const struct armor_asset *list[256];
  size_t n = 0;
  for (const struct armor_asset *a = armor_assets; a->kind && n < 256; a++)
    if (!strcmp(a->kind, "migrations")) list[n++] = a;
  qsort(list, n, sizeof list[0], cmp_asset);
  if (ops->lock(db)) {
    armor_fmt(err, errlen, "cannot take the migration lock");
    return ARMOR_DB;
  }
  int rc = ops->script(db,
                       "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                       "applied_at BIGINT NOT NULL)",
                       err, errlen);
  for (size_t i = 0; !rc && i < n; i++) {
    long long version;
    char num[16];
    size_t k = 0;
    while (k < sizeof num - 1 && list[i]->name[k] >= '0' && list[i]->name[k] <= '9') {
      num[k] = list[i]->name[k];
      k++;
    }
    num[k] = 0;
    if (!armor_parse_int(num, 1, 1000000, &version)) continue;
    /* Check and apply inside one transaction: on SQLite, BEGIN IMMEDIATE serialises processes that share the
       file; on PostgreSQL the advisory lock does. */
    rc = ops->begin(db);
    if (rc) break;
    struct armor_stmt *st =
        armor_db_query(db, "SELECT 1 FROM schema_migrations WHERE version = $1", "i", (int64_t)version);
    int have = st ? armor_stmt_step(st) : ARMOR_DB;
    armor_stmt_done(st);
    if (have == 1) {
      armor_db_rollback(db);
      continue;
    }
    if (have < 0) {
      armor_db_rollback(db);
      armor_fmt(err, errlen, "cannot read schema_migrations");
      rc = ARMOR_DB;
      break;
    }
    char *sql = dialect(list[i]->start, (size_t)(list[i]->end - list[i]->start), ops->kind);
    rc = ops->script(db, sql, err, errlen);
    armor_free(sql);
    if (!rc)
      rc = armor_db_exec(db, NULL, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                         "iti", (int64_t)version, list[i]->name, armor_time());
    if (!rc) rc = armor_db_commit(db);
    if (rc) {
      armor_db_rollback(db);
      char e2[256];
      armor_fmt(e2, sizeof e2, "migration %s failed: %s", list[i]->name, err);
      armor_fmt(err, errlen, "%s", e2);
    } else {
      armor_info("database: applied migration %s", list[i]->name);
    }
  }
  ops->unlock(db);
  return rc;
}
