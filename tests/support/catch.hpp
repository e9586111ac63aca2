// SPDX-License-Identifier: BSL-1.0
// Include this instead of Catch2 directly: it picks the Catch2 v3 or v2 header.
#pragma once

#if defined(HALT_CATCH2_MAJOR)
#if HALT_CATCH2_MAJOR >= 3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
#elif __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <string>

// The matchers the tests use, under one name for Catch2 v2 and v3 (v3 moved them into
// Catch::Matchers and renamed the substring matcher).
namespace halt_test {
#if defined(CATCH_VERSION_MAJOR) && CATCH_VERSION_MAJOR >= 3
using Catch::Matchers::Predicate;
inline auto Contains(const std::string& s) { return Catch::Matchers::ContainsSubstring(s); }
#else
using Catch::Predicate;
inline auto Contains(const std::string& s) { return Catch::Contains(s); }
#endif
} // namespace halt_test
