/*
 * The pages that mailed links open: /ui/verify-email?token=... and
 * /ui/reset-password?token=... (links built by auth/recovery.c). Plain HTML
 * forms rendered here, no script; every dynamic value is HTML-escaped.
 *
 * A GET only shows a form: it redeems nothing, so a mail scanner that fetches
 * the link does not use it up. The POST carries the token in a hidden input
 * and a CSRF token that must equal the CSRF cookie (the same cookie the OAuth
 * pages use: `__Host-armor_csrf` over TLS or with an https public URL,
 * `armor_csrf` otherwise). The POSTs call the same service functions as the
 * API routes (auth/recovery.h) and answer 303 to a result page, or show the
 * form again with 400/422 and the reason.
 *
 * Password reset: the recovery token is exchanged for a reset grant
 * (armor_recovery_validate), then the grant sets the password
 * (armor_recovery_reset). When the policy refuses the password the token is
 * already spent but the grant stays usable, so the form shown again carries
 * the grant instead of the token.
 */
#include "app/services.h"
#include "api/browser.h"
#include "auth/recovery.h"
#include "auth/tokens.h"
#include "settings/settings.h"

#include <sodium.h>
#include <string.h>

#define PAGE_MAX (64 * 1024)
#define TOKEN_MAX 256
#define PASSWORD_MAX 8192 /* bytes; the policy's own limit (code points) is checked by the service */
#define FORM_BODY (48 * 1024)
#define PAGE_CSP "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

/* ================================================================ HTML */

static void head(struct armor_req *r, struct armor_buf *b, const char *title) {
  armor_buf_init(b, PAGE_MAX);
  armor_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                      "<meta name=\"referrer\" content=\"no-referrer\"><title>");
  armor_buf_append_html(b, title);
  armor_buf_printf(b, " - ");
  armor_buf_append_html(b, armor_browser_app_name(r));
  armor_buf_printf(b, "</title><style>body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}"
                      "main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
                      "box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin-top:0}label{display:block;"
                      "margin:.8rem 0 .2rem}input[type=password]{width:100%%;box-sizing:border-box;padding:.5rem;"
                      "font-size:1rem}button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem}"
                      ".error{color:#b00020}.ok{color:#1b5e20}.muted{color:#555;font-size:.9rem}</style></head>"
                      "<body><main>\n<p class=\"muted\">");
  armor_buf_append_html(b, armor_browser_app_name(r));
  armor_buf_printf(b, "</p>\n<h1>");
  armor_buf_append_html(b, title);
  armor_buf_printf(b, "</h1>\n");
}

static void para(struct armor_buf *b, const char *cls, const char *text) {
  if (cls)
    armor_buf_printf(b, "<p class=\"%s\"%s>", cls, !strcmp(cls, "error") ? " role=\"alert\"" : "");
  else
    armor_buf_printf(b, "<p>");
  armor_buf_append_html(b, text);
  armor_buf_printf(b, "</p>\n");
}

static void hidden(struct armor_buf *b, const char *name, const char *value) {
  armor_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
  armor_buf_append_html(b, value);
  armor_buf_printf(b, "\">\n");
}

/* Ends the page and sends it. */
static void send_page(struct armor_req *r, int status, struct armor_buf *b) {
  armor_buf_printf(b, "</main></body></html>\n");
  armor_browser_page_headers(r, PAGE_CSP);
  if (b->data)
    armor_reply_raw(r, status, "text/html; charset=utf-8", b->data, b->len);
  else
    armor_reply_raw(r, 500, "text/plain; charset=utf-8", "Internal error\n", 15);
  if (b->data) sodium_memzero(b->data, b->len); /* forms may hold a token or grant */
  armor_buf_free(b);
}

/* A page with a title and a message (and an optional second, muted line). */
static void message_page(struct armor_req *r, int status, const char *title, const char *message, bool error,
                         const char *hint) {
  struct armor_buf b;
  head(r, &b, title);
  para(&b, error ? "error" : "ok", message);
  if (hint) para(&b, "muted", hint);
  send_page(r, status, &b);
}

static void unavailable(struct armor_req *r) {
  message_page(r, 503, "Try again shortly", "The service is temporarily unavailable. Try again in a moment.", true,
               NULL);
}

static void see_other(struct armor_req *r, const char *location) {
  armor_browser_page_headers(r, PAGE_CSP);
  armor_reply_redirect(r, 303, location);
}

/* ================================================================ CSRF */

static const char *token_of(const char *t) { return t && *t && strlen(t) <= TOKEN_MAX ? t : NULL; }

static struct armor_recovery_caller caller_of(const struct armor_req *r) {
  struct armor_recovery_caller c = {r->client_ip, r->request_id, NULL};
  return c;
}

static void bad_link(struct armor_req *r, const char *title) {
  message_page(r, 400, title, "This link is incomplete.", true,
               "Open the link from the email again, or copy all of it into the address bar.");
}

/* ================================================================ /ui/verify-email */

static void verify_form(struct armor_req *r, int status, const char *token, const char *error) {
  struct armor_buf b;
  const char *csrf = armor_browser_csrf_token(r);
  head(r, &b, "Confirm your email address");
  if (error) para(&b, "error", error);
  para(&b, NULL, "Press the button to confirm that this email address belongs to your account.");
  armor_buf_printf(&b, "<form method=\"post\" action=\"/ui/verify-email\">\n");
  hidden(&b, "token", token);
  hidden(&b, "csrf", csrf);
  armor_buf_printf(&b, "<button type=\"submit\">Confirm email address</button>\n</form>\n");
  send_page(r, status, &b);
}

static void verify_page(struct armor_req *r) {
  const char *token = token_of(armor_req_query(r, "token"));
  if (!token) {
    bad_link(r, "Confirm your email address");
    return;
  }
  verify_form(r, 200, token, NULL);
}

static void verify_submit(struct armor_req *r) {
  const char *token = token_of(armor_req_form(r, "token"));
  if (!token) {
    bad_link(r, "Confirm your email address");
    return;
  }
  if (!armor_browser_csrf_ok(r, armor_req_form(r, "csrf"))) {
    verify_form(r, 400, token, "This form expired or was not sent from this browser. Press the button again.");
    return;
  }
  struct armor_recovery_caller c = caller_of(r);
  char uid[37];
  int rc = armor_verification_confirm(token, &c, uid);
  if (rc == ARMOR_OK)
    see_other(r, "/ui/verify-email/done");
  else if (rc == ARMOR_UNAUTHORIZED)
    message_page(r, 400, "Link not valid", "This verification link is invalid, already used or expired.", true,
                 "Sign in and ask for a new verification email.");
  else
    unavailable(r);
}

static void verify_done(struct armor_req *r) {
  message_page(r, 200, "Email address confirmed", "Your email address is confirmed. You can close this page.", false,
               NULL);
}

/* ================================================================ /ui/reset-password */

/* The form; carries either the recovery token (first try) or the reset grant (after a refusal). */
static void reset_form(struct armor_req *r, int status, const char *token, const char *grant, const char *error) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  struct armor_buf b;
  const char *csrf = armor_browser_csrf_token(r);
  head(r, &b, "Choose a new password");
  if (error) para(&b, "error", error);
  char rule[96];
  armor_fmt(rule, sizeof rule, "Use at least %d characters.", s.password_min_length > 0 ? s.password_min_length : 1);
  para(&b, "muted", rule);
  armor_buf_printf(&b, "<form method=\"post\" action=\"/ui/reset-password\">\n");
  if (grant)
    hidden(&b, "grant", grant);
  else
    hidden(&b, "token", token);
  hidden(&b, "csrf", csrf);
  armor_buf_printf(&b, "<label for=\"new_password\">New password</label><input type=\"password\" id=\"new_password\" "
                       "name=\"new_password\" autocomplete=\"new-password\" required autofocus>\n"
                       "<label for=\"confirm_password\">Repeat the new password</label><input type=\"password\" "
                       "id=\"confirm_password\" name=\"confirm_password\" autocomplete=\"new-password\" required>\n"
                       "<button type=\"submit\">Set new password</button>\n</form>\n");
  send_page(r, status, &b);
}

static void reset_page(struct armor_req *r) {
  const char *token = token_of(armor_req_query(r, "token"));
  if (!token) {
    bad_link(r, "Choose a new password");
    return;
  }
  reset_form(r, 200, token, NULL, NULL);
}

static void reset_expired(struct armor_req *r) {
  message_page(r, 400, "Link not valid", "This password reset link is invalid, already used or expired.", true,
               "Ask for a new recovery email and use the newest link.");
}

static void reset_submit(struct armor_req *r) {
  const char *token = token_of(armor_req_form(r, "token")), *grant = token_of(armor_req_form(r, "grant"));
  if (!token && !grant) {
    bad_link(r, "Choose a new password");
    return;
  }
  if (grant) token = NULL;
  if (!armor_browser_csrf_ok(r, armor_req_form(r, "csrf"))) {
    reset_form(r, 400, token, grant,
               "This form expired or was not sent from this browser. Enter the new password again.");
    return;
  }
  const char *pw = armor_req_form(r, "new_password"), *again = armor_req_form(r, "confirm_password");
  if (!pw || !*pw) {
    reset_form(r, 422, token, grant, "Enter a new password.");
    return;
  }
  if (strlen(pw) > PASSWORD_MAX) {
    reset_form(r, 422, token, grant, "The password is too long.");
    return;
  }
  if (!again || strcmp(pw, again)) {
    reset_form(r, 422, token, grant, "The two passwords do not match.");
    return;
  }
  struct armor_recovery_caller c = caller_of(r);
  char g[64] = "";
  if (!grant) {
    int expires_in = 0;
    int rc = armor_recovery_validate(token, &c, g, sizeof g, &expires_in);
    if (rc == ARMOR_UNAUTHORIZED) {
      reset_expired(r);
      return;
    }
    if (rc) {
      unavailable(r);
      return;
    }
    grant = g;
  }
  char msg[256] = "";
  int rc = armor_recovery_reset(grant, pw, &c, msg, sizeof msg);
  if (rc == ARMOR_OK)
    see_other(r, "/ui/reset-password/done");
  else if (rc == ARMOR_INVALID)
    reset_form(r, 422, NULL, grant, msg[0] ? msg : "The password does not meet the password policy.");
  else if (rc == ARMOR_UNAUTHORIZED)
    reset_expired(r);
  else
    unavailable(r);
  sodium_memzero(g, sizeof g);
}

static void reset_done(struct armor_req *r) {
  message_page(r, 200, "Password changed", "Your password was changed. You can now sign in with the new password.",
               false, "Every session of your account was signed out.");
}

const struct armor_route armor_routes_ui[] = {
    {"GET", "/ui/verify-email", verify_page, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN, NULL, 0},
    {"POST", "/ui/verify-email", verify_submit, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN | ROUTE_FORM, NULL, 4096},
    {"GET", "/ui/verify-email/done", verify_done, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN, NULL, 0},
    {"GET", "/ui/reset-password", reset_page, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN, NULL, 0},
    {"POST", "/ui/reset-password", reset_submit, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN | ROUTE_FORM | ROUTE_SLOW,
     NULL, FORM_BODY},
    {"GET", "/ui/reset-password/done", reset_done, ROUTE_PUBLIC | ROUTE_RAW | ROUTE_HIDDEN, NULL, 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};
