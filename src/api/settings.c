/*
 * Settings routes: read all sections, change one section, send a test mail.
 * Validation and storage live in settings/; this file maps them to HTTP and
 * writes the audit entry (field names only, never values).
 */
#include "app/services.h"
#include "auth/audit.h"
#include "notify/notify.h"
#include "settings/settings.h"

#include <sodium.h>
#include <string.h>

static void get_settings(struct armor_req *r) { armor_reply_ok(r, 200, "Settings", armor_settings_view()); }

static void put_section(struct armor_req *r) {
  const char *section = armor_req_param(r, "section");
  if (!armor_settings_is_section(section)) {
    armor_reply_error(r, 404, "NOT_FOUND", "No such settings section (app, email, sms, security, system)", NULL);
    return;
  }
  struct armor_settings_error err;
  json_t *changed = NULL;
  int rc = armor_settings_update(section, r->json, &changed, &err);
  if (rc == ARMOR_INVALID) {
    /* As everywhere: a value of the wrong type is 400, a refused value or field 422. */
    armor_reply_field_error(r, err.wrong_type ? 400 : 422, "VALIDATION_FAILED", err.field, err.msg);
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  if (json_array_size(changed))
    armor_audit("settings.changed", r->principal->user_id, NULL, r->client_ip, r->request_id,
                json_pack("{s:s, s:O}", "section", section, "fields", changed));
  json_decref(changed);
  armor_reply_ok(r, 200, "Settings saved", armor_settings_section_view(section));
}

/* Sends a test mail now with the stored settings and reports the server's answer (worker pool: network I/O). */
static void email_test(struct armor_req *r) {
  const char *to;
  static const char *const known[] = {"to", NULL};
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "to", true, 3, 254, &to)) return;
  if (!strchr(to, '@') || strpbrk(to, " \r\n<>")) {
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "to", "Field 'to' must be an email address");
    return;
  }
  struct armor_email_settings e;
  struct armor_app_settings a;
  armor_settings_email(&e);
  armor_settings_app(&a);
  if (!e.enabled || !e.host[0] || !e.from_address[0]) {
    sodium_memzero(&e, sizeof e);
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "enabled",
                            "Email delivery is not configured (settings section email)");
    return;
  }
  char subject[200], text[400], answer[512];
  armor_fmt(subject, sizeof subject, "[%s] Test message", a.name);
  armor_fmt(text, sizeof text, "This is a test message from %s. Email delivery works.\n", a.name);
  int64_t t0 = armor_now_ms();
  int rc = armor_smtp_send(&e, a.name, to, subject, text, NULL, answer, sizeof answer);
  sodium_memzero(&e, sizeof e);
  json_t *d = json_pack("{s:b, s:s, s:I}", "sent", rc == ARMOR_OK, "response", answer, "duration_ms",
                        (json_int_t)(armor_now_ms() - t0));
  armor_audit("settings.email_tested", r->principal->user_id, NULL, r->client_ip, r->request_id,
              json_pack("{s:b}", "sent", rc == ARMOR_OK));
  if (rc == ARMOR_OK)
    armor_reply_ok(r, 200, "Test message sent", d);
  else
    armor_reply_error(r, 502, "UNAVAILABLE", "The mail server did not accept the test message", d);
}

const struct armor_route armor_routes_settings[] = {
    {"GET", "/api/settings", get_settings, ROUTE_AUTH, "settings:read", 0},
    {"PUT", "/api/settings/{section}", put_section, ROUTE_AUTH | ROUTE_JSON, "settings:write", 0},
    {"POST", "/api/settings/email/test", email_test, ROUTE_AUTH | ROUTE_JSON | ROUTE_SLOW, "settings:write", 0},
    {NULL, NULL, NULL, 0, NULL, 0},
};
