/*
 * The armor binary: subcommand dispatch, start-up order, signal handling.
 * serve: config -> master key -> store + migrations -> services -> HTTP;
 * SIGTERM/SIGINT drain in-flight requests and exit 0.
 */
#include "app/app.h"
#include "core/armor.h"
#include "core/config.h"
#include "core/secret.h"
#include "http/http.h"
#include "http/router.h"
#include "store/store.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *read_file(const char *path, const char *what) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "armor: cannot read %s %s: %s\n", what, path, strerror(errno));
    return NULL;
  }
  struct armor_buf b;
  armor_buf_init(&b, 1 << 20);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    if (!armor_buf_append(&b, tmp, n)) {
      fclose(f);
      armor_buf_free(&b);
      fprintf(stderr, "armor: %s %s is too large\n", what, path);
      return NULL;
    }
  fclose(f);
  if (!b.data || !strstr(b.data, "-----BEGIN ")) {
    armor_buf_free(&b);
    fprintf(stderr, "armor: %s %s is not a PEM file\n", what, path);
    return NULL;
  }
  return b.data;
}

static int ensure_data_dir(void) {
  if (mkdir(armor_cfg.data_dir, 0700) && errno != EEXIST) {
    fprintf(stderr, "armor: cannot create data folder %s: %s\n", armor_cfg.data_dir, strerror(errno));
    return -1;
  }
  return 0;
}

static int cmd_serve(int argc, char **argv) {
  int64_t t0 = armor_now_ms();
  int lc = armor_config_load("serve", argc, argv, NULL);
  if (lc == 1) {
    armor_config_help("serve", "[options]", NULL);
    return 0;
  }
  if (lc < 0) return 2;
  if (!armor_host_is_loopback(armor_cfg.host) && !armor_cfg.tls_cert && !armor_cfg.insecure_bind) {
    fprintf(stderr,
            "armor: refusing plain HTTP on non-loopback address %s; give --tls-cert/--tls-key or --insecure-bind\n",
            armor_cfg.host);
    return 2;
  }
  {
    char perr[256];
    if (armor_http_parse_proxies(armor_cfg.trusted_proxies, perr, sizeof perr)) {
      fprintf(stderr, "armor: %s\n", perr);
      return 2;
    }
  }
  int rc = 2;
  bool store_open = false, app_started = false;
  char *cert = NULL, *key = NULL;
  char err[256];
  if (armor_cfg.tls_cert) {
    if (!(cert = read_file(armor_cfg.tls_cert, "certificate"))) goto out;
    if (!(key = read_file(armor_cfg.tls_key, "private key"))) goto out;
  }
  /* Take the port first: a node that cannot serve must not touch the data folder or migrate the database. */
  if (armor_http_listen(armor_cfg.host, armor_cfg.port, err, sizeof err)) {
    fprintf(stderr, "armor: %s\n", err);
    goto out;
  }
  if (ensure_data_dir()) goto out;
  if (armor_secret_init(armor_cfg.master_key, armor_cfg.master_key_file)) goto out;
  if (armor_app_open_store()) goto out;
  store_open = true;

  /* Signals are taken by sigwait below; threads started from here inherit the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (armor_app_start()) goto out;
  app_started = true;
  /* Diagnostic routes for the API test suite; never set in production (docs/configuration.md). */
  const char *tr = getenv("ARMOR_TEST_ROUTES");
  armor_router_enable_test_routes(tr && !strcmp(tr, "1"));
  struct armor_http_opts o = {
      .host = armor_cfg.host,
      .port = armor_cfg.port,
      .tls_cert_pem = cert,
      .tls_key_pem = key,
      .threads = armor_cfg.http_threads,
      .workers = armor_cfg.workers,
      .queue = armor_cfg.queue,
      .max_connections = armor_cfg.max_connections,
      .conn_timeout = armor_cfg.conn_timeout,
      .request_timeout = armor_cfg.request_timeout,
      .max_body = (size_t)armor_cfg.max_body,
      .access_log = armor_cfg.access_log,
  };
  if (armor_http_start(&o, err, sizeof err)) {
    fprintf(stderr, "armor: %s\n", err);
    goto out;
  }
  armor_info("armor %s listening on %s://%s (%s database) ready in %lld ms", ARMOR_VERSION, cert ? "https" : "http",
             armor_cfg.listen, armor_store_kind() == ARMOR_DB_POSTGRES ? "postgres" : "sqlite",
             (long long)(armor_now_ms() - t0));
#ifdef __GLIBC__
  /* Start-up's temporary memory (migrations, the OpenAPI fragments' trees, key loading) back to the system. */
  malloc_trim(0);
#endif
  int sig = 0;
  sigwait(&set, &sig);
  armor_info("received %s, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  armor_http_stop(10000);
  rc = 0;
out:
  armor_http_close();
  if (app_started) armor_app_stop();
  if (store_open) armor_store_close();
  armor_free_secret_str(key);
  armor_free(cert);
  if (rc == 0) armor_info("stopped");
  return rc;
}

static int cmd_migrate(int argc, char **argv) {
  int lc = armor_config_load("migrate", argc, argv, NULL);
  if (lc == 1) {
    armor_config_help("migrate", "[--database URL]", NULL);
    return 0;
  }
  if (lc < 0) return 2;
  if (!strncmp(armor_cfg.database, "sqlite:", 7) && ensure_data_dir()) return 2;
  if (armor_app_open_store()) return 2;
  printf("database is up to date\n");
  armor_store_close();
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: armor COMMAND [options]\n\ncommands:\n"
             "  serve      run the server\n"
             "  migrate    apply database migrations and exit\n"
             "  version    print the version\n");
  for (const struct armor_command *c = armor_commands; c->name; c++) fprintf(f, "  %-10s %s\n", c->name, c->help);
  fprintf(f, "\nRun 'armor COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv) {
  if (sodium_init() < 0) {
    fprintf(stderr, "armor: libsodium failed to initialise\n");
    return 1;
  }
  armor_alloc_init();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
  if (!strcmp(cmd, "migrate")) return cmd_migrate(argc - 2, argv + 2);
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
      printf("usage: armor version\n\nPrints the version of this binary.\n");
      return 0;
    }
    if (argc > 2) {
      fprintf(stderr, "armor version: unexpected argument '%s' (see armor version --help)\n", argv[2]);
      return 2;
    }
    printf("armor %s\n", ARMOR_VERSION);
    return 0;
  }
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  for (const struct armor_command *c = armor_commands; c->name; c++)
    if (!strcmp(cmd, c->name)) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "armor: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
