#!/usr/bin/env python3
"""halt.package.conan: creates halt's Conan package offline and checks that its test_package ran.

In a scratch CONAN_HOME under --work: `conan profile detect`, `conan remote disable conancenter`,
export the offline asio recipe of the shared folder (--asio version), `conan create <source>
--build=missing -s compiler.cppstd=20 -s build_type=Debug` with test_package/ copied under --work
(so nothing is written into the source tree), then check that:
  - the package created is halt/<version of project(VERSION)>, and it resolved asio/<--asio>;
  - the test program printed its success line, naming that Asio version.

The compiler is --cxx (the project's), without the project's flags (no sanitizers: Conan builds
the test_package with its own Release profile). Exits 77 (the test is then reported skipped) with
one line when the shared folder (offline Conan, asio recipe, Asio headers) is absent.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

SKIP = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="halt source tree (holds conanfile.py)")
    ap.add_argument("--shared", required=True,
                    help="the shared folder (tools/conan, conan-recipes, third_party)")
    ap.add_argument("--work", required=True, help="scratch folder (CONAN_HOME, test_package build)")
    ap.add_argument("--version", required=True, help="project(VERSION) of CMakeLists.txt")
    ap.add_argument("--asio", default="1.38.2", help="Asio version to export and expect")
    ap.add_argument("--cxx", default="", help="C++ compiler for Conan's profile and the build")
    ap.add_argument("--launcher", default="", help="compiler launcher (ccache), may be empty")
    args = ap.parse_args()

    conan = os.path.join(args.shared, "tools", "conan", "conan")
    asio_recipe = os.path.join(args.shared, "conan-recipes", "asio")
    asio_headers = os.path.join(args.shared, "third_party", f"asio-{args.asio}", "include")
    for needed in (conan, os.path.join(asio_recipe, "conanfile.py"), asio_headers):
        if not os.path.exists(needed):
            print(f"SKIP: {needed} not found (HALT_SHARED_DIR={args.shared}): "
                  "the Conan package is not tested offline here")
            return SKIP

    env = dict(os.environ)
    # A clean toolchain: no flags of the calling build (sanitizers), the project's compiler.
    for var in ("CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "CC", "CXX", "MAKEFLAGS", "MFLAGS",
                "CMAKE_CXX_COMPILER_LAUNCHER", "CMAKE_GENERATOR"):
        env.pop(var, None)
    if args.cxx:
        env["CXX"] = args.cxx
    if args.launcher:
        env["CMAKE_CXX_COMPILER_LAUNCHER"] = args.launcher
    env["CONAN_HOME"] = os.path.join(args.work, "home")
    os.makedirs(env["CONAN_HOME"], exist_ok=True)

    def conan_run(*cmd, capture=False):
        t0 = time.monotonic()
        print("+ conan " + " ".join(cmd), flush=True)
        proc = subprocess.run([conan, *cmd], env=env, text=True,
                              stdout=subprocess.PIPE if capture else None)
        print(f"  ({time.monotonic() - t0:.1f} s)", flush=True)
        if proc.returncode != 0:
            print(f"FAIL: conan {cmd[0]} exited with {proc.returncode}")
            sys.exit(1)
        return proc.stdout

    start = time.monotonic()
    # Detect the profile (and disable the unreachable default remote) once per compiler: each
    # conan command costs a second or two.
    marker = os.path.join(env["CONAN_HOME"], "halt-profile-detected-for")
    detected_for = open(marker).read() if os.path.exists(marker) else None
    if detected_for != args.cxx:
        conan_run("profile", "detect", "--force")
        conan_run("remote", "disable", "conancenter")
        with open(marker, "w") as f:
            f.write(args.cxx)
    conan_run("export", asio_recipe, "--version", args.asio)

    test_folder = os.path.join(args.work, "test_package")
    shutil.rmtree(test_folder, ignore_errors=True)
    shutil.copytree(os.path.join(args.source, "test_package"), test_folder)

    # --format=json: the graph on stdout; the log (and the test program's output) on stderr,
    # which is captured too, to find the success line.
    t0 = time.monotonic()
    # build_type=Debug: the package is the same for every build type (header-only), and the test
    # program compiles faster than in Release.
    cmd = [conan, "create", args.source, "--build=missing", "-s", "compiler.cppstd=20",
           "-s", "build_type=Debug", "--test-folder", test_folder, "--format=json"]
    print("+ " + " ".join(cmd[1:]).replace(args.source, "<source>"), flush=True)
    proc = subprocess.run(cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sys.stdout.write(proc.stderr)
    print(f"  ({time.monotonic() - t0:.1f} s)", flush=True)
    if proc.returncode != 0:
        print(f"FAIL: conan create exited with {proc.returncode}")
        return 1

    failures = []
    try:
        graph = json.loads(proc.stdout)["graph"]["nodes"]
    except (ValueError, KeyError) as e:
        print(f"FAIL: conan create --format=json printed no graph ({e})")
        return 1
    refs = [node.get("ref", "") for node in graph.values()]
    if not any(r.startswith(f"halt/{args.version}#") or r == f"halt/{args.version}" for r in refs):
        failures.append(f"the package created is not halt/{args.version}: {refs}")
    if not any(r.startswith(f"asio/{args.asio}#") or r == f"asio/{args.asio}" for r in refs):
        failures.append(f"asio did not resolve to asio/{args.asio}: {refs}")

    expected = f"halt test_package: spawn, abort and select work (Asio {args.asio})"
    if expected not in proc.stderr + proc.stdout:
        failures.append(f"the test package did not print '{expected}'")

    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    print(f"OK: halt/{args.version} created with asio/{args.asio}; test_package ran "
          f"({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
