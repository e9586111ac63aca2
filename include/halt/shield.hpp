// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// Async cleanup: shield work from cancellation, and run a cleanup that co_awaits on every way a
// piece of work can end.
//
//   asio::awaitable<T> shield(asio::awaitable<T> aw);
//   asio::awaitable<T> shield(asio::awaitable<T> aw, std::chrono::duration<Rep, Period> limit);
//   asio::awaitable<T> finally(asio::awaitable<T> work, F cleanup);          // cleanup() -> awaitable<void>
//   asio::awaitable<T> finally(asio::awaitable<T> work, F cleanup, E on_cleanup_error);
//
// shield(aw)
// - Runs `aw` to completion as its own thread of execution on the caller's executor, with no
//   cancellation slot: an abort of the enclosing task, or an outer select/timeout, does not reach
//   it. Its value or exception is passed on.
// - The cancellation is not lost: Asio latches it in the enclosing coroutine, so the enclosing
//   coroutine's first co_await after the shield throws operation_aborted (level-triggered).
// - Asio rule: a coroutine whose cancellation is latched throws from every co_await, including
//   `co_await shield(...)`, until `co_await asio::this_coro::throw_if_cancelled(false)` (or
//   reset_cancellation_state()). finally() does this for you.
// - shield(aw, limit) bounds the shield (Trio's lesson: an unbounded shield can hang shutdown):
//   when `limit` passes, `aw` is cancelled (terminal) and, once it has unwound, the shield throws
//   halt::system_error(halt::errc::timed_out). A negative limit throws std::invalid_argument.
//
// finally(work, cleanup[, on_cleanup_error])
// - Runs `work`. However it ends (a value, an exception, a cancellation or an abort), it then runs
//   `co_await cleanup()` shielded, even though the enclosing coroutine was cancelled, and
//   afterwards passes on work's original outcome: the value, or the original exception.
// - If work failed and cleanup throws too, the original exception is kept; cleanup's exception is
//   handed to on_cleanup_error(std::exception_ptr) if given, and dropped otherwise. If work
//   succeeded and cleanup throws, that exception propagates (work's value is destroyed).
// - The enclosing coroutine's throw_if_cancelled setting is restored afterwards, so a
//   cancellation that arrived during work or cleanup is delivered at its next co_await.
// - `cleanup` is called (to create its awaitable) only when work has ended.
//
// Thread safety: as for any awaitable. The shielded work runs on the caller's executor; the caller
// is suspended meanwhile, so the two never run at the same time.

#include <halt/detail/config.hpp>
#include <halt/detail/group.hpp>
#include <halt/error.hpp>
#include <halt/sleep.hpp>
#include <halt/detail/task_group.hpp>
#include <halt/detail/typed_groups.hpp>
#include <halt/task.hpp>
#include <halt/timeout.hpp>

#include <halt/detail/asio.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace halt {

namespace detail {
template <class T>
asio::awaitable<std::optional<T>> optional_of(asio::awaitable<T> a) {
  co_return std::optional<T>(co_await std::move(a));
}

template <class T>
asio::awaitable<T> shield_impl(asio::awaitable<T> aw) {
  auto ex = co_await asio::this_coro::executor;
  // No slot: the enclosing coroutine's cancellation is not forwarded into the shielded thread.
  auto token = asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable);
  // Named, not temporaries inside the co_await: g++ 12 destroys such temporaries twice.
  if constexpr (std::is_void_v<T>) {
    auto op = asio::co_spawn(ex, std::move(aw), token);
    co_await std::move(op);
  } else if constexpr (std::is_default_constructible_v<T>) {
    auto op = asio::co_spawn(ex, std::move(aw), token);
    co_return co_await std::move(op);
  } else {
    auto wrapped = optional_of(std::move(aw));
    auto op = asio::co_spawn(ex, std::move(wrapped), token);
    auto r = co_await std::move(op);
    co_return std::move(*r);
  }
}

struct ignore_cleanup_error {
  void operator()(std::exception_ptr) const noexcept {}
};

template <class T, class F, class E>
asio::awaitable<T> finally_impl(asio::awaitable<T> work, F cleanup, E on_cleanup_error) {
  std::exception_ptr error;
  std::optional<value_t<T>> value;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(work);
      value.emplace();
    } else {
      value.emplace(co_await std::move(work));
    }
  } catch (...) {
    error = std::current_exception();
  }

  // The coroutine may be cancelled (that may be why work ended): let the cleanup's co_await through.
  const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  std::exception_ptr cleanup_error;
  try {
    auto shielded = shield_impl<void>(std::invoke(cleanup));
    co_await std::move(shielded);
  } catch (...) {
    cleanup_error = std::current_exception();
  }
  co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);

  if (error) {
    if (cleanup_error) std::invoke(on_cleanup_error, cleanup_error);
    std::rethrow_exception(error);
  }
  if (cleanup_error) std::rethrow_exception(cleanup_error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*value);
}
} // namespace detail

/// Runs `aw` to completion even if the enclosing task is cancelled or aborted meanwhile; the
/// cancellation is delivered at the enclosing coroutine's next co_await.
template <class T>
asio::awaitable<T> shield(asio::awaitable<T> aw) {
  return detail::shield_impl<T>(std::move(aw));
}

/// A shield with its own deadline: after `limit`, `aw` is cancelled, and once it has unwound the
/// shield throws halt::system_error(halt::errc::timed_out). \throws std::invalid_argument (from
/// the call) if `limit` is negative.
template <class T, class Rep, class Period>
asio::awaitable<T> shield(asio::awaitable<T> aw, std::chrono::duration<Rep, Period> limit) {
  if (!(limit >= limit.zero())) throw std::invalid_argument("halt::shield: negative (or NaN) limit");
  return detail::shield_impl<T>(timeout(limit, std::move(aw)));
}

/// Runs `work`, then `co_await cleanup()` shielded whatever way work ended, then passes on work's
/// outcome. If both fail, work's exception propagates and cleanup's is dropped.
template <class T, class F>
  requires std::is_invocable_r_v<asio::awaitable<void>, F&>
asio::awaitable<T> finally(asio::awaitable<T> work, F cleanup) {
  return detail::finally_impl<T>(std::move(work), std::move(cleanup), detail::ignore_cleanup_error{});
}

/// As above; if both fail, cleanup's exception is handed to on_cleanup_error(std::exception_ptr)
/// before work's exception propagates.
template <class T, class F, class E>
  requires std::is_invocable_r_v<asio::awaitable<void>, F&> && std::is_invocable_v<E&, std::exception_ptr>
asio::awaitable<T> finally(asio::awaitable<T> work, F cleanup, E on_cleanup_error) {
  return detail::finally_impl<T>(std::move(work), std::move(cleanup), std::move(on_cleanup_error));
}

// ---- halt::task forms: the shielded task and the cleanup run inline as branches --------------

namespace detail {
template <class T, class Rep, class Period>
task<T> shield_task_for(task<T> t, std::chrono::duration<Rep, Period> limit) {
  tsk::require_valid(t);
  auto limit_branch = as_task(sleep_operation(sleep_deadline(limit)));
  tsk::fixed_group<tsk::group_base::kind::shield, T, void> g(0, t, limit_branch);
  co_await g;
  auto v = g.winner();
  if (v.index() == 1) throw halt::system_error(make_error_code(errc::timed_out), "halt::shield");
  if constexpr (!std::is_void_v<T>) co_return std::move(std::get<0>(v));
}
} // namespace detail

/// shield for a halt::task: a drop of the awaiting task (an abort, a lost select) waits until `t`
/// has finished, then continues (t's value is then discarded). Without a drop, t's value or
/// exception. t runs inline, on the awaiting task's executor.
template <class T>
task<T> shield(task<T> t) {
  return detail::tsk::shield_task(std::move(t));
}

/// shield bounded by `limit` (from the start): when it passes, `t` is dropped and the shield
/// throws halt::system_error(halt::errc::timed_out) (or, if the awaiting task is being dropped,
/// that drop continues). \throws std::invalid_argument (from the call) if `limit` is negative.
template <class T, class Rep, class Period>
task<T> shield(task<T> t, std::chrono::duration<Rep, Period> limit) {
  if (!(limit >= limit.zero())) throw std::invalid_argument("halt::shield: negative (or NaN) limit");
  return detail::shield_task_for(std::move(t), limit);
}

/// finally for a halt::task: however `work` ends (a value, an exception, or a drop of the awaiting
/// task), `co_await cleanup()` runs to completion, shielded from drops, and may co_await; then
/// work's outcome is passed on (or the drop continues). Error rules as for the awaitable form.
template <class T, class F>
  requires std::is_invocable_r_v<task<void>, F&>
task<T> finally(task<T> work, F cleanup) {
  return detail::tsk::finally_task(std::move(work), std::move(cleanup), detail::ignore_cleanup_error{});
}

template <class T, class F, class E>
  requires std::is_invocable_r_v<task<void>, F&> && std::is_invocable_v<E&, std::exception_ptr>
task<T> finally(task<T> work, F cleanup, E on_cleanup_error) {
  return detail::tsk::finally_task(std::move(work), std::move(cleanup), std::move(on_cleanup_error));
}

} // namespace halt
