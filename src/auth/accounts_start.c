/*
 * Start and stop of the accounts service, the bearer authenticator it
 * registers with the HTTP layer, the first administrator (ARMOR_ADMIN_* on a
 * first start, or a one-time setup link) and `armor admin create`.
 */
#include "app/app.h"
#include "app/services.h"
#include "auth/accounts.h"
#include "auth/audit.h"
#include "auth/password.h"
#include "core/config.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ authenticator */

static bool authenticate(struct armor_req *r) {
  armor_audit_context(r->request_id, r->client_ip);
  const char *tok = armor_req_bearer(r);
  if (!tok) {
    armor_reply_error(r, 401, "UNAUTHORIZED", "Authentication required", NULL);
    return false;
  }
  struct armor_principal *p = armor_arena_alloc(r->arena, sizeof *p);
  int rc = armor_sessions_check_access(tok, r->arena, p);
  if (rc == ARMOR_OK) {
    r->principal = p;
    return true;
  }
  if (rc == ARMOR_EXPIRED)
    armor_reply_error(r, 401, "TOKEN_EXPIRED", "The access token expired", NULL);
  else if (rc == ARMOR_DB)
    armor_reply_rc(r, ARMOR_DB, NULL);
  else
    armor_reply_error(r, 401, "UNAUTHORIZED", "Invalid or revoked token", NULL);
  return false;
}

/* ================================================================ first administrator */

static int count_users(void) {
  struct armor_db *db = armor_db_get();
  struct armor_stmt *st = db ? armor_db_query(db, "SELECT COUNT(*) FROM users", "") : NULL;
  if (!st) return -1;
  int n = armor_stmt_step(st) == 1 ? (int)armor_stmt_int(st, 0) : -1;
  armor_stmt_done(st);
  return n;
}

static int first_admin(void) {
  if (armor_accounts_admin_exists()) return 0;
  const char *u = getenv("ARMOR_ADMIN_USERNAME"), *pw = getenv("ARMOR_ADMIN_PASSWORD");
  if (u && *u && pw && *pw && count_users() == 0) {
    struct armor_user_new in = {.username = u, .password = pw, .email = getenv("ARMOR_ADMIN_EMAIL"), .role = "admin"};
    struct armor_user out;
    char field[32], msg[160];
    int rc = armor_accounts_create(&in, &out, field, sizeof field, msg, sizeof msg);
    if (rc == ARMOR_OK) {
      armor_info("created the first administrator '%s' from ARMOR_ADMIN_USERNAME", out.username);
      json_t *d = json_object();
      json_object_set_new(d, "via", json_string("environment"));
      armor_audit("admin.created", NULL, out.id, "", "", d);
      return 0;
    }
    if (rc == ARMOR_CONFLICT) return 0; /* another node made it at the same moment */
    fprintf(stderr, "armor: cannot create the first administrator from ARMOR_ADMIN_USERNAME: %s\n",
            rc == ARMOR_INVALID ? msg : armor_rc_name(rc));
    return -1;
  }
  char *token = NULL;
  if (armor_setup_token_new(&token)) {
    armor_warn("no administrator exists and no setup link could be made");
    return 0;
  }
  struct armor_app_settings app;
  armor_settings_app(&app);
  armor_warn("no administrator exists yet. Create one within 24 hours with this one-time link "
             "(or ARMOR_ADMIN_USERNAME/ARMOR_ADMIN_PASSWORD on a first start, or `armor admin create`):");
  armor_warn("  %s/api/auth/setup?token=%s", app.public_url, token);
  armor_free_secret_str(token);
  return 0;
}

/* ================================================================ start / stop */

int armor_accounts_start(void) {
  if (armor_accounts_init()) {
    fprintf(stderr, "armor: the accounts service cannot start (argon2id or thread)\n");
    return -1;
  }
  armor_http_set_authenticator(authenticate);
  if (first_admin()) return -1;
  return 0;
}

void armor_accounts_stop(void) { armor_accounts_shutdown(); }

/* ================================================================ armor admin create */

static char *opt_username, *opt_email;
static bool opt_password_stdin;

static const struct armor_opt admin_opts[] = {
    {"username", NULL, "username of the new administrator", 0, &opt_username},
    {"email", NULL, "email address of the new administrator (optional)", 0, &opt_email},
    {"password-stdin", NULL, "read the password from standard input (one line)", 1, &opt_password_stdin},
    {NULL, NULL, NULL, 0, NULL},
};

static char *read_password(void) {
  char buf[4200];
  size_t n = fread(buf, 1, sizeof buf - 1, stdin);
  buf[n] = 0;
  char *nl = memchr(buf, '\n', n);
  if (nl) *nl = 0;
  size_t len = strlen(buf);
  if (len && buf[len - 1] == '\r') buf[--len] = 0;
  char *p = armor_strdup(buf);
  sodium_memzero(buf, sizeof buf);
  return p;
}

int armor_cmd_admin(int argc, char **argv) {
  const char *usage = "create --username U [--email E] --password-stdin";
  if (argc < 2 || strcmp(argv[1], "create")) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
      armor_config_help("admin", usage, admin_opts);
      return 0;
    }
    fprintf(stderr, "usage: armor admin %s\n", usage);
    return 2;
  }
  int lc = armor_config_load("admin", argc - 2, argv + 2, admin_opts);
  if (lc == 1) {
    armor_config_help("admin", usage, admin_opts);
    return 0;
  }
  if (lc < 0) return 2;
  if (!opt_username || !opt_password_stdin) {
    fprintf(stderr, "armor admin create: --username and --password-stdin are required\n");
    return 2;
  }
  /* The master key (and the default database) live in the data folder; make it as serve does. */
  if (mkdir(armor_cfg.data_dir, 0700) && errno != EEXIST) {
    fprintf(stderr, "armor: cannot create data folder %s: %s\n", armor_cfg.data_dir, strerror(errno));
    return 2;
  }
  if (armor_secret_init(armor_cfg.master_key, armor_cfg.master_key_file)) return 2;
  if (armor_app_open_store()) return 2;
  if (armor_settings_start() || armor_password_init()) {
    armor_store_close();
    return 2;
  }
  char *pw = read_password();
  struct armor_user_new in = {.username = opt_username, .password = pw, .email = opt_email, .role = "admin"};
  struct armor_user out;
  char field[32], msg[160];
  int rc = armor_accounts_create(&in, &out, field, sizeof field, msg, sizeof msg);
  armor_free_secret_str(pw);
  int code = 0;
  if (rc == ARMOR_OK) {
    json_t *d = json_object();
    json_object_set_new(d, "via", json_string("cli"));
    armor_audit("admin.created", NULL, out.id, "", "", d);
    json_t *o = armor_user_to_json(&out);
    json_object_set_new(o, "roles", json_pack("[s]", "admin"));
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    armor_free(s);
    json_decref(o);
  } else {
    fprintf(stderr, "armor admin create: %s\n", rc == ARMOR_INVALID || rc == ARMOR_CONFLICT ? msg : armor_rc_name(rc));
    code = 1;
  }
  armor_settings_stop();
  armor_store_close();
  return code;
}
