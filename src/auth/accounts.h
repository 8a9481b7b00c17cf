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
#include "http/http.h" /* struct armor_principal, filled by armor_sessions_check_access */
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

/* Ends every session of the user except except_sid (may be NULL); their tokens stop within 2 s.
   With except_sid NULL (a reset, an administrator's revocation) it also ends all OAuth access of the
   user (armor_oauth_revoke_user: grants, refresh tokens, the provider's browser sessions). */
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

/* ================================================================ beyond the shared spec */

/* Fixed ids of the built-in roles (migration 020). */
#define ARMOR_ROLE_ADMIN_ID "00000000-0000-4000-8000-000000000001"
#define ARMOR_ROLE_USER_ID "00000000-0000-4000-8000-000000000002"

/* The permission catalog: NULL-terminated names, and the same as [{name, description}] (new reference). */
extern const char *const armor_permission_names[];
json_t *armor_permissions_catalog(void);

/* Prefixes that make opaque tokens recognisable (a refresh token is never a bearer token). */
#define ARMOR_REFRESH_PREFIX "rt_"
#define ARMOR_OPAQUE_PREFIX "at_"

/* Starts/stops the accounts internals (hash cost, dummy hash, session flusher). 0 or -1. */
int armor_accounts_init(void);
void armor_accounts_shutdown(void);

/* New account. role: "admin" or NULL (the app's default role). email/phone may be NULL. */
struct armor_user_new {
  const char *username, *password, *email, *phone, *role;
};
/*
 * Validates, hashes (worker pool only) and stores a new user.
 * ARMOR_OK (out filled) / ARMOR_INVALID (field + msg) / ARMOR_CONFLICT (field: "username" or "email") / ARMOR_DB.
 */
int armor_accounts_create(const struct armor_user_new *in, struct armor_user *out, char *field, size_t fieldlen,
                          char *msg, size_t msglen);
/* Checks the password of a known user id with lockout accounting. Worker pool only. Codes as authenticate. */
int armor_accounts_check_password(const char *user_id, const char *password, const char *ip, int *retry_after);
/* Renames; ARMOR_OK / ARMOR_INVALID (msg) / ARMOR_CONFLICT / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_accounts_set_username(const char *user_id, const char *new_username, char *msg, size_t msglen);
/* ARMOR_LIMITED with *retry_after while the account is locked, else ARMOR_OK (or ARMOR_NOT_FOUND / ARMOR_DB). */
int armor_accounts_lock_state(const char *user_id, int *retry_after);
/* New reference: names of the user's roles. */
json_t *armor_accounts_roles(const char *user_id);
/* Trims and validates a username into out (>= 65 bytes); false with msg when invalid. */
bool armor_username_normalize(const char *in, char *out, size_t outlen, char *msg, size_t msglen);
/* Per-IP failure limit (in memory, per node): ARMOR_LIMITED with *retry_after while over. */
int armor_ip_limit_check(const char *ip, int *retry_after);
void armor_ip_limit_fail(const char *ip);

/* First administrator: true when a user holds the admin role. */
bool armor_accounts_admin_exists(void);
/* Issues a one-time setup token (stored hashed); *token malloc'ed (caller frees). */
int armor_setup_token_new(char **token);
/* Redeems a setup token: creates the admin. ARMOR_DENIED when the token is unknown, used or expired. */
int armor_setup_redeem(const char *token, const struct armor_user_new *in, struct armor_user *out, char *field,
                       size_t fieldlen, char *msg, size_t msglen);

enum armor_token_format { ARMOR_TOKEN_JWT = 0, ARMOR_TOKEN_OPAQUE = 1 };
/* As armor_sessions_create, choosing the access token's format. */
int armor_sessions_create_ex(const char *user_id, const char *ip, const char *user_agent, enum armor_token_format fmt,
                             json_t **login_data);
/*
 * Rotates a refresh token: *data = login-shaped answer with a new access and refresh token.
 * Reuse of a rotated token ends the session. ARMOR_UNAUTHORIZED / ARMOR_LIMITED (locked) /
 * ARMOR_DENIED (disabled) / ARMOR_DB.
 */
int armor_sessions_refresh(const char *refresh_token, const char *ip, json_t **data, int *retry_after);
/* A new access token for an existing session (after a profile change): {token, token_type, expires_in, user,
 * permissions}. */
int armor_sessions_reissue_access(const char *sid, json_t **data);
/*
 * Ends one session. owner_id: only a session of that user (NULL: any).
 * ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB.
 */
int armor_sessions_revoke(const char *sid, const char *owner_id, const char *reason);
/* New reference: the user's live sessions, current one flagged. */
json_t *armor_sessions_list(const char *user_id, const char *current_sid);
/*
 * Checks a bearer access token (JWT or opaque) and fills p (strings in `arena`).
 * Never accepts a refresh token. Marks the session used (batched in memory).
 * ARMOR_OK / ARMOR_UNAUTHORIZED / ARMOR_EXPIRED.
 */
int armor_sessions_check_access(const char *token, struct armor_arena *arena, struct armor_principal *p);
/* Writes the batched last-use times now (also runs every few seconds in the background). */
void armor_sessions_flush(void);

/* Audit log page: filters may be NULL; cursor is the last id seen ("" or NULL: newest first). */
int armor_audit_query(const char *event, const char *user_id, const char *cursor, int limit, json_t **out);

#endif
