#!/usr/bin/env bash
# Armor benchmark (`make bench`): Armor side by side with reference servers and
# primitives measured in the same run on the same machine, reported as ratios.
# See bench/README.md for the scenarios and knobs. Loopback only; every load run is
# bounded by wrk -d; every process started here is stopped by its PID.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. bench/lib.sh

# ---------------------------------------------------------------- knobs
export RUNS="${RUNS:-3}" WRK_THREADS="${WRK_THREADS:-2}" WRK_CONNS="${WRK_CONNS:-50}"
export WRK_DURATION="${WRK_DURATION:-10s}" WRK_TIMEOUT="${WRK_TIMEOUT:-10s}"
HTTP_THREADS="${HTTP_THREADS:-2}"
WORKERS="${WORKERS:-$HTTP_THREADS}"
STARTS="${STARTS:-7}"
BENCH_PEERS="${BENCH_PEERS:-1}"
USERS_N="${USERS_N:-100000}"
SCENARIOS="${SCENARIOS:-platform login state mixed users oauth}"
PASSWORD="bench-password-0123"

missing=()
for t in wrk curl jq sqlite3 gcc cmake awk; do command -v "$t" >/dev/null || missing+=("$t"); done
[ -f /usr/include/sodium.h ] || missing+=(libsodium-dev)
[ ${#missing[@]} -eq 0 ] || fail "missing: ${missing[*]} (apt-get install wrk curl jq sqlite3 gcc cmake libsodium-dev)"
PEERS=$(peers_dir) || fail "peer folder not found (expected \$(git rev-parse --show-toplevel)/../shared/bench/peers, or set BENCH_PEERS_DIR)"
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/bench/results/$TS"
mkdir -p "$OUT/raw" "$OUT/state"
: >"$OUT/rows.tsv"; : >"$OUT/runs.tsv"; : >"$OUT/metrics.tsv"; : >"$OUT/skipped.tsv"; : >"$OUT/ratios.tsv"
# The peers' scripts keep their state and raw wrk output here, not in the (read-only) shared folder.
export BENCH_STATE="$OUT/peers-state" RESULTS_DIR="$OUT/peers"
. "$PEERS/lib.sh"
wsecs=${WRK_DURATION%s}

ARMOR_DIRS=()
NGINX_UP=0
cleanup() {
  local d
  for d in "${ARMOR_DIRS[@]}"; do stop_armor "$d"; done
  if [ "$NGINX_UP" = 1 ]; then NGINX_PORT=$NGINX_PORT "$PEERS/nginx/stop.sh" >/dev/null 2>&1 || true; fi
  [ -n "${BG_WRK:-}" ] && kill "$BG_WRK" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

has() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- build
log "building release binary (build-release)"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-release -j "$(nproc)" --target armor >/dev/null
fi
ARMOR="${ARMOR_BIN:-$ROOT/build-release/armor}"
[ -x "$ARMOR" ] || fail "no Armor binary at $ARMOR"
PWB="$OUT/state/pwhash_baseline"
gcc -O2 -Wall -o "$PWB" bench/pwhash_baseline.c -lsodium -lpthread

# ---------------------------------------------------------------- peers
peers_ok=1
if [ "$BENCH_PEERS" = 1 ] && has oauth; then
  if ! command -v glewlwyd >/dev/null || [ ! -d "$PEERS/oidc-provider/node_modules/oidc-provider" ]; then
    log "installing peers ($PEERS/install.sh)"
    bash "$PEERS/install.sh" >"$OUT/peers-install.log" 2>&1 || { peers_ok=0; log "peer install failed, see $OUT/peers-install.log"; }
  fi
fi
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || fail "nginx is missing (apt-get install nginx, or $PEERS/install.sh)"

log "results: $OUT  (RUNS=$RUNS wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION; Armor --http-threads $HTTP_THREADS --workers $WORKERS)"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null) $(git log -1 --format=%s 2>/dev/null)"
  echo "host: $(uname -srm) cpus=$(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "armor: $("$ARMOR" version)"
  echo "nginx: $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //')  wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
} >"$OUT/env.txt"

# ---------------------------------------------------------------- start-up and idle RSS
# Wall time from spawn until GET /ready answers 200 (polled tightly, no fork per poll),
# on a fresh data folder (master key + database + migrations created) and on an existing one.
startup_once() { # startup_once DIR -> prints "wall_us logged_ms"
  local dir=$1 port pid t0 us
  port=$(free_port)
  t0=$(now_us)
  "$ARMOR" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" --database "sqlite:$dir/data/armor.db" \
    --http-threads "$HTTP_THREADS" --workers "$WORKERS" 2>>"$dir/armor.log" &
  pid=$!
  wait_ready "$port" "$pid" 10000 >/dev/null || { kill "$pid" 2>/dev/null; tail "$dir/armor.log" >&2; fail "start-up failed"; }
  us=$(( $(now_us) - t0 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$us $(grep -o 'ready in [0-9]* ms' "$dir/armor.log" | tail -1 | awk '{print $3}')"
}

scenario_platform() {
  local i d fresh=() warm=() lfresh=() lwarm=() r
  log "start-up to ready, $STARTS starts each (fresh data folder / existing database)"
  for ((i = 0; i < STARTS; i++)); do
    d="$OUT/state/startup-fresh-$i"; mkdir -p "$d"
    r=$(startup_once "$d"); fresh+=("${r% *}"); lfresh+=("${r#* }")
    r=$(startup_once "$d"); warm+=("${r% *}"); lwarm+=("${r#* }")
  done
  metric startup_fresh_ms "$(printf '%s\n' "${fresh[@]}" | median | awk '{printf "%.1f", $1 / 1000}')" ms \
    "spawn -> GET /ready 200, new data folder, median of $STARTS; all (us): ${fresh[*]}"
  metric startup_existing_ms "$(printf '%s\n' "${warm[@]}" | median | awk '{printf "%.1f", $1 / 1000}')" ms \
    "spawn -> GET /ready 200, existing database, median of $STARTS; all (us): ${warm[*]}"
  metric startup_logged_fresh_ms "$(printf '%s\n' "${lfresh[@]}" | median)" ms "the server's own 'ready in N ms'"
  metric startup_logged_existing_ms "$(printf '%s\n' "${lwarm[@]}" | median)" ms "the server's own 'ready in N ms'"

  # Three servers up at once (idle ones cost nothing) so that their runs can alternate.
  local A="$OUT/state/armor" N="$OUT/state/armor-nolog" npids
  start_armor "$A"; ARMOR_DIRS+=("$A"); local apid=$ARMOR_PID aurl=$ARMOR_URL
  sleep 1
  metric idle_rss_kb "$(status_kb VmRSS "$apid")" kB "VmRSS after start and one GET /ready, fresh SQLite database"
  metric idle_rss_anon_kb "$(status_kb RssAnon "$apid")" kB "of which anonymous (heap, stacks); the rest is mapped library/binary pages"
  metric idle_pss_kb "$(awk '/^Pss:/ {print $2}' "/proc/$apid/smaps_rollup" 2>/dev/null || echo -)" kB "proportional set size (shared library pages split among their users)"
  metric idle_hwm_kb "$(status_kb VmHWM "$apid")" kB "VmHWM after start (peak during start-up)"
  start_armor "$N" --access-log=false; ARMOR_DIRS+=("$N"); local npid=$ARMOR_PID nurl=$ARMOR_URL
  NGINX_PORT=$(free_port)
  NGINX_WORKERS=$HTTP_THREADS NGINX_PORT=$NGINX_PORT "$PEERS/nginx/start.sh" >/dev/null; NGINX_UP=1
  local master; master=$(cat "$BENCH_STATE/nginx/master.pid")
  npids=$(server_pids "$master")
  [ "$(curl -sf "http://127.0.0.1:$NGINX_PORT/")" = '{}' ] || fail "nginx answers unexpectedly"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$aurl/health")" = 200 ] || fail "GET /health is not 200"
  unset WRK_BODY WRK_AUTH WRK_CTYPE WRK_METHOD
  log "GET /health (access log to a file) vs nginx ($HTTP_THREADS workers) vs GET /health (access log off), alternating"
  for ((i = 1; i <= RUNS; i++)); do
    run_one health "$i" "$aurl/health" "$apid"; sleep 1
    run_one nginx_return200 "$i" "http://127.0.0.1:$NGINX_PORT/" $npids; sleep 1
    run_one health_nolog "$i" "$nurl/health" "$npid"; sleep 1
  done
  finalize health armor "$apid"
  finalize nginx_return200 "nginx $HTTP_THREADS workers" $npids
  finalize health_nolog "armor --access-log=false" "$npid"
  NGINX_PORT=$NGINX_PORT "$PEERS/nginx/stop.sh" >/dev/null; NGINX_UP=0
  stop_armor "$N"
  metric access_log_bytes_per_req "$(awk -v b="$(stat -c %s "$A/armor.log")" -v n="$(wc -l <"$A/armor.log")" 'BEGIN {printf "%.0f", b / n}')" B \
    "access log written to $A/armor.log"
}

# ---------------------------------------------------------------- accounts scenarios
MAIN="$OUT/state/armor"
ensure_main() { # the main Armor instance (access log on, to a file)
  if [ ! -f "$MAIN/armor.pid" ]; then start_armor "$MAIN"; ARMOR_DIRS+=("$MAIN"); fi
  ARMOR_PID=$(cat "$MAIN/armor.pid")
  ARMOR_PORT=$(cat "$MAIN/port")
  ARMOR_URL="http://127.0.0.1:$ARMOR_PORT"
}

TOKEN=""
LOGIN_BODY="{\"username\":\"bench\",\"password\":\"$PASSWORD\"}"
accounts_ready() { # registers (or logs in) the bench user on the main instance; sets TOKEN
  [ -n "$TOKEN" ] && return 0
  ensure_main
  if ! route_available POST /api/auth/login; then return 1; fi
  local r
  r=$(api POST /api/auth/register "$LOGIN_BODY")
  case ${r%% *} in 200|201) ;; *) r=$(api POST /api/auth/login "$LOGIN_BODY") ;; esac
  TOKEN=$(echo "${r#* }" | jq -r '.data.token // empty' 2>/dev/null)
  [ -n "$TOKEN" ] || { log "  register/login failed: $r"; return 2; }
}

scenario_login() {
  log "password logins vs bare argon2id verify on $WORKERS threads (alternating)"
  local rc=0; accounts_ready || rc=$?
  [ $rc = 0 ] || { skipped login "$([ $rc = 1 ] && echo 'route not available' || echo 'register/login failed')"; return 0; }
  export WRK_CTYPE=application/json WRK_BODY="$LOGIN_BODY"; unset WRK_AUTH WRK_METHOD
  local i v c
  for ((i = 1; i <= RUNS; i++)); do
    "$PWB" verify "$WORKERS" "$wsecs" >"$OUT/raw/pwhash_baseline.run$i.txt"
    v=$(awk '/^verifies/ {print $2}' "$OUT/raw/pwhash_baseline.run$i.txt")
    c=$(awk '/^cpu_us_per_verify/ {print $2}' "$OUT/raw/pwhash_baseline.run$i.txt")
    printf 'pwhash_baseline\t%s\t%s\t-\t-\t0\t%s\t-\n' "$i" "$v" "$c" >>"$OUT/runs.tsv"
    log "    pwhash_baseline run $i: $v verifies/s, $c us CPU per verify"
    sleep 1
    run_one login "$i" "$ARMOR_URL/api/auth/login" "$ARMOR_PID"; sleep 1
  done
  finalize pwhash_baseline "libsodium argon2id verify, $WORKERS threads"
  finalize login armor "$ARMOR_PID"
  unset WRK_CTYPE WRK_BODY
}

scenario_state() {
  log "GET /api/auth/state with a JWT vs GET /health (alternating)"
  local rc=0; accounts_ready || rc=$?
  [ $rc = 0 ] || { skipped state "$([ $rc = 1 ] && echo 'route not available' || echo 'register/login failed')"; return 0; }
  route_available GET /api/auth/state || { skipped state "route not available"; return 0; }
  local r; r=$(api GET /api/auth/state "" "Bearer $TOKEN")
  [ "${r%% *}" = 200 ] || { skipped state "GET /api/auth/state answered ${r%% *}"; return 0; }
  unset WRK_CTYPE WRK_BODY WRK_METHOD
  local i
  for ((i = 1; i <= RUNS; i++)); do
    WRK_AUTH="Bearer $TOKEN" run_one auth_state "$i" "$ARMOR_URL/api/auth/state" "$ARMOR_PID"; sleep 1
    WRK_AUTH="" run_one health_ref_state "$i" "$ARMOR_URL/health" "$ARMOR_PID"; sleep 1
  done
  finalize auth_state armor "$ARMOR_PID"
  finalize health_ref_state "armor (reference for auth_state)" "$ARMOR_PID"
}

scenario_mixed() {
  log "GET /api/auth/state p99 while a second wrk saturates logins"
  local rc=0; accounts_ready || rc=$?
  [ $rc = 0 ] || { skipped mixed "$([ $rc = 1 ] && echo 'route not available' || echo 'register/login failed')"; return 0; }
  route_available GET /api/auth/state || { skipped mixed "route not available"; return 0; }
  local i bg
  for ((i = 1; i <= RUNS; i++)); do
    bg="$OUT/raw/login_during_mixed.run$i.txt"
    WRK_CTYPE=application/json WRK_BODY="$LOGIN_BODY" WRK_AUTH="" wrk_once "$bg" "$ARMOR_URL/api/auth/login" "$((wsecs + 2))s" &
    BG_WRK=$!
    sleep 1
    WRK_AUTH="Bearer $TOKEN" WRK_BODY="" run_one auth_state_under_login_load "$i" "$ARMOR_URL/api/auth/state" "$ARMOR_PID"
    wait "$BG_WRK" || true; BG_WRK=""
    set -- $(parse_wrk "$bg")
    printf 'login_during_mixed\t%s\t%s\t%s\t%s\t%s\t-\t-\n' "$i" "$1" "$2" "$3" "$4" >>"$OUT/runs.tsv"
    sleep 1
  done
  finalize auth_state_under_login_load armor "$ARMOR_PID"
  finalize login_during_mixed "armor (background load)"
}

# ---------------------------------------------------------------- 100k users
# Users are bulk-inserted with the sqlite3 CLI (registering through the API would cost one
# argon2id hash each), all sharing one valid argon2id hash of $PASSWORD made by the baseline
# program. Columns are filled from PRAGMA table_info(users), so the insert follows the schema
# of the accounts migration (src/store/migrations/02*.sql).
bulk_users() { # bulk_users DB FROM TO
  local db=$1 from=$2 to=$3 hash cols vals
  hash=$("$PWB" hash "$PASSWORD")
  cols=""; vals=""
  while IFS='|' read -r _ name type notnull dflt _; do
    local v=""
    case $name in
      id) v="lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)),2) || '-a' || substr(hex(randomblob(2)),2) || '-' || hex(randomblob(6)))" ;;
      username) v="'buser' || n" ;;
      username_lower|username_ci|username_norm) v="'buser' || n" ;;
      email) v="'buser' || n || '@bench.invalid'" ;;
      email_lower|email_ci|email_norm) v="'buser' || n || '@bench.invalid'" ;;
      password_hash|password|pw_hash|hash) v="'$hash'" ;;
      *_at|created|updated) case ${type^^} in *INT*) v="CAST(strftime('%s','now') AS INTEGER)" ;; *) v="strftime('%Y-%m-%dT%H:%M:%SZ','now')" ;; esac ;;
      *)
        [ "$notnull" = 1 ] && [ -z "$dflt" ] || continue
        case ${type^^} in *INT*|*BOOL*|*REAL*) v=0 ;; *) v="''" ;; esac ;;
    esac
    cols+="${cols:+, }$name"; vals+="${vals:+, }$v"
  done < <(sqlite3 "$db" 'PRAGMA table_info(users)')
  sqlite3 "$db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
    WITH RECURSIVE s(n) AS (SELECT $from UNION ALL SELECT n + 1 FROM s WHERE n < $to)
    INSERT INTO users ($cols) SELECT $vals FROM s;" >/dev/null
  # Give bulk users the role the registered bench user has, when roles are assigned per user.
  if sqlite3 "$db" "SELECT 1 FROM sqlite_master WHERE name='user_roles'" | grep -q 1; then
    sqlite3 "$db" "INSERT OR IGNORE INTO user_roles (user_id, role_id)
      SELECT u.id, (SELECT role_id FROM user_roles ur JOIN users b ON b.id = ur.user_id WHERE b.username = 'bench' LIMIT 1)
      FROM users u WHERE u.username LIKE 'buser%' AND
        (SELECT role_id FROM user_roles ur JOIN users b ON b.id = ur.user_id WHERE b.username = 'bench' LIMIT 1) IS NOT NULL;" 2>/dev/null || true
  fi
}

scenario_users() {
  log "RSS and login at $USERS_N users vs 100 users (bulk insert with sqlite3; both servers up, runs alternate)"
  local S="$OUT/state/armor-100-users" L="$OUT/state/armor-$USERS_N-users" r
  start_armor "$S"; ARMOR_DIRS+=("$S")
  if ! route_available POST /api/auth/login; then skipped users "route not available"; stop_armor "$S"; return 0; fi
  r=$(api POST /api/auth/register "$LOGIN_BODY")   # a real registration, so role rows exist to copy
  stop_armor "$S"
  sqlite3 "$S/data/armor.db" "SELECT 1 FROM sqlite_master WHERE type='table' AND name='users'" | grep -q 1 || {
    skipped users "no users table"; return 0; }
  mkdir -p "$L"; cp -a "$S/data" "$L/"
  local t0; t0=$(now_us)
  bulk_users "$S/data/armor.db" 1 100 && bulk_users "$L/data/armor.db" 1 "$USERS_N" || {
    skipped users "bulk insert failed (schema changed?)"; return 0; }
  log "  bulk insert took $(( ($(now_us) - t0) / 1000 )) ms; users: $(sqlite3 "$S/data/armor.db" 'SELECT count(*) FROM users') and $(sqlite3 "$L/data/armor.db" 'SELECT count(*) FROM users')"
  metric db_size_${USERS_N}_users_kb "$(du -k "$L/data/armor.db" | cut -f1)" kB "SQLite file with $USERS_N users"
  start_armor "$S"; ARMOR_DIRS+=("$S"); local spid=$ARMOR_PID surl=$ARMOR_URL
  start_armor "$L"; ARMOR_DIRS+=("$L"); local lpid=$ARMOR_PID lurl=$ARMOR_URL
  sleep 1
  metric rss_idle_100_users_kb "$(status_kb VmRSS "$spid")" kB "VmRSS after start with 100 bulk users"
  metric "rss_idle_${USERS_N}_users_kb" "$(status_kb VmRSS "$lpid")" kB "VmRSS after start with $USERS_N bulk users"
  local bs bl i
  bs="{\"username\":\"buser50\",\"password\":\"$PASSWORD\"}"
  bl="{\"username\":\"buser$(( USERS_N / 2 ))\",\"password\":\"$PASSWORD\"}"
  for pair in "$surl $bs" "$lurl $bl"; do
    r=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "${pair#* }" "${pair%% *}/api/auth/login")
    [ "$r" = 200 ] || { skipped users "login of a bulk user answered $r"; stop_armor "$S"; stop_armor "$L"; return 0; }
  done
  for ((i = 1; i <= RUNS; i++)); do
    WRK_CTYPE=application/json WRK_BODY="$bs" WRK_AUTH="" run_one login_100_users "$i" "$surl/api/auth/login" "$spid"; sleep 1
    WRK_CTYPE=application/json WRK_BODY="$bl" WRK_AUTH="" run_one "login_${USERS_N}_users" "$i" "$lurl/api/auth/login" "$lpid"; sleep 1
  done
  finalize login_100_users "armor, 100 users" "$spid"
  finalize "login_${USERS_N}_users" "armor, $USERS_N users" "$lpid"
  metric "rss_after_login_${USERS_N}_users_kb" "$(status_kb VmRSS "$lpid")" kB "VmRSS after the login runs ($WORKERS argon2id workers x 19 MiB)"
  metric "hwm_${USERS_N}_users_kb" "$(status_kb VmHWM "$lpid")" kB "VmHWM (peak) after the login runs"
  stop_armor "$S"; stop_armor "$L"
}

# ---------------------------------------------------------------- OAuth scenarios
scenario_oauth() {
  log "client_credentials grants and introspection vs glewlwyd and node-oidc-provider"
  ensure_main
  if ! route_available POST /connect/token; then skipped oauth_cc "route not available"; skipped oauth_introspect "route not available"; return 0; fi
  local cj cid sec basic at r i
  cj=$("$ARMOR" client create --name bench --grant client_credentials --scope bench \
       --data-dir "$MAIN/data" --database "sqlite:$MAIN/data/armor.db" 2>"$OUT/state/client-create.err") || {
    skipped oauth_cc "armor client create failed: $(head -1 "$OUT/state/client-create.err")"; return 0; }
  cid=$(echo "$cj" | jq -r '.client_id // .data.client_id'); sec=$(echo "$cj" | jq -r '.client_secret // .data.client_secret')
  basic="Basic $(printf '%s:%s' "$cid" "$sec" | base64 -w0)"
  r=$(curl -s -H "Authorization: $basic" -d 'grant_type=client_credentials&scope=bench' "$ARMOR_URL/connect/token")
  at=$(echo "$r" | jq -r '.access_token // empty')
  [ -n "$at" ] || { skipped oauth_cc "token request failed: $r"; return 0; }
  case $at in eyJ*) ;; *) log "  note: the access token is not a JWT" ;; esac
  unset WRK_CTYPE WRK_METHOD
  for ((i = 1; i <= RUNS; i++)); do
    WRK_AUTH="$basic" WRK_BODY='grant_type=client_credentials&scope=bench' \
      run_one oauth_cc "$i" "$ARMOR_URL/connect/token" "$ARMOR_PID"; sleep 1
    WRK_AUTH="$basic" WRK_BODY="token=$at" run_one oauth_introspect "$i" "$ARMOR_URL/oauth2/introspect" "$ARMOR_PID"; sleep 1
    WRK_AUTH="" WRK_BODY="" run_one health_ref_oauth "$i" "$ARMOR_URL/health" "$ARMOR_PID"; sleep 1
  done
  finalize oauth_cc armor "$ARMOR_PID"
  finalize oauth_introspect armor "$ARMOR_PID"
  finalize health_ref_oauth "armor (reference for introspection)" "$ARMOR_PID"

  if [ "$BENCH_PEERS" != 1 ]; then skipped peers "BENCH_PEERS=$BENCH_PEERS"; return 0; fi
  if [ "$peers_ok" != 1 ]; then skipped peers "peer installation failed"; return 0; fi
  log "  glewlwyd, ES256, SQLite on tmpfs (peers' glewlwyd/bench-tmpfs.sh introspect cc)"
  if GLEWLWYD_JWTS=ecdsa GLEWLWYD_PORT=$(free_port) "$PEERS/glewlwyd/bench-tmpfs.sh" introspect cc >"$OUT/glewlwyd.log" 2>&1; then
    import_peer_row glewlwyd_introspect glewlwyd.introspect@ecdsa-tmpfs "glewlwyd ES256 tmpfs"
    import_peer_row glewlwyd_cc glewlwyd.token_client_credentials@ecdsa-tmpfs "glewlwyd ES256 tmpfs"
  else
    skipped glewlwyd "bench-tmpfs.sh failed, see $OUT/glewlwyd.log"
  fi
  log "  node-oidc-provider (peers' oidc-provider/bench.sh cc_jwt introspect)"
  if OIDCP_PORT=$(free_port) "$PEERS/oidc-provider/bench.sh" cc_jwt introspect >"$OUT/oidc-provider.log" 2>&1; then
    import_peer_row oidcp_cc_jwt oidc-provider.token_client_credentials_jwt "node-oidc-provider RS256 JWT"
    import_peer_row oidcp_introspect oidc-provider.introspect "node-oidc-provider (opaque token)"
  else
    skipped oidc-provider "bench.sh failed, see $OUT/oidc-provider.log"
  fi
}

# ---------------------------------------------------------------- run
for s in $SCENARIOS; do
  case $s in
    platform|login|state|mixed|users|oauth) "scenario_$s" ;;
    *) fail "unknown scenario $s (known: platform login state mixed users oauth)" ;;
  esac
done
cleanup; ARMOR_DIRS=()

# ---------------------------------------------------------------- ratios, table, JSON
rps() { row_field "$1" 3; }
ratio() { # ratio NAME NUM DEN OP TARGET [COLUMN]  (value = NUM/DEN of rows.tsv COLUMN, default 3 = req/s)
  local a b v pass
  a=$(row_field "$2" "${6:-3}"); b=$(row_field "$3" "${6:-3}")
  [ -n "$a" ] && [ -n "$b" ] || return 0
  v=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}')
  if [ "$4" = info ]; then printf '%s\t%s\t-\t-\n' "$1" "$v" >>"$OUT/ratios.tsv"; return 0; fi
  pass=$(awk -v v="$v" -v t="$5" -v op="$4" 'BEGIN {print ((op == ">=" && v >= t) || (op == "<=" && v <= t)) ? "yes" : "NO"}')
  printf '%s\t%s\t%s %s\t%s\n' "$1" "$v" "$4" "$5" "$pass" >>"$OUT/ratios.tsv"
}
limit() { # limit NAME VALUE OP TARGET UNIT
  [ -n "$2" ] || return 0
  local pass
  pass=$(awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN {print ((op == "<" && v < t) || (op == "<=" && v <= t)) ? "yes" : "NO"}')
  printf '%s\t%s\t%s %s %s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$pass" >>"$OUT/ratios.tsv"
}
mval() { awk -F'\t' -v n="$1" '$1 == n {print $2}' "$OUT/metrics.tsv"; }

ratio "health / nginx (access log to file)" health nginx_return200 ">=" 0.9
ratio "health (access log off) / nginx" health_nolog nginx_return200 ">=" 0.9
ratio "health, access log on / off" health health_nolog info
limit "idle RSS (MiB)" "$(mval idle_rss_kb | awk '{if ($1 != "") printf "%.1f", $1 / 1024}')" "<" 16 MiB
limit "start-up to ready, fresh (ms)" "$(mval startup_fresh_ms)" "<" 100 ms
limit "start-up to ready, existing DB (ms)" "$(mval startup_existing_ms)" "<" 100 ms
ratio "logins / bare argon2id verify" login pwhash_baseline ">=" 0.85
ratio "CPU: bare verify / login" pwhash_baseline login ">=" 0.85 7
ratio "auth/state (JWT) / health" auth_state health_ref_state ">=" 0.6
limit "auth/state p99 under login load (ms)" "$(row_field auth_state_under_login_load 5)" "<" 10 ms
[ -n "$(row_field auth_state 5)" ] && printf '%s\t%s\t-\t-\n' "auth/state p99 without login load (ms)" "$(row_field auth_state 5)" >>"$OUT/ratios.tsv"
limit "RSS at $USERS_N users, idle (MiB)" "$(mval "rss_idle_${USERS_N}_users_kb" | awk '{if ($1 != "") printf "%.1f", $1 / 1024}')" "<" 64 MiB
limit "peak RSS at $USERS_N users, after logins (MiB)" "$(mval "hwm_${USERS_N}_users_kb" | awk '{if ($1 != "") printf "%.1f", $1 / 1024}')" "<" 64 MiB
if [ -n "$(rps "login_${USERS_N}_users")" ]; then
  ratio "logins/s at $USERS_N users / at 100 users" "login_${USERS_N}_users" login_100_users ">=" 0.9
  ratio "CPU per login at $USERS_N users / at 100 users" "login_${USERS_N}_users" login_100_users "<=" 1.1 7
fi
ratio "cc grants / node-oidc-provider JWT" oauth_cc oidcp_cc_jwt ">=" 5
ratio "cc grants / glewlwyd ES256 tmpfs" oauth_cc glewlwyd_cc ">=" 10
ratio "introspection / health" oauth_introspect health_ref_oauth ">=" 0.8
ratio "introspection / node-oidc-provider" oauth_introspect oidcp_introspect info
ratio "introspection / glewlwyd" oauth_introspect glewlwyd_introspect info

{
  echo "== Armor benchmark $TS  ($(head -2 "$OUT/env.txt" | tail -1))"
  echo "   RUNS=$RUNS x wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION, medians; Armor --http-threads $HTTP_THREADS --workers $WORKERS"
  echo
  { echo "$ROW_HEADER" | cut -f1-9; cut -f1-9 "$OUT/rows.tsv"; } | column -t -s $'\t'
  echo
  if [ -s "$OUT/metrics.tsv" ]; then { printf 'metric\tvalue\tunit\n'; cut -f1-3 "$OUT/metrics.tsv"; } | column -t -s $'\t'; echo; fi
  if [ -s "$OUT/ratios.tsv" ]; then { printf 'check\tvalue\ttarget\tpass\n'; cat "$OUT/ratios.tsv"; } | column -t -s $'\t'; echo; fi
  if [ -s "$OUT/skipped.tsv" ]; then echo "skipped:"; sed 's/\t/: /' "$OUT/skipped.tsv"; fi
} | tee "$OUT/summary.txt"

tsv_json() { # tsv_json FILE field1 field2 ... -> JSON array of objects (numbers stay numbers)
  local f=$1; shift
  jq -R -s --args '[split("\n")[] | select(length > 0) | split("\t") as $c
    | [$ARGS.positional, $c] | transpose | map({(.[0]): ((.[1] // "") | (tonumber? // .))}) | add]' "$@" <"$f"
}
jq -n \
  --arg ts "$TS" --arg commit "$(git rev-parse HEAD 2>/dev/null)" --arg env "$(cat "$OUT/env.txt")" \
  --argjson settings "$(jq -n --arg runs "$RUNS" --arg t "$WRK_THREADS" --arg c "$WRK_CONNS" --arg d "$WRK_DURATION" \
      --arg ht "$HTTP_THREADS" --arg w "$WORKERS" \
      '{runs: ($runs|tonumber), wrk: "-t\($t) -c\($c) -d\($d) --latency", http_threads: ($ht|tonumber), workers: ($w|tonumber)}')" \
  --argjson rows "$(tsv_json "$OUT/rows.tsv" scenario server rps p50_ms p99_ms peak_rss_kb cpu_us_per_req srv_cores errors runs_rps)" \
  --argjson runs "$(tsv_json "$OUT/runs.tsv" scenario run rps p50_ms p99_ms errors cpu_us_per_req srv_cores)" \
  --argjson metrics "$(tsv_json "$OUT/metrics.tsv" name value unit note)" \
  --argjson ratios "$(tsv_json "$OUT/ratios.tsv" check value target pass)" \
  --argjson skipped "$(tsv_json "$OUT/skipped.tsv" scenario reason)" \
  '{timestamp: $ts, commit: $commit, environment: $env, settings: $settings, rows: $rows, metrics: $metrics,
    ratios: $ratios, skipped: $skipped, runs: $runs}' >"$ROOT/bench/results/$TS.json"
log "wrote bench/results/$TS.json and $OUT/summary.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
# The access logs (~90 bytes per request) and databases are large; keep only the server's own lines.
if [ "${BENCH_KEEP_STATE:-0}" != 1 ]; then
  for d in "$OUT"/state/*/; do
    [ -f "$d/armor.log" ] && { grep -v ' access ' "$d/armor.log" >"$d/server.log" || true; rm -f "$d/armor.log"; }
    rm -rf "$d/data"
  done
fi
if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q $'\tNO$' "$OUT/ratios.tsv"; then
  log "BENCH_STRICT=1: some checks did not pass"
  exit 1
fi
