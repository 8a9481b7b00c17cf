/*
 * Command-line, environment and config-file parsing. Bad configuration stops
 * start-up with one clear line; nothing here touches the network or database.
 */
#include "core/config.h"
#include "core/armor.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct armor_config armor_cfg;

static char *opt_config;
static int help_requested;

static const struct armor_opt common_opts[] = {
    {"config", "ARMOR_CONFIG", "read options from FILE (lines of key = value)", 0, &opt_config},
    {"listen", "ARMOR_LISTEN", "HOST:PORT to listen on (default 127.0.0.1:3443)", 0, &armor_cfg.listen},
    {"database", "ARMOR_DATABASE", "sqlite:PATH or postgres://user:pass@host:port/db (default sqlite:./data/armor.db)",
     0, &armor_cfg.database},
    {"public-url", "ARMOR_PUBLIC_URL", "external base URL used in links and as token issuer", 0, &armor_cfg.public_url},
    {"tls-cert", "ARMOR_TLS_CERT", "PEM certificate; with --tls-key serves HTTPS", 0, &armor_cfg.tls_cert},
    {"tls-key", "ARMOR_TLS_KEY", "PEM private key", 0, &armor_cfg.tls_key},
    {"data-dir", "ARMOR_DATA_DIR", "folder for the master key and default database (default ./data)", 0,
     &armor_cfg.data_dir},
    {"master-key-file", "ARMOR_MASTER_KEY_FILE", "file holding the base64 master key (default DATA_DIR/master.key)", 0,
     &armor_cfg.master_key_file},
    {"master-key", "ARMOR_MASTER_KEY", "base64 of 32 random bytes; overrides the key file", 0, &armor_cfg.master_key},
    {"log-level", "ARMOR_LOG_LEVEL", "error, warning, info or debug (default info)", 0, &armor_cfg.log_level},
    {"insecure-bind", "ARMOR_INSECURE_BIND", "allow plain HTTP on a non-loopback address (behind a TLS proxy)", 1,
     &armor_cfg.insecure_bind},
    {"access-log", "ARMOR_ACCESS_LOG", "log one line per request (default true)", 1, &armor_cfg.access_log},
    {"http-threads", "ARMOR_HTTP_THREADS", "HTTP thread pool size (default: number of cores)", 2,
     &armor_cfg.http_threads},
    {"workers", "ARMOR_WORKERS", "password-hashing worker threads (default: number of cores)", 2, &armor_cfg.workers},
    {"queue", "ARMOR_QUEUE", "bound of the slow-work queue (default 64 per worker)", 2, &armor_cfg.queue},
    {"max-body", "ARMOR_MAX_BODY", "default request body limit in bytes (default 65536)", 2, &armor_cfg.max_body},
    {"max-connections", "ARMOR_MAX_CONNECTIONS", "connection limit (default 4096)", 2, &armor_cfg.max_connections},
    {"conn-timeout", "ARMOR_CONN_TIMEOUT", "idle connection timeout in seconds (default 30)", 2,
     &armor_cfg.conn_timeout},
    {"trusted-proxies", "ARMOR_TRUSTED_PROXIES",
     "comma-separated proxy addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8) whose X-Forwarded-For names the client", 0,
     &armor_cfg.trusted_proxies},
    {"request-timeout", "ARMOR_REQUEST_TIMEOUT", "seconds a client has to send a whole request (default 60)", 2,
     &armor_cfg.request_timeout},
    {"db-pool", "ARMOR_DB_POOL", "PostgreSQL connections per node (default 16)", 2, &armor_cfg.db_pool},
    {NULL, NULL, NULL, 0, NULL},
};

/* Forgets an earlier load, so that loading twice (tests) starts from the defaults again. */
static void reset(void) {
  char **strs[] = {&armor_cfg.listen,  &armor_cfg.database, &armor_cfg.public_url,      &armor_cfg.tls_cert,
                   &armor_cfg.tls_key, &armor_cfg.data_dir, &armor_cfg.master_key_file, &armor_cfg.log_level,
                   &armor_cfg.host,    &opt_config};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    armor_free(*strs[i]);
    *strs[i] = NULL;
  }
  armor_free_secret_str(armor_cfg.master_key);
  memset(&armor_cfg, 0, sizeof armor_cfg);
  help_requested = 0;
}

static void set_defaults(void) {
  reset();
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  armor_cfg.access_log = true;
  armor_cfg.http_threads = (int)n;
  armor_cfg.workers = (int)n;
  armor_cfg.queue = 0;
  armor_cfg.max_body = 65536;
  armor_cfg.max_connections = 4096;
  armor_cfg.conn_timeout = 30;
  armor_cfg.request_timeout = 60;
  armor_cfg.db_pool = 16;
}

static const struct armor_opt *find_opt(const struct armor_opt *tab, const char *key, size_t keylen) {
  for (; tab && tab->flag; tab++)
    if (strlen(tab->flag) == keylen && !strncmp(tab->flag, key, keylen)) return tab;
  return NULL;
}

static int set_value(const struct armor_opt *o, const char *val, const char *src) {
  switch (o->type) {
  case 0: {
    char **t = o->target;
    armor_free(*t);
    *t = armor_strdup(val);
    return 0;
  }
  case 1: {
    bool *t = o->target;
    if (!val || !strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
      *t = true;
    else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no"))
      *t = false;
    else {
      fprintf(stderr, "armor: %s: --%s expects true or false\n", src, o->flag);
      return -1;
    }
    return 0;
  }
  default: {
    long long v;
    if (!armor_parse_int(val, 1, 1000000000, &v)) {
      fprintf(stderr, "armor: %s: --%s expects a positive integer\n", src, o->flag);
      return -1;
    }
    *(int *)o->target = (int)v;
    return 0;
  }
  }
}

static int load_file(const char *path, const struct armor_opt *extra) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "armor: cannot read config file %s\n", path);
    return -1;
  }
  char line[4096];
  int lineno = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '#' || *p == '\n' || !*p) continue;
    char *eq = strchr(p, '=');
    if (!eq) {
      fprintf(stderr, "armor: %s:%d: expected key = value\n", path, lineno);
      rc = -1;
      break;
    }
    char *k = p, *ke = eq;
    while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == '\n' || v[vl - 1] == '\r' || v[vl - 1] == ' ')) v[--vl] = 0;
    const struct armor_opt *o = find_opt(common_opts, k, (size_t)(ke - k));
    if (!o) o = find_opt(extra, k, (size_t)(ke - k));
    if (!o || o->target == (void *)&opt_config) {
      fprintf(stderr, "armor: %s:%d: unknown option %.*s\n", path, lineno, (int)(ke - k), k);
      rc = -1;
      break;
    }
    if (set_value(o, v, path) < 0) {
      rc = -1;
      break;
    }
  }
  fclose(f);
  return rc;
}

static int load_env(const struct armor_opt *tab) {
  for (; tab && tab->flag; tab++) {
    if (!tab->env || tab->target == (void *)&opt_config) continue;
    const char *v = getenv(tab->env);
    if (v && set_value(tab, v, tab->env) < 0) return -1;
  }
  return 0;
}

bool armor_host_is_loopback(const char *host) {
  if (!strcmp(host, "localhost")) return true;
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

static int parse_listen(void) {
  const char *l = armor_cfg.listen;
  const char *colon = strrchr(l, ':');
  if (!colon || colon == l) {
    fprintf(stderr, "armor: --listen must be HOST:PORT, got '%s'\n", l);
    return -1;
  }
  long long port;
  if (!armor_parse_int(colon + 1, 1, 65535, &port)) {
    fprintf(stderr, "armor: --listen port must be 1-65535, got '%s'\n", colon + 1);
    return -1;
  }
  const char *h = l;
  size_t hl = (size_t)(colon - l);
  if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  armor_free(armor_cfg.host);
  armor_cfg.host = armor_strndup(h, hl);
  armor_cfg.port = (int)port;
  struct in_addr a4;
  struct in6_addr a6;
  if (strcmp(armor_cfg.host, "localhost") && inet_pton(AF_INET, armor_cfg.host, &a4) != 1 &&
      inet_pton(AF_INET6, armor_cfg.host, &a6) != 1) {
    fprintf(stderr, "armor: --listen host must be an IP address or localhost, got '%s'\n", armor_cfg.host);
    return -1;
  }
  return 0;
}

int armor_config_load(const char *cmd, int argc, char **argv, const struct armor_opt *extra) {
  set_defaults();
  /* First pass: find --config and --help so the file loads before env and flags. */
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) help_requested = 1;
    const char *v = !strncmp(argv[i], "--config=", 9)                ? argv[i] + 9
                    : (!strcmp(argv[i], "--config") && i + 1 < argc) ? argv[i + 1]
                                                                     : NULL;
    if (v) {
      armor_free(opt_config);
      opt_config = armor_strdup(v);
    }
  }
  if (help_requested) return 1;
  if (!opt_config && getenv("ARMOR_CONFIG")) opt_config = armor_strdup(getenv("ARMOR_CONFIG"));
  if (opt_config && load_file(opt_config, extra) < 0) return -1;
  if (load_env(common_opts) < 0 || load_env(extra) < 0) return -1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2)) {
      fprintf(stderr, "armor %s: unexpected argument '%s' (see armor %s --help)\n", cmd, a, cmd);
      return -1;
    }
    a += 2;
    const char *eq = strchr(a, '=');
    size_t kl = eq ? (size_t)(eq - a) : strlen(a);
    const struct armor_opt *o = find_opt(common_opts, a, kl);
    if (!o) o = find_opt(extra, a, kl);
    if (!o) {
      fprintf(stderr, "armor %s: unknown flag '--%.*s' (see armor %s --help)\n", cmd, (int)kl, a, cmd);
      return -1;
    }
    const char *val = eq ? eq + 1 : NULL;
    if (!val && o->type != 1) {
      if (i + 1 >= argc) {
        fprintf(stderr, "armor %s: flag '--%s' needs a value\n", cmd, o->flag);
        return -1;
      }
      val = argv[++i];
    }
    if (o->target == (void *)&opt_config) continue;
    if (set_value(o, val, "command line") < 0) return -1;
  }
  if (!armor_cfg.listen) armor_cfg.listen = armor_strdup("127.0.0.1:3443");
  if (!armor_cfg.data_dir) armor_cfg.data_dir = armor_strdup("./data");
  if (!armor_cfg.database) armor_cfg.database = armor_strdup("sqlite:./data/armor.db");
  if (!armor_cfg.log_level) armor_cfg.log_level = armor_strdup("info");
  if (!armor_cfg.master_key_file) {
    size_t n = strlen(armor_cfg.data_dir) + 16;
    armor_cfg.master_key_file = armor_malloc(n);
    armor_fmt(armor_cfg.master_key_file, n, "%s/master.key", armor_cfg.data_dir);
  }
  int lv = armor_log_level_parse(armor_cfg.log_level);
  if (lv < 0) {
    fprintf(stderr, "armor: --log-level must be error, warning, info or debug\n");
    return -1;
  }
  armor_log_level = lv;
  if (!armor_cfg.queue) armor_cfg.queue = 64 * armor_cfg.workers;
  if (parse_listen() < 0) return -1;
  if (!!armor_cfg.tls_cert != !!armor_cfg.tls_key) {
    fprintf(stderr, "armor: --tls-cert and --tls-key must be given together\n");
    return -1;
  }
  if (!armor_cfg.public_url) {
    size_t n = strlen(armor_cfg.listen) + 16;
    armor_cfg.public_url = armor_malloc(n);
    armor_fmt(armor_cfg.public_url, n, "%s://%s", armor_cfg.tls_cert ? "https" : "http", armor_cfg.listen);
  } else {
    size_t n = strlen(armor_cfg.public_url);
    while (n > 0 && armor_cfg.public_url[n - 1] == '/') armor_cfg.public_url[--n] = 0;
    if (strncmp(armor_cfg.public_url, "http://", 7) && strncmp(armor_cfg.public_url, "https://", 8)) {
      fprintf(stderr, "armor: --public-url must start with http:// or https://\n");
      return -1;
    }
  }
  return 0;
}

static void print_opts(const struct armor_opt *o) {
  for (; o && o->flag; o++) {
    char f[64];
    armor_fmt(f, sizeof f, "--%s%s", o->flag, o->type == 1 ? "[=BOOL]" : o->type == 2 ? " N" : " VALUE");
    printf("  %-30s %s", f, o->help);
    if (o->env) printf(" [%s]", o->env);
    printf("\n");
  }
}

void armor_config_help(const char *cmd, const char *usage, const struct armor_opt *extra) {
  printf("usage: armor %s %s\n\noptions:\n", cmd, usage);
  print_opts(extra);
  print_opts(common_opts);
  printf("  %-30s %s\n", "--help", "show this help");
}
