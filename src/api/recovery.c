/*
 * Recovery and email verification routes under /api/auth. Each handler reads
 * the identifier, calls one function of auth/recovery.c and answers. The
 * starting calls answer the same for known and unknown accounts.
 */
#include "app/services.h"
#include "auth/accounts.h"
#include "auth/recovery.h"

#include <sodium.h>
#include <string.h>

static const char msg_sent_email[] = "If the account exists and has an email address, a recovery email is on its way";
static const char msg_sent_sms[] = "If the account exists and has a phone number, a recovery code is on its way";

static struct armor_recovery_caller caller_of(const struct armor_req *r) {
  struct armor_recovery_caller c = {r->client_ip, r->request_id, r->principal ? r->principal->user_id : NULL};
  return c;
}

static void reply_limited(struct armor_req *r, int retry_after) {
  char s[16];
  armor_fmt(s, sizeof s, "%d", retry_after > 0 ? retry_after : 60);
  armor_reply_header(r, "Retry-After", s);
  armor_reply_rc(r, ARMOR_LIMITED, "Too many recovery requests; try again later");
}

static size_t max_len(const char *field) {
  return !strcmp(field, "username") ? 64 : !strcmp(field, "phone") ? 19 : 254;
}

/*
 * Exactly one of `fields` (NULL-terminated) must be given, in the JSON body or
 * (from_query) the query string. Replies and returns false otherwise.
 */
static bool identifier_or_reply(struct armor_req *r, const char *const *fields, bool from_query, const char **field,
                                const char **value) {
  *field = *value = NULL;
  for (const char *const *f = fields; *f; f++) {
    const char *v = NULL;
    if (from_query) {
      v = armor_req_query(r, *f);
      if (v && (!*v || strlen(v) > max_len(*f))) {
        armor_reply_field_error(r, 422, "VALIDATION_FAILED", *f, "Identifier is empty or too long");
        return false;
      }
    } else if (!armor_json_str_or_reply(r, *f, false, 1, max_len(*f), &v)) {
      return false;
    }
    if (!v) continue;
    if (*field) {
      armor_reply_field_error(r, 400, "VALIDATION_FAILED", *f, "Give only one identifier");
      return false;
    }
    *field = *f;
    *value = v;
  }
  if (!*field) {
    char m[160] = "One of these fields is required:";
    for (const char *const *f = fields; *f; f++) {
      size_t n = strlen(m);
      armor_fmt(m + n, sizeof m - n, " %s", *f);
    }
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", fields[0], m);
    return false;
  }
  return true;
}

static void start(struct armor_req *r, const char *channel, const char *const *fields) {
  static const char *const known[] = {"username", "email", "phone", NULL};
  const char *field, *value;
  if (!armor_json_known_or_reply(r, known) || !identifier_or_reply(r, fields, false, &field, &value)) return;
  struct armor_recovery_caller c = caller_of(r);
  int retry = 0;
  int rc = armor_recovery_start(channel, field, value, &c, &retry);
  if (rc == ARMOR_LIMITED) {
    reply_limited(r, retry);
    return;
  }
  if (rc == ARMOR_BUSY) {
    armor_reply_error(r, 503, "UNAVAILABLE",
                      !strcmp(channel, "email") ? "Recovery by email is not available on this server"
                                                : "Recovery by SMS is not available on this server",
                      NULL);
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 202, !strcmp(channel, "email") ? msg_sent_email : msg_sent_sms, NULL);
}

static void recovery_email(struct armor_req *r) {
  static const char *const fields[] = {"username", "email", NULL};
  start(r, "email", fields);
}

static void recovery_sms(struct armor_req *r) {
  static const char *const fields[] = {"username", "phone", NULL};
  start(r, "sms", fields);
}

static void recovery_sms_complete(struct armor_req *r) {
  static const char *const known[] = {"username", "phone", "otp", NULL};
  static const char *const fields[] = {"username", "phone", NULL};
  const char *field, *value, *otp;
  if (!armor_json_known_or_reply(r, known) || !identifier_or_reply(r, fields, false, &field, &value) ||
      !armor_json_str_or_reply(r, "otp", true, 6, 6, &otp))
    return;
  if (strspn(otp, "0123456789") != 6) {
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "otp", "Field 'otp' must be 6 digits");
    return;
  }
  struct armor_recovery_caller c = caller_of(r);
  char token[64];
  int retry = 0;
  int rc = armor_recovery_sms_complete(field, value, otp, &c, token, sizeof token, &retry);
  if (rc == ARMOR_LIMITED) {
    reply_limited(r, retry);
    return;
  }
  if (rc == ARMOR_UNAUTHORIZED) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "otp", "The code is wrong, used or expired");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 200, "Code accepted", json_pack("{s:s}", "recovery_token", token));
  sodium_memzero(token, sizeof token);
}

static void recovery_context(struct armor_req *r) {
  static const char *const fields[] = {"username", "email", "phone", NULL};
  const char *field, *value;
  if (!identifier_or_reply(r, fields, true, &field, &value)) return;
  struct armor_recovery_caller c = caller_of(r);
  int rc = 0, retry = 0;
  json_t *d = armor_recovery_context(field, value, &c, &rc, &retry);
  if (rc == ARMOR_LIMITED) {
    reply_limited(r, retry);
    return;
  }
  if (!d) {
    armor_reply_rc(r, rc ? rc : ARMOR_INTERNAL, NULL);
    return;
  }
  armor_reply_ok(r, 200, "Recovery context", d);
}

static void recovery_validate(struct armor_req *r) {
  static const char *const known[] = {"recovery_token", NULL};
  const char *token;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "recovery_token", true, 1, 256, &token))
    return;
  struct armor_recovery_caller c = caller_of(r);
  char grant[64];
  int expires_in = 0;
  int rc = armor_recovery_validate(token, &c, grant, sizeof grant, &expires_in);
  if (rc == ARMOR_UNAUTHORIZED) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "recovery_token", "The recovery token is invalid, used or expired");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 200, "Recovery token accepted",
                 json_pack("{s:s, s:i}", "reset_grant", grant, "expires_in", expires_in));
  sodium_memzero(grant, sizeof grant);
}

static void recovery_delete(struct armor_req *r) {
  static const char *const known[] = {"recovery_token", NULL};
  const char *token = NULL;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "recovery_token", false, 1, 256, &token))
    return;
  if (!token) token = armor_req_query(r, "recovery_token");
  if (!token || !*token) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "recovery_token",
                            "Field 'recovery_token' is required (body or query)");
    return;
  }
  struct armor_recovery_caller c = caller_of(r);
  int rc = armor_recovery_cancel(token, &c);
  if (rc == ARMOR_NOT_FOUND) {
    armor_reply_rc(r, rc, "No such recovery token");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_no_content(r);
}

static void reset_initiate(struct armor_req *r) {
  static const char *const known[] = {"user_id", "username", NULL};
  const char *uid = NULL, *username = NULL;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "user_id", false, 1, 64, &uid) ||
      !armor_json_str_or_reply(r, "username", false, 1, 64, &username))
    return;
  if (uid && username) {
    armor_reply_field_error(r, 400, "VALIDATION_FAILED", "username", "Give user_id or username, not both");
    return;
  }
  char target[37];
  armor_fmt(target, sizeof target, "%s", r->principal->user_id);
  if (uid || username) {
    struct armor_user u;
    int rc = uid ? (armor_uuid_valid(uid) ? armor_user_get(uid, &u) : ARMOR_NOT_FOUND)
                 : armor_user_find("username", username, &u);
    bool self = rc == ARMOR_OK && !strcmp(u.id, r->principal->user_id);
    /* Only an admin may ask for someone else, and only an admin learns whether they exist. */
    if (!self && !armor_principal_has(r->principal, "users:write")) {
      json_t *d = json_pack("{s:s}", "permission", "users:write");
      armor_reply_error(r, 403, "FORBIDDEN", "Missing permission", d);
      return;
    }
    if (rc == ARMOR_NOT_FOUND) {
      armor_reply_rc(r, rc, "No such user");
      return;
    }
    if (rc) {
      armor_reply_rc(r, rc, NULL);
      return;
    }
    armor_fmt(target, sizeof target, "%s", u.id);
  }
  struct armor_recovery_caller c = caller_of(r);
  int retry = 0;
  int rc = armor_recovery_initiate_for(target, &c, &retry);
  switch (rc) {
  case ARMOR_OK: armor_reply_ok(r, 202, "A recovery email is on its way", json_pack("{s:s}", "user_id", target)); break;
  case ARMOR_LIMITED: reply_limited(r, retry); break;
  case ARMOR_INVALID:
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "email", "The account has no email address");
    break;
  case ARMOR_BUSY:
    armor_reply_error(r, 503, "UNAVAILABLE", "Email delivery is not configured on this server", NULL);
    break;
  case ARMOR_NOT_FOUND: armor_reply_rc(r, rc, "No such user"); break;
  default: armor_reply_rc(r, rc, NULL);
  }
}

static void password_reset(struct armor_req *r) {
  static const char *const known[] = {"reset_grant", "new_password", NULL};
  const char *grant, *pw;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "reset_grant", true, 1, 256, &grant) ||
      !armor_json_str_or_reply(r, "new_password", true, 1, 0, &pw))
    return;
  struct armor_recovery_caller c = caller_of(r);
  char msg[256] = "";
  int rc = armor_recovery_reset(grant, pw, &c, msg, sizeof msg);
  if (rc == ARMOR_UNAUTHORIZED) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "reset_grant", "The reset grant is invalid, used or expired");
    return;
  }
  if (rc == ARMOR_INVALID) {
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "new_password",
                            msg[0] ? msg : "The password does not meet the policy");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 200, "Password changed; every session of the account was ended", NULL);
}

static void email_verify(struct armor_req *r) {
  static const char *const known[] = {"token", NULL};
  const char *token;
  if (!armor_json_known_or_reply(r, known) || !armor_json_str_or_reply(r, "token", true, 1, 256, &token)) return;
  struct armor_recovery_caller c = caller_of(r);
  char uid[37];
  int rc = armor_verification_confirm(token, &c, uid);
  if (rc == ARMOR_UNAUTHORIZED) {
    armor_reply_field_error(r, 400, "BAD_REQUEST", "token", "The verification link is invalid, used or expired");
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  armor_reply_ok(r, 200, "Email address verified", json_pack("{s:s, s:b}", "user_id", uid, "email_verified", 1));
}

static void email_verify_resend(struct armor_req *r) {
  static const char *const known[] = {NULL};
  if (!armor_json_known_or_reply(r, known)) return;
  struct armor_recovery_caller c = caller_of(r);
  int retry = 0;
  int rc = armor_verification_resend(r->principal->user_id, &c, &retry);
  switch (rc) {
  case ARMOR_OK: armor_reply_ok(r, 202, "A verification email is on its way", NULL); break;
  case ARMOR_LIMITED: reply_limited(r, retry); break;
  case ARMOR_INVALID:
    armor_reply_field_error(r, 422, "VALIDATION_FAILED", "email", "The account has no email address");
    break;
  case ARMOR_CONFLICT: armor_reply_error(r, 409, "CONFLICT", "The email address is already verified", NULL); break;
  case ARMOR_BUSY:
    armor_reply_error(r, 503, "UNAVAILABLE", "Email delivery is not configured on this server", NULL);
    break;
  default: armor_reply_rc(r, rc, NULL);
  }
}

const struct armor_route armor_routes_recovery[] = {
    {"POST", "/api/auth/recovery/email", recovery_email, ROUTE_PUBLIC | ROUTE_JSON, NULL, 4096},
    {"POST", "/api/auth/recovery/sms", recovery_sms, ROUTE_PUBLIC | ROUTE_JSON, NULL, 4096},
    {"POST", "/api/auth/recovery/sms/complete", recovery_sms_complete, ROUTE_PUBLIC | ROUTE_JSON, NULL, 4096},
    {"GET", "/api/auth/recovery/context", recovery_context, ROUTE_PUBLIC, NULL, 0},
    {"POST", "/api/auth/recovery/validate", recovery_validate, ROUTE_PUBLIC | ROUTE_JSON, NULL, 4096},
    {"DELETE", "/api/auth/recovery", recovery_delete, ROUTE_PUBLIC | ROUTE_OPTJSON, NULL, 4096},
    {"POST", "/api/auth/password/reset/initiate", reset_initiate, ROUTE_AUTH | ROUTE_OPTJSON, NULL, 4096},
    {"POST", "/api/auth/password/reset", password_reset, ROUTE_PUBLIC | ROUTE_JSON | ROUTE_SLOW, NULL, 8192},
    {"POST", "/api/auth/email/verify", email_verify, ROUTE_PUBLIC | ROUTE_JSON, NULL, 4096},
    {"POST", "/api/auth/email/verify/resend", email_verify_resend, ROUTE_AUTH | ROUTE_OPTJSON, NULL, 4096},
    {NULL, NULL, NULL, 0, NULL, 0},
};
