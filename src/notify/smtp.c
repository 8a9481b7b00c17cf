/*
 * SMTP delivery through libcurl: smtp:// (optionally upgraded with STARTTLS,
 * required when security is "starttls"), smtps:// for implicit TLS, AUTH when
 * a username is set, and a MIME message whose body is multipart/alternative
 * (text/plain + text/html, quoted-printable, UTF-8). Header values are single
 * lines (settings and callers are validated) and encoded per RFC 2047 when not
 * ASCII. Never logs the message or the credentials.
 */
#include "notify/notify.h"
#include "core/armor.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Copies s without CR/LF (a header must stay one line). */
static void one_line(const char *s, char *out, size_t outlen) {
  size_t j = 0;
  for (; s && *s && j + 1 < outlen; s++) out[j++] = (*s == '\r' || *s == '\n') ? ' ' : *s;
  out[j] = 0;
}

static bool is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return false;
  return true;
}

/* RFC 2047 "encoded-word" (base64) when s is not ASCII; otherwise s itself. */
static void encode_word(const char *s, char *out, size_t outlen) {
  if (is_ascii(s)) {
    armor_fmt(out, outlen, "%s", s);
    return;
  }
  size_t n = strlen(s);
  size_t bl = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
  char *b = armor_malloc(bl);
  sodium_bin2base64(b, bl, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
  armor_fmt(out, outlen, "=?UTF-8?B?%s?=", b);
  armor_free(b);
}

/* Display name as a quoted string (or an encoded word) for From:. */
static void display_name(const char *name, char *out, size_t outlen) {
  if (!is_ascii(name)) {
    encode_word(name, out, outlen);
    return;
  }
  size_t j = 0;
  if (outlen < 3) return;
  out[j++] = '"';
  for (; *name && j + 3 < outlen; name++) {
    if (*name == '"' || *name == '\\') out[j++] = '\\';
    out[j++] = *name;
  }
  out[j++] = '"';
  out[j] = 0;
}

struct answer {
  char *buf;
  size_t len;
};

/*
 * Keeps the server's last reply line (the debug stream's incoming headers are
 * the SMTP replies), except that an error reply is not replaced by the
 * "221" that answers the QUIT after it.
 */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg) {
  (void)h;
  struct answer *a = arg;
  if (type != CURLINFO_HEADER_IN || !a->len) return 0;
  if ((a->buf[0] == '4' || a->buf[0] == '5') && size && data[0] == '2') return 0;
  while (size && (data[size - 1] == '\n' || data[size - 1] == '\r')) size--;
  if (size >= a->len) size = a->len - 1;
  memcpy(a->buf, data, size);
  a->buf[size] = 0;
  for (char *p = a->buf; *p; p++)
    if ((unsigned char)*p < 0x20) *p = ' ';
  return 0;
}

int armor_smtp_send(const struct armor_email_settings *e, const char *app_name, const char *to, const char *subject,
                    const char *text, const char *html, char *answer, size_t answerlen) {
  if (answerlen) answer[0] = 0;
  if (!e->enabled || !e->host[0] || !e->from_address[0]) {
    armor_fmt(answer, answerlen, "email delivery is not configured");
    return ARMOR_INVALID;
  }
  armor_notify_curl_init();
  CURL *h = curl_easy_init();
  if (!h) return ARMOR_BUSY;
  int rc = ARMOR_BUSY;
  struct curl_slist *rcpt = NULL, *hdrs = NULL;
  curl_mime *mime = NULL, *alt = NULL;
  char url[320], buf[1024], from_addr[300], to_addr[300], name[400], subj[1024];
  bool tls = !strcmp(e->security, "tls");
  bool host_v6 = strchr(e->host, ':') && e->host[0] != '[';
  armor_fmt(url, sizeof url, "%s://%s%s%s:%d", tls ? "smtps" : "smtp", host_v6 ? "[" : "", e->host, host_v6 ? "]" : "",
            e->port);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  if (!strcmp(e->security, "starttls"))
    curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
  else if (!tls)
    curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
  const char *ca = getenv("ARMOR_SMTP_CA_FILE");
  if (ca && *ca) curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  if (e->username[0]) {
    curl_easy_setopt(h, CURLOPT_USERNAME, e->username);
    curl_easy_setopt(h, CURLOPT_PASSWORD, e->password);
  }
  one_line(e->from_address, buf, sizeof buf);
  armor_fmt(from_addr, sizeof from_addr, "<%s>", buf);
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from_addr);
  one_line(to, buf, sizeof buf);
  armor_fmt(to_addr, sizeof to_addr, "<%s>", buf);
  rcpt = curl_slist_append(rcpt, to_addr);
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);

  /* Headers. */
  char line[1200];
  one_line(e->from_name[0] ? e->from_name : app_name, buf, sizeof buf);
  display_name(buf, name, sizeof name);
  armor_fmt(line, sizeof line, "From: %s %s", name, from_addr);
  hdrs = curl_slist_append(hdrs, line);
  armor_fmt(line, sizeof line, "To: %s", to_addr);
  hdrs = curl_slist_append(hdrs, line);
  one_line(subject, buf, sizeof buf);
  encode_word(buf, subj, sizeof subj);
  armor_fmt(line, sizeof line, "Subject: %s", subj);
  hdrs = curl_slist_append(hdrs, line);
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  armor_fmt(line, sizeof line, "Date: %s", date);
  hdrs = curl_slist_append(hdrs, line);
  char id[37];
  armor_uuid_new(id);
  const char *dom = strchr(e->from_address, '@');
  armor_fmt(line, sizeof line, "Message-ID: <%s@%s>", id, dom ? dom + 1 : "armor.invalid");
  hdrs = curl_slist_append(hdrs, line);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

  /* Body: multipart/alternative inside the top-level part. */
  mime = curl_mime_init(h);
  alt = curl_mime_init(h);
  curl_mimepart *p = curl_mime_addpart(alt);
  curl_mime_data(p, text, CURL_ZERO_TERMINATED);
  curl_mime_type(p, "text/plain; charset=utf-8");
  curl_mime_encoder(p, "quoted-printable");
  if (html) {
    p = curl_mime_addpart(alt);
    curl_mime_data(p, html, CURL_ZERO_TERMINATED);
    curl_mime_type(p, "text/html; charset=utf-8");
    curl_mime_encoder(p, "quoted-printable");
  }
  p = curl_mime_addpart(mime);
  curl_mime_subparts(p, alt);
  alt = NULL; /* owned by mime now */
  curl_mime_type(p, "multipart/alternative");
  struct curl_slist *ph = curl_slist_append(NULL, "Content-Disposition: inline");
  curl_mime_headers(p, ph, 1);
  curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);

  struct answer a = {answer, answerlen};
  curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
  curl_easy_setopt(h, CURLOPT_DEBUGDATA, &a);
  curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);

  CURLcode cc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (cc == CURLE_OK) {
    rc = ARMOR_OK;
  } else {
    /* A 5xx reply (other than to AUTH) is the server's final word; everything else may pass later. */
    rc = code >= 500 && code != 530 && code != 535 ? ARMOR_INVALID : ARMOR_BUSY;
    if (!answer[0] || code == 0) armor_fmt(answer, answerlen, "%s", curl_easy_strerror(cc));
  }
  curl_mime_free(mime);
  curl_mime_free(alt);
  curl_slist_free_all(rcpt);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return rc;
}

/* ---------------------------------------------------------------- masks */

void armor_mask_email(const char *email, char *out, size_t outlen) {
  const char *at = strchr(email, '@');
  if (!at || at == email) {
    armor_fmt(out, outlen, "***");
    return;
  }
  const char *dom = at + 1;
  const char *dot = strrchr(dom, '.');
  if (!dot || dot == dom) dot = dom + strlen(dom);
  armor_fmt(out, outlen, "%c***@%c***%s", email[0], *dom ? *dom : '*', dot);
}

void armor_mask_phone(const char *phone, char *out, size_t outlen) {
  /* A fixed number of stars: the mask does not tell the number's length. */
  size_t n = strlen(phone);
  if (n < 6)
    armor_fmt(out, outlen, "***");
  else
    armor_fmt(out, outlen, "%.2s*******%s", phone, phone + n - 2);
}
