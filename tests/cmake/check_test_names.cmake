# Fails if a Catch2 test name contains ';': catch_discover_tests splits such a name into several
# CTest tests, each of which matches no test case, so the case never runs (and "passes").
# Usage: cmake -DROOT=<source dir> -P check_test_names.cmake
file(GLOB sources "${ROOT}/tests/*_test.cpp")
set(bad "")
foreach(src IN LISTS sources)
  file(READ "${src}" text)
  # A name: TEST_CASE( followed by one or more adjacent string literals.
  string(REGEX MATCHALL "TEST_CASE\\(\"[^\"]*\"([ \t\r\n]*\"[^\"]*\")*" names "${text}")
  foreach(name IN LISTS names)
    # (MATCHALL's list splits at ';' itself: a name with ';' shows up as a fragment that does
    # not start with TEST_CASE.)
    if(NOT name MATCHES "^TEST_CASE")
      get_filename_component(f "${src}" NAME)
      list(APPEND bad "${f}: ...${name}")
    endif()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "test names must not contain ';' (ctest would split them and never run them):\n  ${bad}")
endif()
message(STATUS "every test name is free of ';'")
