/*
 * Delivery channels behind the outbox: SMTP through libcurl (plain, STARTTLS,
 * implicit TLS; AUTH when a username is set; multipart/alternative text + HTML)
 * and SMS providers (webhook, twilio, log). They take a settings snapshot and
 * do network I/O: call them only from the sender thread or the worker pool.
 * Never log message bodies (they hold tokens and codes) or credentials.
 */
#ifndef ARMOR_NOTIFY_H
#define ARMOR_NOTIFY_H
#include "settings/settings.h"
#include <stddef.h>

/*
 * Sends one email with `e` (the sender's settings). from_name "" uses
 * `app_name`. `html` may be NULL. On return `answer` holds the SMTP server's
 * last reply line (or curl's error text). ARMOR_OK, ARMOR_INVALID (not
 * configured, or the server refused the message for good: 5xx) or ARMOR_BUSY
 * (temporary failure: connection, timeout, 4xx; worth a retry).
 */
int armor_smtp_send(const struct armor_email_settings *e, const char *app_name, const char *to, const char *subject,
                    const char *text, const char *html, char *answer, size_t answerlen);

/* Sends one SMS with `s`. Same results as armor_smtp_send; `answer` holds the provider's status or error. */
int armor_sms_send(const struct armor_sms_settings *s, const char *to, const char *text, char *answer,
                   size_t answerlen);

/*
 * libcurl's global state (TLS library, resolver, ...), set up on the first delivery rather than at
 * start-up: a node that sends nothing never pays for it. Thread-safe; the send functions call it.
 */
void armor_notify_curl_init(void);

/* Masked forms for display and logs: "b***@e***.test", "+1*******23". */
void armor_mask_email(const char *email, char *out, size_t outlen);
void armor_mask_phone(const char *phone, char *out, size_t outlen);

#endif
