/*
 * Process configuration: defaults, then an optional config file, then ARMOR_*
 * environment variables, then command-line flags (later wins). Immutable once
 * the server starts; runtime settings that change live in the settings service.
 */
#ifndef ARMOR_CONFIG_H
#define ARMOR_CONFIG_H
#include <stdbool.h>

struct armor_config {
  char *listen;     /* HOST:PORT, default 127.0.0.1:3443 */
  char *database;   /* sqlite:PATH or postgres://... */
  char *public_url; /* external base URL; default derived from listen */
  char *tls_cert;   /* PEM file paths; both or neither */
  char *tls_key;
  char *data_dir;        /* folder for the master key and SQLite; default ./data */
  char *master_key_file; /* default <data_dir>/master.key */
  char *master_key;      /* base64 of 32 bytes; overrides the file */
  char *log_level;       /* error|warning|info|debug */
  bool insecure_bind;    /* allow plain HTTP on a non-loopback address */
  bool access_log;       /* one line per request */
  int http_threads;      /* libmicrohttpd thread pool size; default = cores */
  int workers;           /* slow-work pool size (password hashing); default = cores */
  int queue;             /* slow-work queue bound; default 64 per worker */
  int max_body;          /* default request body cap in bytes */
  int max_connections;   /* total connection limit */
  int conn_timeout;      /* idle connection timeout, seconds */
  char *trusted_proxies; /* comma-separated IPs/CIDRs whose X-Forwarded-For is believed */
  int request_timeout;   /* seconds to receive a whole request body; default 60 */
  int db_pool;           /* PostgreSQL connections per node (upper bound) */
  char *host;            /* parsed from listen */
  int port;
};

extern struct armor_config armor_cfg;

/* Describes one option for --help and parsing. */
struct armor_opt {
  const char *flag; /* without leading dashes */
  const char *env;
  const char *help;
  int type; /* 0 string, 1 bool, 2 int */
  void *target;
};

/*
 * Loads defaults, config file, environment and flags for `cmd` ("serve",
 * "migrate", ...). argv holds the arguments after the subcommand. Returns 0, or
 * -1 after printing one line to stderr. Extra positional args are refused.
 * `extra` lists command-specific options (may be NULL, terminated by flag NULL).
 */
int armor_config_load(const char *cmd, int argc, char **argv, const struct armor_opt *extra);
/* Prints the options for `cmd`. */
void armor_config_help(const char *cmd, const char *usage, const struct armor_opt *extra);
/* True when host is a loopback address or "localhost". */
bool armor_host_is_loopback(const char *host);

#endif
