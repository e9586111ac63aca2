# The benchmark charts: benchmarks/plot.py draws tests/data/bench (a trimmed recording of
# benchmarks/run.sh's output) as SVG into a temporary directory, and tests/cmake/check_charts.py
# checks each chart (valid SVG, its bars and texts, the same bytes on a second run). Registered in
# the configurations that build the benchmarks (the clang and release presets), so that the test
# command runs it once. Skipped (exit 77) when no Python with matplotlib is found
# (Debian: python3-matplotlib).
if(HALT_BUILD_BENCHMARKS)
  find_package(Python3 COMPONENTS Interpreter QUIET)
  if(Python3_Interpreter_FOUND)
    add_test(NAME halt.bench.charts
      COMMAND "${Python3_EXECUTABLE}" "${CMAKE_CURRENT_LIST_DIR}/check_charts.py" "${PROJECT_SOURCE_DIR}")
    set_tests_properties(halt.bench.charts PROPERTIES
      LABELS "benchmark;docs" SKIP_RETURN_CODE 77 TIMEOUT 300)
  else()
    message(STATUS "halt: no Python 3 interpreter; the benchmark chart test (halt.bench.charts) is not registered")
  endif()
endif()
