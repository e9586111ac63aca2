#!/usr/bin/env python3
"""Print Markdown side-by-side tables: halt vs std::stop_token vs raw Asio
vs tokio-util CancellationToken (token and task ops), halt vs Asio's
awaitable operators vs Tokio (select / timeout ops), and halt::task against
the raw-callback floor, halt's awaitable path, raw Asio and Tokio.

Usage:
    python3 benchmarks/compare.py build/bench/token_bench.json [build/bench/task_bench.json build/bench/select_bench.json build/bench/timer_bench.json ...] build/bench/tokio.jsonl

Inputs
  * token_bench.json: Google Benchmark JSON output of the C++ program
    (`--benchmark_format=json`, ideally with `--benchmark_repetitions=N
    --benchmark_report_aggregates_only=true`). Benchmark names are
    `<op>/<impl>[/...suffixes]`, impl in {halt, std, asio, task, floor}
    (task: halt::task, dropped by abort; floor: the raw-callback program of
    issue 11). The `_median`
    aggregate is used; without aggregates, the median of the iteration runs.
    If an entry carries a user counter `ns_per_child`, `ns_per_task`,
    `p999_ns` or `bytes`, that counter is the value, else `real_time`
    (converted to ns). `bytes` (op `task_memory_bytes`) is a size in bytes,
    not a time; its row is labelled accordingly.
  * tokio.jsonl: one `{"op": "<name>", "ns": <float>}` object per line, as
    printed by benchmarks/tokio (halt-tokio-bench). For `task_memory_bytes`
    the "ns" field holds bytes per task.

The select / timeout ops (names starting with `select` or `timeout`, from
select_bench) go into a second table with the columns halt | raw Asio (`||`)
| Tokio | asio/halt | tokio/halt. Tokio has no separate counterpart for a
plain-operation branch or for a caller on a strand: those rows show the Tokio
op named in their label (TOKIO_SHARED).

The ops with a `task` or `floor` implementation get a third table, with the
columns halt::task | floor | halt (awaitable) | raw Asio | Tokio and the
ratios task/floor, task/halt, task/asio, task/tokio (task's value divided by
the other's: > 1 means halt::task takes longer, or more bytes).

The timer ops of issue 12 (timer_bench: impl `wheel` = halt's timer wheel,
`steady_timer` = asio::steady_timer; Tokio's `arm_cancel_1e6`,
`timer_memory_bytes`) get a fourth table: halt wheel | asio::steady_timer |
Tokio | wheel/tokio | wheel/steady_timer | the issue's target. Its
`timeout_ready` row shows halt::timeout over a halt::task (select_bench's
`timeout_ready/task`) in the wheel column, and `select_sleep_ready` shows
Tokio's `select_pending_ready` (TOKIO_SHARED). An entry's user counter
`ns_per_timer` (arm_cancel_1e6) is its value, as `ns_per_task` is.

A missing or unreadable input file only leaves its columns empty ("–").
Only the Python 3 standard library is used.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

MISSING = "–"

# Implementation columns of the C++ side. The first two tables show the first three; the task
# table (build_task_table) shows halt::task ("task") and the raw-callback floor ("floor").
IMPLS = ("halt", "std", "asio", "task", "floor", "wheel", "steady_timer")
FIRST_IMPLS = ("halt", "std", "asio")
TASK_IMPLS = ("task", "floor")

# tokio op name -> row (C++ op) name.
TOKIO_ALIASES = {"cancelled_register": "on_cancel"}

# Preferred row order (token ops, then task ops); other ops follow alphabetically.
TOKEN_ROW_ORDER = [
    "is_cancelled",
    "child_token",
    "clone_drop",
    "on_cancel",
    "cancel_fanout_per_child",
    "cancel_one_waiter",
    "is_cancelled_p999_under_cancel",
]
TASK_ROW_ORDER = [
    "spawn_join_ready",
    "spawn_join_ready_mt",
    "abort_before_start",
    "spawn_abort_join",
    "spawn_abort_join_mt",
    "join_set_10k_per_task",
    "abort_all_10k_per_task",
    "abort_all_10k_per_task_mt",
    "task_memory_bytes",
    "task_memory_bytes_mt",
    "co_await_ready",
]
ROW_ORDER = TOKEN_ROW_ORDER + TASK_ROW_ORDER

ROW_LABELS = {
    "on_cancel": "on_cancel (tokio: cancelled_register)",
    "cancel_fanout_per_child": "cancel_fanout_per_child (ns/child, 10^6 children)",
    "is_cancelled_p999_under_cancel": "is_cancelled_p999_under_cancel (p99.9 ns)",
    "join_set_10k_per_task": "join_set_10k_per_task (ns/task)",
    "abort_all_10k_per_task": "abort_all_10k_per_task (ns/task)",
    "task_memory_bytes": "task_memory_bytes (**bytes**/task, not ns)",
    "spawn_join_ready_mt": "spawn_join_ready, io_context with the default hint (task on its own strand)",
    "spawn_abort_join_mt": "spawn_abort_join, io_context with the default hint (task on its own strand)",
    "abort_all_10k_per_task_mt": "abort_all_10k_per_task (ns/task), default hint (own strands)",
    "task_memory_bytes_mt": "task_memory_bytes (**bytes**/task), default hint (own strand)",
    "co_await_ready": "co_await of a coroutine that returns at once (task: a halt::task in a "
                      "halt::task; asio: an awaitable in an awaitable)",
}

# Task rows without a Tokio op of their own -> the Tokio op shown on them (Tokio's
# current-thread runtime has one configuration).
TOKIO_TASK_SHARED = {
    "spawn_join_ready_mt": "spawn_join_ready",
    "spawn_abort_join_mt": "spawn_abort_join",
    "abort_all_10k_per_task_mt": "abort_all_10k_per_task",
    "task_memory_bytes_mt": "task_memory_bytes",
}

# Select / timeout ops (select_bench and the Tokio program): their own table.
SELECT_ROW_ORDER = [
    "select_ready_pending",
    "select_pending_ready",
    "select_ready_timer_op",
    "select_pending_timer_op",
    "select_ready_pending_strand",
    "select_ready_pending_mt",
    "timeout_ready",
    "select8",
    "select_ready_pending_unbiased",
    "select_ready_never",
]

SELECT_LABELS = {
    "select_ready_pending": "select(ready, pending) (tokio: biased, sleep)",
    "select_pending_ready": "select(pending, ready) (tokio: biased, sleep polled first)",
    "select_ready_timer_op": "select(ready, timer op) (tokio: = select_ready_pending)",
    "select_pending_timer_op": "select(timer op, ready) (tokio: = select_pending_ready)",
    "select_ready_pending_strand": "select(ready, pending), caller on a strand (tokio: = select_ready_pending)",
    "select_ready_pending_mt": "select(ready, pending), io_context with the default hint (tokio: = select_ready_pending)",
    "timeout_ready": "timeout(60 s, ready)",
    "select8": "select, 8 branches: 7 pending, then ready (tokio: biased)",
    "select_ready_pending_unbiased": "select!(ready, sleep), unbiased (tokio only)",
    "select_ready_never": "select!(ready, pending()), biased (tokio only)",
}

# Select rows without a Tokio op of their own -> the Tokio op shown on them.
TOKIO_SHARED = {
    "select_ready_timer_op": "select_ready_pending",
    "select_pending_timer_op": "select_pending_ready",
    "select_ready_pending_strand": "select_ready_pending",
    "select_ready_pending_mt": "select_ready_pending",
    "select_sleep_ready": "select_pending_ready",
    "arm_cancel_1e6_slot": "arm_cancel_1e6",
}

# Timer ops (issue 12: timer_bench and the Tokio program): their own table. TIMER_ONLY_OPS are
# in no other table.
TIMER_ROW_ORDER = ["timeout_ready", "select_sleep_ready", "arm_cancel_1e6", "arm_cancel_1e6_slot",
                   "arm_cancel_1e6_in_place", "timer_memory_bytes"]
TIMER_ONLY_OPS = ("select_sleep_ready", "arm_cancel_1e6", "arm_cancel_1e6_slot",
                  "arm_cancel_1e6_in_place", "timer_memory_bytes")
# Timer rows of a variant that show another op's values where they have none of their own.
CPP_TIMER_SHARED = {"arm_cancel_1e6_in_place": "arm_cancel_1e6", "arm_cancel_1e6_slot": "arm_cancel_1e6"}
TIMER_IMPLS = ("wheel", "steady_timer")

TIMER_LABELS = {
    "timeout_ready": "timeout(60 s, ready task) (wheel: halt::timeout = timeout_ready/task; "
                     "steady_timer: select(ready task, steady_timer wait))",
    "select_sleep_ready": "select(sleep 60 s, ready task), the sleep armed first and dropped "
                          "(tokio: select_pending_ready)",
    "arm_cancel_1e6": "arm + cancel 10^6 timers spread over 1 s .. 1 h (ns/timer)",
    "arm_cancel_1e6_slot": "the same, steady_timer cancelled through bound slots as the wheel "
                           "is (wheel, Tokio: = arm_cancel_1e6)",
    "arm_cancel_1e6_in_place": "the same, Tokio's sleeps in place (no allocation per timer; "
                               "C++: = arm_cancel_1e6)",
    "timer_memory_bytes": "memory per pending timer (**bytes**, not ns)",
}

# The target of each timer row: (text, largest wheel/tokio that meets it, or None).
TIMER_TARGETS = {
    "timeout_ready": ("<= Tokio", 1.0),
    "select_sleep_ready": ("<= 1.5x Tokio", 1.5),
    "arm_cancel_1e6": ("throughput per core vs steady_timer and Tokio", None),
    "arm_cancel_1e6_slot": ("(diagnostic: the same cancellation path)", None),
    "arm_cancel_1e6_in_place": ("(diagnostic: Tokio's timer without the allocator)", None),
    "timer_memory_bytes": ("vs steady_timer and Tokio", None),
}


def is_timer_only_op(op: str) -> bool:
    """The ops of the timer table only (issue 12)."""
    return op in TIMER_ONLY_OPS


def is_select_op(op: str) -> bool:
    return not is_timer_only_op(op) and (op in SELECT_ROW_ORDER or op.startswith(("select", "timeout")))


def is_task_op(op: str) -> bool:
    """Task ops (task_bench and Tokio's tasks); the other non-select ops are token ops."""
    return op in TASK_ROW_ORDER or op.startswith(("spawn", "abort", "join_set", "task_", "co_await"))


def is_bytes_op(op: str) -> bool:
    """Ops whose value is a size in bytes, not a time in ns."""
    return op.startswith(("task_memory_bytes", "timer_memory_bytes"))


def ordered(ops, order: List[str]) -> List[str]:
    """ops in the preferred order, then the others alphabetically."""
    ops = set(ops)
    return [op for op in order if op in ops] + sorted(ops - set(order))


def all_ops(cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float]) -> set:
    """Every op with a value from halt, std, raw Asio or Tokio (the first two tables)."""
    return {op for (op, impl) in cpp if impl in FIRST_IMPLS} | {
        op for op in tokio if not is_timer_only_op(op)}


def task_ops(cpp: Dict[Tuple[str, str], float]) -> set:
    """Every op with a halt::task or a floor value (the task table)."""
    return {op for (op, impl) in cpp if impl in TASK_IMPLS}


def tokio_value(tokio: Dict[str, float], op: str) -> Optional[float]:
    """Tokio's value on the row of op: its own op, or the one it shares (TOKIO_*SHARED)."""
    if op in tokio:
        return tokio[op]
    shared = TOKIO_TASK_SHARED.get(op) or TOKIO_SHARED.get(op)
    return tokio.get(shared) if shared else None


# User counters that replace real_time as the value (first match wins).
VALUE_COUNTERS = ("ns_per_child", "ns_per_task", "ns_per_timer", "p999_ns", "bytes")

TIME_UNIT_TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


# --------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------

def _split_op_impl(run_name: str) -> Optional[Tuple[str, str]]:
    """'on_cancel/halt/iterations:1/real_time' -> ('on_cancel', 'halt')."""
    parts = run_name.split("/")
    if len(parts) < 2:
        return None
    return parts[0], parts[1]


def _entry_value_ns(entry: dict) -> Optional[float]:
    for counter in VALUE_COUNTERS:
        if counter in entry:
            try:
                return float(entry[counter])
            except (TypeError, ValueError):
                return None
    if "real_time" not in entry:
        return None
    factor = TIME_UNIT_TO_NS.get(entry.get("time_unit", "ns"), 1.0)
    return float(entry["real_time"]) * factor


def _run_name(entry: dict) -> str:
    name = entry.get("run_name")
    if name:
        return name
    name = entry.get("name", "")
    if entry.get("run_type") == "aggregate":
        agg = entry.get("aggregate_name", "")
        if agg and name.endswith("_" + agg):
            name = name[: -(len(agg) + 1)]
    return name


def load_cpp(path: str) -> Tuple[Dict[Tuple[str, str], float], dict]:
    """Returns ({(op, impl): ns}, context)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare.py: cannot read C++ results {path!r}: {e}", file=sys.stderr)
        return {}, {}

    medians: Dict[Tuple[str, str], float] = {}
    iterations: Dict[Tuple[str, str], List[float]] = {}
    for entry in data.get("benchmarks", []):
        if entry.get("error_occurred"):
            continue
        key = _split_op_impl(_run_name(entry))
        if key is None:
            continue
        value = _entry_value_ns(entry)
        if value is None:
            continue
        run_type = entry.get("run_type", "iteration")
        if run_type == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[key] = value
        else:
            iterations.setdefault(key, []).append(value)

    results = dict(medians)
    for key, values in iterations.items():
        if key not in results:  # no aggregate for it: median of the runs
            results[key] = statistics.median(values)
    return results, data.get("context", {}) or {}


def load_tokio(path: str) -> Dict[str, float]:
    results: Dict[str, float] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        print(f"compare.py: cannot read tokio results {path!r}: {e}", file=sys.stderr)
        return results
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
            op = str(obj["op"])
            ns = float(obj["ns"])
        except (ValueError, KeyError, TypeError):
            continue
        results[TOKIO_ALIASES.get(op, op)] = ns
    return results


def load_inputs(paths: List[str]) -> Tuple[Dict[Tuple[str, str], float], dict, Dict[str, float]]:
    """paths: C++ Google Benchmark JSON files, then Tokio's JSONL last.
    Returns (cpp results, the first non-empty C++ context, tokio results)."""
    *cpp_jsons, tokio_jsonl = paths
    cpp: Dict[Tuple[str, str], float] = {}
    context: dict = {}
    for path in cpp_jsons:
        more, ctx = load_cpp(path)
        cpp.update(more)
        context = context or ctx
    return cpp, context, load_tokio(tokio_jsonl)


# --------------------------------------------------------------------------
# environment / versions
# --------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def _first_line_of(cmd: List[str]) -> Optional[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def _cmake_cache(json_path: str) -> Dict[str, str]:
    cache: Dict[str, str] = {}
    path = os.path.join(os.path.dirname(os.path.abspath(json_path)), "CMakeCache.txt")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"^([A-Za-z0-9_.\-]+):[A-Z]+=(.*)$", line.rstrip("\n"))
                if m:
                    cache[m.group(1)] = m.group(2)
    except OSError:
        pass
    return cache


def _asio_version(cache: Dict[str, str]) -> Optional[str]:
    candidates = []
    for key, value in cache.items():
        if "asio" in key.lower() and value and os.path.isdir(value):
            candidates.append(os.path.join(value, "asio", "version.hpp"))
            candidates.append(os.path.join(value, "version.hpp"))
    candidates.append("/usr/include/asio/version.hpp")
    candidates.append("/usr/local/include/asio/version.hpp")
    for path in candidates:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                m = re.search(r"#\s*define\s+ASIO_VERSION\s+(\d+)", f.read())
        except OSError:
            continue
        if m:
            v = int(m.group(1))  # XXYYZZ
            return f"{v // 100000}.{v // 100 % 1000}.{v % 100}"
    return None


def _cargo_lock_versions() -> Dict[str, str]:
    lock = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokio", "Cargo.lock")
    versions: Dict[str, str] = {}
    try:
        with open(lock, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return versions
    for m in re.finditer(r'\[\[package\]\]\s*name\s*=\s*"([^"]+)"\s*version\s*=\s*"([^"]+)"', text):
        versions[m.group(1)] = m.group(2)
    return versions


def environment_lines(cpp_json: str, context: dict) -> List[str]:
    lines = [
        f"- CPU: {_cpu_model()}",
        f"- nproc: {_nproc()}",
    ]
    if context:
        extras = []
        if "num_cpus" in context:
            extras.append(f"num_cpus={context['num_cpus']}")
        if "mhz_per_cpu" in context:
            extras.append(f"mhz_per_cpu={context['mhz_per_cpu']}")
        if "cpu_scaling_enabled" in context:
            extras.append(f"cpu_scaling_enabled={context['cpu_scaling_enabled']}")
        if extras:
            lines.append("- Google Benchmark context: " + ", ".join(extras))
    kernel = _first_line_of(["uname", "-srm"])
    if kernel:
        lines.append(f"- Kernel: {kernel}")

    cache = _cmake_cache(cpp_json)
    if cache.get("CMAKE_PROJECT_NAME"):
        ver = cache.get("CMAKE_PROJECT_VERSION", "")
        lines.append(f"- {cache['CMAKE_PROJECT_NAME']}: {ver or 'unknown version'}"
                     f" (CMAKE_BUILD_TYPE={cache.get('CMAKE_BUILD_TYPE', '?')})")
    cxx = cache.get("CMAKE_CXX_COMPILER")
    cxx_version = _first_line_of([cxx, "--version"]) if cxx else None
    if cxx_version:
        lines.append(f"- C++ compiler: {cxx_version}")
    asio = _asio_version(cache)
    if asio:
        lines.append(f"- Asio: {asio}")
    if context.get("library_version"):
        lines.append(f"- Google Benchmark: {context['library_version']}"
                     f" (library build: {context.get('library_build_type', '?')})")
    elif context.get("library_build_type"):
        lines.append(f"- Google Benchmark library build: {context['library_build_type']}")

    rustc = _first_line_of(["rustc", "--version"])
    if rustc:
        lines.append(f"- Rust: {rustc}")
    crates = _cargo_lock_versions()
    if crates:
        parts = [f"{n} {crates[n]}" for n in ("tokio", "tokio-util") if n in crates]
        if parts:
            lines.append("- Crates: " + ", ".join(parts))
    if context.get("date"):
        lines.append(f"- C++ run date: {context['date']}")
    return lines


# --------------------------------------------------------------------------
# table
# --------------------------------------------------------------------------

def fmt_ns(v: Optional[float]) -> str:
    if v is None:
        return MISSING
    if v < 10:
        return f"{v:.2f}"
    if v < 1000:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def fmt_ratio(num: Optional[float], den: Optional[float]) -> str:
    if num is None or den is None or den <= 0:
        return MISSING
    r = num / den
    return f"{r:.2f}×" if r < 100 else f"{r:.0f}×"


def build_table(cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float]) -> List[str]:
    ops = [op for op in all_ops(cpp, tokio) if not is_select_op(op)]

    header = ["operation", "halt ns", "std::stop_token ns", "raw Asio ns",
              "tokio-util ns", "tokio/halt", "std/halt"]
    align = ["---", "---:", "---:", "---:", "---:", "---:", "---:"]
    rows = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for op in ordered(ops, ROW_ORDER):
        halt = cpp.get((op, "halt"))
        std = cpp.get((op, "std"))
        asio = cpp.get((op, "asio"))
        tok = tokio_value(tokio, op)
        cells = [ROW_LABELS.get(op, op), fmt_ns(halt), fmt_ns(std), fmt_ns(asio),
                 fmt_ns(tok), fmt_ratio(tok, halt), fmt_ratio(std, halt)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def build_select_table(cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float]) -> List[str]:
    """The select / timeout ops; [] when there are none."""
    ops = [op for op in all_ops(cpp, tokio) if is_select_op(op)]
    if not ops:
        return []
    header = ["operation", "halt ns", "raw Asio `\\|\\|` ns", "Tokio ns", "asio/halt", "tokio/halt"]
    align = ["---", "---:", "---:", "---:", "---:", "---:"]
    rows = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for op in ordered(ops, SELECT_ROW_ORDER):
        halt = cpp.get((op, "halt"))
        asio = cpp.get((op, "asio"))
        tok = tokio_value(tokio, op)
        cells = [SELECT_LABELS.get(op, op), fmt_ns(halt), fmt_ns(asio), fmt_ns(tok),
                 fmt_ratio(asio, halt), fmt_ratio(tok, halt)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def build_task_table(cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float]) -> List[str]:
    """halt::task against the floor, halt's awaitable path, raw Asio and Tokio; [] when no op
    has a task or floor value."""
    ops = task_ops(cpp)
    if not ops:
        return []
    header = ["operation", "halt::task ns", "floor ns", "halt (awaitable) ns", "raw Asio ns",
              "Tokio ns", "task/floor", "task/halt", "task/asio", "task/tokio"]
    align = ["---"] + ["---:"] * (len(header) - 1)
    rows = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for op in ordered(ops, ROW_ORDER + SELECT_ROW_ORDER):
        task = cpp.get((op, "task"))
        floor = cpp.get((op, "floor"))
        halt = cpp.get((op, "halt"))
        asio = cpp.get((op, "asio"))
        tok = tokio_value(tokio, op)
        label = SELECT_LABELS.get(op) or ROW_LABELS.get(op, op)
        cells = [label, fmt_ns(task), fmt_ns(floor), fmt_ns(halt), fmt_ns(asio), fmt_ns(tok),
                 fmt_ratio(task, floor), fmt_ratio(task, halt), fmt_ratio(task, asio),
                 fmt_ratio(task, tok)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def timer_wheel_value(cpp: Dict[Tuple[str, str], float], op: str) -> Optional[float]:
    """The halt wheel column: `<op>/wheel`, or for timeout_ready halt::timeout over a task."""
    if op == "timeout_ready":
        return cpp.get((op, "task"))
    return timer_cpp_value(cpp, op, "wheel")


def timer_cpp_value(cpp: Dict[Tuple[str, str], float], op: str, impl: str) -> Optional[float]:
    """op's own C++ value, or that of the op it shares (CPP_TIMER_SHARED)."""
    if (op, impl) in cpp:
        return cpp[(op, impl)]
    shared = CPP_TIMER_SHARED.get(op)
    return cpp.get((shared, impl)) if shared else None


def build_timer_table(cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float]) -> List[str]:
    """The timer wheel of issue 12 against asio::steady_timer and Tokio; [] when no op has a
    wheel or steady_timer value."""
    ops = {op for (op, impl) in cpp if impl in TIMER_IMPLS}
    if not ops:
        return []
    ops |= {op for op in tokio if is_timer_only_op(op)}
    header = ["operation", "halt wheel", "asio::steady_timer", "Tokio", "wheel/tokio",
              "wheel/steady_timer", "target (issue 12)"]
    align = ["---"] + ["---:"] * 5 + ["---"]
    rows = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for op in ordered(ops, TIMER_ROW_ORDER):
        wheel = timer_wheel_value(cpp, op)
        steady = timer_cpp_value(cpp, op, "steady_timer")
        tok = tokio_value(tokio, op)
        text, limit = TIMER_TARGETS.get(op, ("", None))
        if limit is not None and wheel is not None and tok:
            ratio = wheel / tok
            text += ": met" if ratio <= limit else f": **missed** ({ratio / limit:.2f}x the limit)"
        cells = [TIMER_LABELS.get(op, op), fmt_ns(wheel), fmt_ns(steady), fmt_ns(tok),
                 fmt_ratio(wheel, tok), fmt_ratio(wheel, steady), text]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    # Every argument but the last is a C++ Google Benchmark JSON file; the last is Tokio's.
    cpp, context, tokio = load_inputs(argv[1:])
    unknown = sorted({impl for (_op, impl) in cpp} - set(IMPLS))
    if unknown:
        print(f"compare.py: ignoring unknown C++ implementations: {', '.join(unknown)}",
              file=sys.stderr)

    out = ["## Machine", ""]
    out += environment_lines(argv[1], context)
    out += ["", "## Results (median; ns per operation unless noted)", ""]
    if not cpp and not tokio:
        out.append("_no results found_")
    else:
        out += build_table(cpp, tokio)
    out += ["",
            "tokio/halt = tokio-util ns / halt ns and std/halt = std::stop_token ns / halt ns "
            "(> 1 means halt is faster; for task_memory_bytes, bytes / bytes: > 1 means halt "
            "uses less memory). The task rows' tokio column is Tokio itself (current-thread "
            "runtime), not tokio-util. Missing cells: " + MISSING + "."]
    select_rows = build_select_table(cpp, tokio)
    if select_rows:
        out += ["", "## Select / timeout (median; ns per call)", ""]
        out += select_rows
        out += ["",
                "asio/halt = raw Asio ns / halt ns and tokio/halt = Tokio ns / halt ns "
                "(> 1 means halt is faster). Raw Asio is asio::experimental::awaitable_operators "
                "(`a || b`); Tokio is `tokio::select!` / `tokio::time::timeout` on the "
                "current-thread runtime. Missing cells: " + MISSING + "."]
    task_rows = build_task_table(cpp, tokio)
    if task_rows:
        out += ["", "## halt::task against the raw-callback floor (median; ns per operation unless "
                "noted)", ""]
        out += task_rows
        out += ["",
                "task/X = halt::task ns / X ns: **< 1 means halt::task is faster** (for bytes: "
                "smaller), the opposite of the ratios above; issue 11's targets read as task/floor "
                "<= 1.1. floor: the raw-callback program (post, timer arm with a bound "
                "cancellation slot, emit terminal, one handler run; no coroutine). halt "
                "(awaitable): halt's asio::awaitable path; raw Asio: co_spawn for the task rows, "
                "`||` for select. The halt::task rows drive their loop from a halt::task. Missing "
                "cells: " + MISSING + "."]
    timer_rows = build_timer_table(cpp, tokio)
    if timer_rows:
        out += ["", "## Timer wheel (issue 12; median; ns per operation unless noted)", ""]
        out += timer_rows
        out += ["",
                "wheel/X = halt wheel / X: **< 1 means the wheel is faster** (for bytes: "
                "smaller), as in the halt::task table. halt wheel: halt::sleep_for (and "
                "halt::timeout over a halt::task on the timeout row); asio::steady_timer: the "
                "same with a steady_timer; Tokio: tokio::time on the current-thread runtime. "
                "Bytes: C++ heap growth per timer (mallinfo2, chunk headers included) plus the "
                "object kept per timer; Tokio: requested bytes (the boxed Sleep). Missing cells: "
                + MISSING + "."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
