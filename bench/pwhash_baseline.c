/*
 * Bare argon2id throughput with libsodium, the reference for Armor's password
 * logins: T threads each call crypto_pwhash_str_verify on one stored hash for
 * D seconds (a login verifies, it does not hash). Parameters are Armor's:
 * argon2id v1.3, m=19456 KiB, t=2, p=1.
 *
 * Build: gcc -O2 -o pwhash_baseline pwhash_baseline.c -lsodium -lpthread
 * Usage: pwhash_baseline verify THREADS SECONDS   -> "verifies/s N" (and details)
 *        pwhash_baseline hash PASSWORD            -> one encoded $argon2id$ string
 *
 * Not part of the server; bench/run.sh builds it into the results folder.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define OPSLIMIT 2ULL
#define MEMLIMIT (19456UL * 1024)

static const char *password = "bench-password-0123";
static char stored[crypto_pwhash_STRBYTES];
static double deadline;
static atomic_long total;
static atomic_int failed;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *verify_loop(void *arg) {
  (void)arg;
  long n = 0;
  while (now() < deadline) {
    if (crypto_pwhash_str_verify(stored, password, strlen(password)) != 0) {
      atomic_store(&failed, 1);
      break;
    }
    n++;
  }
  atomic_fetch_add(&total, n);
  return NULL;
}

static int make_hash(const char *pw, char out[crypto_pwhash_STRBYTES]) {
  return crypto_pwhash_str_alg(out, pw, strlen(pw), OPSLIMIT, MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13);
}

int main(int argc, char **argv) {
  if (sodium_init() < 0) {
    fprintf(stderr, "sodium_init failed\n");
    return 1;
  }
  if (argc == 3 && !strcmp(argv[1], "hash")) {
    char out[crypto_pwhash_STRBYTES];
    if (make_hash(argv[2], out) != 0) {
      fprintf(stderr, "crypto_pwhash_str failed (out of memory?)\n");
      return 1;
    }
    printf("%s\n", out);
    return 0;
  }
  if (argc != 4 || strcmp(argv[1], "verify")) {
    fprintf(stderr, "usage: %s verify THREADS SECONDS | %s hash PASSWORD\n", argv[0], argv[0]);
    return 2;
  }
  char *end1, *end2;
  long threads = strtol(argv[2], &end1, 10);
  double secs = strtod(argv[3], &end2);
  if (*end1 || *end2 || threads < 1 || threads > 256 || secs <= 0) {
    fprintf(stderr, "bad THREADS or SECONDS\n");
    return 2;
  }
  if (make_hash(password, stored) != 0) {
    fprintf(stderr, "crypto_pwhash_str failed (out of memory?)\n");
    return 1;
  }
  pthread_t *t = calloc((size_t)threads, sizeof *t);
  if (!t) return 1;
  double t0 = now();
  deadline = t0 + secs;
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, verify_loop, NULL);
  for (long i = 0; i < threads; i++) pthread_join(t[i], NULL);
  double el = now() - t0;
  free(t);
  if (atomic_load(&failed)) {
    fprintf(stderr, "verification failed\n");
    return 1;
  }
  long n = atomic_load(&total);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6;
  printf("verifies/s %.2f\n", (double)n / el);
  /* CPU per verify includes the one hash made at start (a few % at 10 s). */
  printf("cpu_us_per_verify %.0f\n", n ? cpu * 1e6 / (double)n : 0.0);
  printf("# libsodium %s argon2id m=%lu KiB t=%llu p=1, %d threads, %.2f s, %ld verifies, %.1f ms each\n",
         sodium_version_string(), MEMLIMIT / 1024, OPSLIMIT, (int)threads, el, n,
         n ? 1000.0 * el * threads / (double)n : 0.0);
  return 0;
}
