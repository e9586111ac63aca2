// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/cancellation_registration.hpp> // first: the header compiles on its own
#include <halt/cancellation_token.hpp>

#include "support/catch.hpp"

#include <optional>
#include <utility>
#include <vector>

using halt::cancellation_token;

TEST_CASE("an empty registration is not registered and resets, moves and destroys as a no-op", "[cancellation_registration]") {
  halt::cancellation_registration empty;
  CHECK_FALSE(empty.is_registered());
  empty.reset();
  CHECK_FALSE(empty.is_registered());
  halt::cancellation_registration moved = std::move(empty);
  CHECK_FALSE(moved.is_registered());
  CHECK_FALSE(empty.is_registered());
  halt::cancellation_registration assigned;
  assigned = std::move(moved);
  CHECK_FALSE(assigned.is_registered());
}

TEST_CASE("a registration is registered until its callback runs", "[cancellation_registration]") {
  cancellation_token t;
  int n = 0;
  auto reg = t.on_cancel([&] { ++n; });
  CHECK(reg.is_registered());
  t.cancel();
  CHECK(n == 1);
  CHECK_FALSE(reg.is_registered());
  reg.reset(); // after the run: nothing left to deregister
  CHECK(n == 1);
}

TEST_CASE("assigning over a live registration deregisters the old callback", "[cancellation_registration]") {
  cancellation_token t;
  int first = 0;
  int second = 0;
  auto reg = t.on_cancel([&] { ++first; });
  reg = t.on_cancel([&] { ++second; });
  CHECK(reg.is_registered());
  t.cancel();
  CHECK(first == 0);
  CHECK(second == 1);
}

TEST_CASE("registrations keep working when moved around in a vector", "[cancellation_registration]") {
  cancellation_token t;
  int n = 0;
  std::vector<halt::cancellation_registration> regs;
  for (int i = 0; i < 32; ++i) regs.push_back(t.on_cancel([&] { ++n; })); // reallocations move them
  regs.erase(regs.begin(), regs.begin() + 16);                            // deregisters 16
  for (const auto& r : regs) CHECK(r.is_registered());
  t.cancel();
  CHECK(n == 16);
}

TEST_CASE("a destroyed registration never runs", "[cancellation_registration]") {
  cancellation_token t;
  int n = 0;
  {
    auto reg = t.on_cancel([&] { ++n; });
  }
  auto reg2 = t.on_cancel([&] { ++n; });
  reg2.reset();
  t.cancel();
  CHECK(n == 0);
}

TEST_CASE("a registration destroyed inside its own callback", "[cancellation_registration]") {
  cancellation_token t;
  std::optional<halt::cancellation_registration> reg;
  int n = 0;
  reg.emplace(t.on_cancel([&] {
    ++n;
    reg.reset(); // must neither deadlock nor touch freed memory
  }));
  auto other = t.on_cancel([&] { ++n; });
  t.cancel();
  CHECK(n == 2);
  CHECK_FALSE(reg.has_value());
}
