/*
 * The request helpers of src/http/reply.c on a fake struct armor_req:
 * armor_req_cookie, armor_req_bearer, armor_req_header, and the JSON field
 * helpers (armor_json_*_or_reply, armor_json_known_or_reply) with their
 * error envelopes. Input: header lines "Name: value\n" (the first line that
 * does not contain ':' ends the headers), then a lookup name line, then a
 * JSON body.
 */
#include "fuzz_common.h"
#include "http/http.h"

#include <assert.h>
#include <jansson.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  armor_alloc_init();
  armor_log_level = ARMOR_LOG_ERR + 10; /* keep the second-reply messages */
  return 0;
}

static void reset_reply(struct armor_req *r) {
  armor_free(r->resp_body);
  r->resp_body = NULL;
  r->resp_len = 0;
  r->replied = false;
  r->status = 0;
  r->nresp_headers = 0;
}

static void check_envelope(struct armor_req *r) {
  if (!r->replied) return;
  assert(r->resp_body);
  json_error_t e;
  json_t *j = json_loadb(r->resp_body, r->resp_len, 0, &e);
  assert(j && json_is_object(j));
  assert(json_is_false(json_object_get(j, "success")));
  assert(json_is_string(json_object_get(j, "message")) && json_is_string(json_object_get(j, "code")));
  assert(r->status == 400 || r->status == 401 || r->status == 422);
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  char *all = fz_str(data, size);
  struct armor_req r;
  memset(&r, 0, sizeof r);
  r.arena = armor_arena_new();
  armor_fmt(r.request_id, sizeof r.request_id, "fuzz");
  struct armor_kv hdrs[64];
  int nh = 0;
  char *p = all;
  while (*p && nh < 64) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    char *colon = strchr(p, ':');
    if (!colon) {
      if (nl) *nl = '\n';
      break;
    }
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ') v++;
    hdrs[nh].name = p;
    hdrs[nh].value = v;
    nh++;
    p = nl ? nl + 1 : p + strlen(p);
  }
  r.headers = hdrs;
  r.nheaders = nh;
  char *name = p, *body = "";
  char *nl = strchr(p, '\n');
  if (nl) {
    *nl = 0;
    body = nl + 1;
  }

  /* Header helpers. */
  const char *c = armor_req_cookie(&r, name);
  if (c) assert(strlen(c) <= size);
  c = armor_req_cookie(&r, "session");
  c = armor_req_cookie(&r, "");
  const char *b = armor_req_bearer(&r);
  if (b) {
    const char *auth = armor_req_header(&r, "Authorization");
    assert(auth && b >= auth && b < auth + strlen(auth) && *b && *b != ' ');
  }
  (void)armor_req_header(&r, name);

  /* JSON field helpers over the body (same flags as the server's body parser). */
  json_error_t e;
  r.json = json_loads(body, JSON_REJECT_DUPLICATES, &e);
  if (r.json && json_is_object(r.json)) {
    const char *s;
    bool bv, present;
    long long iv;
    static const char *const known[] = {"username", "password", "email", "token", NULL};
    armor_json_known_or_reply(&r, known);
    check_envelope(&r);
    reset_reply(&r);
    armor_json_str_or_reply(&r, name, true, 1, 64, &s);
    check_envelope(&r);
    if (!r.replied) assert(s && strlen(s) == json_string_length(json_object_get(r.json, name)));
    reset_reply(&r);
    armor_json_str_or_reply(&r, "username", false, 0, 0, &s);
    check_envelope(&r);
    reset_reply(&r);
    armor_json_bool_or_reply(&r, name, &bv, &present);
    check_envelope(&r);
    reset_reply(&r);
    armor_json_int_or_reply(&r, name, -5, 1000, &iv, &present);
    check_envelope(&r);
    if (!r.replied && present) assert(iv >= -5 && iv <= 1000);
    reset_reply(&r);
  }
  if (r.json) json_decref(r.json);
  r.json = NULL;
  /* Error envelopes carrying request text in the message and details: must not crash. (They lose the
     message when it is not UTF-8: handlers must only pass valid UTF-8, which the helpers above check.) */
  armor_reply_field_error(&r, 422, "VALIDATION_FAILED", name, body);
  assert(r.replied && r.resp_body);
  reset_reply(&r);
  armor_reply_oauth_error(&r, 400, name, body);
  reset_reply(&r);
  armor_arena_free(r.arena);
  free(all);
  return 0;
}
