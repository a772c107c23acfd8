#!/usr/bin/env bash
# Hands a NIC port to DPDK (or gives it back to the kernel) for Heimdall's DPDK
# backend on a PCI device (conf/appliance.yaml, conf/filtering-node.yaml): a careful
# wrapper around DPDK's dpdk-devbind.py (Debian package "dpdk").
#
# usage: scripts/bind-nic.sh status
#        scripts/bind-nic.sh [--dry-run] bind PCI_ADDRESS [DRIVER]
#        scripts/bind-nic.sh [--dry-run] unbind PCI_ADDRESS DRIVER
#
#   status   network devices and their drivers (dpdk-devbind.py --status-dev net),
#            whether the IOMMU is on, and which device carries the default route
#   bind     bind the device (0000:03:00.0) to DRIVER, default vfio-pci, loading the
#            module first if needed. Its kernel interface disappears.
#   unbind   take the device from its DPDK driver and give it to the kernel DRIVER
#            (ixgbe, i40e, ice, mlx5_core...; `dpdk-devbind.py --status` names it as
#            unused=), or "none" to leave it without a driver
#   --dry-run  print the commands instead of running them (no root needed)
#
# Refused, before anything is changed: an address not in the form DDDD:BB:DD.F, a
# device not in /sys/bus/pci/devices or not a network controller (PCI class 02),
# and the device carrying the default route
# (directly or under a bond, bridge or VLAN): binding it would cut the machine off.
# dpdk-devbind.py itself refuses an interface that is up with routes (its --force
# is never passed). Binding to vfio-pci needs an IOMMU (intel_iommu=on or
# amd_iommu=on on the kernel command line) or vfio's no-IOMMU mode; without either
# the bind is refused with what to do. A binding lasts until reboot: for a
# permanent one, use driverctl (Debian package "driverctl": driverctl
# set-override 0000:03:00.0 vfio-pci) or run this from a unit before heimdall's.
#
# Exit status: 0 done, 1 refused or failed (with the reason), 2 bad usage.
# DPDK_DEVBIND=path overrides the dpdk-devbind.py found on PATH (for tests).
set -euo pipefail

program="scripts/bind-nic.sh"
arguments="$*"

usage() {
  cat <<EOF
usage: $program status
       $program [--dry-run] bind PCI_ADDRESS [DRIVER]     (DRIVER default: vfio-pci)
       $program [--dry-run] unbind PCI_ADDRESS DRIVER     (a kernel driver, or none)
PCI_ADDRESS: domain:bus:device.function, e.g. 0000:03:00.0 (lspci -D)
EOF
}

usage_error() {
  echo "$program: $1" >&2
  usage >&2
  exit 2
}

fail() {
  echo "$program: $1" >&2
  exit 1
}

dry_run=0
positional=()
for argument in "$@"; do
  case "$argument" in
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$argument'" ;;
    *) positional+=("$argument") ;;
  esac
done
((${#positional[@]} >= 1)) || usage_error "no command given"
command="${positional[0]}"
device=""
driver=""
case "$command" in
  status)
    ((${#positional[@]} == 1)) || usage_error "status takes no argument"
    ((dry_run == 0)) || usage_error "status changes nothing: no --dry-run"
    ;;
  bind)
    ((${#positional[@]} == 2 || ${#positional[@]} == 3)) ||
      usage_error "bind takes a PCI address and optionally a driver"
    device="${positional[1]}"
    driver="${positional[2]:-vfio-pci}"
    [[ "$driver" != none ]] || usage_error "bind needs a driver; to leave the device without one: unbind PCI_ADDRESS none"
    ;;
  unbind)
    ((${#positional[@]} == 3)) ||
      usage_error "unbind takes a PCI address and the kernel driver to give it to (or none)"
    device="${positional[1]}"
    driver="${positional[2]}"
    ;;
  *) usage_error "unknown command '$command'" ;;
esac
if [[ -n "$device" ]]; then
  [[ "$device" =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[01][0-9a-fA-F]\.[0-7]$ ]] ||
    usage_error "'$device' is not a PCI address DDDD:BB:DD.F such as 0000:03:00.0 (lspci -D lists them)"
  device="${device,,}"
  [[ "$driver" =~ ^[A-Za-z0-9_-]+$ ]] || usage_error "'$driver' is not a driver name"
fi

pci_pattern='[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]'

# The PCI device under a network interface: the last PCI address on its sysfs path
# (a virtio NIC's interface hangs off a virtio device below the PCI function).
pci_of_interface() {
  local path
  path="$(readlink -f "/sys/class/net/$1/device" 2>/dev/null)" || return 0
  grep -oE "$pci_pattern" <<<"$path" | tail -n 1
}

# Interfaces with a default route (IPv4 and IPv6), then everything beneath them:
# the ports of a bridge, the slaves of a bond, the parent of a VLAN.
default_route_interfaces() {
  {
    awk 'NR > 1 && $2 == "00000000" && $8 == "00000000" { print $1 }' /proc/net/route 2>/dev/null
    awk '$1 == "00000000000000000000000000000000" && $2 == "00" && $10 != "lo" { print $10 }' \
      /proc/net/ipv6_route 2>/dev/null
  } | sort -u
}

expand_lower() {
  local interface="$1" lower
  echo "$interface"
  for lower in /sys/class/net/"$interface"/lower_* /sys/class/net/"$interface"/brif/*; do
    [[ -e "$lower" ]] || continue
    lower="${lower##*/}"
    expand_lower "${lower#lower_}"
  done
}

# "interface pci" for every interface the default route depends on that has a PCI device.
default_route_devices() {
  local top interface pci
  for top in $(default_route_interfaces); do
    for interface in $(expand_lower "$top" | sort -u); do
      pci="$(pci_of_interface "$interface")"
      [[ -n "$pci" ]] && echo "$interface $pci"
    done
  done
  return 0
}

iommu_group_count() {
  local entries=(/sys/kernel/iommu_groups/*)
  if [[ -e "${entries[0]}" ]]; then echo "${#entries[@]}"; else echo 0; fi
}

noiommu_mode() {
  local file=/sys/module/vfio/parameters/enable_unsafe_noiommu_mode
  [[ -r "$file" && "$(<"$file")" == Y ]]
}

iommu_advice="turn the IOMMU on (add intel_iommu=on iommu=pt, or amd_iommu=on, to the kernel command line in /etc/default/grub, update-grub, reboot; and VT-d/AMD-Vi in the firmware), or, without DMA isolation, use vfio's no-IOMMU mode: modprobe vfio enable_unsafe_noiommu_mode=1 (or echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)"

tool="${DPDK_DEVBIND:-$(command -v dpdk-devbind.py || true)}"
[[ -n "$tool" && -x "$tool" ]] ||
  fail "dpdk-devbind.py not found${DPDK_DEVBIND:+ at $DPDK_DEVBIND}: it comes with Debian's 'dpdk' package (apt-get install dpdk)"

if [[ "$command" == status ]]; then
  "$tool" --status-dev net
  echo
  group_count="$(iommu_group_count)"
  if ((group_count > 0)); then
    echo "IOMMU: on ($group_count groups): vfio-pci can be used"
  elif noiommu_mode; then
    echo "IOMMU: off; vfio no-IOMMU mode is on (no DMA isolation)"
  else
    echo "IOMMU: off (/sys/kernel/iommu_groups is empty): before binding to vfio-pci, $iommu_advice"
  fi
  routes="$(default_route_devices)"
  if [[ -n "$routes" ]]; then
    while read -r interface pci; do
      echo "default route: through $interface ($pci): never bind that device"
    done <<<"$routes"
  else
    echo "default route: no PCI device carries one"
  fi
  exit 0
fi

# --- bind / unbind: every refusal comes before any change.
sysfs="/sys/bus/pci/devices/$device"
[[ -e "$sysfs" ]] || fail "no PCI device $device on this machine (see: $program status, lspci -D)"
class="$(<"$sysfs/class")"
[[ "$class" == 0x02* ]] ||
  fail "refusing: $device is not a network controller (PCI class $class): $(lspci -s "$device" 2>/dev/null | cut -d' ' -f2- || true)"

while read -r interface pci; do
  if [[ "$pci" == "$device" ]]; then
    fail "refusing: $device carries the default route (interface $interface); taking it from the kernel would cut this machine off its network. Use another port, or move the default route first."
  fi
done < <(default_route_devices)

current=""
if [[ -e "$sysfs/driver" ]]; then current="$(basename "$(readlink -f "$sysfs/driver")")"; fi
if [[ "$current" == "$driver" || ( "$driver" == none && -z "$current" ) ]]; then
  echo "$device is already on ${current:-no driver}: nothing to do"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  if ((dry_run)); then
    echo "note: not root; a real run needs root (it loads modules and rebinds a PCI device)"
  else
    fail "$command needs root (it loads modules and rebinds a PCI device): sudo $program $arguments"
  fi
fi

run() {
  if ((dry_run)); then
    echo "would run: $*"
  else
    echo "+ $*"
    "$@"
  fi
}

echo "$device: $(lspci -s "$device" 2>/dev/null | cut -d' ' -f2- || true)"
echo "$device: now on ${current:-no driver}, to ${driver}"

# The IOMMU first: a refusal must come before any change (vfio's no-IOMMU switch
# exists only once vfio is loaded, and it is off until someone turns it on).
if [[ "$driver" == vfio-pci ]]; then
  if (($(iommu_group_count) == 0)); then
    if noiommu_mode; then
      echo "warning: no IOMMU; vfio no-IOMMU mode is on: the NIC can DMA anywhere in memory"
    elif ((dry_run)); then
      echo "warning: the IOMMU is off (/sys/kernel/iommu_groups is empty): a real run would refuse; $iommu_advice"
    else
      fail "the IOMMU is off (/sys/kernel/iommu_groups is empty), so DPDK could not use $device through vfio-pci: $iommu_advice"
    fi
  elif [[ -d "$sysfs/iommu_group/devices" ]]; then
    others=()
    for member in "$sysfs"/iommu_group/devices/*; do
      [[ "${member##*/}" == "$device" ]] || others+=("${member##*/}")
    done
    if ((${#others[@]} > 0)); then
      echo "note: IOMMU group $(basename "$(readlink -f "$sysfs/iommu_group")") also holds ${others[*]};" \
        "vfio needs every device of the group on vfio-pci or on no driver (bridges excepted)"
    fi
  fi
fi

if [[ "$driver" != none && ! -d "/sys/bus/pci/drivers/$driver" ]]; then
  run modprobe "$driver"
fi

if [[ "$driver" == none ]]; then
  run "$tool" --unbind "$device"
else
  run "$tool" --bind "$driver" "$device"
fi

if ((dry_run == 0)); then
  "$tool" --status-dev net | grep -F "$device" || true
fi
