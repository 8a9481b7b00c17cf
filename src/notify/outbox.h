/*
 * The outbox: email and SMS messages written in the same transaction as what
 * causes them, and delivered afterwards by the sender thread (notify/outbox.c)
 * with retries and backoff. A message is delivered once: claims are leased, so
 * several nodes on one PostgreSQL share the outbox without double sends.
 */
#ifndef ARMOR_OUTBOX_H
#define ARMOR_OUTBOX_H
#include "store/store.h"

/*
 * Queues an email on the open connection `db` (inside the caller's
 * transaction, if any). `html` may be NULL (plain text only). The texts are
 * stored encrypted until sent. Wakes the sender. ARMOR_OK / ARMOR_DB.
 */
int armor_outbox_add_email(struct armor_db *db, const char *to, const char *subject, const char *text,
                           const char *html);
/* Queues an SMS to `to` (E.164) on `db`, like armor_outbox_add_email. ARMOR_OK / ARMOR_DB. */
int armor_outbox_add_sms(struct armor_db *db, const char *to, const char *text);
/* Wakes the sender now (call after committing a transaction that queued messages). */
void armor_outbox_kick(void);

/*
 * Runs one round of the sender on the calling thread: claims due messages and
 * delivers them. Returns the number of messages handled (sent or failed), or
 * ARMOR_DB. The sender thread calls it; unit tests call it directly.
 */
int armor_outbox_run_once(void);
/* Delay before retry number `attempt` (1-based) in milliseconds: doubling from the base, capped at 10 minutes. */
int64_t armor_outbox_backoff_ms(int attempt);

#endif
