/*
 * The OAuth service's lifecycle: the revoked-jti view every node keeps in
 * memory (refreshed from oauth_revoked_tokens every second), expiry cleanup,
 * Prometheus counters, the audit context of the current request, and the
 * `armor client create` command.
 */
#include "api/api.h"
#include "app/app.h"
#include "app/services.h"
#include "auth/audit.h"
#include "core/config.h"
#include "core/secret.h"
#include "oauth/oauth.h"
#include "oauth/oauth_int.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ================================================================ metrics */

/* One row per shard (armor_shard), each on its own cache lines. */
static struct { _Alignas(64) atomic_ullong n[OAUTH_M_COUNT]; } counters[ARMOR_SHARDS];

void armor_oauth_count(enum armor_oauth_counter c) {
  atomic_fetch_add_explicit(&counters[armor_shard()].n[c], 1, memory_order_relaxed);
}

static unsigned long long counter_total(enum armor_oauth_counter c) {
  unsigned long long n = 0;
  for (int i = 0; i < ARMOR_SHARDS; i++) n += atomic_load_explicit(&counters[i].n[c], memory_order_relaxed);
  return n;
}

static void metrics(struct armor_buf *b) {
#define C(i) counter_total(i)
  armor_buf_printf(b,
                   "# HELP armor_oauth_tokens_issued_total OAuth token responses issued, by grant.\n"
                   "# TYPE armor_oauth_tokens_issued_total counter\n"
                   "armor_oauth_tokens_issued_total{grant=\"authorization_code\"} %llu\n"
                   "armor_oauth_tokens_issued_total{grant=\"client_credentials\"} %llu\n"
                   "armor_oauth_tokens_issued_total{grant=\"refresh_token\"} %llu\n"
                   "armor_oauth_tokens_issued_total{grant=\"api_authorization_code\"} %llu\n"
                   "# HELP armor_oauth_authorize_total Authorization requests by outcome.\n"
                   "# TYPE armor_oauth_authorize_total counter\n"
                   "armor_oauth_authorize_total{result=\"code\"} %llu\n"
                   "armor_oauth_authorize_total{result=\"denied\"} %llu\n"
                   "armor_oauth_authorize_total{result=\"error\"} %llu\n"
                   "armor_oauth_authorize_total{result=\"login_form\"} %llu\n"
                   "armor_oauth_authorize_total{result=\"consent_form\"} %llu\n"
                   "# HELP armor_oauth_token_errors_total Token endpoint refusals.\n"
                   "# TYPE armor_oauth_token_errors_total counter\narmor_oauth_token_errors_total %llu\n"
                   "# HELP armor_oauth_introspections_total Introspections by answer.\n"
                   "# TYPE armor_oauth_introspections_total counter\n"
                   "armor_oauth_introspections_total{active=\"true\"} %llu\n"
                   "armor_oauth_introspections_total{active=\"false\"} %llu\n"
                   "# HELP armor_oauth_revocations_total Tokens revoked through /oauth2/revoke.\n"
                   "# TYPE armor_oauth_revocations_total counter\narmor_oauth_revocations_total %llu\n"
                   "# HELP armor_oauth_replays_total Reused authorization codes or refresh tokens (grant revoked).\n"
                   "# TYPE armor_oauth_replays_total counter\narmor_oauth_replays_total %llu\n",
                   C(OAUTH_M_ISSUED_CODE), C(OAUTH_M_ISSUED_CC), C(OAUTH_M_ISSUED_REFRESH), C(OAUTH_M_ISSUED_API),
                   C(OAUTH_M_AUTHZ_CODE), C(OAUTH_M_AUTHZ_DENIED), C(OAUTH_M_AUTHZ_ERROR), C(OAUTH_M_AUTHZ_LOGIN),
                   C(OAUTH_M_AUTHZ_CONSENT), C(OAUTH_M_TOKEN_ERROR), C(OAUTH_M_INTROSPECT_ACTIVE),
                   C(OAUTH_M_INTROSPECT_INACTIVE), C(OAUTH_M_REVOKED), C(OAUTH_M_REUSE));
#undef C
}

/* ================================================================ audit */

void armor_oauth_audit_context(const char *ip, const char *request_id) { armor_audit_context(request_id, ip); }

void armor_oauth_audit(const char *event, const char *actor, const char *subject, json_t *details) {
  armor_audit(event, actor && *actor ? actor : NULL, subject && *subject ? subject : NULL, NULL, NULL, details);
}

/* ================================================================ client_credentials audit counts */

#define CC_SLOTS 256
struct cc_count {
  char client_id[37];
  unsigned long long n;
};
static struct cc_count cc_counts[CC_SLOTS];
static int cc_used;
static int64_t cc_since;
static pthread_mutex_t cc_lock = PTHREAD_MUTEX_INITIALIZER;

static void cc_write(struct cc_count *list, int n, int64_t since, int64_t until) {
  for (int i = 0; i < n; i++) {
    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(list[i].client_id));
    json_object_set_new(d, "grant_type", json_string("client_credentials"));
    json_object_set_new(d, "count", json_integer((json_int_t)list[i].n));
    json_object_set_new(d, "from", json_integer(since));
    json_object_set_new(d, "to", json_integer(until));
    armor_audit("oauth.token.issued", NULL, NULL, "", "", d);
  }
}

void armor_oauth_audit_cc_flush(void) {
  static struct cc_count snapshot[CC_SLOTS];
  static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&flush_lock);
  pthread_mutex_lock(&cc_lock);
  int n = cc_used;
  memcpy(snapshot, cc_counts, sizeof cc_counts[0] * (size_t)n);
  int64_t since = cc_since, now = armor_time();
  cc_used = 0;
  cc_since = now;
  pthread_mutex_unlock(&cc_lock);
  cc_write(snapshot, n, since, now);
  pthread_mutex_unlock(&flush_lock);
}

void armor_oauth_audit_cc_issued(const char *client_id) {
  for (;;) {
    pthread_mutex_lock(&cc_lock);
    if (!cc_used) cc_since = armor_time();
    for (int i = 0; i < cc_used; i++)
      if (!strcmp(cc_counts[i].client_id, client_id)) {
        cc_counts[i].n++;
        pthread_mutex_unlock(&cc_lock);
        return;
      }
    if (cc_used < CC_SLOTS) {
      armor_fmt(cc_counts[cc_used].client_id, sizeof cc_counts[0].client_id, "%s", client_id);
      cc_counts[cc_used++].n = 1;
      pthread_mutex_unlock(&cc_lock);
      return;
    }
    pthread_mutex_unlock(&cc_lock);
    armor_oauth_audit_cc_flush(); /* more clients than slots in one minute: write now */
  }
}

/* ================================================================ revoked-jti view */

#define JTI_BUCKETS 4096
struct jti_node {
  struct jti_node *next;
  int64_t exp;
  char jti[];
};
static struct jti_node *jtis[JTI_BUCKETS];
static pthread_rwlock_t jti_lock = PTHREAD_RWLOCK_INITIALIZER;
/* Entries in the view, changed under the write lock: while it is 0 (the usual case) a lookup takes no
   lock, so introspections on different threads do not share the lock's cache line. */
static atomic_long jti_count;

static size_t jti_bucket(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (size_t)(h % JTI_BUCKETS);
}

bool armor_oauth_jti_revoked(const char *jti) {
  if (!atomic_load_explicit(&jti_count, memory_order_acquire)) return false;
  size_t b = jti_bucket(jti);
  bool found = false;
  pthread_rwlock_rdlock(&jti_lock);
  for (struct jti_node *n = jtis[b]; n && !found; n = n->next) found = !strcmp(n->jti, jti);
  pthread_rwlock_unlock(&jti_lock);
  return found;
}

void armor_oauth_jti_add(const char *jti, int64_t exp) {
  if (armor_oauth_jti_revoked(jti)) return;
  size_t b = jti_bucket(jti), l = strlen(jti);
  struct jti_node *n = armor_malloc(sizeof *n + l + 1);
  memcpy(n->jti, jti, l + 1);
  n->exp = exp;
  pthread_rwlock_wrlock(&jti_lock);
  n->next = jtis[b];
  jtis[b] = n;
  atomic_fetch_add_explicit(&jti_count, 1, memory_order_release);
  pthread_rwlock_unlock(&jti_lock);
}

static void jti_purge(int64_t now) {
  pthread_rwlock_wrlock(&jti_lock);
  for (size_t b = 0; b < JTI_BUCKETS; b++) {
    struct jti_node **pp = &jtis[b];
    while (*pp) {
      struct jti_node *n = *pp;
      if (n->exp < now) {
        *pp = n->next;
        armor_free(n);
        atomic_fetch_sub_explicit(&jti_count, 1, memory_order_release);
      } else {
        pp = &n->next;
      }
    }
  }
  pthread_rwlock_unlock(&jti_lock);
}

/* Loads revocations made since `since` (by any node). */
static int64_t jti_sync(int64_t since) {
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(armor_db_get(),
                                         "SELECT jti, expires_at FROM oauth_revoked_tokens WHERE revoked_at >= $1 AND "
                                         "expires_at >= $2",
                                         "ii", since, now);
  if (!st) return since;
  while (armor_stmt_step(st) == 1) armor_oauth_jti_add(armor_stmt_text(st, 0), armor_stmt_int(st, 1));
  armor_stmt_done(st);
  return now - 2; /* overlap: a row committed late with an older revoked_at is still seen */
}

void armor_oauth_cleanup(void) {
  struct armor_db *db = armor_db_get();
  int64_t now = armor_time();
  armor_db_exec(db, NULL, "DELETE FROM oauth_grants WHERE expires_at < $1 OR (code_used = 0 AND code_expires_at < $2)",
                "ii", now, now - 600);
  armor_db_exec(db, NULL, "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1", "i", now);
  armor_db_exec(db, NULL, "DELETE FROM oauth_revoked_tokens WHERE expires_at < $1", "i", now);
  armor_db_exec(db, NULL, "DELETE FROM oauth_browser_sessions WHERE expires_at < $1", "i", now);
  jti_purge(now);
}

static pthread_t bg_thread;
static bool bg_running, bg_stop;
static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond = PTHREAD_COND_INITIALIZER;

static void *bg_main(void *arg) {
  (void)arg;
  int64_t since = 0, last_cleanup = 0;
  pthread_mutex_lock(&bg_lock);
  while (!bg_stop) {
    pthread_mutex_unlock(&bg_lock);
    since = jti_sync(since);
    if (armor_time() - last_cleanup >= 60) {
      armor_oauth_audit_cc_flush();
      armor_oauth_cleanup();
      last_cleanup = armor_time();
    }
    pthread_mutex_lock(&bg_lock);
    struct timespec ts = armor_deadline_ms(1000);
    if (!bg_stop) pthread_cond_timedwait(&bg_cond, &bg_lock, &ts);
  }
  pthread_mutex_unlock(&bg_lock);
  armor_store_close(); /* this thread's connection */
  return NULL;
}

void armor_oauth_revocations_start(void) {
  jti_sync(0);
  bg_stop = false;
  if (pthread_create(&bg_thread, NULL, bg_main, NULL) == 0) bg_running = true;
}

void armor_oauth_revocations_stop(void) {
  if (!bg_running) return;
  pthread_mutex_lock(&bg_lock);
  bg_stop = true;
  pthread_cond_broadcast(&bg_cond);
  pthread_mutex_unlock(&bg_lock);
  pthread_join(bg_thread, NULL);
  bg_running = false;
  armor_oauth_audit_cc_flush();
  jti_purge(INT64_MAX);
}

/* ================================================================ service */

int armor_oauth_start(void) {
  armor_metrics_register(metrics);
  armor_oauth_revocations_start();
  return 0;
}

void armor_oauth_stop(void) { armor_oauth_revocations_stop(); }

/* ================================================================ armor client create */

static char *opt_name, *opt_auth_method, *opt_grant1, *opt_scope1, *opt_uri1, *opt_resource1;
static bool opt_skip_consent;

static const struct armor_opt client_opts[] = {
    {"name", NULL, "client name (required)", 0, &opt_name},
    {"grant", NULL, "grant type: client_credentials, authorization_code, refresh_token (repeatable)", 0, &opt_grant1},
    {"scope", NULL, "a scope the client may request (repeatable)", 0, &opt_scope1},
    {"redirect-uri", NULL, "a redirect URI (repeatable; needed for authorization_code)", 0, &opt_uri1},
    {"resource", NULL, "a resource URI the client may ask tokens for (RFC 8707 `resource`; repeatable)", 0,
     &opt_resource1},
    {"auth-method", NULL, "client_secret_basic (default), client_secret_post or none (public client)", 0,
     &opt_auth_method},
    {"skip-consent", NULL, "first-party client: no consent page", 1, &opt_skip_consent},
    {NULL, NULL, NULL, 0, NULL},
};

static int client_create(int argc, char **argv) {
  /* Repeatable flags are collected here; the rest goes to the common parser. */
  json_t *grants = json_array(), *scopes = json_array(), *uris = json_array(), *resources = json_array();
  char **rest = armor_calloc((size_t)argc + 1, sizeof *rest);
  int nrest = 0, rc = 2;
  for (int i = 0; i < argc; i++) {
    json_t *into = NULL;
    const char *a = argv[i], *val = NULL;
    static const char *const rep[] = {"--grant", "--scope", "--redirect-uri", "--resource"};
    for (int k = 0; k < 4; k++) {
      size_t l = strlen(rep[k]);
      if (!strncmp(a, rep[k], l) && (a[l] == 0 || a[l] == '=')) {
        into = k == 0 ? grants : k == 1 ? scopes : k == 2 ? uris : resources;
        if (a[l] == '=')
          val = a + l + 1;
        else if (i + 1 < argc)
          val = argv[++i];
        else {
          fprintf(stderr, "armor client: flag '%s' needs a value\n", rep[k]);
          goto out;
        }
      }
    }
    if (into)
      json_array_append_new(into, json_string(val));
    else
      rest[nrest++] = argv[i];
  }
  int lc = armor_config_load("client create", nrest, rest, client_opts);
  if (lc == 1) {
    armor_config_help("client create", "--name N --grant G [--scope S]... [--redirect-uri U]... [--resource URI]...",
                      client_opts);
    rc = 0;
    goto out;
  }
  if (lc < 0) goto out;
  if (opt_grant1) json_array_append_new(grants, json_string(opt_grant1));
  if (opt_scope1) json_array_append_new(scopes, json_string(opt_scope1));
  if (opt_uri1) json_array_append_new(uris, json_string(opt_uri1));
  if (opt_resource1) json_array_append_new(resources, json_string(opt_resource1));
  if (!opt_name || !json_array_size(grants)) {
    fprintf(stderr, "armor client create: --name and at least one --grant are required\n");
    goto out;
  }
  if (!strncmp(armor_cfg.database, "sqlite:", 7) && mkdir(armor_cfg.data_dir, 0700) && errno != EEXIST) {
    fprintf(stderr, "armor: cannot create data folder %s: %s\n", armor_cfg.data_dir, strerror(errno));
    goto out;
  }
  if (armor_secret_init(armor_cfg.master_key, armor_cfg.master_key_file)) goto out;
  if (armor_app_open_store()) goto out;
  json_t *in = json_object();
  json_object_set_new(in, "name", json_string(opt_name));
  json_object_set(in, "grant_types", grants);
  if (json_array_size(scopes)) json_object_set(in, "scopes", scopes);
  if (json_array_size(uris)) json_object_set(in, "redirect_uris", uris);
  if (json_array_size(resources)) json_object_set(in, "resources", resources);
  if (opt_auth_method) json_object_set_new(in, "token_endpoint_auth_method", json_string(opt_auth_method));
  if (opt_skip_consent) json_object_set_new(in, "skip_consent", json_true());
  json_t *out = NULL;
  struct armor_oauth_verr e = {0};
  int r = armor_oauth_client_create(in, NULL, &out, &e);
  json_decref(in);
  if (r == ARMOR_INVALID) {
    fprintf(stderr, "armor client create: %s\n", e.msg);
  } else if (r) {
    fprintf(stderr, "armor client create: database error\n");
  } else {
    json_t *o = json_object();
    json_object_set(o, "client_id", json_object_get(out, "client_id"));
    if (json_object_get(out, "client_secret"))
      json_object_set(o, "client_secret", json_object_get(out, "client_secret"));
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    armor_free_secret_str(s);
    json_decref(o);
    json_t *d = json_object();
    json_object_set_new(d, "client_id", json_string(json_string_value(json_object_get(out, "client_id"))));
    json_object_set_new(d, "via", json_string("cli"));
    armor_oauth_audit("oauth.client.created", NULL, NULL, d);
    json_decref(out);
    rc = 0;
  }
  armor_store_close();
out:
  json_decref(grants);
  json_decref(scopes);
  json_decref(uris);
  json_decref(resources);
  armor_free(rest);
  return rc;
}

int armor_cmd_client(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "create")) return client_create(argc - 2, argv + 2);
  fprintf(stderr,
          "usage: armor client create --name N --grant G [--scope S]... [--redirect-uri U]... [--resource URI]...\n");
  return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
}
