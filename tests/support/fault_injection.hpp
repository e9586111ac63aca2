// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Fault injection for exception-safety tests: make the Nth "fault point" throw std::bad_alloc.
//
// Fault points, all counted by one global countdown while armed:
// - every global operator new (this header REPLACES the global allocation functions, so include
//   it in exactly one translation unit of a test binary; it costs one relaxed load per
//   allocation while disarmed). Asio's own handler memory comes from std::aligned_alloc, not
//   operator new, so it is not counted here: use faulty_executor for that.
// - every execute() (post, dispatch, defer) through a faulty_executor, which wraps an
//   io_context executor. Put it under a coroutine or a task (co_spawn(faulty_executor{...}))
//   and every post Asio or halt makes on that executor's behalf is a fault point.
// - every copy or move of a throwing_copy (a callable body whose copy can throw).
//
// Typical loop (fault injection over N):
//
//   for (int n = 1;; ++n) {
//     ... set up ...
//     halt_test::fault::arm(n);
//     try { operation(); } catch (const std::bad_alloc&) {}
//     bool injected = halt_test::fault::disarm();
//     ... check that nothing hangs and invariants hold ...
//     if (!injected) break; // the operation ran to the end without a fault: every point covered
//   }

#include <asio/any_io_executor.hpp>
#include <asio/execution.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/prefer.hpp>
#include <asio/query.hpp>
#include <asio/require.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <new>
#include <utility>

namespace halt_test::fault {

struct state {
  std::atomic<bool> armed{false};
  std::atomic<long> countdown{0};
  std::atomic<bool> injected{false};
  std::atomic<bool> allocations{true}; // operator new is a fault point
};
inline state& global() noexcept {
  static state s; // trivially destructible members: usable from operator new at any time
  return s;
}

/// The nth fault point from now throws std::bad_alloc (once). With `allocations` false, operator
/// new is not a fault point (Asio 1.22 calls std::terminate when a use_awaitable initiation throws,
/// so a test of a path with allocating initiations injects only moves and posts).
inline void arm(long n, bool allocations = true) noexcept {
  global().allocations.store(allocations);
  global().injected.store(false);
  global().countdown.store(n);
  global().armed.store(true);
}
/// Stops injecting; returns true if a fault was injected since arm().
inline bool disarm() noexcept {
  global().armed.store(false);
  return global().injected.load();
}
/// A fault point: true if this one must fail.
inline bool hit() noexcept {
  state& s = global();
  if (!s.armed.load(std::memory_order_relaxed)) return false;
  if (s.countdown.fetch_sub(1) != 1) return false;
  s.armed.store(false);
  s.injected.store(true);
  return true;
}
/// A fault point for operator new.
inline bool hit_alloc() noexcept {
  return global().allocations.load(std::memory_order_relaxed) && hit();
}
inline void point() {
  if (hit()) throw std::bad_alloc();
}

/// A callable task body (returns Aw, from F) whose copies and moves are fault points.
template <class F>
struct throwing_copy {
  F f;
  explicit throwing_copy(F g) : f(std::move(g)) {}
  throwing_copy(const throwing_copy& o) : f((point(), o.f)) {}
  throwing_copy(throwing_copy&& o) : f((point(), std::move(o.f))) {}
  throwing_copy& operator=(const throwing_copy&) = delete;
  auto operator()() { return f(); }
};

/// An executor (wrapping an io_context's) whose execute() is a fault point.
struct faulty_executor {
  asio::any_io_executor inner;
  bool never = true;

  asio::execution_context& query(asio::execution::context_t) const noexcept {
    return asio::query(inner, asio::execution::context);
  }
  asio::execution::blocking_t query(asio::execution::blocking_t) const noexcept {
    return never ? asio::execution::blocking_t(asio::execution::blocking.never)
                 : asio::execution::blocking_t(asio::execution::blocking.possibly);
  }
  faulty_executor require(asio::execution::blocking_t::never_t) const {
    return {asio::require(inner, asio::execution::blocking.never), true};
  }
  faulty_executor require(asio::execution::blocking_t::possibly_t) const {
    return {asio::prefer(inner, asio::execution::blocking.possibly), false};
  }
  faulty_executor prefer(asio::execution::outstanding_work_t::tracked_t) const {
    if (auto& hook = on_track(); hook) std::exchange(hook, nullptr)(); // once
    return {asio::prefer(inner, asio::execution::outstanding_work.tracked), never};
  }
  /// Runs (once) at the next prefer(outstanding_work.tracked) of a faulty_executor: to act at
  /// exactly that point (a task's token wait asks for a tracked executor in its await_suspend,
  /// just before it registers with the token).
  static std::function<void()>& on_track() {
    static std::function<void()> hook;
    return hook;
  }
  faulty_executor prefer(asio::execution::outstanding_work_t::untracked_t) const {
    return {asio::prefer(inner, asio::execution::outstanding_work.untracked), never};
  }
  template <class F>
  void execute(F&& f) const {
    point();
    if (never)
      asio::require(inner, asio::execution::blocking.never).execute(std::forward<F>(f));
    else
      inner.execute(std::forward<F>(f));
  }
  friend bool operator==(const faulty_executor& a, const faulty_executor& b) noexcept {
    return a.inner == b.inner && a.never == b.never;
  }
  friend bool operator!=(const faulty_executor& a, const faulty_executor& b) noexcept {
    return !(a == b);
  }
};

/// A strand over a faulty_executor of `io`, made while disarmed. Give it to halt instead of a
/// plain faulty_executor, over which halt makes a strand of its own: Asio 1.22 crashes when the
/// allocation of that strand's shared_ptr control block fails (strand_executor_service::
/// create_implementation deletes a strand_impl whose destructor locks an unset mutex).
inline asio::any_io_executor faulty_strand(asio::io_context& io) {
  return asio::make_strand(asio::any_io_executor(faulty_executor{io.get_executor()}));
}

} // namespace halt_test::fault

// ---- replaced global allocation functions (one translation unit per binary) -------------------
// A test file with a replacement of its own defines HALT_TEST_FAULT_OWN_OPERATOR_NEW before
// including this header, and calls halt_test::fault::hit() from its operator new.
#if !defined(HALT_TEST_FAULT_OWN_OPERATOR_NEW)

#if defined(__GNUC__) && !defined(__clang__)
// GCC sees the replaced operator new inline and misreads free() in operator delete as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (halt_test::fault::hit_alloc()) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return ::operator new(n, std::nothrow);
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (halt_test::fault::hit_alloc()) throw std::bad_alloc();
  const std::size_t al = static_cast<std::size_t>(a);
  const std::size_t sz = (n + al - 1) / al * al;
  if (void* p = std::aligned_alloc(al, sz ? sz : al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

#endif // !HALT_TEST_FAULT_OWN_OPERATOR_NEW
