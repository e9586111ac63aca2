# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: installs the Debian packages that halt's build,
# tests, examples and benchmarks need, but only those that are missing.
#
#   halt_install_deps [package...]    (default: the full list below)

HALT_DEB_PACKAGES=(cmake make g++ clang libasio-dev catch2 libbenchmark-dev ccache pkgconf python3)

halt_install_deps() {
  local packages=("$@")
  if [ "${#packages[@]}" -eq 0 ]; then
    packages=("${HALT_DEB_PACKAGES[@]}")
  fi

  local missing=() pkg
  for pkg in "${packages[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: no apt-get here; please install the equivalents of: ${missing[*]}" >&2
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: not root, so not installing them; run: sudo apt-get install ${missing[*]}" >&2
    return 0
  fi

  echo "deps: installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}
