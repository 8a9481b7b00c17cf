/*
 * Cookies, CSRF and headers of the server-rendered pages. The CSRF token is a
 * random cookie that every form repeats in a hidden input (double submit).
 */
#include "api/browser.h"
#include "auth/tokens.h"
#include "settings/settings.h"

#include <string.h>

#define CSRF_LEN 43 /* 32 random bytes as base64url */

bool armor_browser_secure(const struct armor_req *r) {
  return r->tls || !strncmp(armor_tokens_issuer(), "https://", 8);
}

const char *armor_browser_cookie_name(const struct armor_req *r, const char *base) {
  if (!strcmp(base, "session")) return armor_browser_secure(r) ? "__Host-armor_session" : "armor_session";
  return armor_browser_secure(r) ? "__Host-armor_csrf" : "armor_csrf";
}

void armor_browser_set_cookie(struct armor_req *r, const char *name, const char *value, long max_age) {
  char *c = armor_arena_printf(r->arena, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%ld%s", name, value, max_age,
                               armor_browser_secure(r) ? "; Secure" : "");
  armor_reply_header(r, "Set-Cookie", c);
}

const char *armor_browser_csrf_token(struct armor_req *r) {
  const char *name = armor_browser_cookie_name(r, "csrf");
  const char *c = armor_req_cookie(r, name);
  if (c && strlen(c) == CSRF_LEN) return c;
  char t[64];
  armor_random_b64url(32, t, sizeof t);
  armor_browser_set_cookie(r, name, t, 86400);
  return armor_arena_strdup(r->arena, t);
}

bool armor_browser_csrf_ok(struct armor_req *r, const char *form_value) {
  const char *cookie = armor_req_cookie(r, armor_browser_cookie_name(r, "csrf"));
  return cookie && form_value && strlen(cookie) == CSRF_LEN && armor_str_eq_ct(cookie, form_value);
}

void armor_browser_page_headers(struct armor_req *r, const char *csp) {
  armor_reply_header(r, "X-Frame-Options", "DENY");
  armor_reply_header(r, "Content-Security-Policy", csp);
  armor_reply_header(r, "Cache-Control", "no-store");
  armor_reply_header(r, "Referrer-Policy", "no-referrer");
}

const char *armor_browser_app_name(struct armor_req *r) {
  struct armor_app_settings a;
  armor_settings_app(&a);
  return armor_arena_strdup(r->arena, a.name[0] ? a.name : "Armor");
}
