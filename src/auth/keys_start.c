/*
 * The key service: start-up (load the keys or create the ES256 one, load the
 * revocation view), the background thread (first: a missing RS256 key and the
 * scheduled rotation; then revocation poll every second, key reload every
 * 10 s, scheduled rotation checked hourly) and the `armor keys` command.
 */
#include "api/api.h"
#include "app/app.h"
#include "app/services.h"
#include "auth/tokens_int.h"
#include "core/config.h"
#include "core/secret.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RELOAD_EVERY_S 10
#define ROTATION_CHECK_EVERY_S 3600
#define PRUNE_EVERY_S 60

static pthread_t thread;
static bool running;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond;
static bool stopping;
static int64_t rotation_period_s;

/* ARMOR_KEY_ROTATION_DAYS: 0 disables the scheduled rotation; default 30. */
static int64_t rotation_period(void) {
  const char *v = getenv("ARMOR_KEY_ROTATION_DAYS");
  long long days = 30;
  if (v && *v && !armor_parse_int(v, 0, 3650, &days)) {
    armor_warn("keys: ARMOR_KEY_ROTATION_DAYS must be 0..3650 days; using 30");
    days = 30;
  }
  return (int64_t)days * 86400;
}

/* Keys missing (the RS256 one on a new database, or after a failed attempt) and the scheduled rotation. */
static void ensure_keys(void) {
  int rc = armor_keys_ensure(rotation_period_s);
  pthread_mutex_lock(&stop_lock);
  bool quiet = stopping;
  pthread_mutex_unlock(&stop_lock);
  if (rc && !quiet)
    armor_warn("keys: cannot create or rotate the signing keys (%s); trying again in %d s", armor_rc_name(rc),
               RELOAD_EVERY_S);
}

static bool keys_complete(void) {
  struct armor_keyset *ks = armor_keyset_peek();
  bool ok = ks && ks->signer_es256 && ks->signer_rs256;
  armor_keyset_put(ks);
  return ok;
}

static void *run(void *arg) {
  (void)arg;
  int64_t tick = 0;
  /* Before anything else, even when a stop is already asked for: signers may be waiting for the RS256 key. */
  ensure_keys();
  armor_keys_rs256_settled();
  pthread_mutex_lock(&stop_lock);
  while (!stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&stop_cond, &stop_lock, &ts);
    if (stopping) break;
    pthread_mutex_unlock(&stop_lock);
    tick++;
    armor_revocation_poll();
    if (tick % RELOAD_EVERY_S == 0) {
      /* A key still missing (an attempt failed, or another node's key cannot be opened): try again. */
      bool complete = keys_complete();
      if (complete) armor_keys_load(false);
      if (!complete) ensure_keys(); /* reloads too */
    }
    if (tick % PRUNE_EVERY_S == 0) armor_revocation_prune();
    if (tick % ROTATION_CHECK_EVERY_S == 0 && rotation_period_s > 0) {
      armor_keys_rotate_older_than(rotation_period_s);
      armor_keys_purge();
    }
    pthread_mutex_lock(&stop_lock);
  }
  pthread_mutex_unlock(&stop_lock);
  armor_store_close(); /* this thread's connection */
  return NULL;
}

int armor_keys_start(void) {
  rotation_period_s = rotation_period();
  armor_keys_cancel_generation(false);
  bool rs256_pending = false;
  int rc = armor_keys_load_initial(&rs256_pending);
  if (rc) {
    fprintf(stderr, "armor: cannot load or create the signing keys (%s)\n", armor_rc_name(rc));
    armor_keys_rs256_settled();
    return -1;
  }
  if (!armor_keys_usable()) {
    fprintf(stderr, "armor: the master key cannot decrypt the signing keys in the database "
                    "(give the master key this database was set up with)\n");
    armor_keys_shutdown();
    return -1;
  }
  if (rs256_pending) armor_info("keys: no RS256 key yet; generating one in the background");
  rc = armor_revocation_init();
  if (rc) {
    fprintf(stderr, "armor: cannot load the revoked sessions (%s)\n", armor_rc_name(rc));
    armor_keys_rs256_settled();
    return -1;
  }
  static bool registered;
  if (!registered) {
    armor_metrics_register(armor_tokens_metrics_text);
    registered = true;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&stop_cond, &ca);
  pthread_condattr_destroy(&ca);
  stopping = false;
  if (pthread_create(&thread, NULL, run, NULL)) {
    fprintf(stderr, "armor: cannot start the key service thread\n");
    armor_keys_rs256_settled();
    return -1;
  }
  running = true;
  return 0;
}

void armor_keys_stop(void) {
  if (running) {
    pthread_mutex_lock(&stop_lock);
    stopping = true;
    pthread_cond_signal(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
    /* An RSA key being made (first start, rotation) is dropped rather than waited for; the next start makes it. */
    armor_keys_cancel_generation(true);
    pthread_join(thread, NULL);
    armor_keys_cancel_generation(false);
    pthread_cond_destroy(&stop_cond);
    running = false;
  }
  armor_jwt_cache_clear();
  armor_revocation_shutdown();
  armor_keys_shutdown();
}

/* ---------------------------------------------------------------- armor keys */

static void keys_usage(FILE *f) {
  fprintf(f, "usage: armor keys rotate [options]   create new active signing keys (ES256 and RS256)\n"
             "       armor keys list [options]     list the published keys\n\n"
             "Run 'armor keys rotate --help' for the options (--database, --data-dir, --master-key-file, ...).\n"
             "Retired keys stay published until every token they signed has expired.\n");
}

static void print_keys(void) {
  struct armor_keyset *ks = armor_keyset_peek();
  for (int i = 0; ks && i < ks->n; i++) {
    const struct armor_key *k = &ks->keys[i];
    char created[32], until[32] = "-";
    armor_time_rfc3339(k->created_at, created);
    if (!k->active) armor_time_rfc3339(k->not_after, until);
    printf("%s  %s  %-7s  created %s  published until %s\n", k->kid, k->alg, k->active ? "active" : "retired",
           created, k->active ? "(active)" : until);
  }
  armor_keyset_put(ks);
}

int armor_cmd_keys(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    keys_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "rotate") && strcmp(sub, "list")) {
    fprintf(stderr, "armor keys: unknown subcommand '%s'\n", sub);
    keys_usage(stderr);
    return 2;
  }
  char cmd[32];
  armor_fmt(cmd, sizeof cmd, "keys %s", sub);
  int lc = armor_config_load(cmd, argc - 2, argv + 2, NULL);
  if (lc == 1) {
    armor_config_help(cmd, "[--database URL] [--data-dir DIR]", NULL);
    return 0;
  }
  if (lc < 0) return 2;
  if (mkdir(armor_cfg.data_dir, 0700) && errno != EEXIST) {
    fprintf(stderr, "armor: cannot create data folder %s: %s\n", armor_cfg.data_dir, strerror(errno));
    return 2;
  }
  if (armor_secret_init(armor_cfg.master_key, armor_cfg.master_key_file)) return 2;
  if (armor_app_open_store()) return 2;
  int rc = armor_keys_load(true);
  if (!rc && !armor_keys_usable()) {
    fprintf(stderr, "armor keys %s: the master key cannot decrypt the keys in this database; give the servers' "
                    "--data-dir or --master-key-file\n", sub);
    armor_keys_shutdown();
    armor_store_close();
    return 1;
  }
  if (!rc && !strcmp(sub, "rotate")) rc = armor_keys_rotate_older_than(0);
  if (rc) {
    fprintf(stderr, "armor keys %s: failed (%s)\n", sub, armor_rc_name(rc));
    armor_keys_shutdown();
    armor_store_close();
    return 1;
  }
  if (!strcmp(sub, "rotate")) {
    char es[64] = "", rs[64] = "";
    armor_keys_current_kid("ES256", es);
    armor_keys_current_kid("RS256", rs);
    printf("new signing keys: ES256 %s, RS256 %s\n", es, rs);
    printf("running nodes pick them up within 10 seconds; older keys stay published until their tokens expire\n");
  } else {
    print_keys();
  }
  armor_keys_shutdown();
  armor_store_close();
  return 0;
}
