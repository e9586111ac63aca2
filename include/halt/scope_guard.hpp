// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// Scope guards (P0052 / Library Fundamentals v3 semantics): RAII stand-ins for Rust's Drop.
//
//   template <class F> class scope_exit;    // runs f() when the scope ends, however it ends
//   template <class F> class scope_fail;    // runs f() when the scope ends by an exception
//   template <class F> class scope_success; // runs f() when the scope ends without an exception
//   // each: explicit ctor(F&&), move constructor, void release() noexcept; no copy, no assignment
//
// In a coroutine, "however it ends" covers: a normal return, an exception, an abort or a lost
// select/timeout (the cancelled co_await throws operation_aborted, and the guard runs while the
// frame unwinds), and the frame being destroyed without resumption (the io_context destroyed
// while the task is suspended).
//
// The fail/success decision compares std::uncaught_exceptions() at construction and destruction,
// as P0052 does, and also counts a halt::task being dropped (its frames destroyed without being
// resumed: an abort, a lost select, its io_context destroyed) as a failure: scope_fail runs,
// scope_success does not. An asio::awaitable frame destroyed without resumption (its io_context
// destroyed while it is suspended) has no exception in flight, so there it counts as success:
// for commit-or-rollback use scope_exit plus release() on the commit path, which is right in
// every case. The guards run synchronously; for cleanup that must co_await, see
// halt::finally (shield.hpp).
//
// Bad input: none; the function must be callable with no arguments (checked at compile time). If
// storing the function throws, scope_exit and scope_fail call it at once and rethrow.
// Thread safety: a guard is an ordinary object used by one thread at a time.

#include <halt/detail/config.hpp>

#include <exception>
#include <type_traits>
#include <utility>

namespace halt {

namespace detail {

struct on_exit_policy {
  bool should_run() const noexcept { return true; }
};
// A scope fails if it ends by an exception, or because the halt::task running it is dropped
// (its frames destroyed without being resumed: detail::frames_dropping).
struct on_fail_policy {
  int count = std::uncaught_exceptions();
  int drops = frames_dropping;
  bool should_run() const noexcept { return std::uncaught_exceptions() > count || frames_dropping > drops; }
};
struct on_success_policy {
  int count = std::uncaught_exceptions();
  int drops = frames_dropping;
  bool should_run() const noexcept { return std::uncaught_exceptions() <= count && frames_dropping <= drops; }
};

template <class F, class Policy, bool CallOnConstructionFailure>
class basic_scope_guard {
  static_assert(std::is_invocable_v<F&>, "a scope guard's function must be callable with no arguments");
  static_assert(std::is_object_v<F> || std::is_lvalue_reference_v<F>,
                "a scope guard stores a function object or a reference to one");

public:
  template <class G>
    requires(!std::is_same_v<std::remove_cvref_t<G>, basic_scope_guard> &&
             std::is_constructible_v<F, G>)
  explicit basic_scope_guard(G&& g) noexcept(std::is_nothrow_constructible_v<F, G>) try
      : f_(std::forward<G>(g)) {
  } catch (...) {
    if constexpr (CallOnConstructionFailure) g();
  }

  basic_scope_guard(basic_scope_guard&& o) noexcept(std::is_nothrow_move_constructible_v<F> ||
                                                    std::is_nothrow_copy_constructible_v<F>)
    requires(std::is_nothrow_move_constructible_v<F> || std::is_copy_constructible_v<F>)
      : f_(std::move_if_noexcept(o.f_)), policy_(o.policy_), active_(o.active_) {
    o.release();
  }

  basic_scope_guard(const basic_scope_guard&) = delete;
  basic_scope_guard& operator=(const basic_scope_guard&) = delete;
  basic_scope_guard& operator=(basic_scope_guard&&) = delete;

  ~basic_scope_guard() noexcept(!std::is_same_v<Policy, on_success_policy> ||
                                std::is_nothrow_invocable_v<F&>) {
    if (active_ && policy_.should_run()) f_();
  }

  /// The function will not run.
  void release() noexcept { active_ = false; }

private:
  F f_;
  Policy policy_{};
  bool active_ = true;
};

} // namespace detail

/// Runs the function when the scope ends, whatever way it ends (unless release()d).
template <class F>
class scope_exit : public detail::basic_scope_guard<F, detail::on_exit_policy, true> {
  using detail::basic_scope_guard<F, detail::on_exit_policy, true>::basic_scope_guard;
};
template <class F>
scope_exit(F) -> scope_exit<F>;

/// Runs the function when the scope ends by an exception (unless release()d).
template <class F>
class scope_fail : public detail::basic_scope_guard<F, detail::on_fail_policy, true> {
  using detail::basic_scope_guard<F, detail::on_fail_policy, true>::basic_scope_guard;
};
template <class F>
scope_fail(F) -> scope_fail<F>;

/// Runs the function when the scope ends without an exception (unless release()d). If the
/// function throws, the exception propagates (the destructor is noexcept only if f is).
template <class F>
class scope_success : public detail::basic_scope_guard<F, detail::on_success_policy, false> {
  using detail::basic_scope_guard<F, detail::on_success_policy, false>::basic_scope_guard;
};
template <class F>
scope_success(F) -> scope_success<F>;

} // namespace halt
