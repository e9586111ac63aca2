#!/usr/bin/env python3
"""halt.package.vcpkg_port: checks the vcpkg overlay port (ports/halt) as far as it can be
checked without vcpkg.

1. vcpkg.json is valid JSON with the fields vcpkg requires (name, one version field, description,
   homepage, license, dependencies: asio, and vcpkg-cmake and vcpkg-cmake-config as host tools),
   in the order `vcpkg format-manifest` writes them, and its version is project(VERSION).
2. portfile.cmake: vcpkg_from_github names the repository of the homepage with a HEAD_REF, and
   pins no REF without a real SHA512; vcpkg_cmake_configure turns tests, examples and benchmarks
   off; vcpkg_cmake_install, vcpkg_cmake_config_fixup, vcpkg_install_copyright and the usage file
   are there. The homepage and license agree with conanfile.py.
3. halt configured with the portfile's OPTIONS (with Catch2 and Google Benchmark made unfindable,
   as in vcpkg, where the port depends on asio only) and installed: every option is used by the
   project, the tree is header-only (include/ and share/), the CMake package is at the
   CONFIG_PATH the portfile fixes up, the portfile's file(REMOVE_RECURSE) calls apply, and no
   installed file holds an absolute path of the build (vcpkg rejects those).
4. The find_package consumer (tests/cmake/find_package) builds against that install tree and runs.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg, flush=True)


def project_version(source):
    text = open(os.path.join(source, "CMakeLists.txt"), encoding="utf-8").read()
    m = re.search(r"project\(\s*halt\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", text)
    if not m:
        sys.exit("FAIL: no 'project(halt VERSION x.y.z' in CMakeLists.txt")
    return m.group(1)


# --- vcpkg.json ---------------------------------------------------------------------------------
# The top-level fields of a port manifest, in the order `vcpkg format-manifest` writes them.
MANIFEST_ORDER = ["name", "version", "version-semver", "version-date", "version-string",
                  "port-version", "maintainers", "description", "homepage",
                  "documentation", "license", "supports", "dependencies", "default-features",
                  "features"]
VERSION_FIELDS = ["version", "version-semver", "version-date", "version-string"]


def check_manifest(path, port_dir_name, version):
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path} is not valid JSON: {e}")
        return None
    if not isinstance(manifest, dict):
        fail("vcpkg.json is not a JSON object")
        return None

    unknown = [k for k in manifest if k not in MANIFEST_ORDER and not k.startswith("$")]
    if unknown:
        fail(f"vcpkg.json has fields vcpkg does not know in a port: {unknown}")
    order = [k for k in manifest if k in MANIFEST_ORDER]
    if order != sorted(order, key=MANIFEST_ORDER.index):
        fail(f"vcpkg.json fields are not in vcpkg's order ({', '.join(MANIFEST_ORDER)}): {order}")

    name = manifest.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
        fail(f"vcpkg.json: name {name!r} is not a valid port name")
    elif name != port_dir_name:
        fail(f"vcpkg.json: name {name!r} differs from the port folder {port_dir_name!r}")

    versions = [k for k in VERSION_FIELDS if k in manifest]
    if len(versions) != 1:
        fail(f"vcpkg.json needs exactly one of {VERSION_FIELDS}, has {versions}")
    elif manifest[versions[0]] != version:
        fail(f"vcpkg.json: {versions[0]} is {manifest[versions[0]]!r}, "
             f"project(VERSION) is {version}")
    if "port-version" in manifest and not isinstance(manifest["port-version"], int):
        fail("vcpkg.json: port-version must be an integer")

    description = manifest.get("description")
    if not (isinstance(description, str) and description.strip()) and not (
            isinstance(description, list) and description and
            all(isinstance(d, str) and d.strip() for d in description)):
        fail("vcpkg.json: description must be a non-empty string (or list of strings)")
    homepage = manifest.get("homepage")
    if not isinstance(homepage, str) or not homepage.startswith("https://"):
        fail(f"vcpkg.json: homepage must be an https URL, is {homepage!r}")
    if manifest.get("license") != "BSL-1.0":
        fail(f"vcpkg.json: license must be the SPDX id BSL-1.0, is {manifest.get('license')!r}")

    deps = manifest.get("dependencies")
    if not isinstance(deps, list):
        fail("vcpkg.json: dependencies must be a list")
        deps = []
    by_name = {}
    for d in deps:
        if isinstance(d, str):
            by_name[d] = {"name": d}
        elif isinstance(d, dict) and isinstance(d.get("name"), str):
            by_name[d["name"]] = d
        else:
            fail(f"vcpkg.json: dependency {d!r} is neither a name nor an object with a name")
    names = [d if isinstance(d, str) else d.get("name") for d in deps]
    if names != sorted(names):
        fail(f"vcpkg.json: dependencies are not sorted by name: {names}")
    if "asio" not in by_name:
        fail("vcpkg.json: no dependency on asio")
    elif by_name["asio"].get("host"):
        fail("vcpkg.json: asio must be a target dependency, not a host one")
    for tool in ("vcpkg-cmake", "vcpkg-cmake-config"):
        if tool not in by_name:
            fail(f"vcpkg.json: no dependency on {tool}")
        elif by_name[tool].get("host") is not True:
            fail(f"vcpkg.json: {tool} must be a host dependency (\"host\": true)")
    return manifest


# --- portfile.cmake -----------------------------------------------------------------------------
def strip_comments(text):
    out = []
    for line in text.splitlines():
        in_quote = False
        for i, c in enumerate(line):
            if c == '"' and (i == 0 or line[i - 1] != "\\"):
                in_quote = not in_quote
            elif c == "#" and not in_quote:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def commands(text):
    """(name, [arguments]) for each top-level command call; arguments unquoted."""
    calls = []
    for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        body = text[m.end():i - 1]
        args = [a[1:-1] if a.startswith('"') else a
                for a in re.findall(r'"(?:[^"\\]|\\.)*"|[^\s()"]+', body)]
        calls.append((m.group(1), args))
    return calls


def keyword_args(args, keywords):
    """Splits a command's arguments by keyword: {keyword: [values]}."""
    out, current = {}, None
    for a in args:
        if a in keywords:
            current = a
            out.setdefault(a, [])
        elif current:
            out[current].append(a)
    return out


def check_portfile(path, homepage):
    text = strip_comments(open(path, encoding="utf-8").read())
    calls = commands(text)
    names = [c[0] for c in calls]
    result = {"options": [], "config_path": None, "removed": [], "copyright": []}

    gh = [args for name, args in calls if name == "vcpkg_from_github"]
    if len(gh) != 1:
        fail(f"portfile: expected one vcpkg_from_github call, found {len(gh)}")
    else:
        kw = keyword_args(gh[0], {"OUT_SOURCE_PATH", "REPO", "REF", "SHA512", "HEAD_REF",
                                  "PATCHES", "GITHUB_HOST", "FILE_DISAMBIGUATOR"})
        repo = (kw.get("REPO") or [""])[0]
        if not homepage or not homepage.rstrip("/").endswith("/" + repo):
            fail(f"portfile: vcpkg_from_github REPO {repo!r} is not the homepage {homepage!r}")
        if kw.get("OUT_SOURCE_PATH") != ["SOURCE_PATH"]:
            fail("portfile: vcpkg_from_github must set OUT_SOURCE_PATH SOURCE_PATH")
        if not kw.get("HEAD_REF"):
            fail("portfile: vcpkg_from_github has no HEAD_REF")
        if "REF" in kw:
            sha = (kw.get("SHA512") or [""])[0]
            if not re.fullmatch(r"[0-9a-f]{128}", sha):
                fail(f"portfile: REF {kw['REF']} is pinned without a real SHA512 ({sha!r})")

    cfg = [args for name, args in calls if name == "vcpkg_cmake_configure"]
    if len(cfg) != 1:
        fail(f"portfile: expected one vcpkg_cmake_configure call, found {len(cfg)}")
    else:
        kw = keyword_args(cfg[0], {"SOURCE_PATH", "OPTIONS", "OPTIONS_RELEASE", "OPTIONS_DEBUG",
                                   "GENERATOR", "LOGFILE_BASE", "MAYBE_UNUSED_VARIABLES",
                                   "WINDOWS_USE_MSBUILD", "NO_CHARSET_FLAG",
                                   "DISABLE_PARALLEL_CONFIGURE"})
        if kw.get("SOURCE_PATH") != ["${SOURCE_PATH}"]:
            fail("portfile: vcpkg_cmake_configure must use SOURCE_PATH \"${SOURCE_PATH}\"")
        options = kw.get("OPTIONS", []) + kw.get("OPTIONS_RELEASE", [])
        for o in options:
            if not re.fullmatch(r"-D[A-Za-z0-9_]+(:[A-Z]+)?=[^$]*", o):
                fail(f"portfile: cannot use option {o!r} outside vcpkg (not -DNAME=VALUE)")
        values = {}
        for o in options:
            m = re.fullmatch(r"-D([A-Za-z0-9_]+)(?::[A-Z]+)?=(.*)", o)
            if m:
                values[m.group(1)] = m.group(2)
        for opt in ("HALT_BUILD_TESTS", "HALT_BUILD_EXAMPLES", "HALT_BUILD_BENCHMARKS"):
            if values.get(opt, "").upper() not in ("OFF", "0", "FALSE", "NO"):
                fail(f"portfile: vcpkg_cmake_configure must pass -D{opt}=OFF")
        result["options"] = [o for o in options if o.startswith("-D")]

    for needed in ("vcpkg_cmake_install", "vcpkg_cmake_config_fixup", "vcpkg_install_copyright"):
        if needed not in names:
            fail(f"portfile: no {needed}()")
    fixups = [args for name, args in calls if name == "vcpkg_cmake_config_fixup"]
    if fixups:
        kw = keyword_args(fixups[0], {"PACKAGE_NAME", "CONFIG_PATH", "TOOLS_PATH",
                                      "DO_NOT_DELETE_PARENT_CONFIG_PATH", "NO_PREFIX_CORRECTION"})
        result["config_path"] = (kw.get("CONFIG_PATH") or [None])[0]
        if not result["config_path"]:
            fail("portfile: vcpkg_cmake_config_fixup has no CONFIG_PATH")
    result["pkgconfig_fixup"] = "vcpkg_fixup_pkgconfig" in names

    for name, args in calls:
        if name == "file" and args[:1] == ["REMOVE_RECURSE"]:
            for a in args[1:]:
                if not a.startswith("${CURRENT_PACKAGES_DIR}/"):
                    fail(f"portfile: file(REMOVE_RECURSE {a}) is outside the package")
                else:
                    result["removed"].append(a[len("${CURRENT_PACKAGES_DIR}/"):])
        if name == "vcpkg_install_copyright":
            kw = keyword_args(args, {"FILE_LIST", "COMMENT"})
            result["copyright"] = kw.get("FILE_LIST", [])
    if not re.search(r'file\(\s*INSTALL\s+"\$\{CMAKE_CURRENT_LIST_DIR\}/usage"\s+DESTINATION\s+'
                     r'"\$\{CURRENT_PACKAGES_DIR\}/share/\$\{PORT\}"\s*\)', text):
        fail("portfile: the usage file is not installed to share/${PORT}")
    return result


def conan_field(source, field):
    text = open(os.path.join(source, "conanfile.py"), encoding="utf-8").read()
    m = re.search(rf'^\s*{field}\s*=\s*"([^"]*)"', text, re.MULTILINE)
    return m.group(1) if m else None


# --- building -----------------------------------------------------------------------------------
def run(cmd, **kw):
    print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    sys.stdout.write(proc.stdout)
    return proc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--make-program", default="")
    ap.add_argument("--cxx", default="")
    ap.add_argument("--cxx-flags", default="")
    ap.add_argument("--launcher", default="")
    ap.add_argument("--build-type", default="")
    args = ap.parse_args()

    source = os.path.abspath(args.source)
    work = os.path.abspath(args.work)
    port = os.path.join(source, "ports", "halt")
    version = project_version(source)

    manifest = check_manifest(os.path.join(port, "vcpkg.json"), "halt", version) or {}
    homepage = manifest.get("homepage")
    portfile = check_portfile(os.path.join(port, "portfile.cmake"), homepage)
    if conan_field(source, "homepage") != homepage:
        fail(f"conanfile.py homepage {conan_field(source, 'homepage')!r} "
             f"!= vcpkg.json homepage {homepage!r}")
    if conan_field(source, "license") != manifest.get("license"):
        fail("conanfile.py and vcpkg.json disagree on the license")

    usage = open(os.path.join(port, "usage"), encoding="utf-8").read()
    consumer = os.path.join(source, "tests", "cmake", "find_package")
    consumer_cmake = open(os.path.join(consumer, "CMakeLists.txt"), encoding="utf-8").read()
    for snippet in ("find_package(halt CONFIG REQUIRED)", "halt::halt"):
        if snippet not in usage:
            fail(f"usage does not show {snippet}")
    if "find_package(halt REQUIRED CONFIG)" not in consumer_cmake and \
            "find_package(halt CONFIG REQUIRED)" not in consumer_cmake:
        fail("tests/cmake/find_package no longer consumes halt the way usage says")

    for f in portfile["copyright"]:
        path = f.replace("${SOURCE_PATH}", source)
        if not os.path.isfile(path):
            fail(f"vcpkg_install_copyright: {f} does not exist")
        elif not open(path, encoding="utf-8").read().startswith(
                "Boost Software License - Version 1.0"):
            fail(f"{f} is not the Boost Software License 1.0 that vcpkg.json declares")
    if not portfile["copyright"]:
        fail("vcpkg_install_copyright has no FILE_LIST")

    if FAILURES:
        return 1

    # --- configure and install with the portfile's options ---------------------------------
    build = os.path.join(work, "build")
    prefix = os.path.join(work, "packages")
    shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(prefix, ignore_errors=True)
    common = ["-G", args.generator]
    if args.make_program:
        common.append(f"-DCMAKE_MAKE_PROGRAM={args.make_program}")
    if args.cxx:
        common.append(f"-DCMAKE_CXX_COMPILER={args.cxx}")
    configure = [args.cmake, "-S", source, "-B", build, *common,
                 f"-DCMAKE_INSTALL_PREFIX={prefix}", "-DCMAKE_BUILD_TYPE=Release",
                 # vcpkg gives the port only its dependencies: asio.
                 "-DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON",
                 "-DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON",
                 *portfile["options"]]
    proc = run(configure)
    if proc.returncode != 0:
        fail("halt does not configure with the portfile's options")
        return 1
    unused = proc.stdout.split("Manually-specified variables were not used by the project:")
    if len(unused) > 1:
        for o in portfile["options"]:
            name = re.match(r"-D([A-Za-z0-9_]+)", o).group(1)
            if re.search(rf"^\s+{name}\s*$", unused[1], re.MULTILINE):
                fail(f"portfile option {o} is not used by the project")
    if run([args.cmake, "--install", build]).returncode != 0:
        fail("cmake --install failed")
        return 1

    # What the portfile removes after the install.
    for rel in portfile["removed"]:
        shutil.rmtree(os.path.join(prefix, rel), ignore_errors=True)

    installed = []
    for root, _, files in os.walk(prefix):
        for f in files:
            installed.append(os.path.relpath(os.path.join(root, f), prefix).replace(os.sep, "/"))
    outside = [f for f in installed if f.split("/")[0] not in ("include", "share")]
    if outside:
        fail(f"a header-only port installs only include/ and share/, found: {outside}")
    if "include/halt/halt.hpp" not in installed:
        fail("include/halt/halt.hpp is not installed")
    cfg = portfile["config_path"]
    for f in ("halt-config.cmake", "halt-config-version.cmake", "halt-targets.cmake"):
        if f"{cfg}/{f}" not in installed:
            fail(f"{cfg}/{f} is not installed (vcpkg_cmake_config_fixup(CONFIG_PATH {cfg}))")
    stray = [f for f in installed if f.endswith(".cmake") and not f.startswith(cfg + "/")]
    if stray:
        fail(f"CMake files outside CONFIG_PATH {cfg} (vcpkg_cmake_config_fixup would miss them): "
             f"{stray}")
    pcs = [f for f in installed if f.endswith(".pc")]
    if pcs and not portfile["pkgconfig_fixup"]:
        fail(f"the install has {pcs} but the portfile does not call vcpkg_fixup_pkgconfig()")
    if portfile["pkgconfig_fixup"] and not pcs:
        fail("the portfile calls vcpkg_fixup_pkgconfig() but the install has no .pc file")
    for f in installed:
        try:
            text = open(os.path.join(prefix, f), encoding="utf-8").read()
        except UnicodeDecodeError:
            continue
        for what, path in (("install prefix", prefix), ("build tree", build),
                           ("source tree", source)):
            if path in text:
                fail(f"{f} holds an absolute path of the {what} ({path}); vcpkg rejects that")
    if FAILURES:
        return 1

    # --- the find_package consumer against that tree -----------------------------------------
    consumer_build = os.path.join(work, "consumer")
    consumer_cfg = [args.cmake, "-S", consumer, "-B", consumer_build, *common,
                    f"-DCMAKE_PREFIX_PATH={prefix}", f"-DHALT_EXPECTED_VERSION={version}",
                    f"-DCMAKE_CXX_FLAGS={args.cxx_flags}",
                    f"-DCMAKE_CXX_COMPILER_LAUNCHER={args.launcher}"]
    if args.build_type:
        consumer_cfg.append(f"-DCMAKE_BUILD_TYPE={args.build_type}")
    if run(consumer_cfg).returncode != 0:
        fail("the find_package consumer does not configure against the port's install tree")
        return 1
    if run([args.cmake, "--build", consumer_build]).returncode != 0:
        fail("the find_package consumer does not build against the port's install tree")
        return 1
    exe = os.path.join(consumer_build, "halt_find_package_consumer")
    if run([exe]).returncode != 0:
        fail("the find_package consumer built against the port's install tree fails")
        return 1
    print(f"OK: ports/halt {version}: manifest, portfile and install tree check out; "
          "the find_package consumer builds and runs against it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
