/*
 * The JSON body path of src/http/server.c (prepare_body): the nesting
 * pre-check, then json_loadb with JSON_REJECT_DUPLICATES, then "must be an
 * object". prepare_body and json_depth are static in server.c, so the
 * pre-check below is a verbatim copy of json_depth (keep in sync; an exported
 * helper would let this target call the real code — see fuzz/README.md).
 * Oracles: no sanitizer report (jansson runs only on input the pre-check
 * accepted, as in the server); the pre-check never under-estimates the depth
 * of what jansson accepts, so nothing deeper than MAX_JSON_DEPTH reaches the
 * handlers; the parsed document renders and re-parses (the echo path).
 */
#include "fuzz_common.h"

#include <assert.h>
#include "http/http.h"
#include <jansson.h>
#include <stdbool.h>

#define MAX_JSON_DEPTH 32 /* as in src/http/server.c */

#define json_depth armor_http_json_depth

static int tree_depth(json_t *j) {
  int max = 0;
  if (json_is_object(j)) {
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
      int d = tree_depth(v);
      if (d > max) max = d;
    }
    return max + 1;
  }
  if (json_is_array(j)) {
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
      int d = tree_depth(v);
      if (d > max) max = d;
    }
    return max + 1;
  }
  return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  armor_alloc_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 17) return 0;
  const char *body = (const char *)data;
  int pre = json_depth(body, size);
  if (pre > MAX_JSON_DEPTH) return 0; /* the server answers 400 here */
  json_error_t err;
  json_t *j = json_loadb(body, size, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    /* The 400 details: line, column and reason must render. */
    json_t *d = json_object();
    json_object_set_new(d, "line", json_integer(err.line));
    json_object_set_new(d, "column", json_integer(err.column));
    for (char *p = err.text; *p; p++) /* as prepare_body does since the fuzzer found reasons that are not UTF-8 */
      if ((unsigned char)*p >= 0x80) *p = '?';
    json_object_set_new(d, "reason", json_string(err.text));
    assert(json_object_get(d, "reason"));
    char *s = json_dumps(d, JSON_COMPACT);
    assert(s);
    armor_free(s);
    json_decref(d);
    return 0;
  }
  assert(tree_depth(j) <= pre);
  if (json_is_object(j)) {
    char *s = json_dumps(j, JSON_COMPACT);
    assert(s);
    json_t *k = json_loads(s, JSON_REJECT_DUPLICATES, &err);
    assert(k && json_equal(j, k));
    json_decref(k);
    armor_free(s);
  }
  json_decref(j);
  return 0;
}
