#!/usr/bin/env python3
"""Test of benchmarks/plot.py: draws the charts of the recorded sample in tests/data/bench/ into a
temporary directory, twice, and checks that every chart is an SVG document with the sample's bars
and texts, and that the two runs wrote the same bytes (deterministic output).

Usage: python3 tests/cmake/check_charts.py SOURCE_DIR
Exit status: 0 passed, 1 failed, 77 skipped (no Python with matplotlib).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SKIP = 77
SVG = "{http://www.w3.org/2000/svg}"

# What the sample (tests/data/bench) must give: chart -> (bars, row labels that must appear).
EXPECTED = {
    "bench-tokens.svg": (10, ["is_cancelled", "child_token", "on_cancel (tokio: cancelled_register)"]),
    "bench-tasks.svg": (6, ["spawn_join_ready", "abort_before_start", "task_memory_bytes"]),
    "bench-select.svg": (7, ["select(ready, pending)", "timeout(60 s, ready)", "select!(ready,"]),
}
RATIO = re.compile(r"^halt (\d+(\.\d+)?× (faster|slower|smaller|larger)|≈ same)$")


def python_with_matplotlib() -> str | None:
    """The interpreter to run plot.py with: this one, or Debian's (python3-matplotlib installs
    for /usr/bin/python3, which a python3 earlier on PATH, e.g. pyenv's, does not see)."""
    candidates = [sys.executable, shutil.which("python3"), "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            ok = subprocess.run([python, "-c", "import matplotlib"], capture_output=True,
                                timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return python
    return None


def fail(message: str) -> int:
    print(f"check_charts: FAIL: {message}")
    return 1


def check_svg(path: str, bars: int, labels: list[str]) -> str | None:
    """None if the file is a chart as expected, else what is wrong."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return f"{path}: not well-formed XML: {e}"
    if root.tag != SVG + "svg":
        return f"{path}: root element is {root.tag}, not svg"
    if not root.get("viewBox"):
        return f"{path}: no viewBox"
    if any(el.tag.endswith("}date") for el in root.iter()):
        return f"{path}: carries a date (metadata Date must be None)"

    # Bars: the filled patches inside the axes, less each axes' white background.
    found = 0
    for axes in root.iter(SVG + "g"):
        if not axes.get("id", "").startswith("axes_"):
            continue
        for group in axes.findall(SVG + "g"):
            if not group.get("id", "").startswith("patch_"):
                continue
            for p in group.findall(SVG + "path"):
                style = p.get("style", "")
                if "fill:" in style and "fill: none" not in style and "#ffffff" not in style:
                    found += 1
    if found != bars:
        return f"{path}: {found} bars, expected {bars}"

    texts = ["".join(t.itertext()).strip() for t in root.iter(SVG + "text")]
    if not any(t.startswith("halt") for t in texts):
        return f"{path}: no legend entry 'halt'"
    joined = "\n".join(texts)
    for label in labels:
        if label not in joined.replace("\n", " "):
            return f"{path}: no row label {label!r}"
    if not any(RATIO.match(t) for t in texts):
        return f"{path}: no 'halt N× faster/slower' text beside an anchor's bar"
    if not any(t.endswith(" ns") or t.endswith(" B") for t in texts):
        return f"{path}: no value printed on a bar"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip())
        return 2
    root = argv[1]
    plot = os.path.join(root, "benchmarks", "plot.py")
    data = os.path.join(root, "tests", "data", "bench")
    inputs = [os.path.join(data, f) for f in
              ("token_bench.json", "task_bench.json", "select_bench.json", "tokio.jsonl")]

    python = python_with_matplotlib()
    if python is None:
        print("check_charts: SKIP: no Python with matplotlib "
              "(Debian: apt-get install python3-matplotlib)")
        return SKIP

    with tempfile.TemporaryDirectory(prefix="halt-charts-") as tmp:
        outputs = []
        for run in ("a", "b"):
            out = os.path.join(tmp, run)
            proc = subprocess.run([python, plot, "--out-dir", out, *inputs],
                                  capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                return fail(f"plot.py exited with {proc.returncode}:\n{proc.stderr}")
            outputs.append(out)
        written = sorted(os.listdir(outputs[0]))
        if written != sorted(EXPECTED):
            return fail(f"plot.py wrote {written}, expected {sorted(EXPECTED)}")
        for name, (bars, labels) in EXPECTED.items():
            problem = check_svg(os.path.join(outputs[0], name), bars, labels)
            if problem:
                return fail(problem)
            with open(os.path.join(outputs[0], name), "rb") as a, \
                    open(os.path.join(outputs[1], name), "rb") as b:
                if a.read() != b.read():
                    return fail(f"{name}: two runs on the same inputs wrote different files")
    print(f"check_charts: OK: {len(EXPECTED)} charts from tests/data/bench, "
          f"valid SVG, deterministic (plot.py run with {python})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
