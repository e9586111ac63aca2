#!/usr/bin/env python3
"""halt.package.pkg_config: compiles and runs a consumer with `pkg-config --cflags --libs halt`.

After the install fixture (halt.package.install) has installed halt into --prefix: with
PKG_CONFIG_PATH set to the folder of the installed halt.pc (wherever HALT_INSTALL_PKGCONFIGDIR put
it; share/pkgconfig by default), checks that pkg-config finds halt at the project's version and
that its include directory resolves into that prefix (the file is relocatable:
prefix=${pcfiledir}/...), then compiles --main with
  <launcher> <cxx> -std=c++20 <cxx-flags> $(pkg-config --cflags halt) -c main.cpp
links it with $(pkg-config --libs halt) and runs it. Exits 77 (the test is then reported skipped)
with one line when there is no pkg-config.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys

SKIP = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefix", required=True, help="where halt.package.install installed halt")
    ap.add_argument("--main", required=True, help="the consumer's source file")
    ap.add_argument("--work", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--cxx-flags", default="")
    ap.add_argument("--launcher", default="")
    args = ap.parse_args()

    pkg_config = shutil.which("pkg-config") or shutil.which("pkgconf")
    if not pkg_config:
        print("SKIP: no pkg-config on PATH (Debian: apt-get install pkgconf); "
              "halt.pc is not tested")
        return SKIP

    found = [root for root, _, files in os.walk(args.prefix) if "halt.pc" in files]
    if len(found) != 1:
        print(f"FAIL: expected one halt.pc under {args.prefix}, found {len(found)}")
        return 1
    pcdir = found[0]
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = pcdir + (os.pathsep + env["PKG_CONFIG_PATH"]
                                      if env.get("PKG_CONFIG_PATH") else "")

    def pkgconf(*opts):
        proc = subprocess.run([pkg_config, "--print-errors", *opts, "halt"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(f"+ pkg-config {' '.join(opts)} halt -> {proc.stdout.strip()}", flush=True)
        if proc.returncode != 0:
            print(f"FAIL: pkg-config {' '.join(opts)} halt exited with {proc.returncode}")
            sys.exit(1)
        return proc.stdout.strip()

    modversion = pkgconf("--modversion")
    if modversion != args.version:
        print(f"FAIL: pkg-config says halt {modversion}, project(VERSION) is {args.version}")
        return 1
    cflags = shlex.split(pkgconf("--cflags"))
    libs = shlex.split(pkgconf("--libs"))

    includes = [os.path.realpath(f[2:]) for f in cflags if f.startswith("-I")]
    want = os.path.realpath(os.path.join(args.prefix, "include"))
    if want not in includes or not os.path.isfile(os.path.join(want, "halt", "halt.hpp")):
        print(f"FAIL: pkg-config --cflags halt does not point at {want} (it has {includes})")
        return 1

    os.makedirs(args.work, exist_ok=True)
    obj = os.path.join(args.work, "main.o")
    exe = os.path.join(args.work, "halt_pkg_config_consumer")
    flags = shlex.split(args.cxx_flags)
    # Compile and link apart: a compiler cache (the launcher) caches compilations only.
    compile_cmd = ([args.launcher] if args.launcher else []) + \
        [args.cxx, "-std=c++20", *flags, *cflags, "-c", args.main, "-o", obj]
    link_cmd = [args.cxx, *flags, obj, "-o", exe, *libs]
    for cmd, what in ((compile_cmd, "compile"), (link_cmd, "link")):
        print("+ " + " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode != 0:
            print(f"FAIL: the consumer does not {what} with pkg-config's flags")
            return 1
    if subprocess.run([exe]).returncode != 0:
        print("FAIL: the consumer compiled with pkg-config's flags fails")
        return 1
    print(f"OK: compiled and ran a consumer with pkg-config's flags for halt {modversion}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
