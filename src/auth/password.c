/*
 * argon2id password hashes through libsodium's crypto_pwhash_str_alg, the
 * cost in one place, and the password policy. Owns the dummy hash that makes
 * an unknown username cost the same time as a wrong password.
 */
#include "auth/password.h"
#include "core/armor.h"
#include "settings/settings.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long mem_kib = ARMOR_ARGON2_MEMORY_KIB_DEFAULT;
static unsigned long long ops = ARMOR_ARGON2_OPS_DEFAULT;
static char dummy_hash[crypto_pwhash_STRBYTES];

static unsigned long long env_num(const char *name, unsigned long long def, long long min, long long max) {
  const char *v = getenv(name);
  long long x;
  if (!v || !*v) return def;
  if (!armor_parse_int(v, min, max, &x)) {
    armor_warn("%s must be an integer in [%lld, %lld]; using %llu", name, min, max, def);
    return def;
  }
  return (unsigned long long)x;
}

int armor_password_init(void) {
  mem_kib = env_num("ARMOR_ARGON2_MEMORY_KIB", ARMOR_ARGON2_MEMORY_KIB_DEFAULT, 8, 4 * 1024 * 1024);
  ops = env_num("ARMOR_ARGON2_OPS", ARMOR_ARGON2_OPS_DEFAULT, 1, 100);
  if (mem_kib != ARMOR_ARGON2_MEMORY_KIB_DEFAULT || ops != ARMOR_ARGON2_OPS_DEFAULT)
    armor_warn("argon2id cost lowered to m=%llu KiB, t=%llu (ARMOR_ARGON2_*): for tests only", mem_kib, ops);
  /*
   * At the default cost the dummy hash is a constant made once from a random
   * password that was thrown away: computing it at start took most of the
   * start-up time and 19 MiB of peak memory. Only its cost matters, and a match
   * against it is never a success. Other costs compute their own.
   */
  static const char default_dummy[crypto_pwhash_STRBYTES] =
      "$argon2id$v=19$m=19456,t=2,p=1$N+H2/1Z7/7VhqMf5sP9WVQ$R56TAgvYrvFnz0bQIplJJOkoj7nbOgi+wcatHe+TSqA";
  if (mem_kib == ARMOR_ARGON2_MEMORY_KIB_DEFAULT && ops == ARMOR_ARGON2_OPS_DEFAULT &&
      crypto_pwhash_str_needs_rehash(default_dummy, ops, (size_t)mem_kib * 1024) == 0) {
    armor_fmt(dummy_hash, sizeof dummy_hash, "%s", default_dummy);
    return 0;
  }
  char pw[33];
  armor_random_b64url(16, pw, sizeof pw);
  int rc = armor_password_hash(pw, dummy_hash, sizeof dummy_hash);
  sodium_memzero(pw, sizeof pw);
  return rc ? -1 : 0;
}

void armor_password_cost(unsigned long long *memory_kib, unsigned long long *ops_out) {
  *memory_kib = mem_kib;
  *ops_out = ops;
}

int armor_password_hash(const char *pw, char *out, size_t outlen) {
  if (outlen < crypto_pwhash_STRBYTES) return ARMOR_INTERNAL;
  if (crypto_pwhash_str_alg(out, pw, strlen(pw), ops, (size_t)mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13)) {
    armor_err("password: argon2id hashing failed (out of memory?)");
    return ARMOR_INTERNAL;
  }
  return ARMOR_OK;
}

bool armor_password_verify(const char *hash, const char *pw) {
  if (!hash || strncmp(hash, "$argon2id$", 10)) {
    /* Spend the same time as a real check, then fail. */
    if (dummy_hash[0] && crypto_pwhash_str_verify(dummy_hash, pw, strlen(pw)) == 0)
      armor_debug("password: dummy hash matched");
    return false;
  }
  return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

bool armor_password_needs_rehash(const char *hash) {
  return crypto_pwhash_str_needs_rehash(hash, ops, (size_t)mem_kib * 1024) != 0;
}

long armor_utf8_length(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  long n = 0;
  while (*p) {
    unsigned c = *p;
    int extra;
    unsigned cp;
    if (c < 0x80) {
      extra = 0;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return -1;
    }
    p++;
    for (int i = 0; i < extra; i++, p++) {
      if ((*p & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (*p & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return -1;
    n++;
  }
  return n;
}

int armor_password_check_policy(const char *pw, char *msg, size_t msglen) {
  struct armor_security_settings s;
  armor_settings_security(&s);
  long n = pw ? armor_utf8_length(pw) : -1;
  if (n < 0) {
    armor_fmt(msg, msglen, "The password must be valid UTF-8 text");
    return ARMOR_INVALID;
  }
  if (n < s.password_min_length) {
    armor_fmt(msg, msglen, "The password must be at least %d characters", s.password_min_length);
    return ARMOR_INVALID;
  }
  if (s.password_max_length > 0 && n > s.password_max_length) {
    armor_fmt(msg, msglen, "The password must be at most %d characters", s.password_max_length);
    return ARMOR_INVALID;
  }
  return ARMOR_OK;
}
