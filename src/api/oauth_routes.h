/*
 * Handlers of the OAuth/OIDC route table (api/oauth.c) that live in the
 * other api/ files of the module, and helpers they share.
 */
#ifndef ARMOR_API_OAUTH_ROUTES_H
#define ARMOR_API_OAUTH_ROUTES_H
#include "http/http.h"

/* api/clients.c: /api/clients */
void armor_api_clients_list(struct armor_req *r);
void armor_api_clients_create(struct armor_req *r);
void armor_api_clients_get(struct armor_req *r);
void armor_api_clients_update(struct armor_req *r);
void armor_api_clients_delete(struct armor_req *r);
void armor_api_clients_rotate(struct armor_req *r);

/* api/oauth_authorize.c: browser flow, logout and the seed-001 two-step login */
void armor_api_oauth_authorize(struct armor_req *r);
void armor_api_oauth_login(struct armor_req *r);
void armor_api_oauth_consent_page(struct armor_req *r);
void armor_api_oauth_consent(struct armor_req *r);
void armor_api_oauth_logout(struct armor_req *r);
void armor_api_auth_authorize(struct armor_req *r);
void armor_api_auth_token(struct armor_req *r);

/* A request parameter: the query for GET, the form body for POST. NULL when absent. */
const char *armor_oauth_param(const struct armor_req *r, const char *name);
/* True when some parameter appears more than once (RFC 6749 3.1); *which names it. */
bool armor_oauth_param_repeated(const struct armor_req *r, const char **which);
/* Percent-encodes s for a query component into the request arena. */
char *armor_oauth_urlencode(struct armor_req *r, const char *s);

#endif
