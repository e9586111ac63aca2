// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// Shared state of a spawned task. Unstable internals.
//
// A task runs on its own strand. Everything about the coroutine itself (the Asio cancellation
// signal, whether it has started) is touched only on that strand; abort() requests are posted
// there. The outcome is published under a mutex, and then the `done_` token is cancelled: joins
// are waits on that token, so they inherit its executor, slot and shutdown behaviour.

#include <halt/detail/config.hpp>
#include <halt/cancellation_token.hpp>
#include <halt/detail/strand.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace halt {

/// Thrown by `join_result::value()` when the task did not produce a value.
class join_error : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

/// The outcome of a task: exactly one of a value, cancelled, or an exception that escaped it.
/// For `T = void` the value is empty (`value()` returns nothing).
template <class T>
class join_result {
  using stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

public:
  struct cancelled_t {};

  static join_result from_value(stored v) { return join_result(std::in_place_index<0>, std::move(v)); }
  static join_result cancelled() { return join_result(std::in_place_index<1>, cancelled_t{}); }
  static join_result from_exception(std::exception_ptr e) {
    return join_result(std::in_place_index<2>, std::move(e));
  }

  bool has_value() const noexcept { return v_.index() == 0; }
  bool is_cancelled() const noexcept { return v_.index() == 1; }
  bool is_exception() const noexcept { return v_.index() == 2; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value. \throws join_error if the task was cancelled or threw (what() says which).
  decltype(auto) value() & { return get(*this); }
  decltype(auto) value() const& { return get(*this); }
  decltype(auto) value() && { return get(std::move(*this)); }

  /// The exception that escaped the task. \throws join_error if there is none.
  std::exception_ptr exception() const {
    if (!is_exception()) throw join_error(describe("has no exception"));
    return std::get<2>(v_);
  }

  /// Rethrows the task's exception, throws join_error if cancelled, or returns the value.
  decltype(auto) get_or_throw() && {
    if (is_exception()) std::rethrow_exception(std::get<2>(v_));
    return std::move(*this).value();
  }

private:
  template <std::size_t I, class A>
  join_result(std::in_place_index_t<I> i, A&& a) : v_(i, std::forward<A>(a)) {}

  std::string describe(const char* what) const {
    const char* state = has_value() ? "a value" : is_cancelled() ? "cancelled" : "an exception";
    return std::string("halt::join_result ") + what + ": the task finished with " + state;
  }

  template <class Self>
  static decltype(auto) get(Self&& self) {
    if (!self.has_value()) {
      throw join_error(self.is_cancelled() ? "halt::join_result::value: the task was cancelled"
                                           : "halt::join_result::value: the task threw an exception");
    }
    if constexpr (std::is_void_v<T>)
      return;
    else
      return std::get<0>(std::forward<Self>(self).v_);
  }

  std::variant<stored, cancelled_t, std::exception_ptr> v_;
};

namespace detail {

// A task's executor: its own strand (see cheap_strand).
using task_executor = asio::any_io_executor;

// True if `e` holds a std::system_error whose code compares equal to `code` (an error code enum
// or an error condition enum).
template <class Code>
bool is_system_error(const std::exception_ptr& e, Code code) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& se) {
    return se.code() == code;
  } catch (...) {
    return false;
  }
}

// Called once when a task finishes, on the thread that finishes it (join_set, task_tracker).
struct task_hook {
  void (*fn)(void* ctx, struct task_base* t) noexcept = nullptr;
  std::shared_ptr<void> ctx;
};

struct task_base {
  virtual ~task_base() = default;

  // Any thread, idempotent, never blocks.
  void abort() {
    if (!abort_requested_.exchange(true, std::memory_order_acq_rel)) do_abort();
  }
  bool is_finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  bool abort_requested() const noexcept { return abort_requested_.load(std::memory_order_acquire); }

  std::atomic<bool> abort_requested_{false};
  std::atomic<bool> finished_{false};
  cancellation_token done_; // cancelled once the outcome is published
  task_hook hook_;          // set before the task starts

protected:
  virtual void do_abort() = 0;
  // Runs under the result mutex when the task finishes: drop what must not outlive the task's
  // execution context (its strand).
  virtual void on_finish_locked() noexcept {}

  void run_hook() noexcept {
    if (hook_.fn) hook_.fn(hook_.ctx.get(), this);
    hook_ = {};
  }
};

template <class T>
struct task_state : task_base {
  using result_type = join_result<T>;

  // Publishes the outcome exactly once, from any thread.
  void finish(result_type r) {
    {
      std::lock_guard<std::mutex> g(m_);
      if (!detached_) result_.emplace(std::move(r));
      finished_.store(true, std::memory_order_release);
      on_finish_locked();
    }
    run_hook();
    done_.cancel();
  }

  // The result for a join that completed (done_ is cancelled). Empty if already taken.
  std::optional<result_type> take() {
    std::lock_guard<std::mutex> g(m_);
    std::optional<result_type> r = std::move(result_);
    result_.reset();
    return r;
  }

  // The join_handle went: the result is no longer wanted.
  void detach() noexcept {
    std::optional<result_type> drop;
    std::lock_guard<std::mutex> g(m_);
    detached_ = true;
    if (result_) {
      drop.emplace(std::move(*result_));
      result_.reset();
    }
  }

  std::mutex m_;
  bool detached_ = false;
  std::optional<result_type> result_;
};

// A coroutine task: runs on its own strand.
template <class T>
struct coro_task final : task_state<T>, std::enable_shared_from_this<coro_task<T>> {
  explicit coro_task(task_executor ex) : strand_(std::move(ex)) {}

  // The strand is released when the task finishes, so that a join_handle may outlive the
  // execution context. Guarded by m_ (read without it only on the strand, before finishing).
  std::optional<task_executor> strand_;
  asio::cancellation_signal sig_; // strand only
  bool running_ = false;          // strand only
  std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value_; // strand only

protected:
  void do_abort() override {
    std::lock_guard<std::mutex> g(this->m_);
    if (this->finished_.load(std::memory_order_relaxed)) return; // nothing left to abort
    asio::post(*strand_, [self = this->shared_from_this()] {
      if (self->running_) self->sig_.emit(asio::cancellation_type::terminal);
    });
  }
  void on_finish_locked() noexcept override { strand_.reset(); }
};

} // namespace detail
} // namespace halt
