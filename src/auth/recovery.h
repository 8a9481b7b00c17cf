/*
 * Password recovery: emailed links, SMS one-time codes, reset grants, and the
 * reset itself; plus the redeeming side of email verification.
 *
 * Rules kept here (not in the handlers):
 *   - answers to the starting calls never reveal whether an account, email or
 *     phone exists: unknown identifiers do comparable work and queue nothing;
 *   - tokens are 256 random bits, OTPs 6 digits; both single use, stored as
 *     keyed hashes, short lived (security settings); a newer one voids the
 *     older; an OTP dies after 5 guesses;
 *   - sends are limited per client IP and per submitted identifier (429), and
 *     per account and per destination (silently: a 429 there would tell that
 *     the account exists);
 *   - a reset ends every session of the account and notifies its email;
 *   - every step is audited.
 * Identifiers: field is "username", "email" or "phone".
 */
#ifndef ARMOR_RECOVERY_H
#define ARMOR_RECOVERY_H
#include "core/armor.h"
#include <jansson.h>

/* Who asks: for audit entries and per-IP limits. Strings may be NULL. */
struct armor_recovery_caller {
  const char *ip;
  const char *request_id;
  const char *actor_id; /* authenticated user, when any */
};

/*
 * Starts recovery by email (channel "email") or SMS OTP (channel "sms") for the
 * account named by field/value. ARMOR_OK whether or not the account exists;
 * ARMOR_LIMITED (*retry_after seconds); ARMOR_BUSY when the channel is not
 * configured on this server; ARMOR_DB.
 */
int armor_recovery_start(const char *channel, const char *field, const char *value,
                         const struct armor_recovery_caller *c, int *retry_after);

/*
 * Redeems an SMS code. ARMOR_OK with token (>= 64 bytes) holding a recovery
 * token; ARMOR_UNAUTHORIZED (wrong, used, expired or unknown: one answer);
 * ARMOR_LIMITED (*retry_after); ARMOR_DB.
 */
int armor_recovery_sms_complete(const char *field, const char *value, const char *otp,
                                const struct armor_recovery_caller *c, char *token, size_t tokenlen, int *retry_after);

/*
 * The recovery context of an account: {channels, preferred_channel,
 * email_hint, phone_hint}. Same shape for unknown accounts, with stable fake
 * hints. New reference; NULL with *rc set (ARMOR_LIMITED / ARMOR_DB).
 */
json_t *armor_recovery_context(const char *field, const char *value, const struct armor_recovery_caller *c, int *rc,
                               int *retry_after);

/* Exchanges a recovery token for a reset grant (grant >= 64 bytes). ARMOR_OK / ARMOR_UNAUTHORIZED / ARMOR_DB. */
int armor_recovery_validate(const char *recovery_token, const struct armor_recovery_caller *c, char *grant,
                            size_t grantlen, int *expires_in);

/* Cancels an outstanding recovery token. ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_recovery_cancel(const char *recovery_token, const struct armor_recovery_caller *c);

/*
 * Sends a recovery email to user_id on request of c->actor_id (an admin or the
 * user). ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_INVALID (no email address) /
 * ARMOR_BUSY (email not configured) / ARMOR_LIMITED (*retry_after) / ARMOR_DB.
 */
int armor_recovery_initiate_for(const char *user_id, const struct armor_recovery_caller *c, int *retry_after);

/*
 * Redeems a reset grant: sets the password, ends every session, voids every
 * outstanding recovery secret of the account and mails a notice. Worker pool
 * only (password hashing). ARMOR_OK / ARMOR_UNAUTHORIZED (bad grant) /
 * ARMOR_INVALID (password refused by policy: msg filled; the grant stays
 * usable) / ARMOR_DB.
 */
int armor_recovery_reset(const char *grant, const char *new_password, const struct armor_recovery_caller *c, char *msg,
                         size_t msglen);

/* Redeems an email verification token. ARMOR_OK (*user_id filled, 37 bytes) / ARMOR_UNAUTHORIZED / ARMOR_DB. */
int armor_verification_confirm(const char *token, const struct armor_recovery_caller *c, char *user_id);

/*
 * Mails a new verification link to the user's current address.
 * ARMOR_OK / ARMOR_INVALID (no email) / ARMOR_CONFLICT (already verified) /
 * ARMOR_BUSY (email not configured) / ARMOR_LIMITED (*retry_after) / ARMOR_NOT_FOUND / ARMOR_DB.
 */
int armor_verification_resend(const char *user_id, const struct armor_recovery_caller *c, int *retry_after);

#endif
