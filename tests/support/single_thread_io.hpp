// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Force-included (-include) by the test files that also run as "_io1" variants
// (tests/CMakeLists.txt): when the environment variable HALT_TEST_IO1 is set (to anything but
// "0"), every `asio::io_context` the test file makes with its default constructor gets
// concurrency hint 1, which Asio and halt take as "one thread runs this context". halt then runs
// tasks and select groups directly on the io_context's executor, without strands, so the same
// test cases check that path too, from the same binary (ctest registers each case twice).
//
// Every Asio and halt header is included first, under its real names; only the test file's own
// code, after this header, sees the renamed io_context.

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <halt/asio.hpp>
#include <halt/halt.hpp>

#include <cstdlib>
#include <cstring>

namespace halt_test {
inline int default_concurrency_hint() {
  static const int hint = [] {
    const char* v = std::getenv("HALT_TEST_IO1");
#if HALT_ASIO_BOOST
    return v && *v && std::strcmp(v, "0") != 0 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT;
#else
    return v && *v && std::strcmp(v, "0") != 0 ? 1 : ASIO_CONCURRENCY_HINT_DEFAULT;
#endif
  }();
  return hint;
}
} // namespace halt_test

#if HALT_ASIO_BOOST // `asio` is an alias of boost::asio there (tests/cmake/boost_shim.cmake)
namespace boost::asio {
#else
namespace asio {
#endif
class io_context_hint1 : public io_context {
public:
  io_context_hint1() : io_context(halt_test::default_concurrency_hint()) {}
  explicit io_context_hint1(int concurrency_hint) : io_context(concurrency_hint) {}
};
} // namespace asio (boost::asio)

#define io_context io_context_hint1
