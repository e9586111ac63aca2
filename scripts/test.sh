#!/usr/bin/env bash
# Builds and runs the whole test suite in several configurations (CMake presets):
#   debug   - GCC 12 with UndefinedBehaviorSanitizer but without ASan (whose allocator hides
#             misaligned objects), builds the example server (the reliability test drives it)
#             and runs the package tests; standalone Asio 1.28.0 from ../shared/third_party, the
#             system's Catch2 (v2)
#   asan    - GCC 12 with AddressSanitizer (examples: only the server; UBSan runs in debug;
#             the documentation's tests, docs_test, docs_snippets_test and readme_test, run in
#             debug only: asan, tsan and clang skip them),
#             on Boost.Asio (Boost 1.81: the system's if it has Boost 1.80 or newer, else
#             Debian's libboost1.81-dev unpacked into build/boost-1.81, because installing it
#             would remove python3-matplotlib)
#   tsan    - GCC 12 with ThreadSanitizer: the test files that start threads (those that never
#             do cannot race: they run in the other configurations), no example; the system's
#             Asio (Debian: 1.22.1; GCC's TSan does not model the fences of newer Asio's
#             reference counts)
#   clang   - Clang 16, also builds the benchmarks (and smoke-runs them; no example);
#             standalone Asio 1.38.2 and Catch2 3.7.1 (built here into build/catch2-3.7.1, ~6 s)
#             from ../shared
#   clang14 - Clang 14: every example (no sanitizer: no test runs them but the server's), and
#             the core test files (task, select); the system's Asio
# The version matrix is diagonal: each configuration covers one Asio release, so that the
# whole run stays within its time budget. Where ../shared/third_party is absent (a fresh clone
# of halt on its own), those configurations use the system's Asio and Catch2 and say so; where
# libboost1.81-dev can be neither found nor downloaded, the asan configuration uses the system's
# standalone Asio and says so.
# All of them compile with -g1 (line tables: enough for sanitizer reports and backtraces).
# Pick other presets with e.g.  HALT_TEST_PRESETS="debug clang-asan" bash scripts/test.sh
# Exits non-zero if any configuration fails to configure, build or pass its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a presets <<<"${HALT_TEST_PRESETS:-debug asan tsan clang clang14}"
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

# --- the version matrix: other Asio releases and Catch2 v3, from ../shared/third_party --------
shared="$(cd .. && pwd)/shared/third_party"
matrix_args=()
want_asio() { # want_asio <preset> <version>
  local dir="$shared/asio-$2/include"
  if [ -f "$dir/asio/version.hpp" ]; then
    echo "test.sh: [$1] Asio $2 from $dir"
    matrix_args+=("-DHALT_ASIO_INCLUDE_DIR=$dir")
  else
    echo "test.sh: [$1] $dir is absent: this configuration uses the system's Asio instead of $2"
    matrix_args+=("-DHALT_ASIO_INCLUDE_DIR=")
  fi
}
want_catch2_v3() { # want_catch2_v3 <preset> <compiler>: builds Catch2 3.7.1 once, into build/
  local src="$shared/catch2-3.7.1" prefix="$PWD/build/catch2-3.7.1"
  if [ ! -f "$src/CMakeLists.txt" ]; then
    echo "test.sh: [$1] $src is absent: this configuration uses the system's Catch2 instead of 3.7.1"
    matrix_args+=("-UCatch2_DIR")
    return 0
  fi
  if [ ! -f "$prefix/lib/cmake/Catch2/Catch2Config.cmake" ]; then
    echo "test.sh: [$1] building Catch2 3.7.1 from $src into $prefix"
    # One translation unit (a unity build, without debug info): about 6 s instead of 30.
    cmake -S "$src" -B "$prefix-build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g0 \
      -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=0 -DCMAKE_CXX_COMPILER="$2" \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_STANDARD=20 -DBUILD_TESTING=OFF \
      -DCATCH_INSTALL_DOCS=OFF -DCATCH_INSTALL_EXTRAS=ON -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null &&
      cmake --build "$prefix-build" -j "$jobs" >/dev/null &&
      cmake --install "$prefix-build" >/dev/null || { echo "test.sh: building Catch2 3.7.1 failed" >&2; return 1; }
  fi
  echo "test.sh: [$1] Catch2 3.7.1 from $prefix"
  matrix_args+=("-DCatch2_DIR=$prefix/lib/cmake/Catch2")
}
want_boost() { # want_boost <preset>: halt on Boost.Asio, Boost 1.81
  local prefix="$PWD/build/boost-1.81" version tmp
  version="$(sed -n 's/^#define BOOST_VERSION \([0-9]*\).*/\1/p' /usr/include/boost/version.hpp 2>/dev/null || true)"
  if [ "${version:-0}" -ge 108000 ]; then
    echo "test.sh: [$1] Boost.Asio from the system's Boost (BOOST_VERSION $version)"
    matrix_args+=("-DHALT_BOOST_ASIO=ON" "-UBoost_ROOT" "-DHALT_ASIO_INCLUDE_DIR=")
    return 0
  fi
  if [ ! -f "$prefix/usr/include/boost/version.hpp" ]; then
    # Header-only use: unpacking the package is enough. Installing it instead would replace
    # Debian's default Boost (1.74) and remove what depends on that (python3-matplotlib).
    echo "test.sh: [$1] unpacking Debian's libboost1.81-dev into $prefix"
    # Unpacked beside it first and moved into place last, so that an interrupted run leaves no
    # half-unpacked Boost behind. No retries and a short timeout where there is no network.
    tmp="$(mktemp -d)"
    if ! (cd "$tmp" && apt-get download -o Acquire::Retries=0 -o Acquire::http::Timeout=20 \
            libboost1.81-dev >/dev/null 2>&1 &&
          dpkg-deb -x libboost1.81-dev_*.deb "$tmp/root" && mkdir -p "$(dirname "$prefix")" &&
          rm -rf "$prefix" && mv "$tmp/root" "$prefix"); then
      rm -rf "$tmp"
      echo "test.sh: [$1] cannot download libboost1.81-dev: this configuration uses the system's standalone Asio instead of Boost.Asio"
      matrix_args+=("-DHALT_BOOST_ASIO=OFF" "-DHALT_ASIO_INCLUDE_DIR=")
      return 0
    fi
    rm -rf "$tmp"
  fi
  echo "test.sh: [$1] Boost.Asio from Boost 1.81 in $prefix"
  matrix_args+=("-DHALT_BOOST_ASIO=ON" "-DBoost_ROOT=$prefix/usr" "-DHALT_ASIO_INCLUDE_DIR=")
}
set_matrix() {
  matrix_args=()
  case "$1" in
    asan) want_boost "$1" ;;
    clang) want_asio "$1" 1.38.2 && want_catch2_v3 "$1" clang++-16 ;;
    debug) want_asio "$1" 1.28.0 ;;
    *) matrix_args+=("-DHALT_ASIO_INCLUDE_DIR=") ;; # the system's Asio, whatever the cache says
  esac
  case "$1" in
    asan) ;;
    *) matrix_args+=("-DHALT_BOOST_ASIO=OFF") ;;
  esac
}

run_preset() {
  local preset="$1"
  local wrap=()
  if [[ "$preset" == *tsan* ]]; then
    prepare_tsan
    wrap=("${tsan_wrapper[@]}")
  fi
  echo
  step "$preset" configure
  set_matrix "$preset" || return 1
  "${wrap[@]}" cmake --preset "$preset" "${matrix_args[@]}" || return 1
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
