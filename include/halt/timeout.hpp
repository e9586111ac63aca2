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
//   task<T> timeout(std::chrono::duration<Rep, Period> d, task<T> t);      // inline, see below
//   task<T> timeout_at(std::chrono::time_point<Clock, Duration> at, task<T> t);
//
// Semantics
// - The branch starts first, then a sleep on halt's timing wheel (sleep.hpp: 1 ms resolution,
//   never early; no system call to arm or cancel it, no coroutine frame for the timer).
//   Whichever finishes first wins, and the other is cancelled and waited for (a select of two;
//   see select.hpp). A deadline on another clock than steady_clock is converted when timeout_at
//   is called (a later jump of that clock does not move it).
// - If the branch finishes first, its value (or exception) is the result. An operation that is
//   ready at once returns its value, even with a zero or past deadline.
// - If the deadline passes first, the branch gets terminal cancellation; once it has unwound,
//   timeout throws halt::system_error(halt::errc::timed_out). That is distinct from the enclosing
//   coroutine being cancelled, which fails with asio::error::operation_aborted, as does any
//   operation_aborted that the branch reports on its own.
// - A branch that catches the cancellation and returns a value after the deadline is a loser:
//   its value is destroyed and timeout still throws timed_out.
//
// Bad input: timeout() with a negative duration throws std::invalid_argument (from the call).
// Durations past the wheel's range (about 2 years) saturate: the timeout expires then.
// Over halt::tasks: when the task is ready first, the sleep is never armed; when it wins
// against a pending sleep, the sleep leaves the wheel at once and timeout returns without a
// pass through the context's queue. timeout(d, task) counts `d` from when the task first
// suspends (the clock is read then, not at all if the task is ready at once): the synchronous
// work before that cannot be interrupted anyway. For a deadline that also counts that work, use
// timeout_at(steady_clock::now() + d, task).

#include <halt/detail/config.hpp>
#include <halt/detail/group.hpp>
#include <halt/detail/task_group.hpp>
#include <halt/detail/typed_groups.hpp>
#include <halt/error.hpp>
#include <halt/select.hpp>
#include <halt/sleep.hpp>

#include <halt/detail/asio.hpp>

#include <array>
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

// The timer branch: a sleep on the timing wheel (sleep.hpp); no frame. Completes with the
// sleep's error code (operation_aborted when the group cancels it).
struct sleep_branch {
  using value_type = std::monostate;
  static constexpr bool internal = true; // halt's own: an outer partial cancel is not forwarded
  steady_clock::time_point at;

  template <class State, class Index, class H>
  void start(const asio::any_io_executor& ex, const std::shared_ptr<State>&, Index, H&& h) {
    sleep_initiation{}(std::forward<H>(h), ex, sleep_times{at});
  }
  void drop() noexcept {}
  static outcome<value_type> make(halt::error_code ec) {
    if (ec) return outcome<value_type>::failed(ec);
    return outcome<value_type>::ok();
  }
};

template <class B>
asio::awaitable<timeout_value_t<B>> timeout_impl(steady_clock::time_point at, B branch) {
  using policy = select_policy<branch_value_t<B>, std::monostate>;
  // Named, not temporaries inside the co_await: g++ 12 destroys such temporaries twice.
  auto both = std::make_tuple(make_branch(std::move(branch)), sleep_branch{at});
  auto op = run_group<typename policy::R, fixed_slots<2>>(policy{}, std::move(both), 2, 0);
  auto r = co_await std::move(op);
  auto v = std::move(r).get();
  if (v.index() == 1) throw halt::system_error(make_error_code(errc::timed_out), "halt::timeout");
  if constexpr (!std::is_void_v<timeout_value_t<B>>) co_return std::move(std::get<0>(v));
}

} // namespace detail

/// The branch's value, or halt::system_error(halt::errc::timed_out) once `d` has passed and the
/// branch has unwound. \throws std::invalid_argument (from the call) if `d` is negative.
template <class Rep, class Period, detail::branch_arg B>
asio::awaitable<detail::timeout_value_t<B>> timeout(std::chrono::duration<Rep, Period> d, B branch) {
  if (!(d >= d.zero())) throw std::invalid_argument("halt::timeout: negative (or NaN) duration");
  return detail::timeout_impl(detail::saturating_deadline<std::chrono::steady_clock>(d), std::move(branch));
}

/// The branch's value, or halt::system_error(halt::errc::timed_out) once `at` has passed (on
/// `Clock`) and the branch has unwound. A past deadline still lets a ready branch win.
template <class Clock, class Duration, detail::branch_arg B>
asio::awaitable<detail::timeout_value_t<B>> timeout_at(std::chrono::time_point<Clock, Duration> at, B branch) {
  return detail::timeout_impl(detail::steady_deadline(at), std::move(branch));
}

namespace detail {
// timeout's deadline over a task: a fixed time point (timeout_at), or a duration counted from
// when the sleep is made, that is when the task first suspends (timeout). A task that is ready at
// once then costs no clock read.
struct timeout_deadline {
  steady_clock::time_point at = steady_clock::time_point::min(); // min(): `after` from then
  steady_clock::duration after{};

  template <class Rep, class Period>
  static timeout_deadline in(std::chrono::duration<Rep, Period> d) {
    if (!(d >= d.zero())) throw std::invalid_argument("halt::timeout: negative (or NaN) duration");
    timeout_deadline r;
    if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(steady_clock::duration::max()))
      r.after = steady_clock::duration::max();
    else
      r.after = std::chrono::ceil<steady_clock::duration>(d);
    return r;
  }
  sleep_times resolve() const noexcept {
    if (at != steady_clock::time_point::min()) return {at};
    const auto now = steady_clock::now();
    return {saturating_after<steady_clock>(now, after), now};
  }
};

// timeout over a task: a select of the task and a sleep, in timeout's own frame. The sleep's
// frame is made only if the task is not ready at once.
template <class T>
class timeout_group final : public tsk::group_base {
public:
  timeout_group(task<T>& t, timeout_deadline at) noexcept : group_base(kind::select, 0), at_(at) {
    link(roots_.data(), 2);
    adopt(0, tsk::task_access::release(t));
  }

  // The task's value; timed_out if the sleep won.
  tsk::value_or_mono<T> result() {
    if (error_) std::rethrow_exception(error_);
    if (winner_ == 1) throw halt::system_error(make_error_code(errc::timed_out), "halt::timeout");
    return std::move(*val_);
  }

private:
  void store(std::size_t i) override {
    if (i == 0) val_.emplace(tsk::take_value<T>(roots_[0]));
  }
  void make(std::size_t i) override {
    if (i != 1) return;
    task<void> s = as_task(sleep_operation(at_.resolve()));
    adopt(1, tsk::task_access::release(s));
  }

  std::array<tsk::branch_root, 2> roots_;
  timeout_deadline at_;
  std::optional<tsk::value_or_mono<T>> val_;
};

template <class T>
task<T> timeout_task(timeout_deadline at, task<T> t) {
  tsk::require_valid(t);
  timeout_group<T> g(t, at);
  co_await g;
  if constexpr (std::is_void_v<T>)
    g.result();
  else
    co_return g.result();
}
} // namespace detail

/// timeout for a halt::task: the task's value, or halt::system_error(halt::errc::timed_out) once
/// `d` has passed and the task was dropped. Awaited in a halt::task, it runs inline (no co_spawn).
/// `d` counts from when the task first suspends (a task that is ready at once reads no clock).
template <class Rep, class Period, class T>
task<T> timeout(std::chrono::duration<Rep, Period> d, task<T> t) {
  return detail::timeout_task(detail::timeout_deadline::in(d), std::move(t));
}

/// timeout_at for a halt::task (`at` on `Clock`, converted at the call).
template <class Clock, class Duration, class T>
task<T> timeout_at(std::chrono::time_point<Clock, Duration> at, task<T> t) {
  return detail::timeout_task(detail::timeout_deadline{detail::steady_deadline(at)}, std::move(t));
}

} // namespace halt
