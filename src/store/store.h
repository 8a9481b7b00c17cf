/*
 * The storage interface: the only way the rest of Armor reaches a database.
 * One connection per thread (SQLite) or per thread from a bounded set
 * (PostgreSQL), prepared statements cached per connection, parameters always
 * bound. SQL is written once for both backends:
 *   - placeholders are $1, $2, ... (both backends);
 *   - a parameter whose type the server cannot infer is written CAST($1 AS TEXT);
 *   - booleans are INTEGER 0/1, times are BIGINT Unix seconds, ids are TEXT UUIDs;
 *   - ON CONFLICT ... DO and RETURNING work on both.
 * Only this folder includes sqlite3.h or libpq-fe.h.
 */
#ifndef ARMOR_STORE_H
#define ARMOR_STORE_H

#include "core/armor.h"

enum armor_db_kind { ARMOR_DB_SQLITE = 1, ARMOR_DB_POSTGRES = 2 };

struct armor_db;
struct armor_stmt;

/*
 * Opens the store for `url` ("sqlite:PATH" or "postgres://..." / "postgresql://...").
 * Checks the URL and connects once. Returns ARMOR_OK, ARMOR_INVALID (malformed
 * URL, message in err) or ARMOR_DB (cannot connect, message in err).
 */
int armor_store_open(const char *url, char *err, size_t errlen);
void armor_store_close(void);
int armor_store_kind(void);
/* Runs pending migrations (under an advisory lock on PostgreSQL). */
int armor_store_migrate(char *err, size_t errlen);
/* ARMOR_OK when the database answers a trivial query from this thread. */
int armor_store_ping(void);

/* This thread's connection (opened on first use); NULL when the database is unreachable. */
struct armor_db *armor_db_get(void);

/*
 * Prepares (or takes from the connection's cache) a statement; NULL on error
 * (logged). The statement is reset for reuse by armor_stmt_done.
 */
struct armor_stmt *armor_db_prepare(struct armor_db *db, const char *sql);
/* Binds parameter $idx (1-based). Text is copied; NULL binds SQL NULL. */
void armor_stmt_bind_text(struct armor_stmt *st, int idx, const char *v);
void armor_stmt_bind_int(struct armor_stmt *st, int idx, int64_t v);
void armor_stmt_bind_null(struct armor_stmt *st, int idx);
/* 1: a row is ready; 0: done; ARMOR_CONFLICT on a unique violation; ARMOR_DB on other errors. */
int armor_stmt_step(struct armor_stmt *st);
/* Column values of the current row (0-based). Text is borrowed until the next step/done; NULL for SQL NULL. */
const char *armor_stmt_text(struct armor_stmt *st, int col);
int64_t armor_stmt_int(struct armor_stmt *st, int col);
bool armor_stmt_is_null(struct armor_stmt *st, int col);
/* Rows changed by the last completed statement. */
int64_t armor_stmt_changes(struct armor_stmt *st);
/* Resets the statement and returns it to the cache. NULL is a no-op. */
void armor_stmt_done(struct armor_stmt *st);

/*
 * Prepares and binds in one call. `types` has one letter per parameter:
 * 't' const char * (NULL allowed), 'i' int64_t, 'b' bool (as 0/1), 'n' NULL (no argument).
 * Returns NULL on error.
 */
struct armor_stmt *armor_db_query(struct armor_db *db, const char *sql, const char *types, ...);
/* Runs a statement to completion. Returns ARMOR_OK, ARMOR_CONFLICT or ARMOR_DB; *changes when non-NULL. */
int armor_db_exec(struct armor_db *db, int64_t *changes, const char *sql, const char *types, ...);

/* Transactions. begin takes the write lock at once on SQLite (BEGIN IMMEDIATE). */
int armor_db_begin(struct armor_db *db);
int armor_db_commit(struct armor_db *db);
void armor_db_rollback(struct armor_db *db);

#endif
