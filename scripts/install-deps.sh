#!/usr/bin/env bash
# Installs the Debian 12 packages Heimdall needs. `build` (default): what building
# and running needs. `test`: also the peers, clients and toolchains the tests use.
# Packages already present are not asked for again, so a prepared machine needs
# no package mirror.
set -euo pipefail

profile="${1:-build}"

build_packages=(
  meson ninja-build pkg-config g++ python3
  libdpdk-dev dpdk liburcu-dev libspdlog-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhyperscan-dev libcurl4-openssl-dev
  libsystemd-dev
)
test_packages=(
  knot knot-dnsutils bind9-dnsutils dnsperf dnsdist
  clang libclang-rt-14-dev iproute2 ethtool iputils-ping
  unbound python3-dnspython shellcheck systemd procps clang-format prometheus bird2 curl
)

packages=("${build_packages[@]}")
if [[ "$profile" == "test" ]]; then packages+=("${test_packages[@]}"); fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then exit 0; fi

sudo=""
if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -q
# Debian starts the packaged servers (knot, dnsdist) on install where an init
# system runs; the tests start their own on loopback, so keep those off.
made_policy=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  echo exit 101 | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  made_policy=1
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
if [[ -n "$made_policy" ]]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
