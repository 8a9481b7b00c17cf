/*
 * Allocation wrappers, logging, the request arena and small helpers.
 * Must never log request data as a format string.
 */
#include "core/armor.h"
#include "core/assets.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *armor_rc_name(int rc) {
  switch (rc) {
  case ARMOR_OK: return "OK";
  case ARMOR_INVALID: return "INVALID";
  case ARMOR_NOT_FOUND: return "NOT_FOUND";
  case ARMOR_CONFLICT: return "CONFLICT";
  case ARMOR_DENIED: return "DENIED";
  case ARMOR_UNAUTHORIZED: return "UNAUTHORIZED";
  case ARMOR_DB: return "DB";
  case ARMOR_BUSY: return "BUSY";
  case ARMOR_LIMITED: return "LIMITED";
  case ARMOR_EXPIRED: return "EXPIRED";
  default: return "INTERNAL";
  }
}

/* ---------------------------------------------------------------- alloc */

static void oom(void) {
  static const char msg[] = "armor: out of memory\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  abort();
}

void *armor_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom();
  return p;
}

void *armor_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom();
  return p;
}

void *armor_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom();
  return q;
}

char *armor_strdup(const char *s) {
  if (!s) return NULL;
  char *p = strdup(s);
  if (!p) oom();
  return p;
}

char *armor_strndup(const char *s, size_t n) {
  char *p = strndup(s, n);
  if (!p) oom();
  return p;
}

void armor_free(void *p) { free(p); }

void armor_free_secret(void *p, size_t n) {
  if (!p) return;
  sodium_memzero(p, n);
  free(p);
}

void armor_free_secret_str(char *s) {
  if (s) armor_free_secret(s, strlen(s));
}

void armor_alloc_init(void) { json_set_alloc_funcs(armor_malloc, armor_free); }

/* ---------------------------------------------------------------- logging */

int armor_log_level = ARMOR_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

int armor_log_level_parse(const char *s) {
  if (!s) return -1;
  if (!strcmp(s, "error")) return ARMOR_LOG_ERR;
  if (!strcmp(s, "warning") || !strcmp(s, "warn")) return ARMOR_LOG_WARNING;
  if (!strcmp(s, "info")) return ARMOR_LOG_INFO;
  if (!strcmp(s, "debug")) return ARMOR_LOG_DEBUG;
  return -1;
}

void armor_log_line(const char *line, size_t len) {
  /* One write per line keeps lines whole across threads. */
  ssize_t w = write(2, line, len);
  (void)w;
}

/*
 * Access-log lines are appended to a buffer of the thread that served the
 * request, which a flusher thread writes every 50 ms (or the thread itself
 * when it passes 32 KiB): one write(2) per request was a sixth of the CPU of a
 * small request, and one shared buffer made the HTTP threads contend for its
 * lock. Ordinary log lines flush every buffer first, so the log keeps its
 * order; lines of different threads within one 50 ms window may interleave by
 * thread. What is lost in a crash is at most the last 50 ms of access lines;
 * armor_log_flush runs at shutdown. Buffers live as long as the process (one
 * per thread that ever served a request) and stay on the list below.
 */
#define ACCESS_BUF (48 * 1024)
#define ACCESS_FLUSH_AT (32 * 1024)
struct access_buf {
  pthread_mutex_t lock;
  struct access_buf *next;
  size_t len;
  char data[ACCESS_BUF];
};
static struct access_buf *access_bufs; /* guarded by log_lock */
static _Thread_local struct access_buf *my_access_buf;
static pthread_t flusher;
static bool flusher_running, flusher_stop;
static pthread_cond_t flusher_cv = PTHREAD_COND_INITIALIZER;

/* Writes one buffer out. Caller holds b->lock. */
static void access_write(struct access_buf *b) {
  size_t off = 0;
  while (off < b->len) {
    ssize_t w = write(2, b->data + off, b->len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  b->len = 0;
}

/* Writes every buffer out. Caller holds log_lock. */
static void access_flush_locked(void) {
  for (struct access_buf *b = access_bufs; b; b = b->next) {
    pthread_mutex_lock(&b->lock);
    if (b->len) access_write(b);
    pthread_mutex_unlock(&b->lock);
  }
}

void armor_log_access(const char *line, size_t len) {
  struct access_buf *b = my_access_buf;
  if (!b) {
    b = armor_malloc(sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    b->len = 0;
    pthread_mutex_lock(&log_lock);
    b->next = access_bufs;
    access_bufs = b;
    pthread_mutex_unlock(&log_lock);
    my_access_buf = b;
  }
  pthread_mutex_lock(&b->lock);
  if (len > ACCESS_BUF - b->len) access_write(b);
  if (len > ACCESS_BUF) {
    armor_log_line(line, len);
  } else {
    memcpy(b->data + b->len, line, len);
    b->len += len;
    /* Without the flusher (tools, tests) a line goes out at once. */
    if (!__atomic_load_n(&flusher_running, __ATOMIC_RELAXED) || b->len >= ACCESS_FLUSH_AT) access_write(b);
  }
  pthread_mutex_unlock(&b->lock);
}

void armor_log_flush(void) {
  pthread_mutex_lock(&log_lock);
  access_flush_locked();
  pthread_mutex_unlock(&log_lock);
}

static void *flusher_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&log_lock);
  while (!flusher_stop) {
    struct timespec ts = armor_deadline_ms(50);
    pthread_cond_timedwait(&flusher_cv, &log_lock, &ts);
    access_flush_locked();
  }
  access_flush_locked();
  pthread_mutex_unlock(&log_lock);
  return NULL;
}

void armor_log_start_flusher(void) {
  pthread_mutex_lock(&log_lock);
  bool start = !flusher_running;
  flusher_stop = false;
  pthread_mutex_unlock(&log_lock);
  if (start && pthread_create(&flusher, NULL, flusher_main, NULL) == 0) {
    pthread_mutex_lock(&log_lock);
    __atomic_store_n(&flusher_running, true, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&log_lock);
  }
}

void armor_log_stop_flusher(void) {
  pthread_mutex_lock(&log_lock);
  bool running = flusher_running;
  flusher_stop = true;
  pthread_cond_signal(&flusher_cv);
  pthread_mutex_unlock(&log_lock);
  if (running) pthread_join(flusher, NULL);
  pthread_mutex_lock(&log_lock);
  __atomic_store_n(&flusher_running, false, __ATOMIC_RELAXED);
  access_flush_locked();
  pthread_mutex_unlock(&log_lock);
}

void armor_log(int level, const char *fmt, ...) {
  if (level > armor_log_level) return;
  char buf[2048];
  char ts[32];
  armor_time_rfc3339(armor_time(), ts);
  const char *lv = level <= ARMOR_LOG_ERR       ? "error"
                   : level == ARMOR_LOG_WARNING ? "warn"
                   : level == ARMOR_LOG_INFO    ? "info"
                                                : "debug";
  int n = snprintf(buf, sizeof buf, "%s %s ", ts, lv);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  /* Control characters from any source are neutralised so a line stays one line. */
  for (size_t i = (size_t)n; i < len; i++)
    if ((unsigned char)buf[i] < 0x20) buf[i] = ' ';
  buf[len++] = '\n';
  pthread_mutex_lock(&log_lock);
  access_flush_locked();
  armor_log_line(buf, len);
  pthread_mutex_unlock(&log_lock);
}

/* ---------------------------------------------------------------- arena */

struct arena_chunk {
  struct arena_chunk *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
};

struct armor_arena {
  struct arena_chunk *head;
};

#define ARENA_CHUNK 4096

/*
 * Every request has an arena, and a 4 KiB chunk is past malloc's per-thread
 * cache: each thread keeps a few freed standard chunks for the next arena.
 */
#define ARENA_KEEP 4
struct arena_spares {
  struct arena_chunk *head;
  int n;
  bool registered;
};
static _Thread_local struct arena_spares spares;
/* Set once per thread to &spares, so that the spares are freed when the thread ends. */
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_spare_free(void *p) {
  struct arena_spares *s = p;
  for (struct arena_chunk *c = s->head, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  s->head = NULL;
  s->n = 0;
}

static void arena_key_init(void) { pthread_key_create(&arena_key, arena_spare_free); }

/* malloc, not calloc: glibc's calloc skips the per-thread cache, and every request makes an arena. */
struct armor_arena *armor_arena_new(void) {
  struct armor_arena *a = armor_malloc(sizeof *a);
  a->head = NULL;
  return a;
}

void armor_arena_free(struct armor_arena *a) {
  if (!a) return;
  struct arena_chunk *c = a->head;
  while (c) {
    struct arena_chunk *n = c->next;
    if (c->size == ARENA_CHUNK && spares.n < ARENA_KEEP) {
      if (!spares.registered) {
        pthread_once(&arena_once, arena_key_init);
        pthread_setspecific(arena_key, &spares);
        spares.registered = true;
      }
      c->next = spares.head;
      spares.head = c;
      spares.n++;
    } else {
      free(c);
    }
    c = n;
  }
  free(a);
}

void *armor_arena_alloc(struct armor_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  struct arena_chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    if (size == ARENA_CHUNK && spares.head) {
      c = spares.head;
      spares.head = c->next;
      spares.n--;
    } else {
      c = armor_malloc(sizeof *c + size);
    }
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

char *armor_arena_strndup(struct armor_arena *a, const char *s, size_t n) {
  char *p = armor_arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *armor_arena_strdup(struct armor_arena *a, const char *s) {
  if (!s) return NULL;
  return armor_arena_strndup(a, s, strlen(s));
}

char *armor_arena_printf(struct armor_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return armor_arena_strdup(a, "");
  char *p = armor_arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

/* ---------------------------------------------------------------- helpers */

struct timespec armor_deadline_ms(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

int64_t armor_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t armor_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t armor_time(void) { return (int64_t)time(NULL); }

unsigned armor_shard(void) {
  static atomic_uint next;
  static _Thread_local int mine = -1;
  if (mine < 0) mine = (int)(atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % ARMOR_SHARDS);
  return (unsigned)mine;
}

void armor_time_rfc3339(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void armor_uuid_new(char out[37]) {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  static const char hx[] = "0123456789abcdef";
  int j = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[j++] = '-';
    out[j++] = hx[b[i] >> 4];
    out[j++] = hx[b[i] & 15];
  }
  out[j] = 0;
}

bool armor_uuid_valid(const char *s) {
  if (!s || strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!isxdigit((unsigned char)s[i])) {
      return false;
    }
  }
  return true;
}

void armor_hex(const unsigned char *in, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[in[i] >> 4];
    out[2 * i + 1] = hx[in[i] & 15];
  }
  out[2 * n] = 0;
}

void armor_random_b64url(size_t nbytes, char *out, size_t outlen) {
  unsigned char buf[128];
  if (nbytes > sizeof buf) nbytes = sizeof buf;
  randombytes_buf(buf, nbytes);
  sodium_bin2base64(out, outlen, buf, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(buf, sizeof buf);
}

void armor_sha256_hex(const void *data, size_t n, char out[65]) {
  unsigned char d[32];
  SHA256(data, n, d);
  armor_hex(d, 32, out);
}

bool armor_str_eq_ct(const char *a, const char *b) {
  if (!a || !b) return false;
  size_t la = strlen(a), lb = strlen(b);
  /* Compare digests so that the time does not depend on where strings differ. */
  unsigned char da[32], db[32];
  SHA256((const unsigned char *)a, la, da);
  SHA256((const unsigned char *)b, lb, db);
  return sodium_memcmp(da, db, 32) == 0 && la == lb;
}

bool armor_fmt(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n >= 0 && (size_t)n < size;
}

bool armor_parse_int(const char *s, long long min, long long max, long long *out) {
  if (!s || !*s) return false;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno || !end || *end || v < min || v > max) return false;
  *out = v;
  return true;
}

bool armor_streq_ci(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }

void armor_buf_init(struct armor_buf *b, size_t max) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->max = max;
}

bool armor_buf_append(struct armor_buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->max) return false;
  if (b->len + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap * 2 : 256;
    while (c < b->len + n + 1) c *= 2;
    if (c > b->max) c = b->max;
    b->data = armor_realloc(b->data, c);
    b->cap = c;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
  return true;
}

bool armor_buf_printf(struct armor_buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return false;
  if ((size_t)n < sizeof tmp) return armor_buf_append(b, tmp, (size_t)n);
  char *big = armor_malloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  bool ok = armor_buf_append(b, big, (size_t)n);
  free(big);
  return ok;
}

void armor_buf_append_html(struct armor_buf *b, const char *s) {
  for (const char *p = s ? s : ""; *p; p++) {
    switch (*p) {
    case '&': armor_buf_append(b, "&amp;", 5); break;
    case '<': armor_buf_append(b, "&lt;", 4); break;
    case '>': armor_buf_append(b, "&gt;", 4); break;
    case '"': armor_buf_append(b, "&quot;", 6); break;
    case '\'': armor_buf_append(b, "&#39;", 5); break;
    default: armor_buf_append(b, p, 1);
    }
  }
}

uint64_t armor_siphash64(const void *p, size_t n, const unsigned char *key) {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, p, n, key);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}

void armor_buf_append_json_str(struct armor_buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  armor_buf_append(b, "\"", 1);
  const char *p = s ? s : "", *run = p;
  for (; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    armor_buf_append(b, run, (size_t)(p - run));
    run = p + 1;
    char esc[6] = {'\\', 0};
    switch (ch) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[ch >> 4];
      esc[5] = hex[ch & 15];
      armor_buf_append(b, esc, 6);
      continue;
    }
    armor_buf_append(b, esc, 2);
  }
  armor_buf_append(b, run, (size_t)(p - run));
  armor_buf_append(b, "\"", 1);
}

void armor_buf_free(struct armor_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

const struct armor_asset *armor_asset_find(const char *kind, const char *name) {
  for (const struct armor_asset *a = armor_assets; a->kind; a++)
    if (!strcmp(a->kind, kind) && !strcmp(a->name, name)) return a;
  return NULL;
}
