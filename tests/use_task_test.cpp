// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/use_task.hpp>
#include <halt/task.hpp>

#include "support/async.hpp"
#include "support/tasks.hpp"
#include "support/catch.hpp"

#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

using namespace std::chrono_literals;
using namespace halt_test::tasks;

// halt::use_task is a plain, constexpr, default-constructible token object.
static_assert(std::is_empty_v<halt::use_task_t>);
static_assert(std::is_same_v<decltype(halt::use_task), const halt::use_task_t>);

namespace {

// An operation with completion signature void(Args...) that completes (posted) with `values`.
template <class... Args, class Token, class... V>
auto async_values(asio::io_context& io, Token&& token, V... values) {
  return asio::async_initiate<Token, void(Args...)>(
      [&io](auto handler, auto... v) {
        auto ex = asio::get_associated_executor(handler, io.get_executor());
        asio::post(ex, [h = std::move(handler), v...]() mutable { std::move(h)(v...); });
      },
      token, values...);
}

} // namespace

TEST_CASE("use_task awaits a timer, an error code is thrown as halt::system_error", "[task]") {
  asio::io_context io;
  auto body = [&io]() -> halt::task<int> {
    asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
    co_await t.async_wait(halt::use_task);

    asio::steady_timer forever(io, 1h);
    asio::post(io, [&forever] { forever.cancel(); });
    try {
      co_await forever.async_wait(halt::use_task);
    } catch (const halt::system_error& e) {
      co_return e.code() == asio::error::operation_aborted ? 1 : 2;
    }
    co_return 3;
  };
  CHECK(get(run(io, body())) == 1);
}

TEST_CASE("use_task: the value is the completion's arguments without the error code", "[task]") {
  asio::io_context io;
  auto body = [&io]() -> halt::task<void> {
    co_await asio::post(io, halt::use_task); // void()
    int one = co_await async_values<halt::error_code, int>(io, halt::use_task, halt::error_code(), 7);
    CHECK(one == 7);
    int bare = co_await async_values<int>(io, halt::use_task, 8);
    CHECK(bare == 8);
    // (g++ 12: name an operation holding non-trivial arguments before awaiting it)
    auto op = async_values<halt::error_code, int, std::string>(io, halt::use_task, halt::error_code(), 9,
                                                              std::string("nine"));
    std::tuple<int, std::string> two = co_await std::move(op);
    CHECK(two == std::make_tuple(9, std::string("nine")));
    auto timed_out = async_values<halt::error_code, int>(io, halt::use_task,
                                                        make_error_code(std::errc::timed_out), 0);
    bool threw = false; // (never co_await inside a Catch macro: support/tasks.hpp)
    try {
      co_await std::move(timed_out);
    } catch (const halt::system_error&) {
      threw = true;
    }
    CHECK(threw);
    auto failing = async_values<std::exception_ptr, int>(
        io, halt::use_task, std::make_exception_ptr(std::logic_error("from the op")), 0);
    threw = false;
    try {
      co_await std::move(failing);
    } catch (const std::logic_error&) {
      threw = true;
    }
    CHECK(threw);
  };
  get(run(io, body()));
}

TEST_CASE("use_task works with as_tuple, redirect_error and deferred operations", "[task]") {
  asio::io_context io;
  auto body = [&io]() -> halt::task<void> {
    auto bad = make_error_code(std::errc::timed_out);
    auto [ec, v] = co_await async_values<halt::error_code, int>(
        io, halt::as_tuple(halt::use_task), bad, 5);
    CHECK(ec == bad);
    CHECK(v == 5);

    halt::error_code ec2;
    int w = co_await async_values<halt::error_code, int>(io, asio::redirect_error(halt::use_task, ec2), bad, 6);
    CHECK(ec2 == bad);
    CHECK(w == 6);

    asio::steady_timer t(io, 1ms);
    auto deferred_wait = t.async_wait(halt::deferred);
    co_await std::move(deferred_wait);
  };
  get(run(io, body()));
}
