#!/usr/bin/env bash
# Builds Armor's libFuzzer targets and runs them.
#
#   fuzz/run.sh                 build, then run every target for 30 s
#   fuzz/run.sh -t 300 jwt      build, then run fuzz_jwt for 300 s
#   fuzz/run.sh --smoke         build, then run every target over its seed corpus only (seconds;
#                               for scripts/test.sh)
#   fuzz/run.sh --build         build only
#
# armorlib is built with clang, ASan+UBSan and coverage (-fsanitize=fuzzer-no-link) in
# $FUZZ_BUILD (default build-fuzz); the targets link it with -fsanitize=fuzzer,address,undefined.
# Seeds: fuzz/corpus/<target>/ (read only). New inputs go to $FUZZ_BUILD/corpus/<target>/,
# crashes to $FUZZ_BUILD/artifacts/. Extra libFuzzer flags: FUZZ_FLAGS="-jobs=2 -workers=2".
# Exit status: non-zero when a target crashed or failed to build.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
SECONDS_PER=30
MODE=fuzz
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    -t) SECONDS_PER=$2; shift 2 ;;
    --smoke) MODE=smoke; shift ;;
    --build) MODE=build; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("fuzz_${1#fuzz_}"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (Debian package clang)"; exit 1; }

# ---- armorlib with clang, sanitizers and coverage
if [ ! -f "$FUZZ_BUILD/CMakeCache.txt" ]; then
  CC=$CC cmake -S . -B "$FUZZ_BUILD" -DARMOR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -Wno-error=unused-command-line-argument" >/dev/null \
    || { echo "fuzz: cmake failed"; exit 1; }
fi
cmake --build "$FUZZ_BUILD" -j "$(nproc)" --target armorlib 2>&1 | grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built target)|^(gmake|make)\[' 
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: armorlib build failed"; exit 1; }

LIBS=$(pkg-config --libs libmicrohttpd jansson cjose libsodium sqlite3 libpq libcurl liboath libcrypto)
CFLAGS=$(pkg-config --cflags libmicrohttpd jansson cjose libsodium sqlite3 libpq libcurl liboath libcrypto)
mkdir -p "$FUZZ_BUILD/bin" "$FUZZ_BUILD/artifacts"
failed=()
for t in "${targets[@]}"; do
  src=fuzz/$t.c
  [ -f "$src" ] || { echo "fuzz: no such target $t"; failed+=("$t"); continue; }
  bin=$FUZZ_BUILD/bin/$t
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ fuzz/fuzz_common.h -nt "$bin" ] || [ "$FUZZ_BUILD/libarmorlib.a" -nt "$bin" ]; then
    # shellcheck disable=SC2086
    $CC -g -O1 -std=gnu17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fno-omit-frame-pointer \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I src -I fuzz $CFLAGS "$src" "$FUZZ_BUILD/libarmorlib.a" $LIBS -lpthread -lm -o "$bin" \
      || { echo "fuzz: $t does not build"; failed+=("$t"); continue; }
  fi
done
[ "$MODE" = build ] && { [ ${#failed[@]} -eq 0 ]; exit; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
for t in "${targets[@]}"; do
  bin=$FUZZ_BUILD/bin/$t
  [ -x "$bin" ] || continue
  name=${t#fuzz_}
  seeds=fuzz/corpus/$name
  mkdir -p "$seeds" "$FUZZ_BUILD/corpus/$name"
  dict=(); [ -f "fuzz/$name.dict" ] && dict=("-dict=fuzz/$name.dict")
  log=$FUZZ_BUILD/$t.log
  if [ "$MODE" = smoke ]; then
    printf '%-18s corpus only ... ' "$t"
    "$bin" -runs=0 -artifact_prefix="$FUZZ_BUILD/artifacts/$name-" "${dict[@]}" "$seeds" >"$log" 2>&1
  else
    printf '%-18s %s s ... ' "$t" "$SECONDS_PER"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$FUZZ_BUILD/artifacts/$name-" "${dict[@]}" ${FUZZ_FLAGS:-} \
      "$FUZZ_BUILD/corpus/$name" "$seeds" >"$log" 2>&1
  fi
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "ok ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || grep -Eo 'Done [0-9]+ runs' "$log" | head -1))"
  else
    echo "FAILED (exit $rc), log: $log"
    grep -E 'ERROR|runtime error|Assertion|SUMMARY|Test unit written' "$log" | head -5
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
