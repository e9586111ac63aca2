#!/usr/bin/env python3
"""halt.package.no_asio_*: find_package(halt) without a usable Asio fails, and says that Asio is
missing and how to get it.

Configures the find_package consumer (tests/cmake/find_package) against the installed halt with
Asio hidden: no asio CMake package (CMAKE_DISABLE_FIND_PACKAGE_asio), and
  --mode nowhere: no asio.hpp anywhere (every find_path is confined to an empty folder with
                  CMAKE_FIND_ROOT_PATH, include mode ONLY);
  --mode bad-dir: Asio_INCLUDE_DIR pointing at a folder without asio.hpp;
  --mode too-old: Asio_INCLUDE_DIR pointing at a made-up Asio 1.20.1 (asio.hpp and
                  asio/version.hpp only).
Passes when the configure fails and its output has the hint of halt's package configuration
(names Asio, the minimum version and the Debian package), plus FindAsio's reason for bad-dir
(naming the folder) and too-old (naming both versions).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--consumer", required=True, help="tests/cmake/find_package")
    ap.add_argument("--prefix", required=True, help="where halt.package.install installed halt")
    ap.add_argument("--work", required=True)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--make-program", default="")
    ap.add_argument("--cxx", default="")
    ap.add_argument("--mode", choices=("nowhere", "bad-dir", "too-old"), required=True)
    args = ap.parse_args()

    build = os.path.join(args.work, "build")
    empty = os.path.join(args.work, "no-asio-here")
    shutil.rmtree(args.work, ignore_errors=True)  # a fresh cache: nothing found earlier is kept
    os.makedirs(empty)

    cmd = [args.cmake, "-S", args.consumer, "-B", build, "-G", args.generator,
           f"-DCMAKE_PREFIX_PATH={args.prefix}", "-DCMAKE_DISABLE_FIND_PACKAGE_asio=ON"]
    if args.make_program:
        cmd.append(f"-DCMAKE_MAKE_PROGRAM={args.make_program}")
    if args.cxx:
        cmd.append(f"-DCMAKE_CXX_COMPILER={args.cxx}")
    if args.mode == "nowhere":
        cmd += [f"-DCMAKE_FIND_ROOT_PATH={empty}", "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY"]
    elif args.mode == "bad-dir":
        cmd.append(f"-DAsio_INCLUDE_DIR={empty}")
    else:
        old = os.path.join(args.work, "asio-1.20.1")
        os.makedirs(os.path.join(old, "asio"))
        with open(os.path.join(old, "asio.hpp"), "w") as f:
            f.write("#include <asio/version.hpp>\n")
        with open(os.path.join(old, "asio", "version.hpp"), "w") as f:
            f.write("#define ASIO_VERSION 102001 // 1.20.1\n")
        cmd.append(f"-DAsio_INCLUDE_DIR={old}")
    print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(proc.stdout)

    # CMake wraps long messages: compare with the whitespace squeezed.
    out = re.sub(r"\s+", " ", proc.stdout)
    failures = []
    if proc.returncode == 0:
        failures.append("the consumer configured although Asio is hidden")
    expected = [
        r'package "halt" is considered to be NOT FOUND',
        r"halt needs standalone Asio 1\.22 or newer",
        r"apt-get install libasio-dev",
        r"-DAsio_INCLUDE_DIR=",
    ]
    if args.mode == "bad-dir":
        expected.append(re.escape(f'Asio_INCLUDE_DIR is "{empty}", which has no asio.hpp'))
    if args.mode == "too-old":
        expected.append(r'Found unsuitable version "1\.20\.1"')
        expected.append(r"has Asio 1\.20\.1, but halt needs 1\.22 or newer")
    for pattern in expected:
        if not re.search(pattern, out):
            failures.append(f"the output does not match: {pattern}")
    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    print(f"OK ({args.mode}): find_package(halt) fails and says that Asio is missing and how to "
          "get it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
