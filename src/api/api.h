/*
 * Route tables exported by each api/ module, collected in routes.c, and the
 * OpenAPI document built from the fragments in openapi/.
 */
#ifndef ARMOR_API_H
#define ARMOR_API_H
#include "http/http.h"

extern const struct armor_route armor_routes_system[];

/* Builds the OpenAPI document from the embedded fragments. 0 or -1. */
int armor_openapi_init(void);
/* The document as compact JSON text (owned by the module). */
const char *armor_openapi_text(size_t *len);

/* Registers a function that appends Prometheus text to /metrics. */
void armor_metrics_register(void (*fn)(struct armor_buf *));
void armor_system_init(void);

#endif
