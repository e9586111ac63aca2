// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The cancellation tree behind halt::cancellation_token: the layout of its nodes and the protocol
// (the operations on the tree are in token_tree.hpp). Unstable internals.
//
// Layout and protocol
// -------------------
// A node is 64 bytes. Its first word `state_` packs the head of its callback list with three
// flags: LOCKED (a tiny spin lock that guards the node's lists), CANCELLED and DONE (the cancel
// that reached this node has finished its subtree). Only the three low bits are used because
// registration entries are only guaranteed alignof(void*) == 8: users put registrations in
// coroutine frames, and g++ aligns frames (and the locals in them) to 16 bytes at most, so no
// object a user can place may be required to be more aligned than that. (An earlier layout packed
// five flags and required 32-byte alignment; registrations in g++ frames corrupted the tree.)
// Two more flags live outside the word: `waiters_` (a thread sleeps until DONE; written under the
// lock) and `kind_` (the node is an ext_node; immutable).
//
// * is_cancelled() is one acquire load of state_ and never waits for anything.
// * Children form an intrusive doubly-linked list (first_child_, prev_, next_). A child's
//   prev_/next_ are guarded by its parent's lock; its parent_ pointer changes only while both
//   the child and its current parent are locked. Locks are taken parent before child; the only
//   child-to-parent acquisition is a try_lock.
// * Holding a child's lock pins its parent: a parent cannot finish leaving the tree (which locks
//   every child to re-parent it) or finish cancelling (which locks every child to mark it).
// * `handles_` counts the owners that keep the node in the tree: tokens and registrations (a
//   deadline node's timer and its stop entry hold none: dropping the last user handle stops
//   the timer). When it reaches zero the node leaves the tree and its children move to its
//   parent. `refs_` keeps the memory alive: 1 for membership in the
//   tree plus short-lived references taken by cancel and by the slow path of leaving.
// * cancel() marks and processes the subtree depth-first without recursion: a node that has
//   children or callbacks is descended into (its prev_ field is reused as the way back up),
//   while a leaf is finished while its parent stays locked. Callbacks run with no lock held.
//   A cancelled node stays linked in its parent until it leaves the tree (lazy unlink) unless
//   its parent is cancelled as well.

#include <halt/detail/config.hpp>
#include <halt/error.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace halt::detail {

inline constexpr std::uintptr_t st_locked = 1;
inline constexpr std::uintptr_t st_cancelled = 2;
inline constexpr std::uintptr_t st_done = 4;
inline constexpr std::uintptr_t st_flags = 7;

// Registration states.
inline constexpr std::uint8_t reg_idle = 0;
inline constexpr std::uint8_t reg_linked = 1;
inline constexpr std::uint8_t reg_running = 2;
inline constexpr std::uint8_t reg_done = 3;
inline constexpr std::uint8_t reg_running_waited = 4; // running, and a thread waits for it

// Threads that wait for a callback running elsewhere sleep on this process-wide counter rather
// than on the registration, because the canceller must not touch a registration once it has
// marked it done: the waiter may free it at once.
inline std::atomic<unsigned> reg_epoch{0};

// alignas(8): the three flag bits of state_ must be free in entry addresses, on 32-bit targets too.
// Never more than 16, which is all a g++ coroutine frame gives its locals.
struct alignas(8) reg_entry {
  reg_entry* prev_ = nullptr;
  reg_entry* next_ = nullptr;
  void (*invoke_)(reg_entry*) noexcept = nullptr;
  bool* destroyed_ = nullptr; // set by the canceller while invoke_ runs
  std::thread::id runner_{};  // the thread running invoke_
  std::atomic<std::uint8_t> rstate_{reg_idle};
};
static_assert(alignof(reg_entry) > st_flags, "the flag bits of state_ must be free in entry addresses");
static_assert(alignof(reg_entry) <= 16, "a registration must not need more than a coroutine frame gives");

inline constexpr std::uint8_t kind_plain = 0;
inline constexpr std::uint8_t kind_ext = 1;

struct node {
  std::atomic<std::uintptr_t> state_{0};
  std::atomic<std::uint32_t> handles_{1};
  std::atomic<std::uint32_t> refs_{1};
  node* parent_ = nullptr;
  node* first_child_ = nullptr;
  node* prev_ = nullptr;
  node* next_ = nullptr;
  // The reason, stored as its parts so that the flag bytes fit in the padding between them.
  // Written once, before CANCELLED is published; read only after CANCELLED was observed.
  // reason_cat_ is a std::error_category, or on Boost.Asio (reason_boost_) a Boost.System one:
  // the reason comes back exactly as it was given, equal to it under either library's rules.
  int reason_value_ = 0;
  const std::uint8_t kind_ = kind_plain;    // kind_ext for an ext_node
  std::atomic<std::uint8_t> waiters_{0};    // a thread waits for DONE; written under the lock
  std::uint8_t reason_boost_ = 0;
  const void* reason_cat_ = nullptr;

  node() noexcept = default;
  explicit node(std::uint8_t kind) noexcept : kind_(kind) {}
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  bool is_ext() const noexcept { return kind_ == kind_ext; }
  halt::error_code reason() const noexcept {
    if (!reason_cat_) return {};
#if HALT_ASIO_BOOST
    if (reason_boost_)
      return {reason_value_, *static_cast<const ::boost::system::error_category*>(reason_cat_)};
#endif
    return std::error_code(reason_value_, *static_cast<const std::error_category*>(reason_cat_));
  }
  void set_reason(const halt::error_code& ec) noexcept {
#if HALT_ASIO_BOOST
    // A Boost code that is not a std::error_code in disguise (Boost's system and generic codes,
    // say) is kept with its Boost category; a std code (halt's own) with its std category.
    const std::error_code as_std = ec;
    if (halt::error_code(as_std) != ec) {
      reason_value_ = ec.value();
      reason_cat_ = &ec.category();
      reason_boost_ = 1;
      return;
    }
    reason_value_ = as_std.value();
    reason_cat_ = &as_std.category();
#else
    reason_value_ = ec.value();
    reason_cat_ = &ec.category();
#endif
  }
  void copy_reason(const node& from) noexcept {
    reason_value_ = from.reason_value_;
    reason_cat_ = from.reason_cat_;
    reason_boost_ = from.reason_boost_;
  }
};
static_assert(sizeof(node) <= 64, "a token node must fit in 64 bytes");

using clock = std::chrono::steady_clock;

// A node with extra behaviour: an inherited or own deadline, and hooks.
struct ext_node : node {
  clock::time_point deadline_ = clock::time_point::max();
  // Runs when the last handle goes, before the node leaves the tree. May block.
  void (*last_handle_)(ext_node*) noexcept = nullptr;
  // Frees the most-derived object.
  void (*delete_)(ext_node*) noexcept = [](ext_node* n) noexcept { delete n; };
  // A root fed by upstream sources (linked_token, from_stop_token) stays in place while it has
  // children, so that they still follow the sources. Both flags are guarded by the node's lock.
  bool keep_for_children_ = false;
  bool orphaned_ = false; // no handles left; leaves when its last child does

  ext_node() noexcept : node(kind_ext) {}
  virtual ~ext_node() = default;
};

// Ext-node accessors are kept out of line: inlined into code that just allocated a plain node,
// GCC 12 reports a false -Warray-bounds on the flag-guarded downcast.
[[gnu::noinline]] inline clock::time_point ext_deadline(const node* n) noexcept {
  return static_cast<const ext_node*>(n)->deadline_;
}
[[gnu::noinline]] inline void delete_ext(node* n) noexcept {
  auto* x = static_cast<ext_node*>(n);
  x->delete_(x);
}
[[gnu::noinline]] inline void last_handle_hook(node* n) noexcept {
  auto* x = static_cast<ext_node*>(n);
  if (x->last_handle_) x->last_handle_(x);
}
// With n locked: true if n may not leave yet because children still follow it (it is marked
// orphaned and left by whoever removes its last child).
[[gnu::noinline]] inline bool defer_leave(node* n, std::uintptr_t s) noexcept {
  auto* x = static_cast<ext_node*>(n);
  if (!x->keep_for_children_ || !n->first_child_ || (s & st_cancelled)) return false;
  x->orphaned_ = true;
  return true;
}
// With n locked: true if n was orphaned and has just lost its last child; the caller must then
// call leave_tree(n) once n is unlocked.
[[gnu::noinline]] inline bool take_orphan(node* n) noexcept {
  auto* x = static_cast<ext_node*>(n);
  if (!x->orphaned_ || n->first_child_) return false;
  x->orphaned_ = false;
  return true;
}

// The node behind an empty (moved-from) token: never cancelled, never freed.
inline node empty_node{};

#ifdef HALT_COUNT_NODES
inline std::atomic<long> live_node_count{0};
inline long live_nodes() noexcept { return live_node_count.load(); }
inline void count_node(long d) noexcept { live_node_count.fetch_add(d, std::memory_order_relaxed); }
#else
inline void count_node(long) noexcept {}
#endif

// Depth of cancellation callbacks running on this thread. A cancel() issued from inside a
// callback does not wait for other cancels to finish, so that it can never wait for itself.
inline thread_local int callback_depth = 0;

inline void spin_pause(int& spins) noexcept {
  if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

inline std::uintptr_t lock(node* n) noexcept {
  std::uintptr_t s = n->state_.load(std::memory_order_relaxed);
  int spins = 0;
  for (;;) {
    if (!(s & st_locked)) {
      if (n->state_.compare_exchange_weak(s, s | st_locked, std::memory_order_acquire,
                                          std::memory_order_relaxed))
        return s | st_locked;
    } else {
      spin_pause(spins);
      s = n->state_.load(std::memory_order_relaxed);
    }
  }
}

inline bool try_lock(node* n, std::uintptr_t& out) noexcept {
  std::uintptr_t s = n->state_.load(std::memory_order_relaxed);
  while (!(s & st_locked)) {
    if (n->state_.compare_exchange_weak(s, s | st_locked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      out = s | st_locked;
      return true;
    }
  }
  return false;
}

// Only the lock holder writes state_, so unlocking is a plain release store.
inline void unlock(node* n, std::uintptr_t s) noexcept {
  n->state_.store(s & ~st_locked, std::memory_order_release);
}

inline reg_entry* head(std::uintptr_t s) noexcept {
  return reinterpret_cast<reg_entry*>(s & ~st_flags);
}
inline std::uintptr_t with_head(std::uintptr_t s, reg_entry* e) noexcept {
  return (s & st_flags) | reinterpret_cast<std::uintptr_t>(e);
}

inline void free_node(node* n) noexcept {
  count_node(-1);
  if (n->is_ext()) {
    delete_ext(n);
  } else {
    delete n;
  }
}

inline void add_ref(node* n) noexcept { n->refs_.fetch_add(1, std::memory_order_relaxed); }

inline void release_ref(node* n) noexcept {
  if (n->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) free_node(n);
}

inline node* new_root() {
  auto* n = new node();
  count_node(1);
  return n;
}

// Unlink `c` from the child list of `p`. Both are locked.
inline void unlink_child(node* p, node* c) noexcept {
  if (c->prev_)
    c->prev_->next_ = c->next_;
  else
    p->first_child_ = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
}

// Link a fresh (unpublished) child under a locked, uncancelled parent.
inline void link_child(node* p, node* c) noexcept {
  c->parent_ = p;
  c->prev_ = nullptr;
  c->next_ = p->first_child_;
  if (c->next_) c->next_->prev_ = c;
  p->first_child_ = c;
}

// Blocks until the cancel that reached `n` has finished n's subtree. The caller keeps `n` alive.
inline void wait_done(node* n) noexcept {
  if (callback_depth > 0) return; // never wait from inside a callback: it could be our own cancel
  int spins = 0;
  for (;;) {
    std::uintptr_t s = n->state_.load(std::memory_order_acquire);
    if (s & st_done) return;
    if (s & st_locked) {
      spin_pause(spins);
      continue;
    }
    if (!n->waiters_.load(std::memory_order_relaxed)) {
      std::uintptr_t ls = lock(n);
      if (!(ls & st_done)) n->waiters_.store(1, std::memory_order_relaxed);
      unlock(n, ls);
      continue;
    }
    // The canceller reads waiters_ under the lock before it publishes DONE and then notifies; if
    // DONE came in meanwhile, state_ differs from s and wait() returns at once.
    n->state_.wait(s, std::memory_order_acquire);
  }
}

struct callback_scope {
  callback_scope() noexcept { ++callback_depth; }
  ~callback_scope() { --callback_depth; }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;
};

} // namespace halt::detail
