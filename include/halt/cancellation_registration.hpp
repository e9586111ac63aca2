// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::cancellation_registration: the handle of a callback registered with
// cancellation_token::on_cancel (cancellation_token.hpp, which includes this header).
//
//   class cancellation_registration {                  // move-only
//    public:
//     cancellation_registration() noexcept;            // empty
//     cancellation_registration(cancellation_registration&&) noexcept;
//     cancellation_registration& operator=(cancellation_registration&&) noexcept;
//     ~cancellation_registration();                    // deregisters; waits if f runs elsewhere
//     void reset() noexcept;
//     bool is_registered() const noexcept;             // registered and not yet run
//   };
//
// Thread safety: a cancellation_registration object may be used (reset, destroyed, moved) by one
// thread at a time, which need not be the thread that created it; it is safe against concurrent
// cancels.

#include <halt/detail/config.hpp>
#include <halt/detail/token_node.hpp>
#include <halt/detail/token_tree.hpp>
#include <halt/detail/wait_op.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

namespace halt {

class cancellation_token;

/// A callback registered with `cancellation_token::on_cancel`. Move-only RAII handle.
///
/// The callback runs exactly once if the token is cancelled while the registration exists:
/// inline in the thread that calls cancel(), or inline inside on_cancel() when the token is
/// already cancelled. It runs with no lock held. The callback is invoked as if from a `noexcept`
/// function: if it throws, std::terminate is called (as with std::stop_callback).
///
/// Destroying (or reset()ting) a registration deregisters the callback. If the callback is
/// running on another thread at that moment, the destructor waits for it to return. Destroying a
/// registration from inside its own callback is allowed and does not wait.
///
/// A registration keeps its token's node in the tree (it counts as a handle). Callables of up to
/// three pointers that are nothrow-move-constructible are stored inline with no allocation;
/// larger ones are stored on the heap.
class cancellation_registration : private detail::reg_entry {
public:
  /// An empty registration.
  cancellation_registration() noexcept = default;

  /// Takes over `other`'s registration; `other` becomes empty. If other's callback is running on
  /// another thread, waits for it to finish first.
  cancellation_registration(cancellation_registration&& other) noexcept { take(other); }

  cancellation_registration& operator=(cancellation_registration&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }

  cancellation_registration(const cancellation_registration&) = delete;
  cancellation_registration& operator=(const cancellation_registration&) = delete;

  ~cancellation_registration() { reset(); }

  /// Deregisters now (see the class comment) and destroys the callable.
  void reset() noexcept {
    if (node_) {
      detail::unlink_entry(node_, this);
      detail::release_handle(std::exchange(node_, nullptr));
    }
    if (ops_) std::exchange(ops_, nullptr)->destroy(buf_);
  }

  /// True while the callback is registered and has not started running.
  bool is_registered() const noexcept {
    return node_ && rstate_.load(std::memory_order_acquire) == detail::reg_linked;
  }

private:
  friend class cancellation_token;
  template <class, class, class>
  friend struct detail::wait_op;

  struct ops_t {
    void (*call)(void*) noexcept;
    void (*move)(void* dst, void* src) noexcept; // move-constructs into dst, destroys src
    void (*destroy)(void*) noexcept;
  };

  static constexpr std::size_t buffer_size = 3 * sizeof(void*);

  template <class F>
  static constexpr bool fits_inline = sizeof(F) <= buffer_size &&
                                      alignof(F) <= alignof(std::max_align_t) &&
                                      std::is_nothrow_move_constructible_v<F>;

  template <class F>
  static constexpr ops_t inline_ops{
      [](void* p) noexcept { (*std::launder(static_cast<F*>(p)))(); },
      [](void* dst, void* src) noexcept {
        F* s = std::launder(static_cast<F*>(src));
        ::new (dst) F(std::move(*s));
        s->~F();
      },
      [](void* p) noexcept { std::launder(static_cast<F*>(p))->~F(); }};

  template <class F>
  static constexpr ops_t heap_ops{
      [](void* p) noexcept { (**static_cast<F**>(p))(); },
      [](void* dst, void* src) noexcept { *static_cast<F**>(dst) = *static_cast<F**>(src); },
      [](void* p) noexcept { delete *static_cast<F**>(p); }};

  template <class F>
  void store(F&& f) {
    using D = std::decay_t<F>;
    if constexpr (fits_inline<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
    invoke_ = &invoke_thunk;
  }

  static void invoke_thunk(detail::reg_entry* e) noexcept {
    auto* self = static_cast<cancellation_registration*>(e);
    self->ops_->call(self->buf_);
  }

  // Registers the stored callable on `n`. Returns false, without running it, if `n` is already
  // cancelled. Once it returns true, `this` may already be running on another thread.
  bool attach(detail::node* n) noexcept {
    node_ = n;
    detail::add_handle(n);
    if (detail::link_entry(n, this)) return true;
    node_ = nullptr;
    detail::release_handle(n);
    return false;
  }

  void run_now() noexcept {
    rstate_.store(detail::reg_done, std::memory_order_relaxed);
    ops_->call(buf_);
  }

  void take(cancellation_registration& o) noexcept {
    detail::node* n = o.node_;
    if (!n) {
      if (o.ops_) move_callable(o);
      return;
    }
    std::uintptr_t s = detail::lock(n);
    const std::uint8_t rs = o.rstate_.load(std::memory_order_acquire);
    if (rs == detail::reg_linked) {
      prev_ = o.prev_;
      next_ = o.next_;
      if (prev_)
        prev_->next_ = this;
      else
        s = detail::with_head(s, this);
      if (next_) next_->prev_ = this;
      o.prev_ = o.next_ = nullptr;
      o.rstate_.store(detail::reg_idle, std::memory_order_relaxed);
      invoke_ = o.invoke_;
      move_callable(o);
      rstate_.store(detail::reg_linked, std::memory_order_relaxed);
      node_ = std::exchange(o.node_, nullptr);
      detail::unlock(n, s);
      return;
    }
    detail::unlock(n, s);
    if ((rs == detail::reg_running || rs == detail::reg_running_waited) &&
        o.runner_ == std::this_thread::get_id())
      return; // moved from inside its own running callback: leave `o` as it is
    o.reset_keep_callable();
    if (o.ops_) move_callable(o);
    rstate_.store(detail::reg_done, std::memory_order_relaxed);
  }

  void reset_keep_callable() noexcept {
    if (node_) {
      detail::unlink_entry(node_, this);
      detail::release_handle(std::exchange(node_, nullptr));
    }
  }

  void move_callable(cancellation_registration& o) noexcept {
    ops_ = std::exchange(o.ops_, nullptr);
    ops_->move(buf_, o.buf_);
  }

  detail::node* node_ = nullptr; // holds a handle while non-null
  const ops_t* ops_ = nullptr;
  alignas(std::max_align_t) unsigned char buf_[buffer_size];
};

} // namespace halt
