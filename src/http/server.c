/*
 * libmicrohttpd integration: connection lifecycle, limits, body collection,
 * dispatch through the router, the slow-work pool (suspend/resume), access
 * log and request metrics. Knows nothing of business rules.
 *
 * Answers are queued only after the request was fully received (the second
 * call of the access handler for a request without a body) so that
 * libmicrohttpd keeps the connection alive.
 */
#include "http/http.h"
#include "http/router.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (8 * 1024)
#define MAX_JSON_DEPTH 32
#define MAX_KV 64
/* libmicrohttpd zeroes the whole per-connection pool for every request, and a thread's pools are its working set:
   with 25 connections a thread, 24 KiB pools (600 KiB) overflowed the 512 KiB L2 cache and cost ~0.6 us of CPU a
   request more than 16 KiB (docs/performance.md). 16 KiB holds the 8 KiB header limit, libmicrohttpd's header list
   and the answer's headers; a header block from ~16,200 bytes gets libmicrohttpd's own HTML 431 instead of the envelope
   (and at ~15,900-16,100 bytes, where the answer's headers no longer fit, the connection is closed unanswered). */
#ifndef CONN_POOL_BYTES
#define CONN_POOL_BYTES (16 * 1024)
#endif
/* Body bytes read and dropped after a refusal before the connection is closed instead of answered. */
#define MAX_DISCARD (1024 * 1024)

static struct MHD_Daemon *daemon_;
static int listen_fd = -1;
static struct armor_http_opts opts;
static armor_authenticator_fn authenticator;
/* Requests in flight, per shard (a request may end on another thread than it began: only the sum counts). */
static struct { _Alignas(64) atomic_int n; } inflight[ARMOR_SHARDS];
static atomic_ullong reqid_counter;
static char reqid_prefix[9];

void armor_http_set_authenticator(armor_authenticator_fn fn) { authenticator = fn; }
int armor_http_inflight(void) {
  int n = 0;
  for (int i = 0; i < ARMOR_SHARDS; i++) n += atomic_load(&inflight[i].n);
  return n;
}

enum ctx_state { ST_NEW, ST_BODY, ST_ASYNC, ST_DONE };

struct ctx {
  struct armor_req req;
  struct MHD_Connection *conn;
  enum ctx_state state;
  atomic_int async_done;
  struct armor_buf body;
  size_t max_body;
  int early_status; /* set when the request is refused before dispatch */
  size_t discarded; /* body bytes read and dropped after early_status was set */
  size_t route_index;
  int64_t start_us;
  char allow[128];
  bool match405;
  struct reuse *reused; /* the kept response queued for this request, if any */
};

/* ================================================================ metrics */

static const int status_list[] = {200, 201, 204, 301, 302, 303, 304, 307, 400, 401, 403, 404, 405,
                                  408, 409, 413, 415, 422, 429, 431, 499, 500, 502, 503, 0};
#define NSTATUS (sizeof status_list / sizeof status_list[0])
static const double bucket_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBUCKET (sizeof bucket_le / sizeof bucket_le[0])

struct metric_cell {
  atomic_ullong count;
  atomic_ullong sum_us;
  atomic_ullong buckets[NBUCKET];
};

/*
 * [ARMOR_SHARDS][(nroutes+1) * NSTATUS]: each thread counts in its own shard (armor_shard); /metrics adds the
 * shards up. Shards nobody uses are never touched (calloc'ed pages stay unmapped).
 */
static struct metric_cell *metrics;
static size_t metric_routes, metric_cells;

static struct metric_cell *my_shard(void) { return metrics + (size_t)armor_shard() * metric_cells; }

/* One cell's figures, added up over the shards; false (the rest not read) when it counted nothing. */
struct cell_total {
  unsigned long long count, sum_us, buckets[NBUCKET];
};

static bool cell_total(size_t i, struct cell_total *t) {
  memset(t, 0, sizeof *t);
  for (size_t k = 0; k < ARMOR_SHARDS; k++)
    t->count += atomic_load_explicit(&metrics[k * metric_cells + i].count, memory_order_relaxed);
  if (!t->count) return false;
  for (size_t k = 0; k < ARMOR_SHARDS; k++) {
    const struct metric_cell *c = &metrics[k * metric_cells + i];
    t->sum_us += atomic_load_explicit(&c->sum_us, memory_order_relaxed);
    for (size_t b = 0; b < NBUCKET; b++) t->buckets[b] += atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
  }
  return true;
}

static void status_label(size_t s, char st[8]) {
  if (status_list[s])
    armor_fmt(st, 8, "%d", status_list[s]);
  else
    armor_fmt(st, 8, "other");
}

static size_t status_index(int status) {
  for (size_t i = 0; i + 1 < NSTATUS; i++)
    if (status_list[i] == status) return i;
  return NSTATUS - 1;
}

static void metrics_record(size_t route, int status, int64_t us) {
  if (!metrics) return;
  if (route > metric_routes) route = metric_routes;
  struct metric_cell *c = &my_shard()[route * NSTATUS + status_index(status)];
  atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->sum_us, (unsigned long long)us, memory_order_relaxed);
  double s = (double)us / 1e6;
  for (size_t b = 0; b < NBUCKET; b++)
    if (s <= bucket_le[b]) {
      atomic_fetch_add_explicit(&c->buckets[b], 1, memory_order_relaxed);
      break;
    }
}

void armor_http_metrics(struct armor_buf *b) {
  armor_buf_printf(b, "# HELP armor_http_requests_total HTTP requests by route and status.\n"
                      "# TYPE armor_http_requests_total counter\n");
  struct cell_total t;
  char st[8];
  for (size_t r = 0; metrics && r <= metric_routes; r++) {
    const struct armor_route *rt = r < metric_routes ? armor_routes_at(r) : NULL;
    for (size_t s = 0; s < NSTATUS; s++) {
      if (!cell_total(r * NSTATUS + s, &t)) continue;
      status_label(s, st);
      armor_buf_printf(b, "armor_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                       rt ? rt->method : "", rt ? rt->pattern : "unmatched", st, t.count);
    }
  }
  armor_buf_printf(b, "# HELP armor_http_request_duration_seconds Request latency by route and status.\n"
                      "# TYPE armor_http_request_duration_seconds histogram\n");
  for (size_t r = 0; metrics && r <= metric_routes; r++) {
    const struct armor_route *rt = r < metric_routes ? armor_routes_at(r) : NULL;
    for (size_t s = 0; s < NSTATUS; s++) {
      if (!cell_total(r * NSTATUS + s, &t)) continue;
      status_label(s, st);
      char lbl[300];
      armor_fmt(lbl, sizeof lbl, "method=\"%s\",route=\"%s\",status=\"%s\"", rt ? rt->method : "",
                rt ? rt->pattern : "unmatched", st);
      unsigned long long cum = 0;
      for (size_t k = 0; k < NBUCKET; k++) {
        cum += t.buckets[k];
        armor_buf_printf(b, "armor_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", lbl, bucket_le[k], cum);
      }
      armor_buf_printf(b, "armor_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lbl, t.count);
      armor_buf_printf(b, "armor_http_request_duration_seconds_sum{%s} %.6f\n", lbl, (double)t.sum_us / 1e6);
      armor_buf_printf(b, "armor_http_request_duration_seconds_count{%s} %llu\n", lbl, t.count);
    }
  }
  armor_buf_printf(
      b, "# HELP armor_http_inflight Requests in flight.\n# TYPE armor_http_inflight gauge\narmor_http_inflight %d\n",
      armor_http_inflight());
}

/* ================================================================ worker pool */

struct job {
  void (*fn)(void *);
  void *arg;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct job *jobs;
static size_t jobs_cap, jobs_head, jobs_len;
static pthread_t *pool_threads;
static int pool_n;
static bool pool_stop;

/*
 * Worker threads run at a lower priority (nice +WORKER_NICE, Linux sets it per thread): password
 * hashing saturates the cores under a login burst, and the HTTP threads, which answer token checks in
 * microseconds, should get a core as soon as a request arrives rather than queue behind a 25 ms hash.
 * Without competition the workers still get whole cores.
 */
#define WORKER_NICE 5

static void *pool_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "armor-worker");
  id_t tid = (id_t)gettid();
  errno = 0;
  int cur = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) (void)setpriority(PRIO_PROCESS, tid, cur + WORKER_NICE > 19 ? 19 : cur + WORKER_NICE);
  for (;;) {
    pthread_mutex_lock(&pool_lock);
    while (!jobs_len && !pool_stop) pthread_cond_wait(&pool_cond, &pool_lock);
    if (!jobs_len && pool_stop) {
      pthread_mutex_unlock(&pool_lock);
      return NULL;
    }
    struct job j = jobs[jobs_head];
    jobs_head = (jobs_head + 1) % jobs_cap;
    jobs_len--;
    pthread_mutex_unlock(&pool_lock);
    j.fn(j.arg);
  }
}

bool armor_workers_submit(void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&pool_lock);
  if (!jobs || jobs_len >= jobs_cap || pool_stop) {
    pthread_mutex_unlock(&pool_lock);
    return false;
  }
  jobs[(jobs_head + jobs_len) % jobs_cap] = (struct job){fn, arg};
  jobs_len++;
  pthread_cond_signal(&pool_cond);
  pthread_mutex_unlock(&pool_lock);
  return true;
}

static void pool_start(int n, int cap) {
  jobs_cap = (size_t)(cap > 0 ? cap : 64);
  jobs = armor_calloc(jobs_cap, sizeof *jobs);
  pool_n = n > 0 ? n : 1;
  pool_threads = armor_calloc((size_t)pool_n, sizeof *pool_threads);
  for (int i = 0; i < pool_n; i++) pthread_create(&pool_threads[i], NULL, pool_main, NULL);
}

static void pool_join(void) {
  pthread_mutex_lock(&pool_lock);
  pool_stop = true;
  pthread_cond_broadcast(&pool_cond);
  pthread_mutex_unlock(&pool_lock);
  for (int i = 0; i < pool_n; i++) pthread_join(pool_threads[i], NULL);
  armor_free(pool_threads);
  armor_free(jobs);
  jobs = NULL;
}

/* ================================================================ request setup */

struct kv_collect {
  struct armor_req *r;
  struct armor_kv *kv;
  int n;
  size_t bytes;
};

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  struct kv_collect *c = cls;
  c->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
  if (c->n >= MAX_KV) return MHD_NO;
  c->kv[c->n].name = key; /* MHD keeps these alive for the request's life */
  c->kv[c->n].value = value ? value : "";
  c->n++;
  return MHD_YES;
}

static bool sane_request_id(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.')) return false;
  return n >= 1 && n <= 64;
}

/* ---------------------------------------------------------------- trusted proxies */

#define MAX_PROXIES 32
struct proxy_net {
  int family;
  unsigned char addr[16];
  int prefix;
};
static struct proxy_net proxies[MAX_PROXIES];
static int nproxies;

static bool parse_ip(const char *s, int *family, unsigned char out[16]) {
  if (inet_pton(AF_INET, s, out) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s, out) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

int armor_http_parse_proxies(const char *list, char *err, size_t errlen) {
  nproxies = 0;
  if (!list || !*list) return 0;
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != ',' && *e != ' ') e++;
    char item[64];
    if ((size_t)(e - p) >= sizeof item || nproxies >= MAX_PROXIES) {
      armor_fmt(err, errlen, "--trusted-proxies: entry too long or more than %d entries", MAX_PROXIES);
      return -1;
    }
    memcpy(item, p, (size_t)(e - p));
    item[e - p] = 0;
    char *slash = strchr(item, '/');
    long long prefix = -1;
    if (slash) {
      *slash = 0;
      if (!armor_parse_int(slash + 1, 0, 128, &prefix)) {
        armor_fmt(err, errlen, "--trusted-proxies: bad prefix length in '%s/%s'", item, slash + 1);
        return -1;
      }
    }
    struct proxy_net *n = &proxies[nproxies];
    memset(n, 0, sizeof *n);
    if (!parse_ip(item, &n->family, n->addr)) {
      armor_fmt(err, errlen, "--trusted-proxies: '%s' is not an IP address or CIDR", item);
      return -1;
    }
    int maxp = n->family == AF_INET ? 32 : 128;
    if (prefix > maxp) {
      armor_fmt(err, errlen, "--trusted-proxies: prefix of '%s' exceeds %d", item, maxp);
      return -1;
    }
    n->prefix = prefix < 0 ? maxp : (int)prefix;
    nproxies++;
    p = e;
  }
  return 0;
}

bool armor_http_proxy_trusted(const char *ip) {
  int fam;
  unsigned char a[16] = {0};
  if (!nproxies || !parse_ip(ip, &fam, a)) return false;
  for (int i = 0; i < nproxies; i++) {
    const struct proxy_net *n = &proxies[i];
    if (n->family != fam) continue;
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(a, n->addr, (size_t)full)) continue;
    if (rest && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest)) & 0xff)) continue;
    return true;
  }
  return false;
}

/* Dotted quad without inet_ntop (which goes through sprintf); out holds at least 16 bytes. */
static void format_ipv4(const unsigned char a[4], char *out) {
  char *o = out;
  for (int i = 0; i < 4; i++) {
    unsigned v = a[i];
    if (v >= 100) *o++ = (char)('0' + v / 100);
    if (v >= 10) *o++ = (char)('0' + v / 10 % 10);
    *o++ = (char)('0' + v % 10);
    *o++ = i < 3 ? '.' : 0;
  }
}

/*
 * The client address: the TCP peer, unless the peer is a trusted proxy; then the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy (entries to
 * its left could have been written by the client and are not believed).
 */
static void set_client_ip(struct ctx *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  c->req.client_ip[0] = 0;
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    format_ipv4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, c->req.client_ip);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->req.client_ip, sizeof c->req.client_ip);
  if (!nproxies || !armor_http_proxy_trusted(c->req.client_ip)) return;
  const char *xff = armor_req_header(&c->req, "X-Forwarded-For");
  if (!xff) return;
  size_t len = strlen(xff);
  if (len > 2048) return;
  const char *end = xff + len;
  while (end > xff) {
    const char *start = end;
    while (start > xff && start[-1] != ',') start--;
    const char *a = start, *b = end;
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    char ip[48];
    int fam;
    unsigned char bin[16];
    if ((size_t)(b - a) == 0 || (size_t)(b - a) >= sizeof ip) return;
    memcpy(ip, a, (size_t)(b - a));
    ip[b - a] = 0;
    if (!parse_ip(ip, &fam, bin)) return; /* a malformed entry ends the trust chain */
    armor_fmt(c->req.client_ip, sizeof c->req.client_ip, "%s", ip);
    if (!armor_http_proxy_trusted(ip)) return;
    end = start > xff ? start - 1 : xff;
  }
}

/* ================================================================ response */

/*
 * Kept responses. libmicrohttpd's manual suggests one response object per kind of answer, queued as often as
 * needed, over one object per request: creating a response, adding its four headers (a calloc and two strdups
 * each) and destroying it was ~4,500 instructions of a /health request's ~13,000. Answers of one shape (the same
 * status-independent headers, content type and body length) are such a kind, apart from their X-Request-Id, their
 * Date and, for a generated body, the body bytes: /health and /openapi.json (static bodies, never copied), and
 * repeated answers such as the introspection of one token (copied into the kept response's own buffer).
 *
 * Each HTTP thread keeps a few of them. One that is queued is busy until its request completes (the completion
 * callback runs on the connection's own thread, before libmicrohttpd drops its reference), and only an idle one
 * is changed: its X-Request-Id replaced, its body bytes overwritten, its Date once a second (a Date of ours also
 * spares libmicrohttpd its own gmtime per answer). A thread's responses are destroyed when the thread ends.
 */
#define REUSE_SLOTS 8
#define REUSE_MAX_BODY 4096 /* larger generated bodies are not copied */
#define REUSE_MAX_EXTRA 192 /* bytes of the route's own headers ("name\0value\0" pairs) a kept response holds */
struct reuse {
  struct MHD_Response *resp;
  const void *body; /* the static body, or NULL: then `copy` is the response's own buffer */
  char *copy;
  size_t len;
  const char *ctype;
  bool no_store, hsts;
  bool busy;
  size_t extra_len;
  char extra[REUSE_MAX_EXTRA];
  int64_t date_sec;
  char request_id[65];
};
struct reuse_set {
  struct reuse slot[REUSE_SLOTS];
  unsigned next_evict;
  bool registered;
};
static _Thread_local struct reuse_set reuse_set;
static pthread_key_t reuse_key;
static pthread_once_t reuse_once = PTHREAD_ONCE_INIT;

static void reuse_drop(struct reuse *u) {
  if (u->resp) MHD_destroy_response(u->resp);
  armor_free(u->copy);
  memset(u, 0, sizeof *u);
}

static void reuse_free(void *p) {
  struct reuse_set *s = p;
  for (int i = 0; i < REUSE_SLOTS; i++) reuse_drop(&s->slot[i]);
}

static void reuse_key_init(void) { pthread_key_create(&reuse_key, reuse_free); }

/* IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT" (the C locale's day and month names). */
static void http_date(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 32, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The headers every answer carries but X-Request-Id (and Date, which libmicrohttpd adds unless a kept response
   has its own): content type, nosniff, the route's own, no-store, HSTS. Each is added even when one before it was
   refused; false when any was. */
static bool add_headers(struct MHD_Response *resp, const struct armor_req *r, bool no_store) {
  bool ok = !r->content_type || MHD_add_response_header(resp, "Content-Type", r->content_type) == MHD_YES;
  ok &= MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
  for (int i = 0; i < r->nresp_headers; i++)
    ok &= MHD_add_response_header(resp, r->resp_headers[i].name, r->resp_headers[i].value) == MHD_YES;
  if (no_store) ok &= MHD_add_response_header(resp, "Cache-Control", "no-store") == MHD_YES;
  if (r->tls) ok &= MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000") == MHD_YES;
  return ok;
}

/* The route's own headers as "name\0value\0" pairs; false when they do not fit a kept response. */
static bool extra_pack(const struct armor_req *r, char *out, size_t *len) {
  size_t n = 0;
  for (int i = 0; i < r->nresp_headers; i++) {
    size_t a = strlen(r->resp_headers[i].name) + 1, b = strlen(r->resp_headers[i].value) + 1;
    if (n + a + b > REUSE_MAX_EXTRA) return false;
    memcpy(out + n, r->resp_headers[i].name, a);
    memcpy(out + n + a, r->resp_headers[i].value, b);
    n += a + b;
  }
  *len = n;
  return true;
}

static bool reuse_matches(const struct reuse *t, const struct armor_req *r, bool no_store, const char *extra,
                          size_t extra_len) {
  return t->resp && !t->busy && t->len == r->resp_len && t->body == r->resp_static && t->no_store == no_store &&
         t->hsts == r->tls && t->extra_len == extra_len &&
         (t->ctype == r->content_type || !strcmp(t->ctype, r->content_type)) && !memcmp(t->extra, extra, extra_len);
}

/* The kept response for r's answer: the body (static, or u's copy), Date and the headers of add_headers. */
static struct MHD_Response *reuse_build(struct reuse *u, const struct armor_req *r) {
  const void *body = u->body ? u->body : u->copy;
  struct MHD_Response *resp = MHD_create_response_from_buffer(u->len, (void *)body, MHD_RESPMEM_PERSISTENT);
  if (!resp) return NULL;
  char date[32];
  u->date_sec = armor_time();
  http_date(u->date_sec, date);
  if (MHD_add_response_header(resp, "Date", date) != MHD_YES || !add_headers(resp, r, u->no_store)) {
    MHD_destroy_response(resp);
    return NULL;
  }
  return resp;
}

/*
 * A kept response for this answer, with its body, X-Request-Id and Date set, marked busy; NULL to build one
 * for this request alone.
 */
static struct reuse *reuse_take(const struct armor_req *r, bool no_store) {
  bool copied = !r->resp_static;
  if (!r->content_type || (copied && (!r->resp_body || !r->resp_keepable || r->resp_len > REUSE_MAX_BODY))) return NULL;
  char extra[REUSE_MAX_EXTRA];
  size_t extra_len;
  if (!extra_pack(r, extra, &extra_len)) return NULL;
  struct reuse_set *s = &reuse_set;
  struct reuse *u = NULL, *empty = NULL;
  for (int i = 0; i < REUSE_SLOTS && !u; i++) {
    struct reuse *t = &s->slot[i];
    if (!t->resp) {
      if (!empty) empty = t;
    } else if (reuse_matches(t, r, no_store, extra, extra_len)) {
      u = t;
    }
  }
  if (!u) {
    if (!empty) {
      /* All slots hold other answers: replace an idle one, in turn. A generated body replaces only another
         generated one, so that answers of changing lengths do not push out the static ones. */
      for (int i = 0; i < REUSE_SLOTS && !empty; i++) {
        struct reuse *t = &s->slot[(s->next_evict + (unsigned)i) % REUSE_SLOTS];
        if (!t->busy && (!copied || !t->body)) empty = t;
      }
      s->next_evict++;
      if (!empty) return NULL;
      reuse_drop(empty);
    }
    if (!s->registered) {
      pthread_once(&reuse_once, reuse_key_init);
      pthread_setspecific(reuse_key, s);
      s->registered = true;
    }
    u = empty;
    u->body = r->resp_static;
    u->len = r->resp_len;
    if (copied) {
      u->copy = armor_malloc(u->len);
      memcpy(u->copy, r->resp_body, u->len);
    }
    u->ctype = r->content_type;
    u->no_store = no_store;
    u->hsts = r->tls;
    u->extra_len = extra_len;
    memcpy(u->extra, extra, extra_len);
    u->resp = reuse_build(u, r);
    if (!u->resp) {
      reuse_drop(u);
      return NULL;
    }
  } else {
    if (copied) memcpy(u->copy, r->resp_body, u->len);
    int64_t now = armor_time();
    if (now != u->date_sec) {
      char date[32];
      http_date(now, date);
      /* libmicrohttpd replaces the response's Date header rather than adding a second one. */
      if (MHD_add_response_header(u->resp, "Date", date) != MHD_YES) {
        reuse_drop(u);
        return NULL;
      }
      u->date_sec = now;
    }
    if (u->request_id[0]) MHD_del_response_header(u->resp, "X-Request-Id", u->request_id);
  }
  if (MHD_add_response_header(u->resp, "X-Request-Id", r->request_id) != MHD_YES) {
    reuse_drop(u);
    return NULL;
  }
  memcpy(u->request_id, r->request_id, sizeof u->request_id);
  u->busy = true;
  return u;
}

static enum MHD_Result send_reply(struct ctx *c) {
  struct armor_req *r = &c->req;
  if (!r->replied) armor_reply_error(r, 500, "INTERNAL", "Internal error", NULL);
  bool raw = r->route && (r->route->flags & ROUTE_RAW);
  bool have_cc = false;
  for (int i = 0; i < r->nresp_headers && !have_cc; i++)
    have_cc = armor_streq_ci(r->resp_headers[i].name, "Cache-Control");
  bool no_store = !raw && !have_cc;
  struct reuse *u = reuse_take(r, no_store);
  if (u) {
    armor_free(r->resp_body); /* copied into the kept response */
    r->resp_body = NULL;
    enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)r->status, u->resp);
    if (ret == MHD_YES)
      c->reused = u;
    else
      u->busy = false;
    c->state = ST_DONE;
    return ret;
  }
  struct MHD_Response *resp;
  if (r->resp_body) {
    resp = MHD_create_response_from_buffer(r->resp_len, r->resp_body, MHD_RESPMEM_MUST_FREE);
    r->resp_body = NULL;
  } else if (r->resp_static) {
    resp = MHD_create_response_from_buffer(r->resp_len, (void *)r->resp_static, MHD_RESPMEM_PERSISTENT);
  } else {
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "X-Request-Id", r->request_id);
  add_headers(resp, r, no_store);
  enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  c->state = ST_DONE;
  return ret;
}

/* ================================================================ body checks */

static bool ctype_is(const char *ct, const char *want) {
  if (!ct) return false;
  size_t n = strlen(want);
  while (*ct == ' ') ct++;
  return !strncasecmp(ct, want, n) && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

/* Depth of JSON nesting, ignoring brackets inside strings. Pre-check before jansson. */
int armor_http_json_depth(const char *s, size_t n) {
  int depth = 0, max = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (in_str) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_str = false;
    } else if (ch == '"') {
      in_str = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > max) max = depth;
    } else if (ch == ']' || ch == '}') {
      depth--;
    }
  }
  return max;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * Decodes one application/x-www-form-urlencoded key or value into an arena copy: '+' is a space, %XX a
 * byte, a '%' without two hex digits stays as it is. Runs between the special characters are found with
 * memchr and copied whole (a form is mostly long plain tokens).
 */
static char *form_decode(struct armor_arena *a, const char *s, size_t n) {
  char *out = armor_arena_alloc(a, n + 1);
  size_t i = 0, j = 0;
  while (i < n) {
    const char *pct = memchr(s + i, '%', n - i);
    size_t stop = pct ? (size_t)(pct - s) : n;
    while (i < stop) {
      const char *plus = memchr(s + i, '+', stop - i);
      size_t e = plus ? (size_t)(plus - s) : stop;
      memcpy(out + j, s + i, e - i);
      j += e - i;
      i = e;
      if (plus) {
        out[j++] = ' ';
        i++;
      }
    }
    if (!pct) break;
    int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = hi >= 0 ? hexval(s[i + 2]) : -1;
    if (lo >= 0) {
      out[j++] = (char)(hi * 16 + lo);
      i += 3;
    } else {
      out[j++] = '%';
      i++;
    }
  }
  out[j] = 0;
  return out;
}

static bool parse_form(struct armor_req *r) {
  r->form = armor_arena_alloc(r->arena, sizeof(struct armor_kv) * MAX_KV);
  r->nform = 0;
  const char *p = r->body, *end = r->body + r->body_len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    if (!amp) amp = end;
    if (amp > p) {
      if (r->nform >= MAX_KV) return false;
      const char *eq = memchr(p, '=', (size_t)(amp - p));
      const char *ke = eq ? eq : amp;
      /* Refuse NUL bytes in keys/values after decoding by checking lengths. */
      char *k = form_decode(r->arena, p, (size_t)(ke - p));
      char *v = eq ? form_decode(r->arena, eq + 1, (size_t)(amp - eq - 1)) : armor_arena_strdup(r->arena, "");
      r->form[r->nform].name = k;
      r->form[r->nform].value = v;
      r->nform++;
    }
    p = amp + 1;
  }
  return true;
}

/* Validates and parses the body per route flags; replies and returns false when refused. */
static bool prepare_body(struct ctx *c) {
  struct armor_req *r = &c->req;
  const struct armor_route *rt = r->route;
  const char *ct = armor_req_header(r, "Content-Type");
  bool oauth = (rt->flags & ROUTE_RAW) != 0;
  if (rt->flags & ROUTE_FORM) {
    if (r->body_len == 0 && !ct) {
      r->form = NULL;
      r->nform = 0;
      return true;
    }
    if (!ctype_is(ct, "application/x-www-form-urlencoded")) {
      if (oauth)
        armor_reply_oauth_error(r, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
      else
        armor_reply_error(r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/x-www-form-urlencoded",
                          NULL);
      return false;
    }
    if (!parse_form(r)) {
      if (oauth)
        armor_reply_oauth_error(r, 400, "invalid_request", "Too many form parameters");
      else
        armor_reply_error(r, 400, "BAD_REQUEST", "Too many form parameters", NULL);
      return false;
    }
    return true;
  }
  if (!(rt->flags & (ROUTE_JSON | ROUTE_OPTJSON))) return true;
  if (r->body_len == 0) {
    if (rt->flags & ROUTE_OPTJSON) return true;
    armor_reply_error(r, 400, "BAD_REQUEST", "A JSON body is required", NULL);
    return false;
  }
  if (!ctype_is(ct, "application/json")) {
    armor_reply_error(r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json", NULL);
    return false;
  }
  if (armor_http_json_depth(r->body, r->body_len) > MAX_JSON_DEPTH) {
    armor_reply_error(r, 400, "BAD_REQUEST", "JSON nesting is too deep", NULL);
    return false;
  }
  json_error_t err;
  json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    json_t *d = json_object();
    json_object_set_new(d, "line", json_integer(err.line));
    json_object_set_new(d, "column", json_integer(err.column));
    /* jansson quotes the offending bytes, which may be invalid UTF-8 (json_string would refuse the text). */
    for (char *p = err.text; *p; p++)
      if ((unsigned char)*p >= 0x80) *p = '?';
    json_object_set_new(d, "reason", json_string(err.text));
    armor_reply_error(r, 400, "BAD_REQUEST", "Malformed JSON body", d);
    return false;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    armor_reply_error(r, 400, "BAD_REQUEST", "The JSON body must be an object", NULL);
    return false;
  }
  r->json = j;
  return true;
}

/* ================================================================ dispatch */

static void run_async(void *arg) {
  struct ctx *c = arg;
  c->req.route->handler(&c->req);
  atomic_store(&c->async_done, 1);
  MHD_resume_connection(c->conn);
}

static enum MHD_Result dispatch(struct ctx *c) {
  struct armor_req *r = &c->req;
  if (c->early_status) {
    /* OAuth/OIDC endpoints answer errors in the RFC 6749 shape, refusals before the handler included. */
    if (r->path && (!strncmp(r->path, "/oauth2/", 8) || !strncmp(r->path, "/connect/", 9))) {
      const char *desc = "No such endpoint";
      switch (c->early_status) {
      case 413: desc = "Request body is too large"; break;
      case 431: desc = "Request headers are too large"; break;
      case 400: desc = "Conflicting Content-Length or Transfer-Encoding headers"; break;
      case 405:
        desc = "Method not allowed";
        armor_reply_header(r, "Allow", c->allow);
        break;
      default: break;
      }
      int st = c->early_status == 413 || c->early_status == 431 || c->early_status == 400 || c->early_status == 405
                 ? c->early_status
                 : 404;
      armor_reply_oauth_error(r, st, "invalid_request", desc);
      return send_reply(c);
    }
    switch (c->early_status) {
    case 413: armor_reply_error(r, 413, "PAYLOAD_TOO_LARGE", "Request body is too large", NULL); break;
    case 431: armor_reply_error(r, 431, "BAD_REQUEST", "Request headers are too large", NULL); break;
    case 400:
      armor_reply_error(r, 400, "BAD_REQUEST", "Conflicting Content-Length or Transfer-Encoding headers", NULL);
      break;
    case 405: {
      armor_reply_header(r, "Allow", c->allow);
      json_t *d = json_object();
      json_t *methods = json_array();
      for (const char *p = c->allow; *p;) {
        size_t n = strcspn(p, ", ");
        if (n) json_array_append_new(methods, json_stringn(p, n));
        p += n;
        p += strspn(p, ", ");
      }
      json_object_set_new(d, "allow", methods);
      armor_reply_error(r, 405, "METHOD_NOT_ALLOWED", "Method not allowed", d);
      break;
    }
    default: armor_reply_error(r, 404, "NOT_FOUND", "No such route", NULL); break;
    }
    return send_reply(c);
  }
  r->body = c->body.data ? c->body.data : "";
  r->body_len = c->body.len;
  if (!prepare_body(c)) return send_reply(c);
  if (r->route->flags & ROUTE_AUTH) {
    if (!authenticator) {
      armor_reply_error(r, 401, "UNAUTHORIZED", "Authentication required", NULL);
      return send_reply(c);
    }
    if (!authenticator(r)) {
      if (!r->replied) armor_reply_error(r, 401, "UNAUTHORIZED", "Authentication required", NULL);
      return send_reply(c);
    }
    if (r->route->perm && !armor_require_perm_or_reply(r, r->route->perm)) return send_reply(c);
  }
  if (r->route->flags & ROUTE_SLOW) {
    c->state = ST_ASYNC;
    MHD_suspend_connection(c->conn);
    if (!armor_workers_submit(run_async, c)) {
      MHD_resume_connection(c->conn);
      armor_reply_header(r, "Retry-After", "1");
      armor_reply_error(r, 503, "UNAVAILABLE", "Server is busy; retry shortly", NULL);
      atomic_store(&c->async_done, 1);
    }
    return MHD_YES;
  }
  r->route->handler(r);
  return send_reply(c);
}

static void new_request_id(struct armor_req *r) {
  const char *given = armor_req_header(r, "X-Request-Id");
  if (given && sane_request_id(given)) {
    memcpy(r->request_id, given, strlen(given) + 1); /* at most 64 characters */
    return;
  }
  /* The node's 8 random hex digits, then a 12-digit hex counter (formatted by hand: this runs on every request).
     Each thread takes its counter values 256 at a time, so the threads do not share the counter's cache line on
     every request: ids stay unique, in order within a thread. */
  static _Thread_local unsigned long long id_next, id_end;
  if (id_next == id_end) {
    id_next = atomic_fetch_add_explicit(&reqid_counter, 256, memory_order_relaxed);
    id_end = id_next + 256;
  }
  unsigned long long n = id_next++;
  memcpy(r->request_id, reqid_prefix, 8);
  for (int i = 19; i >= 8; i--, n >>= 4) r->request_id[i] = "0123456789abcdef"[n & 15];
  r->request_id[20] = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)cls;
  (void)version;
  struct ctx *c = *con_cls;
  if (!c) {
    /* malloc and memset rather than calloc: glibc's calloc skips the per-thread cache, and this runs on
       every request. */
    c = armor_malloc(sizeof *c);
    memset(c, 0, sizeof *c);
    *con_cls = c;
    atomic_fetch_add_explicit(&inflight[armor_shard()].n, 1, memory_order_relaxed);
    c->conn = conn;
    c->start_us = armor_now_us();
    c->route_index = (size_t)-1;
    struct armor_req *r = &c->req;
    r->arena = armor_arena_new();
    r->method = method;
    r->path = url;
    r->status = 0;
    const union MHD_ConnectionInfo *tls = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_PROTOCOL);
    r->tls = opts.tls_cert_pem && tls;
    struct kv_collect hc = {r, armor_arena_alloc(r->arena, sizeof(struct armor_kv) * MAX_KV), 0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_kv, &hc);
    r->headers = hc.kv;
    r->nheaders = hc.n;
    struct kv_collect qc = {r, armor_arena_alloc(r->arena, sizeof(struct armor_kv) * MAX_KV), 0, 0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_kv, &qc);
    r->query = qc.kv;
    r->nquery = qc.n;
    new_request_id(r);
    set_client_ip(c);
    armor_buf_init(&c->body, opts.max_body);
    int ncl = 0, nte = 0;
    for (int i = 0; i < hc.n; i++) {
      int c0 = hc.kv[i].name[0] | 0x20;
      if (c0 == 'c' && !strcasecmp(hc.kv[i].name, "Content-Length")) ncl++;
      else if (c0 == 't' && !strcasecmp(hc.kv[i].name, "Transfer-Encoding")) nte++;
    }
    if (hc.bytes > MAX_HEADER_BYTES || hc.n >= MAX_KV) {
      c->early_status = 431;
    } else if (ncl > 1 || (ncl && nte)) {
      /* Two framings (libmicrohttpd takes the first Content-Length, a proxy may take another): refuse at once,
         before the body, so that the connection closes and nothing after the headers is read as a request. */
      c->early_status = 400;
      return dispatch(c);
    } else {
      int m = armor_router_match(r->arena, method, url, &r->route, &c->route_index, r->params, &r->nparams, c->allow,
                                 sizeof c->allow);
      if (m != 200) {
        c->early_status = m;
        r->route = NULL;
      } else {
        c->max_body = r->route->max_body ? r->route->max_body : opts.max_body;
        c->body.max = c->max_body + 1;
        const char *cl = armor_req_header(r, "Content-Length");
        long long n = 0;
        bool have_cl = cl && armor_parse_int(cl, 0, (long long)1 << 50, &n);
        if (have_cl && (size_t)n > c->max_body) {
          /* Refuse at once without reading the body; the connection then closes. */
          c->early_status = 413;
          return dispatch(c);
        }
        if (have_cl && n > 0) {
          /* The announced body fits: one allocation of its size instead of growing the buffer. */
          c->body.data = armor_malloc((size_t)n + 1);
          c->body.cap = (size_t)n + 1;
        }
      }
    }
    c->state = ST_BODY;
    return MHD_YES;
  }
  if (*upload_data_size) {
    /* libmicrohttpd accepts an answer only before the body (first call) or after all of it; in between the
       choice is to read on or to close the connection. */
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (c->state != ST_BODY) return MHD_YES; /* answered already; the rest is discarded */
    if (opts.request_timeout > 0 && armor_now_us() - c->start_us > (int64_t)opts.request_timeout * 1000000) {
      /* A client that trickles its body may not hold the connection past the request timeout. */
      armor_reply_error(&c->req, 408, "BAD_REQUEST", "The request took too long to arrive", NULL);
      c->state = ST_DONE;
      return MHD_NO;
    }
    if (c->early_status) {
      /* 404/405/413: read and drop, answer at the end; a sender that does not stop is cut off. */
      c->discarded += n;
      return c->discarded > MAX_DISCARD ? MHD_NO : MHD_YES;
    }
    if (!armor_buf_append(&c->body, upload_data, n)) {
      c->early_status = 413;
      c->discarded = c->body.len + n;
      armor_buf_free(&c->body);
    }
    return MHD_YES;
  }
  if (c->state == ST_ASYNC) {
    if (!atomic_load(&c->async_done)) return MHD_YES;
    return send_reply(c);
  }
  if (c->state == ST_DONE) return MHD_YES;
  return dispatch(c);
}

/* Appends to an access line; `end` is one past the last byte that may be written. */
static char *put(char *o, const char *end, const char *s, size_t n) {
  if (n > (size_t)(end - o)) n = (size_t)(end - o);
  memcpy(o, s, n);
  return o + n;
}

static char *put_uint(char *o, const char *end, unsigned long long v, int min_digits) {
  char d[24];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v || n < min_digits);
  while (n && o < end) *o++ = d[--n];
  return o;
}

/*
 * One access line: `TIME access IP "METHOD PATH" STATUS 1.234ms id=ID[ aborted]`. Formatted by hand (snprintf
 * was the largest user-space cost of a small request). Request data is never a format string; control
 * characters and quotes in the path become '?', and the path is cut at 255 bytes.
 */
static void access_line(const struct armor_req *r, int status, int64_t us, enum MHD_RequestTerminationCode toe) {
  char line[512];
  char *o = line;
  const char *end = line + sizeof line - 1; /* room for the newline */
  /* The time text changes once a second: each thread keeps its last one. */
  static _Thread_local int64_t ts_sec = -1;
  static _Thread_local char ts[32];
  int64_t now = armor_time();
  if (now != ts_sec) {
    armor_time_rfc3339(now, ts);
    ts_sec = now;
  }
  o = put(o, end, ts, strlen(ts));
  o = put(o, end, " access ", 8);
  o = put(o, end, r->client_ip, strlen(r->client_ip));
  o = put(o, end, " \"", 2);
  o = put(o, end, r->method, strlen(r->method));
  o = put(o, end, " ", 1);
  size_t j = 0;
  for (const char *p = r->path; p && *p && j < 255 && o < end; p++, j++)
    *o++ = ((unsigned char)*p < 0x20 || *p == '"' || (unsigned char)*p == 0x7f) ? '?' : *p;
  o = put(o, end, "\" ", 2);
  o = put_uint(o, end, (unsigned)status, 1);
  o = put(o, end, " ", 1);
  if (us < 0) us = 0;
  o = put_uint(o, end, (unsigned long long)(us / 1000), 1);
  o = put(o, end, ".", 1);
  o = put_uint(o, end, (unsigned long long)(us % 1000), 3);
  o = put(o, end, "ms id=", 6);
  o = put(o, end, r->request_id, strlen(r->request_id));
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) o = put(o, end, " aborted", 8);
  *o++ = '\n';
  armor_log_access(line, (size_t)(o - line));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  struct ctx *c = *con_cls;
  if (!c) return;
  struct armor_req *r = &c->req;
  if (c->reused) c->reused->busy = false; /* libmicrohttpd lets go of it right after this callback */
  int64_t us = armor_now_us() - c->start_us;
  int status = r->replied ? r->status : 499;
  metrics_record(c->route_index == (size_t)-1 ? metric_routes : c->route_index, status, us);
  if (opts.access_log && !(r->route && (r->route->flags & ROUTE_NOLOG))) access_line(r, status, us, toe);
  if (r->json) json_decref(r->json);
  armor_free(r->resp_body);
  armor_buf_free(&c->body);
  armor_arena_free(r->arena);
  armor_free(c);
  *con_cls = NULL;
  atomic_fetch_sub_explicit(&inflight[armor_shard()].n, 1, memory_order_release);
}

/* MHD's own errors (e.g. malformed request lines) go to our log, not stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n && buf[n - 1] == '\n') buf[--n] = 0;
  armor_debug("http: %s", buf);
}

/* Creates, binds and listens on the configured address, so that errors name their cause. -1 with err set. */
static int open_listener(char *err, size_t errlen, bool *ipv6) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  const char *host = !strcmp(opts.host, "localhost") ? "127.0.0.1" : opts.host;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)opts.port);
    sl = sizeof *s4;
    *ipv6 = false;
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)opts.port);
    sl = sizeof *s6;
    *ipv6 = true;
  } else {
    armor_fmt(err, errlen, "cannot parse listen address %s", opts.host);
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    armor_fmt(err, errlen, "cannot create a socket: %s", strerror(errno));
    return -1;
  }
  int one = 1;
  /* SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; it does not allow two
     listeners on one port (that needs SO_REUSEPORT, which is not set). */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (*ipv6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE)
      armor_fmt(err, errlen, "cannot listen on %s port %d: the address is already in use", opts.host, opts.port);
    else
      armor_fmt(err, errlen, "cannot listen on %s port %d: %s", opts.host, opts.port, strerror(e));
    return -1;
  }
  return fd;
}

static bool listen_ipv6;

int armor_http_listen(const char *host, int port, char *err, size_t errlen) {
  if (listen_fd >= 0) return 0;
  opts.host = host;
  opts.port = port;
  listen_fd = open_listener(err, errlen, &listen_ipv6);
  return listen_fd < 0 ? -1 : 0;
}

void armor_http_close(void) {
  if (daemon_ || listen_fd < 0) return;
  close(listen_fd);
  listen_fd = -1;
}

int armor_http_start(const struct armor_http_opts *o, char *err, size_t errlen) {
  opts = *o;
  if (armor_http_listen(o->host, o->port, err, errlen)) return -1;
  bool ipv6 = listen_ipv6;
  armor_router_init();
  metric_routes = armor_routes_count();
  metric_cells = (metric_routes + 1) * NSTATUS;
  if (!metrics) metrics = armor_calloc(ARMOR_SHARDS * metric_cells, sizeof *metrics);
  unsigned char rb[4];
  randombytes_buf(rb, sizeof rb);
  armor_hex(rb, sizeof rb, reqid_prefix);
  pool_start(opts.workers, opts.queue);
  if (opts.access_log) armor_log_start_flusher();

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (ipv6) flags |= MHD_USE_IPv6;
  if (opts.tls_cert_pem) flags |= MHD_USE_TLS;
  struct MHD_OptionItem tlsopts[] = {
      {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)opts.tls_cert_pem},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)opts.tls_key_pem},
      {MHD_OPTION_END, 0, NULL},
  };
  unsigned per_ip = (unsigned)(opts.max_connections / 2 > 0 ? opts.max_connections / 2 : 1);
  daemon_ = MHD_start_daemon(flags, (uint16_t)opts.port, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET,
                             listen_fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opts.threads > 0 ? opts.threads : 1),
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)opts.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)opts.conn_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL_BYTES,
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                             NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY,
                             opts.tls_cert_pem ? tlsopts : &tlsopts[2], MHD_OPTION_END);
  if (!daemon_) {
    close(listen_fd);
    listen_fd = -1;
    if (opts.tls_cert_pem)
      armor_fmt(err, errlen,
                "cannot start HTTPS: the certificate or private key is not usable (check the PEM "
                "files and that the key matches the certificate)");
    else
      armor_fmt(err, errlen, "cannot start the HTTP server on %s port %d", opts.host, opts.port);
    armor_log_stop_flusher();
    pool_join();
    return -1;
  }
  return 0;
}

void armor_http_stop(int grace_ms) {
  if (!daemon_) return;
  /* Stop accepting; requests already received, and keep-alive connections, are still served. */
  MHD_socket fd = MHD_quiesce_daemon(daemon_);
  if (fd != MHD_INVALID_SOCKET) close(fd);
  listen_fd = -1;
  int64_t deadline = armor_now_ms() + grace_ms;
  while (armor_http_inflight() > 0 && armor_now_ms() < deadline) usleep(5000);
  if (armor_http_inflight() > 0)
    armor_warn("http: %d request(s) still in flight after %d ms", armor_http_inflight(), grace_ms);
  /* Workers finish what they hold (and resume their connections) before the daemon goes away. */
  pool_join();
  while (armor_http_inflight() > 0 && armor_now_ms() < deadline + 1000) usleep(5000);
  MHD_stop_daemon(daemon_);
  daemon_ = NULL;
  armor_log_stop_flusher();
}
