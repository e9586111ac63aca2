// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Helpers for asynchronous tests.

#include "catch.hpp"

#include <chrono>
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

} // namespace halt_test
