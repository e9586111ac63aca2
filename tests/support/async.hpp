// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Helpers for asynchronous tests.

#include "catch.hpp"

#include <asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <thread>

namespace halt_test {

// Waits until pred() holds; fails the test (instead of hanging) after `limit`.
template <class Pred>
void wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) FAIL("condition not reached in time");
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// co_spawn completion handler: an exception escaping the coroutine (a failed REQUIRE included)
// propagates out of io_context::run and fails the test.
struct rethrow {
  void operator()(std::exception_ptr e) const {
    if (e) std::rethrow_exception(e);
  }
};

// Runs `io` on this thread until done() holds; fails the test (instead of hanging) after `limit`.
template <class Pred>
void run_until(asio::io_context& io, Pred done,
               std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) FAIL("condition not reached in time");
    if (io.stopped()) {
      io.restart();
      std::this_thread::sleep_for(std::chrono::microseconds(200)); // work may come from elsewhere
    }
    io.run_one_for(std::chrono::milliseconds(5));
  }
}

// Runs `io` on this thread for about `d`, whatever happens.
inline void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  if (io.stopped()) io.restart();
  io.run_for(d);
}

} // namespace halt_test
