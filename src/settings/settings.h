/*
 * Runtime settings (sections app, email, sms, security, system) held in the
 * database and cached in memory; a change made on any node takes effect on
 * every node without a restart. Readers take a snapshot copy; thread-safe.
 */
#ifndef ARMOR_SETTINGS_H
#define ARMOR_SETTINGS_H
#include <stdbool.h>
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
};

struct armor_app_settings {
  char name[128];          /* "Armor" */
  char public_url[512];    /* the configured --public-url unless changed */
  bool registration_enabled; /* true */
  char default_role[64];   /* "user" */
};

/* Loads settings (first-start values from ARMOR_* variables) and starts the refresher. 0 or -1. */
int armor_settings_start(void);
void armor_settings_stop(void);
void armor_settings_security(struct armor_security_settings *out);
void armor_settings_app(struct armor_app_settings *out);

#endif
