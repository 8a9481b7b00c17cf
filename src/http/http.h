/*
 * The HTTP face that handlers see: a request with its headers, parameters and
 * body copied into the request arena (so a handler may run on any thread),
 * and reply helpers that render the envelope. Only http/ includes microhttpd.h.
 */
#ifndef ARMOR_HTTP_H
#define ARMOR_HTTP_H

#include "core/armor.h"
#include <jansson.h>

struct armor_req;
typedef void (*armor_handler_fn)(struct armor_req *r);

/* Route flags. */
enum {
  ROUTE_PUBLIC = 0,
  ROUTE_AUTH = 1 << 0,    /* a valid bearer token (or API key) is required */
  ROUTE_SLOW = 1 << 1,    /* the handler runs on the worker pool (password hashing, outbound I/O) */
  ROUTE_JSON = 1 << 2,    /* the body must be a JSON object (Content-Type application/json) */
  ROUTE_FORM = 1 << 3,    /* the body is application/x-www-form-urlencoded */
  ROUTE_RAW = 1 << 4,     /* not an /api route: no envelope for 404/405, no Cache-Control: no-store */
  ROUTE_NOLOG = 1 << 5,   /* skip access log (never used for API routes) */
  ROUTE_OPTJSON = 1 << 6, /* a JSON object body is optional */
  ROUTE_HIDDEN = 1 << 7,  /* not in the OpenAPI document (redirects, static assets) */
  ROUTE_PREFIX = 1 << 8,  /* the pattern's last segment "*" matches the rest of the path */
  ROUTE_TEST = 1 << 9,    /* diagnostics for the test suite: matched only after armor_router_enable_test_routes */
};

/* One entry of the static route table. */
struct armor_route {
  const char *method;  /* "GET", "POST", ... */
  const char *pattern; /* "/api/users/{id}"; "{name}" captures one segment */
  armor_handler_fn handler;
  unsigned flags;
  const char *perm; /* permission required, or NULL */
  size_t max_body;  /* 0: the configured default */
};

struct armor_kv {
  const char *name, *value;
};

/* Who made the request, filled by the authenticator for ROUTE_AUTH routes. */
struct armor_principal {
  char user_id[37];
  char session_id[37];
  char username[65];
  char org_id[37];
  char client_id[65];  /* OAuth client, when the token came from one */
  char api_key_id[37]; /* when authenticated by API key */
  const char **perms;  /* NULL-terminated, arena-owned */
  int nperms;
  bool is_admin;
  int64_t exp;
  const char *token; /* the raw bearer token, arena-owned */
};

#define ARMOR_MAX_PARAMS 8
#define ARMOR_MAX_RESP_HEADERS 12

struct armor_req {
  /* ---- in ---- */
  const char *method;
  const char *path; /* percent-decoded path without query */
  const char *url;  /* raw URL as received */
  const struct armor_route *route;
  struct armor_kv params[ARMOR_MAX_PARAMS];
  int nparams;
  struct armor_kv *headers;
  int nheaders;
  struct armor_kv *query;
  int nquery;
  struct armor_kv *form; /* parsed form body for ROUTE_FORM */
  int nform;
  const char *body;
  size_t body_len;
  json_t *json; /* parsed body for ROUTE_JSON; owned by the request */
  char request_id[65];
  char client_ip[48];
  bool tls;
  struct armor_arena *arena;
  struct armor_principal *principal; /* NULL when not authenticated */
  /* ---- out ---- */
  int status;
  char *resp_body; /* malloc'ed, freed by the http layer */
  const void *resp_static; /* or a body that is never freed (armor_reply_static) */
  size_t resp_len;
  const char *content_type;
  struct armor_kv resp_headers[ARMOR_MAX_RESP_HEADERS]; /* arena-owned strings */
  int nresp_headers;
  bool resp_keepable; /* resp_body holds no secret and may be copied into a kept response */
  bool replied;
};

/* Lookups are case-insensitive for headers, exact for the rest; NULL when absent. */
const char *armor_req_header(const struct armor_req *r, const char *name);
const char *armor_req_query(const struct armor_req *r, const char *name);
const char *armor_req_param(const struct armor_req *r, const char *name);
const char *armor_req_form(const struct armor_req *r, const char *name);
/* The value of cookie `name`, arena-owned; NULL when absent. */
const char *armor_req_cookie(struct armor_req *r, const char *name);
/* The bearer token of the Authorization header, or NULL. */
const char *armor_req_bearer(const struct armor_req *r);

/* ---- replies: exactly one per request ---- */
/* Success envelope {success:true, message, data}. Steals `data` (may be NULL). */
void armor_reply_ok(struct armor_req *r, int status, const char *message, json_t *data);
/* Error envelope {success:false, message, code, details}. Steals `details` (may be NULL). */
void armor_reply_error(struct armor_req *r, int status, const char *code, const char *message, json_t *details);
/* Error envelope naming one field: details {"field": field}. */
void armor_reply_field_error(struct armor_req *r, int status, const char *code, const char *field, const char *message);
/* Maps a result code to status and envelope code (the one place that does). */
void armor_reply_rc(struct armor_req *r, int rc, const char *message);
/* 204 without body. */
void armor_reply_no_content(struct armor_req *r);
/* Any body; copies it. */
void armor_reply_raw(struct armor_req *r, int status, const char *content_type, const void *body, size_t len);
/* Like armor_reply_raw, taking ownership of a malloc'ed body (freed by the HTTP layer). */
void armor_reply_take(struct armor_req *r, int status, const char *content_type, char *body, size_t len);
/* Like armor_reply_take for an answer that holds no secret (no token, no cookie, no key): the HTTP layer may copy
   it into a response it keeps for answers of the same shape (see server.c, "Kept responses"). */
void armor_reply_take_keepable(struct armor_req *r, int status, const char *content_type, char *body, size_t len);
/* Like armor_reply_raw for a body that lives as long as the process (static text, embedded files): not copied. */
void armor_reply_static(struct armor_req *r, int status, const char *content_type, const void *body, size_t len);
/* Plain JSON without envelope (OAuth/OIDC shapes). Steals `doc`. */
void armor_reply_json(struct armor_req *r, int status, json_t *doc);
/* RFC 6749 error {"error", "error_description"}. */
void armor_reply_oauth_error(struct armor_req *r, int status, const char *error, const char *description);
/* Redirect with Location. */
void armor_reply_redirect(struct armor_req *r, int status, const char *location);
/* Adds a response header (copied into the arena). */
void armor_reply_header(struct armor_req *r, const char *name, const char *value);

/* Permission check against the principal; replies 401/403 and returns false when refused. */
bool armor_require_perm_or_reply(struct armor_req *r, const char *perm);
bool armor_principal_has(const struct armor_principal *p, const char *perm);

/* ---- JSON body helpers: each replies 400/422 naming the field and returns false ---- */
/* Required/optional string field; *out is borrowed from r->json (NULL when optional and absent). */
bool armor_json_str_or_reply(struct armor_req *r, const char *field, bool required, size_t minlen, size_t maxlen,
                             const char **out);
bool armor_json_bool_or_reply(struct armor_req *r, const char *field, bool *out, bool *present);
bool armor_json_int_or_reply(struct armor_req *r, const char *field, long long min, long long max, long long *out,
                             bool *present);
/* Rejects fields not in the NULL-terminated list (422 naming the first unknown). */
bool armor_json_known_or_reply(struct armor_req *r, const char *const *fields);

/*
 * The authenticator checks the request's credentials for ROUTE_AUTH routes and
 * fills r->principal; on failure it replies itself and returns false. Set by
 * the accounts service at start; without one, ROUTE_AUTH routes answer 401.
 */
typedef bool (*armor_authenticator_fn)(struct armor_req *r);
void armor_http_set_authenticator(armor_authenticator_fn fn);

/* ---- the route table (api/routes.c) ---- */
extern const struct armor_route *const armor_route_tables[];
/* Number of routes over all tables; index i in [0, n) */
size_t armor_routes_count(void);
const struct armor_route *armor_routes_at(size_t i);

/* ---- server ---- */
struct armor_http_opts {
  const char *host;
  int port;
  const char *tls_cert_pem, *tls_key_pem; /* contents, not paths */
  int threads;
  int workers;
  int queue;
  int max_connections;
  int conn_timeout;    /* seconds a connection may stay silent */
  int request_timeout; /* seconds from the request line to the end of the body; 0: none */
  size_t max_body;
  bool access_log;
  const char *trusted_proxies; /* comma-separated IPs/CIDRs; NULL: X-Forwarded-For is ignored */
};
/* Deepest nesting of [ and { in a JSON text, brackets inside strings not counted: the pre-check before parsing. */
int armor_http_json_depth(const char *s, size_t n);
/* Parses a trusted-proxy list; 0, or -1 with one line in err. Used for start-up validation and by armor_http_start. */
int armor_http_parse_proxies(const char *list, char *err, size_t errlen);
/* True when ip (text) falls in the parsed trusted-proxy list. */
bool armor_http_proxy_trusted(const char *ip);
/* Binds and listens on host:port without serving yet, so that start-up fails early when the port is taken.
   0, or -1 with one line (no trailing newline) in err. armor_http_start calls it when it was not called. */
int armor_http_listen(const char *host, int port, char *err, size_t errlen);
/* Starts serving; returns 0, or -1 with one line (no trailing newline) in err. */
int armor_http_start(const struct armor_http_opts *o, char *err, size_t errlen);
/* Closes a listening socket that armor_http_listen opened but no server took over. No-op otherwise. */
void armor_http_close(void);
/* Stops accepting, drains in-flight requests (up to `grace_ms`) and stops. */
void armor_http_stop(int grace_ms);
/* Prometheus text of request metrics appended to b. */
void armor_http_metrics(struct armor_buf *b);
/* Number of requests currently in flight. */
int armor_http_inflight(void);

/* Runs fn(arg) on the worker pool (for background work that must not block HTTP). false when full. */
bool armor_workers_submit(void (*fn)(void *), void *arg);

#endif
