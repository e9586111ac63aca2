// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The serial check (HALT_CHECK_SERIAL, config.hpp): on an io_context that halt runs without a
// strand (concurrency hint 1), every entry into halt's serial code is a serial_scope, and a second
// thread entering while another is inside is reported (strand.hpp explains the rule;
// serial_check_for there says which executors are checked). Unstable internals.

#include <halt/detail/config.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace halt::detail {

// ---- the serial check (HALT_CHECK_SERIAL) ------------------------------------------------------

inline constexpr const char serial_violation_message[] =
    "halt: an io_context constructed with concurrency hint 1 is being run from two threads at "
    "once; halt runs tasks and selects on it without a strand. Construct it with the default "
    "hint, or run it on one thread.";

// Receives the violation message. Tests install one that records; nullptr: the default.
using serial_violation_handler = void (*)(const char* message);

inline std::atomic<serial_violation_handler>& serial_violation_slot() noexcept {
  static std::atomic<serial_violation_handler> h{nullptr};
  return h;
}

// Sets the handler (nullptr restores the default) and returns the previous one. Any thread. For
// tests: the default (message on stderr, then std::abort()) is what a program wants.
inline serial_violation_handler set_serial_violation_handler(serial_violation_handler h) noexcept {
  return serial_violation_slot().exchange(h, std::memory_order_acq_rel);
}

// Called on the second thread to enter halt's serial code on a single-threaded io_context while
// another thread is inside. By default writes serial_violation_message to stderr and aborts; an
// installed handler that returns lets the caller go on (its serial code then races).
inline void report_serial_violation() noexcept {
  if (auto h = serial_violation_slot().load(std::memory_order_acquire)) {
    h(serial_violation_message);
    return;
  }
  std::fprintf(stderr, "%s\n", serial_violation_message);
  std::fflush(stderr);
  std::abort();
}

// Per io_context: which thread is inside halt's serial code on it right now.
class serial_check_service final : public asio::execution_context::service {
public:
  static inline asio::execution_context::id id;

  explicit serial_check_service(asio::execution_context& ctx)
      : asio::execution_context::service(ctx) {}

  std::atomic<std::thread::id> owner_{}; // the thread inside, or none
  int depth_ = 0;                        // nested entries of owner_; only owner_ touches it

private:
  void shutdown() override {}
};

// What a task or group checks on entry: the service of its io_context if it runs on a
// single-threaded io_context's executor itself (no strand) and HALT_CHECK_SERIAL is on, else
// null. The member exists whatever HALT_CHECK_SERIAL says (see config.hpp).
struct serial_check {
  serial_check_service* svc = nullptr;
};

// An entry into halt's serial code: on the thread that runs it, for as long as it runs (never
// across a coroutine suspension). Nested entries on one thread are fine.
class serial_scope {
public:
#if HALT_CHECK_SERIAL
  explicit serial_scope(serial_check c) noexcept : svc_(c.svc) {
    if (!svc_) return;
    const std::thread::id me = std::this_thread::get_id();
    if (svc_->owner_.load(std::memory_order_relaxed) == me) { // only this thread stores `me`
      ++svc_->depth_;
      return;
    }
    std::thread::id none;
    if (svc_->owner_.compare_exchange_strong(none, me, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
      svc_->depth_ = 1;
      return;
    }
    svc_ = nullptr; // not ours: leaving must not touch the owner's depth
    report_serial_violation();
  }
  ~serial_scope() {
    if (svc_ && --svc_->depth_ == 0) svc_->owner_.store(std::thread::id(), std::memory_order_release);
  }
#else
  explicit serial_scope(serial_check) noexcept {}
#endif
  serial_scope(const serial_scope&) = delete;
  serial_scope& operator=(const serial_scope&) = delete;

private:
#if HALT_CHECK_SERIAL
  serial_check_service* svc_;
#endif
};

} // namespace halt::detail
