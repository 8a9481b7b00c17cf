/*
 * Runtime settings. This first cut holds the defaults in memory; the
 * database-backed sections, validation and cross-node refresh build on it.
 */
#include "settings/settings.h"
#include "core/armor.h"
#include "core/config.h"

#include <pthread.h>
#include <stdlib.h>
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

/*
 * First-start values of the security section from the environment:
 * ARMOR_SECURITY_<FIELD> (for example ARMOR_SECURITY_ACCESS_TOKEN_TTL_SECONDS=2,
 * ARMOR_SECURITY_LOCKOUT_THRESHOLD=3). Used by tests and by operators who
 * provision instances from the environment.
 */
static void security_from_env(void) {
  static const struct {
    const char *env;
    int *field;
    long long min, max;
  } tab[] = {
    {"ARMOR_SECURITY_PASSWORD_MIN_LENGTH", &security.password_min_length, 1, 1024},
    {"ARMOR_SECURITY_PASSWORD_MAX_LENGTH", &security.password_max_length, 1, 4096},
    {"ARMOR_SECURITY_LOCKOUT_THRESHOLD", &security.lockout_threshold, 0, 1000000},
    {"ARMOR_SECURITY_LOCKOUT_BASE_SECONDS", &security.lockout_base_seconds, 1, 86400},
    {"ARMOR_SECURITY_LOCKOUT_MAX_SECONDS", &security.lockout_max_seconds, 1, 86400 * 365},
    {"ARMOR_SECURITY_IP_LIMIT_PER_MINUTE", &security.ip_limit_per_minute, 0, 1000000000},
    {"ARMOR_SECURITY_ACCESS_TOKEN_TTL_SECONDS", &security.access_token_ttl_seconds, 1, 86400},
    {"ARMOR_SECURITY_SESSION_IDLE_INITIAL_SECONDS", &security.session_idle_initial_seconds, 1, 86400 * 365},
    {"ARMOR_SECURITY_SESSION_IDLE_SECONDS", &security.session_idle_seconds, 1, 86400 * 365},
    {"ARMOR_SECURITY_SESSION_MAX_SECONDS", &security.session_max_seconds, 1, 86400 * 3650},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    const char *v = getenv(tab[i].env);
    long long x;
    if (!v || !*v) continue;
    if (armor_parse_int(v, tab[i].min, tab[i].max, &x)) *tab[i].field = (int)x;
    else armor_warn("%s must be an integer in [%lld, %lld]; ignored", tab[i].env, tab[i].min, tab[i].max);
  }
}

int armor_settings_start(void) {
  pthread_rwlock_wrlock(&lock);
  security_from_env();
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
