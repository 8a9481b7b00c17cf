/*
 * Runtime settings (sections app, email, sms, security, system) held in the
 * database and cached in memory; a change made on any node takes effect on
 * every node without a restart. Readers take a snapshot copy; thread-safe.
 *
 * Storage: one row per section (JSON text, a version and updated_at). Secrets
 * (email.password, sms.auth_token) are stored encrypted with the master key
 * and are never returned by the API view. Every node re-reads rows whose
 * version changed about once a second. First-start values come from ARMOR_*
 * environment variables (see the field table in settings.c).
 */
#ifndef ARMOR_SETTINGS_H
#define ARMOR_SETTINGS_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct armor_security_settings {
  int password_min_length;          /* 8 */
  int password_max_length;          /* 1024 (code points) */
  int lockout_threshold;            /* 10 failures */
  int lockout_base_seconds;         /* 60, doubling */
  int lockout_max_seconds;          /* 900 */
  int ip_limit_per_minute;          /* failed logins per IP per minute across accounts: 100 */
  int access_token_ttl_seconds;     /* 900 */
  int session_idle_initial_seconds; /* 300 */
  int session_idle_seconds;         /* 1209600 */
  int session_max_seconds;          /* 2592000 (30 days) */
  bool mfa_required;                /* false */
  int recovery_token_ttl_seconds;   /* emailed recovery links: 1800 */
  int recovery_otp_ttl_seconds;     /* SMS codes: 600 (at most 900) */
  int reset_grant_ttl_seconds;      /* reset grants: 600 */
  int verification_ttl_seconds;     /* email verification links: 86400 */
  int recovery_limit_per_hour;      /* recovery sends per account, destination and identifier: 5 */
  int recovery_ip_limit_per_hour;   /* recovery requests per client IP: 30 */
};

struct armor_app_settings {
  char name[128];            /* "Armor" */
  char public_url[512];      /* the configured --public-url unless changed */
  bool registration_enabled; /* true */
  char default_role[64];     /* "user" */
};

struct armor_email_settings {
  bool enabled; /* false unless ARMOR_SMTP_HOST was given on first start */
  char host[256];
  int port;           /* 587 */
  char security[16];  /* "none" | "starttls" | "tls" (default "starttls") */
  char username[256]; /* "" : no AUTH */
  char password[256]; /* secret: wipe copies with sodium_memzero */
  char from_address[255];
  char from_name[128]; /* "" : the app name */
};

struct armor_sms_settings {
  bool enabled;         /* false unless ARMOR_SMS_PROVIDER was given on first start */
  char provider[16];    /* "webhook" | "twilio" | "log" (default "log") */
  char url[512];        /* webhook URL, or the Twilio API base ("" : https://api.twilio.com) */
  char auth_token[256]; /* secret: wipe copies with sodium_memzero */
  char account_sid[128];
  char from_number[20]; /* E.164 */
};

struct armor_system_settings {
  char locale[32];    /* "en" */
  char timezone[64];  /* "UTC" */
  char log_level[16]; /* error | warning | info | debug */
};

/* Loads settings (first-start values from ARMOR_* variables) and starts the refresher. 0 or -1 (one line printed). */
int armor_settings_start(void);
void armor_settings_stop(void);
void armor_settings_security(struct armor_security_settings *out);
void armor_settings_app(struct armor_app_settings *out);
/* The email and SMS snapshots carry the decrypted secret: the caller wipes them (sodium_memzero) after use. */
void armor_settings_email(struct armor_email_settings *out);
void armor_settings_sms(struct armor_sms_settings *out);
void armor_settings_system(struct armor_system_settings *out);

/* True when `name` is one of app, email, sms, security, system. */
bool armor_settings_is_section(const char *name);
/* New reference: {"app": {...}, "email": {...}, ...}; secrets appear only as "<name>_set": bool. */
json_t *armor_settings_view(void);
/* New reference: the API view of one section; NULL when the section is unknown. */
json_t *armor_settings_section_view(const char *section);

/* Why an update was refused: the field, a message, and whether the value had the wrong JSON type. */
struct armor_settings_error {
  char field[80];
  char msg[256];
  bool wrong_type; /* a string where a number belongs, ...: the API answers 400 rather than 422 */
};

/*
 * Validates `patch` (the fields to change; absent fields keep their value; a
 * secret given as "" or null is cleared) against section `section`, stores the
 * result and applies it on this node at once (others follow within ~1 s).
 * On ARMOR_OK, *changed (may be NULL) is a new array of the names of the
 * fields whose value changed. ARMOR_NOT_FOUND: unknown section.
 * ARMOR_INVALID: *err says why (nothing stored). ARMOR_DB.
 */
int armor_settings_update(const char *section, json_t *patch, json_t **changed, struct armor_settings_error *err);

/* Re-reads the stored sections now (what the refresher does every second). ARMOR_OK / ARMOR_DB. */
int armor_settings_refresh(void);

#endif
