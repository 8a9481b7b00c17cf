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
 */
#ifndef ARMOR_TOKENS_H
#define ARMOR_TOKENS_H
#include "core/armor.h"
#include <jansson.h>

/* Loads the keys (creating the first ones), starts the rotation and revocation threads. 0 or -1. */
int armor_keys_start(void);
void armor_keys_stop(void);
/* Creates a new active key of each algorithm; older keys stay published until their tokens expired. */
int armor_keys_rotate(void);
/* {"keys":[...public JWKs with kid, alg, use...]}; new reference. */
json_t *armor_keys_jwks(void);
/* Issuer (the public URL) every token carries and every verification checks. */
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
 * and the sid (if any) not revoked. On ARMOR_OK *claims is a new reference.
 * Results are cached by token hash; a cached hit still checks exp and revocation.
 * Returns ARMOR_OK, ARMOR_UNAUTHORIZED or ARMOR_EXPIRED.
 */
int armor_jwt_verify(const char *token, const char *aud, json_t **claims);

/* The audience of Armor's own API access tokens. */
#define ARMOR_API_AUDIENCE "armor"

/* Marks a session revoked on every node (persisted; visible everywhere within 2 s). until: when its tokens expire anyway. */
int armor_revoke_session(const char *sid, int64_t until);
/* Marks every token of a subject issued before `before` revoked (used for client/user-wide revocations). */
bool armor_session_is_revoked(const char *sid);

#endif
