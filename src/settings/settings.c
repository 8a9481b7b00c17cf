/*
 * Runtime settings. This first cut holds the defaults in memory; the
 * database-backed sections, validation and cross-node refresh build on it.
 */
#include "settings/settings.h"
#include "core/armor.h"
#include "core/config.h"

#include <pthread.h>
#include <string.h>

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct armor_security_settings security = {
  .password_min_length = 8,
  .password_max_length = 1024,
  .lockout_threshold = 10,
  .lockout_base_seconds = 60,
  .lockout_max_seconds = 900,
  .ip_limit_per_minute = 100,
  .access_token_ttl_seconds = 900,
  .session_idle_initial_seconds = 300,
  .session_idle_seconds = 1209600,
  .session_max_seconds = 2592000,
  .mfa_required = false,
};
static struct armor_app_settings app = {
  .name = "Armor",
  .registration_enabled = true,
  .default_role = "user",
};

int armor_settings_start(void) {
  pthread_rwlock_wrlock(&lock);
  armor_fmt(app.public_url, sizeof app.public_url, "%s", armor_cfg.public_url ? armor_cfg.public_url : "");
  pthread_rwlock_unlock(&lock);
  return 0;
}

void armor_settings_stop(void) {}

void armor_settings_security(struct armor_security_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = security;
  pthread_rwlock_unlock(&lock);
}

void armor_settings_app(struct armor_app_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = app;
  pthread_rwlock_unlock(&lock);
}
