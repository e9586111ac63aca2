// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::sleep_for / halt::sleep_until: timers on halt's timing wheel, cancellable at once.
//
//   // Asio operations: any completion token, signature void(halt::error_code).
//   template <class ExOrCtx, class Rep, class Period, class Token>
//   auto sleep_for(ExOrCtx&& ex_or_ctx, std::chrono::duration<Rep, Period> d, Token&& token);
//   template <class ExOrCtx, class Clock, class Duration, class Token>
//   auto sleep_until(ExOrCtx&& ex_or_ctx, std::chrono::time_point<Clock, Duration> tp, Token&& token);
//
//   // Inside a halt::task (co_await it), as a branch of select/timeout over tasks, or started
//   // later with a completion token:
//   sleep_operation sleep_for(std::chrono::duration<Rep, Period> d);
//   sleep_operation sleep_until(std::chrono::time_point<Clock, Duration> tp);
//   class sleep_operation {
//     std::chrono::steady_clock::time_point deadline() const;
//     template <class Token> auto operator()(Token&& token) &&;  // on the handler's executor
//   };
//
// The wheel (detail/timer_wheel.hpp, detail/timer_service.hpp): one per execution context,
// 6 levels of 64 slots, 1 ms resolution, driven by one asio::steady_timer that is re-armed only
// when the earliest deadline moves earlier. Arming and cancelling a sleep is a few list
// operations: no system call, no allocation beyond the operation's own, no pass through the
// context's queue.
//
// Semantics
// - The deadline is fixed when sleep_for / sleep_until is called (as Tokio's sleep): d from
//   now on std::chrono::steady_clock. A time point of another clock is converted then, from
//   that clock's now(): a later jump of that clock does not move the sleep.
// - Precision is the wheel's 1 ms tick: a sleep never completes before its deadline, and under
//   no load at most about one tick after it. For exact timing use an asio::steady_timer.
// - A sleep whose deadline has passed still completes through the context's queue (never inline
//   in the initiating function; inside a task, the task yields once).
// - Cancellation (the operation form): any cancellation type on the handler's slot completes it
//   with asio::error::operation_aborted, through a post. Inside a task a sleep is cancelled by
//   dropping the task: the sleep leaves the wheel at once, and the task's frames are destroyed
//   right away, with no operation in flight; a select whose sleep branch loses returns without
//   a pass through the queue.
// - The context destroyed with sleeps pending: their handlers are destroyed uncalled (tasks
//   waiting in them are destroyed, as for any operation).
//
// Threads. The operation form may be started from any thread. On an io_context with
// concurrency hint 1 (which halt runs without locks: detail/strand.hpp) a start from a thread
// that does not run the context is posted into it, and a cancellation must be emitted on the
// thread that runs it (HALT_CHECK_SERIAL reports otherwise); on other contexts the wheel has a
// lock and a cancellation may come from the handler's executor on any thread.
//
// Bad input: a negative duration throws std::invalid_argument (from sleep_for itself). A
// duration past the wheel's range (about 2 years) saturates: the sleep completes then.

#include <halt/detail/config.hpp>
#include <halt/detail/sleep_op.hpp>
#include <halt/error.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/timer_service.hpp>
#include <halt/detail/wait_op.hpp>

#include <halt/detail/asio.hpp>

#include <chrono>
#include <coroutine>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {

/// A sleep not started yet: co_await it in a halt::task, race it in select or timeout over
/// tasks, or start it with a completion token (on the executor associated with the handler;
/// the system executor if none). Move-only in spirit: each use starts a new sleep to the same
/// deadline.
class sleep_operation {
public:
  explicit sleep_operation(std::chrono::steady_clock::time_point at) noexcept : at_{at} {}
  explicit sleep_operation(detail::sleep_times at) noexcept : at_(at) {}

  std::chrono::steady_clock::time_point deadline() const noexcept { return at_.at; }

  template <class Token>
  auto operator()(Token&& token) && {
    return asio::async_initiate<Token, void(halt::error_code)>(detail::sleep_handler_initiation{}, token, at_);
  }

  detail::tsk::sleep_awaiter in_task() && noexcept { return detail::tsk::sleep_awaiter(at_); }

private:
  detail::sleep_times at_;
};

/// A sleep of `d` from now, for a halt::task (see sleep_operation).
/// \throws std::invalid_argument if `d` is negative.
template <class Rep, class Period>
sleep_operation sleep_for(std::chrono::duration<Rep, Period> d) {
  return sleep_operation(detail::sleep_deadline(d));
}

/// A sleep until `tp` (on its clock, converted to steady_clock now), for a halt::task.
template <class Clock, class Duration>
sleep_operation sleep_until(std::chrono::time_point<Clock, Duration> tp) {
  return sleep_operation(detail::steady_deadline(tp));
}

/// Waits `d` on ex_or_ctx's timing wheel; completes with `void(halt::error_code)`.
/// \throws std::invalid_argument (from the call) if `d` is negative.
template <class ExOrCtx, class Rep, class Period, class Token>
auto sleep_for(ExOrCtx&& ex_or_ctx, std::chrono::duration<Rep, Period> d, Token&& token) {
  const auto at = detail::sleep_deadline(d);
  return asio::async_initiate<Token, void(halt::error_code)>(
      detail::sleep_initiation{}, token, detail::to_executor(std::forward<ExOrCtx>(ex_or_ctx)), at);
}

/// Waits until `tp` (converted to steady_clock at the call) on ex_or_ctx's timing wheel.
template <class ExOrCtx, class Clock, class Duration, class Token>
auto sleep_until(ExOrCtx&& ex_or_ctx, std::chrono::time_point<Clock, Duration> tp, Token&& token) {
  return asio::async_initiate<Token, void(halt::error_code)>(
      detail::sleep_initiation{}, token, detail::to_executor(std::forward<ExOrCtx>(ex_or_ctx)),
      detail::sleep_times{detail::steady_deadline(tp)});
}

} // namespace halt
