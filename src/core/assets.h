/*
 * Files linked into the binary at build time: OpenAPI fragments, SQL
 * migrations, the Swagger UI and the web console. Read-only; never freed.
 */
#ifndef ARMOR_ASSETS_H
#define ARMOR_ASSETS_H
#include <stddef.h>

struct armor_asset {
  const char *kind; /* "openapi", "migrations", "swagger", "web" */
  const char *name; /* file name without folder */
  const char *start;
  const char *end; /* one past the last byte; *end == '\0' */
};

/* Terminated by an entry whose kind is NULL. */
extern const struct armor_asset armor_assets[];

/* Finds an asset by kind and name; NULL when absent. */
const struct armor_asset *armor_asset_find(const char *kind, const char *name);

#endif
