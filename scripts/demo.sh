#!/usr/bin/env bash
# Builds and runs the showcase example (examples/showcase.cpp) in a Release build.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
halt_install_deps cmake make g++ libasio-dev

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

cmake -S . -B build/demo \
  -DCMAKE_BUILD_TYPE=Release \
  -DHALT_BUILD_TESTS=OFF \
  -DHALT_BUILD_EXAMPLES=ON \
  -DHALT_BUILD_BENCHMARKS=OFF \
  "${launcher[@]}" >/dev/null
cmake --build build/demo --target showcase -j2
echo
exec build/demo/examples/showcase "$@"
