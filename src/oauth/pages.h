/*
 * HTML of the provider's pages (sign-in, consent, messages). Every string
 * argument is escaped; results are malloc'ed and freed by the caller.
 */
#ifndef ARMOR_OAUTH_PAGES_H
#define ARMOR_OAUTH_PAGES_H
#include "core/armor.h"

/* What the sign-in and consent forms carry. */
struct armor_oauth_page {
  const char *app;         /* the application's name */
  const char *client_name; /* who asks */
  const char *request;     /* the sealed authorization request (hidden input "request") */
  const char *csrf;        /* the CSRF token (hidden input "csrf") */
};

/* Sign-in form: inputs username and password; error may be NULL. */
char *armor_oauth_page_login(const struct armor_oauth_page *p, const char *username, const char *error);
/* Consent form: buttons decision=allow and decision=deny. */
char *armor_oauth_page_consent(const struct armor_oauth_page *p, const char *username, const char *scope);
/* A page with a title and one paragraph. */
char *armor_oauth_page_message(const char *app, const char *title, const char *message, bool error);

#endif
