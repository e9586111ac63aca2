// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::cancellation_token: a tree of cancellation tokens with reasons, callbacks, Asio waits and
// deadlines (Tokio's CancellationToken, done for Asio).
//
//   class cancellation_token {
//    public:
//     cancellation_token();                                  // a new root, not cancelled
//     bool is_cancelled() const noexcept;                    // one atomic load
//     halt::error_code reason() const noexcept;              // empty until cancelled
//     void throw_if_cancelled() const;                       // system_error(reason())
//     void cancel(halt::error_code reason = errc::cancelled); // idempotent, first wins
//     cancellation_token child_token() const;
//     cancellation_token child_token_at(ExOrCtx&&, steady_clock::time_point) const;
//     cancellation_token child_token_after(ExOrCtx&&, duration) const;
//     std::optional<steady_clock::time_point> deadline() const noexcept;
//     cancellation_registration on_cancel(F&& f) const;      // RAII, no allocation
//     auto async_wait(CompletionToken&&) const;              // void(halt::error_code)
//     dual_awaitable<void> cancelled() const;                // co_await token.cancelled()
//     halt::drop_guard drop_guard() const;
//     bool valid() const noexcept;                           // false when moved-from
//   };
//   class cancellation_registration;  // move-only; deregisters on destruction (own header)
//   class drop_guard;                 // cancels on destruction unless disarm()ed
//   cancellation_token linked_token(const cancellation_token&...);
//
// Thread safety: every member function of cancellation_token may be called from any thread on the
// same or on different handles. One handle object (like any C++ object) must not be assigned or
// destroyed while another thread uses it; copy it instead, copies are cheap. A
// cancellation_registration object may be used (reset, destroyed, moved) by one thread at a time,
// which need not be the thread that created it; it is safe against concurrent cancels.
//
// Limits: cancel() issued from inside a cancellation callback (which is also how a linked_token
// is cancelled by its inputs) does not wait for other threads that are cancelling the same
// subtree. Nesting linked tokens (linked_token(linked_token(...))) recurses once per level when
// they are cancelled or dropped; child_token chains never recurse.
//
// Empty tokens: a moved-from token is empty (`valid() == false`). It is never cancelled and
// reports no reason and no deadline; cancel(), child_token*(), on_cancel(), drop_guard() and
// async_wait() on it throw halt::system_error with halt::errc::no_state.

#include <halt/cancellation_registration.hpp>
#include <halt/detail/config.hpp>
#include <halt/detail/timer_node.hpp>
#include <halt/detail/timer_service.hpp>
#include <halt/detail/token_node.hpp>
#include <halt/detail/token_tree.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/dual_awaitable.hpp>
#include <halt/error.hpp>
#include <halt/task.hpp>
#include <halt/use_task.hpp>

#include <halt/detail/asio.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace halt {

class drop_guard;

/// A handle to a node of a cancellation tree. Copies are cheap handles to the same node, and
/// `==` compares nodes. See the synopsis at the top of this header for thread safety.
class cancellation_token {
public:
  using clock = std::chrono::steady_clock;

  /// Creates a new root token that is not cancelled.
  cancellation_token() : n_(detail::new_root()) {}

  cancellation_token(const cancellation_token& o) noexcept : n_(o.n_) { detail::add_handle(n_); }

  /// Leaves `o` empty.
  cancellation_token(cancellation_token&& o) noexcept
      : n_(std::exchange(o.n_, &detail::empty_node)) {}

  cancellation_token& operator=(const cancellation_token& o) noexcept {
    cancellation_token(o).swap(*this);
    return *this;
  }

  cancellation_token& operator=(cancellation_token&& o) noexcept {
    cancellation_token(std::move(o)).swap(*this);
    return *this;
  }

  ~cancellation_token() { detail::release_handle(n_); }

  void swap(cancellation_token& o) noexcept { std::swap(n_, o.n_); }

  /// False for a moved-from token.
  bool valid() const noexcept { return n_ != &detail::empty_node; }
  explicit operator bool() const noexcept { return valid(); }

  /// True once this token or an ancestor has been cancelled. One atomic load; never blocks.
  bool is_cancelled() const noexcept {
    return (n_->state_.load(std::memory_order_acquire) & detail::st_cancelled) != 0;
  }

  /// The reason given to the cancel that reached this token; empty until then. Every descendant
  /// cancelled by the same call reports the same reason.
  halt::error_code reason() const noexcept {
    if (!is_cancelled()) return {};
    return n_->reason();
  }

  /// Throws halt::system_error(reason()) if the token is cancelled; for loops in blocking code.
  void throw_if_cancelled() const {
    if (is_cancelled()) throw halt::system_error(n_->reason(), "halt: cancelled");
  }

  /// Cancels this token and all its descendants. Idempotent: the first reason wins.
  ///
  /// When it returns, this token and every descendant report is_cancelled(), and every callback
  /// registered before the call has run (callbacks run in this thread, with no lock held; if
  /// another thread is cancelling the same subtree, this call waits for it). Waits made by
  /// async_wait() are completed through their handlers' executors, never inline.
  /// The tree is not cancelled atomically: an observer on another thread can see a parent
  /// cancelled before its child during the call.
  ///
  /// \throws halt::system_error (halt::errc::no_state) on an empty token.
  /// \throws std::invalid_argument if `reason` is not an error (a zero value).
  void cancel(halt::error_code reason = errc::cancelled) const {
    require_state();
    if (!reason) throw std::invalid_argument("halt::cancellation_token::cancel: reason must be non-zero");
    detail::cancel_node(n_, reason);
  }

  /// A new token that is cancelled whenever this one (or an ancestor) is. Cancelling the child
  /// never affects its parent or siblings. A child of a cancelled token is born cancelled with
  /// the parent's reason. The child inherits this token's deadline.
  cancellation_token child_token() const {
    require_state();
    return cancellation_token(adopt_tag{}, detail::new_child(n_));
  }

  /// A child token that also cancels itself with halt::errc::timed_out at `deadline`, driven by
  /// the timing wheel of `ex`'s execution context (sleep.hpp: 1 ms resolution, never early; no
  /// system call to set or cancel it; `ex` is an executor or an execution context). A deadline in
  /// the past gives a token born cancelled with timed_out. The child's deadline() is the earlier
  /// of `deadline` and this token's deadline. Dropping the last handle to the child (tokens and
  /// registrations; its own children count too, since the deadline must still reach them)
  /// takes it off the wheel at once and frees it: io_context::run() does not wait for deadlines
  /// nobody watches. If `ex`'s execution context is destroyed first, the deadline never fires.
  /// As with any Asio I/O object, do not destroy that context while another thread cancels or
  /// drops the token (a token that outlives its context is fine).
  template <class ExOrCtx>
  cancellation_token child_token_at(ExOrCtx&& ex, clock::time_point deadline) const;

  /// child_token_at(ex, now + d). \throws std::invalid_argument if `d` is negative.
  template <class ExOrCtx, class Rep, class Period>
  cancellation_token child_token_after(ExOrCtx&& ex, std::chrono::duration<Rep, Period> d) const {
    if (!(d >= d.zero())) // negative, or NaN
      throw std::invalid_argument("halt::cancellation_token::child_token_after: negative (or NaN) duration");
    const auto now = clock::now();
    const auto room = std::chrono::duration_cast<std::chrono::duration<double>>(
        clock::time_point::max() - now);
    if (std::chrono::duration<double>(d) >= room)
      return child_token_at(std::forward<ExOrCtx>(ex), clock::time_point::max() - clock::duration(1));
    return child_token_at(std::forward<ExOrCtx>(ex),
                          now + std::chrono::ceil<clock::duration>(d));
  }

  /// The earliest deadline of this token and its ancestors (at the time it was created), if any.
  std::optional<clock::time_point> deadline() const noexcept {
    if (!n_->is_ext()) return std::nullopt;
    auto d = detail::ext_deadline(n_);
    if (d == clock::time_point::max()) return std::nullopt;
    return d;
  }

  /// Registers `f` to run once when this token is cancelled; see cancellation_registration.
  /// If the token is already cancelled, `f` runs inline before on_cancel returns.
  template <class F>
    requires std::invocable<std::decay_t<F>&>
  [[nodiscard]] cancellation_registration on_cancel(F&& f) const {
    require_state();
    cancellation_registration r;
    r.store(std::forward<F>(f));
    if (!r.attach(n_)) r.run_now();
    return r;
  }

  /// An Asio asynchronous operation, signature void(halt::error_code), that completes when this
  /// token is cancelled: with a default error_code when the token is cancelled, or with
  /// asio::error::operation_aborted if the wait itself is cancelled through the handler's
  /// cancellation slot (terminal, partial or total). It always completes through the handler's
  /// associated executor (asio::system_executor if it has none), never inline inside cancel().
  /// A pending wait counts as outstanding work on that executor, and it is destroyed without
  /// completing when that executor's execution context shuts down.
  /// \throws halt::system_error (halt::errc::no_state) on an empty token.
  template <class CompletionToken>
  auto async_wait(CompletionToken&& token) const {
    require_state(); // here, not inside the initiation: Asio 1.22 terminates on a throw there
    return asio::async_initiate<CompletionToken, void(halt::error_code)>(
        initiate_wait{}, token, cancellation_token(*this));
  }

  /// `co_await token.cancelled();` waits until the token is cancelled; on a cancelled token it
  /// completes without suspending (a select branch that wins at once). A dual_awaitable: an
  /// asio::awaitable awaits its awaitable form (operation_aborted if cancelled first), a
  /// halt::task its task form: the wait in the task's frame, no co_spawn (a drop withdraws it).
  /// \throws halt::system_error (halt::errc::no_state) on an empty token.
  dual_awaitable<void> cancelled() const {
    require_state();
    return dual_awaitable<void>(is_cancelled() ? ready_now() : async_wait(asio::use_awaitable),
                                wait_task(*this));
  }

  /// A guard that cancels this token when destroyed, unless disarm()ed.
  halt::drop_guard drop_guard() const;

private:
  template <int = 0> // compiled only where used: g++ emits every inline coroutine it sees
  static asio::awaitable<void> ready_now() { co_return; }
  // cancelled()'s task form (detail/token_wait.hpp): returns at once if t is cancelled by then.
  template <int = 0>
  static task<void> wait_task(cancellation_token t);

public:

  friend bool operator==(const cancellation_token& a, const cancellation_token& b) noexcept {
    return a.n_ == b.n_;
  }

  /// For hashing and logging: the identity of the node.
  const void* id() const noexcept { return n_; }

private:
  struct adopt_tag {};
  cancellation_token(adopt_tag, detail::node* n) noexcept : n_(n) {}

  void require_state() const {
    if (!valid()) throw halt::system_error(make_error_code(errc::no_state), "halt::cancellation_token");
  }

  struct initiate_wait {
    template <class Handler>
    void operator()(Handler&& handler, cancellation_token t) const {
      t.require_state();
      using H = std::decay_t<Handler>;
      auto ex = asio::get_associated_executor(handler, asio::system_executor()); // (as Asio < 1.37)
      using Ex = decltype(ex);
      auto& svc = detail::wait_service_of(detail::context_of(ex));
      using op_t = detail::wait_op<H, Ex, cancellation_registration>;
      auto* op = new op_t(std::forward<Handler>(handler), ex, svc);
      try {
        if (op->slot_.is_connected()) {
          op->slot_.assign([op](asio::cancellation_type type) {
            if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                         asio::cancellation_type::total)) != asio::cancellation_type::none)
              op->claim(asio::error::operation_aborted);
          });
        }
        op->reg_.store([op]() noexcept { op->claim({}); });
      } catch (...) {
        op->release_hooks();
        delete op;
        throw;
      }
      // Registered under the service's lock, so that a shutdown never sees a half-made op.
      bool attached = false;
      if (!svc.add(op, [&]() noexcept { attached = op->reg_.attach(t.n_); })) {
        op->release_hooks(); // the context is shutting down: drop the wait, as Asio drops handlers
        delete op;
        return;
      }
      if (!attached) op->claim({}); // already cancelled: complete (through the executor)
    }
  };

  friend class drop_guard;
  friend detail::node* detail_node_of(const cancellation_token&) noexcept;
  friend cancellation_token detail_adopt_token(detail::node*) noexcept;

  detail::node* n_;
};

/// Cancels a token when destroyed, unless disarm() was called. Move-only. Tokio's DropGuard.
class drop_guard {
public:
  /// A guard that guards nothing.
  drop_guard() noexcept : t_(empty()) {}
  explicit drop_guard(cancellation_token t) noexcept : t_(std::move(t)) {}
  drop_guard(drop_guard&&) noexcept = default;
  drop_guard& operator=(drop_guard&& o) noexcept {
    if (this != &o) {
      fire();
      t_ = std::move(o.t_);
    }
    return *this;
  }
  drop_guard(const drop_guard&) = delete;
  drop_guard& operator=(const drop_guard&) = delete;
  ~drop_guard() { fire(); }

  /// Stops guarding and hands the token back (empty if already disarmed).
  [[nodiscard]] cancellation_token disarm() noexcept { return std::move(t_); }

  /// The guarded token (empty once disarmed).
  const cancellation_token& token() const noexcept { return t_; }

private:
  static cancellation_token empty() noexcept {
    cancellation_token t(cancellation_token::adopt_tag{}, &detail::empty_node);
    return t;
  }
  void fire() noexcept {
    if (t_.valid()) detail::cancel_node(t_.n_, make_error_code(errc::cancelled));
  }
  cancellation_token t_;
};

inline drop_guard cancellation_token::drop_guard() const {
  require_state();
  return halt::drop_guard(*this);
}

// Internal access for halt's own headers. Not part of the API.
inline detail::node* detail_node_of(const cancellation_token& t) noexcept { return t.n_; }
inline cancellation_token detail_adopt_token(detail::node* n) noexcept {
  return cancellation_token(cancellation_token::adopt_tag{}, n);
}

template <class ExOrCtx>
cancellation_token cancellation_token::child_token_at(ExOrCtx&& ex, clock::time_point deadline) const {
  require_state();
  const auto inherited = this->deadline().value_or(clock::time_point::max());
  if (inherited <= deadline) return child_token(); // the ancestor's deadline comes first
  detail::timer_service& svc = detail::timer_service::of(detail::to_executor(std::forward<ExOrCtx>(ex)));
  auto* n = new detail::timer_node();
  detail::count_node(1);
  n->deadline_ = deadline;
  cancellation_token child(adopt_tag{}, n);
  if (!detail::adopt(n_, n)) return child; // born cancelled with the parent's reason
  if (deadline <= clock::now()) {
    detail::cancel_node(n, make_error_code(errc::timed_out));
    return child;
  }
  n->w_.when = svc.tick_of(deadline);
  n->svc_ = &svc;
  n->timed_ = true;
  detail::add_ref(n); // the wheel's: released when it lets go of the waiter (or never gets it)
  if (!detail::link_entry(n, &n->entry_)) { // cancelled meanwhile: no waiter needed
    n->release_unarmed();
    return child;
  }
  // If the node is cancelled between link_entry() and arm(), stop() already ran: no arm.
  n->arm();
  return child;
}

namespace detail {
// Defined in linked_node.hpp (included at the end of this header).
inline cancellation_token make_linked(const cancellation_token* const* ins, std::size_t count);
} // namespace detail

/// A new root token that is cancelled as soon as any of its inputs is, with that input's reason
/// (the first one wins). Its deadline is the earliest of the inputs' deadlines. The inputs stay
/// in their trees while the linked token lives.
/// \throws halt::system_error (halt::errc::no_state) if an input is empty.
template <class... Ts>
cancellation_token linked_token(const cancellation_token& first, const Ts&... rest) {
  static_assert((std::is_same_v<Ts, cancellation_token> && ...),
                "halt::linked_token takes cancellation_tokens");
  const cancellation_token* ins[] = {&first, &rest...};
  return detail::make_linked(ins, 1 + sizeof...(rest));
}

/// linked_token over a runtime list, with the same rules.
/// An empty list is accepted: it gives a new root with no inputs and no deadline, which nothing
/// cancels but a direct cancel() on it (or on a copy). Check for an empty list first if "no
/// inputs" should mean "cancelled" or is a mistake in your program.
inline cancellation_token linked_token(const std::vector<cancellation_token>& tokens) {
  std::vector<const cancellation_token*> ins;
  ins.reserve(tokens.size());
  for (const auto& t : tokens) ins.push_back(&t);
  return detail::make_linked(ins.data(), ins.size());
}

} // namespace halt

// linked_token's node and cancelled()'s wait in a task (they need cancellation_token complete).
#include <halt/detail/linked_node.hpp>
#include <halt/detail/token_wait.hpp>

template <>
struct std::hash<halt::cancellation_token> {
  std::size_t operator()(const halt::cancellation_token& t) const noexcept {
    return std::hash<const void*>{}(t.id());
  }
};
