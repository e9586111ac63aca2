# Package-manager tests (included from tests/CMakeLists.txt after the find_package and
# add_subdirectory tests; label "package"): the Conan recipe, the vcpkg overlay port, halt.pc, and
# find_package(halt) without Asio. Each takes seconds and needs no test binary; the scripts are in
# this folder and say what they check.
#
#   HALT_PACKAGE_TESTS  register them (default ON; a configuration that only re-runs the same
#                       packaging, or whose compiler flags are not the point, may turn them off)
#   HALT_SHARED_DIR     the shared folder beside the project (offline Conan and its asio recipe);
#                       where it is absent, halt.package.conan is reported skipped

option(HALT_PACKAGE_TESTS "Register the Conan, vcpkg port, pkg-config and no-Asio package tests" ON)
get_filename_component(_halt_shared_default "${PROJECT_SOURCE_DIR}/../shared" ABSOLUTE)
set(HALT_SHARED_DIR "${_halt_shared_default}" CACHE PATH
    "The shared folder beside halt (tools/conan, conan-recipes, third_party)")
unset(_halt_shared_default)

# On Boost.Asio (HALT_BOOST_ASIO) the pkg-config test runs even where the others are off: it is
# the only test of halt.pc's Boost flags.
if(NOT HALT_PACKAGE_TESTS AND NOT HALT_BOOST_ASIO)
  return()
endif()

find_package(Python3 3.6 COMPONENTS Interpreter QUIET)
if(NOT Python3_Interpreter_FOUND)
  message(STATUS "halt: no python3, so the package-manager tests are not registered")
  return()
endif()

set(_halt_pkg_scripts "${CMAKE_CURRENT_LIST_DIR}")
set(_halt_pkg_work "${CMAKE_CURRENT_BINARY_DIR}/package")

if(HALT_PACKAGE_TESTS)
  # --- Conan: conan create with the offline Conan and asio recipe of the shared folder -------------
  # Conan builds test_package/ with its own profile: the project's compiler, none of its flags.
  add_test(NAME halt.package.conan
    COMMAND "${Python3_EXECUTABLE}" "${_halt_pkg_scripts}/conan_create.py"
      --source "${PROJECT_SOURCE_DIR}"
      --shared "${HALT_SHARED_DIR}"
      --work "${_halt_pkg_work}/conan"
      --version "${PROJECT_VERSION}"
      --asio 1.38.2
      --cxx "${CMAKE_CXX_COMPILER}"
      --launcher "${CMAKE_CXX_COMPILER_LAUNCHER}")
  set_tests_properties(halt.package.conan PROPERTIES
    LABELS "package" TIMEOUT 600 SKIP_RETURN_CODE 77)

  # --- vcpkg: the overlay port's manifest and portfile, and the install its options produce ------
  add_test(NAME halt.package.vcpkg_port
    COMMAND "${Python3_EXECUTABLE}" "${_halt_pkg_scripts}/vcpkg_port.py"
      --source "${PROJECT_SOURCE_DIR}"
      --work "${_halt_pkg_work}/vcpkg"
      --cmake "${CMAKE_COMMAND}"
      --generator "${CMAKE_GENERATOR}"
      --make-program "${CMAKE_MAKE_PROGRAM}"
      --cxx "${CMAKE_CXX_COMPILER}"
      --cxx-flags "${CMAKE_CXX_FLAGS}"
      --launcher "${CMAKE_CXX_COMPILER_LAUNCHER}"
      --build-type "$<CONFIG>")
  set_tests_properties(halt.package.vcpkg_port PROPERTIES LABELS "package" TIMEOUT 300)
endif()

if(HALT_BOOST_ASIO) # the consumer checks that halt.pc says Boost.Asio
  set(_halt_pkg_expect " -DHALT_EXPECT_BOOST_ASIO")
else()
  set(_halt_pkg_expect "")
endif()

if(HALT_INSTALL)
  # --- pkg-config: a consumer compiled with `pkg-config --cflags --libs halt` ------------------
  add_test(NAME halt.package.pkg_config
    COMMAND "${Python3_EXECUTABLE}" "${_halt_pkg_scripts}/pkg_config_consumer.py"
      --prefix "${HALT_TEST_PREFIX}"
      --main "${_halt_pkg_scripts}/find_package/main.cpp"
      --work "${_halt_pkg_work}/pkg_config"
      --version "${PROJECT_VERSION}"
      --cxx "${CMAKE_CXX_COMPILER}"
      --cxx-flags "${CMAKE_CXX_FLAGS}${_halt_pkg_expect}"
      --launcher "${CMAKE_CXX_COMPILER_LAUNCHER}")
  set_tests_properties(halt.package.pkg_config PROPERTIES
    FIXTURES_REQUIRED halt_installed LABELS "package" TIMEOUT 300 SKIP_RETURN_CODE 77)

  # --- find_package(halt) without Asio: fails, naming Asio and how to get it -------------------
  # (standalone Asio only: a halt built on Boost.Asio looks for Boost)
  if(HALT_PACKAGE_TESTS AND NOT HALT_BOOST_ASIO)
  foreach(_halt_mode IN ITEMS nowhere bad-dir too-old)
    string(REPLACE "-" "_" _halt_name "halt.package.no_asio_${_halt_mode}")
    add_test(NAME ${_halt_name}
      COMMAND "${Python3_EXECUTABLE}" "${_halt_pkg_scripts}/missing_asio.py"
        --mode ${_halt_mode}
        --cmake "${CMAKE_COMMAND}"
        --consumer "${_halt_pkg_scripts}/find_package"
        --prefix "${HALT_TEST_PREFIX}"
        --work "${_halt_pkg_work}/${_halt_name}"
        --generator "${CMAKE_GENERATOR}"
        --make-program "${CMAKE_MAKE_PROGRAM}"
        --cxx "${CMAKE_CXX_COMPILER}")
    set_tests_properties(${_halt_name} PROPERTIES
      FIXTURES_REQUIRED halt_installed LABELS "package" TIMEOUT 120)
  endforeach()
  endif()
  unset(_halt_mode)
  unset(_halt_name)
endif()

unset(_halt_pkg_expect)
unset(_halt_pkg_scripts)
unset(_halt_pkg_work)
