/*
 * GET /.well-known/jwks.json: the public signing keys (active and recently
 * retired), served from the key set's prebuilt text. It never waits: in the
 * first moments of a new database the RS256 key is published as soon as the
 * key service has made it.
 */
#include "app/services.h"
#include "auth/tokens_int.h"

static void jwks(struct armor_req *r) {
  struct armor_keyset *ks = armor_keyset_peek();
  armor_reply_header(r, "Cache-Control", "public, max-age=60");
  armor_reply_header(r, "Access-Control-Allow-Origin", "*");
  if (ks && ks->jwks_text) {
    armor_reply_raw(r, 200, "application/json", ks->jwks_text, ks->jwks_len);
  } else {
    static const char empty[] = "{\"keys\":[]}";
    armor_reply_raw(r, 200, "application/json", empty, sizeof empty - 1);
  }
  armor_keyset_put(ks);
}

const struct armor_route armor_routes_jwks[] = {
  {"GET", "/.well-known/jwks.json", jwks, ROUTE_PUBLIC | ROUTE_RAW, NULL, 0},
  {NULL, NULL, NULL, 0, NULL, 0},
};
