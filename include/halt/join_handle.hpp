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
//     asio::awaitable<join_result<T>> join();
//     asio::awaitable<join_result<T>> cancel_and_join();
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
//   abort, no code after the co_await runs), and join reports cancelled. It is started directly
//   on its strand (no co_spawn). Its T must be default-constructible.
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
// halt::system_error(halt::errc::no_state); is_finished() on an empty handle is false.
// Thread safety: abort(), is_finished() and abort_handle copies may be used from any thread. One
// join_handle object is used by one thread at a time, and it should have one join pending at once.

#include <halt/detail/config.hpp>
#include <halt/detail/task_state.hpp>
#include <halt/error.hpp>
#include <halt/join_result.hpp>
#include <halt/task.hpp>

#include <halt/detail/asio.hpp>
#include <halt/detail/associators.hpp>

#include <concepts>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {

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

template <class Body>
struct task_body;
template <class T>
struct task_body<asio::awaitable<T>> {
  using type = T;
};
template <class T>
struct task_body<halt::task<T>> {
  using type = T;
};

// True if the body is a halt::task, or a callable returning one (it is then started directly, as
// an Asio operation, without co_spawn; abort() drops it).
template <class Body>
inline constexpr bool is_task_body = [] {
  if constexpr (tsk::is_task<Body>::value)
    return true;
  else if constexpr (std::is_invocable_v<Body&>)
    return tsk::is_task<std::invoke_result_t<Body&>>::value;
  else
    return false;
}();

// Owns a task's body (an awaitable<T>, or a callable returning one). Moving it leaves the source
// empty, so the coroutine frame's parameter copy owns nothing once the body is moved out of it.
template <class Body>
struct body_box {
  std::optional<Body> b;

  explicit body_box(Body&& x) : b(std::in_place, std::move(x)) {}
  body_box(body_box&& o) noexcept(std::is_nothrow_move_constructible_v<Body>) : b(std::move(o.b)) {
    o.b.reset();
  }
  body_box& operator=(body_box&&) = delete;

  // The awaitable to run. For a callable, the result may refer to the callable, which stays in
  // this box until the awaitable has finished.
  auto start() {
    if constexpr (requires { typename task_body<Body>::type; })
      return std::move(*b);
    else
      return (*b)();
  }
};

// Reports the task's outcome. If the task's frame is destroyed before it finished (its execution
// context went away), the task reports cancelled.
template <class T>
struct finish_guard {
  std::shared_ptr<coro_task<T>> st;

  explicit finish_guard(std::shared_ptr<coro_task<T>> s) noexcept : st(std::move(s)) {}
  finish_guard(const finish_guard&) = delete;
  finish_guard& operator=(const finish_guard&) = delete;
  ~finish_guard() {
    if (st) finish(join_result<T>::cancelled(), false); // in a destructor: post the joins
  }
  void finish(join_result<T> r, bool may_run_inline = true) {
    auto s = std::move(st);
    s->running_ = false;
    s->finish(std::move(r), may_run_inline);
  }
};

// The task's coroutine, co_spawned on the task's strand. It catches what escapes the body (an
// abort arrives as operation_aborted: matched by the catch clause, with no rethrow), lets the
// body's frames and the callable's captures go, and then reports, so that a join completes as
// soon as the task is done, without waiting for co_spawn's completion.
template <class T, class Body>
asio::awaitable<void> run_task(std::shared_ptr<coro_task<T>> s, body_box<Body> box) {
  finish_guard<T> guard(std::move(s)); // declared first: destroyed last
  std::optional<join_result<T>> out;
  {
    body_box<Body> body(std::move(box));
    try {
      auto aw = body.start();
      if constexpr (std::is_void_v<T>) {
        co_await std::move(aw);
        out.emplace(join_result<T>::from_value({}));
      } else {
        auto v = co_await std::move(aw);
        out.emplace(join_result<T>::from_value(std::move(v)));
      }
    } catch (const halt::system_error& e) {
      if (e.code() == asio::error::operation_aborted && guard.st->abort_requested())
        out.emplace(join_result<T>::cancelled());
      else
        out.emplace(join_result<T>::from_exception(std::current_exception()));
    } catch (...) {
      out.emplace(join_result<T>::from_exception(std::current_exception()));
    }
  } // the body's frames and captures are gone before the task reports
  guard.finish(std::move(*out));
}

// co_spawn's completion of run_task. It keeps the task state, and with it the cancellation
// signal that co_spawn's frames refer to, until they are done. run_task catches what the body
// throws; what reaches here was thrown by a joiner's handler that finish() ran inline, and is
// rethrown, so that it leaves the io_context's run() as it would have from a posted handler.
//
// Its cancellation slot (the task's signal, which abort() emits on) is a member, not an
// asio::bind_cancellation_slot binder: co_spawn of Asio 1.26 (Boost 1.81) keeps a copy of the
// executor in the cancellation handler it installs on that slot whenever the completion handler's
// associated executor looks specialised, which that release's binder always does. The copy (of
// the task's strand) would then live in the task state, which a join_handle may keep after the
// execution context is gone, and its destruction would touch the destroyed strand service.
template <class T>
struct task_end {
  std::shared_ptr<coro_task<T>> st;

  using cancellation_slot_type = asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return st->sig_.slot(); }

  void operator()(std::exception_ptr e) const {
    if (e) std::rethrow_exception(e);
  }
};

// The completion of a spawned halt::task. It keeps a callable body (whose captures the task may
// use, at the callable's address: hence on the heap) until the task's frames are gone. Destroyed uncalled (the task's execution context went
// away, after its frames were destroyed), it reports cancelled, as finish_guard does.
template <class T, class Body>
struct task_done {
  std::shared_ptr<coro_task<T>> st;
  std::unique_ptr<Body> keep;

  task_done(std::shared_ptr<coro_task<T>> s, std::unique_ptr<Body> k) noexcept
      : st(std::move(s)), keep(std::move(k)) {}
  task_done(task_done&&) noexcept = default;
  task_done& operator=(task_done&&) = delete;
  ~task_done() {
    if (st) report(join_result<T>::cancelled(), false); // in a destructor: post the joins
  }

  void operator()(std::exception_ptr e) requires std::is_void_v<T> {
    report(e ? outcome(e) : join_result<T>::from_value({}), true);
  }
  template <class V>
    requires(!std::is_void_v<T>) && std::is_same_v<std::decay_t<V>, T>
  void operator()(std::exception_ptr e, V&& v) {
    report(e ? outcome(e) : join_result<T>::from_value(std::forward<V>(v)), true);
  }

private:
  join_result<T> outcome(const std::exception_ptr& e) const {
    // A drop completes with the shared dropped_exception(); comparing is enough (no rethrow).
    if (st->abort_requested() &&
        (e == tsk::dropped_exception() || is_system_error(e, asio::error::operation_aborted)))
      return join_result<T>::cancelled(); // dropped by abort()
    return join_result<T>::from_exception(e);
  }
  void report(join_result<T> r, bool may_run_inline) {
    keep.reset();
    auto s = std::move(st);
    s->running_ = false;
    s->finish(std::move(r), may_run_inline);
  }
};

// Posted by spawn(): starts the task on its strand, or drops it if it was aborted first.
template <class T, class Body>
struct task_start {
  std::shared_ptr<coro_task<T>> st;
  std::optional<Body> body; // reset before an unstarted task reports, so its captures go first

  template <class B>
  task_start(std::shared_ptr<coro_task<T>> s, B&& b) : st(std::move(s)), body(std::forward<B>(b)) {}
  // Not noexcept for a body whose move throws: Asio then frees what it allocated, and the task
  // never starts (its spawn() throws).
  task_start(task_start&&) noexcept(std::is_nothrow_move_constructible_v<Body>) = default;
  task_start& operator=(task_start&&) = delete;
  ~task_start() {
    if (st) { // never started: the context went away
      body.reset();
      st->finish(join_result<T>::cancelled(), false);
    }
  }

  void operator()() {
    serial_scope scope(st->check_); // the start, and the body's run up to its first suspension
    // For abort(). Before st moves: if this throws, the destructor reports the task cancelled.
    st->abort_svc_ = &asio::use_service<wait_service>(context_of(*st->strand_));
    auto s = std::move(st);
    if (!s->begin_start()) {
      body.reset(); // what the task owns is destroyed before join reports
      s->finish(join_result<T>::cancelled());
      return;
    }
    if constexpr (is_task_body<Body>) {
      try {
        auto ex = *s->strand_;
        auto slot = s->sig_.slot();
        std::unique_ptr<Body> keep;
        halt::task<T> t;
        if constexpr (tsk::is_task<Body>::value) {
          t = std::move(*body);
        } else {
          keep = std::make_unique<Body>(std::move(*body));
          t = (*keep)();
        }
        body.reset();
        // Started inline (we are on its executor): it runs to its first suspension here.
        std::move(t)(ex, asio::bind_cancellation_slot(slot, task_done<T, Body>(s, std::move(keep))));
      } catch (...) {
        if (s->is_finished()) throw; // a joiner's handler run inline threw: let it leave run()
        body.reset();
        s->running_ = false;
        s->finish(join_result<T>::from_exception(std::current_exception()));
      }
    } else {
      try {
        auto ex = *s->strand_;
        auto coro = run_task<T, Body>(s, body_box<Body>(std::move(*body)));
        body.reset();
        asio::co_spawn(ex, std::move(coro), task_end<T>{s}); // the slot: task_end's member
      } catch (...) {
        // A joiner's handler that finish() ran inline threw: let it leave run().
        if (s->is_finished()) throw;
        // The start itself failed (std::bad_alloc from co_spawn, the body's move threw) before
        // the task's coroutine ran: the task reports that exception, so its joiners complete.
        body.reset();
        s->running_ = false;
        s->finish(join_result<T>::from_exception(std::current_exception()));
      }
    }
  }
};

// The T of what spawn() accepts: an awaitable<T> or a halt::task<T>, or a callable returning one.
template <class B>
struct spawn_value {
  using type = typename task_body<std::invoke_result_t<B&>>::type;
};
template <class T>
struct spawn_value<asio::awaitable<T>> {
  using type = T;
};
template <class T>
struct spawn_value<halt::task<T>> {
  using type = T;
};
template <class Body>
using spawn_value_t = typename spawn_value<std::decay_t<Body>>::type;

template <class F>
concept awaitable_factory = requires(std::decay_t<F>& f) {
  typename task_body<std::invoke_result_t<std::decay_t<F>&>>::type;
};

// Makes the task state; the caller wires hooks, then calls launch().
template <class T>
std::shared_ptr<coro_task<T>> make_task(asio::any_io_executor ex) {
  return std::make_shared<coro_task<T>>(serial_executor(ex));
}

// Launching is split in two so that spawn() can register the task in between: make_start takes
// the body (copying an lvalue body can throw) and post_start queues the start (std::bad_alloc).
// If post_start throws, the start was not queued and `start`, still owning the task, finishes it
// as cancelled when it is destroyed: clear the task's hook first to run no hook for it.
template <class T, class Body>
task_start<T, std::decay_t<Body>> make_start(const std::shared_ptr<coro_task<T>>& st, Body&& body) {
  return task_start<T, std::decay_t<Body>>(st, std::forward<Body>(body));
}
template <class T, class Body>
void post_start(task_start<T, Body>& start) {
  auto ex = *start.st->strand_;
  asio::post(ex, std::move(start));
}

template <class T, class Body>
void launch(const std::shared_ptr<coro_task<T>>& st, Body&& body) {
  auto start = make_start<T>(st, std::forward<Body>(body));
  post_start(start);
}

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
  asio::awaitable<join_result<T>> join() const { return async_join(asio::use_awaitable); }

  /// Aborts the task, waits for it to finish, and returns its result: cancelled, or the value or
  /// exception it finished with anyway.
  asio::awaitable<join_result<T>> cancel_and_join() const {
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
  asio::awaitable<join_result<T>> join() const { return h_.join(); }
  asio::awaitable<join_result<T>> cancel_and_join() const { return h_.cancel_and_join(); }
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
  requires(detail::awaitable_factory<Body> ||
           requires { typename detail::task_body<std::decay_t<Body>>::type; })
auto spawn(ExOrCtx&& ex, Body&& body) {
  using T = detail::spawn_value_t<Body>;
  auto st = detail::make_task<T>(detail::to_executor(std::forward<ExOrCtx>(ex)));
  detail::launch<T>(st, std::forward<Body>(body));
  return join_handle<T>(st);
}

} // namespace halt

// Every associator of the caller's handler: executor, allocator, cancellation slot, immediate
// executor (Asio 1.28 on), ... (detail/associators.hpp).
template <template <class, class> class Associator, class Handler, class T, class DefaultCandidate>
struct halt::asio::associator<Associator, halt::detail::join_completion<Handler, T>, DefaultCandidate>
    : halt::detail::forward_associator<Associator, halt::detail::join_completion<Handler, T>, Handler,
                                       DefaultCandidate> {};
