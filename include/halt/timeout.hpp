// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::timeout: bound an awaitable (or a plain Asio operation) by a deadline.
//
//   asio::awaitable<T> timeout(std::chrono::duration<Rep, Period> d, B branch);
//   asio::awaitable<T> timeout_at(std::chrono::time_point<Clock, Duration> at, B branch);
//   // T: the branch's result, T for an asio::awaitable<T> (void included), the value type for a
//   // plain operation (as in select.hpp).
//
// Semantics
// - The branch starts first, then a timer (an asio::basic_waitable_timer<Clock>; steady_clock for
//   timeout) on the same strand; no coroutine frame for the timer. Whichever finishes first wins,
//   and the other is cancelled and waited for (a select of two; see select.hpp).
// - If the branch finishes first, its value (or exception) is the result. An operation that is
//   ready at once returns its value, even with a zero or past deadline.
// - If the deadline passes first, the branch gets terminal cancellation; once it has unwound,
//   timeout throws std::system_error(halt::errc::timed_out). That is distinct from the enclosing
//   coroutine being cancelled, which fails with asio::error::operation_aborted, as does any
//   operation_aborted that the branch reports on its own.
// - A branch that catches the cancellation and returns a value after the deadline is a loser:
//   its value is destroyed and timeout still throws timed_out.
//
// Bad input: timeout() with a negative duration throws std::invalid_argument (from the call).
// Durations too large for the clock saturate to the clock's maximum time point.

#include <halt/detail/config.hpp>
#include <halt/detail/group.hpp>
#include <halt/error.hpp>
#include <halt/select.hpp>

#include <asio/basic_waitable_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <optional>
#include <utility>

namespace halt {

namespace detail {

// awaitable<T> -> T (void stays void); an operation -> its value type.
// (Empty for anything else, such as a halt::task: the awaitable overloads' return types name it,
// and clang substitutes them before checking the constraints.)
template <class B>
struct timeout_value {};
template <class B>
  requires branch_arg<B>
struct timeout_value<B> {
  using type = branch_value_t<B>;
};
template <class T, class E>
struct timeout_value<asio::awaitable<T, E>> {
  using type = T;
};
template <class B>
using timeout_value_t = typename timeout_value<std::decay_t<B>>::type;

template <class Clock, class B>
asio::awaitable<timeout_value_t<B>> timeout_impl(typename Clock::time_point at, B branch) {
  using timer = asio::basic_waitable_timer<Clock>;
  using policy = select_policy<branch_value_t<B>, std::monostate>;
  // Named, not temporaries inside the co_await: g++ 12 destroys such temporaries twice.
  auto both = std::make_tuple(make_branch(std::move(branch)), timer_branch<timer>{at, {}});
  auto op = run_group<typename policy::R, fixed_slots<2>>(policy{}, std::move(both), 2, 0);
  auto r = co_await std::move(op);
  auto v = std::move(r).get();
  if (v.index() == 1) throw std::system_error(make_error_code(errc::timed_out), "halt::timeout");
  if constexpr (!std::is_void_v<timeout_value_t<B>>) co_return std::move(std::get<0>(v));
}

template <class Clock, class Rep, class Period>
typename Clock::time_point saturating_deadline(std::chrono::duration<Rep, Period> d) {
  const auto now = Clock::now();
  const auto room = Clock::time_point::max() - now;
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(room))
    return Clock::time_point::max();
  return now + std::chrono::ceil<typename Clock::duration>(d);
}

} // namespace detail

/// The branch's value, or std::system_error(halt::errc::timed_out) once `d` has passed and the
/// branch has unwound. \throws std::invalid_argument (from the call) if `d` is negative.
template <class Rep, class Period, detail::branch_arg B>
asio::awaitable<detail::timeout_value_t<B>> timeout(std::chrono::duration<Rep, Period> d, B branch) {
  if (d < d.zero()) throw std::invalid_argument("halt::timeout: negative duration");
  return detail::timeout_impl<std::chrono::steady_clock>(
      detail::saturating_deadline<std::chrono::steady_clock>(d), std::move(branch));
}

/// The branch's value, or std::system_error(halt::errc::timed_out) once `at` has passed (on
/// `Clock`) and the branch has unwound. A past deadline still lets a ready branch win.
template <class Clock, class Duration, detail::branch_arg B>
asio::awaitable<detail::timeout_value_t<B>> timeout_at(std::chrono::time_point<Clock, Duration> at, B branch) {
  return detail::timeout_impl<Clock>(std::chrono::ceil<typename Clock::duration>(at), std::move(branch));
}

namespace detail {
template <class Clock, class T>
task<T> timeout_task(typename Clock::time_point at, task<T> t) {
  tsk::require_valid(t);
  asio::basic_waitable_timer<Clock> timer(co_await asio::this_coro::executor, at);
  auto wait = [&timer](auto&& tok) { return timer.async_wait(std::forward<decltype(tok)>(tok)); };
  auto s = tsk::select_tasks(false, std::move(t), as_task(std::move(wait)));
  auto v = co_await std::move(s);
  if (v.index() == 1) throw std::system_error(make_error_code(errc::timed_out), "halt::timeout");
  if constexpr (!std::is_void_v<T>) co_return std::move(std::get<0>(v));
}
} // namespace detail

/// timeout for a halt::task: the task's value, or std::system_error(halt::errc::timed_out) once
/// `d` has passed and the task was dropped. Awaited in a halt::task, it runs inline (no co_spawn).
template <class Rep, class Period, class T>
task<T> timeout(std::chrono::duration<Rep, Period> d, task<T> t) {
  if (d < d.zero()) throw std::invalid_argument("halt::timeout: negative duration");
  return detail::timeout_task<std::chrono::steady_clock>(
      detail::saturating_deadline<std::chrono::steady_clock>(d), std::move(t));
}

/// timeout_at for a halt::task (`at` on `Clock`).
template <class Clock, class Duration, class T>
task<T> timeout_at(std::chrono::time_point<Clock, Duration> at, task<T> t) {
  return detail::timeout_task<Clock>(std::chrono::ceil<typename Clock::duration>(at), std::move(t));
}

} // namespace halt
