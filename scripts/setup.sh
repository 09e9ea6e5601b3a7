#!/usr/bin/env bash
# Installs what building Waybill needs and a fresh machine lacks.
# RocksDB's bindgen step needs libclang (libclang-dev) and clang; the hostile-input tests run one
# validator with a slow clock through libfaketime; the console's browser tests drive Debian's
# Chromium through its ChromeDriver (chromium, chromium-driver). Everything else comes from
# crates.io through cargo. Installs only what is missing, so a warm machine returns at once.
set -euo pipefail

missing=()
have_package() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for package in libclang-dev clang libfaketime chromium chromium-driver; do
  have_package "$package" || missing+=("$package")
done
command -v cargo >/dev/null || { echo "setup: cargo is not on PATH; install the Rust toolchain (rustup) first" >&2; exit 1; }

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: build prerequisites present"
  exit 0
fi

echo "setup: installing ${missing[*]} (RocksDB's bindgen; libfaketime for the clock-skew test; Chromium for the console's browser tests)"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "setup: ${missing[*]} missing and this user cannot install packages." >&2
  echo "       ask an administrator to run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
