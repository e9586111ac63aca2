#!/usr/bin/env bash
# System calls per operation of some benchmark rows, counted with `strace -c -f`.
#
# Usage: bash benchmarks/syscalls.sh [--min-time SECONDS] [ROW...]
#   ROW           a full row name, such as spawn_abort_join/task (default: the rows of issue 11:
#                 spawn_abort_join, spawn_join_ready and select_pending_ready, every implementation;
#                 then those of issue 12: select_sleep_ready/{wheel,steady_timer} and
#                 timeout_ready/{task,steady_timer})
#   --min-time    --benchmark_min_time of each run (default 0.5)
#
# Each row runs alone under strace (--benchmark_filter='^ROW$'). Google Benchmark's log
# (--v=2) gives every run of the row, the calibration runs included, so the counts are divided by
# the exact number of iterations the process ran. Startup and shutdown calls (a few dozen reads
# and writes, whatever the row) are counted too: over 10^5 iterations they round away.
# The binaries are the ones run.sh builds (build/bench/benchmarks/{task,select,timer}_bench):
# build them first. Times under strace mean nothing; only the counts are printed. A row that the
# binary does not have (no iterations) prints dashes.
set -euo pipefail

min_time=0.5
rows=()
while [ $# -gt 0 ]; do
    case "$1" in
        --min-time) min_time="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) rows+=("$1"); shift ;;
    esac
done
if [ ${#rows[@]} -eq 0 ]; then
    rows=(spawn_abort_join/floor spawn_abort_join/task spawn_abort_join/halt spawn_abort_join/asio
          spawn_join_ready/floor spawn_join_ready/task spawn_join_ready/halt spawn_join_ready/asio
          select_pending_ready/floor select_pending_ready/halt select_pending_ready/asio
          select_sleep_ready/wheel select_sleep_ready/steady_timer
          timeout_ready/task timeout_ready/steady_timer)
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo_root/build/bench/benchmarks"
command -v strace >/dev/null || { echo "syscalls.sh: strace is missing" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "| row | iterations | epoll_wait / op | timerfd_settime / op | other calls / op | total / op |"
echo "|---|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
    case "$row" in
        */wheel|*/steady_timer|select_sleep_ready/*|arm_cancel*|timer_memory*) exe="$bin/timer_bench" ;;
        select*|timeout*) exe="$bin/select_bench" ;;
        *) exe="$bin/task_bench" ;;
    esac
    [ -x "$exe" ] || { echo "syscalls.sh: $exe is missing: build it first (run.sh)" >&2; exit 1; }
    filter="^${row}\$"
    strace -c -f -o "$tmp/strace.txt" "$exe" --benchmark_filter="$filter" \
        --benchmark_min_time="$min_time" --v=2 >"$tmp/out.txt" 2>"$tmp/log.txt"
    python3 - "$row" "$tmp/log.txt" "$tmp/strace.txt" <<'EOF'
import re, sys
row, log, trace = sys.argv[1:4]
iters = sum(int(m.group(1)) for m in re.finditer(r"LOG\(2\): Running .* for (\d+)", open(log).read()))
calls = {}
for line in open(trace):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls[f[-1]] = int(f[3])
if not iters:
    print(f"| {row} | 0 | – | – | – | – |")
    sys.exit(0)
ep, tf = calls.get("epoll_wait", 0), calls.get("timerfd_settime", 0)
other = sum(calls.values()) - ep - tf
print(f"| {row} | {iters} | {ep / iters:.3f} | {tf / iters:.3f} | {other / iters:.4f} | "
      f"{sum(calls.values()) / iters:.3f} |")
EOF
done
