#!/usr/bin/env bash
# Announces Heimdall's anycast service address through BIRD 2 only while the node
# is healthy: polls Heimdall's /health (management.metrics_listen) and enables or
# disables the BIRD static protocol that carries the address (bird.conf beside
# this file). Unhealthy (a 503, no answer in time, Heimdall gone): disabled at
# once, so BGP withdraws the route within one poll plus the update's way to the
# router. Healthy again: enabled after --hold-down seconds of uninterrupted
# health, so a flapping node does not flap its route.
#
#   heimdall-health.sh [--url URL] [--protocol NAME] [--interval S] [--hold-down S]
#                      [--socket PATH] [--once]
#
# Defaults: http://127.0.0.1:9153/health, heimdall_anycast, 0.2 s, 10 s, BIRD's
# default control socket. --once checks and acts once (for tests and cron).
# Logs each change on stderr (journald under systemd).
set -uo pipefail

url="http://127.0.0.1:9153/health"
protocol="heimdall_anycast"
interval=0.2
hold_down=10
socket_args=()
once=0

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --url) url="${2:?}"; shift 2 ;;
    --protocol) protocol="${2:?}"; shift 2 ;;
    --interval) interval="${2:?}"; shift 2 ;;
    --hold-down) hold_down="${2:?}"; shift 2 ;;
    --socket) socket_args=(-s "${2:?}"); shift 2 ;;
    --once) once=1; shift ;;
    -h | --help) usage ;;
    *) echo "heimdall-health: unknown argument: $1" >&2; usage ;;
  esac
done

# Whole or fractional seconds (10, 2.5) to milliseconds.
hold_down_ms=$(awk -v s="$hold_down" 'BEGIN { printf "%d", s * 1000 }')

birdc_run() {  # birdc_run enable|disable: true when BIRD did it (or it was so already)
  local out
  out=$(birdc "${socket_args[@]}" "$1" "$protocol" 2>&1)
  if [[ "$out" == *"${1}d"* || "$out" == *"already ${1}d"* ]]; then return 0; fi
  echo "heimdall-health: birdc $1 $protocol: $out" >&2
  return 1
}

announced=""     # unknown until the first decision
healthy_since=0  # when health came back, in ms since the epoch; 0 while unhealthy

while :; do
  # The status code on the last line; the body (503: why) before it.
  response=$(curl -sS --max-time 0.5 -w '\n%{http_code}' "$url" 2>&1)
  status=${response##*$'\n'}
  reason=${response%$'\n'*}
  if [[ "$status" == 200 ]]; then
    now=$(($(date +%s%N) / 1000000))
    if ((healthy_since == 0)); then healthy_since=$now; fi
    if [[ "$announced" != yes ]] && ((now - healthy_since >= hold_down_ms)); then
      if birdc_run enable; then
        echo "heimdall-health: healthy for ${hold_down}s: announcing ($protocol enabled)" >&2
        announced=yes
      fi
    fi
  else
    healthy_since=0
    if [[ "$announced" != no ]]; then
      if birdc_run disable; then
        echo "heimdall-health: unhealthy (${reason//$'\n'/ }): withdrawn ($protocol disabled)" >&2
        announced=no
      fi
    fi
  fi
  if ((once)); then exit 0; fi
  sleep "$interval"
done
