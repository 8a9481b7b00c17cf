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
 * "settings.changed", "token.issued", "token.revoked". Any string argument may be NULL.
 * Steals `details`. Failures are logged, never fatal.
 */
void armor_audit(const char *event, const char *actor_id, const char *subject_id, const char *ip, const char *request_id,
                 json_t *details);

#endif
