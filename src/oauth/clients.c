/*
 * OAuth clients ("projects"): validation of their registration, storage, secret
 * rotation and authentication with a short-lived cache. A client secret is 256
 * random bits shown once; only its keyed hash is stored, compared in constant
 * time. Never logs a secret.
 */
#include "oauth/oauth.h"
#include "core/secret.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define MAX_URIS 20
#define MAX_URI_LEN 2000
#define MAX_SCOPES 32
#define CACHE_SLOTS 512
#define CACHE_TTL_MS 5000

void armor_oauth_client_clear(struct armor_oauth_client *c) {
  if (!c) return;
  json_decref(c->redirect_uris);
  json_decref(c->post_logout_redirect_uris);
  json_decref(c->resources);
  c->redirect_uris = c->post_logout_redirect_uris = c->resources = NULL;
}

/* ================================================================ scopes */

static bool scope_char(unsigned char ch) {
  return ch == 0x21 || (ch >= 0x23 && ch <= 0x5B) || (ch >= 0x5D && ch <= 0x7E);
}

bool armor_oauth_scope_valid(const char *s) {
  if (!s || !*s || strlen(s) >= ARMOR_OAUTH_SCOPE_MAX) return false;
  bool tok = false;
  for (const char *p = s; *p; p++) {
    if (*p == ' ') {
      if (!tok) return false; /* leading or double space */
      tok = false;
    } else if (scope_char((unsigned char)*p)) {
      tok = true;
    } else {
      return false;
    }
  }
  return tok; /* no trailing space */
}

bool armor_oauth_scope_has(const char *scope, const char *s) {
  size_t n = strlen(s);
  for (const char *p = scope; p && *p;) {
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && !strncmp(p, s, n)) return true;
    p = e ? e + 1 : p + l;
  }
  return false;
}

bool armor_oauth_scope_subset(const char *requested, const char *allowed) {
  char tok[ARMOR_OAUTH_SCOPE_MAX];
  for (const char *p = requested; p && *p;) {
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l && l < sizeof tok) {
      memcpy(tok, p, l);
      tok[l] = 0;
      if (!armor_oauth_scope_has(allowed, tok)) return false;
    }
    p = e ? e + 1 : p + l;
  }
  return true;
}

/* ================================================================ redirect URIs */

static bool host_is_loopback(const char *host, size_t n) {
  char h[64];
  if (n == 0 || n >= sizeof h) return false;
  memcpy(h, host, n);
  h[n] = 0;
  if (!strcmp(h, "localhost")) return true;
  if (h[0] == '[' && h[n - 1] == ']') {
    h[n - 1] = 0;
    struct in6_addr a6;
    return inet_pton(AF_INET6, h + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  struct in_addr a4;
  return inet_pton(AF_INET, h, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool armor_oauth_redirect_uri_ok(const char *uri, char *why, size_t whylen) {
  size_t n = strlen(uri);
  if (n == 0 || n > MAX_URI_LEN) {
    armor_fmt(why, whylen, "must be 1 to %d characters", MAX_URI_LEN);
    return false;
  }
  for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
    if (*p <= 0x20 || *p >= 0x7f || *p == '\\' || *p == '"' || *p == '<' || *p == '>') {
      armor_fmt(why, whylen, "must not contain spaces, control or non-ASCII characters");
      return false;
    }
  if (strchr(uri, '#')) {
    armor_fmt(why, whylen, "must not contain a fragment");
    return false;
  }
  const char *colon = strchr(uri, ':');
  if (!colon || colon == uri) {
    armor_fmt(why, whylen, "must be an absolute URI");
    return false;
  }
  size_t sl = (size_t)(colon - uri);
  for (size_t i = 0; i < sl; i++) {
    char ch = uri[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (i > 0 && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'));
    if (!ok) {
      armor_fmt(why, whylen, "must start with a lower-case scheme");
      return false;
    }
  }
  bool https = sl == 5 && !strncmp(uri, "https", 5), http = sl == 4 && !strncmp(uri, "http", 4);
  if (!https && !http) {
    /* Private-use schemes of native apps (RFC 8252 7.1) are reverse domain names. */
    if (!memchr(uri, '.', sl)) {
      armor_fmt(why, whylen, "scheme must be https, http (loopback only) or a reverse-domain private-use scheme");
      return false;
    }
    return true;
  }
  if (strncmp(colon, "://", 3)) {
    armor_fmt(why, whylen, "must be an absolute URI with a host");
    return false;
  }
  const char *auth = colon + 3;
  size_t al = strcspn(auth, "/?");
  if (memchr(auth, '@', al)) {
    armor_fmt(why, whylen, "must not contain user information");
    return false;
  }
  /* host without port */
  size_t hl = al;
  if (auth[0] == '[') {
    const char *rb = memchr(auth, ']', al);
    if (!rb) {
      armor_fmt(why, whylen, "has a malformed host");
      return false;
    }
    hl = (size_t)(rb - auth) + 1;
  } else {
    const char *pc = memchr(auth, ':', al);
    if (pc) hl = (size_t)(pc - auth);
  }
  if (hl == 0) {
    armor_fmt(why, whylen, "must name a host");
    return false;
  }
  if (http && !host_is_loopback(auth, hl)) {
    armor_fmt(why, whylen, "must use https (http is allowed only for loopback hosts)");
    return false;
  }
  return true;
}

bool armor_oauth_resource_uri_ok(const char *uri, char *why, size_t whylen) {
  if (strncmp(uri, "https://", 8) && strncmp(uri, "http://", 7)) {
    armor_fmt(why, whylen, "must be an absolute https URI (http only for loopback hosts)");
    return false;
  }
  return armor_oauth_redirect_uri_ok(uri, why, whylen);
}

static void resource_hash(const char *uri, unsigned char out[32]) {
  crypto_generichash(out, 32, (const unsigned char *)uri, strlen(uri), NULL, 0);
}

/* Fills the hashes that cached copies check a `resource` against. */
static void resource_hashes(struct armor_oauth_client *c, const json_t *list) {
  c->nresources = 0;
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (c->nresources >= ARMOR_OAUTH_MAX_RESOURCES) break;
    if (json_is_string(v)) resource_hash(json_string_value(v), c->resource_hash[c->nresources++]);
  }
}

bool armor_oauth_resource_allowed(const struct armor_oauth_client *c, const char *resource) {
  if (!resource || !*resource || strlen(resource) > MAX_URI_LEN) return false;
  unsigned char h[32];
  resource_hash(resource, h);
  for (int i = 0; i < c->nresources; i++)
    if (!memcmp(h, c->resource_hash[i], sizeof h)) return true;
  return false;
}

bool armor_oauth_uri_listed(const json_t *list, const char *uri) {
  size_t i;
  json_t *v;
  if (!uri) return false;
  json_array_foreach(list, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), uri)) return true;
  return false;
}

/* ================================================================ JSON <-> struct */

static const char *const grant_names[] = {"authorization_code", "client_credentials", "refresh_token", NULL};

static void grants_to_text(unsigned g, char *out, size_t n) {
  out[0] = 0;
  size_t len = 0;
  for (int i = 0; grant_names[i]; i++)
    if (g & (1u << i)) {
      armor_fmt(out + len, n - len, "%s%s", len ? " " : "", grant_names[i]);
      len = strlen(out);
    }
}

static unsigned grants_from_text(const char *s) {
  unsigned g = 0;
  for (int i = 0; grant_names[i]; i++)
    if (armor_oauth_scope_has(s, grant_names[i])) g |= 1u << i;
  return g;
}

static json_t *words_to_array(const char *s) {
  json_t *a = json_array();
  for (const char *p = s; p && *p;) {
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l) json_array_append_new(a, json_stringn(p, l));
    p = e ? e + 1 : p + l;
  }
  return a;
}

static void time_field(json_t *o, const char *k, int64_t t) {
  char ts[32];
  if (!t) {
    json_object_set_new(o, k, json_null());
    return;
  }
  armor_time_rfc3339(t, ts);
  json_object_set_new(o, k, json_string(ts));
}

json_t *armor_oauth_client_to_json(const struct armor_oauth_client *c) {
  char g[128];
  grants_to_text(c->grants, g, sizeof g);
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(c->id));
  json_object_set_new(o, "client_id", json_string(c->id));
  json_object_set_new(o, "name", json_string(c->name));
  json_object_set_new(o, "client_type", json_string(c->confidential ? "confidential" : "public"));
  json_object_set_new(o, "grant_types", words_to_array(g));
  json_object_set_new(o, "redirect_uris", c->redirect_uris ? json_deep_copy(c->redirect_uris) : json_array());
  json_object_set_new(o, "post_logout_redirect_uris",
                      c->post_logout_redirect_uris ? json_deep_copy(c->post_logout_redirect_uris) : json_array());
  json_object_set_new(o, "resources", c->resources ? json_deep_copy(c->resources) : json_array());
  json_object_set_new(o, "scopes", words_to_array(c->scope));
  json_object_set_new(o, "token_endpoint_auth_method", json_string(c->auth_method));
  json_object_set_new(o, "skip_consent", json_boolean(c->skip_consent));
  json_object_set_new(o, "id_token_signed_response_alg", json_string(c->id_token_alg));
  time_field(o, "created_at", c->created_at);
  time_field(o, "updated_at", c->updated_at);
  time_field(o, "secret_rotated_at", c->secret_rotated_at);
  return o;
}

static bool verr(struct armor_oauth_verr *e, const char *field, const char *fmt, const char *arg) {
  e->field = field;
  armor_fmt(e->msg, sizeof e->msg, fmt, arg ? arg : "");
  return false;
}

static bool uri_list(const json_t *v, const char *field, json_t **out, struct armor_oauth_verr *e) {
  bool resources = !strcmp(field, "resources");
  if (!json_is_array(v)) return verr(e, field, "Field '%s' must be an array of URIs", field);
  if (json_array_size(v) > (resources ? ARMOR_OAUTH_MAX_RESOURCES : MAX_URIS))
    return verr(e, field, "Field '%s' holds at most 20 URIs", field);
  size_t i;
  json_t *u;
  json_array_foreach(v, i, u) {
    if (!json_is_string(u) || strlen(json_string_value(u)) != json_string_length(u))
      return verr(e, field, "Field '%s' must be an array of strings", field);
    char why[128];
    if (!(resources ? armor_oauth_resource_uri_ok : armor_oauth_redirect_uri_ok)(json_string_value(u), why,
                                                                                 sizeof why)) {
      e->field = field;
      armor_fmt(e->msg, sizeof e->msg, "%s: '%.80s' %s", field, json_string_value(u), why);
      return false;
    }
  }
  json_decref(*out);
  *out = json_deep_copy(v);
  return true;
}

static const char *const client_fields[] = {"name",
                                            "grant_types",
                                            "redirect_uris",
                                            "post_logout_redirect_uris",
                                            "resources",
                                            "scopes",
                                            "token_endpoint_auth_method",
                                            "skip_consent",
                                            "id_token_signed_response_alg",
                                            NULL};

/* Applies the fields present in `in` to c; the caller checks consistency after. */
static bool apply(struct armor_oauth_client *c, const json_t *in, bool create, struct armor_oauth_verr *e) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)in, k, v) {
    bool known = false;
    for (const char *const *f = client_fields; *f; f++)
      if (!strcmp(*f, k)) known = true;
    if (!known) {
      e->field = k;
      armor_fmt(e->msg, sizeof e->msg, "Unknown field '%.64s'", k);
      return false;
    }
  }
  v = json_object_get(in, "name");
  if (v) {
    const char *s = json_string_value(v);
    if (!s || !*s || json_string_length(v) > 128 || strlen(s) != json_string_length(v))
      return verr(e, "name", "Field 'name' must be a string of 1 to 128 characters", NULL);
    armor_fmt(c->name, sizeof c->name, "%s", s);
  } else if (create) {
    return verr(e, "name", "Field 'name' is required", NULL);
  }
  v = json_object_get(in, "grant_types");
  if (v) {
    if (!json_is_array(v) || !json_array_size(v))
      return verr(e, "grant_types", "Field 'grant_types' must be a non-empty array", NULL);
    unsigned g = 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      const char *s = json_string_value(x);
      int j = 0;
      while (s && grant_names[j] && strcmp(grant_names[j], s)) j++;
      if (!s || !grant_names[j])
        return verr(e, "grant_types",
                    "Unsupported grant type '%.40s' (authorization_code, client_credentials, refresh_token)",
                    s ? s : "?");
      g |= 1u << j;
    }
    c->grants = g;
  }
  v = json_object_get(in, "token_endpoint_auth_method");
  if (v) {
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "client_secret_basic") && strcmp(s, "client_secret_post") && strcmp(s, "none")))
      return verr(e, "token_endpoint_auth_method",
                  "Field 'token_endpoint_auth_method' must be client_secret_basic, client_secret_post or none", NULL);
    bool conf = strcmp(s, "none") != 0;
    if (!create && conf != c->confidential)
      return verr(e, "token_endpoint_auth_method",
                  "A client cannot change between public and confidential; create a new client", NULL);
    c->confidential = conf;
    armor_fmt(c->auth_method, sizeof c->auth_method, "%s", s);
  }
  v = json_object_get(in, "redirect_uris");
  if (v && !uri_list(v, "redirect_uris", &c->redirect_uris, e)) return false;
  v = json_object_get(in, "post_logout_redirect_uris");
  if (v && !uri_list(v, "post_logout_redirect_uris", &c->post_logout_redirect_uris, e)) return false;
  v = json_object_get(in, "resources");
  if (v) {
    if (!uri_list(v, "resources", &c->resources, e)) return false;
    resource_hashes(c, c->resources);
  }
  v = json_object_get(in, "scopes");
  if (v) {
    if (!json_is_array(v) || json_array_size(v) > MAX_SCOPES)
      return verr(e, "scopes", "Field 'scopes' must be an array of at most 32 scope names", NULL);
    char buf[ARMOR_OAUTH_SCOPE_MAX] = "";
    size_t len = 0, i;
    json_t *x;
    json_array_foreach(v, i, x) {
      const char *s = json_string_value(x);
      if (!s || !*s || strchr(s, ' ') || !armor_oauth_scope_valid(s) || strlen(s) > 64)
        return verr(e, "scopes", "Invalid scope name '%.64s'", s ? s : "?");
      if (armor_oauth_scope_has(buf, s)) continue;
      if (len + strlen(s) + 2 >= sizeof buf) return verr(e, "scopes", "Field 'scopes' is too long", NULL);
      armor_fmt(buf + len, sizeof buf - len, "%s%s", len ? " " : "", s);
      len = strlen(buf);
    }
    memcpy(c->scope, buf, sizeof buf);
  }
  v = json_object_get(in, "skip_consent");
  if (v) {
    if (!json_is_boolean(v)) return verr(e, "skip_consent", "Field 'skip_consent' must be a boolean", NULL);
    c->skip_consent = json_is_true(v);
  }
  v = json_object_get(in, "id_token_signed_response_alg");
  if (v) {
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "ES256") && strcmp(s, "RS256")))
      return verr(e, "id_token_signed_response_alg", "Field 'id_token_signed_response_alg' must be ES256 or RS256",
                  NULL);
    armor_fmt(c->id_token_alg, sizeof c->id_token_alg, "%s", s);
  }
  /* Consistency of the whole registration. */
  if (!c->grants) return verr(e, "grant_types", "Field 'grant_types' must not be empty", NULL);
  if (!c->confidential && (c->grants & ARMOR_GRANT_CC))
    return verr(e, "grant_types", "A public client (token_endpoint_auth_method none) cannot use client_credentials",
                NULL);
  if ((c->grants & ARMOR_GRANT_REFRESH) && !(c->grants & ARMOR_GRANT_CODE))
    return verr(e, "grant_types", "refresh_token needs authorization_code", NULL);
  if ((c->grants & ARMOR_GRANT_CODE) && (!c->redirect_uris || !json_array_size(c->redirect_uris)))
    return verr(e, "redirect_uris", "authorization_code needs at least one redirect URI", NULL);
  return true;
}

static void client_defaults(struct armor_oauth_client *c, const json_t *in) {
  memset(c, 0, sizeof *c);
  c->grants = ARMOR_GRANT_CODE | ARMOR_GRANT_REFRESH;
  c->confidential = true;
  armor_fmt(c->auth_method, sizeof c->auth_method, "client_secret_basic");
  armor_fmt(c->id_token_alg, sizeof c->id_token_alg, "ES256");
  c->redirect_uris = json_array();
  c->post_logout_redirect_uris = json_array();
  c->resources = json_array();
  /* Default scopes follow the grants asked for: OIDC scopes for user-facing clients. */
  json_t *g = json_object_get(in, "grant_types");
  bool code = !g;
  size_t i;
  json_t *x;
  json_array_foreach(g, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), "authorization_code")) code = true;
  if (code) armor_fmt(c->scope, sizeof c->scope, "openid profile email");
}

/* ================================================================ storage */

#define CLIENT_COLS                                                                                                    \
  "id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris, post_logout_redirect_uris, scopes, " \
  "skip_consent, id_token_alg, created_at, updated_at, secret_rotated_at, resources"

/* Fills c from a row of CLIENT_COLS; secret_hash (col 2) into hash when non-NULL. */
static void client_from_row(struct armor_stmt *st, struct armor_oauth_client *c, char hash[65], bool lists) {
  memset(c, 0, sizeof *c);
  armor_fmt(c->id, sizeof c->id, "%s", armor_stmt_text(st, 0));
  armor_fmt(c->name, sizeof c->name, "%s", armor_stmt_text(st, 1));
  const char *h = armor_stmt_text(st, 2);
  if (hash) armor_fmt(hash, 65, "%s", h ? h : "");
  armor_fmt(c->auth_method, sizeof c->auth_method, "%s", armor_stmt_text(st, 3));
  c->confidential = strcmp(c->auth_method, "none") != 0;
  c->grants = grants_from_text(armor_stmt_text(st, 4));
  if (lists) {
    c->redirect_uris = json_loads(armor_stmt_text(st, 5), 0, NULL);
    c->post_logout_redirect_uris = json_loads(armor_stmt_text(st, 6), 0, NULL);
    if (!json_is_array(c->redirect_uris)) {
      json_decref(c->redirect_uris);
      c->redirect_uris = json_array();
    }
    if (!json_is_array(c->post_logout_redirect_uris)) {
      json_decref(c->post_logout_redirect_uris);
      c->post_logout_redirect_uris = json_array();
    }
  }
  armor_fmt(c->scope, sizeof c->scope, "%s", armor_stmt_text(st, 7) ? armor_stmt_text(st, 7) : "");
  c->skip_consent = armor_stmt_int(st, 8) != 0;
  armor_fmt(c->id_token_alg, sizeof c->id_token_alg, "%s", armor_stmt_text(st, 9));
  c->created_at = armor_stmt_int(st, 10);
  c->updated_at = armor_stmt_int(st, 11);
  c->secret_rotated_at = armor_stmt_is_null(st, 12) ? 0 : armor_stmt_int(st, 12);
  /* The allowed resources: always as hashes (cached copies check them), as a list when asked. */
  json_t *res = json_loads(armor_stmt_text(st, 13) ? armor_stmt_text(st, 13) : "[]", 0, NULL);
  if (!json_is_array(res)) {
    json_decref(res);
    res = json_array();
  }
  resource_hashes(c, res);
  if (lists)
    c->resources = res;
  else
    json_decref(res);
}

static int load(const char *id, struct armor_oauth_client *c, char hash[65], bool lists) {
  if (!id || !armor_uuid_valid(id)) return ARMOR_NOT_FOUND;
  struct armor_db *db = armor_db_get();
  struct armor_stmt *st = armor_db_query(db, "SELECT " CLIENT_COLS " FROM oauth_clients WHERE id = $1", "t", id);
  if (!st) return ARMOR_DB;
  int rc = armor_stmt_step(st);
  if (rc == 1) client_from_row(st, c, hash, lists);
  armor_stmt_done(st);
  return rc == 1 ? ARMOR_OK : rc == 0 ? ARMOR_NOT_FOUND : ARMOR_DB;
}

int armor_oauth_client_get(const char *id, struct armor_oauth_client *out) { return load(id, out, NULL, true); }

static char *dump(const json_t *a) { return json_dumps(a ? a : json_array(), JSON_COMPACT); }

int armor_oauth_client_create(const json_t *in, const char *actor, json_t **out, struct armor_oauth_verr *e) {
  struct armor_oauth_client c;
  client_defaults(&c, in);
  *out = NULL;
  if (!apply(&c, in, true, e)) {
    armor_oauth_client_clear(&c);
    return ARMOR_INVALID;
  }
  armor_uuid_new(c.id);
  c.created_at = c.updated_at = armor_time();
  char secret[64] = "", hash[65] = "";
  if (c.confidential) {
    armor_random_b64url(32, secret, sizeof secret);
    armor_secret_token_hash(secret, hash);
    c.secret_rotated_at = c.created_at;
  }
  char grants[128];
  grants_to_text(c.grants, grants, sizeof grants);
  char *ru = dump(c.redirect_uris), *pu = dump(c.post_logout_redirect_uris), *rs = dump(c.resources);
  int rc = armor_db_exec(
      armor_db_get(), NULL,
      "INSERT INTO oauth_clients (id, name, secret_hash, token_endpoint_auth_method, grant_types, "
      "redirect_uris, post_logout_redirect_uris, scopes, skip_consent, id_token_alg, created_by, "
      "created_at, updated_at, secret_rotated_at, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
      "$9, $10, $11, $12, $13, $14, $15)",
      "ttttttttbttiiit", c.id, c.name, c.confidential ? hash : NULL, c.auth_method, grants, ru, pu, c.scope,
      c.skip_consent, c.id_token_alg, actor, c.created_at, c.updated_at, c.secret_rotated_at, rs);
  armor_free(ru);
  armor_free(pu);
  armor_free(rs);
  if (rc == ARMOR_OK) {
    *out = armor_oauth_client_to_json(&c);
    if (c.confidential) json_object_set_new(*out, "client_secret", json_string(secret));
  }
  armor_oauth_client_clear(&c);
  sodium_memzero(secret, sizeof secret);
  return rc == ARMOR_OK ? ARMOR_OK : ARMOR_DB;
}

int armor_oauth_client_update(const char *id, const json_t *in, json_t **out, struct armor_oauth_verr *e) {
  struct armor_oauth_client c;
  *out = NULL;
  int rc = load(id, &c, NULL, true);
  if (rc) return rc;
  if (!apply(&c, in, false, e)) {
    armor_oauth_client_clear(&c);
    return ARMOR_INVALID;
  }
  c.updated_at = armor_time();
  char grants[128];
  grants_to_text(c.grants, grants, sizeof grants);
  char *ru = dump(c.redirect_uris), *pu = dump(c.post_logout_redirect_uris), *rs = dump(c.resources);
  int64_t changes = 0;
  rc = armor_db_exec(armor_db_get(), &changes,
                     "UPDATE oauth_clients SET name = $2, token_endpoint_auth_method = $3, grant_types = $4, "
                     "redirect_uris = $5, post_logout_redirect_uris = $6, scopes = $7, skip_consent = $8, "
                     "id_token_alg = $9, updated_at = $10, resources = $11 WHERE id = $1",
                     "tttttttbtit", c.id, c.name, c.auth_method, grants, ru, pu, c.scope, c.skip_consent,
                     c.id_token_alg, c.updated_at, rs);
  armor_free(ru);
  armor_free(pu);
  armor_free(rs);
  if (rc == ARMOR_OK && changes == 1) *out = armor_oauth_client_to_json(&c);
  armor_oauth_client_clear(&c);
  armor_oauth_client_cache_flush();
  if (rc) return ARMOR_DB;
  return changes == 1 ? ARMOR_OK : ARMOR_NOT_FOUND;
}

json_t *armor_oauth_client_list(void) {
  struct armor_stmt *st =
      armor_db_query(armor_db_get(), "SELECT " CLIENT_COLS " FROM oauth_clients ORDER BY created_at, id", "");
  if (!st) return NULL;
  json_t *a = json_array();
  int rc;
  while ((rc = armor_stmt_step(st)) == 1) {
    struct armor_oauth_client c;
    client_from_row(st, &c, NULL, true);
    json_array_append_new(a, armor_oauth_client_to_json(&c));
    armor_oauth_client_clear(&c);
  }
  armor_stmt_done(st);
  if (rc) {
    json_decref(a);
    return NULL;
  }
  return a;
}

int armor_oauth_client_delete(const char *id) {
  if (!armor_uuid_valid(id)) return ARMOR_NOT_FOUND;
  int64_t changes = 0;
  int rc = armor_db_exec(armor_db_get(), &changes, "DELETE FROM oauth_clients WHERE id = $1", "t", id);
  armor_oauth_client_cache_flush();
  if (rc) return ARMOR_DB;
  return changes ? ARMOR_OK : ARMOR_NOT_FOUND;
}

int armor_oauth_client_rotate_secret(const char *id, char secret[64]) {
  struct armor_oauth_client c;
  int rc = load(id, &c, NULL, false);
  if (rc) return rc;
  if (!c.confidential) return ARMOR_INVALID;
  char hash[65];
  armor_random_b64url(32, secret, 64);
  armor_secret_token_hash(secret, hash);
  int64_t now = armor_time();
  rc = armor_db_exec(armor_db_get(), NULL,
                     "UPDATE oauth_clients SET secret_hash = $2, secret_rotated_at = $3, updated_at = $3 WHERE id = $1",
                     "tti", id, hash, now);
  armor_oauth_client_cache_flush();
  return rc ? ARMOR_DB : ARMOR_OK;
}

/* ================================================================ authentication cache */

/*
 * Successful authentications for CACHE_TTL_MS, keyed by a keyed 128-bit SipHash (SipHash-2-4 with
 * 128-bit output, a PRF) of what proved the secret (the raw Authorization header, or client_id and
 * secret) under a random per-process key: a hit proves the secret without it being stored anywhere,
 * and forging a hit means guessing a 128-bit tag. Tags are compared in constant time. SipHash replaced
 * keyed BLAKE2b here: same guarantee for this use, a quarter of the cost on every introspection.
 * Slots are spread over striped locks so that the HTTP threads do not queue on one mutex.
 */
#define CACHE_STRIPES 16
#define TAG_BYTES crypto_shorthash_siphashx24_BYTES

struct cache_slot {
  unsigned char key[TAG_BYTES];
  int64_t expires_ms;
  struct armor_oauth_client c;
};
static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_locks[CACHE_STRIPES];
/* One key for raw credentials, one for id + secret. */
static unsigned char raw_key[crypto_shorthash_siphashx24_KEYBYTES], pair_key[crypto_shorthash_siphashx24_KEYBYTES];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_init(void) {
  randombytes_buf(raw_key, sizeof raw_key);
  randombytes_buf(pair_key, sizeof pair_key);
  for (int i = 0; i < CACHE_STRIPES; i++) pthread_mutex_init(&cache_locks[i], NULL);
}

void armor_oauth_client_cache_flush(void) {
  pthread_once(&cache_once, cache_init);
  for (size_t i = 0; i < CACHE_SLOTS; i++) {
    pthread_mutex_lock(&cache_locks[i % CACHE_STRIPES]);
    cache[i].expires_ms = 0;
    pthread_mutex_unlock(&cache_locks[i % CACHE_STRIPES]);
  }
}

/* The cache key of a raw credential (b NULL; at most 1024 bytes) or of client_id + "\n" + secret (a
   UUID and at most 256 bytes); the two kinds are hashed under different keys. */
static void cache_key(const char *a, const char *b, unsigned char out[TAG_BYTES]) {
  if (!b) {
    crypto_shorthash_siphashx24(out, (const unsigned char *)a, strlen(a), raw_key);
    return;
  }
  unsigned char buf[40 + 1 + 257];
  size_t na = strlen(a), nb = strlen(b);
  if (na > 40 || nb > 257) { /* callers check the lengths first; a key nothing matches */
    randombytes_buf(out, TAG_BYTES);
    return;
  }
  memcpy(buf, a, na);
  buf[na] = '\n';
  memcpy(buf + na + 1, b, nb);
  crypto_shorthash_siphashx24(out, buf, na + 1 + nb, pair_key);
  sodium_memzero(buf, sizeof buf);
}

static size_t slot_of(const unsigned char *key) {
  uint64_t v;
  memcpy(&v, key, sizeof v);
  return (size_t)(v % CACHE_SLOTS);
}

static bool cache_get(const unsigned char *key, struct armor_oauth_client *out) {
  size_t s = slot_of(key);
  bool hit = false;
  pthread_mutex_lock(&cache_locks[s % CACHE_STRIPES]);
  if (cache[s].expires_ms > armor_now_ms() && !sodium_memcmp(cache[s].key, key, TAG_BYTES)) {
    *out = cache[s].c;
    hit = true;
  }
  pthread_mutex_unlock(&cache_locks[s % CACHE_STRIPES]);
  return hit;
}

static void cache_put(const unsigned char *key, const struct armor_oauth_client *c) {
  size_t s = slot_of(key);
  int64_t expires = armor_now_ms() + CACHE_TTL_MS;
  pthread_mutex_lock(&cache_locks[s % CACHE_STRIPES]);
  memcpy(cache[s].key, key, TAG_BYTES);
  cache[s].c = *c;
  cache[s].expires_ms = expires;
  pthread_mutex_unlock(&cache_locks[s % CACHE_STRIPES]);
}

int armor_oauth_client_authenticate(const char *raw, const char *id, const char *secret,
                                    struct armor_oauth_client *out) {
  pthread_once(&cache_once, cache_init);
  unsigned char rawkey[TAG_BYTES], key[TAG_BYTES];
  bool have_raw = raw && strlen(raw) <= 1024;
  if (have_raw) {
    cache_key(raw, NULL, rawkey);
    if (cache_get(rawkey, out)) return ARMOR_OK;
  }
  if (!id || !armor_uuid_valid(id)) return ARMOR_UNAUTHORIZED;
  if (secret && (!*secret || strlen(secret) > 256)) return ARMOR_UNAUTHORIZED;
  cache_key(id, secret ? secret : "", key);
  if (cache_get(key, out)) {
    if (have_raw) cache_put(rawkey, out);
    return ARMOR_OK;
  }
  char stored[65] = "";
  int rc = load(id, out, stored, false);
  if (rc == ARMOR_NOT_FOUND) return ARMOR_UNAUTHORIZED;
  if (rc) return rc;
  if (secret) {
    char h[65];
    armor_secret_token_hash(secret, h);
    if (!out->confidential || !stored[0] || !armor_str_eq_ct(h, stored)) return ARMOR_UNAUTHORIZED;
  } else if (out->confidential) {
    return ARMOR_UNAUTHORIZED;
  }
  cache_put(key, out);
  if (have_raw) cache_put(rawkey, out);
  return ARMOR_OK;
}
