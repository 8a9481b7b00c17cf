/*
 * TEMPORARY weak stand-ins for the accounts service and the audit trail until
 * branch `accounts` is merged; its strong definitions replace these at link
 * time. Delete this file after the merge.
 */
#include "auth/accounts.h"
#include "auth/audit.h"

__attribute__((weak)) int armor_user_get(const char *id, struct armor_user *out) { (void)id; (void)out; return ARMOR_NOT_FOUND; }
__attribute__((weak)) int armor_user_find(const char *field, const char *value, struct armor_user *out) {
  (void)field; (void)value; (void)out;
  return ARMOR_NOT_FOUND;
}
__attribute__((weak)) int armor_accounts_set_password(const char *user_id, const char *pw, char *msg, size_t msglen) {
  (void)user_id; (void)pw; (void)msg; (void)msglen;
  return ARMOR_NOT_FOUND;
}
__attribute__((weak)) int armor_accounts_set_email_verified(const char *user_id, bool verified) { (void)user_id; (void)verified; return ARMOR_NOT_FOUND; }
__attribute__((weak)) int armor_sessions_revoke_user(const char *user_id, const char *except_sid) { (void)user_id; (void)except_sid; return ARMOR_OK; }
__attribute__((weak)) void armor_audit(const char *event, const char *actor_id, const char *subject_id, const char *ip,
                                       const char *request_id, json_t *details) {
  (void)event; (void)actor_id; (void)subject_id; (void)ip; (void)request_id;
  json_decref(details);
}
