/*
 * SQLite backend: one connection per thread, WAL, busy timeout, foreign keys,
 * synchronous=FULL so a committed write survives a crash. Statements are
 * cached per connection by their SQL text.
 */
#include "store/store_int.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_SLOTS 128

struct armor_stmt {
  sqlite3_stmt *s;
  char *sql; /* owned copy: callers may pass SQL they build and free */
  struct armor_db *db;
  int64_t changes;
  bool busy; /* handed out and not yet done: a second user of the same SQL gets its own statement */
  bool temp; /* not in the cache: finalized and freed by done */
};

struct armor_db {
  sqlite3 *h;
  struct armor_stmt cache[CACHE_SLOTS];
  int ncache;
  int evict; /* next slot to replace when the cache is full (round robin) */
};

static const char *path_of(const char *url) { return url + 7; }

static int mkdirs_for(const char *path, char *err, size_t errlen) {
  char tmp[1024];
  if (!armor_fmt(tmp, sizeof tmp, "%s", path)) {
    armor_fmt(err, errlen, "database path too long");
    return ARMOR_INVALID;
  }
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0700) && errno != EEXIST) {
      armor_fmt(err, errlen, "cannot create folder %s: %s", tmp, strerror(errno));
      return ARMOR_DB;
    }
    *p = '/';
  }
  return ARMOR_OK;
}

static int check_url(const char *url, char *err, size_t errlen) {
  const char *p = path_of(url);
  if (!*p) {
    armor_fmt(err, errlen, "sqlite: URL needs a file path (sqlite:./data/armor.db)");
    return ARMOR_INVALID;
  }
  return mkdirs_for(p, err, errlen);
}

/*
 * Process-wide settings, before the first connection. No bulk page-cache allocation per connection: by
 * default each connection takes 20 cache lines (~85 KiB) at once, and Armor keeps one connection per thread
 * (six or more at idle) that mostly reads a few pages; lines are then allocated as pages are read.
 */
static void configure_once(void) { sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0); }

static struct armor_db *connect_(const char *url, char *err, size_t errlen) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, configure_once);
  sqlite3 *h = NULL;
  int rc = sqlite3_open_v2(path_of(url), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    armor_fmt(err, errlen, "cannot open %s: %s", path_of(url), h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close(h);
    return NULL;
  }
  sqlite3_busy_timeout(h, 10000);
  char *e = NULL;
  rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, &e);
  if (rc != SQLITE_OK) {
    armor_fmt(err, errlen, "cannot configure %s: %s", path_of(url), e ? e : sqlite3_errstr(rc));
    sqlite3_free(e);
    sqlite3_close(h);
    return NULL;
  }
  struct armor_db *db = armor_calloc(1, sizeof *db);
  db->h = h;
  return db;
}

static void disconnect(struct armor_db *db) {
  for (int i = 0; i < db->ncache; i++) {
    sqlite3_finalize(db->cache[i].s);
    armor_free(db->cache[i].sql);
  }
  sqlite3_close(db->h);
  armor_free(db);
}

static struct armor_stmt *prepare(struct armor_db *db, const char *sql) {
  for (int i = 0; i < db->ncache; i++) {
    struct armor_stmt *c = &db->cache[i];
    if (!c->busy && !strcmp(c->sql, sql)) {
      c->changes = 0;
      c->busy = true;
      return c;
    }
  }
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
    armor_err("sqlite: prepare failed: %s: %s", sqlite3_errmsg(db->h), sql);
    sqlite3_finalize(s);
    return NULL;
  }
  struct armor_stmt *st = NULL;
  if (db->ncache < CACHE_SLOTS) {
    st = &db->cache[db->ncache++];
  } else {
    /* Full: replace an idle entry. Entries never move, so statements in use keep their address. */
    for (int k = 0; k < CACHE_SLOTS && !st; k++) {
      struct armor_stmt *c = &db->cache[(db->evict + k) % CACHE_SLOTS];
      if (!c->busy) {
        st = c;
        db->evict = (db->evict + k + 1) % CACHE_SLOTS;
      }
    }
    if (st) {
      sqlite3_finalize(st->s);
      armor_free(st->sql);
    }
  }
  if (!st) {
    st = armor_calloc(1, sizeof *st);
    st->temp = true;
  }
  st->s = s;
  st->sql = armor_strdup(sql);
  st->db = db;
  st->changes = 0;
  st->busy = true;
  return st;
}

static int param_index(struct armor_stmt *st, int idx) {
  char name[16];
  armor_fmt(name, sizeof name, "$%d", idx);
  return sqlite3_bind_parameter_index(st->s, name);
}

static void bind_text(struct armor_stmt *st, int idx, const char *v) {
  int i = param_index(st, idx);
  if (i) sqlite3_bind_text(st->s, i, v, -1, SQLITE_TRANSIENT);
}
static void bind_int(struct armor_stmt *st, int idx, int64_t v) {
  int i = param_index(st, idx);
  if (i) sqlite3_bind_int64(st->s, i, v);
}
static void bind_null(struct armor_stmt *st, int idx) {
  int i = param_index(st, idx);
  if (i) sqlite3_bind_null(st->s, i);
}

static int step(struct armor_stmt *st) {
  int rc = sqlite3_step(st->s);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) {
    st->changes = sqlite3_changes64(st->db->h);
    return 0;
  }
  int ext = sqlite3_extended_errcode(st->db->h);
  if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) return ARMOR_CONFLICT;
  armor_err("sqlite: step failed: %s", sqlite3_errmsg(st->db->h));
  return ARMOR_DB;
}

static const char *text(struct armor_stmt *st, int col) { return (const char *)sqlite3_column_text(st->s, col); }
static int64_t integer(struct armor_stmt *st, int col) { return sqlite3_column_int64(st->s, col); }
static bool is_null(struct armor_stmt *st, int col) { return sqlite3_column_type(st->s, col) == SQLITE_NULL; }
static int64_t changes(struct armor_stmt *st) { return st->changes; }
static void done(struct armor_stmt *st) {
  if (st->temp) {
    sqlite3_finalize(st->s);
    armor_free(st->sql);
    armor_free(st);
    return;
  }
  sqlite3_reset(st->s);
  sqlite3_clear_bindings(st->s);
  st->busy = false;
}

static int script(struct armor_db *db, const char *sql, char *err, size_t errlen) {
  char *e = NULL;
  int rc = sqlite3_exec(db->h, sql, NULL, NULL, &e);
  if (rc == SQLITE_OK) return ARMOR_OK;
  armor_fmt(err, errlen, "%s", e ? e : sqlite3_errstr(rc));
  sqlite3_free(e);
  int ext = sqlite3_extended_errcode(db->h);
  return (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) ? ARMOR_CONFLICT : ARMOR_DB;
}

static int begin(struct armor_db *db) {
  char err[256];
  int rc = script(db, "BEGIN IMMEDIATE", err, sizeof err);
  if (rc) armor_err("sqlite: begin: %s", err);
  return rc;
}

static int lock(struct armor_db *db) { return 0; }
static void unlock(struct armor_db *db) {}

const struct armor_store_ops armor_store_sqlite = {
    .kind = ARMOR_DB_SQLITE,
    .check_url = check_url,
    .connect = connect_,
    .disconnect = disconnect,
    .prepare = prepare,
    .bind_text = bind_text,
    .bind_int = bind_int,
    .bind_null = bind_null,
    .step = step,
    .text = text,
    .integer = integer,
    .is_null = is_null,
    .changes = changes,
    .done = done,
    .script = script,
    .begin = begin,
    .lock = lock,
    .unlock = unlock,
};
