# Conan 2 recipe for halt, a header-only C++20 library (cancellation tokens, abortable tasks and
# select-with-drop for coroutines on standalone Asio).
#
#   conan create . --build=missing -s compiler.cppstd=20
#
# packages the headers of this checkout and runs test_package/ against them. Consumers then use
# CMakeDeps: find_package(halt CONFIG REQUIRED) and the target halt::halt (or PkgConfigDeps: halt).
#
# The package holds the headers and the license only: CMakeDeps and PkgConfigDeps generate the
# CMake and pkg-config files from package_info(), with asio as Conan resolved it. That is what a
# public Conan index expects of a header-only recipe, rather than the halt-config.cmake and halt.pc
# of `cmake --install`, which find Asio by themselves, outside Conan's dependency graph.
#
# The version is read from project(VERSION) in CMakeLists.txt, so the two cannot disagree.
# Recipe for a public index: replace exports_sources with a source() that downloads the release
# archive (conandata.yml), keep the rest. OWNER in the URLs is a placeholder for the account
# that will host halt's public repository (none yet); the vcpkg port (ports/halt) uses the same.
#
# Boost.Asio: halt needs standalone Asio today. Once it also supports Boost.Asio, an option
# (with_boost_asio) will require boost instead of asio; there is no such option yet.
import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout
from conan.tools.scm import Version

required_conan_version = ">=2.0"


class HaltConan(ConanFile):
    name = "halt"
    description = ("Cancellation tokens and cancellable tasks for C++20 coroutines on standalone "
                   "Asio: token trees, abortable tasks, select-with-drop")
    license = "BSL-1.0"
    homepage = "https://github.com/OWNER/halt"
    url = "https://github.com/OWNER/halt"
    topics = ("asio", "coroutines", "cancellation", "async", "structured-concurrency",
              "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "include/*", "LICENSE"
    no_copy_source = True

    # The compilers halt is tested with, and the oldest of each that compiles it.
    _minimum_compilers = {"gcc": "12", "clang": "14"}

    def set_version(self):
        if self.version:
            return
        cmakelists = load(self, os.path.join(self.recipe_folder, "CMakeLists.txt"))
        match = re.search(r"project\(\s*halt\s+VERSION\s+([0-9]+\.[0-9]+\.[0-9]+)", cmakelists)
        if not match:
            raise ConanException("halt: no 'project(halt VERSION x.y.z' in CMakeLists.txt")
        self.version = match.group(1)

    def layout(self):
        basic_layout(self)

    def requirements(self):
        # The Asio releases halt is tested with: 1.22 (Debian bookworm), 1.28.0 and 1.38.2.
        self.requires("asio/[>=1.22 <1.39]", transitive_headers=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 20)
        compiler = str(self.settings.compiler)
        minimum = self._minimum_compilers.get(compiler)
        if minimum and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs {compiler} {minimum} or newer (C++20 coroutines)")

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "halt")
        self.cpp_info.set_property("cmake_target_name", "halt::halt")
        self.cpp_info.set_property("pkg_config_name", "halt")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        # As halt's CMake target does: Asio before 1.26 finds clang's coroutines only through
        # <experimental/coroutine> (the halt headers also fix it when included first).
        if self.settings.compiler in ("clang", "apple-clang"):
            self.cpp_info.defines.append("ASIO_HAS_CO_AWAIT=1")
