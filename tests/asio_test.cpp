// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// <halt/asio.hpp>: halt::deferred and halt::as_tuple name Asio's tokens on every supported
// release (asio::experimental:: before 1.24, asio:: from 1.24). The #error / static_assert for an
// Asio that is too old, or for Boost.Asio headers mixed in, are compile-failure tests registered
// in tests/CMakeLists.txt (halt.asio.*).
#include <halt/asio.hpp>
#include <halt/select.hpp>
#include <halt/task.hpp>
#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <chrono>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <variant>

using namespace std::chrono_literals;
using halt_test::tasks::get;
using halt_test::tasks::run;

TEST_CASE("halt::deferred and halt::as_tuple are the tokens of this Asio release", "[asio]") {
  STATIC_REQUIRE(HALT_ASIO_VERSION == ASIO_VERSION);
  STATIC_REQUIRE(HALT_ASIO_VERSION >= 102200);
#if ASIO_VERSION >= 102400
  STATIC_REQUIRE(HALT_ASIO_TOKENS_IN_ASIO == 1);
  STATIC_REQUIRE(std::is_same_v<std::decay_t<decltype(halt::deferred)>, asio::deferred_t>);
#else
  STATIC_REQUIRE(HALT_ASIO_TOKENS_IN_ASIO == 0);
  STATIC_REQUIRE(std::is_same_v<std::decay_t<decltype(halt::deferred)>, asio::experimental::deferred_t>);
#endif

  asio::io_context io;
  auto body = []() -> halt::task<int> {
    auto ex = co_await asio::this_coro::executor;
    // A deferred operation, awaited directly and raced in a select.
    asio::steady_timer quick(ex, 1ms);
    auto wait = quick.async_wait(halt::deferred);
    co_await std::move(wait);
    asio::steady_timer slow(ex, 1h);
    asio::steady_timer fast(ex, 1ms);
    auto race = halt::select(slow.async_wait(halt::deferred), fast.async_wait(halt::deferred));
    auto r = co_await std::move(race);
    // as_tuple: the error code as a value instead of an exception.
    asio::steady_timer cancelled(ex, 1h);
    auto op = cancelled.async_wait(halt::as_tuple(halt::use_task)); // starts when awaited
    asio::post(ex, [&cancelled] { cancelled.cancel(); });             // runs once it waits
    auto [ec] = co_await std::move(op);
    CHECK(ec == asio::error::operation_aborted);
    co_return static_cast<int>(r.index());
  };
  CHECK(get(run(io, body())) == 1);
}
