# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: installs the Debian packages that halt's build,
# tests, examples and benchmarks need, but only those that are missing.
#
#   halt_install_deps package...         installs the missing ones (apt-get, as root)
#   halt_preset_packages preset...       prints the packages those CMake presets need
#
# HALT_SKIP_DEPS=1 skips the check. halt_install_deps returns non-zero, with a message that says
# what to install, when packages are missing and cannot be installed here (not root, or no
# apt-get).

# Every configuration needs these; the presets add their own (halt_preset_packages).
HALT_DEB_BASE=(cmake make ccache libasio-dev catch2 python3)

halt_preset_packages() {
  local preset pkgs=("${HALT_DEB_BASE[@]}")
  for preset in "$@"; do
    case "$preset" in
      clang) pkgs+=(clang-16) ;; # the clang preset is Clang 16 (clang++-16)
      clang*) pkgs+=(clang) ;;   # clang14, clang-asan: Debian's default clang (14)
      *) pkgs+=(g++) ;;
    esac
    case "$preset" in
      # The presets that build the benchmarks (and run the chart test), and the one that runs the
      # package tests (a pkg-config consumer among them).
      clang|release) pkgs+=(libbenchmark-dev python3-matplotlib) ;;
      debug) pkgs+=(pkgconf) ;;
    esac
  done
  printf '%s\n' "${pkgs[@]}" | awk '!seen[$0]++'
}

halt_install_deps() {
  if [ -n "${HALT_SKIP_DEPS:-}" ]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system, so not checking packages; halt needs: $*" >&2
    echo "deps: (or their equivalents; set HALT_SKIP_DEPS=1 to silence this)" >&2
    return 0
  fi
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: missing: ${missing[*]}" >&2
    echo "deps: there is no apt-get here; install the equivalents of these packages and retry." >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing: ${missing[*]}" >&2
    echo "deps: not root, so not installing them; run: sudo apt-get install ${missing[*]}" >&2
    return 1
  fi

  echo "deps: installing ${missing[*]}"
  apt-get update || { echo "deps: apt-get update failed" >&2; return 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
    || { echo "deps: could not install: ${missing[*]}" >&2; return 1; }
}
