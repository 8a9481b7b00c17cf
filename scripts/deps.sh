#!/usr/bin/env bash
# Installs the Debian packages and npm packages Armor needs to build and test.
# Idempotent: does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libcjose-dev libsodium-dev
      libsqlite3-dev libpq-dev libcurl4-openssl-dev liboath-dev libcmocka-dev libssl-dev
      postgresql nginx wrk curl nodejs npm python3 clang sqlite3 chromium)
missing=()
for p in "${PKGS[@]}"; do
  # nodejs/npm may come from elsewhere on the machine; accept any working binary.
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
