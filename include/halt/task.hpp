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
//   is destroyed without being called, as Asio does for its own operations.
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
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {

namespace detail::tsk {

template <class T>
struct start_signature {
  using type = void(std::exception_ptr, T);
};
template <>
struct start_signature<void> {
  using type = void(std::exception_ptr);
};

// Set while root::finish schedules its completion: the completion marks it when it runs inline,
// so that finish tells the handler's exception from a failure to schedule it.
inline thread_local bool* completion_entered = nullptr;

// The exception_ptr a dropped task completes with: one object for every drop (made once), so a
// drop neither allocates nor builds a message, and a receiver can recognise it by comparison.
inline const std::exception_ptr& dropped_exception() noexcept {
  static const std::exception_ptr e =
      std::make_exception_ptr(halt::system_error(asio::error::operation_aborted));
  return e;
}

// A drop emitted from another executor than the task's (the start slot of a task awaited by a
// task on another strand, say): the slot's handler posts the drop to the task's executor, where
// the root is, if it still is. The link is shared by the slot's handler and the root, and freed
// by the last of them; its root pointer is touched only on the task's executor.
struct remote_link {
  std::atomic<int> refs{2};
  root_base* r;
  asio::any_io_executor ex;
  remote_link(root_base* root, asio::any_io_executor e) : r(root), ex(std::move(e)) {}
  static void release(remote_link* l) noexcept {
    if (l->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete l;
  }
  static void cut(remote_link* l) noexcept { // by the root, on its executor, as it goes
    l->r = nullptr;
    release(l);
  }
};

// A started chain: owns its outermost frame and the completion handler.
template <class T, class Handler>
class root final : public root_base {
  using handler_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;
  using work_executor = std::decay_t<decltype(asio::prefer(
      std::declval<handler_executor>(), asio::execution::outstanding_work.tracked))>;
  using allocator = typename std::allocator_traits<asio::associated_allocator_t<
      Handler, asio::recycling_allocator<void>>>::template rebind_alloc<root>;

public:
  root(asio::any_io_executor ex, Handler&& h)
      : root_base(&own_ex_), own_ex_(std::move(ex)), handler_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(handler_, own_ex_),
                           asio::execution::outstanding_work.tracked)) {}

  static root* create(asio::any_io_executor ex, Handler&& h) {
    allocator a(asio::get_associated_allocator(h, asio::recycling_allocator<void>()));
    root* p = std::allocator_traits<allocator>::allocate(a, 1);
    try {
      return ::new (static_cast<void*>(p)) root(std::move(ex), std::move(h));
    } catch (...) {
      std::allocator_traits<allocator>::deallocate(a, p, 1);
      throw;
    }
  }

  asio::cancellation_slot start_slot_;
  remote_link* remote_ = nullptr; // set when the start slot's emitter runs on another executor

  void finish(bool dropped) override {
    std::exception_ptr e;
    std::optional<value_holder> v;
    if (dropped) {
      e = dropped_exception();
    } else {
      auto& p = std::coroutine_handle<promise<T>>::from_address(frame_.address()).promise();
      e = p.error_;
      if constexpr (!std::is_void_v<T>) {
        if (!e) {
          try {
            v.emplace(value_holder::make(std::move(*p.value_)));
          } catch (...) { // the value's move (or its box) threw: that is the task's outcome
            e = std::current_exception();
          }
        }
      }
      std::exchange(frame_, nullptr).destroy();
    }
    const bool post = initiating == this; // never complete inline inside the starting call
    // The start slot belongs to the handler's executor. When that is the task's, clear it here;
    // otherwise it is cleared by the completion, on the handler's executor, and a drop that
    // arrives meanwhile finds the link cut.
    asio::cancellation_slot remote_slot;
    if (remote_) {
      remote_slot = start_slot_;
      remote_link::cut(std::exchange(remote_, nullptr));
    } else if (start_slot_.is_connected()) {
      start_slot_.clear();
    }
    allocator a(asio::get_associated_allocator(handler_, asio::recycling_allocator<void>()));
    Handler h(std::move(handler_));
    work_executor w(std::move(work_));
    destroy_self(a);
    auto complete = [h = std::move(h), e = std::move(e), v = std::move(v), remote_slot]() mutable {
      if (completion_entered) *std::exchange(completion_entered, nullptr) = true;
      if (remote_slot.is_connected()) remote_slot.clear();
      if constexpr (std::is_void_v<T>) {
        (void)v; // always empty for void
        std::move(h)(e);
      } else if (v) {
        std::move(h)(e, std::move(*v).take());
      } else {
        std::move(h)(e, T{});
      }
    };
    // What the handler throws when dispatched inline propagates (Asio lets it leave run());
    // a completion that cannot be scheduled at all (bad_alloc) is dropped: its handler is
    // destroyed uncalled, as when the execution context shuts down.
    bool entered = false;
    bool* const outer = std::exchange(completion_entered, &entered);
    try {
      if (post)
        asio::post(w, std::move(complete));
      else
        asio::dispatch(w, std::move(complete));
    } catch (...) {
      completion_entered = outer;
      if (entered) throw;
      return;
    }
    completion_entered = outer;
  }

  // Abandoned (the execution context is being destroyed): as Asio's own operations do, the start
  // slot is left alone (its signal may already be gone). Its handler now refers to freed memory:
  // the signal must not be emitted again (it usually goes with the handler's owner, destroyed
  // here).
  void discard() noexcept override {
    if (remote_) remote_link::cut(std::exchange(remote_, nullptr));
    if (frame_) std::exchange(frame_, nullptr).destroy();
    destroy_self();
  }

private:
  // The value on its way to the handler: T itself, or boxed when T's move may throw, so that
  // moving the completion around (into Asio's queue) cannot throw.
  struct value_holder {
    using V = std::conditional_t<std::is_void_v<T>, char, T>;
    static constexpr bool boxed = !std::is_nothrow_move_constructible_v<V>;
    std::conditional_t<boxed, std::unique_ptr<V>, V> value;
    static value_holder make(V&& x) {
      if constexpr (boxed)
        return value_holder{std::make_unique<V>(std::move(x))};
      else
        return value_holder{std::move(x)};
    }
    V take() && {
      if constexpr (boxed)
        return std::move(*value);
      else
        return std::move(value);
    }
  };

  void destroy_self() noexcept {
    destroy_self(allocator(asio::get_associated_allocator(handler_, asio::recycling_allocator<void>())));
  }
  void destroy_self(allocator a) noexcept {
    this->~root();
    std::allocator_traits<allocator>::deallocate(a, this, 1);
  }

  asio::any_io_executor own_ex_;
  Handler handler_;
  work_executor work_;
};

struct remote_cancel {
  remote_link* l;
  explicit remote_cancel(remote_link* link) noexcept : l(link) {}
  remote_cancel(const remote_cancel&) = delete;
  remote_cancel& operator=(const remote_cancel&) = delete;
  ~remote_cancel() { remote_link::release(l); }
  void operator()(asio::cancellation_type_t t) const {
    if ((t & asio::cancellation_type::terminal) == asio::cancellation_type::none) return;
    l->refs.fetch_add(1, std::memory_order_relaxed);
    struct job {
      remote_link* l;
      job(remote_link* link) noexcept : l(link) {}
      job(job&& o) noexcept : l(std::exchange(o.l, nullptr)) {}
      ~job() {
        if (l) remote_link::release(l);
      }
      void operator()() {
        remote_link* link = std::exchange(l, nullptr);
        root_base* r = link->r;
        remote_link::release(link);
        if (r) r->request_drop();
      }
    };
    asio::dispatch(l->ex, job(l));
  }
};

// Terminal cancellation on the start token's slot drops the task.
struct start_cancel {
  root_base* r;
  void operator()(asio::cancellation_type_t t) const {
    if ((t & asio::cancellation_type::terminal) != asio::cancellation_type::none) r->request_drop();
  }
};

struct start_init {
  template <class Handler, class T>
  void operator()(Handler&& h, task<T> t) const {
    using ex_t = asio::associated_executor_t<std::decay_t<Handler>, asio::system_executor>;
    static_assert(!std::is_same_v<ex_t, asio::system_executor>,
                  "std::move(task)(token): the completion handler has no associated executor to run "
                  "the task on; use std::move(task)(executor, token) or asio::bind_executor");
    (*this)(std::forward<Handler>(h), asio::any_io_executor(asio::get_associated_executor(h, asio::system_executor())),
            std::move(t));
  }

  template <class Handler, class T>
  void operator()(Handler&& h, asio::any_io_executor ex, task<T> t) const {
    if constexpr (!std::is_void_v<T>)
      static_assert(std::is_default_constructible_v<T>,
                    "starting a halt::task<T> needs a default-constructible T (the completion's "
                    "value when the task threw or was dropped), as co_spawn does");
    using root_t = root<T, std::decay_t<Handler>>;
    auto slot = asio::get_associated_cancellation_slot(h);
    serial_check check; // may throw (the service's creation), before anything is built
#if HALT_CHECK_SERIAL
    check = serial_check_for(ex); // a debug build reports two threads inside the chain
#endif
    // Whether a drop emitted on the slot (from the handler's executor) comes from another
    // executor than the task's. A handler executor that any_io_executor cannot hold (use_future's
    // promise executor, say) is another executor.
    using handler_ex_t = asio::associated_executor_t<std::decay_t<Handler>, asio::any_io_executor>;
    bool remote = true;
    if constexpr (std::is_constructible_v<asio::any_io_executor, handler_ex_t>)
      remote = asio::any_io_executor(asio::get_associated_executor(h, ex)) != ex;
    root_t* r = root_t::create(ex, std::move(h));
    r->check_ = check;
    auto& p = t.h_.promise();
    r->frame_ = std::exchange(t.h_, nullptr);
    p.root_ = r;
    p.owner_ = &r->frame_;
    r->leaf_ = &p;
    if (slot.is_connected()) {
      try {
        if (remote) { // the emitter is not on the task's executor
          auto* link = new remote_link(r, r->executor());
          r->remote_ = link;
          slot.template emplace<remote_cancel>(link);
        } else {
          slot.template emplace<start_cancel>(start_cancel{r});
        }
      } catch (...) { // bad_alloc: nothing started; the frame, the root and the handler go
        if (r->remote_) { // the slot's handler was not made: the root's release is the last
          remote_link::release(r->remote_);
          r->remote_ = nullptr;
        }
        r->discard();
        throw;
      }
      r->start_slot_ = slot;
    }
    // r may be gone once dispatch returns (finished inline, or posted and run elsewhere).
    root_base* const outer = std::exchange(initiating, r);
    try {
      asio::dispatch(r->executor(), root_job(r, [](root_base* rb) {
                       if (rb->drop_requested_)
                         rb->drop(); // dropped before it started: nothing of it runs
                       else
                         drive(rb, rb->frame_);
                     }));
    } catch (...) {
      // The job could not be scheduled (bad_alloc): its destruction abandoned the root. Its
      // cancellation handler must not stay in the caller's slot.
      initiating = outer;
      if (slot.is_connected()) slot.clear();
      throw;
    }
    initiating = outer;
  }
};

} // namespace detail::tsk

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
