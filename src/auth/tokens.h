/*
 * Signing keys, JWTs and the revocation view.
 *
 * Keys: asymmetric (ES256 default, RS256 for OIDC clients that need it), kept in
 * the database with the private part encrypted by the master key, rotated by
 * `armor keys rotate` and on a schedule, published in the JWKS while tokens
 * signed by them may still be alive. All JOSE work goes through cjose.
 *
 * Revocation view: every node keeps an in-memory set of revoked session ids,
 * refreshed from the database about once a second, so a revoked session's
 * access tokens stop on every node within 2 s without a read per request.
 *
 * In unit tests: armor_store_open + armor_store_migrate, armor_secret_init_ephemeral(),
 * set armor_cfg.public_url (the issuer), then armor_keys_start(); armor_keys_stop() at the end.
 * Design notes: docs/tokens.md.
 */
#ifndef ARMOR_TOKENS_H
#define ARMOR_TOKENS_H
#include "core/armor.h"
#include <jansson.h>

/*
 * Loads the keys (creating the ES256 key when there is none), starts the background
 * thread that first creates a missing RS256 key (RSA generation is slow; signers wait
 * for it meanwhile) and applies the scheduled rotation, then reloads keys (every 10 s),
 * rotates them on schedule (ARMOR_KEY_ROTATION_DAYS, default 30, 0 = never; checked
 * hourly) and polls revocations (every second). 0 or -1.
 */
int armor_keys_start(void);
void armor_keys_stop(void);
/*
 * Creates a new active key of each algorithm (and reloads); older keys stay published
 * until their tokens expired. Needs the store and the master key. 0 or -1.
 */
int armor_keys_rotate(void);
/* {"keys":[...public JWKs with kid, alg, use...]}; new reference. */
json_t *armor_keys_jwks(void);
/* Issuer (the public URL) every token carries and every verification checks:
   armor_cfg.public_url, or the settings' app.public_url when that is unset. */
const char *armor_tokens_issuer(void);

/*
 * Signs claims (borrowed; iss/iat/jti are added when absent) as a compact JWS.
 * typ: "JWT" or "at+jwt"; alg: NULL for ES256, or "RS256". Returns malloc'ed text or NULL.
 */
char *armor_jwt_sign(json_t *claims, const char *typ, const char *alg);

/*
 * Verifies a compact JWS: the kid must name a known key and the header alg must be
 * that key's alg (no "none", no HS*), signature valid, iss = issuer, aud contains
 * `aud` (when non-NULL), exp in the future (ARMOR_EXPIRED otherwise), nbf/iat sane,
 * and the sid (if any) not revoked. On ARMOR_OK *claims (may be NULL) is a new
 * reference the caller owns and may modify (a copy). exp is strict; nbf/iat may
 * be up to 60 s in the future (clock skew between nodes).
 * Results are cached by token hash; a cached hit still checks exp and revocation.
 * Returns ARMOR_OK, ARMOR_UNAUTHORIZED or ARMOR_EXPIRED.
 */
int armor_jwt_verify(const char *token, const char *aud, json_t **claims);

/*
 * armor_jwt_verify with relaxations, for the OIDC protocol code: e.g. an
 * id_token_hint may be expired (ARMOR_JWT_ALLOW_EXPIRED) and its session already
 * ended (ARMOR_JWT_IGNORE_REVOKED). Signature, kid/alg, iss and aud are always
 * checked; a token whose key has left the key set is refused.
 */
enum { ARMOR_JWT_ALLOW_EXPIRED = 1 << 0, ARMOR_JWT_IGNORE_REVOKED = 1 << 1 };
int armor_jwt_verify_ex(const char *token, const char *aud, unsigned flags, json_t **claims);

/*
 * armor_jwt_verify_ex without the copy: on ARMOR_OK *ref holds a reference to the
 * verified claims as the cache keeps them (shared by every thread, read-only), to be
 * released with armor_jwt_ref_put. Same checks, same results.
 */
struct armor_jwt_ref;
int armor_jwt_verify_ref(const char *token, const char *aud, unsigned flags, struct armor_jwt_ref **ref);
/* The claims of a verified token; borrowed, valid while the reference is held; never modify them. */
const json_t *armor_jwt_ref_claims(const struct armor_jwt_ref *ref);
void armor_jwt_ref_put(struct armor_jwt_ref *ref); /* NULL is fine */

/*
 * A value derived from the claims alone, built once and kept with the cached token
 * (while the token stays in the cache, later callers get the same value). The first
 * caller of a slot runs make(claims), which must return one armor_malloc'ed block
 * (freed with armor_free when the entry goes) or NULL (nothing kept; the next caller
 * tries again); make must only read the claims. Returns the kept value, valid while
 * the reference is held. Checks that depend on time or on revocations never belong
 * in a memo: they run on every call.
 */
enum { ARMOR_JWT_MEMO_INTROSPECT, ARMOR_JWT_MEMO_SLOTS };
const void *armor_jwt_ref_memo(struct armor_jwt_ref *ref, unsigned slot, void *(*make)(const json_t *claims));

/* The audience of Armor's own API access tokens. */
#define ARMOR_API_AUDIENCE "armor"

/*
 * Marks a session revoked on every node (persisted; visible everywhere within 2 s).
 * until: when its tokens expire anyway (e.g. now + access-token TTL); <= 0 means
 * "now + the longest token lifetime". Idempotent. ARMOR_OK, ARMOR_INVALID or ARMOR_DB.
 * The local node refuses the session's tokens as soon as this returns.
 */
int armor_revoke_session(const char *sid, int64_t until);
/* True when the session id is in the in-memory revocation view (no database read). */
bool armor_session_is_revoked(const char *sid);

/* ---- helpers for the accounts and OAuth/OIDC code ---- */

/*
 * Longest lifetime an id_token (or any other JWT besides access tokens) may have.
 * A retired key stays published for max(access_token_ttl_seconds, this) plus a
 * margin, so tokens signed with it stay verifiable everywhere until they expire.
 */
#define ARMOR_ID_TOKEN_MAX_TTL 3600

/*
 * OIDC at_hash / c_hash: base64url of the left half of the SHA-256 of `value`
 * (for ES256 and RS256). out receives 22 characters and a NUL.
 * 0, or -1 for an unsupported alg.
 */
int armor_jwt_at_hash(const char *value, const char *alg, char out[64]);

/*
 * RFC 7638 JWK thumbprint (base64url of SHA-256 over the required members) of a
 * public EC or RSA JWK. Armor's kids are these thumbprints. 0 or -1.
 */
int armor_jwk_thumbprint(const json_t *jwk, char out[64]);

/* The kid Armor currently signs with for alg (NULL: ES256) into out; 0 or -1 when none. */
int armor_keys_current_kid(const char *alg, char out[64]);

#endif
