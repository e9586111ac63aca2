// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Helpers for asynchronous tests.

#include "catch.hpp"

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/post.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

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

// Waits on a steady_timer for `d`.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// A completion handler that ignores its arguments (one type for every use).
struct ignore_completion {
  template <class... A>
  void operator()(A&&...) const noexcept {}
};

// Runs the coroutine `body()` on `io` until it finishes (bounded: fails the test after `limit`)
// and rethrows what escaped it.
template <class F>
void run_main(asio::io_context& io, F body, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  bool done = false;
  std::exception_ptr error;
  auto main = [&]() -> asio::awaitable<void> {
    try {
      co_await body();
    } catch (...) {
      error = std::current_exception();
    }
    done = true;
  };
  // main() rather than main: every test's co_spawn then has the same type (awaitable<void>,
  // detached), and its machinery is compiled once per test file, not once per test case.
  asio::co_spawn(io, main(), asio::detached);
  run_until(io, [&] { return done; }, limit);
  if (error) std::rethrow_exception(error);
}

// Runs the coroutine `body()` on `io`, in a coroutine that accepts every cancellation type and is
// cancelled through a signal of its own: once started, `type` is emitted on that signal, and one
// handler later `after()` runs (to let the branches finish, say). Returns once the coroutine
// finished; rethrows what escaped it.
template <class F, class After>
void run_cancelled_with(asio::io_context& io, asio::cancellation_type type, F body, After after) {
  asio::cancellation_signal outer;
  bool done = false;
  std::exception_ptr error;
  auto main = [&]() -> asio::awaitable<void> {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
    try {
      co_await body();
    } catch (...) {
      error = std::current_exception();
    }
    done = true;
  };
  asio::co_spawn(io, main(), asio::bind_cancellation_slot(outer.slot(), ignore_completion{}));
  asio::post(io, [&] {
    outer.emit(type);
    asio::post(io, after);
  });
  run_until(io, [&] { return done; });
  if (error) std::rethrow_exception(error);
}

} // namespace halt_test
