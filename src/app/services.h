/*
 * Start/stop entry points of the services, the route tables of their api/
 * modules and the CLI commands they contribute. Only app/ and api/routes.c use this.
 */
#ifndef ARMOR_SERVICES_H
#define ARMOR_SERVICES_H
#include "http/http.h"

int armor_accounts_start(void);  /* auth/: authenticator, hashing pool, session flusher */
void armor_accounts_stop(void);
int armor_notify_start(void);    /* notify/: outbox sender */
void armor_notify_stop(void);
int armor_oauth_start(void);     /* oauth/ */
void armor_oauth_stop(void);

int armor_cmd_admin(int argc, char **argv);  /* armor admin create ... */
int armor_cmd_keys(int argc, char **argv);   /* armor keys rotate */
int armor_cmd_client(int argc, char **argv); /* armor client create ... */

extern const struct armor_route armor_routes_jwks[];     /* api/jwks.c */
extern const struct armor_route armor_routes_auth[];     /* api/auth.c */
extern const struct armor_route armor_routes_recovery[]; /* api/recovery.c */
extern const struct armor_route armor_routes_settings[]; /* api/settings.c */
extern const struct armor_route armor_routes_oauth[];    /* api/oauth.c, api/clients.c */
extern const struct armor_route armor_routes_ui[];       /* api/ui.c: pages of mailed links */

#endif
