#!/usr/bin/env bash
# Compile time of a user's program: wall time, CPU time and peak memory of compiling
#   - a one-file program with only <asio.hpp> that co_spawns one coroutine and awaits it,
#   - the same program with <halt/halt.hpp> that halt::spawns it and joins it,
#   - a translation unit with only <asio.hpp>, and one per public header (include/halt/*.hpp)
#     that includes just that header,
# each compiled to an object file (-c, no link) with -std=c++20 -O2, best of N runs. The two
# programs are then linked and run once (untimed) to check that they are what they claim.
# Prints one Markdown table per compiler on stdout; progress goes to stderr.
#
# Usage: bash benchmarks/compile_time.sh [--include DIR]... [--cxx COMPILER]... [--runs N] [--no-headers]
#   --include DIR   halt's include directory to measure (default: this checkout's include/).
#                   Repeatable, to compare checkouts (git worktree add ../old <commit>; then
#                   --include ../old/include --include include): their runs are interleaved, so
#                   a change in the machine's load touches all of them alike, and each gets its
#                   own columns, headed by the last commit that changed that directory.
#   --cxx COMPILER  a compiler to measure, repeatable (default: g++, and clang++ if installed).
#                   It is run as found on PATH; a ccache wrapper is refused.
#   --runs N        runs per translation unit; the least of each measure is kept (default 3)
#   --no-headers    only the two programs and <asio.hpp>, not one TU per public header
#   CXXFLAGS        extra flags for every compile (default: none)
#
# Measured with /usr/bin/time -f '%e %U %S %M': elapsed seconds, user + system CPU seconds, maximum
# resident set size. On an idle machine wall and CPU time agree; on a busy one the wall time grows
# with the load and the CPU time less, so compare CPU times, measured in the same run.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
includes=()
compilers=()
runs=3
headers=1
while [ $# -gt 0 ]; do
    case "$1" in
        --include)
            dir="${2:?--include needs a directory}"
            if [ ! -f "$dir/halt/halt.hpp" ]; then
                echo "compile_time.sh: no halt/halt.hpp under $dir" >&2
                exit 2
            fi
            includes+=("$(cd "$dir" && pwd)")
            shift 2 ;;
        --cxx) compilers+=("${2:?--cxx needs a compiler}"); shift 2 ;;
        --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
        --no-headers) headers=0; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "compile_time.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "compile_time.sh: --runs wants a positive integer, not '$runs'" >&2
    exit 2
fi
if [ "${#includes[@]}" -eq 0 ]; then
    includes=("$repo_root/include")
fi
if [ ! -x /usr/bin/time ]; then
    echo "compile_time.sh: needs GNU time as /usr/bin/time (Debian: apt-get install time)" >&2
    exit 1
fi
if [ "${#compilers[@]}" -eq 0 ]; then
    compilers=(g++)
    if command -v clang++ >/dev/null 2>&1; then
        compilers+=(clang++)
    fi
fi
for cxx in "${compilers[@]}"; do
    path="$(command -v "$cxx" || true)"
    if [ -z "$path" ]; then
        echo "compile_time.sh: compiler not found: $cxx" >&2
        exit 1
    fi
    if [ "$(basename "$(readlink -f "$path")")" = ccache ]; then
        echo "compile_time.sh: $cxx is $path, a ccache wrapper: pass the real compiler (e.g. --cxx /usr/bin/$cxx)" >&2
        exit 1
    fi
done
read -r -a extra_flags <<<"${CXXFLAGS:-}"

# A column heading per include directory: the last commit that changed it, if it is in git.
labels=()
for inc in "${includes[@]}"; do
    label="$inc"
    if commit="$(git -C "$inc" log -1 --format=%h -- . 2>/dev/null)" && [ -n "$commit" ]; then
        label="$commit"
        if [ -n "$(git -C "$inc" status --porcelain -- . 2>/dev/null)" ]; then
            label+=" + changes"
        fi
    fi
    labels+=("$label")
done

work="$(mktemp -d "${TMPDIR:-/tmp}/halt-compile-time.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# --- the translation units ----------------------------------------------------------------------
# Clang before Asio 1.26 sees Asio's coroutine support only if ASIO_HAS_CO_AWAIT is defined first,
# which every halt header does (detail/config.hpp); the Asio-only sources do the same themselves.
cat >"$work/asio_program.cpp" <<'EOF'
#include <asio/version.hpp>
#if defined(__clang__) && ASIO_VERSION < 102600 && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif
#include <asio.hpp>

asio::awaitable<int> work() { co_return 42; }

asio::awaitable<void> run(int& result) {
  auto ex = co_await asio::this_coro::executor;
  result = co_await asio::co_spawn(ex, work(), asio::use_awaitable);  // spawn, then join
}

int main() {
  asio::io_context io;
  int result = 0;
  asio::co_spawn(io, run(result), asio::detached);
  io.run();
  return result == 42 ? 0 : 1;
}
EOF

cat >"$work/halt_program.cpp" <<'EOF'
#include <halt/halt.hpp>

#include <asio.hpp>

asio::awaitable<int> work() { co_return 42; }

asio::awaitable<void> run(int& result) {
  auto ex = co_await asio::this_coro::executor;
  halt::join_handle<int> task = halt::spawn(ex, work());
  halt::join_result<int> joined = co_await task.join();
  result = joined.value();
}

int main() {
  asio::io_context io;
  int result = 0;
  asio::co_spawn(io, run(result), asio::detached);
  io.run();
  return result == 42 ? 0 : 1;
}
EOF

cat >"$work/asio_hpp.cpp" <<'EOF'
#include <asio/version.hpp>
#if defined(__clang__) && ASIO_VERSION < 102600 && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif
#include <asio.hpp>
EOF

# name|label
units=(
    "asio_program|program: \`<asio.hpp>\`, one \`co_spawn\` + await"
    "halt_program|program: \`<halt/halt.hpp>\`, one \`halt::spawn\` + join"
    "asio_hpp|\`<asio.hpp>\` alone"
)
if [ "$headers" = 1 ]; then
    header_names="$(for inc in "${includes[@]}"; do
        for h in "$inc"/halt/*.hpp; do basename "$h" .hpp; done
    done | sort -u)"
    for name in $header_names; do
        printf '#include <halt/%s.hpp>\n' "$name" >"$work/h_$name.cpp"
        units+=("h_$name|\`<halt/$name.hpp>\` alone")
    done
fi

# --- measuring ----------------------------------------------------------------------------------
declare -A best_s best_cpu best_kb
less() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

measure_once() { # compiler, include index, unit name
    local cxx="$1" i="$2" name="$3" s user sys cpu kb key="$1/$2/$3"
    local src="$work/$name.cpp" obj="$work/$name.$i.o"
    if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
        "$cxx" -std=c++20 -O2 "${extra_flags[@]}" -I "${includes[$i]}" -c "$src" -o "$obj" \
        2>"$work/compile.log"; then
        echo "compile_time.sh: $cxx failed on $name with ${includes[$i]}:" >&2
        cat "$work/compile.log" >&2
        exit 1
    fi
    read -r s user sys kb <"$work/time.txt"
    cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
    if [ -z "${best_s[$key]:-}" ] || less "$s" "${best_s[$key]}"; then best_s[$key]="$s"; fi
    if [ -z "${best_cpu[$key]:-}" ] || less "$cpu" "${best_cpu[$key]}"; then best_cpu[$key]="$cpu"; fi
    if [ -z "${best_kb[$key]:-}" ] || [ "$kb" -lt "${best_kb[$key]}" ]; then best_kb[$key]="$kb"; fi
}

has_unit() { # include index, unit name
    case "$2" in
        h_*) [ -f "${includes[$1]}/halt/${2#h_}.hpp" ] ;;
        *) true ;;
    esac
}

for cxx in "${compilers[@]}"; do
    for unit in "${units[@]}"; do
        name="${unit%%|*}"
        echo "compile_time.sh: $cxx $name (best of $runs)" >&2
        for ((run = 1; run <= runs; run++)); do
            for i in "${!includes[@]}"; do
                if has_unit "$i" "$name"; then
                    measure_once "$cxx" "$i" "$name"
                fi
            done
        done
        for i in "${!includes[@]}"; do
            key="$cxx/$i/$name"
            if [ -n "${best_s[$key]:-}" ]; then
                echo "compile_time.sh:   ${labels[$i]}: wall ${best_s[$key]} s, CPU ${best_cpu[$key]} s, $((best_kb[$key] / 1024)) MiB" >&2
            fi
        done
    done
    # The programs must build and do what they say (untimed).
    for i in "${!includes[@]}"; do
        for prog in asio_program halt_program; do
            "$cxx" -pthread "$work/$prog.$i.o" -o "$work/$prog"
            if ! "$work/$prog"; then
                echo "compile_time.sh: $prog built with $cxx and ${includes[$i]} did not return 0" >&2
                exit 1
            fi
        done
    done
done

# --- the tables ---------------------------------------------------------------------------------
mib() { awk -v kb="$1" 'BEGIN { printf "%.0f", kb / 1024 }'; }
diff2() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

for cxx in "${compilers[@]}"; do
    version="$("$cxx" -dumpversion 2>/dev/null || echo '?')"
    echo "$(basename "$cxx") $version, \`-std=c++20 -O2 -c\`:"
    echo
    header="| translation unit |"
    align="|---|"
    for i in "${!includes[@]}"; do
        prefix=""
        if [ "${#includes[@]}" -gt 1 ]; then
            prefix="${labels[$i]}: "
        fi
        header+=" ${prefix}wall s | CPU s | MiB |"
        align+="---:|---:|---:|"
    done
    echo "$header"
    echo "$align"
    for unit in "${units[@]}"; do
        name="${unit%%|*}"
        row="| ${unit#*|} |"
        for i in "${!includes[@]}"; do
            key="$cxx/$i/$name"
            if [ -n "${best_s[$key]:-}" ]; then
                row+=" ${best_s[$key]} | ${best_cpu[$key]} | $(mib "${best_kb[$key]}") |"
            else
                row+=" – | – | – |"
            fi
        done
        echo "$row"
        if [ "$name" = halt_program ]; then
            row="| **halt's added cost** (halt program − Asio program) |"
            for i in "${!includes[@]}"; do
                h="$cxx/$i/halt_program" a="$cxx/$i/asio_program"
                row+=" $(diff2 "${best_s[$h]}" "${best_s[$a]}") |"
                row+=" $(diff2 "${best_cpu[$h]}" "${best_cpu[$a]}") |"
                row+=" $(mib "$((best_kb[$h] - best_kb[$a]))") |"
            done
            echo "$row"
        fi
    done
    echo
done
echo "Best of $runs runs each (least wall time, CPU time and peak RSS, each taken separately)."
for i in "${!includes[@]}"; do
    echo "${labels[$i]}: \`${includes[$i]}\`."
done
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') at the end."
