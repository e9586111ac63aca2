#!/usr/bin/env bash
# Build and run the C++ (halt / std::stop_token / raw Asio) and the Rust
# (tokio-util CancellationToken, Tokio tasks, select!, timeout) benchmarks,
# then print Markdown tables and draw them as SVG charts. task_bench and
# select_bench also hold the halt::task rows (`<op>/task`) and the raw-callback
# floor (`<op>/floor`) of issue 11: compare.py gives them a table of their own,
# with the ratios task/floor, task/halt, task/asio and task/tokio. timer_bench
# holds the timer rows of issue 12 (halt's timer wheel, `<op>/wheel`, against
# asio::steady_timer, `<op>/steady_timer`), also in a table of their own.
#
# Usage: bash benchmarks/run.sh [--no-cpp] [--no-tokio] [--syscalls]
#   --no-cpp    skip building/running the C++ token_bench, task_bench,
#               select_bench and timer_bench (the tables keep the previous build/bench/*.json
#               if there are any)
#   --no-tokio  skip building/running the Rust program (likewise for
#               build/bench/tokio.jsonl)
#   --syscalls  also count the system calls per operation of the issue-11 and -12 rows
#               (benchmarks/syscalls.sh, needs strace), appended to the tables
#
# Outputs: build/bench/{token,task,select,timer}_bench.json, build/bench/tokio.jsonl,
# the tables on stdout (also saved to build/bench/compare.md), and the charts
# build/bench/bench-{tokens,tasks,select,timers}.svg (benchmarks/plot.py; skipped, with
# one line saying so, when no python3 with matplotlib is found). To publish a
# run, copy the tables into benchmarks/README.md and the charts into docs/img/.
# The two programs run one after the other, never concurrently.
set -euo pipefail

run_cpp=1
run_tokio=1
run_syscalls=0
for arg in "$@"; do
    case "$arg" in
        --no-cpp) run_cpp=0 ;;
        --no-tokio) run_tokio=0 ;;
        --syscalls) run_syscalls=1 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

out=build/bench
mkdir -p "$out"
jobs="$(nproc 2>/dev/null || echo 2)"

if [ "$run_tokio" = 1 ]; then
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    # tokio and tokio-util come from Debian's librust-*-dev packages, used as a
    # cargo directory source (see benchmarks/tokio/.cargo/config.toml).
    if [ ! -d /usr/share/cargo/registry/tokio-util-0.7.3 ] || [ ! -d /usr/share/cargo/registry/tokio-1.24.2 ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "== installing librust-tokio-dev librust-tokio-util-dev" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get install -y --no-install-recommends librust-tokio-dev librust-tokio-util-dev \
                || { apt-get update && apt-get install -y --no-install-recommends librust-tokio-dev librust-tokio-util-dev; }
        else
            echo "run.sh: missing Debian crates; run: sudo apt-get install librust-tokio-dev librust-tokio-util-dev" >&2
            exit 1
        fi
    fi

    echo "== building benchmarks/tokio (release, offline)" >&2
    # cargo only reads .cargo/config.toml from the working directory upwards,
    # so pass the project's config explicitly when building from the root.
    cargo build --release --offline \
        --manifest-path benchmarks/tokio/Cargo.toml \
        --config benchmarks/tokio/.cargo/config.toml
fi

if [ "$run_cpp" = 1 ]; then
    echo "== configuring + building C++ token_bench, task_bench, select_bench and timer_bench (Release)" >&2
    cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=Release \
        -DHALT_BUILD_BENCHMARKS=ON -DHALT_BUILD_TESTS=OFF -DHALT_BUILD_EXAMPLES=OFF
    cmake --build "$out" --target token_bench task_bench select_bench timer_bench -j "$jobs"

    for bench in token_bench task_bench select_bench timer_bench; do
        echo "== running C++ $bench" >&2
        "$out/benchmarks/$bench" \
            --benchmark_format=json \
            --benchmark_repetitions=5 \
            --benchmark_report_aggregates_only=true \
            > "$out/$bench.json.tmp"
        mv "$out/$bench.json.tmp" "$out/$bench.json"
    done
fi

if [ "$run_tokio" = 1 ]; then
    echo "== running halt-tokio-bench" >&2
    target_dir="${CARGO_TARGET_DIR:-benchmarks/tokio/target}"
    "$target_dir/release/halt-tokio-bench" > "$out/tokio.jsonl.tmp"
    mv "$out/tokio.jsonl.tmp" "$out/tokio.jsonl"
fi

echo "== comparison" >&2
python3 benchmarks/compare.py "$out/token_bench.json" "$out/task_bench.json" \
    "$out/select_bench.json" "$out/timer_bench.json" "$out/tokio.jsonl" | tee "$out/compare.md"

if [ "$run_syscalls" = 1 ]; then
    echo "== system calls per operation (strace -c)" >&2
    { echo; echo "## System calls per operation (strace -c -f, benchmarks/syscalls.sh)"; echo;
      bash benchmarks/syscalls.sh; } | tee -a "$out/compare.md"
fi

# The charts need matplotlib. Debian's python3-matplotlib installs it for /usr/bin/python3, which a
# python3 earlier on PATH (pyenv, a virtualenv) may not see: try both.
plot_python=""
for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import matplotlib' >/dev/null 2>&1; then
        plot_python="$py"
        break
    fi
done
if [ -n "$plot_python" ]; then
    echo "== charts" >&2
    "$plot_python" benchmarks/plot.py --out-dir "$out" "$out/token_bench.json" "$out/task_bench.json" \
        "$out/select_bench.json" "$out/timer_bench.json" "$out/tokio.jsonl"
else
    echo "run.sh: no charts: matplotlib is missing (Debian: apt-get install python3-matplotlib)" >&2
fi
