# Helpers for bench/run.sh: start/stop Armor, run wrk, parse its output, record rows.
# Sourced, not run. Everything talks to 127.0.0.1 only; every load run is bounded (wrk -d).
# The peers' lib.sh (shared folder, never copied here) supplies cpu_ticks, server_pids,
# median, wait_port, stop_pidfile and the wrk request script lua/request.lua.

# ---------------------------------------------------------------- peers folder
peers_dir() {
  local top d
  top=$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null || echo "$ROOT")
  for d in ${BENCH_PEERS_DIR:+"$BENCH_PEERS_DIR"} "$top/../shared/bench/peers" "$top/../../shared/bench/peers"; do
    [ -f "$d/lib.sh" ] && { (cd "$d" && pwd); return 0; }
  done
  return 1
}

# ---------------------------------------------------------------- small utilities
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { echo "bench: error: $*" >&2; exit 1; }

# Monotonic-enough wall clock in microseconds without forking (bash 5 EPOCHREALTIME).
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$((10#$t))"; }

# A TCP port nothing listens on right now (random in 20000-59999).
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! { exec 9<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then echo "$p"; return 0; fi
    exec 9<&- 9>&-
  done
  fail "no free port found"
}

# Sum of a /proc/PID/status field (kB) over the given PIDs: status_kb FIELD PID...
status_kb() {
  local f=$1 t=0 p v; shift
  for p in "$@"; do
    v=$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# wrk latency ("451.00us", "1.05ms", "2.00s", "1.2m") -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

# parse_wrk FILE -> "rps p50_ms p99_ms errors requests" (errors = non-2xx/3xx + socket errors)
parse_wrk() {
  local f=$1 rps p50 p99 non2xx sock n
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
  p50=$(awk '/^ +50%/ {print $2; exit}' "$f")
  p99=$(awk '/^ +99%/ {print $2; exit}' "$f")
  n=$(awk '/requests in/ {print $1; exit}' "$f")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
  sock=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$f")
  [ -n "$rps" ] || return 1
  echo "$rps $(to_ms "${p50:-0}") $(to_ms "${p99:-0}") $(( ${non2xx:-0} + ${sock:-0} )) ${n:-0}"
}

# wrk_once OUTFILE URL [DURATION]: one bounded wrk run shaped by WRK_METHOD/WRK_BODY/WRK_CTYPE/WRK_AUTH.
wrk_once() {
  assert_loopback "$2"
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${3:-$WRK_DURATION}" --timeout "$WRK_TIMEOUT" --latency \
    -s "$LUA_REQ" "$2" >"$1" 2>&1
}

# ---------------------------------------------------------------- result rows
# rows.tsv: scenario server rps p50_ms p99_ms peak_rss_kb cpu_us_per_req srv_cores errors runs_rps
ROW_HEADER=$'scenario\tserver\trps\tp50_ms\tp99_ms\tpeak_rss_kb\tcpu_us_per_req\tsrv_cores\terrors\truns_rps'

add_row() { # add_row SCENARIO SERVER RPS P50 P99 RSS USREQ CORES ERRORS RUNS
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/rows.tsv"
}
# metric NAME VALUE UNIT [NOTE]: a scalar figure (start-up time, RSS, ...)
metric() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$OUT/metrics.tsv"; log "  $1 = $2 $3 ${4:-}"; }
# skipped NAME REASON
skipped() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/skipped.tsv"; log "  $1: skipped: $2"; }
row_field() { # row_field SCENARIO COLUMN-NUMBER -> value from rows.tsv
  awk -F'\t' -v s="$1" -v c="$2" '$1 == s {v = $c} END {print v}' "$OUT/rows.tsv" 2>/dev/null
}

# run_one SCENARIO RUN URL PID...: one wrk run; appends "scenario run rps p50 p99 errors us/req cores" to runs.tsv.
# Server CPU is utime+stime of the PIDs (all threads) sampled around the run.
run_one() {
  local name=$1 i=$2 url=$3; shift 3
  local pids="$*" f t0 t1 parsed hz secs
  hz=$(getconf CLK_TCK)
  f="$OUT/raw/$name.run$i.txt"
  t0=$(cpu_ticks $pids)
  wrk_once "$f" "$url"
  t1=$(cpu_ticks $pids)
  parsed=$(parse_wrk "$f") || { cat "$f" >&2; fail "wrk produced no result for $name"; }
  set -- $parsed
  secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4; exit}' "$f")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$i" "$1" "$2" "$3" "$4" \
    "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v n="$5" 'BEGIN {printf "%.1f", n ? (b - a) / hz * 1e6 / n : 0}')" \
    "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v d="$secs" 'BEGIN {printf "%.2f", (b - a) / hz / d}')" >>"$OUT/runs.tsv"
  local e=""; [ "$4" = 0 ] || e="  errors: $4"
  log "    $name run $i: $1 req/s  p50 $2 ms  p99 $3 ms$e"
}

# finalize SCENARIO LABEL PID...: medians over the runs of SCENARIO in runs.tsv -> one row in rows.tsv.
# Peak RSS is VmHWM summed over the PIDs (now, i.e. after the runs); "-" when no PID is given.
finalize() {
  local name=$1 label=$2; shift 2
  local col m=() rss="-" errs runs
  for col in 3 4 5 7 8; do
    m+=("$(awk -F'\t' -v s="$name" -v c="$col" '$1 == s {print $c}' "$OUT/runs.tsv" | median)")
  done
  errs=$(awk -F'\t' -v s="$name" '$1 == s {t += $6} END {print t + 0}' "$OUT/runs.tsv")
  runs=$(awk -F'\t' -v s="$name" '$1 == s {printf "%s%s", sep, $3; sep = " "}' "$OUT/runs.tsv")
  [ $# -gt 0 ] && rss=$(status_kb VmHWM "$@")
  add_row "$name" "$label" "${m[0]}" "${m[1]}" "${m[2]}" "$rss" "${m[3]}" "${m[4]}" "$errs" "$runs"
  log "  $name ($label): ${m[0]} req/s  p50 ${m[1]} ms  p99 ${m[2]} ms  peak RSS $rss kB  ${m[3]} us/req  runs: $runs"
  [ "$errs" = 0 ] || log "  WARNING: $name had $errs non-2xx responses or socket errors (see $OUT/raw/$name.run*.txt)"
}

# measure SCENARIO LABEL URL PID...: RUNS runs back to back, then finalize.
measure() {
  local name=$1 label=$2 url=$3 i; shift 3
  for ((i = 1; i <= RUNS; i++)); do
    run_one "$name" "$i" "$url" "$@"
    [ "$i" -lt "$RUNS" ] && sleep 1
  done
  finalize "$name" "$label" "$@"
}

# import_peer_row SCENARIO PEER-NAME LABEL: re-parse a peer bench.sh run (raw files in $RESULTS_DIR)
# the same way as ours; server CPU per request comes from the peers' summary.tsv.
import_peer_row() {
  local name=$1 peer=$2 label=$3 f i rps=() p50=() p99=() errs=0 us cores
  for ((i = 1; i <= RUNS; i++)); do
    f="$RESULTS_DIR/$peer.run$i.txt"
    [ -f "$f" ] || { skipped "$name" "peer produced no output ($f)"; return 0; }
    cp "$f" "$OUT/raw/$name.run$i.txt"
    set -- $(parse_wrk "$f")
    rps+=("$1"); p50+=("$2"); p99+=("$3"); errs=$((errs + $4))
  done
  cores=$(awk -F'\t' -v n="$peer" '$1 == n {print $6}' "$RESULTS_DIR/summary.tsv")
  us=$(awk -F'\t' -v n="$peer" '$1 == n {print $7}' "$RESULTS_DIR/summary.tsv")
  add_row "$name" "$label" "$(printf '%s\n' "${rps[@]}" | median)" "$(printf '%s\n' "${p50[@]}" | median)" \
    "$(printf '%s\n' "${p99[@]}" | median)" "-" "${us:--}" "${cores:--}" "$errs" "${rps[*]}"
  log "  $name: $(printf '%s\n' "${rps[@]}" | median) req/s  runs: ${rps[*]}"
}

# ---------------------------------------------------------------- Armor process
# start_armor DIR [extra serve args...]: starts Armor on a free port with its data in DIR.
# Sets ARMOR_PID, ARMOR_PORT, ARMOR_URL. stderr (log + access log) goes to DIR/armor.log.
start_armor() {
  local dir=$1; shift
  mkdir -p "$dir"
  ARMOR_PORT=$(free_port)
  ARMOR_URL="http://127.0.0.1:$ARMOR_PORT"
  "$ARMOR" serve --listen "127.0.0.1:$ARMOR_PORT" --data-dir "$dir/data" --database "sqlite:$dir/data/armor.db" \
    --http-threads "$HTTP_THREADS" --workers "$WORKERS" "$@" 2>>"$dir/armor.log" &
  ARMOR_PID=$!
  echo "$ARMOR_PID" >"$dir/armor.pid"
  echo "$ARMOR_PORT" >"$dir/port"
  wait_ready "$ARMOR_PORT" "$ARMOR_PID" 20000 >/dev/null || { tail -20 "$dir/armor.log" >&2; fail "Armor did not become ready"; }
}

# stop_armor DIR: SIGTERM the Armor recorded in DIR/armor.pid, wait for it to exit.
stop_armor() {
  local pid i
  pid=$(cat "$1/armor.pid" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$1/armor.pid"
}

# wait_ready PORT PID TIMEOUT_MS: poll GET /ready tightly (no fork per attempt) until it answers 200.
# Prints the microseconds spent polling.
wait_ready() {
  local port=$1 pid=$2 limit=$(( $3 * 1000 )) t0 line
  t0=$(now_us)
  while :; do
    if { exec 8<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&8
      IFS= read -r -t 2 line <&8 || line=""
      exec 8<&- 8>&-
      case $line in "HTTP/1.1 200"*|"HTTP/1.0 200"*) break ;; esac
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    [ $(( $(now_us) - t0 )) -lt "$limit" ] || return 1
  done
  echo $(( $(now_us) - t0 ))
}

# ---------------------------------------------------------------- HTTP helpers (curl, loopback only)
# api METHOD PATH [JSON] [AUTH]: prints "CODE BODY" (body on one line)
api() {
  local m=$1 p=$2 body=${3:-} auth=${4:-}
  local args=(-s -o "$OUT/state/last.json" -w '%{http_code}' -X "$m")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  [ -n "$auth" ] && args+=(-H "Authorization: $auth")
  local code; code=$(curl "${args[@]}" "$ARMOR_URL$p")
  echo "$code $(tr -d '\n' <"$OUT/state/last.json")"
}
# route_available METHOD PATH: false when the router answers 404 (route not built into this binary)
route_available() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' --data-binary '{}' "$ARMOR_URL$2")
  [ "$code" != 404 ]
}
