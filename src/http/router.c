/*
 * Route matching. Patterns are literal segments, "{name}" captures (one
 * segment, never empty) and a trailing "*" for ROUTE_PREFIX routes.
 */
#include "http/router.h"

#include <stdint.h>
#include <string.h>

static size_t nroutes;
static bool test_routes;
static const struct armor_route **flat;
static size_t *prefix_len;

/*
 * Literal patterns (no capture, no '*') are found through a hash of the whole path; only the
 * patterns with captures are scanned. Both lists are in table order and merged by index, so the
 * first route of the table that matches still wins, exactly as a scan of the whole table.
 */
#define LIT_BUCKETS 256 /* a power of two */
static size_t lit_head[LIT_BUCKETS]; /* first literal route index + 1 in the bucket, 0: none */
static size_t *lit_next;             /* next literal route index + 1 in the same bucket */
static size_t *pat_list;             /* indexes of the routes with captures or '*' */
static size_t npat;

static uint32_t path_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

size_t armor_routes_count(void) {
  if (!flat) armor_router_init();
  return nroutes;
}

const struct armor_route *armor_routes_at(size_t i) {
  if (!flat) armor_router_init();
  return i < nroutes ? flat[i] : NULL;
}

void armor_router_enable_test_routes(bool on) { test_routes = on; }

void armor_router_init(void) {
  if (flat) return;
  size_t n = 0;
  for (size_t t = 0; armor_route_tables[t]; t++)
    for (const struct armor_route *r = armor_route_tables[t]; r->method; r++) n++;
  const struct armor_route **f = armor_calloc(n + 1, sizeof *f);
  size_t *pl = armor_calloc(n + 1, sizeof *pl);
  size_t i = 0;
  for (size_t t = 0; armor_route_tables[t]; t++)
    for (const struct armor_route *r = armor_route_tables[t]; r->method; r++) {
      f[i] = r;
      const char *b = strchr(r->pattern, '{');
      const char *s = strchr(r->pattern, '*');
      size_t l = strlen(r->pattern);
      if (b && (size_t)(b - r->pattern) < l) l = (size_t)(b - r->pattern);
      if (s && (size_t)(s - r->pattern) < l) l = (size_t)(s - r->pattern);
      pl[i] = l;
      i++;
    }
  prefix_len = pl;
  lit_next = armor_calloc(n + 1, sizeof *lit_next);
  pat_list = armor_calloc(n + 1, sizeof *pat_list);
  size_t tail[LIT_BUCKETS] = {0};
  for (i = 0; i < n; i++) {
    if (strchr(f[i]->pattern, '{') || (f[i]->flags & ROUTE_PREFIX)) {
      pat_list[npat++] = i;
      continue;
    }
    size_t b = path_hash(f[i]->pattern) & (LIT_BUCKETS - 1);
    if (tail[b]) lit_next[tail[b] - 1] = i + 1;
    else lit_head[b] = i + 1;
    tail[b] = i + 1;
  }
  nroutes = n;
  flat = f;
}

/* Matches one pattern; fills params on success. */
static bool match_one(struct armor_arena *arena, const struct armor_route *rt, const char *path,
                      struct armor_kv *params, int *nparams) {
  const char *p = rt->pattern, *s = path;
  int np = 0;
  while (*p && *s) {
    if (*p == '{') {
      const char *pe = strchr(p, '}');
      if (!pe) return false;
      const char *se = strchr(s, '/');
      size_t sl = se ? (size_t)(se - s) : strlen(s);
      if (sl == 0 || np >= ARMOR_MAX_PARAMS) return false;
      if (params) {
        params[np].name = armor_arena_strndup(arena, p + 1, (size_t)(pe - p - 1));
        params[np].value = armor_arena_strndup(arena, s, sl);
      }
      np++;
      p = pe + 1;
      s += sl;
      continue;
    }
    if (*p == '*' && (rt->flags & ROUTE_PREFIX)) {
      if (params && np < ARMOR_MAX_PARAMS) {
        params[np].name = "*";
        params[np].value = armor_arena_strdup(arena, s);
        np++;
      }
      *nparams = np;
      return true;
    }
    if (*p != *s) return false;
    p++;
    s++;
  }
  if (*p == '*' && !*s && (rt->flags & ROUTE_PREFIX)) {
    if (params && np < ARMOR_MAX_PARAMS) {
      params[np].name = "*";
      params[np].value = "";
      np++;
    }
    *nparams = np;
    return true;
  }
  if (*p || *s) return false;
  *nparams = np;
  return true;
}

/* Appends method to the comma-separated list in allow unless it is there already. */
static void allow_add(char *allow, size_t allowlen, const char *method) {
  size_t ml = strlen(method), alen = strlen(allow);
  for (const char *q = allow; (q = strstr(q, method)); q += ml)
    if ((q == allow || q[-1] == ' ') && (q[ml] == ',' || q[ml] == 0)) return;
  if (alen + ml + 3 > allowlen) return;
  if (alen) {
    memcpy(allow + alen, ", ", 2);
    alen += 2;
  }
  memcpy(allow + alen, method, ml + 1);
}

int armor_router_match(struct armor_arena *arena, const char *method, const char *path, const struct armor_route **out,
                       size_t *index, struct armor_kv *params, int *nparams, char *allow, size_t allowlen) {
  if (!flat) armor_router_init();
  bool head = !strcmp(method, "HEAD");
  if (allowlen) allow[0] = 0;
  bool path_matched = false;
  size_t lit = lit_head[path_hash(path) & (LIT_BUCKETS - 1)], pi = 0;
  for (;;) {
    /* The next candidate in table order: the literal chain or the list of patterns with captures. */
    size_t i;
    bool literal;
    if (lit && (pi >= npat || lit - 1 < pat_list[pi])) {
      i = lit - 1;
      lit = lit_next[i];
      literal = true;
    } else if (pi < npat) {
      i = pat_list[pi++];
      literal = false;
    } else {
      break;
    }
    const struct armor_route *rt = flat[i];
    if ((rt->flags & ROUTE_TEST) && !test_routes) continue;
    int np = 0;
    bool same_method = !strcmp(rt->method, method) || (head && !strcmp(rt->method, "GET"));
    if (literal) {
      if (strcmp(path, rt->pattern)) continue; /* another path in the same bucket */
    } else {
      if (strncmp(path, rt->pattern, prefix_len[i])) continue;
      if (!match_one(arena, rt, path, same_method ? params : NULL, &np)) continue;
    }
    if (same_method) {
      *out = rt;
      *index = i;
      *nparams = np;
      return 200;
    }
    path_matched = true;
    if (allowlen) {
      allow_add(allow, allowlen, rt->method);
      if (!strcmp(rt->method, "GET")) allow_add(allow, allowlen, "HEAD");
    }
  }
  return path_matched ? 405 : 404;
}
