/*
 * What the files of oauth/ share and nobody else uses: small helpers.
 */
#ifndef ARMOR_OAUTH_INT_H
#define ARMOR_OAUTH_INT_H
#include "oauth/oauth.h"

/* True when base64url(SHA-256(verifier)) equals challenge (constant time). */
bool armor_oauth_pkce_s256_matches(const char *verifier, const char *challenge);

#endif
