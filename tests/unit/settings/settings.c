/*
 * Settings service: first-start values from the environment, validation with
 * the offending field named, secrets encrypted at rest and never in the view,
 * optimistic updates, and pickup of changes made by another node.
 */
#include "settings/settings.h"
#include "core/config.h"
#include "../notify/db_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <time.h>

static int setup(void **state) {
  (void)state;
  setenv("ARMOR_SMTP_HOST", "smtp.example.test", 1);
  setenv("ARMOR_SMTP_PORT", "2525", 1);
  setenv("ARMOR_SMTP_SECURITY", "none", 1);
  setenv("ARMOR_SMTP_FROM", "noreply@example.test", 1);
  setenv("ARMOR_SMTP_PASSWORD", "s3cret-smtp-pass", 1);
  setenv("ARMOR_APP_NAME", "Unit App", 1);
  setenv("ARMOR_ACCESS_TOKEN_TTL", "120", 1);         /* alias of ARMOR_ACCESS_TOKEN_TTL_SECONDS */
  setenv("ARMOR_SECURITY_LOCKOUT_THRESHOLD", "3", 1); /* the uniform ARMOR_<SECTION>_<FIELD> form */
  armor_cfg.public_url = armor_strdup("http://public.example.test");
  if (fixture_db_open()) return -1;
  return armor_settings_start();
}

static int teardown(void **state) {
  (void)state;
  armor_settings_stop();
  fixture_db_close();
  return 0;
}

static void first_start_from_environment(void **state) {
  (void)state;
  struct armor_email_settings e;
  armor_settings_email(&e);
  assert_true(e.enabled); /* implied by ARMOR_SMTP_HOST */
  assert_string_equal(e.host, "smtp.example.test");
  assert_int_equal(e.port, 2525);
  assert_string_equal(e.security, "none");
  assert_string_equal(e.password, "s3cret-smtp-pass");
  struct armor_security_settings s;
  armor_settings_security(&s);
  assert_int_equal(s.access_token_ttl_seconds, 120);
  assert_int_equal(s.lockout_threshold, 3);
  assert_int_equal(s.password_min_length, 8);
  struct armor_app_settings a;
  armor_settings_app(&a);
  assert_string_equal(a.name, "Unit App");
  assert_string_equal(a.public_url, "http://public.example.test"); /* follows --public-url until set */
  struct armor_sms_settings m;
  armor_settings_sms(&m);
  assert_false(m.enabled);
}

static void secrets_are_encrypted_at_rest_and_write_only(void **state) {
  (void)state;
  struct armor_stmt *st = armor_db_query(armor_db_get(), "SELECT data FROM settings WHERE section = 'email'", "");
  assert_non_null(st);
  assert_int_equal(armor_stmt_step(st), 1);
  const char *data = armor_stmt_text(st, 0);
  assert_null(strstr(data, "s3cret-smtp-pass"));
  assert_non_null(strstr(data, "\"password\":\"v1:"));
  armor_stmt_done(st);
  json_t *v = armor_settings_section_view("email");
  assert_null(json_object_get(v, "password"));
  assert_true(json_is_true(json_object_get(v, "password_set")));
  json_t *all = armor_settings_view();
  char *dump = json_dumps(all, 0);
  json_decref(all);
  assert_null(strstr(dump, "s3cret"));
  armor_free(dump);
  json_decref(v);
}

static int update(const char *section, const char *body, char *field, json_t **changed) {
  json_t *patch = json_loads(body, 0, NULL);
  struct armor_settings_error err;
  int rc = armor_settings_update(section, patch, changed, &err);
  json_decref(patch);
  armor_fmt(field, 80, "%s", err.field);
  return rc;
}

static void validation_names_the_field(void **state) {
  (void)state;
  char field[80];
  assert_int_equal(update("nope", "{}", field, NULL), ARMOR_NOT_FOUND);
  assert_int_equal(update("email", "{\"colour\": 1}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "colour");
  assert_int_equal(update("email", "{\"port\": 70000}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "port");
  assert_int_equal(update("email", "{\"port\": \"25\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "port");
  assert_int_equal(update("email", "{\"security\": \"ssl\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "security");
  assert_int_equal(update("email", "{\"from_address\": \"not-an-address\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "from_address");
  assert_int_equal(update("email", "{\"host\": \"\"}", field, NULL), ARMOR_INVALID); /* enabled needs a host */
  assert_string_equal(field, "host");
  assert_int_equal(update("sms", "{\"enabled\": true, \"provider\": \"webhook\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "url");
  assert_int_equal(update("sms", "{\"from_number\": \"5550100\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "from_number");
  assert_int_equal(update("app", "{\"public_url\": \"ftp://x\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "public_url");
  assert_int_equal(update("app", "{\"name\": \"two\\nlines\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "name");
  assert_int_equal(update("security", "{\"recovery_otp_ttl_seconds\": 3600}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "recovery_otp_ttl_seconds");
  assert_int_equal(update("system", "{\"log_level\": \"loud\"}", field, NULL), ARMOR_INVALID);
  assert_string_equal(field, "log_level");
  /* Nothing above was stored. */
  struct armor_email_settings e;
  armor_settings_email(&e);
  assert_int_equal(e.port, 2525);
  assert_string_equal(e.host, "smtp.example.test");
}

static void update_reports_changed_fields_and_keeps_secrets(void **state) {
  (void)state;
  char field[80];
  json_t *changed = NULL;
  assert_int_equal(
      update("email", "{\"port\": 2526, \"host\": \"smtp.example.test\", \"password_set\": true}", field, &changed),
      ARMOR_OK);
  assert_int_equal(json_array_size(changed), 1);
  assert_string_equal(json_string_value(json_array_get(changed, 0)), "port");
  json_decref(changed);
  struct armor_email_settings e;
  armor_settings_email(&e);
  assert_int_equal(e.port, 2526);
  assert_string_equal(e.password, "s3cret-smtp-pass"); /* absent: kept */
  assert_int_equal(update("email", "{\"password\": \"\"}", field, &changed), ARMOR_OK);
  assert_string_equal(json_string_value(json_array_get(changed, 0)), "password");
  json_decref(changed);
  armor_settings_email(&e);
  assert_string_equal(e.password, "");
  json_t *v = armor_settings_section_view("email");
  assert_true(json_is_false(json_object_get(v, "password_set")));
  json_decref(v);
  assert_int_equal(update("security", "{\"password_min_length\": 12}", field, NULL), ARMOR_OK);
  struct armor_security_settings s;
  armor_settings_security(&s);
  assert_int_equal(s.password_min_length, 12);
}

static void change_by_another_node_is_picked_up(void **state) {
  (void)state;
  /* Another node wrote a new version of the app section. */
  assert_int_equal(
      armor_db_exec(armor_db_get(), NULL, "UPDATE settings SET data = $1, version = version + 1 WHERE section = 'app'",
                    "t",
                    "{\"name\":\"Renamed\",\"public_url\":\"https://id.example.test\",\"registration_enabled\":false,"
                    "\"default_role\":\"user\"}"),
      ARMOR_OK);
  assert_int_equal(armor_settings_refresh(), ARMOR_OK);
  struct armor_app_settings a;
  armor_settings_app(&a);
  assert_string_equal(a.name, "Renamed");
  assert_string_equal(a.public_url, "https://id.example.test");
  assert_false(a.registration_enabled);
  /* The refresher thread does it by itself within about a second. */
  assert_int_equal(armor_db_exec(armor_db_get(), NULL,
                                 "UPDATE settings SET data = $1, version = version + 1 WHERE section = 'system'", "t",
                                 "{\"locale\":\"fr\",\"timezone\":\"Europe/Paris\",\"log_level\":\"info\"}"),
                   ARMOR_OK);
  struct armor_system_settings sys;
  for (int i = 0; i < 40; i++) {
    armor_settings_system(&sys);
    if (!strcmp(sys.locale, "fr")) break;
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
  }
  assert_string_equal(sys.locale, "fr");
  assert_string_equal(sys.timezone, "Europe/Paris");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_start_from_environment),
      cmocka_unit_test(secrets_are_encrypted_at_rest_and_write_only),
      cmocka_unit_test(validation_names_the_field),
      cmocka_unit_test(update_reports_changed_fields_and_keeps_secrets),
      cmocka_unit_test(change_by_another_node_is_picked_up),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
