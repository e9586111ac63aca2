// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The asynchronous wait behind cancellation_token::async_wait. Unstable internals.
//
// An outstanding wait is owned by a per-execution-context service until it is claimed. Exactly
// one of three parties claims it: the token's callback (success), the handler's cancellation slot
// (operation_aborted) or the service's shutdown (destroyed without completing, as Asio does with
// pending operations when a context is destroyed). A claim by the first two posts the completion
// to the handler's executor, so a wait never completes inline inside cancel().

#include <halt/detail/config.hpp>
#include <halt/detail/service_memo.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <optional>
#include <type_traits>

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

namespace halt::detail {

// An object that a per-execution-context service tracks until the context shuts down.
struct service_hook {
  service_hook* svc_prev_ = nullptr;
  service_hook* svc_next_ = nullptr;
  bool in_service_ = false;
};

// The tracked objects of one service; closed for good at shutdown. Guarded by the service's mutex.
class hook_list {
public:
  // Returns false once closed.
  bool add(service_hook* h) noexcept {
    if (closed_) return false;
    h->svc_prev_ = nullptr;
    h->svc_next_ = head_;
    if (head_) head_->svc_prev_ = h;
    head_ = h;
    h->in_service_ = true;
    return true;
  }
  void remove(service_hook* h) noexcept {
    if (!h->in_service_) return;
    if (h->svc_prev_)
      h->svc_prev_->svc_next_ = h->svc_next_;
    else
      head_ = h->svc_next_;
    if (h->svc_next_) h->svc_next_->svc_prev_ = h->svc_prev_;
    h->svc_prev_ = h->svc_next_ = nullptr;
    h->in_service_ = false;
  }
  bool closed() const noexcept { return closed_; }
  // Closes the list and removes every object, passing each to f.
  template <class F>
  void close_and_drain(F&& f) {
    closed_ = true;
    while (service_hook* h = head_) {
      remove(h);
      f(h);
    }
  }

private:
  service_hook* head_ = nullptr;
  bool closed_ = false;
};

struct wait_op_base : service_hook {
  std::atomic<bool> claimed_{false};
  void (*complete_)(wait_op_base*, halt::error_code) = nullptr; // runs the handler, frees the op
  void (*destroy_)(wait_op_base*) noexcept = nullptr;          // frees the op, no handler call
};

class wait_service;

// The wait_services whose context has not begun to shut down, each under a serial number that is
// never reused. A thread that holds only a serial (a task's chain, about the context it runs on:
// task_frame.hpp) can ask through it, safely, whether that context is still there, and reserve a
// post into it (reserve_post), even while the context is being destroyed by another thread or
// after it is gone. Leaked on purpose: a context destroyed during static destruction still finds it.
struct live_services {
  std::mutex m;
  std::vector<std::pair<std::uint64_t, wait_service*>> v; // a few: one per live context
  std::uint64_t next = 1;
  static live_services& get() {
    static live_services* l = new live_services;
    return *l;
  }
  void remove(std::uint64_t serial) noexcept {
    std::lock_guard<std::mutex> g(m);
    for (auto& e : v)
      if (e.first == serial) {
        e = v.back();
        v.pop_back();
        return;
      }
  }
};

class wait_service final : public memoised_service<wait_service> {
public:
  static inline asio::execution_context::id id;

  explicit wait_service(asio::execution_context& ctx) : memoised_service<wait_service>(ctx) {
    live_services& l = live_services::get();
    std::lock_guard<std::mutex> g(l.m);
    serial_ = l.next++;
    l.v.emplace_back(serial_, this); // may throw std::bad_alloc: the service is not made
  }
  ~wait_service() override { live_services::get().remove(serial_); } // if shutdown() never ran

  // This service's serial number (see live_services).
  std::uint64_t serial() const noexcept { return serial_; }

  // The service with this serial if its context has not begun to shut down, with a post into it
  // reserved (begin_post: the caller posts and then calls end_claim()); nullptr otherwise.
  static wait_service* reserve_post(std::uint64_t serial) noexcept {
    live_services& l = live_services::get();
    std::lock_guard<std::mutex> g(l.m); // shutdown() removes the service under it first
    for (auto& e : l.v)
      if (e.first == serial) return e.second->begin_post() ? e.second : nullptr;
    return nullptr;
  }

  // Links `op` and runs `then` under the lock. Returns false (without running `then`) once the
  // context is shutting down.
  template <class F>
  bool add(wait_op_base* op, F&& then) noexcept {
    std::lock_guard<std::mutex> g(m_);
    if (!ops_.add(op)) return false;
    then();
    return true;
  }

  // Claims `op` for completion. On true the caller posts the completion and then calls
  // end_claim(); shutdown() does not return (so the context is not destroyed) in between.
  bool begin_claim(wait_op_base* op) noexcept {
    std::lock_guard<std::mutex> g(m_);
    if (op->claimed_.exchange(true, std::memory_order_acq_rel)) return false;
    ops_.remove(op);
    ++claiming_;
    return true;
  }

  // Reserves a post into the context (abort() of a task running there). False once the context
  // is shutting down; on true the caller posts and then calls end_claim(), and shutdown() (which
  // runs before the scheduler's) waits for that, so the post never races the context's end.
  bool begin_post() noexcept {
    std::lock_guard<std::mutex> g(m_);
    if (ops_.closed()) return false;
    ++claiming_;
    return true;
  }

  void end_claim() noexcept {
    std::lock_guard<std::mutex> g(m_);
    if (--claiming_ == 0) idle_.notify_all();
  }

private:
  void shutdown() override {
    live_services::get().remove(serial_); // before closing: reserve_post finds it open or not at all
    std::vector<wait_op_base*> ops;
    {
      std::unique_lock<std::mutex> g(m_);
      ops_.close_and_drain([&](service_hook* h) {
        auto* op = static_cast<wait_op_base*>(h);
        if (!op->claimed_.exchange(true, std::memory_order_acq_rel)) ops.push_back(op);
      });
      idle_.wait(g, [&] { return claiming_ == 0; }); // claims in flight finish their post
    }
    for (wait_op_base* op : ops) op->destroy_(op);
  }

  std::mutex m_;
  std::condition_variable idle_;
  int claiming_ = 0;
  hook_list ops_;
  std::uint64_t serial_ = 0;
};

// The context's wait_service (every join and every spawn asks): service_memo.hpp.
inline wait_service& wait_service_of(asio::execution_context& ctx) {
  return use_service_memo<wait_service>(ctx);
}

// The execution context whose shutdown destroys a pending wait.
template <class Ex>
asio::execution_context& context_of(const Ex& ex) {
  if constexpr (asio::can_query<const Ex&, asio::execution::context_t>::value)
    return asio::query(ex, asio::execution::context);
  else if constexpr (requires { ex.context(); })
    return ex.context();
  else
    return asio::query(asio::system_executor(), asio::execution::context);
}

// An executor, or an execution context (its executor), as an any_io_executor.
template <class ExOrCtx>
asio::any_io_executor to_executor(ExOrCtx&& ex) {
  if constexpr (std::is_convertible_v<std::remove_reference_t<ExOrCtx>&, asio::execution_context&>)
    return ex.get_executor();
  else
    return asio::any_io_executor(ex);
}

// Outstanding work on the handler's executor while a wait is pending.
template <class Ex>
class work_holder {
public:
  explicit work_holder(const Ex& ex) : ex_(track(ex)) {
    if constexpr (legacy) guard_.emplace(ex);
  }
  const auto& executor() const noexcept { return ex_; }

private:
  static constexpr bool standard = asio::execution::is_executor<Ex>::value;
  static constexpr bool legacy = !standard && asio::is_executor<Ex>::value;
  static auto track(const Ex& ex) {
    if constexpr (standard)
      return asio::prefer(ex, asio::execution::outstanding_work.tracked);
    else
      return ex;
  }
  decltype(track(std::declval<const Ex&>())) ex_;
  struct none {
    explicit none(const Ex&) {}
  };
  std::optional<std::conditional_t<legacy, asio::executor_work_guard<Ex>, none>> guard_;
};

// The completion and destruction of an op type with members handler_ and work_ and a
// release_hooks() that detaches it from whatever can still claim it (wait_op, join_op).
template <class Op>
struct op_lifetime {
  static void complete(wait_op_base* b, halt::error_code ec) {
    auto* op = static_cast<Op*>(b);
    op->release_hooks();
    auto h(std::move(op->handler_));
    [[maybe_unused]] auto work = std::move(op->work_); // released after the handler ran
    delete op;
    std::move(h)(ec);
  }
  static void destroy(wait_op_base* b) noexcept {
    auto* op = static_cast<Op*>(b);
    op->release_hooks();
    delete op;
  }
};

// Owns a claimed op until it runs on the handler's executor.
struct wait_completion {
  wait_op_base* op;
  halt::error_code ec;

  wait_completion(wait_op_base* o, halt::error_code e) noexcept : op(o), ec(e) {}
  wait_completion(wait_completion&& o) noexcept : op(std::exchange(o.op, nullptr)), ec(o.ec) {}
  wait_completion& operator=(wait_completion&&) = delete;
  ~wait_completion() {
    if (op) op->destroy_(op);
  }
  void operator()() {
    wait_op_base* o = std::exchange(op, nullptr);
    o->complete_(o, ec);
  }
};

// Ends a claim (wait_service::begin_claim) when destroyed, however the delivery went.
struct end_claim_guard {
  wait_service* svc;
  explicit end_claim_guard(wait_service* s) noexcept : svc(s) {}
  end_claim_guard(const end_claim_guard&) = delete;
  end_claim_guard& operator=(const end_claim_guard&) = delete;
  ~end_claim_guard() { svc->end_claim(); }
};

// Posts the completion of a claimed op to `ex` and ends the claim. Never throws: if the post
// fails (std::bad_alloc while Asio allocates the queued handler), the op is dropped without
// completing, its handler destroyed and its work released, as if its execution context had shut
// down. Asio 1.22 offers no way to queue a handler without allocating (a type-erased executor
// allocates each post through std::allocator, whatever the handler's allocator), so this is the
// one outcome that neither terminates nor hangs. The temporary completion does the dropping.
template <class Ex>
void post_claimed(wait_service* svc, const Ex& ex, wait_op_base* op, halt::error_code ec) noexcept {
  end_claim_guard guard{svc};
  try {
    asio::post(ex, wait_completion(op, ec));
  } catch (...) {
  }
}

template <class Handler, class Executor, class Registration>
struct wait_op final : wait_op_base {
  Handler handler_;
  work_holder<Executor> work_;
  wait_service* service_;
  asio::cancellation_slot slot_;
  Registration reg_;

  wait_op(Handler&& h, const Executor& ex, wait_service& svc)
      : handler_(std::move(h)), work_(ex), service_(&svc),
        slot_(asio::get_associated_cancellation_slot(handler_)) {
    complete_ = &op_lifetime<wait_op>::complete;
    destroy_ = &op_lifetime<wait_op>::destroy;
  }

  // Called from the token's callback and the slot's handler. noexcept: see post_claimed.
  void claim(halt::error_code ec) noexcept {
    if (!service_->begin_claim(this)) return;
    post_claimed(service_, work_.executor(), this, ec); // *this may be gone once it returns
  }

  void release_hooks() noexcept {
    if (slot_.is_connected()) slot_.clear();
    reg_.reset(); // waits for a callback that is still returning on another thread
  }
};

} // namespace halt::detail
