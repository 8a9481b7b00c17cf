/*
 * The revoked-session view. revoked_sessions in the database is the truth;
 * each node mirrors the rows that still matter (expires_at in the future) in
 * a striped hash set, polled every second, so armor_session_is_revoked never
 * touches the database.
 *
 * The poll reads rows whose revoked_at lies in the last POLL_WINDOW seconds
 * (by this node's clock), which absorbs commit delays and modest clock skew
 * between nodes; a full resync every few minutes catches anything older.
 */
#include "auth/tokens_int.h"
#include "store/store.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define STRIPES 32
#define MAX_SID 128
#define POLL_WINDOW 30
#define RESYNC_EVERY_S 300
#define PRUNE_GRACE 60

struct rentry {
  struct rentry *next;
  uint64_t h;
  int64_t expires_at;
  char sid[];
};

struct stripe {
  pthread_rwlock_t lock;
  struct rentry **buckets;
  size_t nbuckets, count;
};

static struct stripe stripes[STRIPES];
static atomic_size_t total;
static unsigned char hkey[crypto_shorthash_KEYBYTES];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int64_t last_resync;

static void init_once(void) {
  randombytes_buf(hkey, sizeof hkey);
  for (int i = 0; i < STRIPES; i++) {
    pthread_rwlock_init(&stripes[i].lock, NULL);
    stripes[i].nbuckets = 64;
    stripes[i].buckets = armor_calloc(stripes[i].nbuckets, sizeof *stripes[i].buckets);
  }
}

static uint64_t hash_sid(const char *sid, size_t n) { return armor_siphash64(sid, n, hkey); }

static struct rentry *find_locked(struct stripe *s, uint64_t h, const char *sid) {
  for (struct rentry *e = s->buckets[(h / STRIPES) % s->nbuckets]; e; e = e->next)
    if (e->h == h && !strcmp(e->sid, sid)) return e;
  return NULL;
}

static void grow_locked(struct stripe *s) {
  size_t nb = s->nbuckets * 2;
  struct rentry **b = armor_calloc(nb, sizeof *b);
  for (size_t i = 0; i < s->nbuckets; i++) {
    struct rentry *e = s->buckets[i];
    while (e) {
      struct rentry *next = e->next;
      size_t j = (e->h / STRIPES) % nb;
      e->next = b[j];
      b[j] = e;
      e = next;
    }
  }
  armor_free(s->buckets);
  s->buckets = b;
  s->nbuckets = nb;
}

/* Adds sid (or extends its expiry). */
static void set_add(const char *sid, int64_t expires_at) {
  pthread_once(&once, init_once);
  size_t n = strlen(sid);
  if (!n || n > MAX_SID) return;
  uint64_t h = hash_sid(sid, n);
  struct stripe *s = &stripes[h % STRIPES];
  /* Most polled rows are known already: look under the read lock first. */
  pthread_rwlock_rdlock(&s->lock);
  struct rentry *e = find_locked(s, h, sid);
  bool known = e && e->expires_at >= expires_at;
  pthread_rwlock_unlock(&s->lock);
  if (known) return;
  pthread_rwlock_wrlock(&s->lock);
  e = find_locked(s, h, sid);
  if (e) {
    if (e->expires_at < expires_at) e->expires_at = expires_at;
  } else {
    e = armor_malloc(sizeof *e + n + 1);
    memcpy(e->sid, sid, n + 1);
    e->h = h;
    e->expires_at = expires_at;
    size_t j = (h / STRIPES) % s->nbuckets;
    e->next = s->buckets[j];
    s->buckets[j] = e;
    s->count++;
    atomic_fetch_add(&total, 1);
    if (s->count > 2 * s->nbuckets) grow_locked(s);
  }
  pthread_rwlock_unlock(&s->lock);
}

bool armor_session_is_revoked(const char *sid) {
  if (!sid || !*sid || atomic_load_explicit(&total, memory_order_acquire) == 0) return false;
  size_t n = strnlen(sid, MAX_SID + 1);
  if (n > MAX_SID) return false;
  uint64_t h = hash_sid(sid, n);
  struct stripe *s = &stripes[h % STRIPES];
  pthread_rwlock_rdlock(&s->lock);
  bool r = find_locked(s, h, sid) != NULL;
  pthread_rwlock_unlock(&s->lock);
  return r;
}

size_t armor_revocation_count(void) { return atomic_load(&total); }

int armor_revoke_session(const char *sid, int64_t until) {
  if (!sid || !*sid || strlen(sid) > MAX_SID) return ARMOR_INVALID;
  int64_t now = armor_time();
  if (until <= 0) until = now + armor_keys_publish_window();
  /* Local effect first: this node refuses the tokens even if the write fails. */
  set_add(sid, until);
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  int rc = armor_db_exec(db, NULL,
                         "INSERT INTO revoked_sessions (sid, revoked_at, expires_at) VALUES ($1, $2, $3) "
                         "ON CONFLICT (sid) DO NOTHING",
                         "tii", sid, now, until);
  return rc == ARMOR_CONFLICT ? ARMOR_OK : rc;
}

/* Adds every row with revoked_at >= since that has not expired. */
static int load_since(int64_t since) {
  struct armor_db *db = armor_db_get();
  if (!db) return ARMOR_DB;
  struct armor_stmt *st = armor_db_query(
    db, "SELECT sid, expires_at FROM revoked_sessions WHERE revoked_at >= $1 AND expires_at > $2", "ii", since,
    armor_time() - PRUNE_GRACE);
  if (!st) return ARMOR_DB;
  int r;
  while ((r = armor_stmt_step(st)) == 1) {
    const char *sid = armor_stmt_text(st, 0);
    if (sid) set_add(sid, armor_stmt_int(st, 1));
  }
  armor_stmt_done(st);
  return r < 0 ? ARMOR_DB : ARMOR_OK;
}

int armor_revocation_init(void) {
  pthread_once(&once, init_once);
  last_resync = armor_time();
  return load_since(INT64_MIN);
}

void armor_revocation_poll(void) {
  int64_t now = armor_time();
  int rc;
  if (now - last_resync >= RESYNC_EVERY_S) {
    rc = load_since(INT64_MIN);
    if (!rc) last_resync = now;
  } else {
    rc = load_since(now - POLL_WINDOW);
  }
  if (rc)
    ARMOR_TOKENS_COUNT(revocation_poll_errors);
  else
    ARMOR_TOKENS_COUNT(revocation_polls);
}

void armor_revocation_prune(void) {
  pthread_once(&once, init_once);
  int64_t cutoff = armor_time() - PRUNE_GRACE;
  for (int i = 0; i < STRIPES; i++) {
    struct stripe *s = &stripes[i];
    pthread_rwlock_wrlock(&s->lock);
    for (size_t j = 0; j < s->nbuckets; j++) {
      struct rentry **pp = &s->buckets[j];
      while (*pp) {
        struct rentry *e = *pp;
        if (e->expires_at < cutoff) {
          *pp = e->next;
          armor_free(e);
          s->count--;
          atomic_fetch_sub(&total, 1);
        } else {
          pp = &e->next;
        }
      }
    }
    pthread_rwlock_unlock(&s->lock);
  }
  struct armor_db *db = armor_db_get();
  if (db) armor_db_exec(db, NULL, "DELETE FROM revoked_sessions WHERE expires_at < $1", "i", armor_time() - 3600);
}

void armor_revocation_shutdown(void) {
  pthread_once(&once, init_once);
  for (int i = 0; i < STRIPES; i++) {
    struct stripe *s = &stripes[i];
    pthread_rwlock_wrlock(&s->lock);
    for (size_t j = 0; j < s->nbuckets; j++) {
      struct rentry *e = s->buckets[j];
      while (e) {
        struct rentry *next = e->next;
        armor_free(e);
        e = next;
      }
      s->buckets[j] = NULL;
    }
    atomic_fetch_sub(&total, s->count);
    s->count = 0;
    pthread_rwlock_unlock(&s->lock);
  }
}
