/*
 * Accounts: users, passwords (argon2id), lockout and per-IP limits, sessions
 * with their refresh tokens, built-in roles and the permission catalog.
 *
 * Password hashing and verification are slow on purpose (argon2id, ~25 ms):
 * the functions that do it must only run on the worker pool (ROUTE_SLOW
 * handlers), never on an HTTP thread. Nothing here knows HTTP; SQL goes
 * through store/ only.
 */
#ifndef ARMOR_ACCOUNTS_H
#define ARMOR_ACCOUNTS_H
#include "core/armor.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct armor_user {
  char id[37];
  char username[65];
  char email[255];
  char phone[20]; /* "" when none */
  bool email_verified;
  bool disabled;
  int64_t created_at;
};

/* Loads a user by id. ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_user_get(const char *id, struct armor_user *out);
/* field: "username" or "email" (both case-insensitive) or "phone". ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_user_find(const char *field, const char *value, struct armor_user *out);
/* New reference: the public fields of the user, times as RFC 3339 strings. */
json_t *armor_user_to_json(const struct armor_user *u);

/*
 * Password check with lockout, per-IP limit and equal timing for unknown users.
 * Call only on the worker pool (ROUTE_SLOW).
 * ARMOR_OK (out filled) / ARMOR_UNAUTHORIZED / ARMOR_LIMITED (*retry_after seconds) /
 * ARMOR_DENIED (disabled account) / ARMOR_DB.
 */
int armor_accounts_authenticate(const char *username, const char *password, const char *ip, struct armor_user *out,
                                int *retry_after);

/*
 * Policy check (length in code points, valid UTF-8) + argon2id hash + store.
 * Worker pool only. ARMOR_INVALID with msg filled / ARMOR_NOT_FOUND / ARMOR_DB.
 * Does not end sessions.
 */
int armor_accounts_set_password(const char *user_id, const char *new_password, char *msg, size_t msglen);
int armor_accounts_set_email_verified(const char *user_id, bool verified);

/* Ends every session of the user except except_sid (may be NULL); their tokens stop within 2 s. */
int armor_sessions_revoke_user(const char *user_id, const char *except_sid);

/* New reference: array of the user's effective permission strings (sorted, unique). */
json_t *armor_accounts_permissions(const char *user_id);
bool armor_accounts_is_admin(const char *user_id);

/*
 * New session for the user; *login_data = the login answer's data object
 * {token, token_type, expires_in, refresh_token, user, permissions} (new reference).
 * ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB / ARMOR_INTERNAL.
 */
int armor_sessions_create(const char *user_id, const char *ip, const char *user_agent, json_t **login_data);

#endif
