/*
 * Small parsers of src/core/util.c that see request data: armor_parse_int
 * (Content-Length, limit=...), armor_uuid_valid (path ids), armor_streq_ci,
 * armor_str_eq_ct, and the arena string helpers. The first byte picks the
 * bounds; oracles compare with strtoll and a reference UUID check.
 */
#include "fuzz_common.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  armor_alloc_init();
  return 0;
}

static bool ref_uuid(const char *s) {
  if (strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!isxdigit((unsigned char)s[i]))
      return false;
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096) return 0;
  static const long long mins[] = {0, 1, -5, LLONG_MIN, 0};
  static const long long maxs[] = {(long long)1 << 50, 200, 5, LLONG_MAX, 0};
  int b = data[0] % 5;
  char *s = fz_str(data + 1, size - 1);
  long long v = 12345;
  bool ok = armor_parse_int(s, mins[b], maxs[b], &v);
  if (ok) {
    assert(v >= mins[b] && v <= maxs[b]);
    errno = 0;
    char *end;
    long long w = strtoll(s, &end, 10);
    assert(errno == 0 && end != s && w == v);
  }
  bool u = armor_uuid_valid(s);
  /* Armor's check may be stricter (version/variant), never looser. */
  if (u) assert(ref_uuid(s));
  (void)armor_streq_ci(s, "bearer");
  (void)armor_str_eq_ct(s, "3f1c6a0e-5d2b-4d7e-9a61-0c7f2b9d8e11");
  struct armor_arena *a = armor_arena_new();
  char *d = armor_arena_strndup(a, s, size);
  assert(!strcmp(d, s));
  char *p = armor_arena_printf(a, "%s|%zu", s, size);
  assert(p && !strncmp(p, s, strlen(s)));
  armor_arena_free(a);
  free(s);
  return 0;
}
