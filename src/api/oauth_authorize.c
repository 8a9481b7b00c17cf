/*
 * The browser side of the provider: GET|POST /oauth2/authorize, the sign-in
 * and consent forms, RP-initiated logout, and the seed-001 two-step login
 * (POST /api/auth/authorize, POST /api/auth/token) on the same engine.
 *
 * Errors found before the client and its redirect URI are trusted render an
 * error page and never redirect. Forms carry a CSRF token that must equal the
 * CSRF cookie, and the sealed request is bound to that cookie. Cookies:
 * `__Host-armor_session` / `__Host-armor_csrf` when the provider is reached
 * over TLS (or its public URL is https); `armor_session` / `armor_csrf` over
 * plain HTTP on loopback, because the __Host- prefix requires Secure.
 */
#include "api/browser.h"
#include "api/oauth_routes.h"
#include "auth/accounts.h"
#include "auth/tokens.h"
#include "core/config.h"
#include "core/secret.h"
#include "oauth/oauth.h"
#include "oauth/pages.h"
#include "settings/settings.h"

#include <sodium.h>
#include <string.h>

/* No form-action here: browsers apply it to the redirect that follows a form, which goes to the client. */
#define PAGE_CSP "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

/* ================================================================ pages and cookies */

static void html(struct armor_req *r, int status, char *body) {
  armor_browser_page_headers(r, PAGE_CSP);
  armor_reply_raw(r, status, "text/html; charset=utf-8", body, strlen(body));
  armor_free(body);
}

static void error_page(struct armor_req *r, int status, const char *message) {
  armor_oauth_count(OAUTH_M_AUTHZ_ERROR);
  html(r, status, armor_oauth_page_message(armor_browser_app_name(r), "Cannot continue", message, true));
}

static const char *binding_of(struct armor_req *r, const char *csrf) {
  char h[65];
  armor_secret_token_hash(csrf, h);
  return armor_arena_strdup(r->arena, h);
}

/* ================================================================ redirects */

static char *with_params(struct armor_req *r, const char *base, const char *const *kv) {
  struct armor_buf b;
  armor_buf_init(&b, 16384);
  armor_buf_append(&b, base, strlen(base));
  char sep = strchr(base, '?') ? '&' : '?';
  for (; kv[0]; kv += 2) {
    if (!kv[1]) continue;
    armor_buf_printf(&b, "%c%s=%s", sep, kv[0], armor_oauth_urlencode(r, kv[1]));
    sep = '&';
  }
  char *s = armor_arena_strdup(r->arena, b.data ? b.data : base);
  armor_buf_free(&b);
  return s;
}

static int redirect_status(const struct armor_req *r) { return strcmp(r->method, "POST") ? 302 : 303; }

/* Redirects an RFC 6749 error to the trusted redirect URI, with state and iss (RFC 9207). */
static void redirect_error(struct armor_req *r, const char *uri, const char *state, const char *error,
                           const char *desc) {
  armor_oauth_count(!strcmp(error, "access_denied") ? OAUTH_M_AUTHZ_DENIED : OAUTH_M_AUTHZ_ERROR);
  const char *kv[] = {"error", error, "error_description", desc, "state", state, "iss", armor_tokens_issuer(), NULL};
  armor_browser_page_headers(r, PAGE_CSP);
  armor_reply_redirect(r, redirect_status(r), with_params(r, uri, kv));
}

/* ================================================================ the authorization request */

static const char *jstr(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s && *s ? s : NULL;
}

/* Issues the code for the sealed request and redirects the browser to the client. */
static void issue_code(struct armor_req *r, const struct armor_oauth_client *c, const json_t *req, const char *user_id,
                       int64_t auth_time) {
  const char *uri = jstr(req, "u"), *state = jstr(req, "st"), *scope = jstr(req, "s");
  struct armor_user u;
  if (armor_user_get(user_id, &u) != ARMOR_OK || u.disabled) {
    redirect_error(r, uri, state, "access_denied", "The account is not available");
    return;
  }
  struct armor_oauth_authz a = {
      .kind = "oauth",
      .client = c,
      .user_id = user_id,
      .scope = scope ? scope : "",
      .redirect_uri = uri,
      .nonce = jstr(req, "n"),
      .code_challenge = jstr(req, "cc"),
      .auth_time = auth_time,
  };
  char code[64];
  if (armor_oauth_code_issue(&a, code)) {
    redirect_error(r, uri, state, "temporarily_unavailable", "Try again shortly");
    return;
  }
  armor_oauth_count(OAUTH_M_AUTHZ_CODE);
  json_t *d = json_object();
  json_object_set_new(d, "client_id", json_string(c->id));
  json_object_set_new(d, "scope", json_string(a.scope));
  json_object_set_new(d, "result", json_string("code"));
  armor_oauth_audit("oauth.authorize", user_id, user_id, d);
  const char *kv[] = {"code", code, "state", state, "iss", armor_tokens_issuer(), NULL};
  armor_browser_page_headers(r, PAGE_CSP);
  armor_reply_redirect(r, redirect_status(r), with_params(r, uri, kv));
  sodium_memzero(code, sizeof code);
}

static void show_login(struct armor_req *r, const struct armor_oauth_client *c, json_t *req, const char *username,
                       const char *error, int status) {
  const char *csrf = armor_browser_csrf_token(r);
  json_object_set_new(req, "b", json_string(binding_of(r, csrf)));
  json_object_set_new(req, "l", json_true());
  char *sealed = armor_oauth_request_seal(req);
  if (!sealed) {
    error_page(r, 500, "Internal error");
    return;
  }
  struct armor_oauth_page p = {armor_browser_app_name(r), c->name, sealed, csrf};
  if (status == 200) armor_oauth_count(OAUTH_M_AUTHZ_LOGIN);
  html(r, status, armor_oauth_page_login(&p, username, error));
  armor_free(sealed);
}

static void show_consent(struct armor_req *r, const struct armor_oauth_client *c, json_t *req, const char *username) {
  const char *csrf = armor_browser_csrf_token(r);
  json_object_set_new(req, "b", json_string(binding_of(r, csrf)));
  char *sealed = armor_oauth_request_seal(req);
  if (!sealed) {
    error_page(r, 500, "Internal error");
    return;
  }
  struct armor_oauth_page p = {armor_browser_app_name(r), c->name, sealed, csrf};
  armor_oauth_count(OAUTH_M_AUTHZ_CONSENT);
  html(r, 200, armor_oauth_page_consent(&p, username, jstr(req, "s")));
  armor_free(sealed);
}

/* Consent is needed unless the client is first-party or the user granted these scopes before. */
static bool needs_consent(const struct armor_oauth_client *c, const json_t *req, const char *user_id) {
  if (c->skip_consent) return false;
  if (json_is_true(json_object_get(req, "pc"))) return true;
  return !armor_oauth_consent_has(user_id, c->id, jstr(req, "s") ? jstr(req, "s") : "");
}

static bool prompt_ok(const char *p, bool *none, bool *login, bool *consent) {
  *none = *login = *consent = false;
  if (!p) return true;
  int n = 0;
  for (const char *s = p; *s;) {
    const char *e = strchr(s, ' ');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l == 4 && !strncmp(s, "none", 4))
      *none = true;
    else if (l == 5 && !strncmp(s, "login", 5))
      *login = true;
    else if (l == 7 && !strncmp(s, "consent", 7))
      *consent = true;
    else if (!(l == 14 && !strncmp(s, "select_account", 14)) && l)
      return false;
    if (l) n++;
    s = e ? e + 1 : s + l;
  }
  return !(*none && n > 1);
}

void armor_api_oauth_authorize(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  const char *rep;
  if (armor_oauth_param_repeated(r, &rep)) {
    error_page(r, 400, "The authorization request repeats a parameter.");
    return;
  }
  const char *client_id = armor_oauth_param(r, "client_id");
  struct armor_oauth_client c;
  memset(&c, 0, sizeof c);
  int rc = client_id ? armor_oauth_client_get(client_id, &c) : ARMOR_NOT_FOUND;
  if (rc == ARMOR_DB) {
    error_page(r, 503, "The service is temporarily unavailable. Try again shortly.");
    return;
  }
  if (rc) {
    error_page(r, 400, "Unknown client: the application that sent you here is not registered.");
    return;
  }
  const char *uri = armor_oauth_param(r, "redirect_uri");
  if (!uri || !armor_oauth_uri_listed(c.redirect_uris, uri)) {
    armor_oauth_client_clear(&c);
    error_page(r, 400, "The redirect URI is missing or not registered for this application.");
    return;
  }
  /* From here on errors go back to the client. */
  const char *state = armor_oauth_param(r, "state");
  const char *rt = armor_oauth_param(r, "response_type");
  const char *scope = armor_oauth_param(r, "scope");
  const char *cc = armor_oauth_param(r, "code_challenge"), *ccm = armor_oauth_param(r, "code_challenge_method");
  const char *nonce = armor_oauth_param(r, "nonce"), *max_age = armor_oauth_param(r, "max_age");
  const char *rm = armor_oauth_param(r, "response_mode");
  bool p_none, p_login, p_consent;
  long long max_age_v = -1;
  const char *err = NULL, *desc = NULL;
  if (armor_oauth_param(r, "request"))
    err = "request_not_supported", desc = "Request objects are not supported";
  else if (armor_oauth_param(r, "request_uri"))
    err = "request_uri_not_supported", desc = "request_uri is not supported";
  else if (!rt)
    err = "invalid_request", desc = "response_type is required";
  else if (strcmp(rt, "code"))
    err = "unsupported_response_type", desc = "Only response_type=code is supported";
  else if (!(c.grants & ARMOR_GRANT_CODE))
    err = "unauthorized_client", desc = "The client may not use authorization_code";
  else if (rm && strcmp(rm, "query"))
    err = "invalid_request", desc = "Only response_mode=query is supported";
  else if (cc && (!ccm || strcmp(ccm, "S256")))
    err = "invalid_request", desc = "code_challenge_method must be S256";
  else if (!cc && ccm)
    err = "invalid_request", desc = "code_challenge is missing";
  else if (cc && !armor_oauth_pkce_value_ok(cc))
    err = "invalid_request", desc = "Malformed code_challenge";
  else if (!cc && !c.confidential)
    err = "invalid_request", desc = "PKCE (code_challenge with S256) is required for public clients";
  else if (scope && !armor_oauth_scope_valid(scope))
    err = "invalid_scope", desc = "Malformed scope";
  else if (scope && !armor_oauth_scope_subset(scope, c.scope))
    err = "invalid_scope", desc = "A requested scope is not registered for this client";
  else if (!prompt_ok(armor_oauth_param(r, "prompt"), &p_none, &p_login, &p_consent))
    err = "invalid_request", desc = "Invalid prompt";
  else if (max_age && !armor_parse_int(max_age, 0, 1000000000, &max_age_v))
    err = "invalid_request", desc = "Invalid max_age";
  else if (nonce && strlen(nonce) > 255)
    err = "invalid_request", desc = "nonce is too long";
  else if (state && strlen(state) > 2048)
    err = "invalid_request", desc = "state is too long";
  if (err) {
    armor_oauth_client_clear(&c);
    redirect_error(r, uri, state, err, desc);
    return;
  }
  json_t *req = json_object();
  json_object_set_new(req, "c", json_string(c.id));
  json_object_set_new(req, "u", json_string(uri));
  json_object_set_new(req, "s", json_string(scope ? scope : c.scope));
  if (state) json_object_set_new(req, "st", json_string(state));
  if (nonce) json_object_set_new(req, "n", json_string(nonce));
  if (cc) json_object_set_new(req, "cc", json_string(cc));
  if (p_consent) json_object_set_new(req, "pc", json_true());
  json_object_set_new(req, "t", json_integer(armor_time()));

  char user_id[37] = "";
  int64_t auth_time = 0;
  struct armor_user u;
  bool have = armor_oauth_browser_session(armor_req_cookie(r, armor_browser_cookie_name(r, "session")), user_id,
                                          &auth_time) == ARMOR_OK &&
              armor_user_get(user_id, &u) == ARMOR_OK && !u.disabled;
  bool login = !have || p_login || (max_age_v >= 0 && armor_time() - auth_time > max_age_v);
  if (login && p_none)
    redirect_error(r, uri, state, "login_required", "The user is not signed in");
  else if (login)
    show_login(r, &c, req, armor_oauth_param(r, "login_hint"), NULL, 200);
  else if (!needs_consent(&c, req, user_id))
    issue_code(r, &c, req, user_id, auth_time);
  else if (p_none)
    redirect_error(r, uri, state, "consent_required", "The user has not consented");
  else
    show_consent(r, &c, req, u.username);
  json_decref(req);
  armor_oauth_client_clear(&c);
}

/*
 * Opens the sealed request of a form or consent-page request, checks its binding to this
 * browser's CSRF cookie (and, for POSTs, the hidden csrf input) and loads its client.
 * Renders an error page and returns NULL when refused.
 */
static json_t *open_request_or_reply(struct armor_req *r, const char *sealed, bool post, struct armor_oauth_client *c) {
  const char *cookie = armor_req_cookie(r, armor_browser_cookie_name(r, "csrf"));
  const char *form = post ? armor_req_form(r, "csrf") : cookie;
  json_t *req = armor_oauth_request_open(sealed);
  bool ok = req && cookie && form && armor_str_eq_ct(cookie, form) && jstr(req, "b") &&
            armor_str_eq_ct(binding_of(r, cookie), jstr(req, "b"));
  if (!ok) {
    json_decref(req);
    error_page(r, 400,
               "This sign-in request expired or is not valid in this browser. Start again from the application.");
    return NULL;
  }
  int rc = armor_oauth_client_get(jstr(req, "c"), c);
  if (rc || !armor_oauth_uri_listed(c->redirect_uris, jstr(req, "u"))) {
    if (!rc) armor_oauth_client_clear(c);
    json_decref(req);
    error_page(r, rc == ARMOR_DB ? 503 : 400, "The application is no longer registered.");
    return NULL;
  }
  return req;
}

/* The signed-in user of this browser, when the session is recent enough for the sealed request. */
static bool session_user(struct armor_req *r, const json_t *req, char user_id[37], int64_t *auth_time,
                         struct armor_user *u) {
  if (armor_oauth_browser_session(armor_req_cookie(r, armor_browser_cookie_name(r, "session")), user_id, auth_time) !=
      ARMOR_OK)
    return false;
  /* When the form was shown, the sign-in must have happened after the request started. */
  if (json_is_true(json_object_get(req, "l")) && *auth_time < json_integer_value(json_object_get(req, "t")))
    return false;
  return armor_user_get(user_id, u) == ARMOR_OK && !u->disabled;
}

static void continue_after_login(struct armor_req *r, const struct armor_oauth_client *c, json_t *req,
                                 const char *user_id, int64_t auth_time) {
  if (!needs_consent(c, req, user_id)) {
    issue_code(r, c, req, user_id, auth_time);
    return;
  }
  const char *sealed = jstr(req, "sealed");
  char *loc = armor_arena_printf(r->arena, "/oauth2/consent?request=%s", armor_oauth_urlencode(r, sealed));
  armor_browser_page_headers(r, PAGE_CSP);
  armor_reply_redirect(r, 303, loc);
}

void armor_api_oauth_login(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  const char *sealed = armor_req_form(r, "request");
  struct armor_oauth_client c;
  json_t *req = open_request_or_reply(r, sealed, true, &c);
  if (!req) return;
  const char *username = armor_req_form(r, "username"), *password = armor_req_form(r, "password");
  struct armor_user u;
  int retry = 0;
  int rc = username && password && *username && *password && strlen(username) <= 254 && strlen(password) <= 4096
               ? armor_accounts_authenticate(username, password, r->client_ip, &u, &retry)
               : ARMOR_UNAUTHORIZED;
  if (rc) {
    const char *msg = rc == ARMOR_LIMITED  ? "Too many attempts. Wait a moment and try again."
                      : rc == ARMOR_DENIED ? "This account is disabled."
                      : rc == ARMOR_DB     ? "The service is temporarily unavailable."
                                           : "Invalid username or password.";
    int status = rc == ARMOR_LIMITED ? 429 : rc == ARMOR_DENIED ? 403 : rc == ARMOR_DB ? 503 : 401;
    if (rc == ARMOR_LIMITED) {
      char ra[16];
      armor_fmt(ra, sizeof ra, "%d", retry > 0 ? retry : 60);
      armor_reply_header(r, "Retry-After", ra);
    }
    json_object_del(req, "b");
    show_login(r, &c, req, username, msg, status);
    goto out;
  }
  /* A new sign-in replaces this browser's previous session. */
  armor_oauth_browser_logout(armor_req_cookie(r, armor_browser_cookie_name(r, "session")));
  char token[64];
  int64_t now = armor_time();
  if (armor_oauth_browser_login(u.id, now, token)) {
    error_page(r, 503, "The service is temporarily unavailable. Try again shortly.");
    goto out;
  }
  struct armor_security_settings s;
  armor_settings_security(&s);
  armor_browser_set_cookie(r, armor_browser_cookie_name(r, "session"), token,
                           s.session_idle_seconds > 0 ? s.session_idle_seconds : 1209600);
  sodium_memzero(token, sizeof token);
  json_object_set_new(req, "sealed", json_string(sealed));
  continue_after_login(r, &c, req, u.id, now);
out:
  json_decref(req);
  armor_oauth_client_clear(&c);
}

void armor_api_oauth_consent_page(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  struct armor_oauth_client c;
  json_t *req = open_request_or_reply(r, armor_req_query(r, "request"), false, &c);
  if (!req) return;
  char user_id[37];
  int64_t auth_time;
  struct armor_user u;
  if (!session_user(r, req, user_id, &auth_time, &u))
    error_page(r, 400, "You are not signed in. Start again from the application.");
  else
    show_consent(r, &c, req, u.username);
  json_decref(req);
  armor_oauth_client_clear(&c);
}

void armor_api_oauth_consent(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  struct armor_oauth_client c;
  json_t *req = open_request_or_reply(r, armor_req_form(r, "request"), true, &c);
  if (!req) return;
  char user_id[37];
  int64_t auth_time;
  struct armor_user u;
  const char *decision = armor_req_form(r, "decision");
  if (!session_user(r, req, user_id, &auth_time, &u)) {
    error_page(r, 400, "You are not signed in. Start again from the application.");
  } else if (decision && !strcmp(decision, "allow")) {
    const char *scope = jstr(req, "s") ? jstr(req, "s") : "";
    armor_oauth_consent_save(user_id, c.id, scope);
    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(c.id));
    json_object_set_new(d, "scope", json_string(scope));
    armor_oauth_audit("oauth.consent.granted", user_id, user_id, d);
    issue_code(r, &c, req, user_id, auth_time);
  } else if (decision && !strcmp(decision, "deny")) {
    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(c.id));
    armor_oauth_audit("oauth.consent.denied", user_id, user_id, d);
    redirect_error(r, jstr(req, "u"), jstr(req, "st"), "access_denied", "The user denied the request");
  } else {
    error_page(r, 400, "decision must be allow or deny.");
  }
  json_decref(req);
  armor_oauth_client_clear(&c);
}

/* ================================================================ logout */

void armor_api_oauth_logout(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  const char *hint = armor_req_query(r, "id_token_hint"), *client_id = armor_req_query(r, "client_id");
  const char *post = armor_req_query(r, "post_logout_redirect_uri"), *state = armor_req_query(r, "state");
  char hinted[64] = "";
  if (hint) {
    json_t *claims = NULL;
    if (armor_jwt_verify_ex(hint, NULL, ARMOR_JWT_ALLOW_EXPIRED | ARMOR_JWT_IGNORE_REVOKED, &claims) == ARMOR_OK) {
      const char *azp = json_string_value(json_object_get(claims, "azp"));
      json_t *aud = json_object_get(claims, "aud");
      const char *a = azp                  ? azp
                      : json_is_array(aud) ? json_string_value(json_array_get(aud, 0))
                                           : json_string_value(aud);
      if (a) armor_fmt(hinted, sizeof hinted, "%s", a);
    }
    json_decref(claims);
  }
  if (hinted[0] && client_id && strcmp(hinted, client_id)) {
    error_page(r, 400, "client_id does not match id_token_hint.");
    return;
  }
  if (!client_id && hinted[0]) client_id = hinted;
  if (post) {
    struct armor_oauth_client c;
    bool ok = client_id && armor_oauth_client_get(client_id, &c) == ARMOR_OK;
    bool listed = ok && armor_oauth_uri_listed(c.post_logout_redirect_uris, post);
    if (ok) armor_oauth_client_clear(&c);
    if (!listed) {
      error_page(r, 400, "The post-logout redirect URI is not registered for this application.");
      return;
    }
  }
  const char *cookie = armor_req_cookie(r, armor_browser_cookie_name(r, "session"));
  char user_id[37] = "";
  int64_t at;
  if (cookie && armor_oauth_browser_session(cookie, user_id, &at) == ARMOR_OK) {
    json_t *d = json_object();
    if (client_id) json_object_set_new(d, "client_id", json_string(client_id));
    armor_oauth_audit("oauth.logout", user_id, user_id, d);
  }
  armor_oauth_browser_logout(cookie);
  armor_browser_set_cookie(r, armor_browser_cookie_name(r, "session"), "", 0);
  if (post) {
    const char *kv[] = {"state", state, NULL};
    armor_browser_page_headers(r, PAGE_CSP);
    armor_reply_redirect(r, 302, with_params(r, post, kv));
    return;
  }
  html(r, 200, armor_oauth_page_message(armor_browser_app_name(r), "Signed out", "You are signed out.", false));
}

/* ================================================================ seed 001: /api/auth/authorize, /api/auth/token */

static bool api_client_or_reply(struct armor_req *r, const char *client_id, struct armor_oauth_client *c) {
  int rc = client_id ? armor_oauth_client_get(client_id, c) : ARMOR_NOT_FOUND;
  if (rc == ARMOR_NOT_FOUND) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "client_id", "Unknown client");
    return false;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return false;
  }
  return true;
}

void armor_api_auth_authorize(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  static const char *const known[] = {
      "username", "password", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state",
      "scope",    "nonce",    NULL};
  const char *username, *password, *client_id, *uri, *cc, *ccm, *state, *scope, *nonce;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "username", false, 1, 254, &username) ||
      !armor_json_str_or_reply(r, "password", false, 1, 4096, &password) ||
      !armor_json_str_or_reply(r, "client_id", true, 1, 64, &client_id) ||
      !armor_json_str_or_reply(r, "redirect_uri", true, 1, 2000, &uri) ||
      !armor_json_str_or_reply(r, "code_challenge", true, 43, 128, &cc) ||
      !armor_json_str_or_reply(r, "code_challenge_method", false, 4, 5, &ccm) ||
      !armor_json_str_or_reply(r, "state", false, 0, 2048, &state) ||
      !armor_json_str_or_reply(r, "scope", false, 1, ARMOR_OAUTH_SCOPE_MAX - 1, &scope) ||
      !armor_json_str_or_reply(r, "nonce", false, 1, 255, &nonce))
    return;
  if ((ccm && strcmp(ccm, "S256")) || !armor_oauth_pkce_value_ok(cc)) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED",
                            ccm && strcmp(ccm, "S256") ? "code_challenge_method" : "code_challenge",
                            "PKCE with S256 is required");
    return;
  }
  struct armor_oauth_client c;
  if (!api_client_or_reply(r, client_id, &c)) return;
  if (!(c.grants & ARMOR_GRANT_CODE)) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "client_id", "The client may not use authorization_code");
    goto out;
  }
  if (!armor_oauth_uri_listed(c.redirect_uris, uri)) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "redirect_uri", "redirect_uri is not registered for this client");
    goto out;
  }
  if (scope && (!armor_oauth_scope_valid(scope) || !armor_oauth_scope_subset(scope, c.scope))) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "scope", "A requested scope is not registered for this client");
    goto out;
  }
  /* The user: the current session's bearer token, or username and password. */
  struct armor_user u;
  const char *bearer = armor_req_bearer(r);
  int rc;
  if (bearer && !username) {
    json_t *claims = NULL;
    rc = armor_jwt_verify(bearer, ARMOR_API_AUDIENCE, &claims);
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (rc == ARMOR_OK)
      rc = sub && armor_user_get(sub, &u) == ARMOR_OK ? (u.disabled ? ARMOR_DENIED : ARMOR_OK) : ARMOR_UNAUTHORIZED;
    json_decref(claims);
  } else if (username && password) {
    int retry = 0;
    rc = armor_accounts_authenticate(username, password, r->client_ip, &u, &retry);
    if (rc == ARMOR_LIMITED) {
      char ra[16];
      armor_fmt(ra, sizeof ra, "%d", retry > 0 ? retry : 60);
      armor_reply_header(r, "Retry-After", ra);
    }
  } else {
    armor_reply_error(r, 401, "UNAUTHORIZED", "Give username and password, or a bearer token", NULL);
    goto out;
  }
  if (rc) {
    armor_reply_rc(r, rc,
                   rc == ARMOR_UNAUTHORIZED ? "Invalid credentials"
                   : rc == ARMOR_DENIED     ? "Account disabled"
                                            : NULL);
    goto out;
  }
  struct armor_oauth_authz a = {
      .kind = "api",
      .client = &c,
      .user_id = u.id,
      .scope = scope ? scope : c.scope,
      .redirect_uri = uri,
      .nonce = nonce,
      .code_challenge = cc,
      .auth_time = armor_time(),
  };
  char code[64];
  if (armor_oauth_code_issue(&a, code)) {
    armor_reply_rc(r, ARMOR_DB, NULL);
    goto out;
  }
  armor_oauth_count(OAUTH_M_AUTHZ_CODE);
  json_t *ad = json_object();
  json_object_set_new(ad, "client_id", json_string(c.id));
  json_object_set_new(ad, "scope", json_string(a.scope));
  json_object_set_new(ad, "result", json_string("code"));
  json_object_set_new(ad, "via", json_string("api"));
  armor_oauth_audit("oauth.authorize", u.id, u.id, ad);
  json_t *d = json_object();
  json_object_set_new(d, "code", json_string(code));
  json_object_set_new(d, "expires_in", json_integer(ARMOR_OAUTH_CODE_TTL));
  json_object_set_new(d, "redirect_uri", json_string(uri));
  if (state) json_object_set_new(d, "state", json_string(state));
  const char *kv[] = {"code", code, "state", state, "iss", armor_tokens_issuer(), NULL};
  json_object_set_new(d, "redirect_to", json_string(with_params(r, uri, kv)));
  sodium_memzero(code, sizeof code);
  armor_reply_ok(r, 200, "Authorization code issued", d);
out:
  armor_oauth_client_clear(&c);
}

void armor_api_auth_token(struct armor_req *r) {
  armor_oauth_audit_context(r->client_ip, r->request_id);
  static const char *const known[] = {"code",          "code_verifier", "client_id", "redirect_uri",
                                      "client_secret", "grant_type",    NULL};
  const char *code, *verifier, *client_id, *uri, *secret, *grant;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "code", true, 1, 128, &code) ||
      !armor_json_str_or_reply(r, "code_verifier", true, 43, 128, &verifier) ||
      !armor_json_str_or_reply(r, "client_id", true, 1, 64, &client_id) ||
      !armor_json_str_or_reply(r, "redirect_uri", true, 1, 2000, &uri) ||
      !armor_json_str_or_reply(r, "client_secret", false, 1, 256, &secret) ||
      !armor_json_str_or_reply(r, "grant_type", false, 1, 64, &grant))
    return;
  if (grant && strcmp(grant, "authorization_code")) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "grant_type", "grant_type must be authorization_code");
    return;
  }
  struct armor_oauth_client c;
  int rc = armor_oauth_client_authenticate(NULL, client_id, secret, &c);
  if (rc) {
    armor_reply_rc(r, rc == ARMOR_DB ? rc : ARMOR_UNAUTHORIZED, "Client authentication failed");
    return;
  }
  struct armor_oauth_grant g;
  struct armor_oauth_error e = {"invalid_grant", "Invalid authorization code"};
  rc = armor_oauth_code_redeem("api", &c, code, uri, verifier, &g, &e);
  if (rc == ARMOR_DB) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  if (rc) {
    armor_oauth_count(OAUTH_M_TOKEN_ERROR);
    json_t *d = json_object();
    json_object_set_new(d, "error", json_string(e.error));
    armor_reply_error(r, 400, "BAD_REQUEST", e.description, d);
    return;
  }
  json_t *data = NULL;
  rc = armor_sessions_create(g.user_id, r->client_ip, armor_req_header(r, "User-Agent"), &data);
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  /* Remember the session so that a replay of the code can end it. */
  const char *tok = json_string_value(json_object_get(data, "token"));
  json_t *claims = NULL;
  const char *sid = NULL;
  if (tok && armor_jwt_verify(tok, ARMOR_API_AUDIENCE, &claims) == ARMOR_OK)
    sid = json_string_value(json_object_get(claims, "sid"));
  if (sid && armor_oauth_grant_set_session(g.id, sid) == ARMOR_CONFLICT) {
    json_decref(claims);
    json_decref(data);
    json_t *d = json_object();
    json_object_set_new(d, "error", json_string("invalid_grant"));
    armor_reply_error(r, 400, "BAD_REQUEST", "Authorization code was already used; its tokens are revoked", d);
    return;
  }
  json_decref(claims);
  json_object_set_new(data, "scope", json_string(g.scope));
  if (armor_oauth_scope_has(g.scope, "openid")) {
    char *idt = armor_oauth_id_token(&c, &g, tok);
    if (idt) json_object_set_new(data, "id_token", json_string(idt));
    armor_free(idt);
  }
  armor_oauth_count(OAUTH_M_ISSUED_API);
  json_t *ad = json_object();
  json_object_set_new(ad, "client_id", json_string(c.id));
  json_object_set_new(ad, "grant_type", json_string("authorization_code"));
  json_object_set_new(ad, "via", json_string("api"));
  armor_oauth_audit("oauth.token.issued", g.user_id, g.user_id, ad);
  armor_reply_ok(r, 200, "Login successful", data);
}
