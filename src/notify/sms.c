/*
 * SMS providers: "webhook" (POST JSON {"to","message"} with an optional
 * bearer token), "twilio" (form POST to the Messages resource with basic
 * auth; base URL configurable for tests and regional endpoints) and "log"
 * (one log line with the masked number and the length, never the text, which
 * holds one-time codes).
 */
#include "notify/notify.h"
#include "core/armor.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>

static size_t discard(char *p, size_t size, size_t n, void *arg) {
  (void)p;
  (void)arg;
  return size * n;
}

/* Runs an HTTP POST prepared on h; maps the result. */
static int post(CURL *h, char *answer, size_t answerlen) {
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  CURLcode cc = curl_easy_perform(h);
  if (cc != CURLE_OK) {
    armor_fmt(answer, answerlen, "%s", curl_easy_strerror(cc));
    return ARMOR_BUSY;
  }
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  armor_fmt(answer, answerlen, "HTTP %ld", code);
  if (code >= 200 && code < 300) return ARMOR_OK;
  /* 408, 429 and 5xx may pass later; other 4xx will not. */
  return code == 408 || code == 429 || code >= 500 ? ARMOR_BUSY : ARMOR_INVALID;
}

static int webhook(const struct armor_sms_settings *s, const char *to, const char *text, char *answer,
                   size_t answerlen) {
  armor_notify_curl_init();
  CURL *h = curl_easy_init();
  if (!h) return ARMOR_BUSY;
  json_t *o = json_pack("{s:s, s:s}", "to", to, "message", text);
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
  char auth[300];
  if (s->auth_token[0]) {
    armor_fmt(auth, sizeof auth, "Authorization: Bearer %s", s->auth_token);
    hd = curl_slist_append(hd, auth);
    sodium_memzero(auth, sizeof auth);
  }
  curl_easy_setopt(h, CURLOPT_URL, s->url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  int rc = post(h, answer, answerlen);
  curl_easy_cleanup(h);
  curl_slist_free_all(hd);
  armor_free_secret_str(body);
  return rc;
}

static int twilio(const struct armor_sms_settings *s, const char *to, const char *text, char *answer,
                  size_t answerlen) {
  armor_notify_curl_init();
  CURL *h = curl_easy_init();
  if (!h) return ARMOR_BUSY;
  char url[800];
  const char *base = s->url[0] ? s->url : "https://api.twilio.com";
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/') bl--;
  char *sid = curl_easy_escape(h, s->account_sid, 0);
  armor_fmt(url, sizeof url, "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)bl, base, sid);
  curl_free(sid);
  char *eto = curl_easy_escape(h, to, 0), *efrom = curl_easy_escape(h, s->from_number, 0),
       *ebody = curl_easy_escape(h, text, 0);
  struct armor_buf form;
  armor_buf_init(&form, 16384);
  armor_buf_printf(&form, "To=%s&From=%s&Body=%s", eto, efrom, ebody);
  curl_free(eto);
  curl_free(efrom);
  sodium_memzero(ebody, strlen(ebody));
  curl_free(ebody);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_USERNAME, s->account_sid);
  curl_easy_setopt(h, CURLOPT_PASSWORD, s->auth_token);
  curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, form.data ? form.data : "");
  int rc = post(h, answer, answerlen);
  curl_easy_cleanup(h);
  if (form.data) sodium_memzero(form.data, form.len);
  armor_buf_free(&form);
  return rc;
}

int armor_sms_send(const struct armor_sms_settings *s, const char *to, const char *text, char *answer,
                   size_t answerlen) {
  if (answerlen) answer[0] = 0;
  if (!s->enabled) {
    armor_fmt(answer, answerlen, "SMS delivery is not configured");
    return ARMOR_INVALID;
  }
  if (!strcmp(s->provider, "webhook")) return webhook(s, to, text, answer, answerlen);
  if (!strcmp(s->provider, "twilio")) return twilio(s, to, text, answer, answerlen);
  char masked[64];
  armor_mask_phone(to, masked, sizeof masked);
  armor_info("sms (log provider): message of %zu characters to %s", strlen(text), masked);
  armor_fmt(answer, answerlen, "logged");
  return ARMOR_OK;
}
