#!/usr/bin/env bash
# Installs what is missing, builds, and starts Heimdall. With no arguments it runs
# the embedded conf/dev.yaml: UDP and TCP on 127.0.0.1:5353, forwarding to the
# nameservers of /etc/resolv.conf. Any arguments go to heimdall (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build
if [[ ! -f build/build.ninja ]]; then meson setup build --buildtype=release; fi
ninja -C build src/app/heimdall
exec build/src/app/heimdall "$@"
