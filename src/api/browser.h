/*
 * What the server-rendered pages (OAuth sign-in and consent, the /ui pages of
 * mailed links) share: cookie names and flags, the CSRF cookie, the page
 * headers and the application's name. Pages themselves stay in their modules.
 */
#ifndef ARMOR_API_BROWSER_H
#define ARMOR_API_BROWSER_H
#include "http/http.h"

/* True when cookies must be Secure (and may use the __Host- prefix): TLS here, or an https public URL. */
bool armor_browser_secure(const struct armor_req *r);
/* "__Host-armor_<base>" when secure, else "armor_<base>" (plain HTTP on loopback cannot use __Host-). */
const char *armor_browser_cookie_name(const struct armor_req *r, const char *base);
/* Adds Set-Cookie: HttpOnly, SameSite=Lax, Path=/, Secure when armor_browser_secure. */
void armor_browser_set_cookie(struct armor_req *r, const char *name, const char *value, long max_age);
/* This browser's CSRF token: the "csrf" cookie's value, created (and set for a day) when absent. Arena-owned. */
const char *armor_browser_csrf_token(struct armor_req *r);
/* True when the form's "csrf" input equals the CSRF cookie (constant-time). */
bool armor_browser_csrf_ok(struct armor_req *r, const char *form_value);
/* X-Frame-Options DENY, the given Content-Security-Policy, Cache-Control no-store, Referrer-Policy no-referrer. */
void armor_browser_page_headers(struct armor_req *r, const char *csp);
/* The application's name from the settings (arena-owned; "Armor" when unset). */
const char *armor_browser_app_name(struct armor_req *r);

#endif
