// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// <halt/asio.hpp>: halt::deferred and halt::as_tuple name Asio's tokens on every supported
// release (asio::experimental:: before 1.24, asio:: from 1.24). The #error / static_assert for an
// Asio that is too old, or for Boost.Asio headers mixed in, are compile-failure tests registered
// in tests/CMakeLists.txt (halt.asio.*). On Boost.Asio (HALT_BOOST_ASIO) this file, like every
// test, sees <asio/...> and `asio` mapped to Boost.Asio (tests/cmake/boost_shim.cmake).
#include <halt/asio.hpp>
#include <halt/cancellation_token.hpp>
#include <halt/error.hpp>
#include <halt/join_handle.hpp> // detail::is_system_error
#include <halt/sleep.hpp>
#include <halt/select.hpp>
#include <halt/task.hpp>
#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/bind_executor.hpp>
#include <asio/error.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

using namespace std::chrono_literals;
using halt_test::tasks::get;
using halt_test::tasks::run;

TEST_CASE("halt::deferred and halt::as_tuple are the tokens of this Asio release", "[asio]") {
#if HALT_ASIO_BOOST
  STATIC_REQUIRE(HALT_ASIO_VERSION == BOOST_ASIO_VERSION);
  STATIC_REQUIRE(BOOST_VERSION >= 108000);
#else
  STATIC_REQUIRE(HALT_ASIO_VERSION == ASIO_VERSION);
#endif
  STATIC_REQUIRE(HALT_ASIO_VERSION >= 102200);
#if HALT_ASIO_VERSION >= 102400
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

// halt::asio (an alias of the Asio namespace halt is built on) does not make `asio::` ambiguous
// in code that says `using namespace halt;`.
namespace uses_halt {
using namespace halt;
inline bool cancelled_after_run() {
  asio::io_context io;
  cancellation_token token;
  asio::post(io, [token] { token.cancel(); });
  io.run();
  return token.is_cancelled();
}
} // namespace uses_halt

TEST_CASE("using namespace halt leaves asio:: unambiguous", "[asio]") {
  STATIC_REQUIRE(std::is_same_v<halt::asio::io_context, asio::io_context>);
  CHECK(uses_halt::cancelled_after_run());
}

TEST_CASE("halt::error_code is the error code of this Asio, and carries halt's codes", "[asio]") {
#if HALT_ASIO_BOOST
  STATIC_REQUIRE(std::is_same_v<halt::error_code, boost::system::error_code>);
  STATIC_REQUIRE(std::is_same_v<halt::system_error, boost::system::system_error>);
#else
  STATIC_REQUIRE(std::is_same_v<halt::error_code, std::error_code>);
  STATIC_REQUIRE(std::is_same_v<halt::system_error, std::system_error>);
#endif
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<halt::cancellation_token>().reason()), halt::error_code>);

  // A halt code in halt::error_code: equal to the enum and to its portable condition.
  const halt::error_code timed_out = halt::errc::timed_out;
  CHECK(timed_out == halt::errc::timed_out);
  CHECK(timed_out == std::errc::timed_out);
  CHECK(timed_out != halt::errc::cancelled);
  CHECK(timed_out.message() == "timed out");

  // Through an Asio completion: a token's reason, as_tuple, redirect_error and a thrown error.
  asio::io_context io;
  auto body = []() -> halt::task<int> {
    auto ex = co_await asio::this_coro::executor;
    halt::cancellation_token token;
    asio::post(ex, [token] { token.cancel(halt::errc::shutdown); });
    auto [ec] = co_await token.async_wait(halt::as_tuple(halt::use_task));
    CHECK(!ec); // async_wait completes without error when the token is cancelled
    CHECK(token.reason() == halt::errc::shutdown);
    CHECK(token.reason() == std::errc::operation_canceled);

    asio::steady_timer t(ex, 1h);
    halt::error_code redirected;
    asio::post(ex, [&t] { t.cancel(); });
    co_await t.async_wait(asio::redirect_error(halt::use_task, redirected));
    CHECK(redirected == asio::error::operation_aborted);

    int caught = 0;
    try {
      token.throw_if_cancelled();
    } catch (const halt::system_error& e) {
      caught = e.code() == halt::errc::shutdown ? 1 : 2;
    }
    co_return caught;
  };
  CHECK(get(run(io, body())) == 1);
}

TEST_CASE("halt's operations compose with Asio's parallel_group", "[asio]") {
  asio::io_context io;
  halt::cancellation_token token; // never cancelled: its wait loses and is cancelled
  std::optional<std::size_t> first;
  halt::error_code token_ec, sleep_ec;
  auto token_wait = token.async_wait(halt::deferred);
  auto sleep = halt::sleep_for(io, 1ms, halt::deferred);
  asio::experimental::make_parallel_group(std::move(token_wait), std::move(sleep))
      .async_wait(asio::experimental::wait_for_one(),
                  asio::bind_executor(io, [&](std::array<std::size_t, 2> order, halt::error_code e1,
                                              halt::error_code e2) {
                    first = order[0];
                    token_ec = e1;
                    sleep_ec = e2;
                  }));
  io.run();
  REQUIRE(first.has_value());
  CHECK(*first == 1);
  CHECK(!sleep_ec);
  CHECK(token_ec == asio::error::operation_aborted);
}

TEST_CASE("a std::system_error is matched by condition alike on both backends", "[asio]") {
  // Code that is not Asio's may throw std::system_error(ECANCELED). On Boost.Asio that is not a
  // halt::system_error; it still matches std::errc::operation_canceled (how spawn_blocking tells
  // a cancel), and, as on standalone Asio (whose system category is its own), never one of
  // Asio's error codes.
  const auto aborted = std::make_exception_ptr(
      std::system_error(std::error_code(ECANCELED, std::system_category()), "elsewhere"));
  CHECK(halt::detail::is_system_error(aborted, std::errc::operation_canceled));
  CHECK_FALSE(halt::detail::is_system_error(aborted, asio::error::operation_aborted));
  CHECK_FALSE(halt::detail::is_system_error(aborted, asio::error::timed_out));
  const auto halts = std::make_exception_ptr(halt::system_error(halt::errc::timed_out, "here"));
  CHECK(halt::detail::is_system_error(halts, halt::errc::timed_out));
  CHECK(halt::detail::is_system_error(halts, std::errc::timed_out));
  CHECK_FALSE(halt::detail::is_system_error(std::make_exception_ptr(42), halt::errc::timed_out));
}
