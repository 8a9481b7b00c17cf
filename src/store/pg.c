/*
 * PostgreSQL backend over libpq: a connection per thread that uses the
 * database, named prepared statements cached per connection, text-format
 * parameters, reconnect (and one retry outside transactions) after the server
 * restarts, and migrations under an advisory lock so nodes can start together.
 */
#include "store/store_int.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 32
#define CACHE_SLOTS 256
#define MIGRATION_LOCK_ID 7277001

struct prepared {
  char *sql;
  char name[16];
};

struct armor_db {
  PGconn *c;
  struct prepared cache[CACHE_SLOTS];
  int ncache;
  int next_id;
  bool in_tx;
};

struct armor_stmt {
  struct armor_db *db;
  const char *sql;
  const char *name;
  char *vals[MAX_PARAMS];
  int nparams;
  PGresult *res;
  int row, nrows;
  bool executed;
  int64_t changes;
};

static void quiet(void *arg, const char *msg) {
  (void)arg;
  (void)msg;
}

/* Replaces the password of url, wherever it appears in msg, with "***": errors must not print secrets. */
static void scrub_password(char *msg, const char *url) {
  PQconninfoOption *o = PQconninfoParse(url, NULL);
  if (!o) {
    /* Unparsable: hide everything between "://" and "@". */
    const char *sch = strstr(url, "://"), *at = sch ? strchr(sch + 3, '@') : NULL;
    if (!sch || !at || at == sch + 3) return;
    size_t n = (size_t)(at - (sch + 3));
    char *cred = armor_strndup(sch + 3, n);
    for (char *p; (p = strstr(msg, cred));) {
      memset(p, '*', n);
    }
    armor_free(cred);
    return;
  }
  for (PQconninfoOption *i = o; i->keyword; i++) {
    if (strcmp(i->keyword, "password") || !i->val || !*i->val) continue;
    size_t n = strlen(i->val);
    for (char *p; (p = strstr(msg, i->val));) memset(p, '*', n);
  }
  PQconninfoFree(o);
}

/* One line: newlines and tabs of libpq messages become spaces, trailing space goes. */
static void one_line(char *s) {
  for (char *p = s; *p; p++)
    if (*p == '\n' || *p == '\t' || *p == '\r') *p = ' ';
  size_t n = strlen(s);
  while (n && s[n - 1] == ' ') s[--n] = 0;
}

static int check_url(const char *url, char *err, size_t errlen) {
  char *e = NULL;
  PQconninfoOption *o = PQconninfoParse(url, &e);
  if (!o) {
    armor_fmt(err, errlen, "malformed database URL: %s", e ? e : "cannot parse");
    PQfreemem(e);
    one_line(err);
    scrub_password(err, url);
    return ARMOR_INVALID;
  }
  int rc = ARMOR_OK;
  for (PQconninfoOption *i = o; i->keyword; i++) {
    long long v;
    if (!strcmp(i->keyword, "port") && i->val && *i->val && !strchr(i->val, ',') &&
        !armor_parse_int(i->val, 1, 65535, &v)) {
      armor_fmt(err, errlen, "malformed database URL: port must be 1-65535, got \"%s\"", i->val);
      rc = ARMOR_INVALID;
    }
  }
  PQconninfoFree(o);
  return rc;
}

static struct armor_db *connect_(const char *url, char *err, size_t errlen) {
  /* A default connect timeout, so that an unreachable host fails start-up and requests in seconds rather than
     after the kernel's TCP timeout; a connect_timeout in the URL wins (later keywords override). */
  const char *const keys[] = {"connect_timeout", "dbname", "application_name", NULL};
  const char *const vals[] = {"5", url, "armor", NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    armor_fmt(err, errlen, "cannot connect to PostgreSQL: %s", c ? PQerrorMessage(c) : "out of memory");
    one_line(err);
    scrub_password(err, url);
    PQfinish(c);
    return NULL;
  }
  PQsetNoticeProcessor(c, quiet, NULL);
  struct armor_db *db = armor_calloc(1, sizeof *db);
  db->c = c;
  return db;
}

static void clear_cache(struct armor_db *db) {
  for (int i = 0; i < db->ncache; i++) armor_free(db->cache[i].sql);
  db->ncache = 0;
}

static void disconnect(struct armor_db *db) {
  clear_cache(db);
  PQfinish(db->c);
  armor_free(db);
}

static const char *ensure_prepared(struct armor_db *db, const char *sql);

static struct armor_stmt *prepare(struct armor_db *db, const char *sql) {
  /* Prepare now, as SQLite does, so that bad SQL fails here; a lost connection is left to step to repair. */
  if (!ensure_prepared(db, sql) && PQstatus(db->c) == CONNECTION_OK) return NULL;
  struct armor_stmt *st = armor_calloc(1, sizeof *st);
  st->db = db;
  st->sql = sql;
  return st;
}

static void set_val(struct armor_stmt *st, int idx, char *v) {
  if (idx < 1 || idx > MAX_PARAMS) {
    armor_free(v);
    return;
  }
  armor_free(st->vals[idx - 1]);
  st->vals[idx - 1] = v;
  if (idx > st->nparams) st->nparams = idx;
}

static void bind_text(struct armor_stmt *st, int idx, const char *v) { set_val(st, idx, armor_strdup(v)); }
static void bind_int(struct armor_stmt *st, int idx, int64_t v) {
  char buf[24];
  armor_fmt(buf, sizeof buf, "%lld", (long long)v);
  set_val(st, idx, armor_strdup(buf));
}
static void bind_null(struct armor_stmt *st, int idx) { set_val(st, idx, NULL); }

/* Finds or creates the server-side prepared statement for st->sql. */
static const char *ensure_prepared(struct armor_db *db, const char *sql) {
  for (int i = 0; i < db->ncache; i++)
    if (!strcmp(db->cache[i].sql, sql)) return db->cache[i].name;
  if (db->ncache == CACHE_SLOTS) {
    /* Full: forget everything (DEALLOCATE ALL) rather than track use. */
    PGresult *r = PQexec(db->c, "DEALLOCATE ALL");
    PQclear(r);
    clear_cache(db);
  }
  struct prepared *p = &db->cache[db->ncache];
  armor_fmt(p->name, sizeof p->name, "a%d", db->next_id++);
  PGresult *r = PQprepare(db->c, p->name, sql, 0, NULL);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    if (PQstatus(db->c) == CONNECTION_OK)
      armor_err("postgres: prepare failed: %s: %s", PQresultErrorMessage(r), sql);
    else
      armor_warn("postgres: connection lost");
    PQclear(r);
    return NULL;
  }
  PQclear(r);
  p->sql = armor_strdup(sql);
  db->ncache++;
  return p->name;
}

static int run(struct armor_stmt *st) {
  struct armor_db *db = st->db;
  for (int attempt = 0; attempt < 2; attempt++) {
    const char *name = ensure_prepared(db, st->sql);
    if (name) {
      st->res = PQexecPrepared(db->c, name, st->nparams, (const char *const *)st->vals, NULL, NULL, 0);
      ExecStatusType s = PQresultStatus(st->res);
      if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
        st->nrows = PQntuples(st->res);
        st->row = -1;
        const char *ct = PQcmdTuples(st->res);
        st->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
        return ARMOR_OK;
      }
      const char *state = PQresultErrorField(st->res, PG_DIAG_SQLSTATE);
      if (state && !strcmp(state, "23505")) {
        PQclear(st->res);
        st->res = NULL;
        return ARMOR_CONFLICT;
      }
      if (PQstatus(db->c) == CONNECTION_OK) {
        armor_err("postgres: %s", PQresultErrorMessage(st->res));
        PQclear(st->res);
        st->res = NULL;
        return ARMOR_DB;
      }
      PQclear(st->res);
      st->res = NULL;
    }
    if (PQstatus(db->c) == CONNECTION_OK) return ARMOR_DB;
    /* The server went away: reconnect; retry once unless a transaction was open. */
    bool was_tx = db->in_tx;
    PQreset(db->c);
    clear_cache(db);
    db->in_tx = false;
    if (PQstatus(db->c) != CONNECTION_OK) {
      armor_err("postgres: connection lost and reconnect failed");
      return ARMOR_DB;
    }
    armor_warn("postgres: reconnected");
    if (was_tx) return ARMOR_DB;
  }
  return ARMOR_DB;
}

static int step(struct armor_stmt *st) {
  if (!st->executed) {
    st->executed = true;
    int rc = run(st);
    if (rc) return rc;
  }
  if (!st->res) return ARMOR_DB;
  st->row++;
  return st->row < st->nrows ? 1 : 0;
}

static const char *text(struct armor_stmt *st, int col) {
  if (!st->res || st->row < 0 || st->row >= st->nrows || col >= PQnfields(st->res)) return NULL;
  if (PQgetisnull(st->res, st->row, col)) return NULL;
  return PQgetvalue(st->res, st->row, col);
}
static int64_t integer(struct armor_stmt *st, int col) {
  const char *t = text(st, col);
  return t ? strtoll(t, NULL, 10) : 0;
}
static bool is_null(struct armor_stmt *st, int col) { return text(st, col) == NULL; }
static int64_t changes(struct armor_stmt *st) { return st->changes; }
static void done(struct armor_stmt *st) {
  for (int i = 0; i < st->nparams; i++) armor_free(st->vals[i]);
  PQclear(st->res);
  armor_free(st);
}

static int script(struct armor_db *db, const char *sql, char *err, size_t errlen) {
  PGresult *r = PQexec(db->c, sql);
  ExecStatusType s = PQresultStatus(r);
  int rc = ARMOR_OK;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    armor_fmt(err, errlen, "%s", PQresultErrorMessage(r));
    rc = state && !strcmp(state, "23505") ? ARMOR_CONFLICT : ARMOR_DB;
    if (PQstatus(db->c) != CONNECTION_OK) {
      PQreset(db->c);
      clear_cache(db);
      db->in_tx = false;
    }
  }
  PQclear(r);
  if (!rc && !strcmp(sql, "COMMIT")) db->in_tx = false;
  if (!strcmp(sql, "ROLLBACK")) db->in_tx = false;
  return rc;
}

static int begin(struct armor_db *db) {
  char err[256];
  if (PQstatus(db->c) != CONNECTION_OK) {
    PQreset(db->c);
    clear_cache(db);
  }
  int rc = script(db, "BEGIN", err, sizeof err);
  if (rc == ARMOR_DB && PQstatus(db->c) == CONNECTION_OK) rc = script(db, "BEGIN", err, sizeof err);
  if (rc)
    armor_err("postgres: begin: %s", err);
  else
    db->in_tx = true;
  return rc;
}

static int lock(struct armor_db *db) {
  char err[256], sql[64];
  armor_fmt(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK_ID);
  return script(db, sql, err, sizeof err);
}
static void unlock(struct armor_db *db) {
  char err[256], sql[64];
  armor_fmt(sql, sizeof sql, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK_ID);
  script(db, sql, err, sizeof err);
}

const struct armor_store_ops armor_store_pg = {
    .kind = ARMOR_DB_POSTGRES,
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
