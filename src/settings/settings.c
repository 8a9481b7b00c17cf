/*
 * Runtime settings: one table of field descriptions drives validation, the
 * API view, storage (JSON per section, secrets encrypted with the master key)
 * and first-start values from the environment. The in-memory copy is the
 * only thing readers touch; a refresher thread re-reads sections whose
 * version changed in the database, so every node follows within a second.
 * Never logs or returns a secret's value.
 */
#include "settings/settings.h"
#include "core/armor.h"
#include "core/config.h"
#include "core/secret.h"
#include "store/store.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- field table */

enum ftype { F_BOOL, F_INT, F_STR, F_SECRET };
enum fcheck { C_LINE, C_HOST, C_URL, C_EMAIL, C_PHONE, C_WORD, C_TZ, C_LOCALE };

struct field {
  const char *name;
  enum ftype type;
  size_t off, size;           /* offset in the section struct; buffer size for strings */
  long long min, max;         /* integer range */
  const char *const *choices; /* allowed values of a string, NULL-terminated */
  enum fcheck check;          /* format check of a free string */
  const char *env;            /* first-start variable, or NULL */
};

#define FB(s, f, env)                                                                                                  \
  { #f, F_BOOL, offsetof(struct s, f), 0, 0, 0, NULL, C_LINE, env }
#define FI(s, f, lo, hi, env)                                                                                          \
  { #f, F_INT, offsetof(struct s, f), 0, lo, hi, NULL, C_LINE, env }
#define FS(s, f, chk, env)                                                                                             \
  { #f, F_STR, offsetof(struct s, f), sizeof(((struct s *)0)->f), 0, 0, NULL, chk, env }
#define FE(s, f, ch, env)                                                                                              \
  { #f, F_STR, offsetof(struct s, f), sizeof(((struct s *)0)->f), 0, 0, ch, C_WORD, env }
#define FX(s, f, env)                                                                                                  \
  { #f, F_SECRET, offsetof(struct s, f), sizeof(((struct s *)0)->f), 0, 0, NULL, C_LINE, env }
#define FEND                                                                                                           \
  { NULL, 0, 0, 0, 0, 0, NULL, 0, NULL }

static const char *const security_modes[] = {"none", "starttls", "tls", NULL};
static const char *const sms_providers[] = {"webhook", "twilio", "log", NULL};
static const char *const log_levels[] = {"error", "warning", "info", "debug", NULL};

#define S armor_security_settings
static const struct field security_fields[] = {
    FI(S, password_min_length, 1, 1024, "ARMOR_PASSWORD_MIN_LENGTH"),
    FI(S, password_max_length, 1, 4096, "ARMOR_PASSWORD_MAX_LENGTH"),
    FI(S, lockout_threshold, 0, 1000000, "ARMOR_LOCKOUT_THRESHOLD"),
    FI(S, lockout_base_seconds, 1, 86400, "ARMOR_LOCKOUT_BASE_SECONDS"),
    FI(S, lockout_max_seconds, 1, 31536000, "ARMOR_LOCKOUT_MAX_SECONDS"),
    FI(S, ip_limit_per_minute, 0, 1000000000, "ARMOR_IP_LIMIT_PER_MINUTE"),
    FI(S, access_token_ttl_seconds, 1, 86400, "ARMOR_ACCESS_TOKEN_TTL_SECONDS"),
    FI(S, session_idle_initial_seconds, 1, 31536000, "ARMOR_SESSION_IDLE_INITIAL_SECONDS"),
    FI(S, session_idle_seconds, 1, 31536000, "ARMOR_SESSION_IDLE_SECONDS"),
    FI(S, session_max_seconds, 1, 315360000, "ARMOR_SESSION_MAX_SECONDS"),
    FB(S, mfa_required, "ARMOR_MFA_REQUIRED"),
    FI(S, recovery_token_ttl_seconds, 5, 86400, "ARMOR_RECOVERY_TOKEN_TTL_SECONDS"),
    FI(S, recovery_otp_ttl_seconds, 5, 900, "ARMOR_RECOVERY_OTP_TTL_SECONDS"),
    FI(S, reset_grant_ttl_seconds, 5, 3600, "ARMOR_RESET_GRANT_TTL_SECONDS"),
    FI(S, verification_ttl_seconds, 5, 2592000, "ARMOR_VERIFICATION_TTL_SECONDS"),
    FI(S, recovery_limit_per_hour, 1, 10000, "ARMOR_RECOVERY_LIMIT_PER_HOUR"),
    FI(S, recovery_ip_limit_per_hour, 1, 1000000, "ARMOR_RECOVERY_IP_LIMIT_PER_HOUR"),
    FEND,
};
#undef S
#define S armor_app_settings
static const struct field app_fields[] = {
    FS(S, name, C_LINE, "ARMOR_APP_NAME"),
    FS(S, public_url, C_URL, NULL), /* "" follows --public-url */
    FB(S, registration_enabled, "ARMOR_REGISTRATION_ENABLED"),
    FS(S, default_role, C_WORD, "ARMOR_DEFAULT_ROLE"),
    FEND,
};
#undef S
#define S armor_email_settings
static const struct field email_fields[] = {
    FB(S, enabled, "ARMOR_SMTP_ENABLED"),
    FS(S, host, C_HOST, "ARMOR_SMTP_HOST"),
    FI(S, port, 1, 65535, "ARMOR_SMTP_PORT"),
    FE(S, security, security_modes, "ARMOR_SMTP_SECURITY"),
    FS(S, username, C_LINE, "ARMOR_SMTP_USERNAME"),
    FX(S, password, "ARMOR_SMTP_PASSWORD"),
    FS(S, from_address, C_EMAIL, "ARMOR_SMTP_FROM"),
    FS(S, from_name, C_LINE, "ARMOR_SMTP_FROM_NAME"),
    FEND,
};
#undef S
#define S armor_sms_settings
static const struct field sms_fields[] = {
    FB(S, enabled, "ARMOR_SMS_ENABLED"),
    FE(S, provider, sms_providers, "ARMOR_SMS_PROVIDER"),
    FS(S, url, C_URL, "ARMOR_SMS_URL"),
    FX(S, auth_token, "ARMOR_SMS_AUTH_TOKEN"),
    FS(S, account_sid, C_WORD, "ARMOR_SMS_ACCOUNT_SID"),
    FS(S, from_number, C_PHONE, "ARMOR_SMS_FROM"),
    FEND,
};
#undef S
#define S armor_system_settings
static const struct field system_fields[] = {
    FS(S, locale, C_LOCALE, "ARMOR_LOCALE"),
    FS(S, timezone, C_TZ, "ARMOR_TIMEZONE"),
    FE(S, log_level, log_levels, NULL), /* first start: --log-level */
    FEND,
};
#undef S

/* Written once as macros so that both the defaults and the live copies are constant initialisers. */
#define SECURITY_DEFAULTS { \
    .password_min_length = 8, \
    .password_max_length = 1024, \
    .lockout_threshold = 10, \
    .lockout_base_seconds = 60, \
    .lockout_max_seconds = 900, \
    .ip_limit_per_minute = 100, \
    .access_token_ttl_seconds = 900, \
    .session_idle_initial_seconds = 300, \
    .session_idle_seconds = 1209600, \
    .session_max_seconds = 2592000, \
    .mfa_required = false, \
    .recovery_token_ttl_seconds = 1800, \
    .recovery_otp_ttl_seconds = 600, \
    .reset_grant_ttl_seconds = 600, \
    .verification_ttl_seconds = 86400, \
    .recovery_limit_per_hour = 5, \
    .recovery_ip_limit_per_hour = 30, \
}
static const struct armor_security_settings security_defaults = SECURITY_DEFAULTS;
#define APP_DEFAULTS {.name = "Armor", .registration_enabled = true, .default_role = "user"}
static const struct armor_app_settings app_defaults = APP_DEFAULTS;
static const struct armor_email_settings email_defaults = {.port = 587, .security = "starttls"};
static const struct armor_sms_settings sms_defaults = {.provider = "log"};
#define SYSTEM_DEFAULTS {.locale = "en", .timezone = "UTC", .log_level = "info"}
static const struct armor_system_settings system_defaults = SYSTEM_DEFAULTS;

/* The live values, guarded by `lock`. */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct armor_security_settings security = SECURITY_DEFAULTS;
static struct armor_app_settings app = APP_DEFAULTS;
static struct armor_email_settings email;
static struct armor_sms_settings sms;
static struct armor_system_settings sys = SYSTEM_DEFAULTS;

/* Room for any one section, for copies being decoded or edited. */
union any_section {
  struct armor_security_settings security;
  struct armor_app_settings app;
  struct armor_email_settings email;
  struct armor_sms_settings sms;
  struct armor_system_settings system;
};

struct section {
  const char *name;
  const struct field *fields;
  void *live;
  const void *defaults;
  size_t size;
  int64_t version; /* of the live copy; 0 before the first load */
};

static struct section sections[] = {
    {"app", app_fields, &app, &app_defaults, sizeof app, 0},
    {"email", email_fields, &email, &email_defaults, sizeof email, 0},
    {"sms", sms_fields, &sms, &sms_defaults, sizeof sms, 0},
    {"security", security_fields, &security, &security_defaults, sizeof security, 0},
    {"system", system_fields, &sys, &system_defaults, sizeof sys, 0},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

static struct section *find_section(const char *name) {
  for (size_t i = 0; i < NSECTIONS; i++)
    if (name && !strcmp(sections[i].name, name)) return &sections[i];
  return NULL;
}

static void *at(void *base, const struct field *f) { return (char *)base + f->off; }
static const void *cat(const void *base, const struct field *f) { return (const char *)base + f->off; }

/* ---------------------------------------------------------------- validation */

static bool is_line(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return false;
  return true;
}

static bool all_chars(const char *s, const char *extra) {
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr(extra, *p)) return false;
  return true;
}

static bool valid_email(const char *s) {
  const char *at_ = strchr(s, '@');
  if (!at_ || at_ == s || strchr(at_ + 1, '@') || !strchr(at_ + 1, '.') || at_[1] == '.') return false;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= 0x20 || strchr("<>()[]\\,;:\"", *p)) return false;
  return s[strlen(s) - 1] != '.';
}

static bool check_format(const struct field *f, const char *s, char *msg, size_t msglen) {
  if (!is_line(s)) {
    armor_fmt(msg, msglen, "Field '%s' must not contain control characters", f->name);
    return false;
  }
  if (!*s) {
    bool required = f->choices || f->check == C_TZ || f->check == C_LOCALE || !strcmp(f->name, "name") ||
                    !strcmp(f->name, "default_role");
    if (required) armor_fmt(msg, msglen, "Field '%s' must not be empty", f->name);
    return !required; /* other fields may be cleared */
  }
  if (f->choices) {
    for (const char *const *c = f->choices; *c; c++)
      if (!strcmp(*c, s)) return true;
    char list[128] = "";
    for (const char *const *c = f->choices; *c; c++) {
      size_t n = strlen(list);
      armor_fmt(list + n, sizeof list - n, "%s%s", n ? ", " : "", *c);
    }
    armor_fmt(msg, msglen, "Field '%s' must be one of: %s", f->name, list);
    return false;
  }
  bool ok = true;
  const char *what = "";
  switch (f->check) {
  case C_LINE: break;
  case C_HOST:
    ok = all_chars(s, ".-_:[]");
    what = "a host name or IP address";
    break;
  case C_URL:
    ok = (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8)) && !strchr(s, ' ') && strlen(s) > 8;
    what = "an http:// or https:// URL";
    break;
  case C_EMAIL:
    ok = valid_email(s);
    what = "an email address";
    break;
  case C_PHONE:
    ok =
        s[0] == '+' && strlen(s) >= 8 && strlen(s) <= 16 && s[1] != '0' && strspn(s + 1, "0123456789") == strlen(s + 1);
    what = "a phone number in E.164 form (+15550100)";
    break;
  case C_WORD:
    ok = all_chars(s, "-_.");
    what = "letters, digits, '-', '_' or '.'";
    break;
  case C_TZ:
    ok = all_chars(s, "/_-+");
    what = "a time zone name such as UTC or Europe/Paris";
    break;
  case C_LOCALE:
    ok = all_chars(s, "-_") && strlen(s) <= 16;
    what = "a locale such as en or en-US";
    break;
  }
  if (!ok) armor_fmt(msg, msglen, "Field '%s' must be %s", f->name, what);
  return ok;
}

/*
 * Sets one field of `dst` from a JSON value. Returns 0, or 400/422 with msg
 * filled (400: wrong type, 422: value out of range or malformed).
 */
static int set_field(const struct field *f, void *dst, json_t *v, char *msg, size_t msglen) {
  switch (f->type) {
  case F_BOOL:
    if (!json_is_boolean(v)) {
      armor_fmt(msg, msglen, "Field '%s' must be a boolean", f->name);
      return 400;
    }
    *(bool *)at(dst, f) = json_is_true(v);
    return 0;
  case F_INT: {
    if (!json_is_integer(v)) {
      armor_fmt(msg, msglen, "Field '%s' must be an integer", f->name);
      return 400;
    }
    long long x = json_integer_value(v);
    if (x < f->min || x > f->max) {
      armor_fmt(msg, msglen, "Field '%s' must be between %lld and %lld", f->name, f->min, f->max);
      return 422;
    }
    *(int *)at(dst, f) = (int)x;
    return 0;
  }
  case F_STR:
  case F_SECRET: {
    if (f->type == F_SECRET && json_is_null(v)) {
      sodium_memzero(at(dst, f), f->size);
      return 0;
    }
    if (!json_is_string(v)) {
      armor_fmt(msg, msglen, "Field '%s' must be a string", f->name);
      return 400;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n || n >= f->size) {
      armor_fmt(msg, msglen, "Field '%s' must be at most %zu bytes", f->name, f->size - 1);
      return 422;
    }
    if (f->type == F_STR && !check_format(f, s, msg, msglen)) return 422;
    if (f->type == F_SECRET && !is_line(s)) {
      armor_fmt(msg, msglen, "Field '%s' must not contain control characters", f->name);
      return 422;
    }
    memset(at(dst, f), 0, f->size);
    memcpy(at(dst, f), s, n);
    return 0;
  }
  }
  return 400;
}

/* Rules that span fields, checked on the whole section after a change. */
static bool check_section(const struct section *sec, const void *v, const char **field, char *msg, size_t msglen) {
  if (sec->live == &email) {
    const struct armor_email_settings *e = v;
    if (e->enabled && !e->host[0]) {
      *field = "host";
      armor_fmt(msg, msglen, "Field 'host' is required when email is enabled");
      return false;
    }
    if (e->enabled && !e->from_address[0]) {
      *field = "from_address";
      armor_fmt(msg, msglen, "Field 'from_address' is required when email is enabled");
      return false;
    }
  } else if (sec->live == &sms) {
    const struct armor_sms_settings *s = v;
    if (s->enabled && !strcmp(s->provider, "webhook") && !s->url[0]) {
      *field = "url";
      armor_fmt(msg, msglen, "Field 'url' is required for the webhook provider");
      return false;
    }
    if (s->enabled && !strcmp(s->provider, "twilio")) {
      const char *miss = !s->account_sid[0]   ? "account_sid"
                         : !s->auth_token[0]  ? "auth_token"
                         : !s->from_number[0] ? "from_number"
                                              : NULL;
      if (miss) {
        *field = miss;
        armor_fmt(msg, msglen, "Field '%s' is required for the twilio provider", miss);
        return false;
      }
    }
  } else if (sec->live == &security) {
    const struct armor_security_settings *s = v;
    if (s->password_min_length > s->password_max_length) {
      *field = "password_min_length";
      armor_fmt(msg, msglen, "Field 'password_min_length' must not exceed password_max_length");
      return false;
    }
    if (s->lockout_base_seconds > s->lockout_max_seconds) {
      *field = "lockout_base_seconds";
      armor_fmt(msg, msglen, "Field 'lockout_base_seconds' must not exceed lockout_max_seconds");
      return false;
    }
  }
  return true;
}

/* ---------------------------------------------------------------- JSON forms */

/* The API view: secrets as "<name>_set". app.public_url shows the effective value. */
static json_t *view_of(const struct section *sec, const void *v) {
  json_t *o = json_object();
  for (const struct field *f = sec->fields; f->name; f++) {
    switch (f->type) {
    case F_BOOL: json_object_set_new(o, f->name, json_boolean(*(const bool *)cat(v, f))); break;
    case F_INT: json_object_set_new(o, f->name, json_integer(*(const int *)cat(v, f))); break;
    case F_STR: json_object_set_new(o, f->name, json_string(cat(v, f))); break;
    case F_SECRET: {
      char k[80];
      armor_fmt(k, sizeof k, "%s_set", f->name);
      json_object_set_new(o, k, json_boolean(*(const char *)cat(v, f) != 0));
      break;
    }
    }
  }
  if (sec->live == &app && !((const struct armor_app_settings *)v)->public_url[0])
    json_object_set_new(o, "public_url", json_string(armor_cfg.public_url ? armor_cfg.public_url : ""));
  return o;
}

/* The stored form: every field, secrets encrypted. Returns malloc'ed JSON text. */
static char *stored_of(const struct section *sec, const void *v) {
  json_t *o = json_object();
  for (const struct field *f = sec->fields; f->name; f++) {
    if (f->type != F_SECRET) continue;
    const char *s = cat(v, f);
    if (*s) {
      char *enc = armor_secret_encrypt(s, strlen(s));
      json_object_set_new(o, f->name, json_string(enc));
      armor_free(enc);
    } else {
      json_object_set_new(o, f->name, json_string(""));
    }
  }
  json_t *view = view_of(sec, v);
  const char *k;
  json_t *x;
  json_object_foreach(view, k, x) {
    size_t kl = strlen(k);
    if (kl > 4 && !strcmp(k + kl - 4, "_set")) continue;
    if (!json_object_get(o, k)) json_object_set(o, k, x);
  }
  json_decref(view);
  if (sec->live == &app) /* store what was set, not the effective value */
    json_object_set_new(o, "public_url", json_string(((const struct armor_app_settings *)v)->public_url));
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  return s;
}

/* Decodes a stored row over the defaults (fields added later keep their default). false when unreadable. */
static bool decode_stored(const struct section *sec, const char *text, void *out) {
  memcpy(out, sec->defaults, sec->size);
  json_t *o = json_loads(text, 0, NULL);
  if (!json_is_object(o)) {
    json_decref(o);
    return false;
  }
  for (const struct field *f = sec->fields; f->name; f++) {
    json_t *v = json_object_get(o, f->name);
    if (!v) continue;
    char msg[160];
    if (f->type == F_SECRET) {
      const char *enc = json_string_value(v);
      if (!enc || !*enc) continue;
      size_t n = 0;
      unsigned char *plain = armor_secret_decrypt(enc, &n);
      if (!plain || n >= f->size) {
        armor_err("settings: %s.%s cannot be decrypted (was the master key changed?)", sec->name, f->name);
        if (plain) armor_free_secret(plain, n + 1);
        continue;
      }
      memcpy(at(out, f), plain, n + 1);
      armor_free_secret(plain, n + 1);
    } else if (set_field(f, out, v, msg, sizeof msg)) {
      armor_warn("settings: stored %s.%s ignored: %s", sec->name, f->name, msg);
    }
  }
  json_decref(o);
  return true;
}

/* ---------------------------------------------------------------- first start from the environment */

static int env_value(const struct field *f, const char *name, const char *s, void *out, char *msg, size_t msglen) {
  json_t *v = NULL;
  if (f->type == F_BOOL) {
    if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
      v = json_true();
    else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
      v = json_false();
  } else if (f->type == F_INT) {
    long long x;
    if (armor_parse_int(s, f->min, f->max, &x)) v = json_integer(x);
  } else {
    v = json_string(s);
  }
  if (!v) {
    armor_fmt(msg, msglen, "%s must be %s", name, f->type == F_BOOL ? "true or false" : "an integer in range");
    return -1;
  }
  int rc = set_field(f, out, v, msg, msglen);
  json_decref(v);
  return rc ? -1 : 0;
}

/* Defaults overridden by ARMOR_* variables. 0, or -1 after printing one line. */
static int first_start_values(struct section *sec, void *out) {
  memcpy(out, sec->defaults, sec->size);
  if (sec->live == &sys && armor_cfg.log_level && armor_log_level_parse(armor_cfg.log_level) >= 0)
    armor_fmt(((struct armor_system_settings *)out)->log_level, sizeof sys.log_level, "%s", armor_cfg.log_level);
  for (const struct field *f = sec->fields; f->name; f++) {
    /*
     * Names, first found wins: the field's own (ARMOR_SMTP_HOST), the same
     * without _SECONDS (ARMOR_ACCESS_TOKEN_TTL), and the uniform
     * ARMOR_<SECTION>_<FIELD> (ARMOR_SECURITY_LOCKOUT_THRESHOLD, ARMOR_EMAIL_HOST).
     */
    char names[3][96] = {"", "", ""};
    if (f->env) {
      armor_fmt(names[0], sizeof names[0], "%s", f->env);
      size_t n = strlen(f->env);
      if (n > 8 && !strcmp(f->env + n - 8, "_SECONDS"))
        armor_fmt(names[1], sizeof names[1], "%.*s", (int)(n - 8), f->env);
    }
    armor_fmt(names[2], sizeof names[2], "ARMOR_%s_%s", sec->name, f->name);
    for (char *p = names[2]; *p; p++) *p = (char)toupper((unsigned char)*p);
    const char *s = NULL, *name = NULL;
    for (int i = 0; i < 3 && !s; i++) /* an empty value counts as unset */
      if (names[i][0] && (s = getenv(names[i])) && *s)
        name = names[i];
      else
        s = NULL;
    if (!s) continue;
    char msg[200];
    if (env_value(f, name, s, out, msg, sizeof msg)) {
      fprintf(stderr, "armor: %s: %s\n", name, msg);
      return -1;
    }
  }
  /* Naming a mail host or an SMS provider enables the channel unless told otherwise. */
  if (sec->live == &email && (getenv("ARMOR_SMTP_HOST") || getenv("ARMOR_EMAIL_HOST")) &&
      !getenv("ARMOR_SMTP_ENABLED") && !getenv("ARMOR_EMAIL_ENABLED"))
    ((struct armor_email_settings *)out)->enabled = true;
  if (sec->live == &sms && getenv("ARMOR_SMS_PROVIDER") && !getenv("ARMOR_SMS_ENABLED"))
    ((struct armor_sms_settings *)out)->enabled = true;
  const char *field = NULL;
  char msg[200];
  if (!check_section(sec, out, &field, msg, sizeof msg)) {
    fprintf(stderr, "armor: settings from the environment (%s): %s\n", sec->name, msg);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- load and refresh */

static void install(struct section *sec, const void *v, int64_t version, bool live_change) {
  pthread_rwlock_wrlock(&lock);
  if (version > sec->version) {
    sodium_memzero(sec->live, sec->size);
    memcpy(sec->live, v, sec->size);
    sec->version = version;
  } else {
    live_change = false;
  }
  pthread_rwlock_unlock(&lock);
  /* The --log-level flag rules at start; a change made later applies at once. */
  if (live_change && sec->live == &sys) {
    int lv = armor_log_level_parse(((const struct armor_system_settings *)v)->log_level);
    if (lv >= 0) armor_log_level = lv;
  }
}

int armor_settings_refresh(void) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t have[NSECTIONS];
  pthread_rwlock_rdlock(&lock);
  for (size_t i = 0; i < NSECTIONS; i++) have[i] = sections[i].version;
  pthread_rwlock_unlock(&lock);
  struct armor_stmt *st = armor_db_query(db, "SELECT section, version, data FROM settings", "");
  if (!st) return ARMOR_DB;
  int rc;
  while ((rc = armor_stmt_step(st)) == 1) {
    struct section *sec = find_section(armor_stmt_text(st, 0));
    if (!sec) continue;
    int64_t v = armor_stmt_int(st, 1);
    size_t i = (size_t)(sec - sections);
    if (v <= have[i]) continue;
    union any_section buf;
    if (decode_stored(sec, armor_stmt_text(st, 2), &buf))
      install(sec, &buf, v, have[i] > 0);
    else
      armor_err("settings: stored section %s is not valid JSON; keeping the previous values", sec->name);
    sodium_memzero(&buf, sizeof buf);
  }
  armor_stmt_done(st);
  return rc == 0 ? ARMOR_OK : ARMOR_DB;
}

static pthread_t refresher;
static bool refresher_running;
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static bool stopping;

static void *refresh_loop(void *arg) {
  (void)arg;
  pthread_mutex_lock(&stop_mu);
  while (!stopping) {
    struct timespec ts = armor_deadline_ms(1000);
    pthread_cond_timedwait(&stop_cv, &stop_mu, &ts);
    if (stopping) break;
    pthread_mutex_unlock(&stop_mu);
    armor_settings_refresh();
    pthread_mutex_lock(&stop_mu);
  }
  pthread_mutex_unlock(&stop_mu);
  armor_store_close();
  return NULL;
}

int armor_settings_start(void) {
  struct armor_db *db = armor_db_get();
  if (!db) {
    fprintf(stderr, "armor: settings: database unreachable\n");
    return -1;
  }
  for (size_t i = 0; i < NSECTIONS; i++) {
    union any_section buf;
    if (first_start_values(&sections[i], &buf)) return -1;
    char *text = stored_of(&sections[i], &buf);
    sodium_memzero(&buf, sizeof buf);
    /* Several nodes may start together: the first insert wins, the others keep what is stored. */
    int rc = armor_db_exec(db, NULL,
                           "INSERT INTO settings (section, data, version, updated_at) VALUES ($1, $2, 1, $3) "
                           "ON CONFLICT (section) DO NOTHING",
                           "tti", sections[i].name, text, armor_time());
    armor_free_secret_str(text);
    if (rc) {
      fprintf(stderr, "armor: settings: cannot store the first-start values\n");
      return -1;
    }
  }
  if (armor_settings_refresh()) {
    fprintf(stderr, "armor: settings: cannot load the stored settings\n");
    return -1;
  }
  pthread_mutex_lock(&stop_mu);
  stopping = false;
  pthread_mutex_unlock(&stop_mu);
  if (pthread_create(&refresher, NULL, refresh_loop, NULL)) {
    fprintf(stderr, "armor: settings: cannot start the refresher thread\n");
    return -1;
  }
  refresher_running = true;
  return 0;
}

void armor_settings_stop(void) {
  if (!refresher_running) return;
  pthread_mutex_lock(&stop_mu);
  stopping = true;
  pthread_cond_broadcast(&stop_cv);
  pthread_mutex_unlock(&stop_mu);
  pthread_join(refresher, NULL);
  refresher_running = false;
}

/* ---------------------------------------------------------------- readers */

void armor_settings_security(struct armor_security_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = security;
  pthread_rwlock_unlock(&lock);
}

void armor_settings_app(struct armor_app_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = app;
  pthread_rwlock_unlock(&lock);
  if (!out->public_url[0])
    armor_fmt(out->public_url, sizeof out->public_url, "%s", armor_cfg.public_url ? armor_cfg.public_url : "");
}

void armor_settings_email(struct armor_email_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = email;
  pthread_rwlock_unlock(&lock);
}

void armor_settings_sms(struct armor_sms_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = sms;
  pthread_rwlock_unlock(&lock);
}

void armor_settings_system(struct armor_system_settings *out) {
  pthread_rwlock_rdlock(&lock);
  *out = sys;
  pthread_rwlock_unlock(&lock);
}

bool armor_settings_is_section(const char *name) { return find_section(name) != NULL; }

json_t *armor_settings_section_view(const char *name) {
  struct section *sec = find_section(name);
  if (!sec) return NULL;
  pthread_rwlock_rdlock(&lock);
  json_t *o = view_of(sec, sec->live);
  pthread_rwlock_unlock(&lock);
  return o;
}

json_t *armor_settings_view(void) {
  json_t *o = json_object();
  for (size_t i = 0; i < NSECTIONS; i++)
    json_object_set_new(o, sections[i].name, armor_settings_section_view(sections[i].name));
  return o;
}

/* ---------------------------------------------------------------- update */

/* Applies `patch` to `v`; 0 or the status with field/msg filled. */
static int apply_patch(const struct section *sec, json_t *patch, void *v, const char **field, char *msg,
                       size_t msglen) {
  const char *k;
  json_t *x;
  json_object_foreach(patch, k, x) {
    const struct field *f = NULL;
    for (const struct field *g = sec->fields; g->name; g++)
      if (!strcmp(g->name, k)) f = g;
    if (!f) {
      /* "<secret>_set" from a GET may come back unchanged in a PUT; it is read-only. */
      size_t kl = strlen(k);
      bool ro = false;
      for (const struct field *g = sec->fields; g->name; g++)
        if (g->type == F_SECRET && kl == strlen(g->name) + 4 && !strncmp(k, g->name, strlen(g->name)) &&
            !strcmp(k + kl - 4, "_set") && json_is_boolean(x))
          ro = true;
      if (ro) continue;
      *field = k;
      armor_fmt(msg, msglen, "Unknown field '%.64s'", k);
      return 422;
    }
    int rc = set_field(f, v, x, msg, msglen);
    if (rc) {
      *field = f->name;
      return rc;
    }
  }
  return check_section(sec, v, field, msg, msglen) ? 0 : 422;
}

static json_t *diff(const struct section *sec, const void *a, const void *b) {
  json_t *names = json_array();
  for (const struct field *f = sec->fields; f->name; f++) {
    bool same;
    switch (f->type) {
    case F_BOOL: same = *(const bool *)cat(a, f) == *(const bool *)cat(b, f); break;
    case F_INT: same = *(const int *)cat(a, f) == *(const int *)cat(b, f); break;
    default: same = !strcmp(cat(a, f), cat(b, f)); break;
    }
    if (!same) json_array_append_new(names, json_string(f->name));
  }
  return names;
}

int armor_settings_update(const char *name, json_t *patch, json_t **changed, struct armor_settings_error *err) {
  struct section *sec = find_section(name);
  memset(err, 0, sizeof *err);
  if (changed) *changed = NULL;
  if (!sec) return ARMOR_NOT_FOUND;
  if (!json_is_object(patch)) {
    err->wrong_type = true;
    armor_fmt(err->msg, sizeof err->msg, "The body must be a JSON object");
    return ARMOR_INVALID;
  }
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  union any_section cur, next;
  int rc = ARMOR_DB;
  /* Optimistic concurrency: re-read the stored row and write only if nobody changed it meanwhile. */
  for (int attempt = 0; attempt < 5; attempt++) {
    struct armor_stmt *st = armor_db_query(db, "SELECT version, data FROM settings WHERE section = $1", "t", sec->name);
    if (!st) break;
    int have = armor_stmt_step(st);
    int64_t version = have == 1 ? armor_stmt_int(st, 0) : 0;
    bool ok = have == 1 && decode_stored(sec, armor_stmt_text(st, 1), &cur);
    armor_stmt_done(st);
    if (!ok) break;
    memcpy(&next, &cur, sec->size);
    const char *bad = "";
    int status = apply_patch(sec, patch, &next, &bad, err->msg, sizeof err->msg);
    if (status) {
      armor_fmt(err->field, sizeof err->field, "%s", bad);
      err->wrong_type = status == 400;
      rc = ARMOR_INVALID;
      goto out;
    }
    json_t *names = diff(sec, &cur, &next);
    if (json_array_size(names) == 0) {
      install(sec, &next, version, true);
      if (changed)
        *changed = names;
      else
        json_decref(names);
      rc = ARMOR_OK;
      goto out;
    }
    char *text = stored_of(sec, &next);
    int64_t n = 0;
    rc = armor_db_exec(
        db, &n,
        "UPDATE settings SET data = $1, version = version + 1, updated_at = $2 WHERE section = $3 AND version = $4",
        "titi", text, armor_time(), sec->name, version);
    armor_free_secret_str(text);
    if (rc || n == 0) {
      json_decref(names);
      rc = ARMOR_DB;
      continue;
    }
    install(sec, &next, version + 1, true);
    if (changed)
      *changed = names;
    else
      json_decref(names);
    rc = ARMOR_OK;
    goto out;
  }
out:
  sodium_memzero(&cur, sizeof cur);
  sodium_memzero(&next, sizeof next);
  return rc;
}
