// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The two coroutine types a spawned task body can have, as "kinds" for Catch2's
// TEMPLATE_TEST_CASE, so that one test runs for both (issue 11: "run the existing tests for both
// coroutine types"):
//
//   TEMPLATE_TEST_CASE("abort stops a task", "[task]", awaitable_kind, task_kind) {
//     auto h = halt::spawn(io, [&]() -> co_t<TestType, int> {
//       co_await halt_test::sleep_for<TestType>(60s);
//       co_return 1;
//     });
//     ...
//   }
//
// Catch names the two cases "<name> - awaitable_kind" and "<name> - task_kind".
//
// A kind K has:
//   K::co<T>       the coroutine type (asio::awaitable<T> or halt::task<T>)
//   K::token       the completion token that awaits an Asio operation inside K::co
//                  (asio::use_awaitable or halt::use_task)
//   K::name        "awaitable" or "task"
//   K::drops       how an abort ends it: false for asio::awaitable (operation_aborted is thrown
//                  at the suspension point: a catch sees it and may carry on), true for halt::task
//                  (the frames are destroyed without being resumed: no catch runs, no code after
//                  the co_await runs; see halt/task.hpp and halt/join_handle.hpp)
//
// The test harness (joiners, run_main) stays asio::awaitable; only the spawned bodies change.

#include <halt/cancellation_token.hpp>
#include <halt/task.hpp>

#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <type_traits>

namespace halt_test {

struct awaitable_kind {
  template <class T = void>
  using co = asio::awaitable<T>;
  static constexpr const auto& token = asio::use_awaitable;
  static constexpr const char* name = "awaitable";
  static constexpr bool drops = false;
};

struct task_kind {
  template <class T = void>
  using co = halt::task<T>;
  static constexpr const auto& token = halt::use_task;
  static constexpr const char* name = "task";
  static constexpr bool drops = true;
};

/// `-> co_t<TestType, int>` in a test's lambdas.
template <class K, class T = void>
using co_t = typename K::template co<T>;

/// Waits on a steady_timer for `d`.
template <class K>
co_t<K> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(K::token);
}

/// Lets the other handlers queued on the executor run: one post.
template <class K>
co_t<K> yield() {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, K::token);
}

/// Waits until `tok` is cancelled (token.cancelled() in an awaitable, token.async_wait in a task,
/// which would otherwise co_spawn the awaitable).
template <class K>
co_t<K> wait_for(halt::cancellation_token tok) {
  if constexpr (std::is_same_v<K, task_kind>)
    co_await tok.async_wait(K::token);
  else
    co_await tok.cancelled();
}

} // namespace halt_test
