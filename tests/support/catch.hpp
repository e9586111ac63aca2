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
