/*
 * Password hashing (argon2id through libsodium) and the password policy.
 * Hashing and verification take tens of milliseconds on purpose: callers run
 * them on the worker pool, never on an HTTP thread. Never logs a password.
 */
#ifndef ARMOR_PASSWORD_H
#define ARMOR_PASSWORD_H
#include <stdbool.h>
#include <stddef.h>

/* OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1 (libsodium always uses p = 1). */
#define ARMOR_ARGON2_MEMORY_KIB_DEFAULT 19456
#define ARMOR_ARGON2_OPS_DEFAULT 2

/*
 * Reads the cost (ARMOR_ARGON2_MEMORY_KIB / ARMOR_ARGON2_OPS lower it, for tests
 * only; the defaults stay OWASP's) and makes the dummy hash that unknown users
 * are verified against. 0 or -1.
 */
int armor_password_init(void);
/* The cost in use. */
void armor_password_cost(unsigned long long *memory_kib, unsigned long long *ops);

/* argon2id hash of pw into out (crypto_pwhash_STRBYTES). ARMOR_OK or ARMOR_INTERNAL (out of memory). */
int armor_password_hash(const char *pw, char *out, size_t outlen);
/* true when pw matches hash. A NULL or malformed hash checks against the dummy hash and fails. */
bool armor_password_verify(const char *hash, const char *pw);
/* true when hash was made with other parameters than the current ones. */
bool armor_password_needs_rehash(const char *hash);

/*
 * Policy: any Unicode text (valid UTF-8, no NUL) of min..max code points
 * (settings security.password_min_length / password_max_length).
 * ARMOR_OK or ARMOR_INVALID with a message.
 */
int armor_password_check_policy(const char *pw, char *msg, size_t msglen);

/* Number of code points of valid UTF-8 text, or -1 when s is not valid UTF-8. */
long armor_utf8_length(const char *s);

#endif
