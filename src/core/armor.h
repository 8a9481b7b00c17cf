/*
 * Project-wide basics: result codes, the allocator wrappers that abort on
 * out-of-memory, logging, the per-request arena and small helpers (UUIDs,
 * time, hex, base64url). Nothing here knows HTTP or SQL.
 */
#ifndef ARMOR_H
#define ARMOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifndef ARMOR_VERSION
#define ARMOR_VERSION "0.0.0"
#endif

/* One result enum for every layer. Not found is an outcome, not a failure. */
enum armor_rc {
  ARMOR_OK = 0,
  ARMOR_INVALID = -1,      /* input rejected (400/422) */
  ARMOR_NOT_FOUND = -2,    /* 404 */
  ARMOR_CONFLICT = -3,     /* 409, unique key taken */
  ARMOR_DENIED = -4,       /* 403 */
  ARMOR_UNAUTHORIZED = -5, /* 401 */
  ARMOR_DB = -6,           /* storage failure (503/500) */
  ARMOR_BUSY = -7,         /* overloaded, retry later (503) */
  ARMOR_LIMITED = -8,      /* rate limited (429) */
  ARMOR_EXPIRED = -9,      /* token expired (401 TOKEN_EXPIRED) */
  ARMOR_INTERNAL = -10,    /* bug or unexpected failure (500) */
};

const char *armor_rc_name(int rc);

/* ---- allocation: every wrapper aborts on out-of-memory ---- */
void *armor_malloc(size_t n);
void *armor_calloc(size_t n, size_t size);
void *armor_realloc(void *p, size_t n);
char *armor_strdup(const char *s);
char *armor_strndup(const char *s, size_t n);
void armor_free(void *p);
/* Wipes n bytes at p and frees p; NULL is a no-op. */
void armor_free_secret(void *p, size_t n);
/* Wipes strlen(s) bytes and frees s; NULL is a no-op. */
void armor_free_secret_str(char *s);
/* Points jansson at the wrappers above. */
void armor_alloc_init(void);

/* ---- logging (syslog levels) ---- */
enum armor_log_level { ARMOR_LOG_ERR = 3, ARMOR_LOG_WARNING = 4, ARMOR_LOG_INFO = 6, ARMOR_LOG_DEBUG = 7 };
extern int armor_log_level;
void armor_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define armor_err(...) armor_log(ARMOR_LOG_ERR, __VA_ARGS__)
#define armor_warn(...) armor_log(ARMOR_LOG_WARNING, __VA_ARGS__)
#define armor_info(...) armor_log(ARMOR_LOG_INFO, __VA_ARGS__)
#define armor_debug(...) armor_log(ARMOR_LOG_DEBUG, __VA_ARGS__)
/* Parses "error", "warning", "info", "debug"; -1 when unknown. */
int armor_log_level_parse(const char *s);
/* Writes one raw line (already formatted, newline added) to the log stream. */
void armor_log_line(const char *line, size_t len);
/* Appends an access-log line (newline included) to the buffered access log; written within 50 ms. */
void armor_log_access(const char *line, size_t len);
/* Writes buffered access-log lines now. */
void armor_log_flush(void);
/* Starts/stops the thread that flushes the access log every 50 ms (without it, lines are written at once). */
void armor_log_start_flusher(void);
void armor_log_stop_flusher(void);

/* ---- per-request arena: everything released at once ---- */
struct armor_arena;
struct armor_arena *armor_arena_new(void);
void armor_arena_free(struct armor_arena *a);
void *armor_arena_alloc(struct armor_arena *a, size_t n);
char *armor_arena_strdup(struct armor_arena *a, const char *s);
char *armor_arena_strndup(struct armor_arena *a, const char *s, size_t n);
char *armor_arena_printf(struct armor_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- helpers ---- */
/* Monotonic milliseconds / microseconds, wall-clock seconds. */
int64_t armor_now_ms(void);
int64_t armor_now_us(void);
/* The CLOCK_REALTIME time ms milliseconds from now: the deadline of a pthread_cond_timedwait. */
struct timespec armor_deadline_ms(int64_t ms);
int64_t armor_time(void);
/*
 * Counters bumped on hot paths by several threads are kept in ARMOR_SHARDS copies, each on its own cache
 * lines: a thread adds to its own shard (taken in turn when the thread first asks) and a reader adds the
 * shards up, so the HTTP threads do not pass one cache line back and forth on every request.
 */
#define ARMOR_SHARDS 8
unsigned armor_shard(void);
/* Writes an RFC 3339 UTC time ("2026-01-02T03:04:05Z") into out (>= 21 bytes). */
void armor_time_rfc3339(int64_t t, char out[32]);
/* Random UUIDv4 as text (37 bytes with NUL). */
void armor_uuid_new(char out[37]);
bool armor_uuid_valid(const char *s);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void armor_hex(const unsigned char *in, size_t n, char *out);
/* Random bytes as base64url without padding; out needs 4*n/3+4 bytes. */
void armor_random_b64url(size_t nbytes, char *out, size_t outlen);
/* SHA-256 of s as lower-case hex (65 bytes). */
void armor_sha256_hex(const void *data, size_t n, char out[65]);
/* Constant-time equality of two NUL-terminated strings. */
bool armor_str_eq_ct(const char *a, const char *b);
/* Bounded snprintf that never overflows and always terminates; returns true when not truncated. */
bool armor_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses a decimal integer in [min, max]; false when malformed. */
bool armor_parse_int(const char *s, long long min, long long max, long long *out);
/* Case-insensitive ASCII comparison. */
bool armor_streq_ci(const char *a, const char *b);

/* Growable byte buffer with a hard cap. */
struct armor_buf {
  char *data;
  size_t len, cap, max;
};
void armor_buf_init(struct armor_buf *b, size_t max);
/* false when the cap would be exceeded (nothing appended). */
bool armor_buf_append(struct armor_buf *b, const void *p, size_t n);
bool armor_buf_printf(struct armor_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void armor_buf_free(struct armor_buf *b);
/* Appends s (NULL as "") with the HTML special characters & < > " ' escaped. */
void armor_buf_append_html(struct armor_buf *b, const char *s);
/* Keyed SipHash-2-4 of p (for hash-table slots, never for secrets); key is crypto_shorthash_KEYBYTES (16) bytes. */
uint64_t armor_siphash64(const void *p, size_t n, const unsigned char *key);
/* Appends s as a JSON string literal, quotes included: '"', '\\' and control characters escaped, other
   bytes as they are (s must be UTF-8, as every string that came out of jansson is). */
void armor_buf_append_json_str(struct armor_buf *b, const char *s);

#endif
