/*
 * Routes of the auth module: registration, login, state, profile, me, token
 * reissue, logout, sessions, the first-admin setup, the permission catalog and
 * the audit log. Each handler parses the request, calls one service and
 * renders the envelope; the rules live in auth/. Routes that hash a password
 * are ROUTE_SLOW so that argon2id runs on the worker pool.
 */
#include "app/services.h"
#include "auth/accounts.h"
#include "auth/audit.h"
#include "auth/password.h"
#include "oauth/oauth.h"
#include "settings/settings.h"

#include <stdio.h>
#include <string.h>

#define NAME_MAX_BYTES 256 /* refused before normalisation; the username rule is 64 */
#define PASSWORD_MAX_BYTES 4096

static void begin(struct armor_req *r) { armor_audit_context(r->request_id, r->client_ip); }

static void reply_limited(struct armor_req *r, int retry_after, const char *message) {
  char ra[16];
  armor_fmt(ra, sizeof ra, "%d", retry_after > 0 ? retry_after : 1);
  armor_reply_header(r, "Retry-After", ra);
  json_t *d = json_object();
  json_object_set_new(d, "retry_after", json_integer(retry_after > 0 ? retry_after : 1));
  armor_reply_error(r, 429, "RATE_LIMITED", message, d);
}

/* Reads the optional token_format field; replies and returns false when invalid. */
static bool token_format_or_reply(struct armor_req *r, enum armor_token_format *fmt) {
  const char *f;
  *fmt = ARMOR_TOKEN_JWT;
  if (!armor_json_str_or_reply(r, "token_format", false, 0, 16, &f)) return false;
  if (!f || !strcmp(f, "jwt")) return true;
  if (!strcmp(f, "opaque")) {
    *fmt = ARMOR_TOKEN_OPAQUE;
    return true;
  }
  armor_reply_field_error(r, 422, "VALIDATION_FAILED", "token_format", "token_format must be \"jwt\" or \"opaque\"");
  return false;
}

/* Maps a create/setup failure to the envelope. */
static void reply_create_error(struct armor_req *r, int rc, const char *field, const char *msg) {
  if (rc == ARMOR_INVALID)
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", field, msg);
  else if (rc == ARMOR_CONFLICT)
    armor_reply_field_error(r, 409, "ALREADY_EXISTS", field, msg);
  else if (rc == ARMOR_DENIED)
    armor_reply_field_error(r, 403, "FORBIDDEN", field, msg);
  else
    armor_reply_rc(r, rc, NULL);
}

/* ================================================================ register / login */

static void reg(struct armor_req *r) {
  begin(r);
  static const char *const known[] = {"username", "password", "email", "phone", "token_format", NULL};
  const char *username, *password, *email, *phone;
  enum armor_token_format fmt;
  if (!armor_json_known_or_reply(r, known) ||
      !armor_json_str_or_reply(r, "username", true, 1, NAME_MAX_BYTES, &username) ||
      !armor_json_str_or_reply(r, "password", true, 1, PASSWORD_MAX_BYTES, &password) ||
      !armor_json_str_or_reply(r, "email", false, 0, 254, &email) ||
      !armor_json_str_or_reply(r, "phone", false, 0, 19, &phone) || !token_format_or_reply(r, &fmt))
    return;
  struct armor_app_settings app;
  armor_settings_app(&app);
  if (!app.registration_enabled) {
    armor_reply_error(r, 403, "FORBIDDEN", "Registration is disabled", NULL);
    return;
  }
  struct armor_user_new in = {.username = username, .password = password, .email = email, .phone = phone};
  struct armor_user u;
  char field[32], msg[160];
  int rc = armor_accounts_create(&in, &u, field, sizeof field, msg, sizeof msg);
  if (rc) {
    reply_create_error(r, rc, field, msg);
    return;
  }
  armor_audit("user.registered", u.id, u.id, NULL, NULL, NULL);
  json_t *data;
  rc = armor_sessions_create_ex(u.id, r->client_ip, armor_req_header(r, "User-Agent"), fmt, &data);
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 201, "User registered", data);
}

static void login(struct armor_req *r) {
  begin(r);
  static const char *const known[] = {"username", "password", "token_format", NULL};
  const char *username, *password;
  enum armor_token_format fmt;
  if (!armor_json_known_or_reply(r, known) ||
      !armor_json_str_or_reply(r, "username", true, 1, NAME_MAX_BYTES, &username) ||
      !armor_json_str_or_reply(r, "password", true, 1, PASSWORD_MAX_BYTES, &password) ||
      !token_format_or_reply(r, &fmt))
    return;
  struct armor_user u;
  int retry = 0;
  int rc = armor_accounts_authenticate(username, password, r->client_ip, &u, &retry);
  switch (rc) {
  case ARMOR_OK: break;
  case ARMOR_UNAUTHORIZED: armor_reply_error(r, 401, "UNAUTHORIZED", "Invalid username or password", NULL); return;
  case ARMOR_LIMITED: reply_limited(r, retry, "Too many failed logins; try again later"); return;
  case ARMOR_DENIED: armor_reply_error(r, 403, "FORBIDDEN", "This account is disabled", NULL); return;
  default: armor_reply_rc(r, rc, NULL); return;
  }
  json_t *data;
  rc = armor_sessions_create_ex(u.id, r->client_ip, armor_req_header(r, "User-Agent"), fmt, &data);
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  json_t *d = json_object();
  json_object_set(d, "session_id", json_object_get(data, "session_id"));
  armor_audit("login.success", u.id, u.id, NULL, NULL, d);
  armor_reply_ok(r, 200, "Login successful", data);
}

/* ================================================================ state / me / profile */

/* The hottest authenticated route: the envelope is written directly (same members, same order as
   armor_reply_ok would give) instead of being built and serialised by jansson. */
static void state(struct armor_req *r) {
  const struct armor_principal *p = r->principal;
  struct armor_buf b;
  armor_buf_init(&b, (size_t)1 << 20);
  static const char head[] = "{\"success\":true,\"message\":\"Authenticated\",\"data\":{\"authenticated\":true,\"username\":";
  armor_buf_append(&b, head, sizeof head - 1);
  armor_buf_append_json_str(&b, p->username);
  armor_buf_append(&b, ",\"user_id\":", 11);
  armor_buf_append_json_str(&b, p->user_id);
  armor_buf_append(&b, ",\"permissions\":[", 16);
  for (int i = 0; i < p->nperms; i++) {
    if (i) armor_buf_append(&b, ",", 1);
    armor_buf_append_json_str(&b, p->perms[i]);
  }
  armor_buf_append(&b, "]}}", 3);
  armor_reply_take_keepable(r, 200, "application/json", b.data, b.len);
}

static void me(struct armor_req *r) {
  struct armor_user u;
  int rc = armor_user_get(r->principal->user_id, &u);
  if (rc) {
    armor_reply_rc(r, rc == ARMOR_NOT_FOUND ? ARMOR_UNAUTHORIZED : rc, NULL);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "user", armor_user_to_json(&u));
  json_object_set_new(d, "roles", armor_accounts_roles(u.id));
  json_object_set_new(d, "organizations", json_array());
  json_object_set_new(d, "permissions", armor_accounts_permissions(u.id));
  json_object_set_new(d, "session_id", json_string(r->principal->session_id));
  armor_reply_ok(r, 200, "Current user", d);
}

/* Seed 003 names these fields in camelCase; the snake_case spellings are accepted too. */
static bool either_or_reply(struct armor_req *r, const char *camel, const char *snake, size_t maxlen,
                            const char **out) {
  const char *a, *b;
  if (!armor_json_str_or_reply(r, camel, false, 0, maxlen, &a) ||
      !armor_json_str_or_reply(r, snake, false, 0, maxlen, &b))
    return false;
  *out = a ? a : b;
  return true;
}

static void profile(struct armor_req *r) {
  begin(r);
  static const char *const known[] = {"newUsername",      "currentPassword", "newPassword", "new_username",
                                      "current_password", "new_password",    NULL};
  const char *new_name, *current, *new_pw;
  if (!armor_json_known_or_reply(r, known) ||
      !either_or_reply(r, "newUsername", "new_username", NAME_MAX_BYTES, &new_name) ||
      !either_or_reply(r, "currentPassword", "current_password", PASSWORD_MAX_BYTES, &current) ||
      !either_or_reply(r, "newPassword", "new_password", PASSWORD_MAX_BYTES, &new_pw))
    return;
  if (!new_name && !new_pw) {
    armor_reply_error(r, 400, "VALIDATION_FAILED", "Give newUsername and/or newPassword", NULL);
    return;
  }
  if (!current) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "currentPassword", "currentPassword is required");
    return;
  }
  const struct armor_principal *p = r->principal;
  char msg[160], norm[65];
  /* Cheap checks first: nothing is hashed for a request that would fail anyway. */
  if (new_name && !armor_username_normalize(new_name, norm, sizeof norm, msg, sizeof msg)) {
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "newUsername", msg);
    return;
  }
  if (new_pw) {
    if (armor_password_check_policy(new_pw, msg, sizeof msg)) {
      armor_reply_field_error(r, 422, "VALIDATION_FAILED", "newPassword", msg);
      return;
    }
  }
  int retry = 0;
  int rc = armor_accounts_check_password(p->user_id, current, r->client_ip, &retry);
  if (rc == ARMOR_UNAUTHORIZED) {
    armor_reply_field_error(r, 401, "UNAUTHORIZED", "currentPassword", "The current password is wrong");
    return;
  }
  if (rc == ARMOR_LIMITED) {
    reply_limited(r, retry, "Too many failed attempts; try again later");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  if (new_name) {
    struct armor_user before;
    armor_user_get(p->user_id, &before);
    rc = armor_accounts_set_username(p->user_id, new_name, msg, sizeof msg);
    if (rc == ARMOR_CONFLICT) {
      armor_reply_field_error(r, 409, "ALREADY_EXISTS", "newUsername", "Username already taken");
      return;
    }
    if (rc) {
      armor_reply_rc(r, rc, msg);
      return;
    }
    json_t *d = json_object();
    json_object_set_new(d, "from", json_string(before.username));
    json_object_set_new(d, "to", json_string(norm));
    armor_audit("username.changed", p->user_id, p->user_id, NULL, NULL, d);
  }
  if (new_pw) {
    rc = armor_accounts_set_password(p->user_id, new_pw, msg, sizeof msg);
    if (rc == ARMOR_INVALID) {
      armor_reply_field_error(r, 422, "VALIDATION_FAILED", "newPassword", msg);
      return;
    }
    if (rc) {
      armor_reply_rc(r, rc, NULL);
      return;
    }
    armor_audit("password.changed", p->user_id, p->user_id, NULL, NULL, NULL);
    /* Every other Armor session ends, and all OAuth access of the user (grants, refresh tokens, the
       provider's browser sessions); the session that made the change keeps working. */
    armor_sessions_revoke_user(p->user_id, p->session_id);
    armor_oauth_revoke_user(p->user_id);
  }
  json_t *data;
  rc = armor_sessions_reissue_access(p->session_id, &data);
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  json_object_set_new(data, "message", json_string("Profile updated"));
  armor_reply_ok(r, 200, "Profile updated", data);
}

/* ================================================================ tokens and sessions */

static void reissue(struct armor_req *r) {
  begin(r);
  static const char *const known[] = {"refresh_token", NULL};
  const char *rt;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "refresh_token", true, 1, 8192, &rt)) return;
  json_t *data;
  int retry = 0;
  int rc = armor_sessions_refresh(rt, r->client_ip, &data, &retry);
  switch (rc) {
  case ARMOR_OK: armor_reply_ok(r, 200, "Token reissued", data); return;
  case ARMOR_UNAUTHORIZED:
    armor_reply_error(r, 401, "UNAUTHORIZED", "Invalid, expired or revoked refresh token", NULL);
    return;
  case ARMOR_LIMITED: reply_limited(r, retry, "This account is locked; try again later"); return;
  case ARMOR_DENIED: armor_reply_error(r, 403, "FORBIDDEN", "This account is disabled", NULL); return;
  default: armor_reply_rc(r, rc, NULL); return;
  }
}

static void logout(struct armor_req *r) {
  begin(r);
  const struct armor_principal *p = r->principal;
  int rc = armor_sessions_revoke(p->session_id, p->user_id, "logout");
  if (rc && rc != ARMOR_NOT_FOUND) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "session_id", json_string(p->session_id));
  armor_audit("logout", p->user_id, p->user_id, NULL, NULL, d);
  armor_reply_ok(r, 200, "Logged out", json_object());
}

static void sessions_list(struct armor_req *r) {
  armor_reply_ok(r, 200, "Sessions", armor_sessions_list(r->principal->user_id, r->principal->session_id));
}

static void session_delete(struct armor_req *r) {
  begin(r);
  const struct armor_principal *p = r->principal;
  const char *id = armor_req_param(r, "id");
  /* Everyone may end their own sessions; sessions:revoke ends anybody's. */
  const char *owner = armor_principal_has(p, "sessions:revoke") ? NULL : p->user_id;
  int rc = armor_sessions_revoke(id, owner, owner ? "user" : "admin");
  if (rc == ARMOR_NOT_FOUND) {
    armor_reply_error(r, 404, "NOT_FOUND", "No such session", NULL);
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "id", json_string(id));
  json_object_set_new(d, "revoked", json_true());
  armor_reply_ok(r, 200, "Session ended", d);
}

/* ================================================================ first-admin setup */

static const char setup_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Armor setup</title>"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"></head><body>"
    "<h1>Create the first administrator</h1><form id=\"f\"><p><label>Username <input name=\"username\" "
    "required></label></p>"
    "<p><label>Password <input name=\"password\" type=\"password\" required minlength=\"8\"></label></p>"
    "<p><button>Create</button></p></form><p id=\"out\"></p><script>"
    "document.getElementById('f').onsubmit=async(e)=>{e.preventDefault();const f=e.target;"
    "const token=new URLSearchParams(location.search).get('token');"
    "const r=await fetch('/api/auth/setup',{method:'POST',headers:{'content-type':'application/json'},"
    "body:JSON.stringify({token,username:f.username.value,password:f.password.value})});"
    "const j=await r.json();document.getElementById('out').textContent=j.message;};"
    "</script></body></html>";

static void setup_form(struct armor_req *r) {
  armor_reply_header(r, "Content-Security-Policy",
                     "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'");
  armor_reply_header(r, "Referrer-Policy", "no-referrer");
  armor_reply_static(r, 200, "text/html; charset=utf-8", setup_page, sizeof setup_page - 1);
}

static void setup(struct armor_req *r) {
  begin(r);
  static const char *const known[] = {"token", "username", "password", "email", NULL};
  const char *token, *username, *password, *email;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "token", true, 1, 128, &token) ||
      !armor_json_str_or_reply(r, "username", true, 1, NAME_MAX_BYTES, &username) ||
      !armor_json_str_or_reply(r, "password", true, 1, PASSWORD_MAX_BYTES, &password) ||
      !armor_json_str_or_reply(r, "email", false, 0, 254, &email))
    return;
  struct armor_user_new in = {.username = username, .password = password, .email = email};
  struct armor_user u;
  char field[32], msg[160];
  int rc = armor_setup_redeem(token, &in, &u, field, sizeof field, msg, sizeof msg);
  if (rc) {
    reply_create_error(r, rc, field, msg);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "via", json_string("setup_link"));
  armor_audit("admin.created", u.id, u.id, NULL, NULL, d);
  json_t *data;
  rc = armor_sessions_create(u.id, r->client_ip, armor_req_header(r, "User-Agent"), &data);
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 201, "Administrator created", data);
}

/* ================================================================ catalog and audit */

static void permissions(struct armor_req *r) {
  armor_reply_ok(r, 200, "Permission catalog", armor_permissions_catalog());
}

static void audit_list(struct armor_req *r) {
  const char *event = armor_req_query(r, "event"), *user = armor_req_query(r, "user");
  const char *cursor = armor_req_query(r, "cursor"), *lim = armor_req_query(r, "limit");
  long long limit = 50;
  if (lim && !armor_parse_int(lim, 1, 200, &limit)) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "limit", "limit must be an integer from 1 to 200");
    return;
  }
  if (event && strlen(event) > 64) event = "";
  json_t *out;
  int rc = armor_audit_query(event, user, cursor, (int)limit, &out);
  if (rc == ARMOR_INVALID) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "cursor", "Malformed cursor");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 200, "Audit events", out);
}

const struct armor_route armor_routes_auth[] = {
    {"POST", "/api/auth/register", reg, ROUTE_SLOW | ROUTE_JSON, NULL, 0},
    {"POST", "/api/auth/login", login, ROUTE_SLOW | ROUTE_JSON, NULL, 0},
    {"GET", "/api/auth/state", state, ROUTE_AUTH, NULL, 0},
    {"PUT", "/api/auth/profile", profile, ROUTE_AUTH | ROUTE_SLOW | ROUTE_JSON, NULL, 0},
    {"GET", "/api/auth/me", me, ROUTE_AUTH, NULL, 0},
    {"POST", "/api/auth/token/reissue", reissue, ROUTE_JSON, NULL, 0},
    {"POST", "/api/auth/logout", logout, ROUTE_AUTH | ROUTE_OPTJSON, NULL, 0},
    {"GET", "/api/auth/sessions", sessions_list, ROUTE_AUTH, NULL, 0},
    {"DELETE", "/api/auth/sessions/{id}", session_delete, ROUTE_AUTH, NULL, 0},
    {"GET", "/api/auth/setup", setup_form, ROUTE_PUBLIC, NULL, 0},
    {"POST", "/api/auth/setup", setup, ROUTE_SLOW | ROUTE_JSON, NULL, 0},
    {"GET", "/api/permissions", permissions, ROUTE_AUTH, NULL, 0},
    {"GET", "/api/audit", audit_list, ROUTE_AUTH, "audit:read", 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};
