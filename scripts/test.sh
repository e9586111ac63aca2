#!/usr/bin/env bash
# Builds and runs the whole test suite in several configurations (CMake presets):
#   debug  - GCC with UndefinedBehaviorSanitizer but without ASan (whose allocator hides
#            misaligned objects), also builds the examples and runs the package tests
#   asan   - GCC with AddressSanitizer (examples: only the server; UBSan runs in debug)
#   tsan   - GCC with ThreadSanitizer (examples: only the server)
#   clang  - Clang, also builds the benchmarks (and smoke-runs them)
# All of them compile with -g1 (line tables: enough for sanitizer reports and backtraces).
# Pick other presets with e.g.  HALT_TEST_PRESETS="debug clang-asan" bash scripts/test.sh
# Exits non-zero if any configuration fails to configure, build or pass its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a presets <<<"${HALT_TEST_PRESETS:-debug asan tsan clang}"
jobs="${HALT_TEST_JOBS:-2}"

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
mapfile -t needed < <(halt_preset_packages "${presets[@]}")
halt_install_deps "${needed[@]}" || { echo "test.sh: missing packages (see above)" >&2; exit 1; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}"
# Let ccache share results between checkouts in different directories.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

# ThreadSanitizer (GCC 12 / LLVM 14 runtimes) dies with "unexpected memory mapping" when the
# kernel uses more than 28 bits of mmap ASLR entropy. Then run the tsan steps (the build runs the
# test binaries too, to list their test cases) without ASLR, or lower the entropy if we may.
tsan_wrapper=()
prepare_tsan() {
  local bits
  bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)"
  if [ "$bits" -le 28 ]; then
    return 0
  fi
  if command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R true 2>/dev/null; then
    echo "test.sh: vm.mmap_rnd_bits=$bits; running the tsan steps under 'setarch -R'"
    tsan_wrapper=(setarch "$(uname -m)" -R)
  elif [ "$(id -u)" -eq 0 ] && sysctl -w vm.mmap_rnd_bits=28 >/dev/null 2>&1; then
    echo "test.sh: lowered vm.mmap_rnd_bits from $bits to 28 for ThreadSanitizer"
  else
    echo "test.sh: warning: vm.mmap_rnd_bits=$bits, ThreadSanitizer may fail to start" >&2
  fi
}

start=$SECONDS
elapsed() { printf '%dm%02ds' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }

# "=== [2/4 asan] build (elapsed 3m05s)"
step() { echo "=== [$index/${#presets[@]} $1] $2 (elapsed $(elapsed))"; }

run_preset() {
  local preset="$1"
  local wrap=()
  if [[ "$preset" == *tsan* ]]; then
    prepare_tsan
    wrap=("${tsan_wrapper[@]}")
  fi
  echo
  step "$preset" configure
  "${wrap[@]}" cmake --preset "$preset" || return 1
  step "$preset" build
  "${wrap[@]}" cmake --build --preset "$preset" -j "$jobs" || return 1
  step "$preset" test
  "${wrap[@]}" ctest --preset "$preset" --output-on-failure -j "$jobs" || return 1
}

echo "test.sh: ${#presets[@]} configuration(s): ${presets[*]} ($jobs jobs; HALT_TEST_PRESETS=... picks others)"
results=()
failed=0
index=0
for preset in "${presets[@]}"; do
  index=$((index + 1))
  t0=$SECONDS
  if run_preset "$preset"; then
    results+=("PASS  $preset ($((SECONDS - t0))s)")
  else
    results+=("FAIL  $preset ($((SECONDS - t0))s)")
    failed=1
  fi
done

echo
echo "=== summary ($(elapsed))"
printf '  %s\n' "${results[@]}"
if [ "$failed" -ne 0 ]; then
  echo "test.sh: FAILED" >&2
  exit 1
fi
echo "test.sh: all configurations passed"
