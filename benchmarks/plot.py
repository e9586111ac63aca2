#!/usr/bin/env python3
"""Draw compare.py's tables as SVG bar charts: halt beside std::stop_token,
raw Asio and Tokio.

Usage:
    python3 benchmarks/plot.py [--out-dir DIR] build/bench/token_bench.json build/bench/task_bench.json build/bench/select_bench.json build/bench/timer_bench.json build/bench/tokio.jsonl

The inputs are compare.py's (every argument but the last is a Google Benchmark
JSON file, the last is Tokio's JSONL), read by compare.py's own functions, and
the rows are compare.py's rows, labels and Tokio counterparts. Writes into DIR
(default: the current directory):

  bench-tokens.svg  the token rows of compare.py's first table
  bench-tasks.svg   its task rows: times above, memory per task (bytes) below
  bench-select.svg  the select / timeout table
  bench-timers.svg  the timer wheel table of issue 12 (timer_bench): halt's wheel
                    (in halt's place, so the comparisons read "halt ... faster"),
                    asio::steady_timer and Tokio; times above, bytes per
                    pending timer below

A chart with no rows is not written (one line on stderr says so); with no rows
at all the exit status is 1.

Every bar is one implementation's median, with its value printed at its end;
halt's bar comes first in its group. Beside each other bar: how halt compares
with it, "halt 3.87× faster" meaning that bar's value / halt's value = 3.87
("halt 2.91× slower": halt's value / that bar's = 2.91; for bytes "smaller" /
"larger"; "halt ≈ same" within 0.5 %). halt::task ("task") and the
raw-callback floor ("floor") get bars of their own, right after halt's, and
so does any other C++ implementation found in the JSON (an `<op>/<impl>` name
with impl not halt, task, floor, std or asio). A time axis is logarithmic when its
values span more than 30×; the bytes axis is linear. White background, so the
charts read the same on light and dark pages. The output is deterministic: the
same inputs give the same bytes (no date, fixed SVG ids).

Needs matplotlib (Debian: python3-matplotlib); without it, it prints one line
on stderr and exits with status 3.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import textwrap
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the parsing, row order, labels and Tokio counterparts)

NO_MATPLOTLIB = 3

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), on an opaque
# white background so the charts read the same on light and dark pages.
COLOURS = {"halt": "#0072B2", "std": "#E69F00", "asio": "#009E73", "tokio": "#D55E00"}
EXTRA_COLOURS = ["#CC79A7", "#56B4E9", "#7F7F7F", "#000000"]
FASTER_COLOUR = "#1B6E3A"
SLOWER_COLOUR = "#A33A00"
MUTED = "#555555"

LOG_SPREAD = 30.0       # a time axis is logarithmic above this max/min ratio
BAR_END = 0.66          # the longest bar ends at this fraction of the axis (room for its text)
LABEL_WIDTH = 40        # row labels wrap at this many characters
FIG_WIDTH = 10.5        # inches
BAR_IN = 0.19           # inches per bar
GAP_BARS = 0.8          # gap between two rows, in bars


class Chart:
    def __init__(self, filename: str, title: str, series_labels: Dict[str, str],
                 panels: List[Tuple[str, List[str], bool]], note: str,
                 timers: bool = False) -> None:
        self.timers = timers  # values from timer_view(), not from the other impls
        self.filename = filename
        self.title = title
        self.series_labels = series_labels
        self.panels = panels  # (panel title, ops, values are bytes)
        self.note = note


def timer_view(cpp: Dict[Tuple[str, str], float]) -> Dict[Tuple[str, str], float]:
    """The timer chart's values: the wheel (compare.timer_wheel_value) as "halt", and
    asio::steady_timer."""
    view: Dict[Tuple[str, str], float] = {}
    for op in {op for (op, impl) in cpp if impl in compare.TIMER_IMPLS}:
        wheel = compare.timer_wheel_value(cpp, op)
        if wheel is not None:
            view[(op, "halt")] = wheel
        if (op, "steady_timer") in cpp:
            view[(op, "steady_timer")] = cpp[(op, "steady_timer")]
    for op, shared in compare.CPP_TIMER_SHARED.items():
        for impl in ("halt", "steady_timer"):
            if (op, impl) not in view and (shared, impl) in view:
                view[(op, impl)] = view[(shared, impl)]
    return view


def without_timer_impls(cpp: Dict[Tuple[str, str], float]) -> Dict[Tuple[str, str], float]:
    """The other charts' values: no wheel or steady_timer bars there."""
    return {k: v for k, v in cpp.items() if k[1] not in compare.TIMER_IMPLS}


def chart_specs(cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float]) -> List[Chart]:
    timer_ops = compare.ordered({op for (op, _impl) in timer_view(cpp)}, compare.TIMER_ROW_ORDER)
    ops = {op for (op, _impl) in without_timer_impls(cpp)} | set(tokio)
    ops = {op for op in ops if not compare.is_timer_only_op(op)}
    token_ops = compare.ordered([o for o in ops if not compare.is_select_op(o)
                                 and not compare.is_task_op(o)], compare.TOKEN_ROW_ORDER)
    task_ops = compare.ordered([o for o in ops if compare.is_task_op(o)
                                and not compare.is_select_op(o)], compare.TASK_ROW_ORDER)
    select_ops = compare.ordered([o for o in ops if compare.is_select_op(o)],
                                 compare.SELECT_ROW_ORDER)
    def shared_note(ops: List[str]) -> str:
        borrowed = [o for o in ops if o not in tokio and compare.tokio_value(tokio, o) is not None]
        return ("Rows that Tokio has no counterpart for show Tokio's nearest op, as the tables "
                "do. " if borrowed else "")
    return [
        Chart("bench-tokens.svg",
              "Cancellation tokens: halt vs std::stop_token, raw Asio and tokio-util",
              {"halt": "halt", "std": "std::stop_token", "asio": "raw Asio (cancellation_signal)",
               "tokio": "tokio-util CancellationToken"},
              [("", token_ops, False)], shared_note(token_ops)),
        Chart("bench-tasks.svg",
              "Tasks: halt vs a raw Asio co_spawn and Tokio (current-thread runtime)",
              {"halt": "halt", "task": "halt::task", "floor": "raw-callback floor",
               "std": "std", "asio": "raw Asio co_spawn", "tokio": "Tokio tasks"},
              [("Time (ns per operation, or per task where noted)",
                [o for o in task_ops if not compare.is_bytes_op(o)], False),
               ("Memory per pending task (bytes, less is better)",
                [o for o in task_ops if compare.is_bytes_op(o)], True)], shared_note(task_ops)),
        Chart("bench-select.svg",
              "select and timeout: halt vs Asio's awaitable operators and Tokio",
              {"halt": "halt", "task": "halt::task", "floor": "raw-callback floor", "std": "std",
               "asio": "Asio a || b (awaitable operators)", "tokio": "Tokio select! / timeout"},
              [("", select_ops, False)], shared_note(select_ops)),
        Chart("bench-timers.svg",
              "Timers: halt's timer wheel vs asio::steady_timer and Tokio (issue 12)",
              {"halt": "halt timer wheel", "steady_timer": "asio::steady_timer",
               "tokio": "Tokio (tokio::time)"},
              [("Time (ns per operation, or per timer where noted)",
                [o for o in timer_ops if not compare.is_bytes_op(o)], False),
               ("Memory per pending timer (bytes, less is better)",
                [o for o in timer_ops if compare.is_bytes_op(o)], True)],
              shared_note(timer_ops), timers=True),
    ]


def row_label(op: str) -> str:
    label = (compare.SELECT_LABELS.get(op) or compare.ROW_LABELS.get(op)
             or compare.TIMER_LABELS.get(op) or op)
    label = label.replace("**", "")
    return "\n".join(textwrap.wrap(label, LABEL_WIDTH)) or op


def row_values(op: str, cpp: Dict[Tuple[str, str], float], tokio: Dict[str, float],
               series: Sequence[str]) -> List[Tuple[str, float]]:
    """[(series, value)] of the row, in series order, without missing values."""
    out = []
    for key in series:
        value = compare.tokio_value(tokio, op) if key == "tokio" else cpp.get((op, key))
        if value is not None and value > 0 and math.isfinite(value):
            out.append((key, value))
    return out


def fmt_value(value: float, is_bytes: bool) -> str:
    return compare.fmt_ns(value) + (" B" if is_bytes else " ns")


def fmt_versus(halt: float, other: float, is_bytes: bool) -> Tuple[str, str]:
    """('halt 3.87× faster', colour): other / halt, flipped to read as a factor > 1."""
    r = other / halt
    if round(r, 2) == 1.0:
        return "halt ≈ same", MUTED
    better, worse = ("smaller", "larger") if is_bytes else ("faster", "slower")
    if r >= 1:
        word, colour, factor = better, FASTER_COLOUR, r
    else:
        word, colour, factor = worse, SLOWER_COLOUR, 1 / r
    text = f"{factor:.0f}×" if factor >= 10 else f"{factor:.2f}×"
    return f"halt {text} {word}", colour


def fmt_tick_ns(v: float) -> str:
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns")):
        if v >= scale:
            n = v / scale
            return f"{n:.0f} {unit}" if n >= 1 and n == round(n) else f"{n:g} {unit}"
    return f"{v:g} ns"


def draw(chart: Chart, cpp, tokio, series: List[str], context: dict, out_path: str) -> bool:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    panels = []
    for title, ops, is_bytes in chart.panels:
        rows = [(op, row_values(op, cpp, tokio, series)) for op in ops]
        rows = [(op, vals) for op, vals in rows if vals]
        if rows:
            panels.append((title, rows, is_bytes))
    if not panels:
        return False
    used = [s for s in series if any(k == s for _t, rows, _b in panels for _o, v in rows
                                     for k, _ in v)]

    # Heights in inches: title block, then per panel (its title, bars, axis), then the note.
    head_in, axis_in, ptitle_in, foot_in = 1.05, 0.55, 0.3, 0.45
    units = []
    for _title, rows, _b in panels:
        units.append(sum(len(v) for _o, v in rows) + GAP_BARS * len(rows))
    heights = [(ptitle_in if t else 0.0) + u * BAR_IN + axis_in
               for (t, _r, _b), u in zip(panels, units)]
    fig_h = head_in + sum(heights) + foot_in
    fig = plt.figure(figsize=(FIG_WIDTH, fig_h), facecolor="white")

    axes = []
    top = fig_h - head_in
    for (ptitle, rows, is_bytes), u, h in zip(panels, units, heights):
        bars_h = u * BAR_IN
        bottom = top - h + axis_in
        ax = fig.add_axes([0.3, bottom / fig_h, 0.65, bars_h / fig_h])
        axes.append(ax)
        ax.set_facecolor("white")
        draw_panel(ax, rows, is_bytes, {s: colour_of(s, series) for s in used})
        if ptitle:
            ax.set_title(ptitle, loc="left", fontsize=10, color="#222222", pad=6)
        top -= h

    # Left margin: as wide as the widest row label.
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    label_in = max(t.get_window_extent(renderer).width for ax in axes
                   for t in ax.get_yticklabels()) / fig.dpi
    left_in = label_in + 0.25
    width_in = FIG_WIDTH - left_in - 0.3
    for ax in axes:
        pos = ax.get_position()
        ax.set_position([left_in / FIG_WIDTH, pos.y0, width_in / FIG_WIDTH, pos.height])

    x0 = 0.15 / FIG_WIDTH
    fig.text(x0, 1 - 0.3 / fig_h, chart.title, ha="left", va="baseline",
             fontsize=13, fontweight="bold", color="#111111")
    fig.text(x0, 1 - 0.55 / fig_h,
             "Median per implementation; shorter bars are better. Beside each other bar: "
             "how halt compares with it.",
             ha="left", va="baseline", fontsize=9, color=MUTED)
    handles = [Patch(facecolor=colour_of(s, series), label=label_of(s, chart)) for s in used]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(x0, 1 - 0.62 / fig_h),
               ncol=len(handles), frameon=False, fontsize=9, handlelength=1.2,
               columnspacing=1.4)

    run = []
    if context.get("date"):
        run.append("run of " + str(context["date"])[:10])
    if context.get("num_cpus"):
        cpus = f"{context['num_cpus']} CPUs"
        if context.get("mhz_per_cpu"):
            cpus += f" at {context['mhz_per_cpu']} MHz"
        run.append(cpus)
    note = (chart.note + "Source: benchmarks/run.sh (medians from compare.py's inputs)"
            + (", " + ", ".join(run) if run else "") + ".")
    fig.text(x0, 0.2 / fig_h, "\n".join(textwrap.wrap(note, 150)), ha="left", va="bottom",
             fontsize=8, color=MUTED)

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", facecolor="white", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    # matplotlib ends path lines with a space; the line break alone separates the commands, so
    # the file can follow the repository's no-trailing-whitespace rule.
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    return True


def colour_of(key: str, series: List[str]) -> str:
    if key in COLOURS:
        return COLOURS[key]
    extras = [s for s in series if s not in COLOURS]
    return EXTRA_COLOURS[extras.index(key) % len(EXTRA_COLOURS)]


def label_of(key: str, chart: Chart) -> str:
    return chart.series_labels.get(key, key)


def draw_panel(ax, rows, is_bytes: bool, colours: Dict[str, str]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    values = [v for _op, vals in rows for _k, v in vals]
    lo_v, hi_v = min(values), max(values)
    log = not is_bytes and hi_v / lo_v > LOG_SPREAD

    if log:
        lo = 10 ** math.floor(math.log10(lo_v))
        span = math.log10(hi_v) - math.log10(lo)
        hi = 10 ** (math.log10(lo) + max(span, 1.0) / BAR_END)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_tick_ns(v)))
        ax.set_xlabel("median time, log scale (ns per operation unless the row says otherwise)",
                      fontsize=9)
    else:
        lo, hi = 0.0, hi_v / BAR_END
        if is_bytes:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f} B"))
            ax.set_xlabel("median bytes per pending task or timer", fontsize=9)
        else:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_tick_ns(v) if v else "0"))
            ax.set_xlabel("median time (ns per operation unless the row says otherwise)",
                          fontsize=9)
    ax.set_xlim(lo, hi)

    y = 0.0
    ticks, labels = [], []
    for op, vals in rows:
        first = y
        halt = dict(vals).get("halt")
        for key, value in vals:
            colour = colours[key]
            ax.barh(y, value - lo, left=lo, height=0.82, color=colour, edgecolor="none", zorder=2)
            shown = ax.annotate(fmt_value(value, is_bytes), xy=(value, y), xytext=(4, 0),
                        textcoords="offset points", va="center", ha="left", fontsize=8,
                        color="#111111", fontweight="bold" if key == "halt" else "normal")
            if halt is not None and key != "halt":
                text, tcolour = fmt_versus(halt, value, is_bytes)
                # Right after the value's text (coordinates relative to its bounding box).
                ax.annotate(text, xy=(1, 0.5), xycoords=shown, xytext=(6, 0),
                            textcoords="offset points", va="center", ha="left", fontsize=8,
                            color=tcolour)
            y += 1.0
        ticks.append((first + y - 1.0) / 2)
        labels.append(row_label(op))
        y += GAP_BARS
    ax.set_ylim(y - GAP_BARS / 2, -GAP_BARS / 2 - 0.2)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=9)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=8, colors="#333333")
    ax.grid(axis="x", which="major", color="#DDDDDD", linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#888888")


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Draw compare.py's tables as SVG charts.",
        epilog="The inputs are compare.py's: C++ Google Benchmark JSON files, then Tokio's JSONL.")
    parser.add_argument("--out-dir", default=".", help="where to write the SVG files")
    parser.add_argument("inputs", nargs="+", metavar="FILE")
    args = parser.parse_args(argv[1:])
    if len(args.inputs) < 2:
        parser.error("give at least one C++ JSON file and Tokio's JSONL file (last)")

    try:
        import matplotlib
    except ImportError:
        print("plot.py: matplotlib is not installed (Debian: apt-get install python3-matplotlib);"
              " no charts drawn", file=sys.stderr)
        return NO_MATPLOTLIB
    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "svg.hashsalt": "halt-benchmarks",  # fixed ids: the same inputs give the same file
        "svg.fonttype": "none",             # text stays text (smaller, searchable)
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans"],
        "axes.unicode_minus": False,
    })

    cpp, context, tokio = compare.load_inputs(args.inputs)
    extras = sorted({impl for (_op, impl) in cpp} - set(compare.IMPLS))
    series = ["halt", "task", "floor", "std", "asio", "steady_timer"] + extras + ["tokio"]

    os.makedirs(args.out_dir, exist_ok=True)
    written = 0
    for chart in chart_specs(cpp, tokio):
        path = os.path.join(args.out_dir, chart.filename)
        values = timer_view(cpp) if chart.timers else without_timer_impls(cpp)
        if draw(chart, values, tokio, series, context, path):
            print(f"plot.py: wrote {path}", file=sys.stderr)
            written += 1
        else:
            print(f"plot.py: no rows for {chart.filename}; not written", file=sys.stderr)
    if not written:
        print("plot.py: no results in the inputs; no charts drawn", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
