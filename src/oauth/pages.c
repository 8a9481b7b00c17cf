/*
 * The provider's server-rendered pages: sign-in form, consent form, error and
 * signed-out pages. Plain HTML with inline style and no script; every dynamic
 * value is HTML-escaped here. Knows nothing of HTTP (headers are set by api/).
 */
#include "oauth/pages.h"

#include <string.h>

#define PAGE_MAX (256 * 1024)

static void head(struct armor_buf *b, const char *app, const char *title) {
  armor_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
  armor_buf_append_html(b, title);
  armor_buf_printf(b, " - ");
  armor_buf_append_html(b, app);
  armor_buf_printf(b, "</title><style>body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}"
                      "main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
                      "box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin-top:0}label{display:block;"
                      "margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%%;box-sizing:border-box;"
                      "padding:.5rem;font-size:1rem}button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem}"
                      ".error{color:#b00020}.muted{color:#555;font-size:.9rem}ul{padding-left:1.2rem}</style></head>"
                      "<body><main>\n");
}

static char *finish(struct armor_buf *b) {
  armor_buf_printf(b, "</main></body></html>\n");
  char *s = b->data;
  b->data = NULL;
  return s ? s : armor_strdup("");
}

static void hidden(struct armor_buf *b, const char *name, const char *value) {
  armor_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
  armor_buf_append_html(b, value);
  armor_buf_printf(b, "\">\n");
}

char *armor_oauth_page_login(const struct armor_oauth_page *p, const char *username, const char *error) {
  struct armor_buf b;
  armor_buf_init(&b, PAGE_MAX);
  head(&b, p->app, "Sign in");
  armor_buf_printf(&b, "<h1>Sign in to ");
  armor_buf_append_html(&b, p->app);
  armor_buf_printf(&b, "</h1>\n<p class=\"muted\">to continue to <strong>");
  armor_buf_append_html(&b, p->client_name);
  armor_buf_printf(&b, "</strong></p>\n");
  if (error && *error) {
    armor_buf_printf(&b, "<p class=\"error\" role=\"alert\">");
    armor_buf_append_html(&b, error);
    armor_buf_printf(&b, "</p>\n");
  }
  armor_buf_printf(&b, "<form method=\"post\" action=\"/oauth2/login\">\n");
  hidden(&b, "request", p->request);
  hidden(&b, "csrf", p->csrf);
  armor_buf_printf(&b, "<label for=\"username\">Username or email</label>"
                       "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required "
                       "autofocus value=\"");
  armor_buf_append_html(&b, username);
  armor_buf_printf(&b, "\">\n<label for=\"password\">Password</label><input type=\"password\" id=\"password\" "
                       "name=\"password\" autocomplete=\"current-password\" required>\n"
                       "<button type=\"submit\">Sign in</button>\n</form>\n");
  return finish(&b);
}

static const char *scope_text(const char *s) {
  if (!strcmp(s, "openid")) return "Know who you are";
  if (!strcmp(s, "profile")) return "See your username";
  if (!strcmp(s, "email")) return "See your email address";
  if (!strcmp(s, "phone")) return "See your phone number";
  return NULL;
}

char *armor_oauth_page_consent(const struct armor_oauth_page *p, const char *username, const char *scope) {
  struct armor_buf b;
  armor_buf_init(&b, PAGE_MAX);
  head(&b, p->app, "Authorize");
  armor_buf_printf(&b, "<h1><strong>");
  armor_buf_append_html(&b, p->client_name);
  armor_buf_printf(&b, "</strong> wants to access your account</h1>\n<p class=\"muted\">Signed in as ");
  armor_buf_append_html(&b, username);
  armor_buf_printf(&b, "</p>\n<ul>\n");
  for (const char *s = scope; s && *s;) {
    const char *e = strchr(s, ' ');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    char tok[256];
    if (l && l < sizeof tok) {
      memcpy(tok, s, l);
      tok[l] = 0;
      const char *t = scope_text(tok);
      armor_buf_printf(&b, "<li>");
      armor_buf_append_html(&b, t ? t : tok);
      if (!t) armor_buf_printf(&b, " (scope)");
      armor_buf_printf(&b, "</li>\n");
    }
    s = e ? e + 1 : s + l;
  }
  armor_buf_printf(&b, "</ul>\n<form method=\"post\" action=\"/oauth2/consent\">\n");
  hidden(&b, "request", p->request);
  hidden(&b, "csrf", p->csrf);
  armor_buf_printf(&b, "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
                       "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>\n");
  return finish(&b);
}

char *armor_oauth_page_message(const char *app, const char *title, const char *message, bool error) {
  struct armor_buf b;
  armor_buf_init(&b, PAGE_MAX);
  head(&b, app, title);
  armor_buf_printf(&b, "<h1>");
  armor_buf_append_html(&b, title);
  armor_buf_printf(&b, "</h1>\n<p%s>", error ? " class=\"error\"" : "");
  armor_buf_append_html(&b, message);
  armor_buf_printf(&b, "</p>\n");
  return finish(&b);
}
