/*
 * Internals shared by keys.c, jwt.c, revocation.c and keys_start.c. Not for
 * other modules: they use auth/tokens.h.
 */
#ifndef ARMOR_TOKENS_INT_H
#define ARMOR_TOKENS_INT_H
#include "auth/tokens.h"

#include <cjose/cjose.h>
#include <stdatomic.h>

/* One signing key as loaded from the database. */
struct armor_key {
  char kid[64];
  char alg[8];          /* "ES256" or "RS256" */
  cjose_jwk_t *verify;  /* public key */
  cjose_jwk_t *sign;    /* private key; NULL for retired keys or when it cannot be decrypted */
  bool active;
  int64_t created_at;
  int64_t not_after;    /* 0 while active */
};

/* An immutable snapshot of the key set, shared by reference count. */
struct armor_keyset {
  atomic_int refs;
  int n;
  struct armor_key *keys;
  const struct armor_key *signer_es256, *signer_rs256;
  char *jwks_text; /* {"keys":[...]} compact */
  size_t jwks_len;
  char fingerprint[65]; /* hash over kid/active rows: unchanged set -> no rebuild */
};

/*
 * The current key set with a reference taken (NULL before the first load); release with armor_keyset_put.
 * While this node makes its first RS256 key (see armor_keys_load_initial), waits until that key can sign
 * (at most a few hundred milliseconds, once), so that signers always find both algorithms.
 */
struct armor_keyset *armor_keyset_get(void);
/* The same without waiting: what is loaded now (the JWKS, listings, comparisons). */
struct armor_keyset *armor_keyset_peek(void);
void armor_keyset_put(struct armor_keyset *ks);
const struct armor_key *armor_keyset_find(const struct armor_keyset *ks, const char *kid);

/* Loads the keys from the database (creating the first ones when create is true). ARMOR_OK or an error. */
int armor_keys_load(bool create);
/*
 * Start-up: creates the ES256 key when there is none and loads the set, but leaves a missing RS256 key to
 * armor_keys_ensure on another thread (RSA generation is slow). *rs256_pending is set when no RS256 key can
 * sign yet; armor_keyset_get() then waits until one can or until armor_keys_rs256_settled().
 */
int armor_keys_load_initial(bool *rs256_pending);
/* Ends the wait of armor_keyset_get() for the first RS256 key (called after that key's attempt). */
void armor_keys_rs256_settled(void);
/* Creates the keys that are missing and rotates those older than period_s (0: no rotation), then reloads. */
int armor_keys_ensure(int64_t period_s);
/* true: an RSA generation in progress stops soon and fails (and later ones fail at once), for a prompt stop. */
void armor_keys_cancel_generation(bool cancel);
/* Reload on an unknown kid, at most once per second across threads. true when a reload ran. */
bool armor_keys_reload_for_unknown_kid(void);
/* Rotates keys whose active key is older than period_s (0: every alg now). */
int armor_keys_rotate_older_than(int64_t period_s);
/* Deletes keys whose publication ended more than a day ago. */
void armor_keys_purge(void);
void armor_keys_shutdown(void);
/* True when the master key opens the keys this node signs with: ES256, and RS256 unless there is no RS256 key yet. */
bool armor_keys_usable(void);
/* Longest lifetime of any token signed by Armor plus the publication margin. */
int64_t armor_keys_publish_window(void);

/* Revocation view. */
int armor_revocation_init(void);  /* full load */
void armor_revocation_poll(void); /* incremental, every second */
void armor_revocation_prune(void); /* drops expired entries (memory), deletes old rows (database) */
void armor_revocation_shutdown(void);
size_t armor_revocation_count(void);

/* JWT verification cache. */
void armor_jwt_cache_clear(void);

/* Counters for /metrics, one copy per shard (armor_shard): count with ARMOR_TOKENS_COUNT. */
struct armor_tokens_metrics {
  _Alignas(64) atomic_llong verify_ok;
  atomic_llong verify_expired, verify_invalid, verify_revoked;
  atomic_llong cache_hits, cache_misses;
  atomic_llong sign_es256, sign_rs256, sign_errors;
  atomic_llong key_reloads, key_rotations, revocation_polls, revocation_poll_errors;
};
extern struct armor_tokens_metrics armor_tokens_m[ARMOR_SHARDS];
#define ARMOR_TOKENS_COUNT(field)                                                                                      \
  atomic_fetch_add_explicit(&armor_tokens_m[armor_shard()].field, 1, memory_order_relaxed)
void armor_tokens_metrics_text(struct armor_buf *b);

#endif
