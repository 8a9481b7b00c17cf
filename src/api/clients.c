/*
 * /api/clients: OAuth clients ("projects") in the envelope. Reading needs
 * clients:read, changing clients:write (checked by the route table). A
 * client secret appears in exactly two answers: creation and rotation.
 */
#include "api/oauth_routes.h"
#include "oauth/oauth.h"

#include <sodium.h>
#include <string.h>

static void audit(struct armor_req *r, const char *event, const char *client_id) {
  json_t *d = json_object();
  json_object_set_new(d, "client_id", json_string(client_id));
  armor_oauth_audit_context(r->client_ip, r->request_id);
  armor_oauth_audit(event, r->principal ? r->principal->user_id : NULL, NULL, d);
}

static void reply_verr(struct armor_req *r, const struct armor_oauth_verr *e) {
  armor_reply_field_error(r, 422, "VALIDATION_FAILED", e->field ? e->field : "body", e->msg);
}

void armor_api_clients_list(struct armor_req *r) {
  json_t *a = armor_oauth_client_list();
  if (!a) {
    armor_reply_rc(r, ARMOR_DB, NULL);
    return;
  }
  json_t *d = json_object();
  json_object_set_new(d, "clients", a);
  armor_reply_ok(r, 200, "Clients", d);
}

void armor_api_clients_create(struct armor_req *r) {
  json_t *out = NULL;
  struct armor_oauth_verr e = {0};
  int rc = armor_oauth_client_create(r->json, r->principal ? r->principal->user_id : NULL, &out, &e);
  if (rc == ARMOR_INVALID) {
    reply_verr(r, &e);
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, NULL);
    return;
  }
  audit(r, "oauth.client.created", json_string_value(json_object_get(out, "client_id")));
  armor_reply_ok(r, 201, "Client created; the secret is shown only once", out);
}

void armor_api_clients_get(struct armor_req *r) {
  struct armor_oauth_client c;
  int rc = armor_oauth_client_get(armor_req_param(r, "id"), &c);
  if (rc) {
    armor_reply_rc(r, rc, rc == ARMOR_NOT_FOUND ? "No such client" : NULL);
    return;
  }
  armor_reply_ok(r, 200, "Client", armor_oauth_client_to_json(&c));
  armor_oauth_client_clear(&c);
}

void armor_api_clients_update(struct armor_req *r) {
  json_t *out = NULL;
  struct armor_oauth_verr e = {0};
  const char *id = armor_req_param(r, "id");
  int rc = armor_oauth_client_update(id, r->json, &out, &e);
  if (rc == ARMOR_INVALID) {
    reply_verr(r, &e);
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, rc == ARMOR_NOT_FOUND ? "No such client" : NULL);
    return;
  }
  audit(r, "oauth.client.updated", id);
  armor_reply_ok(r, 200, "Client updated", out);
}

void armor_api_clients_delete(struct armor_req *r) {
  const char *id = armor_req_param(r, "id");
  int rc = armor_oauth_client_delete(id);
  if (rc) {
    armor_reply_rc(r, rc, rc == ARMOR_NOT_FOUND ? "No such client" : NULL);
    return;
  }
  audit(r, "oauth.client.deleted", id);
  armor_reply_no_content(r);
}

void armor_api_clients_rotate(struct armor_req *r) {
  const char *id = armor_req_param(r, "id");
  char secret[64];
  int rc = armor_oauth_client_rotate_secret(id, secret);
  if (rc == ARMOR_INVALID) {
    armor_reply_error(r, 409, "CONFLICT", "A public client has no secret", NULL);
    return;
  }
  if (rc) {
    armor_reply_rc(r, rc, rc == ARMOR_NOT_FOUND ? "No such client" : NULL);
    return;
  }
  audit(r, "oauth.client.secret_rotated", id);
  json_t *d = json_object();
  json_object_set_new(d, "client_id", json_string(id));
  json_object_set_new(d, "client_secret", json_string(secret));
  sodium_memzero(secret, sizeof secret);
  armor_reply_ok(r, 200, "Secret rotated; the new secret is shown only once", d);
}
