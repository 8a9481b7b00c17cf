/*
 * Shared helpers of the libFuzzer targets: the input split into NUL-terminated
 * pieces, and one-time library initialisation. Targets link armorlib built by
 * fuzz/run.sh (clang, ASan+UBSan, -fsanitize=fuzzer-no-link for coverage).
 */
#ifndef ARMOR_FUZZ_COMMON_H
#define ARMOR_FUZZ_COMMON_H
#include "core/armor.h"

#include <stdlib.h>
#include <string.h>

/* Copies data into a NUL-terminated heap string (embedded NULs end it early, as C callers see it). */
static inline char *fz_str(const uint8_t *data, size_t n) {
  char *s = malloc(n + 1);
  if (n) memcpy(s, data, n);
  s[n] = 0;
  return s;
}

/* Splits the input at the first byte equal to sep: *a gets the part before, *b the rest (both malloc'ed). */
static inline void fz_split(const uint8_t *data, size_t n, uint8_t sep, char **a, char **b) {
  const uint8_t *p = memchr(data, sep, n);
  size_t k = p ? (size_t)(p - data) : n;
  *a = fz_str(data, k);
  *b = p ? fz_str(p + 1, n - k - 1) : fz_str((const uint8_t *)"", 0);
}

#endif
