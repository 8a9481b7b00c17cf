/*
 * Merges openapi/base.json with every other fragment in openapi/ (each may
 * carry "paths", "components" and "tags") into the one document served at
 * /openapi.json. Fragments never overwrite each other's operations.
 */
#include "api/api.h"
#include "core/assets.h"
#include "core/config.h"

#include <string.h>

static char *text;
static size_t text_len;

static void merge_object(json_t *dst, json_t *src, int depth) {
  const char *k;
  json_t *v;
  json_object_foreach(src, k, v) {
    json_t *d = json_object_get(dst, k);
    if (d && json_is_object(d) && json_is_object(v) && depth > 0)
      merge_object(d, v, depth - 1);
    else if (d && json_is_array(d) && json_is_array(v))
      json_array_extend(d, v);
    else
      json_object_set(dst, k, v);
  }
}

int armor_openapi_init(void) {
  const struct armor_asset *base = armor_asset_find("openapi", "base.json");
  if (!base) {
    armor_err("openapi: base.json missing from the build");
    return -1;
  }
  json_error_t e;
  json_t *doc = json_loadb(base->start, (size_t)(base->end - base->start), 0, &e);
  if (!doc) {
    armor_err("openapi: base.json: %s (line %d)", e.text, e.line);
    return -1;
  }
  for (const struct armor_asset *a = armor_assets; a->kind; a++) {
    if (strcmp(a->kind, "openapi") || !strcmp(a->name, "base.json")) continue;
    json_t *f = json_loadb(a->start, (size_t)(a->end - a->start), 0, &e);
    if (!f) {
      armor_err("openapi: %s: %s (line %d)", a->name, e.text, e.line);
      json_decref(doc);
      return -1;
    }
    /* paths: merge per path (methods); components: per section. */
    merge_object(doc, f, 2);
    json_decref(f);
  }
  json_t *servers = json_array();
  json_t *srv = json_object();
  json_object_set_new(srv, "url", json_string(armor_cfg.public_url ? armor_cfg.public_url : "/"));
  json_array_append_new(servers, srv);
  json_object_set_new(doc, "servers", servers);
  json_object_set_new(json_object_get(doc, "info"), "version", json_string(ARMOR_VERSION));
  armor_free(text);
  text = json_dumps(doc, JSON_COMPACT);
  text_len = text ? strlen(text) : 0;
  /* Only the text is served: the tree (several times its size in memory) is not kept. */
  json_decref(doc);
  return text ? 0 : -1;
}

const char *armor_openapi_text(size_t *len) {
  *len = text_len;
  return text;
}
