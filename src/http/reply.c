/*
 * Request lookups and response rendering: the envelope, RFC-shaped OAuth
 * errors, and JSON field validation that names the offending field. The
 * mapping from result codes to status and envelope code lives here only.
 */
#include "http/http.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- lookups */

static const char *kv_find(const struct armor_kv *kv, int n, const char *name, bool ci) {
  if (ci) {
    /* Header names: the first letter (ASCII, either case) rules out most before strcasecmp. */
    int c0 = name[0] | 0x20;
    for (int i = 0; i < n; i++)
      if ((kv[i].name[0] | 0x20) == c0 && !strcasecmp(kv[i].name, name)) return kv[i].value;
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!strcmp(kv[i].name, name)) return kv[i].value;
  return NULL;
}

const char *armor_req_header(const struct armor_req *r, const char *name) {
  return kv_find(r->headers, r->nheaders, name, true);
}
const char *armor_req_query(const struct armor_req *r, const char *name) {
  return kv_find(r->query, r->nquery, name, false);
}
const char *armor_req_param(const struct armor_req *r, const char *name) {
  return kv_find(r->params, r->nparams, name, false);
}
const char *armor_req_form(const struct armor_req *r, const char *name) {
  return kv_find(r->form, r->nform, name, false);
}

const char *armor_req_cookie(struct armor_req *r, const char *name) {
  size_t nl = strlen(name);
  for (int i = 0; i < r->nheaders; i++) {
    if (!armor_streq_ci(r->headers[i].name, "Cookie")) continue;
    const char *p = r->headers[i].value;
    while (p && *p) {
      while (*p == ' ' || *p == ';') p++;
      const char *eq = strchr(p, '=');
      const char *end = strchr(p, ';');
      if (!end) end = p + strlen(p);
      if (eq && eq < end && (size_t)(eq - p) == nl && !strncmp(p, name, nl))
        return armor_arena_strndup(r->arena, eq + 1, (size_t)(end - eq - 1));
      p = *end ? end + 1 : end;
    }
  }
  return NULL;
}

const char *armor_req_bearer(const struct armor_req *r) {
  const char *a = armor_req_header(r, "Authorization");
  if (!a || strncasecmp(a, "Bearer ", 7)) return NULL;
  a += 7;
  while (*a == ' ') a++;
  return *a ? a : NULL;
}

/* ---------------------------------------------------------------- replies */

void armor_reply_header(struct armor_req *r, const char *name, const char *value) {
  if (r->nresp_headers >= ARMOR_MAX_RESP_HEADERS) return;
  r->resp_headers[r->nresp_headers].name = armor_arena_strdup(r->arena, name);
  r->resp_headers[r->nresp_headers].value = armor_arena_strdup(r->arena, value);
  r->nresp_headers++;
}

/* Takes the reply (and body); false, with body freed, when the request was answered already. */
static bool set_body(struct armor_req *r, int status, const char *ctype, char *body, size_t len) {
  if (r->replied) {
    armor_err("request %s: second reply ignored (status %d)", r->request_id, status);
    armor_free(body);
    return false;
  }
  r->replied = true;
  r->status = status;
  r->content_type = ctype;
  r->resp_body = body;
  r->resp_len = len;
  return true;
}

static void reply_doc(struct armor_req *r, int status, json_t *doc) {
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (!s) {
    static const char fb[] = "{\"success\":false,\"message\":\"Internal error\",\"code\":\"INTERNAL\"}";
    set_body(r, 500, "application/json", armor_strdup(fb), sizeof fb - 1);
    return;
  }
  set_body(r, status, "application/json", s, strlen(s));
}

void armor_reply_ok(struct armor_req *r, int status, const char *message, json_t *data) {
  json_t *doc = json_object();
  json_object_set_new(doc, "success", json_true());
  json_object_set_new(doc, "message", json_string(message ? message : "OK"));
  json_object_set_new(doc, "data", data ? data : json_null());
  reply_doc(r, status, doc);
}

void armor_reply_error(struct armor_req *r, int status, const char *code, const char *message, json_t *details) {
  json_t *doc = json_object();
  json_object_set_new(doc, "success", json_false());
  /* json_string refuses invalid UTF-8: a message cut mid-character must not drop the member. */
  json_t *m = json_string(message ? message : code);
  json_object_set_new(doc, "message", m ? m : json_string(code));
  json_object_set_new(doc, "code", json_string(code));
  if (details) json_object_set_new(doc, "details", details);
  if (status == 401) {
    bool expired = !strcmp(code, "TOKEN_EXPIRED");
    armor_reply_header(r, "WWW-Authenticate",
                       expired ? "Bearer error=\"invalid_token\", error_description=\"The access token expired\""
                               : "Bearer");
  }
  /* Every 429 and 503 tells the client when to come back (a handler may have set a closer time). */
  if ((status == 429 || status == 503) && !kv_find(r->resp_headers, r->nresp_headers, "Retry-After", true))
    armor_reply_header(r, "Retry-After", "60");
  reply_doc(r, status, doc);
}

void armor_reply_field_error(struct armor_req *r, int status, const char *code, const char *field,
                             const char *message) {
  json_t *d = json_object();
  json_object_set_new(d, "field", json_string(field));
  armor_reply_error(r, status, code, message, d);
}

void armor_reply_rc(struct armor_req *r, int rc, const char *message) {
  switch (rc) {
  case ARMOR_INVALID: armor_reply_error(r, 400, "BAD_REQUEST", message ? message : "Invalid request", NULL); break;
  case ARMOR_NOT_FOUND: armor_reply_error(r, 404, "NOT_FOUND", message ? message : "Not found", NULL); break;
  case ARMOR_CONFLICT: armor_reply_error(r, 409, "ALREADY_EXISTS", message ? message : "Already exists", NULL); break;
  case ARMOR_DENIED: armor_reply_error(r, 403, "FORBIDDEN", message ? message : "Forbidden", NULL); break;
  case ARMOR_UNAUTHORIZED:
    armor_reply_error(r, 401, "UNAUTHORIZED", message ? message : "Authentication required", NULL);
    break;
  case ARMOR_EXPIRED: armor_reply_error(r, 401, "TOKEN_EXPIRED", message ? message : "Token expired", NULL); break;
  case ARMOR_LIMITED:
    if (!kv_find(r->resp_headers, r->nresp_headers, "Retry-After", true)) armor_reply_header(r, "Retry-After", "60");
    armor_reply_error(r, 429, "RATE_LIMITED", message ? message : "Too many requests", NULL);
    break;
  case ARMOR_BUSY:
  case ARMOR_DB:
    armor_reply_header(r, "Retry-After", "1");
    armor_reply_error(r, 503, "UNAVAILABLE", message ? message : "Service temporarily unavailable", NULL);
    break;
  default: armor_reply_error(r, 500, "INTERNAL", "Internal error", NULL); break;
  }
}

void armor_reply_no_content(struct armor_req *r) { set_body(r, 204, NULL, NULL, 0); }

void armor_reply_raw(struct armor_req *r, int status, const char *content_type, const void *body, size_t len) {
  char *b = armor_malloc(len + 1);
  if (len) memcpy(b, body, len);
  b[len] = 0;
  set_body(r, status, content_type, b, len);
}

void armor_reply_take(struct armor_req *r, int status, const char *content_type, char *body, size_t len) {
  set_body(r, status, content_type, body, len);
}

void armor_reply_take_keepable(struct armor_req *r, int status, const char *content_type, char *body, size_t len) {
  if (set_body(r, status, content_type, body, len)) r->resp_keepable = true;
}

void armor_reply_static(struct armor_req *r, int status, const char *content_type, const void *body, size_t len) {
  if (set_body(r, status, content_type, NULL, len)) r->resp_static = body;
}

void armor_reply_json(struct armor_req *r, int status, json_t *doc) { reply_doc(r, status, doc); }

void armor_reply_oauth_error(struct armor_req *r, int status, const char *error, const char *description) {
  json_t *doc = json_object();
  json_object_set_new(doc, "error", json_string(error));
  if (description) json_object_set_new(doc, "error_description", json_string(description));
  if (status == 401) armor_reply_header(r, "WWW-Authenticate", "Basic realm=\"armor\"");
  reply_doc(r, status, doc);
}

void armor_reply_redirect(struct armor_req *r, int status, const char *location) {
  armor_reply_header(r, "Location", location);
  set_body(r, status, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- permissions */

bool armor_principal_has(const struct armor_principal *p, const char *perm) {
  if (!p) return false;
  for (int i = 0; i < p->nperms; i++)
    if (!strcmp(p->perms[i], perm)) return true;
  return false;
}

bool armor_require_perm_or_reply(struct armor_req *r, const char *perm) {
  if (!r->principal) {
    armor_reply_error(r, 401, "UNAUTHORIZED", "Authentication required", NULL);
    return false;
  }
  if (perm && !armor_principal_has(r->principal, perm)) {
    json_t *d = json_object();
    json_object_set_new(d, "permission", json_string(perm));
    armor_reply_error(r, 403, "FORBIDDEN", "Missing permission", d);
    return false;
  }
  return true;
}

/* ---------------------------------------------------------------- JSON fields */

static json_t *field(struct armor_req *r, const char *name) { return r->json ? json_object_get(r->json, name) : NULL; }

bool armor_json_str_or_reply(struct armor_req *r, const char *name, bool required, size_t minlen, size_t maxlen,
                             const char **out) {
  json_t *v = field(r, name);
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (!required) return true;
    char m[128];
    armor_fmt(m, sizeof m, "Field '%s' is required", name);
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", name, m);
    return false;
  }
  if (!json_is_string(v)) {
    char m[128];
    armor_fmt(m, sizeof m, "Field '%s' must be a string", name);
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", name, m);
    return false;
  }
  const char *s = json_string_value(v);
  size_t bytes = json_string_length(v);
  if (strlen(s) != bytes) {
    char m[128];
    armor_fmt(m, sizeof m, "Field '%s' must not contain NUL characters", name);
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", name, m);
    return false;
  }
  /* Length limits count Unicode code points, not bytes. */
  size_t cps = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p & 0xC0) != 0x80) cps++;
  if (cps < minlen || (maxlen && cps > maxlen)) {
    char m[160];
    if (maxlen)
      armor_fmt(m, sizeof m, "Field '%s' must be %zu to %zu characters", name, minlen, maxlen);
    else
      armor_fmt(m, sizeof m, "Field '%s' must be at least %zu characters", name, minlen);
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", name, m);
    return false;
  }
  *out = s;
  return true;
}

bool armor_json_bool_or_reply(struct armor_req *r, const char *name, bool *out, bool *present) {
  json_t *v = field(r, name);
  if (present) *present = false;
  if (!v || json_is_null(v)) return true;
  if (!json_is_boolean(v)) {
    char m[128];
    armor_fmt(m, sizeof m, "Field '%s' must be a boolean", name);
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", name, m);
    return false;
  }
  *out = json_is_true(v);
  if (present) *present = true;
  return true;
}

bool armor_json_int_or_reply(struct armor_req *r, const char *name, long long min, long long max, long long *out,
                             bool *present) {
  json_t *v = field(r, name);
  if (present) *present = false;
  if (!v || json_is_null(v)) return true;
  if (!json_is_integer(v)) {
    char m[128];
    armor_fmt(m, sizeof m, "Field '%s' must be an integer", name);
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", name, m);
    return false;
  }
  long long x = json_integer_value(v);
  if (x < min || x > max) {
    char m[160];
    armor_fmt(m, sizeof m, "Field '%s' must be between %lld and %lld", name, min, max);
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", name, m);
    return false;
  }
  *out = x;
  if (present) *present = true;
  return true;
}

bool armor_json_known_or_reply(struct armor_req *r, const char *const *fields) {
  if (!r->json) return true;
  const char *key;
  json_t *v;
  json_object_foreach(r->json, key, v) {
    bool ok = false;
    for (const char *const *f = fields; *f; f++)
      if (!strcmp(*f, key)) ok = true;
    if (!ok) {
      char m[160];
      /* Quote at most 64 bytes of the name, cut at a character boundary (the message must stay UTF-8). */
      size_t n = strlen(key);
      if (n > 64) {
        n = 64;
        while (n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80) n--;
      }
      armor_fmt(m, sizeof m, "Unknown field '%.*s'", (int)n, key);
      armor_reply_field_error(r, 422, "VALIDATION_FAILED", key, m);
      return false;
    }
  }
  return true;
}
