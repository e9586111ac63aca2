// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::task<T>: a lazy coroutine that is cancelled by being dropped, not unwound by an exception.
//
//   template <class T = void> class task {                 // move-only; [[nodiscard]]
//     task() noexcept;                                      // empty (as is a moved-from task)
//     bool valid() const noexcept;
//     auto operator()(Executor ex, CompletionToken&&) &&;   // start: an Asio async operation,
//     auto operator()(ExecutionContext& ctx, CompletionToken&&) &&;   // void(std::exception_ptr, T)
//     auto operator()(CompletionToken&&) &&;                // runs on the handler's executor
//   };                                                      // (void(std::exception_ptr) for void)
//   inline constexpr use_task_t use_task;                   // co_await op(args..., halt::use_task)
//                                                           // (use_task.hpp)
//   task<V> as_task(Op op);       // an operation (callable with a token) as a lazy task; V as
//                                 // co_await op(halt::use_task) gives
//
// Inside a task:
// - co_await task<U>{...} gives U (the task's exception propagates). The child runs on the same
//   executor, started and finished without a post, co_spawn or allocation beyond its frame.
// - co_await op(args..., halt::use_task) awaits any Asio asynchronous operation. The value is
//   the completion's arguments without a leading halt::error_code (or std::exception_ptr): none
//   -> void, one -> that value, several -> std::tuple. A non-zero error code is thrown as
//   halt::system_error (as use_awaitable does), an exception_ptr is rethrown. The handler carries
//   the task's executor, the cancellation slot of the task's chain and asio::recycling_allocator.
//   asio::experimental::as_tuple(halt::use_task) and asio::redirect_error(halt::use_task, ec)
//   work as they do with use_awaitable, and a deferred operation (op(asio::experimental::deferred))
//   can be awaited directly.
// - co_await asio::this_coro::executor gives the task's executor (asio::any_io_executor).
// - co_await of an asio::awaitable<U> gives U (its exception propagates): it is co_spawned on the
//   task's executor with halt::use_task, so it costs what co_spawn costs (an allocation and a
//   post, about 0.3 us here) and is cancelled, when the task is dropped, by Asio's terminal
//   cancellation (an operation_aborted exception inside it), after which the task is dropped.
//   So `co_await handle.join()` works; `co_await handle.async_join(halt::use_task)` is the same
//   without the co_spawn.
// - Nothing else can be awaited (a compile-time error says what can).
//
// Starting. std::move(t)(ex, token) starts the task on `ex` (dispatched: it runs inline when the
// caller already runs on ex, else it is posted) and completes through `token` with
// (exception_ptr, value). std::move(t)(token) uses the handler's associated executor, and does not
// compile for a handler that has none (say: bind one with asio::bind_executor). A task that
// completes inside the starting call completes through a post (never inline in the initiation);
// otherwise its completion is dispatched to the handler's associated executor (default: ex;
// any executor, asio::use_future's promise executor included).
// An exception that escapes the task is the exception_ptr (the value is then T{}: starting a
// task<T> needs a default-constructible T, as co_spawn does).
//
// Drop. Terminal cancellation emitted on the start token's slot (other types are ignored) drops
// the task:
// - if the task is suspended on an operation, terminal cancellation is emitted on that
//   operation's slot; when its handler runs, whatever its result (a value that arrives together
//   with the drop is discarded), the frames are destroyed innermost first WITHOUT being resumed:
//   the destructors of their locals and parameters run, no code after the co_await runs, no
//   catch (not even catch (...)) sees anything. A frame is never destroyed while an operation
//   that may touch it is in flight: an operation that ignores cancellation (async_resolve, say)
//   delays the drop until it completes.
// - a task not started yet is destroyed without running; a running task (one that emitted on
//   its own start slot) is dropped at its next co_await of an operation, before that operation
//   starts. A task that finishes before reaching one reports its result.
// - the completion then reports exception_ptr = halt::system_error(asio::error::operation_aborted)
//   (what co_await std::move(t)(asio::use_awaitable) throws in the awaiting coroutine). It is one
//   shared exception object for every drop, made once: a drop does not allocate.
// - if the task's execution context is destroyed while the task waits, the handler it waits on
//   is destroyed uncalled: the frames are destroyed (innermost first) and the completion handler
//   is destroyed without being called, as Asio does for its own operations. A task may await an
//   operation of another execution context (a timer of io_context B, in a task on A): if B is
//   destroyed first, its handler is destroyed on the thread destroying B, and the frames are
//   then destroyed on the task's executor all the same (the handler posts that there), unless
//   A's destruction has begun too (then on the thread that destroys the handler). Destroy B
//   before A, not A before B while the task waits: Asio's operation of B keeps work of A's
//   executor, which then outlives A.
//
// Thread safety. A started task, its start slot and every operation it awaits belong to its
// executor: emit on the start slot only from code running on that executor (post the emit to
// it, as Asio requires of cancellation_signal anyway), and give a task started on a context run
// by several threads a strand (what the task awaits completes through that executor, so the
// task's frames are never touched by two threads at once). A task object that is not started is
// a plain move-only value.
//
// Bad input: awaiting, or starting, an empty (default-constructed or moved-from) task throws
// halt::system_error with halt::errc::no_state (starting one twice is starting a moved-from one).
//
// Cost: a task<T>'s frame comes from Asio's per-thread recycling cache; co_await of a task is a
// resume in a loop (no post, no allocation beyond the frame); the start allocates one root
// (through the handler's associated allocator). Every resumption goes through that loop, so
// neither a long loop of co_awaits nor a deep chain of nested tasks grows the stack, at any
// optimisation level.

#include <halt/detail/config.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/task_op.hpp>
#include <halt/detail/task_start.hpp>
#include <halt/error.hpp>
#include <halt/use_task.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {

template <class T = void>
class [[nodiscard]] task {
  static_assert(!std::is_reference_v<T>, "halt::task<T&> is not supported: return a pointer or a std::reference_wrapper");

public:
  using promise_type = detail::tsk::promise<T>;
  using value_type = T;

  task() noexcept = default;
  task(task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~task() { reset(); }

  /// False for an empty (default-constructed, moved-from or started) task.
  bool valid() const noexcept { return static_cast<bool>(h_); }

  /// Starts the task on `ex` (an executor or an execution context); completes with
  /// void(std::exception_ptr, T) (void(std::exception_ptr) for void). \throws halt::system_error
  /// (halt::errc::no_state) if the task is empty.
  template <class ExOrCtx, class CompletionToken>
    requires(asio::execution::is_executor<std::decay_t<ExOrCtx>>::value ||
             std::is_convertible_v<ExOrCtx&, asio::execution_context&>)
  auto operator()(ExOrCtx&& ex, CompletionToken&& token) && {
    if (!h_) throw halt::system_error(make_error_code(errc::no_state));
    if constexpr (std::is_convertible_v<ExOrCtx&, asio::execution_context&>)
      return asio::async_initiate<CompletionToken, signature>(
          detail::tsk::start_init{}, token, asio::any_io_executor(ex.get_executor()), std::move(*this));
    else
      return asio::async_initiate<CompletionToken, signature>(
          detail::tsk::start_init{}, token, asio::any_io_executor(ex), std::move(*this));
  }

  /// Starts the task on the completion handler's associated executor.
  template <class CompletionToken>
  auto operator()(CompletionToken&& token) && {
    if (!h_) throw halt::system_error(make_error_code(errc::no_state));
    return asio::async_initiate<CompletionToken, signature>(detail::tsk::start_init{}, token,
                                                            std::move(*this));
  }

private:
  friend promise_type;
  friend struct detail::tsk::promise_base;
  friend struct detail::tsk::start_init;
  friend struct detail::tsk::task_access;
  template <class, class>
  friend class detail::tsk::root;

  using signature = typename detail::tsk::start_signature<T>::type;

  explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  void reset() noexcept {
    if (h_) std::exchange(h_, nullptr).destroy(); // an unstarted frame: runs nothing
  }

  std::coroutine_handle<promise_type> h_;
};

namespace detail::tsk {

template <class T>
task<T> promise<T>::get_return_object() noexcept {
  auto h = std::coroutine_handle<promise<T>>::from_promise(*this);
  self_ = h;
  return task<T>(h);
}
inline task<void> promise<void>::get_return_object() noexcept {
  auto h = std::coroutine_handle<promise<void>>::from_promise(*this);
  self_ = h;
  return task<void>(h);
}

// The frame of a task, for the code that starts one (groups, spawn).
struct task_access {
  template <class T>
  static std::coroutine_handle<promise<T>> release(task<T>& t) noexcept {
    return std::exchange(t.h_, nullptr);
  }
  template <class T>
  static bool valid(const task<T>& t) noexcept {
    return static_cast<bool>(t.h_);
  }
};

// co_spawn's completion needs a default-constructible value (it passes U{} with an exception):
// other values (join_result<T>, say) travel as std::optional<U>.
template <class U, class E>
asio::awaitable<std::optional<U>, E> optional_of(asio::awaitable<U, E> a) {
  co_return co_await std::move(a);
}

template <class Op, class U>
struct unwrap_optional {
  Op op;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return op.await_suspend(h);
  }
  U await_resume() { return std::move(*op.await_resume()); }
};

template <class U, class E>
auto promise_base::await_transform(asio::awaitable<U, E> a) {
  if constexpr (std::is_void_v<U> || std::is_default_constructible_v<U>) {
    return asio::co_spawn(root_->executor(), std::move(a), use_task_t{});
  } else {
    auto op = asio::co_spawn(root_->executor(), optional_of(std::move(a)), use_task_t{});
    return unwrap_optional<decltype(op), U>{std::move(op)};
  }
}

template <class U>
task_awaiter<U> promise_base::await_transform(task<U>&& t) {
  if (!t.h_) throw halt::system_error(make_error_code(errc::no_state));
  return task_awaiter<U>(std::exchange(t.h_, nullptr));
}

// An Asio operation as a task: anything callable with a completion token (a deferred operation,
// [&](auto&& token) { return timer.async_wait(token); }).
template <class Op>
concept task_operation = (!is_task<std::decay_t<Op>>::value) && requires(std::decay_t<Op>&& op) {
  { std::move(op)(use_task_t{}) } -> op_awaitable_type;
};
template <class Op>
using operation_result_t =
    decltype(std::declval<decltype(std::declval<std::decay_t<Op>>()(use_task_t{}))&>().await_resume());

} // namespace detail::tsk

/// The operation `op` (callable with a completion token) as a halt::task whose value is what
/// `co_await op(halt::use_task)` gives: lazy, started when awaited or raced.
template <detail::tsk::task_operation Op>
task<detail::tsk::operation_result_t<Op>> as_task(Op op) {
  if constexpr (detail::tsk::has_in_task<Op>) {
    co_return co_await std::move(op); // its own awaiter (a sleep on the timer wheel)
  } else {
    auto aw = std::move(op)(use_task_t{}); // named: g++ 12 and temporaries in a co_await
    co_return co_await std::move(aw);
  }
}

} // namespace halt
