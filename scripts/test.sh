#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it:
#   1. dependencies (scripts/deps.sh) and the lint script;
#   2. the ASan+UBSan build in build-asan and its unit tests (CTest);
#   3. a private PostgreSQL (initdb into a temp folder, random loopback port,
#      trust on 127.0.0.1 only), stopped on exit;
#   4. the storage contract suite against that PostgreSQL;
#   5. every tests/api/*.test.mjs against build-asan/armor, once on SQLite and
#      once on PostgreSQL.
# Every step runs even when an earlier one failed; the exit status is non-zero
# when anything failed, and a summary names what did.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ASAN_BUILD=${ASAN_BUILD:-build-asan}
JOBS=${JOBS:-$(nproc)}
# Node test files run one at a time by default: the CI machine has 2 cores and
# every file starts its own servers.
TEST_CONCURRENCY=${ARMOR_TEST_CONCURRENCY:-1}
failed=()
step() { printf '\n=== %s ===\n' "$*"; }
fail() { failed+=("$1"); printf '*** FAILED: %s\n' "$1"; }
t_start=$(date +%s)

step "dependencies"
bash scripts/deps.sh || { echo "dependency installation failed"; exit 1; }

step "lint"
bash scripts/lint.sh || fail "lint"

step "ASan+UBSan build ($ASAN_BUILD)"
cmake -S . -B "$ASAN_BUILD" -DARMOR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null || { echo "cmake failed"; exit 1; }
cmake --build "$ASAN_BUILD" -j "$JOBS" 2>&1 | grep -Ev '^(gmake|make)\[[0-9]+\]: (Entering|Leaving)' \
  | grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built target)'
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build failed"; exit 1; }

# Sanitizer reports fail the run. LeakSanitizer stays on; known leaks inside
# system libraries are listed in scripts/lsan.supp, never Armor's own.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# LeakSanitizer needs ptrace-like access that some containers deny; it then aborts every process at exit. Probe it,
# and run without leak detection (saying so) rather than fail every test for the environment's sake.
if "$ASAN_BUILD/armor" version 2>&1 | grep -q "LeakSanitizer has encountered a fatal error"; then
  echo "warning: LeakSanitizer does not work in this environment; leak detection is off for this run"
  export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
fi

step "unit tests (CTest, SQLite)"
unset ARMOR_TEST_PG ARMOR_TEST_PG_URL
ctest --test-dir "$ASAN_BUILD" --output-on-failure -j "$JOBS" || fail "unit tests"

# The libFuzzer targets are built with clang and run over their seed corpus only
# (seconds); long runs are `bash fuzz/run.sh -t SECONDS`.
step "fuzz targets (seed corpus)"
bash fuzz/run.sh --smoke || fail "fuzz smoke"

# ---------------------------------------------------------------- PostgreSQL
PGTMP=""
PGBIN=""
pg_stop() {
  if [ -n "$PGTMP" ] && [ -f "$PGTMP/data/postmaster.pid" ]; then
    pg_as "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null 2>&1
  fi
  [ -n "$PGTMP" ] && rm -rf "$PGTMP"
}
trap pg_stop EXIT
trap 'exit 130' INT TERM
pg_as() {
  # PostgreSQL refuses to run as root: use the postgres account then.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
pg_start() {
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found (Debian package postgresql)"; return 1; }
  PGTMP=$(mktemp -d /tmp/armor-pg.XXXXXX)
  chmod 755 "$PGTMP"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PGTMP"
  pg_as "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust --no-sync >"$PGTMP/initdb.log" 2>&1 \
    || { cat "$PGTMP/initdb.log"; return 1; }
  # Only TCP on loopback, trust for 127.0.0.1 alone, no Unix socket.
  pg_as sh -c "printf 'host all all 127.0.0.1/32 trust\n' > '$PGTMP/data/pg_hba.conf'"
  for attempt in 1 2 3 4 5; do
    PGPORT=$(free_port)
    pg_as sh -c "cat >> '$PGTMP/data/postgresql.conf'" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
CONF
    if pg_as "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 30 start >/dev/null; then
      export ARMOR_TEST_PG="postgres://postgres@127.0.0.1:$PGPORT/postgres"
      echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT ($PGTMP)"
      return 0
    fi
    echo "PostgreSQL did not start on port $PGPORT (attempt $attempt)"
    tail -n 5 "$PGTMP/server.log"
  done
  return 1
}

step "PostgreSQL"
if pg_start; then
  step "storage contract suite (PostgreSQL)"
  ARMOR_TEST_PG="$ARMOR_TEST_PG" ctest --test-dir "$ASAN_BUILD" --output-on-failure -R 'unit_store_' \
    || fail "storage contract on PostgreSQL"
else
  fail "PostgreSQL start"
fi

# ---------------------------------------------------------------- API tests
api_files=(tests/api/*.test.mjs)
export ARMOR_BIN="$ROOT/$ASAN_BUILD/armor"
run_api() {
  local label=$1
  step "API tests ($label): ${#api_files[@]} files"
  # A test that hangs fails after 3 minutes, a whole run after 30, so CI always finishes and says what hung.
  timeout -k 10 1800 node --test --test-concurrency="$TEST_CONCURRENCY" --test-timeout=180000 --test-reporter=spec \
    "${api_files[@]}" || fail "API tests ($label)"
}
if [ -e "${api_files[0]}" ]; then
  ARMOR_TEST_PG_URL="" run_api "SQLite"
  if [ -n "${ARMOR_TEST_PG:-}" ]; then
    ARMOR_TEST_PG_URL="$ARMOR_TEST_PG" run_api "PostgreSQL"
  else
    fail "API tests (PostgreSQL): no PostgreSQL"
  fi
else
  fail "no API tests found"
fi

step "summary"
echo "took $(( $(date +%s) - t_start )) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all tests passed"
