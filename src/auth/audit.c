/*
 * The audit trail in table audit_log (migration 020): one row per security
 * event, written synchronously, read newest first with an id cursor. Stores
 * identifiers, IPs and request ids, never a secret.
 */
#include "auth/audit.h"
#include "auth/accounts.h"
#include "core/armor.h"
#include "store/store.h"

#include <string.h>

static _Thread_local char ctx_request_id[65];
static _Thread_local char ctx_ip[48];

void armor_audit_context(const char *request_id, const char *ip) {
  armor_fmt(ctx_request_id, sizeof ctx_request_id, "%s", request_id ? request_id : "");
  armor_fmt(ctx_ip, sizeof ctx_ip, "%s", ip ? ip : "");
}

static const char *or_null(const char *s) { return s && *s ? s : NULL; }

void armor_audit(const char *event, const char *actor_id, const char *subject_id, const char *ip,
                 const char *request_id, json_t *details) {
  char *d = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(details);
  if (!ip) ip = ctx_ip;
  if (!request_id) request_id = ctx_request_id;
  struct armor_db *db = armor_db_get();
  int rc = db ? armor_db_exec(db, NULL,
                              "INSERT INTO audit_log (at, event, actor_id, subject_id, ip, request_id, details) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              "itttttt", armor_time(), event, or_null(actor_id), or_null(subject_id), or_null(ip),
                              or_null(request_id), d)
              : ARMOR_DB;
  if (rc) armor_err("audit: cannot record %s (request %s)", event, request_id ? request_id : "-");
  armor_free(d);
}

int armor_audit_query(const char *event, const char *user_id, const char *cursor, int limit, json_t **out) {
  *out = NULL;
  long long before = 0;
  if (cursor && *cursor && !armor_parse_int(cursor, 1, INT64_MAX, &before)) return ARMOR_INVALID;
  if (limit < 1) limit = 1;
  if (limit > 200) limit = 200;
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  /* One statement for every filter combination: NULL parameters switch a filter off. */
  struct armor_stmt *st =
      armor_db_query(db,
                     "SELECT id, at, event, actor_id, subject_id, ip, request_id, details FROM audit_log "
                     "WHERE (CAST($1 AS TEXT) IS NULL OR event = $1) "
                     "AND (CAST($2 AS TEXT) IS NULL OR actor_id = $2 OR subject_id = $2) "
                     "AND (CAST($3 AS BIGINT) = 0 OR id < CAST($3 AS BIGINT)) ORDER BY id DESC LIMIT $4",
                     "ttii", or_null(event), or_null(user_id), (int64_t)before, (int64_t)limit + 1);
  if (!st) return ARMOR_DB;
  json_t *items = json_array();
  int rc, n = 0;
  int64_t last = 0;
  bool more = false;
  while ((rc = armor_stmt_step(st)) == 1) {
    if (n == limit) {
      more = true;
      break;
    }
    json_t *o = json_object();
    last = armor_stmt_int(st, 0);
    json_object_set_new(o, "id", json_integer(last));
    char ts[32];
    armor_time_rfc3339(armor_stmt_int(st, 1), ts);
    json_object_set_new(o, "at", json_string(ts));
    json_object_set_new(o, "event", json_string(armor_stmt_text(st, 2)));
    static const char *const cols[] = {"actor_id", "subject_id", "ip", "request_id"};
    for (int i = 0; i < 4; i++) {
      const char *v = armor_stmt_text(st, 3 + i);
      json_object_set_new(o, cols[i], v ? json_string(v) : json_null());
    }
    const char *dt = armor_stmt_text(st, 7);
    json_t *dj = dt ? json_loads(dt, 0, NULL) : NULL;
    json_object_set_new(o, "details", dj ? dj : json_object());
    json_array_append_new(items, o);
    n++;
  }
  armor_stmt_done(st);
  if (rc < 0) {
    json_decref(items);
    return ARMOR_DB;
  }
  json_t *res = json_object();
  json_object_set_new(res, "items", items);
  if (more) {
    char c[24];
    armor_fmt(c, sizeof c, "%lld", (long long)last);
    json_object_set_new(res, "next_cursor", json_string(c));
  } else {
    json_object_set_new(res, "next_cursor", json_null());
  }
  *out = res;
  return ARMOR_OK;
}
