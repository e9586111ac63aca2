// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Force-included (-include) by the "_io1" variants of some test files (tests/CMakeLists.txt):
// every `asio::io_context` the test file makes gets concurrency hint 1, which Asio and halt take
// as "one thread runs this context". halt then runs tasks and select groups directly on the
// io_context's executor, without strands, so the same test cases check that path too.
//
// Every Asio and halt header is included first, under its real names; only the test file's own
// code, after this header, sees the renamed io_context.

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>
#include <halt/halt.hpp>

#define HALT_TEST_IO1 1

namespace asio {
class io_context_hint1 : public io_context {
public:
  io_context_hint1() : io_context(1) {}
  explicit io_context_hint1(int concurrency_hint) : io_context(concurrency_hint) {}
};
} // namespace asio

#define io_context io_context_hint1
