#!/usr/bin/env bash
# Keeps the layering and the banned-function rules (docs/security.md,
# conventions): only src/http includes microhttpd.h; only src/store includes
# sqlite3.h or libpq-fe.h; no strcpy/sprintf/strtok/atoi/gets in src/.
# With clang-format installed it also reports files that differ from
# .clang-format; ARMOR_LINT_FORMAT=strict turns those reports into failures.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
report() { echo "lint: $*"; rc=1; }

mapfile -t files < <(git ls-files 'src/*.c' 'src/*.h' 2>/dev/null || find src -name '*.[ch]')
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find src -name '*.[ch]')

for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  case "$f" in src/http/*) ;; *)
    if grep -nE '#[[:space:]]*include[[:space:]]*[<"]microhttpd\.h[>"]' "$f"; then
      report "$f: only src/http may include microhttpd.h"
    fi ;;
  esac
  case "$f" in src/store/*) ;; *)
    if grep -nE '#[[:space:]]*include[[:space:]]*[<"](sqlite3|libpq-fe)\.h[>"]' "$f"; then
      report "$f: only src/store may include sqlite3.h or libpq-fe.h"
    fi ;;
  esac
  # Banned calls: a word boundary before the name and "(" after it; comments and strings are not parsed,
  # so write around these names there too.
  if grep -nE '(^|[^A-Za-z0-9_.>])(strcpy|sprintf|vsprintf|strtok|atoi|atol|atoll|gets)[[:space:]]*\(' "$f"; then
    report "$f: uses a banned function (strcpy, sprintf, vsprintf, strtok, atoi, atol, atoll, gets)"
  fi
done

if command -v clang-format >/dev/null 2>&1 && [ -f .clang-format ]; then
  unformatted=()
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
  done
  if [ ${#unformatted[@]} -gt 0 ]; then
    echo "lint: note: ${#unformatted[@]} file(s) differ from .clang-format (see make format; ARMOR_LINT_FORMAT=strict fails on it)"
    [ "${ARMOR_LINT_FORMAT:-}" = strict ] && rc=1
  fi
fi

[ $rc -eq 0 ] && echo "lint: ok (${#files[@]} files)"
exit $rc
