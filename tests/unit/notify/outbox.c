/*
 * Outbox and channels: delivery through a minimal SMTP server on loopback,
 * exactly-once marking, retry with backoff while the server is down, reclaim
 * of an expired lease (a node that died mid-send), permanent failure on a 5xx
 * answer, the log SMS provider, masks, and the backoff schedule.
 */
#include "notify/notify.h"
#include "notify/outbox.h"
#include "settings/settings.h"
#include "core/config.h"
#include "db_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

/* ---------------------------------------------------------------- a tiny SMTP server */

static int lfd = -1, port;
static pthread_t srv;
static volatile int received, reject_rcpt;
static char last_data[65536];

static void say(int fd, const char *s) {
  if (write(fd, s, strlen(s)) < 0) return;
}

static void *serve(void *arg) {
  (void)arg;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return NULL;
    say(fd, "220 test ESMTP\r\n");
    char buf[70000];
    size_t len = 0;
    bool data = false;
    for (;;) {
      ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
      if (n <= 0) break;
      len += (size_t)n;
      buf[len] = 0;
      if (data) {
        char *end = strstr(buf, "\r\n.\r\n");
        if (!end) continue;
        *end = 0;
        armor_fmt(last_data, sizeof last_data, "%s", buf);
        received++;
        say(fd, "250 2.0.0 Ok: queued as TEST\r\n");
        data = false;
        size_t rest = len - (size_t)(end + 5 - buf);
        memmove(buf, end + 5, rest);
        len = rest;
        buf[len] = 0;
        if (!len) continue;
      }
      char *nl;
      while (!data && (nl = strstr(buf, "\r\n"))) {
        *nl = 0;
        if (!strncasecmp(buf, "EHLO", 4))
          say(fd, "250-test\r\n250 8BITMIME\r\n");
        else if (!strncasecmp(buf, "RCPT", 4))
          say(fd, reject_rcpt ? "550 5.1.1 No such user\r\n" : "250 Ok\r\n");
        else if (!strncasecmp(buf, "DATA", 4)) {
          say(fd, "354 go\r\n");
          data = true;
        } else if (!strncasecmp(buf, "QUIT", 4))
          say(fd, "221 bye\r\n");
        else
          say(fd, "250 Ok\r\n");
        size_t used = (size_t)(nl + 2 - buf);
        memmove(buf, nl + 2, len - used);
        len -= used;
        buf[len] = 0;
      }
    }
    close(fd);
  }
}

static int start_smtp(void) {
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = port ? htons((uint16_t)port) : 0};
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 8)) return -1;
  socklen_t al = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &al);
  port = ntohs(a.sin_port);
  return pthread_create(&srv, NULL, serve, NULL);
}

static void stop_smtp(void) {
  shutdown(lfd, SHUT_RDWR);
  close(lfd);
  pthread_join(srv, NULL);
  lfd = -1;
}

/* ---------------------------------------------------------------- fixture */

static int setup(void **state) {
  (void)state;
  if (start_smtp()) return -1;
  char p[16];
  armor_fmt(p, sizeof p, "%d", port);
  setenv("ARMOR_SMTP_HOST", "127.0.0.1", 1);
  setenv("ARMOR_SMTP_PORT", p, 1);
  setenv("ARMOR_SMTP_SECURITY", "none", 1);
  setenv("ARMOR_SMTP_FROM", "noreply@example.test", 1);
  setenv("ARMOR_APP_NAME", "Outbox Ünit", 1);
  setenv("ARMOR_SMS_PROVIDER", "log", 1);
  armor_cfg.public_url = armor_strdup("http://public.example.test");
  if (fixture_db_open()) return -1;
  return armor_settings_start();
}

static int teardown(void **state) {
  (void)state;
  armor_settings_stop();
  if (lfd >= 0) stop_smtp();
  fixture_db_close();
  return 0;
}

static const char *status_of(const char *to, int64_t *attempts) {
  static char st[16];
  struct armor_stmt *s =
      armor_db_query(armor_db_get(), "SELECT status, attempts, payload FROM outbox WHERE recipient = $1", "t", to);
  assert_int_equal(armor_stmt_step(s), 1);
  armor_fmt(st, sizeof st, "%s", armor_stmt_text(s, 0));
  if (attempts) *attempts = armor_stmt_int(s, 1);
  if (!strcmp(st, "sent") || !strcmp(st, "failed")) assert_string_equal(armor_stmt_text(s, 2), ""); /* wiped */
  armor_stmt_done(s);
  return st;
}

/* ---------------------------------------------------------------- tests */

static void backoff_doubles_from_five_seconds_to_ten_minutes(void **state) {
  (void)state;
  assert_int_equal(armor_outbox_backoff_ms(1), 5000);
  assert_int_equal(armor_outbox_backoff_ms(2), 10000);
  assert_int_equal(armor_outbox_backoff_ms(3), 20000);
  assert_int_equal(armor_outbox_backoff_ms(8), 600000);
  assert_int_equal(armor_outbox_backoff_ms(40), 600000);
}

static void masks_hide_all_but_a_hint(void **state) {
  (void)state;
  char out[64];
  armor_mask_email("bob@example.test", out, sizeof out);
  assert_string_equal(out, "b***@e***.test");
  armor_mask_phone("+15550100123", out, sizeof out);
  assert_string_equal(out, "+1*******23");
  armor_mask_email("nonsense", out, sizeof out);
  assert_string_equal(out, "***");
}

static void email_is_delivered_once_as_multipart_alternative(void **state) {
  (void)state;
  int before = received;
  struct armor_db *db = armor_db_get();
  assert_int_equal(armor_db_begin(db), ARMOR_OK);
  assert_int_equal(armor_outbox_add_email(db, "alice@example.test", "Hello \xc3\xa9", "Plain body https://x/?token=abc",
                                          "<p>HTML body</p>"),
                   ARMOR_OK);
  /* Not committed yet: nothing to send. */
  assert_int_equal(armor_db_commit(db), ARMOR_OK);
  assert_int_equal(armor_outbox_run_once(), 1);
  assert_int_equal(received, before + 1);
  assert_string_equal(status_of("alice@example.test", NULL), "sent");
  assert_int_equal(armor_outbox_run_once(), 0); /* never twice */
  assert_int_equal(received, before + 1);
  assert_non_null(strstr(last_data, "multipart/alternative"));
  assert_non_null(strstr(last_data, "text/plain; charset=utf-8"));
  assert_non_null(strstr(last_data, "text/html; charset=utf-8"));
  assert_non_null(strstr(last_data, "Subject: =?UTF-8?B?"));
  assert_non_null(strstr(last_data, "To: <alice@example.test>"));
  assert_non_null(strstr(last_data, "From: =?UTF-8?B?")); /* the app name, encoded */
  assert_non_null(strstr(last_data, "Plain body"));
  assert_non_null(strstr(last_data, "Message-ID: <"));
}

static void rolled_back_messages_are_never_sent(void **state) {
  (void)state;
  struct armor_db *db = armor_db_get();
  assert_int_equal(armor_db_begin(db), ARMOR_OK);
  assert_int_equal(armor_outbox_add_email(db, "ghost@example.test", "x", "y", NULL), ARMOR_OK);
  armor_db_rollback(db);
  assert_int_equal(armor_outbox_run_once(), 0);
}

static void failed_send_is_retried_after_backoff(void **state) {
  (void)state;
  stop_smtp(); /* the server is down */
  int before = received;
  assert_int_equal(armor_outbox_add_email(armor_db_get(), "bob@example.test", "Retry", "body", NULL), ARMOR_OK);
  assert_int_equal(armor_outbox_run_once(), 1);
  int64_t attempts = 0;
  assert_string_equal(status_of("bob@example.test", &attempts), "pending");
  assert_int_equal(attempts, 1);
  assert_int_equal(armor_outbox_run_once(), 0); /* not due before the backoff */
  assert_int_equal(start_smtp(), 0);            /* back, same port */
  armor_db_exec(armor_db_get(), NULL, "UPDATE outbox SET next_at = 0 WHERE recipient = 'bob@example.test'", "");
  assert_int_equal(armor_outbox_run_once(), 1);
  assert_string_equal(status_of("bob@example.test", &attempts), "sent");
  assert_int_equal(attempts, 2);
  assert_int_equal(received, before + 1);
}

static void expired_lease_is_reclaimed(void **state) {
  (void)state;
  int before = received;
  assert_int_equal(armor_outbox_add_email(armor_db_get(), "carol@example.test", "Lease", "body", NULL), ARMOR_OK);
  /* A node claimed it and died: the lease is still running, so nobody else takes it. */
  armor_db_exec(
      armor_db_get(), NULL,
      "UPDATE outbox SET status = 'sending', claim = 'dead', lease_until = $1 WHERE recipient = 'carol@example.test'",
      "i", (int64_t)armor_time() * 1000 + 60000);
  assert_int_equal(armor_outbox_run_once(), 0);
  armor_db_exec(armor_db_get(), NULL, "UPDATE outbox SET lease_until = 1 WHERE recipient = 'carol@example.test'", "");
  assert_int_equal(armor_outbox_run_once(), 1);
  assert_string_equal(status_of("carol@example.test", NULL), "sent");
  assert_int_equal(received, before + 1);
}

static void permanent_refusal_fails_without_retry(void **state) {
  (void)state;
  reject_rcpt = 1;
  assert_int_equal(armor_outbox_add_email(armor_db_get(), "nobody@example.test", "Refused", "body", NULL), ARMOR_OK);
  assert_int_equal(armor_outbox_run_once(), 1);
  reject_rcpt = 0;
  assert_string_equal(status_of("nobody@example.test", NULL), "failed");
  struct armor_stmt *s =
      armor_db_query(armor_db_get(), "SELECT last_error FROM outbox WHERE recipient = 'nobody@example.test'", "");
  assert_int_equal(armor_stmt_step(s), 1);
  assert_non_null(strstr(armor_stmt_text(s, 0), "550"));
  armor_stmt_done(s);
}

static void smtp_send_reports_the_server_answer(void **state) {
  (void)state;
  struct armor_email_settings e;
  armor_settings_email(&e);
  char answer[256];
  assert_int_equal(armor_smtp_send(&e, "App", "dave@example.test", "Hi", "text", NULL, answer, sizeof answer),
                   ARMOR_OK);
  assert_string_equal(answer, "250 2.0.0 Ok: queued as TEST");
  e.port = 1; /* nothing listens there */
  assert_int_equal(armor_smtp_send(&e, "App", "dave@example.test", "Hi", "text", NULL, answer, sizeof answer),
                   ARMOR_BUSY);
  assert_true(answer[0] != 0);
  e.enabled = false;
  assert_int_equal(armor_smtp_send(&e, "App", "dave@example.test", "Hi", "text", NULL, answer, sizeof answer),
                   ARMOR_INVALID);
}

static void sms_log_provider_delivers(void **state) {
  (void)state;
  assert_int_equal(armor_outbox_add_sms(armor_db_get(), "+15550100123", "code 123456"), ARMOR_OK);
  assert_int_equal(armor_outbox_run_once(), 1);
  assert_string_equal(status_of("+15550100123", NULL), "sent");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(backoff_doubles_from_five_seconds_to_ten_minutes),
      cmocka_unit_test(masks_hide_all_but_a_hint),
      cmocka_unit_test(email_is_delivered_once_as_multipart_alternative),
      cmocka_unit_test(rolled_back_messages_are_never_sent),
      cmocka_unit_test(failed_send_is_retried_after_backoff),
      cmocka_unit_test(expired_lease_is_reclaimed),
      cmocka_unit_test(permanent_refusal_fails_without_retry),
      cmocka_unit_test(smtp_send_reports_the_server_answer),
      cmocka_unit_test(sms_log_provider_delivers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
