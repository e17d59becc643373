#!/usr/bin/env bash
# Installs the Debian 12 packages minyi needs to build, test and benchmark. Idempotent:
# packages already present are skipped, and apt is not touched when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git
  libboost-dev libcurl4-openssl-dev libyaml-cpp-dev libsqlite3-dev sqlite3 libspdlog-dev
  nlohmann-json3-dev libssl-dev libicu-dev libpugixml-dev libzip-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-cryptography curl openssl
)
if [[ "${MINYI_WITH_BENCH_TOOLS:-0}" == 1 ]]; then
  packages+=(nginx-light)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
