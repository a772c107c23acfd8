#!/usr/bin/env bash
# Hugepages for Heimdall's DPDK backend on a real NIC (conf/appliance.yaml,
# conf/filtering-node.yaml): a careful wrapper around DPDK's dpdk-hugepages.py
# (Debian package "dpdk"). Tests and labs run with --no-huge and need none of this.
#
# usage: scripts/hugepages.sh [--dry-run] setup SIZE [--pagesize 2M|1G] [--node N]
#        scripts/hugepages.sh show
#        scripts/hugepages.sh [--dry-run] clear
#
#   setup SIZE  reserve SIZE (e.g. 512M, 2G) of hugepages of the default page size
#               (or --pagesize), on every NUMA node (or only --node N), after
#               checking that the pages still to reserve fit in MemAvailable; then
#               mount hugetlbfs for that page size if nothing is mounted for it
#               (/dev/hugepages, or /dev/hugepages-1G for a non-default size), and
#               show the result. Unlike dpdk-hugepages.py --setup it neither clears
#               the other page sizes nor unmounts anything: a running DPDK process
#               keeps its memory. SIZE is the total per node, as dpdk-hugepages.py
#               takes it: setting it lower than what is reserved releases pages.
#   show        the reservations and mounts (dpdk-hugepages.py -s) and free memory
#   clear       release every hugepage reservation (pages in use stay in use until
#               their process exits); mounts are left alone
#   --dry-run   print the commands instead of running them (no root needed)
#
# A reservation made here lasts until reboot. To make it permanent, put it on the
# kernel command line (hugepagesz=1G hugepages=4, or hugepages=1024 for 2 MiB pages)
# or in /etc/sysctl.d/ (vm.nr_hugepages = 1024, default page size only). 1 GiB
# pages are best reserved at boot: later, memory is often too fragmented for them.
#
# Exit status: 0 done, 1 refused or failed (with the reason), 2 bad usage.
# DPDK_HUGEPAGES=path overrides the dpdk-hugepages.py found on PATH (for tests).
set -euo pipefail

program="scripts/hugepages.sh"

usage() {
  cat <<EOF
usage: $program [--dry-run] setup SIZE [--pagesize 2M|1G] [--node N]
       $program show
       $program [--dry-run] clear
SIZE: a number with K, M or G (512M, 2G); reserved per NUMA node unless --node
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

# "512M" -> kB; empty for anything else.
size_kb() {
  local text="${1^^}" number unit
  [[ "$text" =~ ^([0-9]{1,9})([KMG])$ ]] || return 0
  number=$((10#${BASH_REMATCH[1]}))
  unit="${BASH_REMATCH[2]}"
  case "$unit" in
    K) echo "$number" ;;
    M) echo $((number * 1024)) ;;
    G) echo $((number * 1024 * 1024)) ;;
  esac
}

human() {  # kB -> text
  local kb="$1"
  if ((kb == 0)); then echo "none"
  elif ((kb >= 1048576 && kb % 1048576 == 0)); then echo "$((kb / 1048576)) GiB"
  elif ((kb >= 1024)); then echo "$((kb / 1024)) MiB"
  else echo "$kb KiB"; fi
}

meminfo_kb() {  # a /proc/meminfo field, in kB (page counts as they are)
  awk -v key="$1:" '$1 == key { print $2 }' /proc/meminfo
}

arguments="$*"
dry_run=0
pagesize=""
node=""
positional=()
while (($#)); do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --pagesize|-p)
      (($# >= 2)) || usage_error "--pagesize needs a value such as 2M or 1G"
      pagesize="$2"; shift ;;
    --pagesize=*) pagesize="${1#*=}" ;;
    --node|-n)
      (($# >= 2)) || usage_error "--node needs a NUMA node number"
      node="$2"; shift ;;
    --node=*) node="${1#*=}" ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) positional+=("$1") ;;
  esac
  shift
done
((${#positional[@]} >= 1)) || usage_error "no command given"
command="${positional[0]}"
case "$command" in
  setup)
    ((${#positional[@]} == 2)) || usage_error "setup takes one SIZE (e.g. 2G)"
    size="${positional[1]}"
    requested_kb="$(size_kb "$size")"
    [[ -n "$requested_kb" && "$requested_kb" != 0 ]] ||
      usage_error "'$size' is not a size: a number with K, M or G, such as 512M or 2G"
    ;;
  show|clear)
    ((${#positional[@]} == 1)) || usage_error "$command takes no argument"
    [[ -z "$pagesize" && -z "$node" ]] || usage_error "--pagesize and --node go with setup"
    ;;
  *) usage_error "unknown command '$command'" ;;
esac
[[ -z "$node" || "$node" =~ ^[0-9]+$ ]] || usage_error "--node: '$node' is not a NUMA node number"

# The page size: given, or the kernel's default.
default_page_kb="$(meminfo_kb Hugepagesize)"
[[ -n "$default_page_kb" ]] || fail "this kernel has no hugepage support (no Hugepagesize in /proc/meminfo)"
if [[ -n "$pagesize" ]]; then
  page_kb="$(size_kb "$pagesize")"
  [[ -n "$page_kb" && "$page_kb" != 0 ]] ||
    usage_error "--pagesize: '$pagesize' is not a size such as 2M or 1G"
else
  page_kb="$default_page_kb"
fi
page_text="$(human "$page_kb")"
if ((page_kb % 1048576 == 0)); then page_arg="$((page_kb / 1048576))G"
elif ((page_kb % 1024 == 0)); then page_arg="$((page_kb / 1024))M"
else page_arg="${page_kb}K"; fi
if [[ "$command" == setup ]] && ((requested_kb % page_kb != 0)); then
  usage_error "$size is not a whole number of $page_text pages"
fi

tool="${DPDK_HUGEPAGES:-$(command -v dpdk-hugepages.py || true)}"
[[ -n "$tool" && -x "$tool" ]] ||
  fail "dpdk-hugepages.py not found${DPDK_HUGEPAGES:+ at $DPDK_HUGEPAGES}: it comes with Debian's 'dpdk' package (apt-get install dpdk)"

run() {
  if ((dry_run)); then
    echo "would run: $*"
  else
    echo "+ $*"
    "$@"
  fi
}

need_root() {
  if [[ "$(id -u)" != 0 ]]; then
    if ((dry_run)); then
      echo "note: not root; a real run needs root (it writes /sys/kernel/mm/hugepages and mounts hugetlbfs)"
    else
      fail "$command needs root (it writes /sys/kernel/mm/hugepages and mounts hugetlbfs): sudo $program $arguments"
    fi
  fi
}

show_memory() {
  echo "memory: $(human "$(meminfo_kb MemAvailable)") available of $(human "$(meminfo_kb MemTotal)");" \
    "hugepages of the default size ($(human "$default_page_kb")):" \
    "$(meminfo_kb HugePages_Total) reserved, $(meminfo_kb HugePages_Free) free"
}

[[ "$command" == show ]] || need_root

case "$command" in
  show)
    "$tool" -s
    echo
    show_memory
    exit 0
    ;;

  clear)
    in_use=$(( $(meminfo_kb HugePages_Total) - $(meminfo_kb HugePages_Free) ))
    if ((in_use > 0)); then
      echo "note: $in_use hugepages of $(human "$default_page_kb") are in use (a running DPDK" \
        "process?); they stay reserved until it exits"
    fi
    run "$tool" --clear
    ((dry_run)) || "$tool" -s
    exit 0
    ;;
esac

# --- setup
pages=$((requested_kb / page_kb))

# Where the reservation goes: dpdk-hugepages.py writes the count to every NUMA
# node's pool unless told one node, or to the global pool on a machine without NUMA.
pools=()
if [[ -n "$node" ]]; then
  [[ -d "/sys/devices/system/node/node$node" ]] || fail "there is no NUMA node $node"
  pools=("/sys/devices/system/node/node$node/hugepages/hugepages-${page_kb}kB")
elif [[ -d /sys/devices/system/node ]]; then
  for dir in /sys/devices/system/node/node*/hugepages; do
    [[ -d "$dir" ]] && pools+=("$dir/hugepages-${page_kb}kB")
  done
else
  pools=("/sys/kernel/mm/hugepages/hugepages-${page_kb}kB")
fi
((${#pools[@]} > 0)) || fail "no NUMA node has a hugepage pool"
if [[ ! -d "${pools[0]}" ]]; then
  sizes=$(for dir in /sys/kernel/mm/hugepages/hugepages-*kB; do
            kb="${dir##*-}"; human "${kb%kB}"; done | paste -sd, -)
  fail "this machine has no $page_text hugepages (it has: ${sizes:-none})"
fi

# Only what is not reserved yet has to come out of free memory.
reserved_kb=0
for pool in "${pools[@]}"; do
  reserved_kb=$((reserved_kb + $(<"$pool/nr_hugepages") * page_kb))
done
total_kb=$((requested_kb * ${#pools[@]}))
more_kb=$((total_kb - reserved_kb))
available_kb="$(meminfo_kb MemAvailable)"
where="${#pools[@]} NUMA node(s)"
[[ -n "$node" ]] && where="NUMA node $node"
[[ -d /sys/devices/system/node ]] || where="the machine"
echo "setup: $pages pages of $page_text ($(human "$requested_kb")) on $where:" \
  "$(human "$total_kb") in all, $(human "$reserved_kb") already reserved"
if ((more_kb > available_kb)); then
  fail "that needs $(human "$more_kb") more, but only $(human "$available_kb") is available (MemAvailable): choose a smaller SIZE, --node, or free memory first"
fi
if ((more_kb > 0 && available_kb - more_kb < 1048576)); then
  echo "warning: less than 1 GiB of ordinary memory would be left; Heimdall's cache entries" \
    "(cache.max_bytes) and filter lists live there, not in hugepages"
fi


node_args=()
[[ -n "$node" ]] && node_args=(--node "$node")
run "$tool" --pagesize "$page_arg" "${node_args[@]}" --reserve "$size"

# hugetlbfs for this page size: the EAL finds its pages through such a mount.
mounted=""
while read -r _ mountpoint fstype options _; do
  [[ "$fstype" == hugetlbfs ]] || continue
  mount_page=""
  if [[ ",$options," =~ ,pagesize=([0-9]+[KMG]), ]]; then mount_page="$(size_kb "${BASH_REMATCH[1]}")"; fi
  # A mount without a pagesize option uses the default size.
  if [[ "${mount_page:-$default_page_kb}" == "$page_kb" ]]; then mounted="$mountpoint"; break; fi
done </proc/mounts
if [[ -n "$mounted" ]]; then
  echo "hugetlbfs for $page_text pages is mounted on $mounted"
else
  directory=/dev/hugepages
  if [[ "$page_kb" != "$default_page_kb" ]] || grep -q " $directory hugetlbfs " /proc/mounts; then
    directory="/dev/hugepages-$page_arg"
  fi
  run mkdir -p "$directory"
  run "$tool" --pagesize "$page_arg" --mount --directory "$directory"
fi

if ((dry_run)); then
  echo "would run: $tool -s"
else
  "$tool" -s
  echo
  show_memory
fi
