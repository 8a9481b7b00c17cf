/* Configuration parsing: defaults, config file, environment, flags (later wins), and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/armor.h"
#include "core/config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const envs[] = {"ARMOR_CONFIG",       "ARMOR_LISTEN",   "ARMOR_DATABASE",  "ARMOR_PUBLIC_URL",
                                   "ARMOR_TLS_CERT",     "ARMOR_TLS_KEY",  "ARMOR_LOG_LEVEL", "ARMOR_INSECURE_BIND",
                                   "ARMOR_HTTP_THREADS", "ARMOR_MAX_BODY", "ARMOR_DATA_DIR",  NULL};

static int clean_env(void **state) {
  (void)state;
  for (const char *const *e = envs; *e; e++) unsetenv(*e);
  return 0;
}

static int load(int argc, const char **argv) { return armor_config_load("serve", argc, (char **)argv, NULL); }

static void defaults(void **state) {
  (void)state;
  assert_int_equal(load(0, NULL), 0);
  assert_string_equal(armor_cfg.listen, "127.0.0.1:3443");
  assert_string_equal(armor_cfg.host, "127.0.0.1");
  assert_int_equal(armor_cfg.port, 3443);
  assert_string_equal(armor_cfg.database, "sqlite:./data/armor.db");
  assert_string_equal(armor_cfg.data_dir, "./data");
  assert_string_equal(armor_cfg.master_key_file, "./data/master.key");
  assert_string_equal(armor_cfg.public_url, "http://127.0.0.1:3443");
  assert_true(armor_cfg.access_log);
  assert_false(armor_cfg.insecure_bind);
  assert_int_equal(armor_cfg.max_body, 65536);
  assert_int_equal(armor_cfg.conn_timeout, 30);
  assert_int_equal(armor_cfg.request_timeout, 60);
  assert_true(armor_cfg.http_threads >= 1);
  assert_int_equal(armor_cfg.queue, 64 * armor_cfg.workers);
}

static void flags_both_forms(void **state) {
  (void)state;
  const char *argv[] = {"--listen",       "[::1]:8080",   "--database=postgres://x@h/db", "--insecure-bind",
                        "--max-body=100", "--public-url", "https://auth.example.com///"};
  assert_int_equal(load(7, argv), 0);
  assert_string_equal(armor_cfg.host, "::1");
  assert_int_equal(armor_cfg.port, 8080);
  assert_string_equal(armor_cfg.database, "postgres://x@h/db");
  assert_true(armor_cfg.insecure_bind);
  assert_int_equal(armor_cfg.max_body, 100);
  assert_string_equal(armor_cfg.public_url, "https://auth.example.com");
}

static void tls_changes_the_default_public_url(void **state) {
  (void)state;
  const char *argv[] = {"--tls-cert", "c.pem", "--tls-key", "k.pem"};
  assert_int_equal(load(4, argv), 0);
  assert_string_equal(armor_cfg.public_url, "https://127.0.0.1:3443");
}

static void precedence_file_env_flag(void **state) {
  (void)state;
  char path[] = "/tmp/armor-config-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("# comment\n\n  listen = 127.0.0.1:1111\nlog-level = debug\naccess-log = false\nmax-body = 10 \r\n", f);
  fclose(f);
  setenv("ARMOR_LISTEN", "127.0.0.1:2222", 1);
  setenv("ARMOR_MAX_BODY", "20", 1);
  const char *argv[] = {"--config", path, "--max-body", "30"};
  assert_int_equal(load(4, argv), 0);
  assert_int_equal(armor_cfg.port, 2222);            /* env over file */
  assert_int_equal(armor_cfg.max_body, 30);          /* flag over env */
  assert_string_equal(armor_cfg.log_level, "debug"); /* file over default */
  assert_false(armor_cfg.access_log);
  /* ARMOR_CONFIG names the file when --config is absent. */
  unsetenv("ARMOR_LISTEN");
  unsetenv("ARMOR_MAX_BODY");
  setenv("ARMOR_CONFIG", path, 1);
  assert_int_equal(load(0, NULL), 0);
  assert_int_equal(armor_cfg.port, 1111);
  assert_int_equal(armor_cfg.max_body, 10);
  unsetenv("ARMOR_CONFIG");
  /* Loading again starts from the defaults. */
  assert_int_equal(load(0, NULL), 0);
  assert_int_equal(armor_cfg.port, 3443);
  assert_true(armor_cfg.access_log);
  unlink(path);
}

static void refusals(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"--nope", NULL},
      {"positional", NULL},
      {"--listen", NULL},
      {"--listen", "nohost"},
      {"--listen", "1.2.3.4:0"},
      {"--listen", "host.tld:80"},
      {"--listen", ":80"},
      {"--max-body", "0"},
      {"--max-body", "-1"},
      {"--max-body", "ten"},
      {"--log-level", "verbose"},
      {"--public-url", "auth.example"},
      {"--tls-cert", "only.pem"},
      {"--insecure-bind=perhaps", NULL},
      {"--config", "/nonexistent/armor.conf"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *argv[2] = {cases[i][0], cases[i][1]};
    int rc = load(cases[i][1] ? 2 : 1, argv);
    if (rc != -1) fail_msg("accepted: %s %s", cases[i][0], cases[i][1] ? cases[i][1] : "");
  }
  setenv("ARMOR_HTTP_THREADS", "lots", 1);
  assert_int_equal(load(0, NULL), -1);
  unsetenv("ARMOR_HTTP_THREADS");
}

static void help(void **state) {
  (void)state;
  const char *argv[] = {"--listen", "x", "--help"};
  assert_int_equal(load(3, argv), 1);
  assert_int_equal(load(0, NULL), 0);
}

static void loopback(void **state) {
  (void)state;
  assert_true(armor_host_is_loopback("127.0.0.1"));
  assert_true(armor_host_is_loopback("127.1.2.3"));
  assert_true(armor_host_is_loopback("::1"));
  assert_true(armor_host_is_loopback("localhost"));
  assert_false(armor_host_is_loopback("0.0.0.0"));
  assert_false(armor_host_is_loopback("::"));
  assert_false(armor_host_is_loopback("10.0.0.1"));
  assert_false(armor_host_is_loopback("128.0.0.1"));
}

int main(void) {
  armor_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(defaults, clean_env),
      cmocka_unit_test_setup(flags_both_forms, clean_env),
      cmocka_unit_test_setup(tls_changes_the_default_public_url, clean_env),
      cmocka_unit_test_setup(precedence_file_env_flag, clean_env),
      cmocka_unit_test_setup(refusals, clean_env),
      cmocka_unit_test_setup(help, clean_env),
      cmocka_unit_test(loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
