// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The sleeps behind halt::sleep_for and halt::sleep_until (sleep.hpp): deadline arithmetic, the
// Asio operation form (sleep_op and its initiations) and the awaiter a halt::task's frame uses
// (sleep_awaiter), each a waiter on the timing wheel. Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/timer_service.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <chrono>
#include <coroutine>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {
namespace detail {

using steady_clock = std::chrono::steady_clock;

// now + d on Clock, or Clock's last time point if that does not fit. d >= 0.
template <class Clock, class Rep, class Period>
typename Clock::time_point saturating_after(typename Clock::time_point now, std::chrono::duration<Rep, Period> d) {
  const auto room = Clock::time_point::max() - now;
  if (std::chrono::duration<double>(d) >= std::chrono::duration<double>(room))
    return Clock::time_point::max();
  return now + std::chrono::ceil<typename Clock::duration>(d);
}
template <class Clock, class Rep, class Period>
typename Clock::time_point saturating_deadline(std::chrono::duration<Rep, Period> d) {
  return saturating_after<Clock>(Clock::now(), d);
}

// A sleep's deadline, and the time it was computed from (which the wheel uses as "now" when it
// arms the sleep, sparing a second clock read; min(): not known, read the clock then).
struct sleep_times {
  steady_clock::time_point at;
  steady_clock::time_point now = steady_clock::time_point::min();
  steady_clock::time_point now_or_clock() const noexcept {
    return now == steady_clock::time_point::min() ? steady_clock::now() : now;
  }
};

template <class Rep, class Period>
sleep_times sleep_deadline(std::chrono::duration<Rep, Period> d) {
  if (!(d >= d.zero())) throw std::invalid_argument("halt::sleep_for: negative (or NaN) duration");
  const auto now = steady_clock::now();
  return {saturating_after<steady_clock>(now, d), now};
}

// A time point of any clock as a steady_clock one: never earlier than `tp` is reached.
template <class Clock, class Duration>
steady_clock::time_point steady_deadline(std::chrono::time_point<Clock, Duration> tp) {
  if constexpr (std::is_same_v<Clock, steady_clock>) {
    if (std::chrono::duration<double>(tp.time_since_epoch()) >=
        std::chrono::duration<double>(steady_clock::time_point::max().time_since_epoch()))
      return steady_clock::time_point::max();
    return std::chrono::ceil<steady_clock::duration>(tp);
  } else {
    const auto now = Clock::now();
    if (tp <= now) return steady_clock::now();
    return saturating_deadline<steady_clock>(tp - now);
  }
}

// ---- the operation form ----------------------------------------------------------------------

template <class Handler>
class sleep_op final : public timer_waiter {
  using work_executor = std::decay_t<decltype(asio::prefer(
      asio::get_associated_executor(std::declval<Handler&>(), std::declval<asio::any_io_executor>()),
      asio::execution::outstanding_work.tracked))>;
  using allocator = typename std::allocator_traits<asio::associated_allocator_t<
      Handler, asio::recycling_allocator<void>>>::template rebind_alloc<sleep_op>;

public:
  sleep_op(Handler&& h, const asio::any_io_executor& ex, timer_service& svc, sleep_times at)
      : h_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(h_, ex), asio::execution::outstanding_work.tracked)),
        svc_(&svc), at_(at) {}

  static void start(Handler&& h, const asio::any_io_executor& ex, sleep_times at) {
    timer_service& svc = timer_service::of(ex);
    allocator a(asio::get_associated_allocator(h, asio::recycling_allocator<void>()));
    sleep_op* op = std::allocator_traits<allocator>::allocate(a, 1);
    try {
      ::new (static_cast<void*>(op)) sleep_op(std::move(h), ex, svc, at);
    } catch (...) {
      std::allocator_traits<allocator>::deallocate(a, op, 1);
      throw;
    }
    if (!svc.owner_thread()) { // a single-threaded io_context, from another thread: arm there
      asio::post(svc.context_executor(), arm_job{op});
      return;
    }
    op->arm();
  }

private:
  struct arm_job {
    sleep_op* op;
    arm_job(sleep_op* p) noexcept : op(p) {}
    arm_job(arm_job&& o) noexcept : op(std::exchange(o.op, nullptr)) {}
    arm_job& operator=(arm_job&&) = delete;
    ~arm_job() {
      if (op) op->destroy();
    }
    void operator()() { std::exchange(op, nullptr)->arm(); }
    using allocator_type = asio::recycling_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
  };

  struct completion {
    sleep_op* op;
    halt::error_code ec;
    completion(sleep_op* p, halt::error_code e) noexcept : op(p), ec(e) {}
    completion(completion&& o) noexcept : op(std::exchange(o.op, nullptr)), ec(o.ec) {}
    completion& operator=(completion&&) = delete;
    ~completion() {
      if (op) op->destroy();
    }
    void operator()() {
      sleep_op* p = std::exchange(op, nullptr);
      p->slot_.clear();
      Handler h(std::move(p->h_));
      work_executor w(std::move(p->work_));
      p->free();
      std::move(h)(ec);
    }
    using allocator_type = asio::recycling_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
  };

  struct canceller {
    sleep_op* op;
    void operator()(asio::cancellation_type t) const {
      if (t != asio::cancellation_type::none && op->svc_->cancel(op))
        op->complete(asio::error::operation_aborted, true);
    }
  };

  // On a thread that may touch the wheel. Once armed, the operation may complete (and be freed)
  // on another thread at any moment: nothing touches it afterwards.
  void arm() {
    when = svc_->tick_of(at_.at);
    on_fire = &fired;
    slot_ = asio::get_associated_cancellation_slot(h_);
    if (slot_.is_connected()) slot_.template emplace<canceller>(canceller{this});
    timer_service::arm_result r;
    try {
      r = svc_->arm(this, at_.now_or_clock());
    } catch (...) {
      destroy();
      throw;
    }
    if (r == timer_service::arm_result::shut_down) destroy();
  }

  static void fired(timer_waiter* w, bool shutdown) noexcept {
    auto* op = static_cast<sleep_op*>(w);
    if (shutdown)
      op->destroy();
    else
      op->complete(halt::error_code(), false);
  }

  // Runs the handler on its executor (dispatched, or posted); if that fails, destroys it.
  void complete(halt::error_code ec, bool post) noexcept {
    try {
      if (post)
        asio::post(work_, completion(this, ec));
      else
        asio::dispatch(work_, completion(this, ec));
    } catch (...) { // the completion was destroyed unrun, and the operation with it
    }
  }

  void destroy() noexcept {
    slot_.clear();
    free();
  }
  void free() noexcept {
    allocator a(asio::get_associated_allocator(h_, asio::recycling_allocator<void>()));
    this->~sleep_op();
    std::allocator_traits<allocator>::deallocate(a, this, 1);
  }

  Handler h_;
  work_executor work_;
  timer_service* svc_;
  sleep_times at_;
  asio::cancellation_slot slot_;
};

struct sleep_initiation {
  template <class Handler>
  void operator()(Handler&& h, const asio::any_io_executor& ex, sleep_times at) const {
    sleep_op<std::decay_t<Handler>>::start(std::forward<Handler>(h), ex, at);
  }
};

// For sleep_operation: the executor is the handler's.
struct sleep_handler_initiation {
  template <class Handler>
  void operator()(Handler&& h, sleep_times at) const {
    asio::any_io_executor ex = asio::get_associated_executor(h, asio::system_executor());
    sleep_op<std::decay_t<Handler>>::start(std::forward<Handler>(h), ex, at);
  }
};

} // namespace detail

namespace detail::tsk {

// co_await halt::sleep_for(d) inside a task: a wheel entry in the task's frame. A drop takes it
// off the wheel at once (op_state::withdraw_): no operation is in flight, so the frames go now.
class sleep_awaiter final : public op_state, public timer_waiter {
public:
  explicit sleep_awaiter(sleep_times at) noexcept : at_(at) {}
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  ~sleep_awaiter() {
    if (svc_ && linked()) svc_->cancel(this); // not expected: a frame goes only once it is off
  }

  bool await_ready() const noexcept { return false; }

  template <class P>
    requires std::is_base_of_v<promise_base, P>
  bool await_suspend(std::coroutine_handle<P> h) {
    root_base* r = h.promise().root_;
    if (r->drop_requested_) {
      r->act_ = root_base::act::drop;
      return true;
    }
    root_ = r;
    frame_ = h;
    svc_ = &timer_service::of(r->executor());
    when = svc_->tick_of(at_.at);
    on_fire = &fired;
    withdraw_ = &withdraw;
    st_ = st::pending;
    r->op_ = this;
    timer_service::arm_result res;
    try {
      res = svc_->arm(this, at_.now_or_clock());
    } catch (...) {
      reset(r);
      throw; // from the co_await
    }
    if (res == timer_service::arm_result::shut_down) { // as an operation whose handler is destroyed
      reset(r);
      r->act_ = root_base::act::abandon;
    }
    return true;
  }
  void await_resume() const noexcept {}

private:
  struct fire_job {
    sleep_awaiter* a;
    explicit fire_job(sleep_awaiter* p) noexcept : a(p) {}
    fire_job(fire_job&& o) noexcept : a(std::exchange(o.a, nullptr)) {}
    fire_job& operator=(fire_job&&) = delete;
    ~fire_job() {
      if (a) a->handler_lost();
    }
    void operator()() { std::exchange(a, nullptr)->handler_called(); }
    using allocator_type = asio::recycling_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
  };

  void reset(root_base* r) noexcept {
    st_ = st::idle;
    r->op_ = nullptr;
  }

  static bool withdraw(op_state* s) noexcept {
    auto* self = static_cast<sleep_awaiter*>(s);
    return self->svc_->cancel(self);
  }

  static void fired(timer_waiter* w, bool shutdown) noexcept {
    auto* self = static_cast<sleep_awaiter*>(w);
    if (shutdown) {
      self->handler_lost();
      return;
    }
    try {
      asio::dispatch(self->root_->executor(), fire_job(self)); // inline where the chain runs here
    } catch (...) { // the job was destroyed unrun: the chain is abandoned
    }
  }

  sleep_times at_;
  timer_service* svc_ = nullptr;
};

} // namespace detail::tsk

} // namespace halt
