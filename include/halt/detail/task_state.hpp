// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// Shared state of a spawned task. Unstable internals.
//
// A task runs on a serial executor (serial_executor in strand.hpp: its own strand, the strand it
// was given, or a single-threaded io_context), called "the strand" below. Everything about the
// coroutine itself (the Asio cancellation signal, whether it is running) is touched only on the
// strand; abort() requests are dispatched there. On a single-threaded io_context (no strand) the
// entries into that code are serial_scopes (strand.hpp): a debug build reports two threads
// inside at once. The outcome is published under the task's
// lock (spin_lock, below), which also guards the list of pending joins: finish() claims them under it and then
// dispatches each completion to its joiner's executor (inline when the finishing thread already
// runs that executor, as Asio's own co_spawn completions do). A pending join is owned by the
// joiner context's wait_service until it is claimed (wait_op.hpp; the join operation itself is in
// join_op.hpp), so a joiner's context may be destroyed while the task runs on.
//
// A detached task's exception (one that escaped the body of a task whose join_handle was
// detached or destroyed) is never dropped silently: exactly one of finish() and detach() sees it
// (under m_) and hands it to the detached-exception handler (detached_exception.hpp), outside
// the lock.

#include <halt/detail/config.hpp>
#include <halt/detail/detached_exception.hpp>
#include <halt/cancellation_token.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/join_result.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

namespace halt::detail {

// A task's executor: serial (see serial_executor).
using task_executor = asio::any_io_executor;

// True if `e` holds a halt::system_error (on Boost.Asio also a std::system_error) whose code
// compares equal to `code` (an error code enum or an error condition enum).
template <class Code>
bool is_system_error(const std::exception_ptr& e, Code code) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const halt::system_error& se) {
    return se.code() == code;
#if HALT_ASIO_BOOST
  } catch (const std::system_error& se) { // from code that is not Asio's (std::errc, say)
    // As on standalone Asio, whose system category is not std::system_category(): such an
    // exception matches std::errc conditions, never one of Asio's own error codes.
    return halt::error_code(se.code()) == code;
#endif
  } catch (...) {
    return false;
  }
}

// The task's lock. Its critical sections are a few loads and stores (add_joiner also takes the
// joiner's wait_service mutex; finish() releases the strand), so a waiter spins briefly, then
// yields. One byte where std::mutex takes 40, and unlocking is one store.
class spin_lock {
public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
        if (i < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
  std::atomic<bool> locked_{false};
};

// Called once when a task finishes, on the thread that finishes it (join_set, task_tracker).
struct task_hook {
  void (*fn)(void* ctx, struct task_base* t) noexcept = nullptr;
  std::shared_ptr<void> ctx;
};

// A pending join (see the top of this file). The links are guarded by the task's lock.
struct join_waiter : wait_op_base {
  join_waiter* jprev_ = nullptr;
  join_waiter* jnext_ = nullptr;
  bool linked_ = false;
  bool by_finish_ = false; // claimed (and so unlinked) by finish(): its completion skips the lock
  wait_service* service_ = nullptr;
  // Delivers a claimed completion through the joiner's executor (dispatched, so possibly inline,
  // or posted), then ends the claim. The op may be gone once it returns.
  void (*deliver_)(join_waiter*, halt::error_code, bool dispatch) = nullptr;
};

struct task_base {
  virtual ~task_base() = default;

  // Any thread, idempotent, never blocks. If queuing the cancellation on the task's strand
  // throws (std::bad_alloc), the request is withdrawn, so that a later abort() tries again. So
  // is a request whose delivery on the strand throws (it leaves that thread's run()).
  void abort() {
    // seq_cst: pairs with coro_task's start (started_ store, then this flag's load).
    if (abort_requested_.exchange(true, std::memory_order_seq_cst)) return;
    try {
      do_abort();
    } catch (...) {
      abort_requested_.store(false, std::memory_order_seq_cst);
      throw;
    }
  }
  bool is_finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  bool abort_requested() const noexcept { return abort_requested_.load(std::memory_order_seq_cst); }

  // Removes a pending join that did not complete through finish() (cancelled, or destroyed by
  // its context's shutdown).
  void unlink_joiner(join_waiter* w) noexcept {
    std::lock_guard<spin_lock> g(m_);
    unlink_locked(w);
  }

  std::atomic<bool> abort_requested_{false};
  std::atomic<bool> finished_{false};
  task_hook hook_; // set before the task starts
  spin_lock m_;    // guards the outcome and joiners_

protected:
  virtual void do_abort() = 0;
  // Runs under m_ when the task finishes: drop what must not outlive the task's execution
  // context (its strand).
  virtual void on_finish_locked() noexcept {}

  void run_hook() noexcept {
    if (hook_.fn) hook_.fn(hook_.ctx.get(), this);
    hook_ = {};
  }

  void link_locked(join_waiter* w) noexcept {
    w->jprev_ = nullptr;
    w->jnext_ = joiners_;
    if (joiners_) joiners_->jprev_ = w;
    joiners_ = w;
    w->linked_ = true;
  }
  void unlink_locked(join_waiter* w) noexcept {
    if (!w->linked_) return;
    if (w->jprev_)
      w->jprev_->jnext_ = w->jnext_;
    else
      joiners_ = w->jnext_;
    if (w->jnext_) w->jnext_->jprev_ = w->jprev_;
    w->jprev_ = w->jnext_ = nullptr;
    w->linked_ = false;
  }
  // Unlinks every pending join and claims each; returns the claimed ones (oldest first), linked
  // through jnext_. Called with m_ held, once finished_ is set.
  join_waiter* claim_joiners_locked() noexcept {
    join_waiter* claimed = nullptr;
    while (join_waiter* w = joiners_) {
      unlink_locked(w);
      if (w->service_->begin_claim(w)) {
        w->by_finish_ = true;
        w->jnext_ = claimed;
        claimed = w;
      }
    }
    return claimed;
  }
  // Delivers the claimed joins. A joiner resumed inline may finish a task that another joiner
  // waits for, and so on: past a few levels of such nesting, completions are posted instead, so
  // a long chain of joins cannot exhaust the stack. If a handler run inline throws, the joins
  // not yet delivered are posted (none is lost) and the exception propagates.
  static void deliver_all(join_waiter* claimed, bool may_run_inline) {
    static constexpr int max_inline_depth = 8;
    static thread_local int depth = 0;
    while (claimed) {
      join_waiter* w = claimed;
      claimed = std::exchange(w->jnext_, nullptr);
      const bool inline_ok = may_run_inline && depth < max_inline_depth;
      ++depth;
      struct leave {
        ~leave() { --depth; }
      } scope;
      try {
        w->deliver_(w, halt::error_code{}, inline_ok);
      } catch (...) {
        deliver_all(claimed, false);
        throw;
      }
    }
  }

  join_waiter* joiners_ = nullptr; // m_
};

template <class T>
struct task_state : task_base {
  using result_type = join_result<T>;

  // Publishes the outcome exactly once, from any thread, then completes the pending joins:
  // dispatched to each joiner's executor (so possibly inline, here) if `may_run_inline`, else
  // posted (from destructors, where a handler's exception would terminate). Propagates an
  // exception thrown by a joiner's handler run inline, after every join was delivered.
  void finish(result_type r, bool may_run_inline = true) {
    join_waiter* claimed = nullptr;
    std::exception_ptr orphan; // detached: nobody will join, so the handler gets it
    {
      std::lock_guard<spin_lock> g(m_);
      // A join started before the handle went still wants the outcome: detached_ only means
      // that no join can start any more.
      if (!detached_ || joiners_) {
        try {
          result_.emplace(std::move(r));
        } catch (...) { // T's move threw: report that instead, and still finish
          result_.emplace(result_type::from_exception(std::current_exception()));
        }
      } else if (r.is_exception()) {
        orphan = r.exception();
      }
      finished_.store(true, std::memory_order_release);
      on_finish_locked();
      claimed = claim_joiners_locked();
    }
    if (orphan) report_detached_exception(std::move(orphan)); // before a tracker counts it done
    run_hook();
    deliver_all(claimed, may_run_inline);
  }

  // Registers a pending join with its service and links it, atomically with respect to finish()
  // (same lock order: the task's lock, then the service's). Returns false if the service is
  // shutting down (the op is neither registered nor linked); sets `finished` if the task had
  // already finished (the op is registered, not linked).
  bool add_joiner(wait_service& svc, join_waiter* w, bool& finished) {
    std::lock_guard<spin_lock> g(m_);
    finished = finished_.load(std::memory_order_relaxed);
    return svc.add(w, [&]() noexcept {
      if (!finished) link_locked(w);
    });
  }

  // The result for a join that completed. Empty if already taken.
  std::optional<result_type> take() {
    std::lock_guard<spin_lock> g(m_);
    std::optional<result_type> r = std::move(result_);
    result_.reset();
    return r;
  }

  // The join_handle went: the result is no longer wanted. An exception it holds goes to the
  // detached-exception handler (on this thread, outside the lock).
  void detach() noexcept {
    std::optional<result_type> drop;
    std::exception_ptr orphan;
    {
      std::lock_guard<spin_lock> g(m_);
      detached_ = true;
      if (result_) {
        if (result_->is_exception()) orphan = result_->exception();
        drop.emplace(std::move(*result_));
        result_.reset();
      }
    }
    if (orphan) report_detached_exception(std::move(orphan));
  }

  bool detached_ = false;                // m_
  std::optional<result_type> result_;    // m_
};

// A spawned task: runs on its serial executor ("the strand"). awaitable_task (spawn_start.hpp)
// derives from it for an asio::awaitable body, which it co_spawns; task_root for a halt::task
// body.
template <class T>
struct coro_task : task_state<T>, std::enable_shared_from_this<coro_task<T>> {
  explicit coro_task(task_executor ex) : strand_(std::move(ex)) {}

  // Claims the start on the strand. False if the task was aborted first (it must not run).
  bool begin_start() noexcept {
    started_.store(true, std::memory_order_seq_cst);
    if (this->abort_requested()) return false;
    running_ = true;
    return true;
  }

  // The strand is released when the task finishes, so that a join_handle may outlive the
  // execution context. Guarded by m_ (read without it only on the strand, before finishing).
  task_executor strand_; // empty once the task finished
  bool running_ = false;             // strand only
  std::atomic<bool> started_{false}; // set on the strand when the start runs
  wait_service* abort_svc_ = nullptr; // the strand's context's; set before started_
  // On an io_context(1) without a strand: entries into strand-only code are serial_scopes of
  // this check (held by the derived class: a task_root shares its chain's).
  virtual serial_check entry_check() const noexcept = 0;

protected:
  void do_abort() override {
    // Not started yet: the start sees abort_requested_ (seq_cst on both sides) and never runs
    // the body, so there is nothing to deliver.
    if (!started_.load(std::memory_order_seq_cst)) return;
    // Another thread may be destroying the task's execution context. Until the task finishes
    // (checked under m_; the destruction finishes it, destroying its frames) the context exists;
    // the post is reserved with the context's wait_service, whose shutdown runs before the
    // scheduler's and waits for it. Once that shutdown began, nothing is posted: the task's frames
    // are about to be destroyed anyway.
    struct reserved {
      wait_service* svc = nullptr;
      std::optional<task_executor> ex; // released before the reservation ends
      ~reserved() {
        ex.reset();
        if (svc) svc->end_claim();
      }
    } r;
    bool here = false;
    {
      std::lock_guard<spin_lock> g(this->m_);
      if (this->finished_.load(std::memory_order_relaxed)) return; // nothing left to abort
      here = running_in_this_thread(strand_); // then the context is alive: this thread runs it
      if (!here) {
        if (!abort_svc_->begin_post()) return;
        r.svc = abort_svc_;
        r.ex = strand_;
      }
    }
    // On a thread inside the task's strand (or running its single-threaded io_context) the
    // cancellation is delivered here, before abort() returns, as a dispatch would; otherwise it
    // is queued on the strand. Either way it runs on the strand, and Asio operations complete by
    // posting, so the task itself resumes later, through its executor. The caller's handle keeps
    // the task alive meanwhile.
    if (here) {
      serial_scope scope(entry_check());
      deliver_abort();
    } else {
      asio::post(*r.ex, [self = this->shared_from_this()] {
        serial_scope scope(self->entry_check());
        try {
          self->deliver_abort();
        } catch (...) { // it leaves run(); as in abort(), a later abort() tries again
          self->abort_requested_.store(false, std::memory_order_seq_cst);
          throw;
        }
      });
    }
  }
  void on_finish_locked() noexcept override { strand_ = task_executor(); }
  // On the strand: the abort reaches the running task.
  virtual void deliver_abort() = 0;
};

} // namespace halt::detail
