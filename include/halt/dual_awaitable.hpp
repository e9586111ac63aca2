// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::dual_awaitable<T>: what halt's waits return so that both coroutine types await them
// natively. It is an asio::awaitable<T> (an asio::awaitable co_awaits it, or stores it as one),
// and it carries the same wait in a form a halt::task awaits without co_spawn.
//
//   template <class T, class TaskForm = halt::task<T>>
//   class dual_awaitable : public asio::awaitable<T> {     // move-only; [[nodiscard]]
//     dual_awaitable(asio::awaitable<T> a, TaskForm t);    // the same wait, twice
//     halt::task<T> as_task() &&;                          // the task form (to race it in
//                                                          // halt::select over tasks, say)
//     auto in_task() &&;                                   // what a halt::task's co_await uses
//   };
//   template <class T> using join_awaitable = dual_awaitable<join_result<T>, ...>;  // join_handle.hpp
//
// Returned by: cancellation_token::cancelled(), join_handle::join() and cancel_and_join()
// (join_awaitable<T>), join_set::join_next() and shutdown(), task_tracker::wait().
//
// TaskForm is a halt::task<T>, or an operation: an object callable with a completion token,
// whose co_await std::move(op)(halt::use_task) gives T (join_awaitable's form: the join operation
// itself, with no task frame). Inside a halt::task, `co_await x` is `co_await
// std::move(x).in_task()`: the task form, awaited as a child task or as the operation; the
// asio::awaitable form is destroyed unstarted (it never ran: none of its code runs). In an
// asio::awaitable, co_await x uses the asio::awaitable form and the task form is destroyed
// unstarted with x. Either way exactly one of the two runs, once.
//
// Cost: both forms are made when the wait is called (one coroutine frame each, from Asio's and
// halt's per-thread recycling caches; an operation form has no frame), and the unused one is
// destroyed unstarted. That is far less than the co_spawn (an allocation and a post) a task
// would otherwise pay to await an asio::awaitable.
//
// Bad input: in_task() or as_task() of a moved-from dual_awaitable (or a second call) throws
// halt::system_error with halt::errc::no_state. Thread safety: a plain move-only value.

#include <halt/detail/config.hpp>
#include <halt/error.hpp>
#include <halt/task.hpp>

#include <halt/detail/asio.hpp>

#include <optional>
#include <type_traits>
#include <utility>

namespace halt {

namespace detail {
// The completion token a coroutine of type Co awaits an operation with, for code written once for
// both coroutine types (the two forms of a dual_awaitable).
template <class Co>
auto coro_token() {
  if constexpr (tsk::is_task<Co>::value)
    return use_task_t{};
  else
    return asio::use_awaitable;
}
} // namespace detail

template <class T, class TaskForm = task<T>>
class [[nodiscard]] dual_awaitable : public asio::awaitable<T> {
  static constexpr bool is_task_form = detail::tsk::is_task<TaskForm>::value;

public:
  using value_type = T;

  dual_awaitable(asio::awaitable<T> a, TaskForm t) noexcept(std::is_nothrow_move_constructible_v<TaskForm>)
      : asio::awaitable<T>(std::move(a)), form_(std::in_place, std::move(t)) {}
  // Leaves the source empty (a moved-from std::optional would still hold a moved-from form).
  dual_awaitable(dual_awaitable&& o) noexcept(std::is_nothrow_move_constructible_v<TaskForm>)
      : asio::awaitable<T>(std::move(static_cast<asio::awaitable<T>&>(o))), form_(std::move(o.form_)) {
    o.form_.reset();
  }
  dual_awaitable& operator=(dual_awaitable&&) = delete;

  /// The task form, as a halt::task<T> (lazy: nothing runs until it is awaited or started).
  task<T> as_task() && {
    TaskForm f = take();
    if constexpr (is_task_form)
      return f;
    else
      return halt::as_task(std::move(f));
  }

  /// For a halt::task's co_await (task.hpp): the task form's awaiter.
  auto in_task() && {
    TaskForm f = take();
    if constexpr (is_task_form) {
      if (!f.valid()) throw halt::system_error(make_error_code(errc::no_state), "halt::dual_awaitable");
      return detail::tsk::task_awaiter<T>(detail::tsk::task_access::release(f));
    }
    else {
      return std::move(f)(use_task_t{});
    }
  }

private:
  // Takes the task form; the asio::awaitable form is destroyed unstarted.
  TaskForm take() {
    if (!form_) throw halt::system_error(make_error_code(errc::no_state), "halt::dual_awaitable");
    asio::awaitable<T> unused(std::move(static_cast<asio::awaitable<T>&>(*this)));
    TaskForm f(std::move(*form_));
    form_.reset();
    return f;
  }

  std::optional<TaskForm> form_;
};

namespace detail {
template <class A>
struct is_dual : std::false_type {};
template <class T, class F>
struct is_dual<dual_awaitable<T, F>> : std::true_type {};
} // namespace detail

} // namespace halt
