# Package tests (included from tests/CMakeLists.txt after the find_package and add_subdirectory
# tests; label "package"): find_package(halt) without Asio. Each takes seconds and needs no test
# binary; the scripts are in this folder and say what they check.
#
#   HALT_PACKAGE_TESTS  register them (default ON)

option(HALT_PACKAGE_TESTS "Register the package tests (find_package without Asio)" ON)

if(NOT HALT_PACKAGE_TESTS)
  return()
endif()

find_package(Python3 3.6 COMPONENTS Interpreter QUIET)
if(NOT Python3_Interpreter_FOUND)
  message(STATUS "halt: no python3, so the package tests are not registered")
  return()
endif()

set(_halt_pkg_scripts "${CMAKE_CURRENT_LIST_DIR}")
set(_halt_pkg_work "${CMAKE_CURRENT_BINARY_DIR}/package")

if(HALT_INSTALL)
  # --- find_package(halt) without Asio: fails, naming Asio and how to get it -------------------
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
  unset(_halt_mode)
  unset(_halt_name)
endif()

unset(_halt_pkg_scripts)
unset(_halt_pkg_work)
