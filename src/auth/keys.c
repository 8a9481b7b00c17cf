/*
 * Signing keys: created with cjose, stored in signing_keys (private JWK
 * encrypted with the master key), loaded into an immutable reference-counted
 * snapshot that signers and verifiers borrow, and rotated so that a retired
 * key stays published until every token it signed has expired.
 *
 * Several nodes may share one database: the unique index "one active key per
 * alg" decides races at first start and between concurrent rotations (the
 * loser rolls back and reloads), and every node reloads the set every 10 s
 * and when it meets an unknown kid.
 *
 * Start-up makes only the ES256 key (fast). An RSA-2048 key takes a few
 * hundred milliseconds to generate, so on a database without an RS256 key the
 * key service's thread makes it after start-up, while the server already
 * answers; until that attempt ends, armor_keyset_get() waits for the RS256
 * signer so that no caller finds it missing (armor_keyset_peek() does not).
 */
#include "auth/tokens_int.h"
#include "core/config.h"
#include "core/secret.h"
#include "settings/settings.h"
#include "store/store.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

/* Longest wait for the first RS256 key: a safety bound above generation plus a busy database. */
#define RS256_WAIT_S 15

static pthread_mutex_t ks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct armor_keyset *current;
/* Under ks_lock: the first RS256 key of this node is being made; ks_cond announces new sets and the end. */
static bool rs256_pending;
static pthread_cond_t ks_cond;
static pthread_once_t ks_cond_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_llong last_unknown_reload_ms;
static atomic_bool generation_cancelled;

static const char *const ALGS[] = {"ES256", "RS256"};

/* ---------------------------------------------------------------- snapshots */

static void keyset_free(struct armor_keyset *ks) {
  for (int i = 0; i < ks->n; i++) {
    cjose_jwk_release(ks->keys[i].verify);
    cjose_jwk_release(ks->keys[i].sign);
  }
  armor_free(ks->keys);
  armor_free(ks->jwks_text);
  armor_free(ks);
}

static void ks_cond_init(void) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ks_cond, &ca);
  pthread_condattr_destroy(&ca);
}

static bool rs256_missing_locked(void) { return !current || !current->signer_rs256; }

/* With ks_lock held: waits until the pending RS256 key can sign or its generation has ended. */
static void wait_rs256_locked(void) {
  pthread_once(&ks_cond_once, ks_cond_init);
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += RS256_WAIT_S;
  while (rs256_pending && rs256_missing_locked()) {
    if (pthread_cond_timedwait(&ks_cond, &ks_lock, &until) == ETIMEDOUT) {
      armor_warn("keys: still no RS256 key after %d s; going on without it", RS256_WAIT_S);
      break;
    }
  }
}

static struct armor_keyset *keyset_ref(bool wait) {
  pthread_mutex_lock(&ks_lock);
  if (wait && rs256_pending && rs256_missing_locked()) wait_rs256_locked();
  struct armor_keyset *ks = current;
  if (ks) atomic_fetch_add(&ks->refs, 1);
  pthread_mutex_unlock(&ks_lock);
  return ks;
}

struct armor_keyset *armor_keyset_get(void) { return keyset_ref(true); }

struct armor_keyset *armor_keyset_peek(void) { return keyset_ref(false); }

void armor_keyset_put(struct armor_keyset *ks) {
  if (ks && atomic_fetch_sub(&ks->refs, 1) == 1) keyset_free(ks);
}

static void keyset_install(struct armor_keyset *ks) {
  pthread_once(&ks_cond_once, ks_cond_init);
  pthread_mutex_lock(&ks_lock);
  struct armor_keyset *old = current;
  current = ks;
  pthread_cond_broadcast(&ks_cond);
  pthread_mutex_unlock(&ks_lock);
  armor_keyset_put(old);
}

void armor_keys_rs256_settled(void) {
  pthread_once(&ks_cond_once, ks_cond_init);
  pthread_mutex_lock(&ks_lock);
  rs256_pending = false;
  pthread_cond_broadcast(&ks_cond);
  pthread_mutex_unlock(&ks_lock);
}

const struct armor_key *armor_keyset_find(const struct armor_keyset *ks, const char *kid) {
  if (!ks || !kid) return NULL;
  for (int i = 0; i < ks->n; i++)
    if (!strcmp(ks->keys[i].kid, kid)) return &ks->keys[i];
  return NULL;
}

void armor_keys_shutdown(void) {
  armor_keys_rs256_settled();
  keyset_install(NULL);
}

bool armor_keys_usable(void) {
  struct armor_keyset *ks = armor_keyset_peek();
  bool ok = ks && ks->signer_es256;
  if (ok && !ks->signer_rs256)
    for (int i = 0; i < ks->n; i++)
      if (!strcmp(ks->keys[i].alg, "RS256")) ok = false; /* there is one, but it cannot sign */
  armor_keyset_put(ks);
  return ok;
}

int64_t armor_keys_publish_window(void) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  int64_t ttl = s.access_token_ttl_seconds > ARMOR_ID_TOKEN_MAX_TTL ? s.access_token_ttl_seconds : ARMOR_ID_TOKEN_MAX_TTL;
  /* Margin: clock skew, and nodes that keep signing with the old key until their next reload (10 s). */
  return ttl + 600;
}

/* ---------------------------------------------------------------- helpers */

int armor_jwk_thumbprint(const json_t *jwk, char out[64]) {
  static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
  static const char *const rsa[] = {"e", "kty", "n", NULL};
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  const char *const *members = kty && !strcmp(kty, "EC") ? ec : kty && !strcmp(kty, "RSA") ? rsa : NULL;
  if (!members) return -1;
  json_t *o = json_object();
  for (int i = 0; members[i]; i++) {
    json_t *v = json_object_get(jwk, members[i]);
    if (!json_is_string(v)) {
      json_decref(o);
      return -1;
    }
    json_object_set(o, members[i], v);
  }
  /* RFC 7638: members in lexicographic order, no whitespace. */
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  if (!text) return -1;
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
  armor_free(text);
  sodium_bin2base64(out, 64, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return 0;
}

static void cjose_free_str(char *s) {
  if (!s) return;
  sodium_memzero(s, strlen(s));
  cjose_get_dealloc()(s);
}

/* A new key as the two JSON texts to store. */
struct newkey {
  char kid[64];
  char *pub;  /* JSON */
  char *priv; /* encrypted */
};

static void newkey_free(struct newkey *k) {
  armor_free(k->pub);
  armor_free(k->priv);
  k->pub = k->priv = NULL;
}

void armor_keys_cancel_generation(bool cancel) { atomic_store(&generation_cancelled, cancel); }

/* OpenSSL calls this between prime candidates; 0 stops the generation. */
static int keygen_progress(EVP_PKEY_CTX *ctx) {
  (void)ctx;
  return !atomic_load(&generation_cancelled);
}

/*
 * An RSA-2048 key (e = 65537) made by OpenSSL and handed to cjose. Unlike
 * cjose_jwk_create_RSA_random, a stop can interrupt it (armor_keys_cancel_generation).
 */
static cjose_jwk_t *rsa_random(cjose_err *e) {
  static const char *const names[8] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                                       OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                                       OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                       OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
  cjose_jwk_rsa_keyspec spec = {0};
  uint8_t **bufs[8] = {&spec.n, &spec.e, &spec.d, &spec.p, &spec.q, &spec.dp, &spec.dq, &spec.qi};
  size_t *lens[8] = {&spec.nlen, &spec.elen, &spec.dlen, &spec.plen, &spec.qlen, &spec.dplen, &spec.dqlen, &spec.qilen};
  cjose_jwk_t *jwk = NULL;
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) == 1;
  if (ok) {
    EVP_PKEY_CTX_set_cb(ctx, keygen_progress);
    ok = EVP_PKEY_keygen(ctx, &pkey) == 1;
  }
  for (int i = 0; ok && i < 8; i++) {
    BIGNUM *bn = NULL;
    ok = EVP_PKEY_get_bn_param(pkey, names[i], &bn) == 1 && !BN_is_zero(bn);
    if (ok) {
      *lens[i] = (size_t)BN_num_bytes(bn);
      *bufs[i] = armor_malloc(*lens[i]);
      ok = BN_bn2bin(bn, *bufs[i]) == (int)*lens[i];
    }
    BN_clear_free(bn);
  }
  if (ok) jwk = cjose_jwk_create_RSA_spec(&spec, e);
  if (!ok) e->message = atomic_load(&generation_cancelled) ? "cancelled" : "OpenSSL RSA key generation failed";
  for (int i = 0; i < 8; i++)
    if (*bufs[i]) armor_free_secret(*bufs[i], *lens[i]);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
#ifdef __GLIBC__
  /* The prime search's temporary memory (a few hundred KiB, in this thread's arena) back to the system. */
  malloc_trim(0);
#endif
  return jwk;
}

static int generate(const char *alg, struct newkey *out) {
  cjose_err e = {0};
  cjose_jwk_t *jwk = NULL;
  jwk = strcmp(alg, "ES256") ? rsa_random(&e) : cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &e);
  if (!jwk && atomic_load(&generation_cancelled)) {
    armor_info("keys: %s key generation stopped", alg);
    return -1;
  }
  if (!jwk) {
    armor_err("keys: cannot create a %s key: %s", alg, e.message ? e.message : "?");
    return -1;
  }
  char *pub_text = cjose_jwk_to_json(jwk, false, &e);
  char *priv_text = cjose_jwk_to_json(jwk, true, &e);
  cjose_jwk_release(jwk);
  json_t *pub = pub_text ? json_loads(pub_text, 0, NULL) : NULL;
  json_t *priv = priv_text ? json_loads(priv_text, 0, NULL) : NULL;
  cjose_free_str(pub_text);
  cjose_free_str(priv_text);
  int rc = -1;
  if (pub && priv && !armor_jwk_thumbprint(pub, out->kid)) {
    json_t *objs[2] = {pub, priv};
    for (int i = 0; i < 2; i++) {
      json_object_set_new(objs[i], "kid", json_string(out->kid));
      json_object_set_new(objs[i], "alg", json_string(alg));
      json_object_set_new(objs[i], "use", json_string("sig"));
    }
    out->pub = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    char *pt = json_dumps(priv, JSON_COMPACT);
    if (pt) {
      out->priv = armor_secret_encrypt(pt, strlen(pt));
      armor_free_secret_str(pt);
    }
    rc = out->pub && out->priv ? 0 : -1;
  }
  json_decref(pub);
  if (priv) {
    /* Wipe the private members before jansson frees them. */
    const char *k;
    json_t *v;
    json_object_foreach(priv, k, v) {
      if (json_is_string(v)) sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
    json_decref(priv);
  }
  if (rc) {
    armor_err("keys: cannot export a new %s key", alg);
    newkey_free(out);
  }
  return rc;
}

/* ---------------------------------------------------------------- rotation */

/*
 * Makes a new active key for alg when the active one was created at or before
 * cutoff (or when there is none). Another node winning the race is success.
 * *rotated is set when this call inserted a key in place of an active one.
 */
static int rotate_alg(struct armor_db *db, const char *alg, int64_t cutoff, bool *rotated) {
  *rotated = false;
  /* Cheap check first, so a scheduled pass does not generate keys for nothing. */
  struct armor_stmt *st =
    armor_db_query(db, "SELECT created_at FROM signing_keys WHERE alg = $1 AND active = 1", "t", alg);
  if (!st) return ARMOR_DB;
  int r = armor_stmt_step(st);
  int64_t created = r == 1 ? armor_stmt_int(st, 0) : 0;
  armor_stmt_done(st);
  if (r < 0) return ARMOR_DB;
  if (r == 1 && created > cutoff) return ARMOR_OK;

  struct newkey k = {0};
  if (generate(alg, &k)) return ARMOR_INTERNAL;
  int64_t now = armor_time();
  int rc = armor_db_begin(db);
  if (rc) {
    newkey_free(&k);
    return rc;
  }
  int64_t changed = 0;
  rc = armor_db_exec(db, &changed,
                     "UPDATE signing_keys SET active = 0, retired_at = $1, not_after = $2 "
                     "WHERE alg = $3 AND active = 1 AND created_at <= $4",
                     "iiti", now, now + armor_keys_publish_window(), alg, cutoff);
  if (!rc && changed == 0) {
    /* Either there is no key yet, or another node has just rotated. */
    st = armor_db_query(db, "SELECT 1 FROM signing_keys WHERE alg = $1 AND active = 1", "t", alg);
    r = st ? armor_stmt_step(st) : ARMOR_DB;
    armor_stmt_done(st);
    if (r != 0) {
      armor_db_rollback(db);
      newkey_free(&k);
      return r == 1 ? ARMOR_OK : ARMOR_DB;
    }
  }
  if (!rc)
    rc = armor_db_exec(db, NULL,
                       "INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, active) "
                       "VALUES ($1, $2, $3, $4, $5, 1)",
                       "tttti", k.kid, alg, k.pub, k.priv, now);
  if (!rc) rc = armor_db_commit(db);
  else armor_db_rollback(db);
  if (!rc) {
    *rotated = changed > 0;
    armor_info("keys: new %s signing key %s", alg, k.kid);
  } else if (rc == ARMOR_CONFLICT) {
    rc = ARMOR_OK; /* another node created the active key first */
  }
  newkey_free(&k);
  return rc;
}

/* Every alg through rotate_alg with cutoff, then a reload; the first error is returned. */
static int rotate_pass(int64_t cutoff) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  bool any = false;
  int first = ARMOR_OK;
  for (size_t i = 0; i < sizeof ALGS / sizeof ALGS[0]; i++) {
    bool rotated = false;
    int rc = rotate_alg(db, ALGS[i], cutoff, &rotated);
    if (rc && !first) first = rc;
    any |= rotated;
  }
  if (any) ARMOR_TOKENS_COUNT(key_rotations);
  int rc = armor_keys_load(false);
  return first ? first : rc;
}

int armor_keys_rotate_older_than(int64_t period_s) {
  return rotate_pass(period_s > 0 ? armor_time() - period_s : INT64_MAX);
}

int armor_keys_ensure(int64_t period_s) { return rotate_pass(period_s > 0 ? armor_time() - period_s : INT64_MIN); }

int armor_keys_rotate(void) { return armor_keys_rotate_older_than(0) == ARMOR_OK ? 0 : -1; }

void armor_keys_purge(void) {
  struct armor_db *db = armor_db_get();
  if (db)
    armor_db_exec(db, NULL, "DELETE FROM signing_keys WHERE active = 0 AND not_after < $1", "i",
                  armor_time() - 86400);
}

/* ---------------------------------------------------------------- loading */

static cjose_jwk_t *import_jwk(const char *text, size_t n) {
  cjose_err e;
  cjose_jwk_t *k = cjose_jwk_import(text, n, &e);
  if (!k) armor_err("keys: cannot import a key: %s", e.message);
  return k;
}

struct row {
  char *kid, *alg, *pub, *priv;
  int64_t created_at, not_after;
  bool active;
};

static int load_locked(void) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int64_t now = armor_time();
  struct armor_stmt *st = armor_db_query(db,
                                         "SELECT kid, alg, public_jwk, private_jwk, created_at, active, not_after "
                                         "FROM signing_keys WHERE active = 1 OR not_after > $1 "
                                         "ORDER BY active DESC, created_at DESC, kid",
                                         "i", now);
  if (!st) return ARMOR_DB;
  struct row *rows = NULL;
  int n = 0, cap = 0, r;
  crypto_hash_sha256_state hs;
  crypto_hash_sha256_init(&hs);
  while ((r = armor_stmt_step(st)) == 1) {
    const char *kid = armor_stmt_text(st, 0), *alg = armor_stmt_text(st, 1);
    const char *pub = armor_stmt_text(st, 2), *priv = armor_stmt_text(st, 3);
    if (!kid || !alg || !pub || !priv || strlen(kid) >= 64 || (strcmp(alg, "ES256") && strcmp(alg, "RS256"))) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      rows = armor_realloc(rows, sizeof *rows * (size_t)cap);
    }
    rows[n] = (struct row){armor_strdup(kid), armor_strdup(alg), armor_strdup(pub), armor_strdup(priv),
                           armor_stmt_int(st, 4), armor_stmt_int(st, 6), armor_stmt_int(st, 5) == 1};
    char line[160];
    armor_fmt(line, sizeof line, "%s|%d|%lld;", kid, rows[n].active, (long long)rows[n].not_after);
    crypto_hash_sha256_update(&hs, (const unsigned char *)line, strlen(line));
    n++;
  }
  armor_stmt_done(st);
  unsigned char h[32];
  crypto_hash_sha256_final(&hs, h);
  char fp[65];
  armor_hex(h, sizeof h, fp);

  int rc = r < 0 ? ARMOR_DB : ARMOR_OK;
  struct armor_keyset *old = rc ? NULL : armor_keyset_peek();
  bool same = old && !strcmp(old->fingerprint, fp);
  armor_keyset_put(old);
  if (!rc && !same) {
    struct armor_keyset *ks = armor_calloc(1, sizeof *ks);
    atomic_init(&ks->refs, 1);
    memcpy(ks->fingerprint, fp, sizeof fp);
    ks->keys = armor_calloc((size_t)(n ? n : 1), sizeof *ks->keys);
    json_t *jwks = json_object(), *arr = json_array();
    json_object_set_new(jwks, "keys", arr);
    for (int i = 0; i < n; i++) {
      struct armor_key *k = &ks->keys[ks->n];
      json_t *pub = json_loads(rows[i].pub, 0, NULL);
      k->verify = pub ? import_jwk(rows[i].pub, strlen(rows[i].pub)) : NULL;
      if (!k->verify) {
        json_decref(pub);
        continue;
      }
      armor_fmt(k->kid, sizeof k->kid, "%s", rows[i].kid);
      armor_fmt(k->alg, sizeof k->alg, "%s", rows[i].alg);
      k->active = rows[i].active;
      k->created_at = rows[i].created_at;
      k->not_after = rows[i].not_after;
      size_t plen = 0;
      unsigned char *plain = armor_secret_decrypt(rows[i].priv, &plen);
      if (plain) {
        k->sign = import_jwk((const char *)plain, plen);
        armor_free_secret(plain, plen + 1);
      } else if (k->active) {
        armor_err("keys: cannot decrypt the private part of key %s (was it made with another master key?)", k->kid);
      }
      /* Publish only the public members plus kid/alg/use. */
      json_t *o = json_object();
      static const char *const members[] = {"kty", "kid", "use", "alg", "crv", "x", "y", "n", "e", NULL};
      for (int m = 0; members[m]; m++) {
        json_t *v = json_object_get(pub, members[m]);
        if (v) json_object_set(o, members[m], v);
      }
      json_object_set_new(o, "kid", json_string(k->kid));
      json_object_set_new(o, "alg", json_string(k->alg));
      json_object_set_new(o, "use", json_string("sig"));
      json_array_append_new(arr, o);
      json_decref(pub);
      ks->n++;
    }
    /* Signers: the active key, or else the newest key of that alg we can use (rows are newest first). */
    for (int a = 0; a < 2; a++) {
      const struct armor_key *best = NULL;
      for (int i = 0; i < ks->n; i++) {
        const struct armor_key *k = &ks->keys[i];
        if (strcmp(k->alg, ALGS[a]) || !k->sign) continue;
        if (k->active) {
          best = k;
          break;
        }
        if (!best) best = k;
      }
      if (best && !best->active) armor_warn("keys: signing %s with retired key %s", ALGS[a], best->kid);
      if (a == 0) ks->signer_es256 = best;
      else ks->signer_rs256 = best;
    }
    ks->jwks_text = json_dumps(jwks, JSON_COMPACT);
    ks->jwks_len = ks->jwks_text ? strlen(ks->jwks_text) : 0;
    json_decref(jwks);
    keyset_install(ks);
    armor_debug("keys: loaded %d keys", ks->n);
  }
  for (int i = 0; i < n; i++) {
    armor_free(rows[i].kid);
    armor_free(rows[i].alg);
    armor_free(rows[i].pub);
    armor_free_secret_str(rows[i].priv);
  }
  armor_free(rows);
  ARMOR_TOKENS_COUNT(key_reloads);
  return rc;
}

int armor_keys_load(bool create) {
  pthread_mutex_lock(&load_lock);
  int rc = ARMOR_OK;
  if (create) {
    struct armor_db *db = armor_db_get();
    if (!db) rc = ARMOR_DB;
    for (size_t i = 0; !rc && i < sizeof ALGS / sizeof ALGS[0]; i++) {
      bool rotated;
      rc = rotate_alg(db, ALGS[i], INT64_MIN, &rotated);
    }
  }
  if (!rc) rc = load_locked();
  pthread_mutex_unlock(&load_lock);
  return rc;
}

int armor_keys_load_initial(bool *rs256_pending_out) {
  *rs256_pending_out = false;
  pthread_mutex_lock(&load_lock);
  struct armor_db *db = armor_db_get();
  bool rotated;
  int rc = db ? rotate_alg(db, "ES256", INT64_MIN, &rotated) : ARMOR_DB;
  if (!rc) rc = load_locked();
  pthread_mutex_unlock(&load_lock);
  if (!rc) {
    pthread_mutex_lock(&ks_lock);
    rs256_pending = rs256_missing_locked();
    *rs256_pending_out = rs256_pending;
    pthread_mutex_unlock(&ks_lock);
  }
  return rc;
}

bool armor_keys_reload_for_unknown_kid(void) {
  long long now = armor_now_ms();
  long long last = atomic_load(&last_unknown_reload_ms);
  if (now - last < 1000) return false;
  if (!atomic_compare_exchange_strong(&last_unknown_reload_ms, &last, now)) return false;
  return armor_keys_load(false) == ARMOR_OK;
}

/* ---------------------------------------------------------------- public */

json_t *armor_keys_jwks(void) {
  struct armor_keyset *ks = armor_keyset_peek();
  json_t *doc = ks && ks->jwks_text ? json_loads(ks->jwks_text, 0, NULL) : NULL;
  armor_keyset_put(ks);
  if (!doc) {
    doc = json_object();
    json_object_set_new(doc, "keys", json_array());
  }
  return doc;
}

int armor_keys_current_kid(const char *alg, char out[64]) {
  struct armor_keyset *ks = armor_keyset_get();
  const struct armor_key *k = !ks ? NULL : (!alg || !strcmp(alg, "ES256")) ? ks->signer_es256
                                        : !strcmp(alg, "RS256")           ? ks->signer_rs256
                                                                          : NULL;
  int rc = k ? 0 : -1;
  if (k) armor_fmt(out, 64, "%s", k->kid);
  armor_keyset_put(ks);
  return rc;
}
