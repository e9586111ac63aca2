// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// Abortable tasks: halt::spawn, join handles, abort handles (Tokio's JoinHandle, for Asio).
//
//   template <class ExOrCtx, class T> [[nodiscard]] join_handle<T> spawn(ExOrCtx&&, asio::awaitable<T>);
//   template <class ExOrCtx, class F> [[nodiscard]] join_handle<T> spawn(ExOrCtx&&, F&& f); // f() -> awaitable<T>
//   template <class ExOrCtx, class T> [[nodiscard]] join_handle<T> spawn(ExOrCtx&&, halt::task<T>);
//                                                     // (or F with f() -> task<T>): started
//                                                     // directly, no co_spawn; abort() drops it
//
//   template <class T> class join_handle {            // move-only; destruction detaches
//     void abort() const;                               // any thread, idempotent, never blocks
//     bool is_finished() const noexcept;
//     halt::abort_handle abort_handle() const;
//     void detach() noexcept;
//     auto async_join(CompletionToken&&);               // void(halt::error_code, join_result<T>)
//     join_awaitable<T> join();                         // an asio::awaitable<join_result<T>>;
//     join_awaitable<T> cancel_and_join();              //   in a halt::task, no co_spawn
//   };
//   class abort_handle { void abort() const; bool is_finished() const noexcept; };  // copyable
//   template <class T> class scoped_task;             // a join_handle that aborts on destruction
//   template <class T> class join_result;             // value | cancelled | exception
//   class join_error;                                 // thrown by join_result::value()
//   detached_exception_handler set_detached_exception_handler(detached_exception_handler);
//                                                     // std::function<void(std::exception_ptr)>
//
// Semantics
// - A task starts the way tokio::spawn does: posted, never run inline inside spawn(). Each task
//   is serialised, so aborting it is race-free on a multi-threaded pool: on a strand you give it
//   runs on that strand; on an io_context that Asio treats as single-threaded (concurrency hint
//   1, ASIO_CONCURRENCY_HINT_1 or an unlocked hint) it runs on the io_context's executor itself;
//   anywhere else (a thread_pool, an io_context with the default hint) on a strand of its own.
//   "Its strand" below means that executor. Such an io_context must not be run from two threads
//   at once (one after the other is fine); a debug build (HALT_CHECK_SERIAL, config.hpp) stops
//   the program with a message when it finds two threads inside halt's code on it at once.
// - abort() delivers terminal cancellation to the task on its strand (dispatched: on a thread
//   that already runs the task's executor it is delivered before abort() returns; the task
//   still resumes through its executor, later). The task stops at its
//   current or next suspension point (the co_await throws operation_aborted), its frames unwind
//   (RAII destructors run), and join reports cancelled. A task aborted before its first run never
//   runs; what it owns is destroyed. After completion abort() has no effect, and a task that
//   catches the cancellation and returns a value anyway reports that value.
//   A halt::task body (task.hpp) is dropped instead: once the operation it waits on has
//   completed, its frames are destroyed innermost first without being resumed (no catch sees the
//   abort, no code after the co_await runs), and join reports cancelled. It runs directly on its
//   strand (no co_spawn, no start operation): its state and the root of its frames are one
//   allocation (detail/spawn_start.hpp). Its T need not be default-constructible.
// - Joining completes through the joiner's executor: dispatched there when the task finishes
//   (so a joiner on the finishing thread's executor resumes at once), posted if the task had
//   already finished (never inline in async_join). Cancelling a join (through its slot, or by
//   racing it) does not cancel the task, and the handle can be joined again. The result can be
//   taken once: a later join completes with halt::errc::result_taken (join() throws it; its
//   message is "halt::join_handle: the result was already taken by an earlier join").
// - If the task's execution context is destroyed before the task finishes, the task's frames are
//   destroyed and it reports cancelled. abort() may run concurrently with that destruction (on
//   another thread): it then queues the cancellation before the context shuts down, or does
//   nothing.
// - A detached task's exception is never dropped silently: an exception that escapes a task whose
//   handle was detached or destroyed (not the operation_aborted an abort ends it with) is passed,
//   once, to the detached-exception handler, on the thread that finishes the task or, if it had
//   already finished, on the thread that detaches it. The default handler writes one line to
//   stderr; set_detached_exception_handler replaces it (any thread; returns the previous one;
//   an empty function restores the default). The handler must not throw (std::terminate). It
//   does not stop the io_context: one failed connection must not take the others down.
//
// Bad input: join/abort/abort_handle on an empty (moved-from, detached) handle throw
// halt::system_error(halt::errc::no_state); is_finished() on an empty handle is false. Spawning
// an empty halt::task throws it too, from spawn(); a callable that returns an empty task makes
// the join report it (the exception).
// Thread safety: abort(), is_finished() and abort_handle copies may be used from any thread. One
// join_handle object is used by one thread at a time, and it should have one join pending at once.

#include <halt/detail/config.hpp>
#include <halt/detail/detached_exception.hpp>
#include <halt/detail/join_op.hpp>
#include <halt/detail/spawn_start.hpp>
#include <halt/detail/task_state.hpp>
#include <halt/dual_awaitable.hpp>
#include <halt/error.hpp>
#include <halt/join_result.hpp>
#include <halt/task.hpp>

#include <halt/detail/asio.hpp>
#include <halt/detail/associators.hpp>

#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {

/// Receives the exception that escaped a detached task (see set_detached_exception_handler).
using detached_exception_handler = std::function<void(std::exception_ptr)>;

/// Sets what receives an exception that escapes a detached task; an empty function restores the
/// default (one line on stderr). Returns the previous handler (empty if it was the default).
/// The handler runs on the thread that finishes the task, or, if the task had already finished,
/// on the thread that detaches it (join_handle::detach or its destructor); it must not throw
/// (std::terminate). Any thread; a task finishing concurrently uses the old or the new handler.
inline detached_exception_handler set_detached_exception_handler(detached_exception_handler h) {
  auto next = h ? std::make_shared<const detached_exception_handler>(std::move(h)) : nullptr;
  auto& s = detail::detached_slot();
  std::lock_guard<std::mutex> g(s.m);
  auto prev = std::exchange(s.h, std::move(next));
  return prev ? *prev : detached_exception_handler();
}

/// A copyable handle that can abort a task and ask whether it finished. It does not keep the
/// task's result alive. Aborting through it works whether or not the join_handle still exists.
class abort_handle {
public:
  abort_handle() noexcept = default;
  explicit abort_handle(std::shared_ptr<detail::task_base> t) noexcept : t_(std::move(t)) {}

  /// Requests the task's abort; see join_handle::abort. \throws no_state if empty.
  void abort() const {
    if (!t_) throw halt::system_error(make_error_code(errc::no_state), "halt::abort_handle::abort");
    t_->abort();
  }
  /// True once the task has finished (its frames are destroyed). False for an empty handle.
  bool is_finished() const noexcept { return t_ && t_->is_finished(); }
  bool valid() const noexcept { return static_cast<bool>(t_); }

  friend bool operator==(const abort_handle& a, const abort_handle& b) noexcept {
    return a.t_ == b.t_;
  }

private:
  std::shared_ptr<detail::task_base> t_;
};

namespace detail {

template <class Handler, class T>
struct join_completion {
  Handler handler;
  std::shared_ptr<task_state<T>> st;

  // Its associators are the handler's (the asio::associator specialisation at the end).
  const Handler& wrapped() const noexcept { return handler; }

  void operator()(halt::error_code ec) {
    if (ec) {
      std::move(handler)(ec, join_result<T>::cancelled());
      return;
    }
    auto r = st->take();
    if (!r) { // an earlier join took the result
      std::move(handler)(make_error_code(errc::result_taken), join_result<T>::cancelled());
      return;
    }
    std::move(handler)(halt::error_code{}, std::move(*r));
  }
};

struct initiate_join {
  template <class Handler, class T>
  void operator()(Handler&& h, std::shared_ptr<task_state<T>> st) const {
    auto& task = *st; // the handle checked for an empty state before initiating
    start_join(task, join_completion<std::decay_t<Handler>, T>{std::forward<Handler>(h), std::move(st)});
  }
};

template <class T, class CompletionToken>
auto async_join(std::shared_ptr<task_state<T>> st, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(halt::error_code, join_result<T>)>(
      initiate_join{}, token, std::move(st));
}

} // namespace detail

namespace detail {
// join_awaitable's task form: the join operation itself (no task frame).
template <class T>
struct join_form {
  std::shared_ptr<task_state<T>> st;
  template <class CompletionToken>
  auto operator()(CompletionToken&& token) && {
    return async_join<T>(std::move(st), std::forward<CompletionToken>(token));
  }
};
} // namespace detail

/// What join() and cancel_and_join() return (dual_awaitable.hpp): an
/// asio::awaitable<join_result<T>>, which a halt::task awaits as async_join(halt::use_task).
template <class T>
using join_awaitable = dual_awaitable<join_result<T>, detail::join_form<T>>;

/// The owner of a spawned task's result. Move-only. Destroying it detaches the task (Tokio's
/// rule); use scoped_task to abort on destruction instead.
template <class T>
class [[nodiscard]] join_handle {
public:
  using value_type = T;

  join_handle() noexcept = default;
  explicit join_handle(std::shared_ptr<detail::task_state<T>> st) noexcept : st_(std::move(st)) {}
  join_handle(join_handle&& o) noexcept : st_(std::move(o.st_)) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      detach();
      st_ = std::move(o.st_);
    }
    return *this;
  }
  ~join_handle() { detach(); }

  bool valid() const noexcept { return static_cast<bool>(st_); }

  /// Requests the task's abort: terminal cancellation at its current or next suspension point.
  /// Any thread; idempotent; never blocks; no effect once finished. \throws no_state if empty.
  void abort() const { require().abort(); }

  /// True once the task has finished and its frames are destroyed. False for an empty handle.
  bool is_finished() const noexcept { return st_ && st_->is_finished(); }

  /// A copyable handle that can abort the task. \throws no_state if empty.
  halt::abort_handle abort_handle() const {
    require();
    return halt::abort_handle(st_);
  }

  /// Lets the task run on with nobody to collect its result. The handle becomes empty.
  void detach() noexcept {
    if (st_) std::exchange(st_, nullptr)->detach();
  }

  /// An Asio operation, signature void(halt::error_code, join_result<T>), that completes when the
  /// task has finished. Errors: operation_aborted if the join itself was cancelled (the task goes
  /// on; join again later), halt::errc::result_taken if an earlier join took the result.
  /// \throws halt::system_error(no_state) if the handle is empty.
  template <class CompletionToken>
  auto async_join(CompletionToken&& token) const {
    require(); // here, not inside the initiation: Asio 1.22 terminates on a throw from there
    return detail::async_join<T>(st_, std::forward<CompletionToken>(token));
  }

  /// `co_await h.join()`: the task's join_result. Throws halt::system_error on the errors above.
  /// In an asio::awaitable an awaitable; in a halt::task the operation itself (join_awaitable).
  join_awaitable<T> join() const {
    return join_awaitable<T>(async_join(asio::use_awaitable), detail::join_form<T>{st_});
  }

  /// Aborts the task, waits for it to finish, and returns its result: cancelled, or the value or
  /// exception it finished with anyway.
  join_awaitable<T> cancel_and_join() const {
    abort();
    return join();
  }

private:
  detail::task_state<T>& require() const {
    if (!st_) throw halt::system_error(make_error_code(errc::no_state), "halt::join_handle");
    return *st_;
  }

  std::shared_ptr<detail::task_state<T>> st_;
};

/// A join_handle that aborts its task when destroyed (Tokio's AbortOnDropHandle). It does not
/// wait for the task to finish.
template <class T>
class [[nodiscard]] scoped_task {
public:
  scoped_task() noexcept = default;
  explicit scoped_task(join_handle<T> h) noexcept : h_(std::move(h)) {}
  scoped_task(scoped_task&&) noexcept = default;
  scoped_task& operator=(scoped_task&& o) noexcept {
    if (this != &o) {
      abort_quietly();
      h_ = std::move(o.h_);
    }
    return *this;
  }
  ~scoped_task() { abort_quietly(); }

  void abort() const { h_.abort(); }
  bool is_finished() const noexcept { return h_.is_finished(); }
  halt::abort_handle abort_handle() const { return h_.abort_handle(); }
  join_awaitable<T> join() const { return h_.join(); }
  join_awaitable<T> cancel_and_join() const { return h_.cancel_and_join(); }
  template <class CompletionToken>
  auto async_join(CompletionToken&& token) const {
    return h_.async_join(std::forward<CompletionToken>(token));
  }
  /// Gives the plain join_handle back; the task is no longer aborted on destruction.
  join_handle<T> release() noexcept { return std::move(h_); }

private:
  void abort_quietly() noexcept {
    if (h_.valid()) {
      try {
        h_.abort();
      } catch (...) { // abort() only throws for an empty handle
      }
    }
  }
  join_handle<T> h_;
};

/// Spawns `body` (an asio::awaitable<T>, or a callable returning one, which is kept alive while
/// the task runs) on its own strand of `ex` (an executor or an execution context).
template <class ExOrCtx, class Body>
  requires detail::spawn_body<Body>
auto spawn(ExOrCtx&& ex, Body&& body) {
  using T = detail::spawn_value_t<Body>;
  auto start = detail::make_start<T>(detail::to_executor(std::forward<ExOrCtx>(ex)), std::forward<Body>(body));
  join_handle<T> h(start.st);
  detail::post_start(start);
  return h;
}

} // namespace halt

// Every associator of the caller's handler: executor, allocator, cancellation slot, immediate
// executor (Asio 1.28 on), ... (detail/associators.hpp).
template <template <class, class> class Associator, class Handler, class T, class DefaultCandidate>
struct halt::asio::associator<Associator, halt::detail::join_completion<Handler, T>, DefaultCandidate>
    : halt::detail::forward_associator<Associator, halt::detail::join_completion<Handler, T>, Handler,
                                       DefaultCandidate> {};
