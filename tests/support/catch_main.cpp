// SPDX-License-Identifier: BSL-1.0
// The one Catch2 main() shared by all test executables (static library halt_catch_main).

#if defined(HALT_CATCH2_MAJOR)
#if HALT_CATCH2_MAJOR >= 3
#define HALT_CATCH2_V3 1
#endif
#elif __has_include(<catch2/catch_all.hpp>)
#define HALT_CATCH2_V3 1
#endif

#if defined(HALT_CATCH2_V3)

#include <catch2/catch_session.hpp>

int main(int argc, char* argv[]) {
  return Catch::Session().run(argc, argv);
}

#else

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#endif
