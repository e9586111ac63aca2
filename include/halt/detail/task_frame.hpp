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
//
// Abandon happens on the chain's executor, like everything else. A handler destroyed uncalled on
// another thread (the leaf awaits an operation of another execution context, and that context is
// being destroyed while the chain's is still running) does not touch the chain: it marks the
// operation lost (op_state::away_, the one field two threads share) and posts the abandon to the
// chain's executor (lost_job), with the post reserved in the chain's context's wait_service
// (wait_op.hpp: that context's shutdown waits for the post, and a context that has begun to shut
// down, or is gone, is never posted to). A drop requested meanwhile does not emit on the lost
// operation's slot (its cancellation handler may refer to the destroyed context): the posted job
// comes. When the chain's context has begun to shut down (or is gone), or the handler is destroyed
// on a thread that runs the chain's executor, the chain is abandoned there and then, as before:
// nothing else runs it any more. If the post fails (std::bad_alloc), the chain is left suspended
// for good (it leaks: its frames are never destroyed, and a spawned task never reports), which is
// the one outcome that neither races the chain's executor nor terminates.

#include <halt/detail/config.hpp>
#include <halt/detail/frame_cache.hpp>
#include <halt/detail/serial_check.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/error.hpp>
#include <halt/use_task.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>
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
  };
  // away_: set with atomic read-modify-writes by two threads (see the top of this file).
  static constexpr unsigned char away_emitting = 1; // the chain emits on the operation's slot
  static constexpr unsigned char away_lost = 2;     // its handler was lost on another thread

  op_state() noexcept = default;
  op_state(op_state&& o) noexcept // only before the operation is awaited (op_awaitable's move)
      : root_(o.root_), frame_(o.frame_), withdraw_(o.withdraw_), st_(o.st_) {}
  op_state& operator=(op_state&&) = delete;

  root_base* root_ = nullptr;
  std::coroutine_handle<> frame_;
  // Set by a wait that can be called off at once (a sleep on the timer wheel, sleep.hpp): true
  // if it was, and then no handler will ever run for it.
  bool (*withdraw_)(op_state*) noexcept = nullptr;
  st st_ = st::idle;
  std::atomic<unsigned char> away_{0};

  inline void handler_called();             // the handler ran (its result is stored)
  inline void handler_lost() noexcept;      // the handler was destroyed without being called
  // Emits terminal cancellation on the operation's slot, on the chain's executor; false (and
  // nothing emitted) if the handler was lost on another thread (its abandon is posted).
  // May throw what the slot's cancellation handler throws.
  inline bool emit_terminal();

private:
  inline bool lost_elsewhere() noexcept;
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
  // The serial number of the wait_service of the executor's context (wait_op.hpp), set before
  // the chain first suspends (a group branch: its parent's); 0 if unknown (a lost handler then
  // abandons the chain wherever it is destroyed).
  std::uint64_t home_ = 0;
  asio::cancellation_signal signal_; // the slot given to the leaf's operation
  std::coroutine_handle<> frame_;    // the outermost frame (owned)
  promise_base* leaf_ = nullptr;     // the innermost frame
  std::coroutine_handle<> next_;     // drive(): the frame to resume next
  op_state* op_ = nullptr;           // the operation the leaf is suspended on
  sub_waiter* sub_ = nullptr;        // or the group it waits on
  act act_ = act::none;              // what drive() does once the chain is suspended
  bool drop_requested_ = false;
  bool emitting_ = false;
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
// (its context went away, or the post itself failed: see root_base::cancel_wait).
struct root_job {
  root_base* r;
  void (*fn)(root_base*);
  root_job(root_base* root, void (*f)(root_base*)) noexcept : r(root), fn(f) {}
  root_job(root_job&& o) noexcept : r(std::exchange(o.r, nullptr)), fn(o.fn) {}
  root_job& operator=(root_job&&) = delete;
  ~root_job() {
    if (r) r->abandon();
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
  if (!op_ || op_->st_ != op_state::st::pending) return; // dropped at its start/next suspension
  if (op_->withdraw_ && op_->withdraw_(op_)) { // nothing in flight any more: drop now
    op_->st_ = op_state::st::idle;
    op_ = nullptr;
    signal_.slot().clear();
    if (inline_drop_)
      drop();
    else // a root: from a posted job. If that post throws (std::bad_alloc), the job, destroyed
         // unrun, abandons the chain (its frames are destroyed here; a spawned task reports
         // cancelled) and the exception propagates: nothing else could resume or drop it now.
      asio::post(*ex_, root_job(this, [](root_base* r) { r->drop(); }));
    return;
  }
  if (!op_->emit_terminal()) return; // lost elsewhere: the posted abandon drops the chain
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

// The chain whose emit (op_state::emit_terminal) runs on this thread, if any: a handler lost
// inside it is on the chain's executor.
inline thread_local const root_base* emitting_here = nullptr;

inline bool op_state::emit_terminal() {
  root_base* r = root_;
  if (away_.fetch_or(away_emitting, std::memory_order_acq_rel) & away_lost) return false;
  // Undone however the emit ends. The operation (this object, in the leaf's frame) is still
  // here then: the chain is dropped only after this returns, whatever the emit did.
  struct emitting_scope {
    op_state* op;
    const root_base* outer;
    ~emitting_scope() {
      op->root_->emitting_ = false;
      emitting_here = outer;
      op->away_.fetch_and(static_cast<unsigned char>(~away_emitting), std::memory_order_release);
    }
  } scope{this, std::exchange(emitting_here, r)};
  r->emitting_ = true;
  r->signal_.emit(asio::cancellation_type::terminal);
  return true;
}

// The abandon of a chain whose handler was lost on another thread, posted to the chain's
// executor (see the top of this file). Destroyed uncalled (the chain's context shuts down: a
// strand already shut down destroys it inside the post), it abandons the chain there; destroyed
// by the exception of a failed post (on the losing thread), it does not.
struct lost_job {
  op_state* op;
  // While posting: std::uncaught_exceptions() before the post; -1 otherwise.
  static inline thread_local int posting = -1;

  explicit lost_job(op_state* o) noexcept : op(o) {}
  lost_job(lost_job&& o) noexcept : op(std::exchange(o.op, nullptr)) {}
  lost_job& operator=(lost_job&&) = delete;
  ~lost_job() {
    if (op && !(posting >= 0 && std::uncaught_exceptions() > posting))
      abandon(std::exchange(op, nullptr));
  }
  void operator()() {
    op_state* o = std::exchange(op, nullptr);
    serial_scope scope(o->root_->check_); // refers to the context's service, not to the root
    abandon(o);
  }
  static void abandon(op_state* o) noexcept {
    root_base* r = o->root_;
    o->st_ = op_state::st::idle;
    r->op_ = nullptr;
    r->signal_.slot().clear(); // the lost operation's cancellation handler
    r->abandon();
  }
  using allocator_type = asio::recycling_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
};

// A lost handler (not inside the initiating function): true if it was destroyed on another thread
// than the chain's executor while the chain's context still runs, and the abandon has been
// posted there (or the chain left suspended, if that post failed); false if the chain is to be
// abandoned here and now (see the top of this file). Touches nothing of the chain but the
// operation's away_ flags, and the chain's executor once the context is known to be alive.
inline bool op_state::lost_elsewhere() noexcept {
  root_base* r = root_;
  if (emitting_here == r || r->home_ == 0) return false;
  wait_service* svc = wait_service::reserve_post(r->home_);
  if (!svc) return false; // the chain's context is shutting down or gone: nothing else runs it
  end_claim_guard claim(svc); // until the post is done: the context's shutdown waits for it
  if (running_in_this_thread(*r->ex_)) return false;
  // A drop on the chain's executor may be emitting on this operation's slot right now: its
  // cancellation handler may refer to the state of the context being destroyed on this thread,
  // so let it finish first. Later drops see away_lost and leave the slot alone.
  if (away_.fetch_or(away_lost, std::memory_order_acq_rel) & away_emitting)
    while (away_.load(std::memory_order_acquire) & away_emitting) std::this_thread::yield();
  const int outer = std::exchange(lost_job::posting, std::uncaught_exceptions());
  try {
    asio::post(*r->ex_, lost_job(this));
  } catch (...) { // left suspended for good (see the top of this file)
  }
  lost_job::posting = outer;
  return true;
}

inline void op_state::handler_lost() noexcept {
  if (st_ == st::initiating) {
    st_ = st::lost_inline;
    return;
  }
  if (lost_elsewhere()) return;
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
