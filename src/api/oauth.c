/*
 * OAuth 2.0 / OpenID Connect protocol endpoints: discovery, token (and its
 * seed-002 alias /connect/token), introspection, revocation and userinfo, and
 * the module's one route table (the browser flow lives in oauth_authorize.c,
 * /api/clients in clients.c). Answers use the RFC shapes, not the envelope.
 * Never logs a secret or a token.
 */
#include "api/api.h"
#include "api/oauth_routes.h"
#include "app/services.h"
#include "auth/tokens.h"
#include "oauth/oauth.h"

#include <sodium.h>
#include <string.h>

/* ================================================================ shared helpers */

const char *armor_oauth_param(const struct armor_req *r, const char *name) {
  return strcmp(r->method, "POST") ? armor_req_query(r, name) : armor_req_form(r, name);
}

bool armor_oauth_param_repeated(const struct armor_req *r, const char **which) {
  const struct armor_kv *kv = strcmp(r->method, "POST") ? r->query : r->form;
  int n = strcmp(r->method, "POST") ? r->nquery : r->nform;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (!strcmp(kv[i].name, kv[j].name)) {
        *which = kv[i].name;
        return true;
      }
  return false;
}

char *armor_oauth_urlencode(struct armor_req *r, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = armor_arena_alloc(r->arena, 3 * n + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
        *p == '_' || *p == '~') {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = 0;
  return out;
}

static void no_store(struct armor_req *r) {
  armor_reply_header(r, "Cache-Control", "no-store");
  armor_reply_header(r, "Pragma", "no-cache");
}

static void oauth_error(struct armor_req *r, int status, const char *error, const char *desc) {
  no_store(r);
  armor_reply_oauth_error(r, status, error, desc);
}

static int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* application/x-www-form-urlencoded decoding of a Basic credential part (RFC 6749 2.3.1). */
static char *form_unescape(struct armor_req *r, const char *s, size_t n) {
  char *out = armor_arena_alloc(r->arena, n + 1);
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+')
      out[j++] = ' ';
    else if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
      out[j++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
      i += 2;
    } else
      out[j++] = s[i];
  }
  out[j] = 0;
  return out;
}

/*
 * Authenticates the calling client: HTTP Basic or client_id/client_secret in the body, or
 * a public client naming itself with client_id. Replies (invalid_client is 401) and
 * returns false when refused.
 */
static bool client_or_reply(struct armor_req *r, bool confidential_only, struct armor_oauth_client *c) {
  const char *id = NULL, *secret = NULL;
  const char *auth = armor_req_header(r, "Authorization");
  const char *fid = armor_req_form(r, "client_id"), *fsecret = armor_req_form(r, "client_secret");
  const char *raw = NULL;
  if (auth && !strncasecmp(auth, "Basic ", 6)) {
    if (fsecret) {
      oauth_error(r, 400, "invalid_request", "Use one client authentication method");
      return false;
    }
    /* The hot path (introspection): a header seen a moment ago is answered from the cache. */
    raw = auth;
    if (armor_oauth_client_authenticate(raw, NULL, NULL, c) == ARMOR_OK) {
      if (fid && strcmp(fid, c->id)) {
        oauth_error(r, 400, "invalid_request", "Use one client authentication method");
        return false;
      }
      return true;
    }
    const char *b64 = auth + 6;
    while (*b64 == ' ') b64++;
    size_t bl = strlen(b64), n = 0;
    unsigned char *buf = armor_arena_alloc(r->arena, bl + 1);
    if (bl > 1024 || sodium_base642bin(buf, bl, b64, bl, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL)) {
      oauth_error(r, 401, "invalid_client", "Malformed Basic credentials");
      return false;
    }
    buf[n] = 0;
    char *colon = memchr(buf, ':', n);
    if (!colon || strlen((char *)buf) != n) {
      oauth_error(r, 401, "invalid_client", "Malformed Basic credentials");
      return false;
    }
    id = form_unescape(r, (char *)buf, (size_t)(colon - (char *)buf));
    secret = form_unescape(r, colon + 1, n - (size_t)(colon + 1 - (char *)buf));
    sodium_memzero(buf, n);
    if (fid && strcmp(fid, id)) {
      oauth_error(r, 400, "invalid_request", "Use one client authentication method");
      return false;
    }
  } else if (auth && strncasecmp(auth, "Bearer ", 7)) {
    oauth_error(r, 401, "invalid_client", "Unsupported client authentication");
    return false;
  } else {
    id = fid;
    secret = fsecret;
  }
  if (!id || !*id) {
    oauth_error(r, 401, "invalid_client", "Client authentication required");
    return false;
  }
  if (confidential_only && !secret) {
    oauth_error(r, 401, "invalid_client", "Client authentication required");
    return false;
  }
  int rc = armor_oauth_client_authenticate(raw, id, secret, c);
  if (rc == ARMOR_DB) {
    no_store(r);
    armor_reply_header(r, "Retry-After", "1");
    armor_reply_oauth_error(r, 503, "temporarily_unavailable", "Try again shortly");
    return false;
  }
  if (rc) {
    oauth_error(r, 401, "invalid_client", "Client authentication failed");
    return false;
  }
  return true;
}

/* ================================================================ discovery */

static json_t *strings(const char *const *v) {
  json_t *a = json_array();
  for (; *v; v++) json_array_append_new(a, json_string(*v));
  return a;
}

static void discovery(struct armor_req *r) {
  const char *iss = armor_tokens_issuer();
  json_t *d = json_object();
  char u[1024];
  json_object_set_new(d, "issuer", json_string(iss));
  static const struct {
    const char *k, *path;
  } eps[] = {
      {"authorization_endpoint", "/oauth2/authorize"}, {"token_endpoint", "/oauth2/token"},
      {"userinfo_endpoint", "/oauth2/userinfo"},       {"jwks_uri", "/.well-known/jwks.json"},
      {"end_session_endpoint", "/oauth2/logout"},      {"introspection_endpoint", "/oauth2/introspect"},
      {"revocation_endpoint", "/oauth2/revoke"},
  };
  for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
    armor_fmt(u, sizeof u, "%s%s", iss, eps[i].path);
    json_object_set_new(d, eps[i].k, json_string(u));
  }
  static const char *const response_types[] = {"code", NULL};
  static const char *const response_modes[] = {"query", NULL};
  static const char *const grants[] = {"authorization_code", "client_credentials", "refresh_token", NULL};
  static const char *const subjects[] = {"public", NULL};
  static const char *const algs[] = {"ES256", "RS256", NULL};
  static const char *const scopes[] = {"openid", "profile", "email", "phone", NULL};
  static const char *const claims[] = {"iss",
                                       "sub",
                                       "aud",
                                       "exp",
                                       "iat",
                                       "auth_time",
                                       "nonce",
                                       "at_hash",
                                       "azp",
                                       "preferred_username",
                                       "name",
                                       "email",
                                       "email_verified",
                                       "phone_number",
                                       NULL};
  static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post", "none", NULL};
  static const char *const secret_methods[] = {"client_secret_basic", "client_secret_post", NULL};
  static const char *const pkce[] = {"S256", NULL};
  static const char *const prompts[] = {"none", "login", "consent", NULL};
  json_object_set_new(d, "response_types_supported", strings(response_types));
  json_object_set_new(d, "response_modes_supported", strings(response_modes));
  json_object_set_new(d, "grant_types_supported", strings(grants));
  json_object_set_new(d, "subject_types_supported", strings(subjects));
  json_object_set_new(d, "id_token_signing_alg_values_supported", strings(algs));
  json_object_set_new(d, "scopes_supported", strings(scopes));
  json_object_set_new(d, "claims_supported", strings(claims));
  json_object_set_new(d, "token_endpoint_auth_methods_supported", strings(auth_methods));
  json_object_set_new(d, "introspection_endpoint_auth_methods_supported", strings(secret_methods));
  json_object_set_new(d, "revocation_endpoint_auth_methods_supported", strings(auth_methods));
  json_object_set_new(d, "code_challenge_methods_supported", strings(pkce));
  json_object_set_new(d, "prompt_values_supported", strings(prompts));
  json_object_set_new(d, "authorization_response_iss_parameter_supported", json_true());
  json_object_set_new(d, "claims_parameter_supported", json_false());
  json_object_set_new(d, "request_parameter_supported", json_false());
  json_object_set_new(d, "request_uri_parameter_supported", json_false());
  json_object_set_new(d, "require_request_uri_registration", json_false());
  json_object_set_new(d, "frontchannel_logout_supported", json_false());
  json_object_set_new(d, "backchannel_logout_supported", json_false());
  armor_reply_header(r, "Cache-Control", "public, max-age=300");
  armor_reply_header(r, "Access-Control-Allow-Origin", "*");
  armor_reply_json(r, 200, d);
}

/* ================================================================ token endpoint */

static void token_refused(struct armor_req *r, const struct armor_oauth_client *c, const char *grant,
                          const struct armor_oauth_error *e) {
  armor_oauth_count(OAUTH_M_TOKEN_ERROR);
  if (!strcmp(e->error, "invalid_grant") || !strcmp(e->error, "unauthorized_client")) {
    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(c->id));
    json_object_set_new(d, "grant_type", json_string(grant));
    json_object_set_new(d, "error", json_string(e->error));
    armor_oauth_audit("oauth.token.refused", NULL, NULL, d);
  }
  oauth_error(r, !strcmp(e->error, "server_error") ? 500 : 400, e->error, e->description);
}

static void token_issued(struct armor_req *r, const struct armor_oauth_client *c, const char *grant, json_t *resp,
                         enum armor_oauth_counter m) {
  armor_oauth_count(m);
  no_store(r);
  /* client_credentials tokens write nothing per token: their issuance is audited as counts per client. */
  if (m == OAUTH_M_ISSUED_CC) {
    armor_oauth_audit_cc_issued(c->id);
    armor_reply_json(r, 200, resp);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "client_id", json_string(c->id));
  json_object_set_new(d, "grant_type", json_string(grant));
  json_object_set(d, "scope", json_object_get(resp, "scope"));
  armor_oauth_audit("oauth.token.issued", NULL, NULL, d);
  armor_reply_json(r, 200, resp);
}

static void token(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  const char *rep;
  if (armor_oauth_param_repeated(r, &rep)) {
    oauth_error(r, 400, "invalid_request", "A parameter was given more than once");
    return;
  }
  const char *grant = armor_req_form(r, "grant_type");
  if (!grant || !*grant) {
    oauth_error(r, 400, "invalid_request", "grant_type is required");
    return;
  }
  bool known =
      !strcmp(grant, "authorization_code") || !strcmp(grant, "client_credentials") || !strcmp(grant, "refresh_token");
  if (!known) {
    /* password, implicit, device code, token exchange, ...: not offered by this server. */
    armor_oauth_count(OAUTH_M_TOKEN_ERROR);
    oauth_error(r, 400, "unsupported_grant_type", "Supported: authorization_code, client_credentials, refresh_token");
    return;
  }
  struct armor_oauth_client c;
  if (!client_or_reply(r, !strcmp(grant, "client_credentials"), &c)) {
    armor_oauth_count(OAUTH_M_TOKEN_ERROR);
    return;
  }
  struct armor_oauth_error e = {"server_error", "Internal error"};
  json_t *resp = NULL;
  const char *scope = armor_req_form(r, "scope");
  if (scope && !*scope) scope = NULL;
  /* RFC 8707: only a resource registered for the client, checked before a code or refresh token is spent. */
  const char *resource = armor_req_form(r, "resource");
  if (!armor_oauth_resource_check(&c, resource, &e)) {
    token_refused(r, &c, grant, &e);
    return;
  }
  if (!strcmp(grant, "client_credentials")) {
    resp = armor_oauth_client_credentials(&c, scope, resource, &e);
    if (resp)
      token_issued(r, &c, grant, resp, OAUTH_M_ISSUED_CC);
    else
      token_refused(r, &c, grant, &e);
    return;
  }
  if (!strcmp(grant, "authorization_code")) {
    if (!(c.grants & ARMOR_GRANT_CODE)) {
      e = (struct armor_oauth_error){"unauthorized_client", "The client may not use authorization_code"};
      token_refused(r, &c, grant, &e);
      return;
    }
    const char *code = armor_req_form(r, "code");
    if (!code || !*code) {
      oauth_error(r, 400, "invalid_request", "code is required");
      return;
    }
    struct armor_oauth_grant g;
    int rc = armor_oauth_code_redeem("oauth", &c, code, armor_req_form(r, "redirect_uri"),
                                     armor_req_form(r, "code_verifier"), &g, &e);
    if (rc == ARMOR_OK)
      resp = armor_oauth_tokens_for_grant(&c, &g, NULL, resource, &e);
    else if (rc == ARMOR_DB)
      e = (struct armor_oauth_error){"server_error", "Temporarily unavailable"};
    if (resp)
      token_issued(r, &c, grant, resp, OAUTH_M_ISSUED_CODE);
    else
      token_refused(r, &c, grant, &e);
    return;
  }
  const char *rt = armor_req_form(r, "refresh_token");
  if (!rt || !*rt) {
    oauth_error(r, 400, "invalid_request", "refresh_token is required");
    return;
  }
  resp = armor_oauth_refresh(&c, rt, scope, resource, &e);
  if (resp)
    token_issued(r, &c, grant, resp, OAUTH_M_ISSUED_REFRESH);
  else
    token_refused(r, &c, grant, &e);
}

/* ================================================================ introspection, revocation */

static void introspect(struct armor_req *r) {
  struct armor_oauth_client c;
  if (!client_or_reply(r, true, &c)) return;
  const char *t = armor_req_form(r, "token");
  if (!t || !*t) {
    oauth_error(r, 400, "invalid_request", "token is required");
    return;
  }
  /* Cache-Control only: RFC 7662 asks for no Pragma (RFC 6749 does, for the token endpoint), and every
     header is an allocation on this hot path. */
  armor_reply_header(r, "Cache-Control", "no-store");
  size_t len = 0;
  char *answer = armor_oauth_introspect(&c, t, armor_req_form(r, "token_type_hint"), &len);
  /* Claims, never the token: may be kept (an unchanged answer is then a copy into a kept response). */
  armor_reply_take_keepable(r, 200, "application/json", answer, len);
}

static void revoke(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  struct armor_oauth_client c;
  if (!client_or_reply(r, false, &c)) return;
  const char *t = armor_req_form(r, "token");
  if (!t || !*t) {
    oauth_error(r, 400, "invalid_request", "token is required");
    return;
  }
  int rc = armor_oauth_revoke(&c, t, armor_req_form(r, "token_type_hint"));
  if (rc == ARMOR_DENIED) {
    oauth_error(r, 400, "invalid_request", "The token was issued to another client");
    return;
  }
  if (rc) {
    no_store(r);
    armor_reply_header(r, "Retry-After", "1");
    armor_reply_oauth_error(r, 503, "temporarily_unavailable", "Try again shortly");
    return;
  }
  no_store(r);
  armor_reply_raw(r, 200, "application/json", "{}", 2);
}

/* ================================================================ userinfo */

static void bearer_error(struct armor_req *r, int status, const char *error, const char *desc) {
  char h[256];
  armor_fmt(h, sizeof h, "Bearer error=\"%s\", error_description=\"%s\"", error, desc);
  armor_reply_header(r, "WWW-Authenticate", h);
  no_store(r);
  json_t *o = json_object();
  json_object_set_new(o, "error", json_string(error));
  json_object_set_new(o, "error_description", json_string(desc));
  armor_reply_json(r, status, o);
}

static void userinfo(struct armor_req *r) {
  const char *t = armor_req_bearer(r);
  const char *ft = armor_req_form(r, "access_token");
  if (t && ft) {
    bearer_error(r, 400, "invalid_request", "Give the access token once");
    return;
  }
  if (!t) t = ft;
  if (!t) {
    armor_reply_header(r, "WWW-Authenticate", "Bearer");
    no_store(r);
    armor_reply_json(r, 401,
                     json_pack("{s:s, s:s}", "error", "invalid_token", "error_description", "Access token required"));
    return;
  }
  json_t *claims = NULL;
  int rc = armor_oauth_access_token_verify(t, &claims);
  if (rc) {
    bearer_error(r, 401, "invalid_token", rc == ARMOR_EXPIRED ? "The access token expired" : "Invalid access token");
    return;
  }
  const char *scope = json_string_value(json_object_get(claims, "scope"));
  const char *sub = json_string_value(json_object_get(claims, "sub"));
  if (!scope || !armor_oauth_scope_has(scope, "openid")) {
    json_decref(claims);
    bearer_error(r, 403, "insufficient_scope", "The openid scope is required");
    return;
  }
  json_t *out = NULL;
  rc = armor_oauth_userinfo(sub ? sub : "", scope, &out);
  json_decref(claims);
  if (rc) {
    bearer_error(r, 401, "invalid_token", "The user no longer exists");
    return;
  }
  no_store(r);
  armor_reply_json(r, 200, out);
}

/* ================================================================ route table */

#define OAUTH_BODY 16384
const struct armor_route armor_routes_oauth[] = {
    {"GET", "/.well-known/openid-configuration", discovery, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"GET", "/oauth2/authorize", armor_api_oauth_authorize, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"POST", "/oauth2/authorize", armor_api_oauth_authorize, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"POST", "/oauth2/login", armor_api_oauth_login, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM | ROUTE_SLOW, NULL,
     OAUTH_BODY},
    {"GET", "/oauth2/consent", armor_api_oauth_consent_page, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"POST", "/oauth2/consent", armor_api_oauth_consent, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"POST", "/oauth2/token", token, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"POST", "/connect/token", token, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"POST", "/oauth2/introspect", introspect, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"POST", "/oauth2/revoke", revoke, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"GET", "/oauth2/userinfo", userinfo, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"POST", "/oauth2/userinfo", userinfo, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_FORM, NULL, OAUTH_BODY},
    {"GET", "/oauth2/logout", armor_api_oauth_logout, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
    {"POST", "/api/auth/authorize", armor_api_auth_authorize, ROUTE_PUBLIC | ROUTE_JSON | ROUTE_SLOW, NULL, 0},
    {"POST", "/api/auth/token", armor_api_auth_token, ROUTE_PUBLIC | ROUTE_JSON, NULL, 0},
    {"GET", "/api/clients", armor_api_clients_list, ROUTE_AUTH, "clients:read", 0},
    {"POST", "/api/clients", armor_api_clients_create, ROUTE_AUTH | ROUTE_JSON, "clients:write", 0},
    {"GET", "/api/clients/{id}", armor_api_clients_get, ROUTE_AUTH, "clients:read", 0},
    {"PUT", "/api/clients/{id}", armor_api_clients_update, ROUTE_AUTH | ROUTE_JSON, "clients:write", 0},
    {"DELETE", "/api/clients/{id}", armor_api_clients_delete, ROUTE_AUTH, "clients:write", 0},
    {"POST", "/api/clients/{id}/secret", armor_api_clients_rotate, ROUTE_AUTH | ROUTE_OPTJSON, "clients:write", 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};
