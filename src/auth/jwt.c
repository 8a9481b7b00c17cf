/*
 * JWT signing and verification through cjose, and the verified-token cache.
 *
 * Verification pins the algorithm to the key: the header's kid must name a
 * key we hold and the header's alg must be exactly that key's alg, so "none",
 * HS256-with-the-public-key and alg/kid mix-ups never reach a signature check.
 * Tokens are never logged.
 *
 * The cache maps the token text to its verified claims: a slot is chosen by a
 * keyed SipHash of the text, and a hit is an exact match of the whole text
 * kept in the entry. A hit skips parsing and the signature check only: iss, aud, exp, nbf/iat and the
 * revocation of sid are checked on every call. Values derived from the claims
 * (armor_jwt_ref_memo, e.g. a rendered introspection answer) live and die with
 * the cached entry.
 */
#include "auth/tokens_int.h"
#include "core/config.h"
#include "settings/settings.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define MAX_TOKEN_LEN 16384
#define LEEWAY 60 /* seconds nbf/iat may lie in the future */
#define CACHE_SIZE 8192
#define CACHE_STRIPES 64
#define CACHE_MAX_TOKEN 8192 /* longer tokens are verified every time */

struct armor_tokens_metrics armor_tokens_m[ARMOR_SHARDS];

/* ---------------------------------------------------------------- issuer */

const char *armor_tokens_issuer(void) {
  if (armor_cfg.public_url && *armor_cfg.public_url) return armor_cfg.public_url;
  static __thread char iss[512];
  struct armor_app_settings a;
  armor_settings_app(&a);
  armor_fmt(iss, sizeof iss, "%s", a.public_url);
  return iss;
}

/* ---------------------------------------------------------------- cache */

/*
 * Cached claims are shared read-only between threads. Their lifetime is
 * tracked by our own atomic count (jansson's reference count is not meant
 * for sharing across threads). What the checks of every call need is read
 * from the claims once, when they are verified; callers of armor_jwt_verify
 * get a deep copy, callers of armor_jwt_verify_ref the shared claims and
 * the values derived from them (armor_jwt_ref_memo).
 */
struct armor_jwt_ref {
  atomic_int refs;
  json_t *claims;
  bool times; /* exp present, exp/nbf/iat NumericDates */
  int64_t exp, nbf, iat;
  const char *iss; /* borrowed from claims; NULL when absent or not a string */
  json_t *sid;     /* borrowed; NULL when absent */
  _Atomic(void *) memo[ARMOR_JWT_MEMO_SLOTS];
  size_t token_len; /* 0 when the token is not cached */
  char token[];     /* the token text a cache hit must match exactly */
};

struct centry {
  uint64_t h;              /* token_hash: keyed SipHash-2-4 of the signature segment */
  struct armor_jwt_ref *c; /* NULL: empty slot */
};

static struct centry cache[CACHE_SIZE];
static pthread_mutex_t stripes[CACHE_STRIPES];
static unsigned char cache_key[crypto_shorthash_KEYBYTES];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_init(void) {
  randombytes_buf(cache_key, sizeof cache_key);
  for (int i = 0; i < CACHE_STRIPES; i++) pthread_mutex_init(&stripes[i], NULL);
}

void armor_jwt_ref_put(struct armor_jwt_ref *c) {
  if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
    for (int i = 0; i < ARMOR_JWT_MEMO_SLOTS; i++) armor_free(atomic_load_explicit(&c->memo[i], memory_order_acquire));
    json_decref(c->claims);
    armor_free(c);
  }
}

const json_t *armor_jwt_ref_claims(const struct armor_jwt_ref *ref) { return ref->claims; }

const void *armor_jwt_ref_memo(struct armor_jwt_ref *ref, unsigned slot, void *(*make)(const json_t *claims)) {
  if (slot >= ARMOR_JWT_MEMO_SLOTS) return NULL;
  void *v = atomic_load_explicit(&ref->memo[slot], memory_order_acquire);
  if (v) return v;
  v = make(ref->claims);
  if (!v) return NULL;
  void *expected = NULL;
  /* Two first callers may both build it: one value is kept, the other freed. */
  if (!atomic_compare_exchange_strong_explicit(&ref->memo[slot], &expected, v, memory_order_acq_rel,
                                               memory_order_acquire)) {
    armor_free(v);
    v = expected;
  }
  return v;
}

/*
 * The slot hash covers the signature (the text after the last '.'), which differs for every token this
 * server signs, and the length: SipHash of a whole 500-byte token was the largest single cost of a cached
 * introspection. Two tokens that share a signature segment share a slot and are told apart by the exact
 * comparison in cache_get; finding such a pair needs the signature of a cached token, that is, the token.
 */
static uint64_t token_hash(const char *token, size_t len) {
  size_t i = len;
  while (i > 0 && token[i - 1] != '.') i--;
  if (len - i < 16) i = 0; /* no signature segment worth the name: hash all of it */
  return armor_siphash64(token + i, len - i, cache_key) ^ (uint64_t)len;
}

/*
 * The cached claims of exactly this token with a reference taken, or NULL. The text is compared only
 * when the keyed 64-bit hashes are equal, that is (but for chance) when the caller already holds the
 * cached token's signature, so the comparison's early exit tells nothing that caller does not know.
 */
static struct armor_jwt_ref *cache_get(uint64_t h, const char *token, size_t len) {
  size_t i = (size_t)(h % CACHE_SIZE);
  pthread_mutex_t *m = &stripes[i % CACHE_STRIPES];
  struct armor_jwt_ref *c = NULL;
  pthread_mutex_lock(m);
  if (cache[i].c && cache[i].h == h) {
    c = cache[i].c;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(m);
  if (c && (c->token_len != len || memcmp(c->token, token, len))) {
    armor_jwt_ref_put(c);
    c = NULL;
  }
  return c;
}

/* Stores c (the cache takes its own reference). */
static void cache_put(uint64_t h, struct armor_jwt_ref *c) {
  size_t i = (size_t)(h % CACHE_SIZE);
  pthread_mutex_t *m = &stripes[i % CACHE_STRIPES];
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  pthread_mutex_lock(m);
  struct armor_jwt_ref *old = cache[i].c;
  cache[i].h = h;
  cache[i].c = c;
  pthread_mutex_unlock(m);
  armor_jwt_ref_put(old);
}

void armor_jwt_cache_clear(void) {
  pthread_once(&cache_once, cache_init);
  for (size_t i = 0; i < CACHE_SIZE; i++) {
    pthread_mutex_t *m = &stripes[i % CACHE_STRIPES];
    pthread_mutex_lock(m);
    struct armor_jwt_ref *old = cache[i].c;
    cache[i].c = NULL;
    pthread_mutex_unlock(m);
    armor_jwt_ref_put(old);
  }
}

/* ---------------------------------------------------------------- sign */

char *armor_jwt_sign(json_t *claims, const char *typ, const char *alg) {
  if (!json_is_object(claims)) return NULL;
  if (!alg) alg = "ES256";
  if (strcmp(alg, "ES256") && strcmp(alg, "RS256")) {
    armor_err("jwt: cannot sign with unsupported alg %s", alg);
    return NULL;
  }
  /* Only an RS256 signature waits for a new database's first RS256 key (being made after start-up). */
  struct armor_keyset *ks = alg[0] == 'E' ? armor_keyset_peek() : armor_keyset_get();
  const struct armor_key *k = !ks ? NULL : alg[0] == 'E' ? ks->signer_es256 : ks->signer_rs256;
  if (!k) {
    armor_err("jwt: no %s signing key loaded", alg);
    armor_keyset_put(ks);
    ARMOR_TOKENS_COUNT(sign_errors);
    return NULL;
  }
  json_t *expv = json_object_get(claims, "exp");
  if (json_is_integer(expv) && json_integer_value(expv) - armor_time() > armor_keys_publish_window() - 600) {
    /* Such a token would outlive its key's publication after a rotation. */
    static atomic_bool warned;
    if (!atomic_exchange(&warned, true))
      armor_warn("jwt: signing a token that lives longer than %d s; it stops verifying after a key rotation",
                 (int)(armor_keys_publish_window() - 600));
  }
  json_t *c = json_copy(claims); /* shallow: only top-level members are added */
  if (!json_object_get(c, "iss")) json_object_set_new(c, "iss", json_string(armor_tokens_issuer()));
  if (!json_object_get(c, "iat")) json_object_set_new(c, "iat", json_integer(armor_time()));
  if (!json_object_get(c, "jti")) {
    char jti[32];
    armor_random_b64url(16, jti, sizeof jti);
    json_object_set_new(c, "jti", json_string(jti));
  }
  char *payload = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  char *out = NULL;
  cjose_err e;
  cjose_header_t *hdr = cjose_header_new(&e);
  if (payload && hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &e) && cjose_header_set(hdr, CJOSE_HDR_KID, k->kid, &e) &&
      (!typ || cjose_header_set(hdr, "typ", typ, &e))) {
    cjose_jws_t *jws = cjose_jws_sign(k->sign, hdr, (const uint8_t *)payload, strlen(payload), &e);
    const char *ser = NULL;
    if (jws && cjose_jws_export(jws, &ser, &e) && ser) out = armor_strdup(ser);
    cjose_jws_release(jws);
  }
  if (!out) {
    armor_err("jwt: signing failed: %s", e.message ? e.message : "?");
    ARMOR_TOKENS_COUNT(sign_errors);
  } else {
    if (alg[0] == 'E')
      ARMOR_TOKENS_COUNT(sign_es256);
    else
      ARMOR_TOKENS_COUNT(sign_rs256);
  }
  cjose_header_release(hdr);
  armor_free(payload);
  armor_keyset_put(ks);
  return out;
}

/* ---------------------------------------------------------------- verify */

static bool num_claim(json_t *claims, const char *name, bool required, int64_t *out) {
  json_t *v = json_object_get(claims, name);
  if (!v) {
    *out = 0;
    return !required;
  }
  if (json_is_integer(v)) *out = json_integer_value(v);
  else if (json_is_real(v)) {
    /* NumericDate may carry a fraction; values outside what int64 holds (or NaN) are refused. */
    double d = json_real_value(v);
    if (!(d > -9.2e18 && d < 9.2e18)) return false;
    *out = (int64_t)d;
  } else
    return false;
  return true;
}

/* Reads once what the checks of every call need from freshly verified claims; keeps the token text
   (len bytes) when it goes to the cache (len 0: it does not). */
static struct armor_jwt_ref *ref_new(json_t *claims, const char *token, size_t len) {
  struct armor_jwt_ref *c = armor_calloc(1, sizeof *c + len);
  memcpy(c->token, token, len);
  c->token_len = len;
  atomic_init(&c->refs, 1);
  for (int i = 0; i < ARMOR_JWT_MEMO_SLOTS; i++) atomic_init(&c->memo[i], NULL);
  c->claims = claims;
  c->iss = json_string_value(json_object_get(claims, "iss"));
  c->times = num_claim(claims, "exp", true, &c->exp) && num_claim(claims, "nbf", false, &c->nbf) &&
             num_claim(claims, "iat", false, &c->iat);
  c->sid = json_object_get(claims, "sid");
  return c;
}

/* The checks that run on every call, cached or not. */
static int check_claims(const struct armor_jwt_ref *c, const char *aud, unsigned flags) {
  if (!c->iss || strcmp(c->iss, armor_tokens_issuer())) return ARMOR_UNAUTHORIZED;
  if (aud) {
    json_t *a = json_object_get(c->claims, "aud");
    bool ok = false;
    if (json_is_string(a)) ok = !strcmp(json_string_value(a), aud);
    else if (json_is_array(a)) {
      size_t i;
      json_t *v;
      json_array_foreach(a, i, v) {
        if (json_is_string(v) && !strcmp(json_string_value(v), aud)) {
          ok = true;
          break;
        }
      }
    }
    if (!ok) return ARMOR_UNAUTHORIZED;
  }
  if (!c->times) return ARMOR_UNAUTHORIZED;
  int64_t now = armor_time();
  if (c->nbf > now + LEEWAY || c->iat > now + LEEWAY) return ARMOR_UNAUTHORIZED;
  if (now >= c->exp && !(flags & ARMOR_JWT_ALLOW_EXPIRED)) return ARMOR_EXPIRED;
  if (c->sid) {
    if (!json_is_string(c->sid)) return ARMOR_UNAUTHORIZED;
    if (!(flags & ARMOR_JWT_IGNORE_REVOKED) && armor_session_is_revoked(json_string_value(c->sid))) {
      ARMOR_TOKENS_COUNT(verify_revoked);
      return ARMOR_UNAUTHORIZED;
    }
  }
  return ARMOR_OK;
}

/* True when s[0..n) is base64url without padding in its one canonical spelling. */
static bool canonical_b64url(const char *s, size_t n) {
  if (n == 0) return false;
  size_t cap = n;
  unsigned char *bin = armor_malloc(cap);
  size_t blen = 0;
  const char *end = NULL;
  bool ok = sodium_base642bin(bin, cap, s, n, NULL, &blen, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
            end == s + n;
  if (ok) {
    size_t elen = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *enc = armor_malloc(elen);
    sodium_bin2base64(enc, elen, bin, blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ok = strlen(enc) == n && memcmp(enc, s, n) == 0;
    armor_free(enc);
  }
  armor_free(bin);
  return ok;
}

/* Three dot-separated segments, each canonical base64url: refuses trailing garbage and re-spelled signatures. */
static bool compact_well_formed(const char *token, size_t len) {
  const char *d1 = memchr(token, '.', len);
  if (!d1) return false;
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) return false;
  return canonical_b64url(token, (size_t)(d1 - token)) && canonical_b64url(d1 + 1, (size_t)(d2 - d1 - 1)) &&
         canonical_b64url(d2 + 1, len - (size_t)(d2 + 1 - token));
}

/* Parses and checks the signature; on success returns the claims (new reference). */
static json_t *verify_signature(const char *token, size_t len) {
  cjose_err e;
  if (!compact_well_formed(token, len)) return NULL;
  cjose_jws_t *jws = cjose_jws_import(token, len, &e);
  if (!jws) return NULL;
  json_t *claims = NULL;
  struct armor_keyset *ks = NULL;
  json_t *hdr = (json_t *)cjose_jws_get_protected(jws);
  const char *alg = json_string_value(json_object_get(hdr, "alg"));
  const char *kid = json_string_value(json_object_get(hdr, "kid"));
  if (!alg || !kid || json_object_get(hdr, "crit")) goto out;
  /* Verification never waits for a key being made: a token can only name a key that exists somewhere. */
  ks = armor_keyset_peek();
  const struct armor_key *k = armor_keyset_find(ks, kid);
  if (!k && armor_keys_reload_for_unknown_kid()) {
    /* Another node may have rotated: look again in the fresh set. */
    armor_keyset_put(ks);
    ks = armor_keyset_peek();
    k = armor_keyset_find(ks, kid);
  }
  if (!k || strcmp(alg, k->alg)) goto out; /* the key decides the algorithm */
  if (!cjose_jws_verify(jws, k->verify, &e)) goto out;
  uint8_t *plain = NULL;
  size_t plen = 0;
  if (!cjose_jws_get_plaintext(jws, &plain, &plen, &e) || !plain) goto out;
  claims = json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, NULL);
  if (claims && !json_is_object(claims)) {
    json_decref(claims);
    claims = NULL;
  }
out:
  armor_keyset_put(ks);
  cjose_jws_release(jws);
  return claims;
}

static int count(int rc) {
  if (rc == ARMOR_OK)
    ARMOR_TOKENS_COUNT(verify_ok);
  else if (rc == ARMOR_EXPIRED)
    ARMOR_TOKENS_COUNT(verify_expired);
  else
    ARMOR_TOKENS_COUNT(verify_invalid);
  return rc;
}

int armor_jwt_verify(const char *token, const char *aud, json_t **claims_out) {
  return armor_jwt_verify_ex(token, aud, 0, claims_out);
}

int armor_jwt_verify_ex(const char *token, const char *aud, unsigned flags, json_t **claims_out) {
  if (claims_out) *claims_out = NULL;
  struct armor_jwt_ref *ref = NULL;
  int rc = armor_jwt_verify_ref(token, aud, flags, &ref);
  if (rc == ARMOR_OK && claims_out) *claims_out = json_deep_copy(ref->claims);
  armor_jwt_ref_put(ref);
  return rc;
}

int armor_jwt_verify_ref(const char *token, const char *aud, unsigned flags, struct armor_jwt_ref **out) {
  *out = NULL;
  if (!token) return count(ARMOR_UNAUTHORIZED);
  size_t len = strnlen(token, MAX_TOKEN_LEN + 1);
  if (len < 5 || len > MAX_TOKEN_LEN) return count(ARMOR_UNAUTHORIZED);
  pthread_once(&cache_once, cache_init);
  uint64_t h = 0;
  bool cacheable = len <= CACHE_MAX_TOKEN;
  struct armor_jwt_ref *cc = NULL;
  if (cacheable) {
    h = token_hash(token, len);
    cc = cache_get(h, token, len);
  }
  if (cc)
    ARMOR_TOKENS_COUNT(cache_hits);
  else {
    ARMOR_TOKENS_COUNT(cache_misses);
    json_t *claims = verify_signature(token, len);
    if (!claims) return count(ARMOR_UNAUTHORIZED);
    cc = ref_new(claims, token, cacheable ? len : 0);
    if (cacheable) cache_put(h, cc);
  }
  /* Only reads of the shared claims from here on. */
  int rc = check_claims(cc, aud, flags);
  if (rc == ARMOR_OK)
    *out = cc;
  else
    armor_jwt_ref_put(cc);
  return count(rc);
}

/* ---------------------------------------------------------------- helpers */

int armor_jwt_at_hash(const char *value, const char *alg, char out[64]) {
  if (!value || !alg || (strcmp(alg, "ES256") && strcmp(alg, "RS256"))) return -1;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)value, strlen(value));
  sodium_bin2base64(out, 64, h, sizeof h / 2, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 0;
}

void armor_tokens_metrics_text(struct armor_buf *b) {
  struct {
    long long verify_ok, verify_expired, verify_invalid, verify_revoked, cache_hits, cache_misses, sign_es256,
        sign_rs256, sign_errors, key_reloads, key_rotations, revocation_polls, revocation_poll_errors;
  } t = {0}, *m = &t;
  for (int i = 0; i < ARMOR_SHARDS; i++) {
    const struct armor_tokens_metrics *s = &armor_tokens_m[i];
#define ADD(f) t.f += atomic_load_explicit(&s->f, memory_order_relaxed)
    ADD(verify_ok), ADD(verify_expired), ADD(verify_invalid), ADD(verify_revoked), ADD(cache_hits);
    ADD(cache_misses), ADD(sign_es256), ADD(sign_rs256), ADD(sign_errors), ADD(key_reloads);
    ADD(key_rotations), ADD(revocation_polls), ADD(revocation_poll_errors);
#undef ADD
  }
  armor_buf_printf(b,
                   "# HELP armor_jwt_verify_total JWT verifications by result.\n"
                   "# TYPE armor_jwt_verify_total counter\n"
                   "armor_jwt_verify_total{result=\"ok\"} %lld\n"
                   "armor_jwt_verify_total{result=\"expired\"} %lld\n"
                   "armor_jwt_verify_total{result=\"invalid\"} %lld\n"
                   "# HELP armor_jwt_verify_revoked_total Verifications refused because the session was revoked.\n"
                   "# TYPE armor_jwt_verify_revoked_total counter\narmor_jwt_verify_revoked_total %lld\n"
                   "# HELP armor_jwt_cache_total Verified-token cache lookups by result.\n"
                   "# TYPE armor_jwt_cache_total counter\n"
                   "armor_jwt_cache_total{result=\"hit\"} %lld\n"
                   "armor_jwt_cache_total{result=\"miss\"} %lld\n"
                   "# HELP armor_jwt_sign_total JWTs signed by algorithm.\n"
                   "# TYPE armor_jwt_sign_total counter\n"
                   "armor_jwt_sign_total{alg=\"ES256\"} %lld\n"
                   "armor_jwt_sign_total{alg=\"RS256\"} %lld\n"
                   "armor_jwt_sign_total{alg=\"error\"} %lld\n"
                   "# HELP armor_keys_reloads_total Loads of the signing key set from the database.\n"
                   "# TYPE armor_keys_reloads_total counter\narmor_keys_reloads_total %lld\n"
                   "# HELP armor_keys_rotations_total Key rotations made by this node.\n"
                   "# TYPE armor_keys_rotations_total counter\narmor_keys_rotations_total %lld\n"
                   "# HELP armor_revocation_polls_total Polls of the revoked-session table (errors separately).\n"
                   "# TYPE armor_revocation_polls_total counter\n"
                   "armor_revocation_polls_total{result=\"ok\"} %lld\n"
                   "armor_revocation_polls_total{result=\"error\"} %lld\n"
                   "# HELP armor_revoked_sessions Revoked sessions held in memory.\n"
                   "# TYPE armor_revoked_sessions gauge\narmor_revoked_sessions %zu\n",
                   (long long)m->verify_ok, (long long)m->verify_expired, (long long)m->verify_invalid,
                   (long long)m->verify_revoked, (long long)m->cache_hits, (long long)m->cache_misses,
                   (long long)m->sign_es256, (long long)m->sign_rs256, (long long)m->sign_errors,
                   (long long)m->key_reloads, (long long)m->key_rotations, (long long)m->revocation_polls,
                   (long long)m->revocation_poll_errors, armor_revocation_count());
}
