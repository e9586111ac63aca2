// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// How halt::spawn starts a task (join_handle.hpp, join_set.hpp, task_tracker.hpp). Unstable
// internals.
//
//   auto start = make_start<T>(executor, body);  // the task's state and its body; may throw
//   std::shared_ptr<coro_task<T>> st = start.st; //   (halt::errc::no_state for an empty task)
//   post_start(start);                           // queues the start on the task's strand
//
// An asio::awaitable body (or a callable returning one) is co_spawned by a posted task_start:
// run_task catches what escapes it and reports it into the task's state (a coro_task).
//
// A halt::task body (or a callable returning one) needs no co_spawn: its state is a task_root,
// which is at once the task's shared state (a coro_task: joins, abort, hooks) and the root of
// its chain of frames (tsk::root_base, task_frame.hpp), in one allocation with the body. A posted
// task_root_start runs the chain on the strand; the chain's end (a value, an exception, a drop)
// is written straight into the state: no completion handler, no start slot, and a drop reports
// cancelled without making or inspecting an exception. abort() asks the chain to drop
// (root_base::request_drop, on the strand), which cancels the operation the innermost frame
// waits on; when that operation's handler runs the frames are destroyed without being resumed.
// If the task's execution context is destroyed first, the frames are destroyed with the
// handlers that own them and the task reports cancelled.

#include <halt/detail/config.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/task_state.hpp>
#include <halt/dual_awaitable.hpp>
#include <halt/error.hpp>
#include <halt/join_result.hpp>
#include <halt/task.hpp>

#include <halt/detail/asio.hpp>

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace halt::detail {

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
// A dual_awaitable (h.join(), set.join_next(), ...) is spawned as its task form.
template <class T, class F>
struct task_body<dual_awaitable<T, F>> {
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

// A spawned asio::awaitable body's state: an abort is terminal cancellation on its co_spawn's
// slot (an operation_aborted exception at the body's co_await).
template <class T>
struct awaitable_task final : coro_task<T> {
  using coro_task<T>::coro_task;
  asio::cancellation_signal sig_; // strand only
  serial_check check_ = serial_check_for(this->strand_);
  serial_check entry_check() const noexcept override { return check_; }

private:
  void deliver_abort() override {
    if (this->running_) sig_.emit(asio::cancellation_type::terminal);
  }
};

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
  std::shared_ptr<awaitable_task<T>> st;

  using cancellation_slot_type = asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return st->sig_.slot(); }

  void operator()(std::exception_ptr e) const {
    if (e) std::rethrow_exception(e);
  }
};

// Posted by spawn() for an asio::awaitable body: co_spawns the task on its strand, or drops it if
// it was aborted first.
template <class T, class Body>
struct task_start {
  std::shared_ptr<awaitable_task<T>> st;
  std::optional<Body> body; // reset before an unstarted task reports, so its captures go first

  template <class B>
  task_start(std::shared_ptr<awaitable_task<T>> s, B&& b) : st(std::move(s)), body(std::forward<B>(b)) {}
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
    st->abort_svc_ = &wait_service_of(context_of(st->strand_));
    auto s = std::move(st);
    if (!s->begin_start()) {
      body.reset(); // what the task owns is destroyed before join reports
      s->finish(join_result<T>::cancelled());
      return;
    }
    try {
      auto ex = s->strand_;
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
};

// The T of what spawn() accepts: a body task_body knows (an awaitable<T>, a halt::task<T>, a
// dual_awaitable<T>), or a callable returning one.
template <class B>
struct spawn_value {
  using type = typename task_body<std::invoke_result_t<B&>>::type;
};
template <class B>
  requires requires { typename task_body<B>::type; }
struct spawn_value<B> : task_body<B> {};
template <class Body>
using spawn_value_t = typename spawn_value<std::decay_t<Body>>::type;

template <class F>
concept awaitable_factory = requires(std::decay_t<F>& f) {
  typename task_body<std::invoke_result_t<std::decay_t<F>&>>::type;
};

// What spawn() takes: a coroutine object (asio::awaitable<T>, halt::task<T>, dual_awaitable<T>)
// as an rvalue (it is moved in; an lvalue would be emptied), or a callable returning one (an
// lvalue callable is copied).
template <class Body>
inline constexpr bool is_coroutine_body = requires { typename task_body<std::decay_t<Body>>::type; };
template <class Body>
concept spawn_body = (is_coroutine_body<Body> && !std::is_lvalue_reference_v<Body>) ||
                     (!is_coroutine_body<Body> && awaitable_factory<Body>);


// A spawned halt::task: its shared state and the root of its chain of frames (see the top of this
// file). Body is the halt::task<T> itself, or a callable returning one; the callable stays here,
// at a stable address, until the task's frames are gone (its captures may be used by them). A
// halt::task body's frame is held in frame_ from the start (unstarted until start() runs).
template <class T, class Body>
class task_root final : public coro_task<T>, public tsk::root_base {
  static constexpr bool is_task_body = tsk::is_task<Body>::value;

public:
  template <class B>
  task_root(task_executor ex, B&& body) : coro_task<T>(std::move(ex)), tsk::root_base(&this->strand_) {
    tsk::root_base::check_ = serial_check_for(this->strand_);
    if constexpr (is_task_body)
      frame_ = tsk::task_access::release(body); // a valid task (make_start checked)
    else
      body_.emplace(std::forward<B>(body));
  }
  ~task_root() { drop_body(); } // a frame still here never started

  // The chain's check is the task's (coro_task::entry_check): one copy.
  serial_check entry_check() const noexcept override { return tsk::root_base::check_; }

  // The posted start, on the strand, once begin_start() said the task may run: makes the frame
  // (calls the callable) and runs it to its first suspension, or to its end. Once the chain
  // runs, `self` has moved into self_, which holds the task until the chain ends. May throw:
  // the callable's exception (the task has not started: the caller reports it), or, once the
  // task finished, what a joiner's handler run inline threw.
  void start(std::shared_ptr<task_root>& self) {
    std::coroutine_handle<tsk::promise<T>> h;
    if constexpr (is_task_body) {
      h = std::coroutine_handle<tsk::promise<T>>::from_address(frame_.address());
    } else {
      halt::task<T> t = (*body_)();
      if (!t.valid())
        throw halt::system_error(make_error_code(errc::no_state),
                                 "halt::spawn: the callable returned an empty halt::task");
      h = tsk::task_access::release(t);
    }
    auto& p = h.promise();
    p.root_ = this;
    p.owner_ = &frame_;
    leaf_ = &p;
    frame_ = h;
    self_ = std::move(self);
    tsk::drive(this, frame_); // `this` may be gone once it returns
  }

  // The task never ran (aborted first, or its start was destroyed uncalled): what it owns goes
  // before it reports cancelled.
  void end_unstarted(bool may_run_inline) {
    drop_body();
    this->task_state<T>::finish(join_result<T>::cancelled(), may_run_inline);
  }
  // The callable threw (or returned an empty task) before the task ran.
  void end_failed(std::exception_ptr e) {
    drop_body();
    this->running_ = false;
    this->task_state<T>::finish(join_result<T>::from_exception(std::move(e)));
  }

  // The chain ended: the outermost frame returned, or the chain was dropped (only abort() drops a
  // spawned task's chain).
  void finish(bool dropped) override {
    std::optional<join_result<T>> r;
    if (dropped) {
      r.emplace(join_result<T>::cancelled());
    } else {
      auto& p = std::coroutine_handle<tsk::promise<T>>::from_address(frame_.address()).promise();
      if (p.error_) {
        r.emplace(outcome(p.error_));
      } else if constexpr (std::is_void_v<T>) {
        r.emplace(join_result<T>::from_value({}));
      } else {
        try {
          r.emplace(join_result<T>::from_value(std::move(*p.value_)));
        } catch (...) { // T's move threw: that is the task's outcome
          r.emplace(join_result<T>::from_exception(std::current_exception()));
        }
      }
      std::exchange(frame_, nullptr).destroy();
    }
    end(std::move(*r), true);
  }

  // The chain was abandoned (a handler that owned it was destroyed uncalled: the execution
  // context is going away); its frames are already destroyed. Joins are posted, never run here.
  void discard() noexcept override {
    if (frame_) std::exchange(frame_, nullptr).destroy();
    end(join_result<T>::cancelled(), false);
  }

private:
  // An exception that escaped the task. operation_aborted after an abort counts as cancelled,
  // as for an asio::awaitable task (a drop itself never throws).
  join_result<T> outcome(const std::exception_ptr& e) const {
    if (this->abort_requested() && is_system_error(e, asio::error::operation_aborted))
      return join_result<T>::cancelled();
    return join_result<T>::from_exception(e);
  }

  // Reports r; the task (and with it this object) may be gone once it returns.
  void end(join_result<T> r, bool may_run_inline) {
    drop_body(); // the callable's captures go before the task reports
    this->running_ = false;
    std::shared_ptr<task_root> self = std::move(self_);
    self->task_state<T>::finish(std::move(r), may_run_inline);
  }

  // On the strand: drop the chain (see coro_task::deliver_abort).
  void deliver_abort() override {
    if (this->running_) request_drop();
  }

  // What the task owns, destroyed before it reports: the callable, or the unstarted frame.
  void drop_body() noexcept {
    if constexpr (is_task_body) {
      if (frame_) std::exchange(frame_, nullptr).destroy();
    } else {
      body_.reset();
    }
  }

  struct no_body {};
  [[no_unique_address]] std::conditional_t<is_task_body, no_body, std::optional<Body>> body_;
  std::shared_ptr<task_root> self_; // while the chain runs
};

// Posted by spawn() for a halt::task body: runs the task on its strand, or never runs it if it
// was aborted first. Destroyed uncalled (the execution context went away), it reports cancelled.
template <class T, class Body>
struct task_root_start {
  std::shared_ptr<task_root<T, Body>> st;

  explicit task_root_start(std::shared_ptr<task_root<T, Body>> s) noexcept : st(std::move(s)) {}
  task_root_start(task_root_start&&) noexcept = default;
  task_root_start& operator=(task_root_start&&) = delete;
  ~task_root_start() {
    if (st) st->end_unstarted(false); // in a destructor: post the joins
  }

  void operator()() {
    serial_scope scope(st->entry_check()); // the start, up to the first suspension
    // For abort(), and for a handler lost on another thread (task_frame.hpp). Before st moves:
    // if this throws, the destructor reports the task cancelled.
    st->abort_svc_ = &wait_service_of(context_of(st->strand_));
    st->home_ = st->abort_svc_->serial();
    auto s = std::move(st);
    if (!s->begin_start()) {
      s->end_unstarted(true);
      return;
    }
    try {
      s->start(s);
    } catch (...) {
      if (!s) throw; // the task ran and finished: a joiner's handler run inline threw
      s->end_failed(std::current_exception());
    }
  }
};

// The body and the state of a task about to be spawned on ex (see the top of this file).
// \throws halt::system_error(halt::errc::no_state) for an empty halt::task.
template <class T, class Body>
auto make_start(asio::any_io_executor ex, Body&& body) {
  using B = std::decay_t<Body>;
  if constexpr (is_dual<B>::value) {
    return make_start<T>(std::move(ex), std::forward<Body>(body).as_task()); // an rvalue only
  } else if constexpr (is_task_body<B>) {
    if constexpr (tsk::is_task<B>::value)
      if (!body.valid()) throw halt::system_error(make_error_code(errc::no_state), "halt::spawn: an empty halt::task");
    return task_root_start<T, B>(
        std::make_shared<task_root<T, B>>(serial_executor(ex), std::forward<Body>(body)));
  } else {
    return task_start<T, B>(std::make_shared<awaitable_task<T>>(serial_executor(ex)), std::forward<Body>(body));
  }
}

// Queues the start on the task's strand. If that throws (std::bad_alloc), the start was not
// queued and `start`, still owning the task, reports it cancelled when it is destroyed: clear the
// task's hook first to run no hook for it.
template <class Start>
void post_start(Start& start) {
  // The initiation copies the executor before the start (and the state holding it) moves.
  asio::post(start.st->strand_, std::move(start));
}

} // namespace halt::detail
