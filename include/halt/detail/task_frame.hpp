// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The machinery of halt::task (task.hpp). Unstable internals.
//
// A started task is a chain of frames: the outermost frame (owned by its root) awaits a child
// task, which awaits another, ... down to the innermost frame (the "leaf"), which is either
// running or suspended on one Asio operation (an op_awaitable, task_op.hpp). The root
// (root_base, one per started chain) holds what the chain shares: its executor, the cancellation
// signal whose slot the leaf's operation gets, the leaf, and the drop state. Everything in it is
// touched only on the chain's executor (serialised by the caller: a strand where several
// threads run the context), except nothing: there are no atomics here.
//
// Resumption never nests: every resume of a frame happens in drive(), a loop. A frame that hands
// over to another (a parent starting a child, a child finishing into its parent) stores the
// next frame in root->next_ and suspends; drive() resumes it. This bounds the stack at any
// optimisation level (g++ does not turn symmetric transfer into a tail call at -O0).
//
// Drop: root->request_drop() (the start slot's terminal cancellation) sets drop_requested_ and,
// if the leaf is suspended on an operation, emits terminal on that operation's slot. When the
// operation's handler runs, whatever its result, the chain is destroyed innermost first without
// being resumed, and the root completes with operation_aborted. A leaf that is running (or a
// chain not yet started) is dropped at its next suspension (or at its start) instead, before
// the next operation is initiated. A handler destroyed without being called (its execution
// context destroyed) destroys the chain and the root without completing it ("abandon").

#include <halt/detail/config.hpp>
#include <halt/detail/frame_cache.hpp>
#include <halt/detail/serial_check.hpp>
#include <halt/error.hpp>
#include <halt/use_task.hpp>

#include <halt/detail/asio.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {
template <class T>
class task;

} // namespace halt

namespace halt::detail::tsk {

using detail::frame_allocate; // frame memory: frame_cache.hpp
using detail::frame_deallocate;

struct promise_base;
struct root_base;
struct task_access;
template <class T, class Handler>
class root;

// The root whose starting call (start_init, task_start.hpp) is running on this thread, if any: a
// task that finishes inside it completes through a post, never inline in the initiating function.
inline thread_local root_base* initiating = nullptr;

// The state of the one Asio operation the leaf may be suspended on (op_awaitable derives from it).
struct op_state {
  enum class st : unsigned char {
    idle,
    initiating,      // inside the initiating function
    pending,         // initiated; its handler has not run
    done_inline,     // its handler ran inside the initiating function
    lost_inline,     // its handler was destroyed uncalled inside the initiating function
    done_in_emit,    // its handler ran inside root->request_drop's emit
    lost_in_emit,    // its handler was destroyed uncalled inside that emit
    withdrawn,       // called off (withdraw_), no handler will run; the drop is yet to be queued
  };
  root_base* root_ = nullptr;
  std::coroutine_handle<> frame_;
  // Set by a wait that can be called off at once (a sleep on the timer wheel, sleep.hpp): true
  // if it was, and then no handler will ever run for it.
  bool (*withdraw_)(op_state*) noexcept = nullptr;
  st st_ = st::idle;

  inline void handler_called();             // the handler ran (its result is stored)
  inline void handler_lost() noexcept;      // the handler was destroyed without being called
};

// Something other than an Asio operation that a chain's leaf can wait on: a group of inline
// branches (task_group.hpp). A drop of the chain is passed on to it.
struct sub_waiter {
  virtual void drop_all() = 0;

protected:
  ~sub_waiter() = default;
};

struct root_base {
  enum class act : unsigned char { none, done, drop, abandon };

  explicit root_base(const asio::any_io_executor* ex) noexcept : ex_(ex) {}
  root_base(const root_base&) = delete;
  root_base& operator=(const root_base&) = delete;

  // The chain's executor: a top-level root's own, a group branch's parent's (no copy).
  const asio::any_io_executor* ex_;
  const asio::any_io_executor& executor() const noexcept { return *ex_; }
  asio::cancellation_signal signal_; // the slot given to the leaf's operation
  std::coroutine_handle<> frame_;    // the outermost frame (owned)
  promise_base* leaf_ = nullptr;     // the innermost frame
  std::coroutine_handle<> next_;     // drive(): the frame to resume next
  op_state* op_ = nullptr;           // the operation the leaf is suspended on
  sub_waiter* sub_ = nullptr;        // or the group it waits on
  act act_ = act::none;              // what drive() does once the chain is suspended
  bool drop_requested_ = false;
  bool emitting_ = false;
  bool posting_drop_ = false; // cancel_wait() is posting the drop: a job destroyed meanwhile failed
  // A wait withdrawn at once (op_state::withdraw_) lets the chain be dropped inside
  // request_drop() itself: true for a group's branches (the group copes with a branch ending
  // inside its own calls), false for a root whose completion would then run inside the emit of
  // its start slot (the drop is posted instead).
  bool inline_drop_ = false;
  // HALT_CHECK_SERIAL: set when the chain runs on a single-threaded io_context's own executor
  // (no strand); every entry into the chain (drive, an operation's handler, a drop) is then a
  // serial_scope, so a debug build reports two threads inside it at once.
  serial_check check_;

  // Completes the root: the outermost frame returned (done) or the chain was dropped. Destroys
  // the root (and the outermost frame).
  // May throw: what the completion handler throws when it runs inline (dispatched) propagates
  // to whoever resumed the chain (Asio then lets it leave run()). Every caller of finish(),
  // drop() and drive() calls it last, touching nothing of the chain afterwards.
  virtual void finish(bool dropped) = 0;
  // Destroys the root without completing it (the chain's frames are already destroyed).
  virtual void discard() noexcept = 0;

  inline void destroy_chain() noexcept;
  void drop() {
    destroy_chain();
    finish(true);
  }
  void abandon() noexcept {
    destroy_chain();
    discard();
  }

  inline void request_drop();
  // A drop was requested: cancel what the leaf waits on (an operation pending, or a group).
  inline void cancel_wait();

protected:
  ~root_base() = default;
};

// Runs the chain from frame h until it suspends on an operation, finishes, or must be dropped.
inline void drive(root_base* r, std::coroutine_handle<> h) {
  serial_scope scope(r->check_); // refers to the context's service, not to r (which may go)
  for (;;) {
    r->next_ = nullptr;
    h.resume();
    if (!r->next_) break;
    h = r->next_;
  }
  switch (r->act_) {
  case root_base::act::none: return; // suspended on an operation
  case root_base::act::done: r->finish(false); return;
  case root_base::act::drop: r->drop(); return;
  case root_base::act::abandon: r->abandon(); return;
  }
}

// A job posted to the chain's executor: runs fn(root), or abandons the root if destroyed uncalled
// (its context went away), except inside the post of a drop that fails (root_base::cancel_wait).
struct root_job {
  root_base* r;
  void (*fn)(root_base*);
  root_job(root_base* root, void (*f)(root_base*)) noexcept : r(root), fn(f) {}
  root_job(root_job&& o) noexcept : r(std::exchange(o.r, nullptr)), fn(o.fn) {}
  root_job& operator=(root_job&&) = delete;
  ~root_job() {
    if (r && !r->posting_drop_) r->abandon();
  }
  void operator()() { fn(std::exchange(r, nullptr)); }
  using allocator_type = asio::recycling_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
};

inline void root_base::request_drop() {
  serial_scope scope(check_);
  if (drop_requested_) return;
  drop_requested_ = true;
  cancel_wait();
}

inline void root_base::cancel_wait() {
  if (sub_) {
    if (inline_drop_) {
      sub_->drop_all();
      return;
    }
    // Branches withdrawn at once (sleeps) can end the group inside drop_all(): the group then
    // sees emitting_ and posts this root's drop instead of completing it inside the emit of its
    // start slot (as for a withdrawn operation below), so the root is still here afterwards.
    emitting_ = true;
    sub_->drop_all();
    emitting_ = false;
    return;
  }
  if (!op_) return; // dropped at its start/next suspension
  if (op_->st_ == op_state::st::withdrawn ||
      (op_->st_ == op_state::st::pending && op_->withdraw_ && op_->withdraw_(op_))) {
    // Nothing in flight any more: drop now (a root: from a posted job). If queuing that job
    // throws (std::bad_alloc), the request is withdrawn and the op stays `withdrawn`, so that
    // the next request_drop() queues it again (abort() promises that a later call retries).
    op_->st_ = op_state::st::withdrawn;
    if (!inline_drop_) {
      posting_drop_ = true; // a job destroyed by a failing post leaves the chain as it is
      try {
        asio::post(*ex_, root_job(this, [](root_base* r) { r->drop(); }));
      } catch (...) {
        posting_drop_ = false;
        drop_requested_ = false;
        throw;
      }
      posting_drop_ = false;
    }
    op_->st_ = op_state::st::idle;
    op_ = nullptr;
    signal_.slot().clear();
    if (inline_drop_) drop();
    return;
  }
  if (op_->st_ != op_state::st::pending) return; // dropped at its start/next suspension
  emitting_ = true;
  signal_.emit(asio::cancellation_type::terminal);
  emitting_ = false;
  if (!op_) return;
  const auto s = op_->st_;
  if (s == op_state::st::done_in_emit || s == op_state::st::lost_in_emit) {
    // The operation completed inside the emit (not something Asio's operations do): finish the
    // drop from a posted job, never from inside the emitter's call.
    op_ = nullptr;
    signal_.slot().clear();
    if (s == op_state::st::done_in_emit)
      asio::post(*ex_, root_job(this, [](root_base* r) { r->drop(); }));
    else
      abandon();
  }
}

inline void op_state::handler_called() {
  serial_scope scope(root_->check_);
  if (st_ == st::initiating) {
    st_ = st::done_inline;
    return;
  }
  root_base* r = root_;
  if (r->emitting_) {
    st_ = st::done_in_emit;
    return;
  }
  HALT_ASSERT(st_ == st::pending);
  st_ = st::idle;
  r->op_ = nullptr;
  r->signal_.slot().clear(); // the operation's cancellation handler may refer to freed state
  if (r->drop_requested_)
    r->drop();
  else
    drive(r, frame_);
}

inline void op_state::handler_lost() noexcept {
  if (st_ == st::initiating) {
    st_ = st::lost_inline;
    return;
  }
  root_base* r = root_;
  if (r->emitting_) {
    st_ = st::lost_in_emit;
    return;
  }
  st_ = st::idle;
  r->op_ = nullptr;
  r->signal_.slot().clear();
  r->abandon();
}

} // namespace halt::detail::tsk

// The promises, and root_base::destroy_chain (which needs them), are in task_promise.hpp: included
// here, at the end, so that every user of the chain has them (task_promise.hpp includes this header).
#include <halt/detail/task_promise.hpp>
