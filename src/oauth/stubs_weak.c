/*
 * TEMPORARY: weak stand-ins for the accounts and audit services until
 * their branches merge; the real definitions replace these. Deleted after the merge.
 */
#include "auth/accounts.h"
#include "auth/audit.h"
#include <string.h>

#define WEAK __attribute__((weak))

WEAK void armor_audit(const char *event, const char *actor_id, const char *subject_id, const char *ip,
                      const char *request_id, json_t *details) {
  json_decref(details);
}

WEAK int armor_user_get(const char *id, struct armor_user *out) { return ARMOR_NOT_FOUND; }
WEAK int armor_accounts_authenticate(const char *username, const char *password, const char *ip, struct armor_user *out,
                                     int *retry_after) {
  return ARMOR_UNAUTHORIZED;
}
WEAK json_t *armor_accounts_permissions(const char *user_id) { return json_array(); }
WEAK int armor_sessions_create(const char *user_id, const char *ip, const char *user_agent, json_t **login_data) {
  return ARMOR_INTERNAL;
}
