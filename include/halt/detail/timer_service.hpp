// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The timer service: one timing wheel (timer_wheel.hpp) per execution context, driven by one
// asio::steady_timer. Unstable internals; sleep.hpp is the public face.
//
//   struct timer_waiter : timer_entry { void (*on_fire)(timer_waiter*, bool shutdown) noexcept; };
//   class timer_service {
//     static timer_service& of(const asio::any_io_executor& ex);   // cached per thread
//     std::uint64_t tick_of(steady_clock::time_point) const;       // rounded up: never early
//     arm_result arm(timer_waiter* w, now); // pending (linked), or shut_down
//     bool cancel(timer_waiter* w);        // true if w was still linked (it will not fire)
//     bool owner_thread() const;           // may the calling thread touch the wheel now?
//   };
//
// Time: ticks of 1 ms from the service's creation. A waiter is due once the tick count, rounded
// down from now, reaches its deadline rounded up: it never fires early, and under no load at
// most about one tick late.
//
// Driving: the steady_timer is set to the wheel's next deadline, and re-armed only when a new
// waiter's deadline is earlier than the one it is set to (a cancelled waiter leaves it set; it
// then fires for nothing once, and is set to the next deadline). Arming and cancelling a waiter
// is a few list operations: no system call, no allocation, no pass through the context's queue.
// When a cancel empties the wheel, one posted check clears the steady_timer if the wheel is
// still empty when it runs, so that the context's run() returns once its work is done.
//
// Threads. On an io_context that halt treats as single-threaded (strand.hpp: concurrency hint
// 1) there is no lock: every call must come from the thread that runs the context (sleep.hpp
// routes the ones that may come from elsewhere through it), and HALT_CHECK_SERIAL reports two
// threads inside at once. On any other context a mutex guards the wheel and the steady_timer;
// arm() and cancel() may then come from any thread. on_fire runs without the lock, on a thread
// that runs the context (or the one destroying it), once per waiter that left the wheel other
// than by cancel().
//
// Shutdown (the context is destroyed): every linked waiter gets on_fire(w, true), which destroys
// what it completes without completing it; arm() afterwards answers shut_down.

#include <halt/detail/config.hpp>
#include <halt/error.hpp>
#include <halt/detail/serial_check.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/timer_wheel.hpp>
#include <halt/detail/wait_op.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <system_error>

namespace halt::detail {

struct timer_waiter : timer_entry {
  // Called once the waiter has left the wheel other than by cancel(): it is due (shutdown ==
  // false), or the context is being destroyed (true). Without the service's lock.
  void (*on_fire)(timer_waiter*, bool shutdown) noexcept = nullptr;
};

// Bumped by every timer_service's destruction: a thread's cached lookup (timer_service::of) is
// valid only while it has not moved.
inline std::atomic<std::uint64_t> timer_service_epoch{0};

class timer_service final : public asio::execution_context::service {
public:
  using clock = std::chrono::steady_clock;
  static inline asio::execution_context::id id;
  enum class arm_result : unsigned char { pending, shut_down };

  explicit timer_service(asio::execution_context& ctx)
      : asio::execution_context::service(ctx), start_(clock::now()) {}
  ~timer_service() override { timer_service_epoch.fetch_add(1, std::memory_order_relaxed); }

  // The service of ex's execution context. The last lookup is cached per thread.
  static timer_service& of(const asio::any_io_executor& ex) {
    struct cached {
      asio::execution_context* ctx = nullptr;
      timer_service* svc = nullptr;
      std::uint64_t epoch = 0;
    };
    thread_local cached c;
    asio::execution_context& ctx = context_of(ex);
    const std::uint64_t e = timer_service_epoch.load(std::memory_order_relaxed);
    if (c.ctx == &ctx && c.epoch == e) return *c.svc;
    timer_service& s = asio::use_service<timer_service>(ctx);
    if (!s.ready_.load(std::memory_order_acquire)) s.init(ex);
    c = cached{&ctx, &s, e};
    return s;
  }

  std::uint64_t tick_of(clock::time_point tp) const noexcept {
    if (tp <= start_) return 0;
    return static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(tp - start_).count());
  }
  std::uint64_t tick_floor(clock::time_point tp) const noexcept {
    if (tp <= start_) return 0;
    return static_cast<std::uint64_t>(std::chrono::floor<std::chrono::milliseconds>(tp - start_).count());
  }

  // Single-threaded contexts only: whether the calling thread runs the context (and so may call
  // arm and cancel). Always true for other contexts.
  bool owner_thread() const noexcept { return !io_ || io_->get_executor().running_in_this_thread(); }
  // Single-threaded contexts only: where to post what must run on the thread that runs it.
  asio::any_io_executor context_executor() const { return io_->get_executor(); }

  // Links w, whose deadline (w->when) is a tick_of() result; `now` is the caller's clock::now().
  arm_result arm(timer_waiter* w, clock::time_point now) {
    guard g(*this);
    if (shut_) return arm_result::shut_down;
    wheel_.skip_to(tick_floor(now));
    const bool in_wheel = wheel_.insert(w);
    try {
      if (in_wheel)
        rearm();
      else
        kick(); // overdue: given back, in order, by a posted pass over the wheel
    } catch (...) {
      wheel_.remove(w);
      throw;
    }
    return arm_result::pending;
  }

  bool cancel(timer_waiter* w) noexcept {
    guard g(*this);
    if (!w->linked()) return false;
    wheel_.remove(w);
    if (wheel_.empty() && set_ && !idle_check_) post_idle_check();
    return true;
  }

private:
  class guard {
  public:
    explicit guard(timer_service& s) noexcept : s_(s), scope_(s.check_) {
      if (!s_.io_) s_.m_.lock();
    }
    ~guard() {
      if (!s_.io_) s_.m_.unlock();
    }
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;

  private:
    timer_service& s_;
    serial_scope scope_;
  };

  // The wheel went empty with the steady_timer still set: its wait would keep the context's
  // run() from returning. A posted check clears it if the wheel is still empty by then: a loop
  // that arms and cancels sleeps (a select whose sleep loses, again and again) leaves it set
  // and costs no system call, and an idle context still runs out of work.
  struct idle_check {
    timer_service* s;
    void operator()() const { s->clear_if_idle(); }
    using allocator_type = asio::recycling_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
  };

  // A posted pass over the wheel (for overdue waiters: no system call, unlike setting the
  // steady_timer to a time already past).
  struct kick_job {
    timer_service* s;
    void operator()() const {
      s->expire_now([s = s] {
        s->kicked_ = false;
        return true;
      });
    }
    using allocator_type = asio::recycling_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
  };

  void kick() { // under the lock
    if (kicked_) return;
    asio::post(timer_->get_executor(), kick_job{this});
    kicked_ = true;
  }

  void post_idle_check() noexcept { // under the lock
    try {
      asio::post(timer_->get_executor(), idle_check{this});
      idle_check_ = true;
    } catch (...) { // no memory for the check: clear now
      clear_timer();
    }
  }

  void clear_if_idle() noexcept {
    guard g(*this);
    idle_check_ = false;
    if (wheel_.empty() && set_ && !shut_) clear_timer();
  }

  void clear_timer() noexcept { // under the lock
    set_ = false;
    ++gen_; // its handler, called with operation_aborted, does nothing
    try {
      timer_->cancel();
    } catch (...) { // it fires for nothing at its deadline instead
    }
  }

  struct driver_handler {
    timer_service* s;
    std::uint64_t gen;
    void operator()(const halt::error_code&) const { s->expire(gen); }
    // (operation_aborted comes only to a wait that a re-arm or a clear replaced: gen tells)
    using allocator_type = asio::recycling_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
  };

  // On the first lookup, from the executor that made it: the steady_timer runs on that
  // executor without its strand, and an io_context that halt treats as single-threaded
  // (strand.hpp) gets no lock.
  void init(const asio::any_io_executor& ex) {
    std::lock_guard<std::mutex> g(m_);
    if (ready_.load(std::memory_order_relaxed)) return;
    // Untracked: the steady_timer lives as long as the service and must not count as work
    // (the first executor could be one that tracks it).
    asio::any_io_executor base = asio::prefer(without_strand(ex), asio::execution::outstanding_work.untracked);
    visit_io_executor(base, [&](const auto& io_ex) {
      if (detail::single_threaded(io_ex.context())) io_ = &io_ex.context();
    });
    if (io_) check_ = serial_check_for(io_->get_executor());
    timer_.emplace(base);
    ready_.store(true, std::memory_order_release);
  }

  // Under the lock: sets the steady_timer to the next deadline if that is earlier than the one
  // it is set to (or it is not set).
  void rearm() {
    const auto next = wheel_.next_deadline();
    if (!next || (set_ && *next >= set_at_)) return;
    timer_->expires_at(start_ + std::chrono::milliseconds(static_cast<std::int64_t>(*next)));
    set_ = false; // the previous wait (if any) is cancelled: its handler finds gen_ moved on
    ++gen_;
    timer_->async_wait(driver_handler{this, gen_});
    set_ = true;
    set_at_ = *next;
  }

  void expire(std::uint64_t gen) {
    expire_now([this, gen] {
      if (gen != gen_) return false; // a wait that a re-arm replaced
      set_ = false;
      return true;
    });
  }

  // Gives back every due waiter (the overdue first), in deadline order, and sets the
  // steady_timer to the next deadline. `enter` runs first under the lock (the driving wait's or
  // the kick's bookkeeping); false: nothing to do.
  template <class Enter>
  void expire_now(Enter enter) {
    timer_entry* due = nullptr;
    {
      guard g(*this);
      if (!enter() || shut_) return;
      wheel_.advance(tick_floor(clock::now()), due);
      try {
        rearm();
      } catch (...) { // no memory for the wait: the due still complete; the rest wait for the
      }               // next arm to set the steady_timer again
      // A pass for overdue waiters (kick) can empty the wheel while the steady_timer is still
      // set for a waiter cancelled earlier: the idle check clears it, as after a cancel.
      if (wheel_.empty() && set_ && !idle_check_) post_idle_check();
    }
    while (due) {
      auto* w = static_cast<timer_waiter*>(due);
      due = due->next;
      w->next = nullptr;
      w->on_fire(w, false);
    }
  }

  void shutdown() override {
    for (;;) {
      timer_waiter* w;
      {
        std::lock_guard<std::mutex> g(m_); // also in single-threaded mode: only this thread
        shut_ = true;
        w = static_cast<timer_waiter*>(wheel_.pop_any());
      }
      if (!w) break;
      w->on_fire(w, true);
    }
    // The steady_timer goes now, in the shutdown phase, while its service surely exists (it may
    // have been created after this one, and then be destroyed first); its wait's handler is
    // destroyed unrun.
    std::lock_guard<std::mutex> g(m_);
    set_ = false;
    timer_.reset();
  }

  const clock::time_point start_;
  std::mutex m_;
  asio::io_context* io_ = nullptr; // set when single-threaded: no locking
  serial_check check_;
  timer_wheel wheel_;
  std::optional<asio::steady_timer> timer_;
  std::atomic<bool> ready_{false}; // init() has run
  std::uint64_t set_at_ = 0;
  std::uint64_t gen_ = 0;
  bool set_ = false;
  bool idle_check_ = false; // an idle_check is posted
  bool kicked_ = false;     // a kick_job is posted
  bool shut_ = false;
};

} // namespace halt::detail
