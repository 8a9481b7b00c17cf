/*
 * Master key handling and authenticated encryption of secrets at rest.
 * Never logs key material.
 */
#include "core/secret.h"
#include "core/armor.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char master[crypto_secretbox_KEYBYTES];
static unsigned char token_key[crypto_generichash_KEYBYTES];
static int ready;

static void derive(void) {
  crypto_kdf_derive_from_key(token_key, sizeof token_key, 1, "armortok", master);
  ready = 1;
}

void armor_secret_init_ephemeral(void) {
  randombytes_buf(master, sizeof master);
  derive();
}

static int from_b64(const char *b64, const char *what) {
  size_t n = 0;
  unsigned char buf[64];
  if (sodium_base642bin(buf, sizeof buf, b64, strlen(b64), " \n\r", &n, NULL, sodium_base64_VARIANT_ORIGINAL) ||
      n != sizeof master) {
    fprintf(stderr, "armor: %s must be base64 of exactly 32 bytes\n", what);
    sodium_memzero(buf, sizeof buf);
    return -1;
  }
  memcpy(master, buf, sizeof master);
  sodium_memzero(buf, sizeof buf);
  derive();
  return 0;
}

int armor_secret_init(const char *key_b64, const char *key_file) {
  if (key_b64) return from_b64(key_b64, "the master key");
  FILE *f = fopen(key_file, "r");
  if (f) {
    char buf[128] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    int rc = from_b64(buf, key_file);
    sodium_memzero(buf, sizeof buf);
    return rc;
  }
  if (errno != ENOENT) {
    fprintf(stderr, "armor: cannot read master key file %s: %s\n", key_file, strerror(errno));
    return -1;
  }
  /* First start: create the key file, readable by the owner only. */
  randombytes_buf(master, sizeof master);
  char b64[sodium_base64_ENCODED_LEN(sizeof master, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, master, sizeof master, sodium_base64_VARIANT_ORIGINAL);
  int fd = open(key_file, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    fprintf(stderr, "armor: cannot create master key file %s: %s\n", key_file, strerror(errno));
    return -1;
  }
  size_t len = strlen(b64);
  bool ok = write(fd, b64, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  close(fd);
  sodium_memzero(b64, sizeof b64);
  if (!ok) {
    fprintf(stderr, "armor: cannot write master key file %s\n", key_file);
    return -1;
  }
  armor_info("created master key file %s", key_file);
  derive();
  return 0;
}

char *armor_secret_encrypt(const void *plain, size_t n) {
  size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
  unsigned char *box = armor_malloc(blen);
  randombytes_buf(box, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, plain, n, box, master);
  size_t olen = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL) + 3;
  char *out = armor_malloc(olen);
  memcpy(out, "v1:", 3);
  sodium_bin2base64(out + 3, olen - 3, box, blen, sodium_base64_VARIANT_ORIGINAL);
  armor_free(box);
  return out;
}

unsigned char *armor_secret_decrypt(const char *text, size_t *n) {
  if (!text || strncmp(text, "v1:", 3)) return NULL;
  size_t tl = strlen(text + 3);
  unsigned char *box = armor_malloc(tl + 1);
  size_t blen = 0;
  if (sodium_base642bin(box, tl + 1, text + 3, tl, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) ||
      blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    armor_free(box);
    return NULL;
  }
  size_t plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
  unsigned char *plain = armor_malloc(plen + 1);
  if (crypto_secretbox_open_easy(plain, box + crypto_secretbox_NONCEBYTES, blen - crypto_secretbox_NONCEBYTES, box,
                                 master)) {
    armor_free(box);
    armor_free_secret(plain, plen + 1);
    return NULL;
  }
  armor_free(box);
  plain[plen] = 0;
  if (n) *n = plen;
  return plain;
}

void armor_secret_token_hash(const char *token, char out[65]) {
  unsigned char h[32];
  crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), token_key, sizeof token_key);
  armor_hex(h, sizeof h, out);
}
