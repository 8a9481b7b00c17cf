/*
 * The audit trail: security events stored with actor, subject, IP and request
 * id. Never receives a secret (callers pass identifiers only).
 */
#ifndef ARMOR_AUDIT_H
#define ARMOR_AUDIT_H
#include <jansson.h>

/*
 * Records an event such as "login.success", "login.failure", "account.locked",
 * "logout", "password.changed", "username.changed", "session.revoked",
 * "settings.changed", "token.issued", "token.revoked". Any string argument may be NULL;
 * a NULL ip or request_id is taken from the calling thread's context (below).
 * Steals `details`. Failures are logged, never fatal.
 */
void armor_audit(const char *event, const char *actor_id, const char *subject_id, const char *ip,
                 const char *request_id, json_t *details);

/*
 * Sets the calling thread's request context (request id and client IP, copied)
 * so that services deep below a handler can audit without carrying them.
 * Handlers of the auth module set it first; NULLs clear it.
 */
void armor_audit_context(const char *request_id, const char *ip);

#endif
