/*
 * The OAuth 2.0 / OpenID Connect provider's rules, without HTTP: clients and
 * their secrets, authorization codes and the grants they start, token minting
 * (RFC 9068 access tokens, id_tokens), refresh rotation with reuse detection,
 * introspection, revocation, consents and the provider's browser sessions.
 *
 * Secrets (client secrets, codes, refresh tokens, browser-session cookies) are
 * 256 random bits, shown once and stored only as keyed hashes
 * (armor_secret_token_hash). SQL goes through store/ only.
 */
#ifndef ARMOR_OAUTH_H
#define ARMOR_OAUTH_H
#include "core/armor.h"
#include <jansson.h>

/* ================================================================ clients */

enum {
  ARMOR_GRANT_CODE = 1 << 0,    /* authorization_code */
  ARMOR_GRANT_CC = 1 << 1,      /* client_credentials */
  ARMOR_GRANT_REFRESH = 1 << 2, /* refresh_token */
};

#define ARMOR_OAUTH_SCOPE_MAX 1024
#define ARMOR_OAUTH_MAX_RESOURCES 20

struct armor_oauth_client {
  char id[37];
  char name[129];
  bool confidential;                 /* has a secret; false when token_endpoint_auth_method is "none" */
  char auth_method[24];              /* client_secret_basic | client_secret_post | none */
  unsigned grants;                   /* ARMOR_GRANT_* */
  char scope[ARMOR_OAUTH_SCOPE_MAX]; /* registered scopes, space-separated */
  bool skip_consent;
  char id_token_alg[8];              /* ES256 | RS256 */
  json_t *redirect_uris;             /* owned array of strings; NULL in cached copies */
  json_t *post_logout_redirect_uris; /* owned; NULL in cached copies */
  json_t *resources;                 /* owned array of allowed resource URIs; NULL in cached copies */
  /* BLAKE2b-256 of each allowed resource URI: lets cached copies check a `resource` without the list. */
  unsigned char resource_hash[ARMOR_OAUTH_MAX_RESOURCES][32];
  int nresources;
  int64_t created_at, updated_at, secret_rotated_at;
};

/* Releases the JSON arrays of a client (the struct itself is the caller's). */
void armor_oauth_client_clear(struct armor_oauth_client *c);

/* Validation failure: the field and a message for the envelope. */
struct armor_oauth_verr {
  const char *field;
  char msg[192];
};

/*
 * Creates a client from the API's JSON input (borrowed). On ARMOR_OK *out is the
 * client as JSON with "client_id" and, this once, "client_secret" (confidential
 * clients). ARMOR_INVALID (e filled) / ARMOR_DB.
 */
int armor_oauth_client_create(const json_t *in, const char *actor, json_t **out, struct armor_oauth_verr *e);
/* Replaces the given fields. ARMOR_OK (*out = client JSON) / ARMOR_NOT_FOUND / ARMOR_INVALID / ARMOR_DB. */
int armor_oauth_client_update(const char *id, const json_t *in, json_t **out, struct armor_oauth_verr *e);
/* Loads one client with its URI lists. ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB. Clear with armor_oauth_client_clear. */
int armor_oauth_client_get(const char *id, struct armor_oauth_client *out);
/* New reference: the client's public fields (never a secret or its hash). */
json_t *armor_oauth_client_to_json(const struct armor_oauth_client *c);
/* New reference: array of clients, oldest first. NULL on a database error. */
json_t *armor_oauth_client_list(void);
/* Deletes the client and everything issued to it. ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_oauth_client_delete(const char *id);
/* New secret (shown once, into secret[64]); the old one stops working at once on this node, within
   the cache TTL elsewhere. ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_INVALID (public client) / ARMOR_DB. */
int armor_oauth_client_rotate_secret(const char *id, char secret[64]);

/*
 * Authenticates a client at the token, introspection and revocation endpoints.
 * secret NULL: a public client identifying itself (allowed only when it has no secret).
 * raw (may be NULL): the credential exactly as received (the Authorization header); a cached
 * success for the same raw value skips decoding it. Successes are cached for a few seconds,
 * keyed by keyed hashes of raw and of id+secret. out has no URI lists.
 * ARMOR_OK / ARMOR_UNAUTHORIZED / ARMOR_DB.
 */
int armor_oauth_client_authenticate(const char *raw, const char *id, const char *secret,
                                    struct armor_oauth_client *out);

/* True when uri may be registered: absolute, no fragment, https (http only on loopback hosts)
   or a private-use scheme with a dot (RFC 8252); why receives the reason otherwise. */
bool armor_oauth_redirect_uri_ok(const char *uri, char *why, size_t whylen);
/* True when uri may be registered as a resource (RFC 8707): absolute, no fragment or user information,
   https (http only on loopback hosts); why receives the reason otherwise. */
bool armor_oauth_resource_uri_ok(const char *uri, char *why, size_t whylen);
/* True when resource is one of the client's registered resources (exact match; works on cached copies). */
bool armor_oauth_resource_allowed(const struct armor_oauth_client *c, const char *resource);
/* Exact, case-sensitive string match against a JSON array of strings. */
bool armor_oauth_uri_listed(const json_t *list, const char *uri);
/* True when every scope token of `requested` appears in `allowed` (both space-separated). */
bool armor_oauth_scope_subset(const char *requested, const char *allowed);
/* True when the space-separated scope string contains token `s`. */
bool armor_oauth_scope_has(const char *scope, const char *s);
/* True when scope is a valid RFC 6749 scope string (1+ tokens, single spaces). */
bool armor_oauth_scope_valid(const char *scope);

/* ================================================================ authorization codes */

/* What the user authorized; becomes one oauth_grants row with its code. */
struct armor_oauth_authz {
  const char *kind; /* "oauth" or "api" */
  const struct armor_oauth_client *client;
  const char *user_id;
  const char *scope;
  const char *redirect_uri;
  const char *nonce;          /* may be NULL */
  const char *code_challenge; /* S256; may be NULL for confidential clients */
  int64_t auth_time;
};

#define ARMOR_OAUTH_CODE_TTL 60

/* True when v has the syntax of a PKCE code_verifier or S256 code_challenge: 43-128 unreserved characters. */
bool armor_oauth_pkce_value_ok(const char *v);
/* Issues a code (code[64], 256 bits, base64url) valid ARMOR_OAUTH_CODE_TTL s. ARMOR_OK / ARMOR_DB. */
int armor_oauth_code_issue(const struct armor_oauth_authz *a, char code[64]);

/* A redeemed grant or a refreshed one: what tokens are minted from. */
struct armor_oauth_grant {
  char id[37];
  char client_id[37];
  char user_id[37];
  char scope[ARMOR_OAUTH_SCOPE_MAX];
  char nonce[256];
  int64_t auth_time;
  int64_t expires_at;
};

/* RFC 6749 error of a grant operation (static strings). */
struct armor_oauth_error {
  const char *error; /* "invalid_grant", ... */
  const char *description;
};

/*
 * Redeems a code once (atomic claim). Checks kind, client, redirect URI, expiry and PKCE
 * (S256; a verifier without a challenge is refused, and a challenge needs a verifier).
 * A second redemption revokes everything the first one issued.
 * ARMOR_OK (g filled) / ARMOR_INVALID (err filled) / ARMOR_DB.
 */
int armor_oauth_code_redeem(const char *kind, const struct armor_oauth_client *c, const char *code,
                            const char *redirect_uri, const char *verifier, struct armor_oauth_grant *g,
                            struct armor_oauth_error *err);
/* Records the Armor session a seed-001 ('api') grant was redeemed for, so that a replay can end it. */
int armor_oauth_grant_set_session(const char *grant_id, const char *sid);

/*
 * Ends the user's OAuth access (after a password change or reset, or an administrator's revocation):
 * revokes every grant of the user, so their refresh tokens and pending codes stop at once and their
 * access tokens (sid = grant id) within about 2 s on every node, and ends the user's browser sessions
 * with the provider. Armor sessions, including those of seed-001 grants, are left to
 * armor_sessions_revoke_user. ARMOR_OK / ARMOR_NOT_FOUND (not a user id) / ARMOR_DB.
 */
int armor_oauth_revoke_user(const char *user_id);

/* ================================================================ tokens */

/*
 * RFC 8707: a `resource` (NULL: none) must be one of the client's registered resources; otherwise
 * false with err = invalid_target. Every grant checks it before it spends anything.
 */
bool armor_oauth_resource_check(const struct armor_oauth_client *c, const char *resource,
                                struct armor_oauth_error *err);
/*
 * Mints the token response for a grant: RFC 9068 access token (sid = grant id), id_token when the
 * scope has openid (nonce, at_hash, auth_time, azp), and a new refresh token when the client may
 * refresh (the grant's family, with the grant's scope). scope: the scope of these tokens (NULL: the
 * grant's). resource: the access token's aud (NULL: the client_id); must be registered.
 * New reference or NULL (err filled).
 */
json_t *armor_oauth_tokens_for_grant(const struct armor_oauth_client *c, const struct armor_oauth_grant *g,
                                     const char *scope, const char *resource, struct armor_oauth_error *err);
/* The id_token alone (for the seed-001 answer). access_token may be NULL (no at_hash). malloc'ed or NULL. */
char *armor_oauth_id_token(const struct armor_oauth_client *c, const struct armor_oauth_grant *g,
                           const char *access_token);
/* client_credentials: scope NULL means every registered scope; resource (a registered one, or NULL for
   the client_id) is the aud. New reference or NULL (err filled). */
json_t *armor_oauth_client_credentials(const struct armor_oauth_client *c, const char *scope, const char *resource,
                                       struct armor_oauth_error *err);
/* Rotates a refresh token; reuse of a rotated one revokes its grant. A refused scope or resource leaves
   the token unspent. New reference or NULL (err filled). */
json_t *armor_oauth_refresh(const struct armor_oauth_client *c, const char *refresh_token, const char *scope,
                            const char *resource, struct armor_oauth_error *err);

/*
 * RFC 7662 answer for a token, as the authenticated client `c` sees it: {"active":false} for
 * anything unknown, expired or revoked. Compact JSON text (armor_malloc'ed, *len bytes plus a NUL).
 * The active answer of a JWT access token is rendered once per cached token (the claims without
 * sid, plus active and token_type); expiry and revocation are checked on every call.
 */
char *armor_oauth_introspect(const struct armor_oauth_client *c, const char *token, const char *hint, size_t *len);
/* RFC 7009: revokes an access token (by jti) or a refresh token (its whole grant) of client c.
   Unknown tokens are OK. ARMOR_OK / ARMOR_DENIED (another client's token) / ARMOR_DB. */
int armor_oauth_revoke(const struct armor_oauth_client *c, const char *token, const char *hint);
/* Verifies an access token for userinfo: a user's token (not client_credentials) that is not revoked.
   ARMOR_OK (*claims new reference) / ARMOR_UNAUTHORIZED / ARMOR_EXPIRED. */
int armor_oauth_access_token_verify(const char *token, json_t **claims);
/* New reference: the userinfo claims of user_id for scope. ARMOR_OK / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_oauth_userinfo(const char *user_id, const char *scope, json_t **out);
/* Adds the scope-dependent user claims (profile, email, phone) to obj; false when the user is gone. */
bool armor_oauth_user_claims(const char *user_id, const char *scope, json_t *obj);

/* The revoked-jti view: true when jti was revoked (memory only). */
bool armor_oauth_jti_revoked(const char *jti);

/* ================================================================ consents and browser sessions */

/* True when the user already granted every scope of `scope` to the client. */
bool armor_oauth_consent_has(const char *user_id, const char *client_id, const char *scope);
/* Adds the scopes to the user's consent for the client. */
int armor_oauth_consent_save(const char *user_id, const char *client_id, const char *scope);

/* Creates a browser session; token[64] is the cookie value. ARMOR_OK / ARMOR_DB. */
int armor_oauth_browser_login(const char *user_id, int64_t auth_time, char token[64]);
/* Looks a cookie value up. ARMOR_OK (user_id, auth_time) / ARMOR_NOT_FOUND / ARMOR_DB. */
int armor_oauth_browser_session(const char *token, char user_id[37], int64_t *auth_time);
void armor_oauth_browser_logout(const char *token);

/*
 * The authorization request between the authorize endpoint and the sign-in and consent forms
 * travels sealed (authenticated encryption with the master key) in a hidden input: no state is
 * written before the user signs in. seal: malloc'ed text (adds an expiry). open: new reference,
 * NULL when tampered with or expired.
 */
char *armor_oauth_request_seal(json_t *req);
json_t *armor_oauth_request_open(const char *sealed);

/* ================================================================ metrics, service */

enum armor_oauth_counter {
  OAUTH_M_ISSUED_CODE,    /* tokens issued, grant authorization_code */
  OAUTH_M_ISSUED_CC,      /* grant client_credentials */
  OAUTH_M_ISSUED_REFRESH, /* grant refresh_token */
  OAUTH_M_ISSUED_API,     /* seed-001 /api/auth/token */
  OAUTH_M_AUTHZ_CODE,     /* authorize: code issued */
  OAUTH_M_AUTHZ_DENIED,   /* authorize: user denied */
  OAUTH_M_AUTHZ_ERROR,    /* authorize: error redirected or shown */
  OAUTH_M_AUTHZ_LOGIN,    /* authorize: login form shown */
  OAUTH_M_AUTHZ_CONSENT,  /* authorize: consent form shown */
  OAUTH_M_TOKEN_ERROR,    /* token endpoint refusals */
  OAUTH_M_INTROSPECT_ACTIVE,
  OAUTH_M_INTROSPECT_INACTIVE,
  OAUTH_M_REVOKED,
  OAUTH_M_REUSE, /* code or refresh-token replay detected */
  OAUTH_M_COUNT,
};
void armor_oauth_count(enum armor_oauth_counter c);

/* Sets the client IP and request id that this thread's audit events carry (strings borrowed until reset). */
void armor_oauth_audit_context(const char *ip, const char *request_id);
/*
 * Counts a client_credentials issuance for the audit trail: one "oauth.token.issued" event per
 * client and minute carries the count (written by the background thread), so that these tokens
 * write nothing per token.
 */
void armor_oauth_audit_cc_issued(const char *client_id);
/* Writes the pending client_credentials counts now (also done every minute and at stop). */
void armor_oauth_audit_cc_flush(void);
/* Audits an event with the IP and request id of the request this thread serves. Steals details. */
void armor_oauth_audit(const char *event, const char *actor, const char *subject, json_t *details);

/* Background refresh of the revoked-jti view and expiry cleanup; started by armor_oauth_start. */
void armor_oauth_revocations_start(void);
void armor_oauth_revocations_stop(void);
/* Adds a jti to the local view (done by revoke; other nodes learn it from the table). */
void armor_oauth_jti_add(const char *jti, int64_t exp);
/* Deletes expired codes, grants, refresh tokens, revoked jtis and browser sessions. */
void armor_oauth_cleanup(void);
/* Forgets every cached client authentication (after a local change to a client). */
void armor_oauth_client_cache_flush(void);

/* Access-token lifetime (settings security.access_token_ttl_seconds). */
int armor_oauth_access_ttl(void);

#endif
