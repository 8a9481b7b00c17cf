/*
 * Email verification: a single-use link mailed to a user's address, redeemed
 * by POST /api/auth/email/verify. The mail goes through the outbox in the
 * caller's transaction, so it is sent if and only if the caller commits.
 */
#ifndef ARMOR_VERIFICATION_H
#define ARMOR_VERIFICATION_H
#include "store/store.h"

/*
 * Queues a verification mail to `email` for user `user_id` on the open
 * connection `db` (call it inside the transaction that registers the user or
 * changes their email). Voids any older verification link of the user. Does
 * nothing (ARMOR_OK) when email delivery is not configured or email is "".
 * ARMOR_OK / ARMOR_DB.
 */
int armor_verification_send(struct armor_db *db, const char *user_id, const char *email);

#endif
