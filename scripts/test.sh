#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. the normal build (warnings are errors): unit and integration suites;
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the same under ThreadSanitizer;
#   4. the fuzz targets (clang, libFuzzer) for a bounded time.
# Before them, clang-format checks that the C++ sources are formatted.
# The soak suite (tests/soak) runs in stages 1 and 2; under TSan it would measure
# the sanitizer, not the server. So would the anycast lab (suite routing), which
# measures BGP and ECMP failover.
# Every stage runs even when an earlier one failed; the last line is the total.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

scripts/install-deps.sh test || exit 1

failed_stages=()

# The C++ sources as .clang-format lays them out (docs/conventions.md §10): a change
# that is not formatted fails here, before anything is built.
echo "=== format ==="
if ! git ls-files -z '*.cpp' '*.hpp' '*.h' '*.c' | xargs -0 clang-format --dry-run --Werror; then
  failed_stages+=("format (run clang-format -i on the files above)")
fi

setup() {  # setup DIR [meson options...]
  local dir="$1"
  shift
  if [[ -f "$dir/build.ninja" ]]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

stage() {  # stage NAME DIR [meson test options...]
  local name="$1" dir="$2"
  shift 2
  echo "=== $name ==="
  if ! ninja -C "$dir"; then
    failed_stages+=("$name (build)")
    return
  fi
  if ! meson test -C "$dir" --print-errorlogs "$@"; then failed_stages+=("$name"); fi
}

setup build-test -Dwerror=true -Dbuildtype=debugoptimized &&
  stage "tests" build-test || failed_stages+=("tests (configure)")

setup build-asan -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
  -Dbenchmarks=false &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  SOAK_ASAN=1 stage "tests under ASan+UBSan" build-asan || failed_stages+=("asan (configure)")

# The socket backend, logging and start-up are multi-threaded; DPDK's and
# liburcu's own code is not instrumented (docs/architecture.md §9.3).
setup build-tsan -Dwerror=true -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false \
  -Dbenchmarks=false &&
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  stage "tests under TSan" build-tsan --no-suite soak --no-suite routing ||
  failed_stages+=("tsan (configure)")

CXX=clang++ setup build-fuzz -Dwerror=true -Dfuzzing=true -Db_sanitize=address,undefined \
  -Db_lundef=false -Dtests=false -Dbenchmarks=false &&
  stage "fuzzing" build-fuzz --suite fuzz || failed_stages+=("fuzz (configure)")

status=0
if ((${#failed_stages[@]} > 0)); then
  echo "failed stages: ${failed_stages[*]}"
  status=1
fi
# Last line: the case count over every stage, which CI reads.
python3 scripts/test_summary.py build-test build-asan build-tsan build-fuzz || status=1
exit $status
