/*
 * The master key and encryption of secrets at rest (crypto_secretbox from
 * libsodium). The key comes from --master-key, or from the key file, which is
 * generated (mode 0600) on first start. Ciphertexts are text:
 * "v1:" + base64(nonce || box).
 */
#ifndef ARMOR_SECRET_H
#define ARMOR_SECRET_H
#include <stddef.h>

/* Loads or creates the master key. Returns 0 or -1 after printing one line. */
int armor_secret_init(const char *key_b64, const char *key_file);
/* Encrypts n bytes; returns a malloc'ed NUL-terminated string the caller frees. */
char *armor_secret_encrypt(const void *plain, size_t n);
/* Decrypts; returns malloc'ed plaintext (NUL-terminated, *n its length) or NULL when tampered. Free with
 * armor_free_secret. */
unsigned char *armor_secret_decrypt(const char *text, size_t *n);
/* Keyed hash (BLAKE2b with a subkey of the master key) of a token as hex, for lookups of stored token hashes. */
void armor_secret_token_hash(const char *token, char out[65]);
/* Initialises with a random key held only in memory (tests). */
void armor_secret_init_ephemeral(void);

#endif
