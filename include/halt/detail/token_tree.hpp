// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The operations on the cancellation tree (token_node.hpp has the layout and the protocol):
// cancelling a subtree, leaving the tree when the last handle goes, making children, and linking
// and unlinking callback entries. Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/token_node.hpp>
#include <halt/error.hpp>

#include <atomic>
#include <cstdint>
#include <thread>

namespace halt::detail {

inline void leave_tree(node* x) noexcept;

// Cancels `root` and its whole subtree with `reason`. Returns when every callback registered on
// the subtree before the call has run (unless called from inside a callback, see callback_depth).
inline void cancel_node(node* root, const halt::error_code& reason) noexcept {
  std::uintptr_t s = lock(root);
  if (s & st_cancelled) {
    unlock(root, s);
    add_ref(root);
    wait_done(root);
    release_ref(root);
    return;
  }
  add_ref(root);
  root->set_reason(reason);
  s |= st_cancelled;
  node* cur = root;
  int batch = 0;
  const auto self = std::this_thread::get_id();
  for (;;) {
    // Invariant: cur is locked, cancelled, and s is its state.
    if (reg_entry* e = head(s)) {
      reg_entry* next = e->next_;
      if (next) next->prev_ = nullptr;
      s = with_head(s, next);
      bool destroyed = false;
      e->prev_ = e->next_ = nullptr;
      e->destroyed_ = &destroyed;
      e->runner_ = self;
      e->rstate_.store(reg_running, std::memory_order_relaxed);
      unlock(cur, s);
      {
        callback_scope scope;
        e->invoke_(e);
      }
      if (!destroyed &&
          e->rstate_.exchange(reg_done, std::memory_order_acq_rel) == reg_running_waited) {
        reg_epoch.fetch_add(1, std::memory_order_seq_cst);
        reg_epoch.notify_all();
      }
      s = lock(cur);
      continue;
    }
    if (node* c = cur->first_child_) {
      if (++batch == 256) { // let threads that wait for cur's lock in
        batch = 0;
        unlock(cur, s);
        s = lock(cur);
        continue;
      }
      unlink_child(cur, c);
      if (node* n = cur->first_child_) __builtin_prefetch(n, 1); // overlap the next miss
      std::uintptr_t cs = lock(c);
      c->parent_ = nullptr;
      if (cs & st_cancelled) {
        // c was the root of an earlier cancel and was still linked here. Its subtree is part of
        // ours: cur (and every node above it) must not get DONE before c's canceller finishes.
        if (!(cs & st_done) && callback_depth == 0) {
          add_ref(c);
          unlock(c, cs);
          unlock(cur, s); // cur keeps our reference; nothing can be linked under it (cancelled)
          wait_done(c);
          release_ref(c);
          s = lock(cur);
        } else {
          unlock(c, cs);
        }
        continue;
      }
      c->copy_reason(*root);
      cs |= st_cancelled;
      if (!head(cs) && !c->first_child_) {
        unlock(c, cs | st_done); // a leaf: finished while cur stays locked
        continue;
      }
      add_ref(c);
      c->prev_ = cur; // the way back up
      unlock(cur, s);
      cur = c;
      s = cs;
      continue;
    }
    // cur's subtree is finished.
    const bool wake = cur->waiters_.load(std::memory_order_relaxed) != 0;
    if (wake) cur->waiters_.store(0, std::memory_order_relaxed);
    s |= st_done;
    node* up = nullptr;
    if (cur != root) {
      up = cur->prev_;
      cur->prev_ = nullptr;
    }
    const bool orphan = cur->is_ext() && take_orphan(cur);
    unlock(cur, s);
    if (wake) cur->state_.notify_all();
    if (orphan) leave_tree(cur); // its handles went while children kept it; now it can go
    release_ref(cur);
    if (!up) break;
    cur = up;
    s = lock(cur);
  }
}

// Called when the last handle of `x` goes: x leaves the tree and its children move to x's parent
// (or become roots), then x's memory goes once no one else references it.
inline void leave_tree(node* x) noexcept {
  if (x->is_ext()) {
    std::uintptr_t ls = lock(x);
    const bool defer = defer_leave(x, ls);
    unlock(x, ls);
    if (defer) return;
    last_handle_hook(x);
  }
  node* resume = nullptr; // an orphaned parent that x was the last child of
  std::uintptr_t s = lock(x);
  // A cancelled node's children belong to its canceller; only an uncancelled one hands them on.
  auto move_children = [&](node* to) noexcept {
    if (!to) {
      // The children become roots. Each is unlinked while it is locked: once unlocked with no
      // parent it may leave the tree and be freed at once (another thread drops its last
      // handle), so nothing of it may be touched afterwards. Its successor stays pinned: it
      // still names x as its parent, and x is locked.
      for (node* c = x->first_child_; c;) {
        std::uintptr_t cs = lock(c);
        node* n = c->next_;
        c->parent_ = nullptr;
        c->prev_ = c->next_ = nullptr;
        unlock(c, cs);
        c = n;
      }
      x->first_child_ = nullptr;
      return;
    }
    // The children move under `to` (locked): one that leaves meanwhile must lock `to` first, so
    // the list can be spliced after the loop.
    node* last = nullptr;
    for (node* c = x->first_child_; c; c = c->next_) {
      std::uintptr_t cs = lock(c);
      c->parent_ = to;
      unlock(c, cs);
      last = c;
    }
    if (!last) return;
    last->next_ = to->first_child_;
    if (to->first_child_) to->first_child_->prev_ = last;
    to->first_child_ = x->first_child_;
    x->first_child_ = nullptr;
  };
  for (;;) {
    node* p = x->parent_;
    if (!p) {
      if (!(s & st_cancelled)) move_children(nullptr);
      break;
    }
    std::uintptr_t ps;
    if (try_lock(p, ps)) {
      unlink_child(p, x);
      if (!(s & st_cancelled)) move_children(p);
      x->parent_ = nullptr;
      if (p->is_ext() && take_orphan(p)) resume = p;
      unlock(p, ps);
      break;
    }
    // Slow path: take the locks in order. p stays alive through a temporary reference.
    add_ref(p);
    unlock(x, s);
    ps = lock(p);
    s = lock(x);
    const bool same = x->parent_ == p;
    if (same) {
      unlink_child(p, x);
      if (!(s & st_cancelled)) move_children(p);
      x->parent_ = nullptr;
      if (p->is_ext() && take_orphan(p)) resume = p;
    }
    unlock(p, ps);
    release_ref(p);
    if (same) break;
  }
  unlock(x, s);
  // x is now unreachable: no handles, no parent, no children. Only references taken earlier can
  // remain, so refs_ can no longer grow.
  if (x->refs_.load(std::memory_order_acquire) == 1)
    free_node(x);
  else
    release_ref(x);
  // The orphaned parent keeps its base reference until it leaves, so it is still alive here. Only
  // roots are kept for their children, so this goes one level up, never down a chain.
  if (resume) leave_tree(resume);
}

inline void add_handle(node* n) noexcept {
  if (n != &empty_node) n->handles_.fetch_add(1, std::memory_order_relaxed);
}

inline void release_handle(node* n) noexcept {
  if (n == &empty_node) return;
  if (n->handles_.fetch_sub(1, std::memory_order_acq_rel) == 1) leave_tree(n);
}

// Makes a child of `p`. A child of a cancelled node is born cancelled with p's reason. A child
// inherits p's deadline (then it is an ext_node).
inline node* new_child(node* p) {
  node* c;
  if (p->is_ext() && ext_deadline(p) != clock::time_point::max()) {
    auto* e = new ext_node();
    e->deadline_ = ext_deadline(p);
    c = e;
  } else {
    c = new node();
  }
  count_node(1);
  std::uintptr_t s = lock(p);
  if (s & st_cancelled) {
    unlock(p, s);
    c->copy_reason(*p);
    c->state_.store(c->state_.load(std::memory_order_relaxed) | st_cancelled | st_done,
                    std::memory_order_relaxed);
    return c;
  }
  link_child(p, c);
  unlock(p, s);
  return c;
}

// Links an unpublished ext_node under p (or marks it born-cancelled). Returns false if p was
// cancelled.
inline bool adopt(node* p, node* c) noexcept {
  std::uintptr_t s = lock(p);
  if (s & st_cancelled) {
    unlock(p, s);
    c->copy_reason(*p);
    c->state_.store(c->state_.load(std::memory_order_relaxed) | st_cancelled | st_done,
                    std::memory_order_relaxed);
    return false;
  }
  link_child(p, c);
  unlock(p, s);
  return true;
}

// Links `e` into n's callback list. Returns false (without linking) if n is already cancelled.
inline bool link_entry(node* n, reg_entry* e) noexcept {
  std::uintptr_t s = lock(n);
  if (s & st_cancelled) {
    unlock(n, s);
    return false;
  }
  HALT_ASSERT((reinterpret_cast<std::uintptr_t>(e) & st_flags) == 0);
  reg_entry* h = head(s);
  e->prev_ = nullptr;
  e->next_ = h;
  if (h) h->prev_ = e;
  e->rstate_.store(reg_linked, std::memory_order_relaxed);
  unlock(n, with_head(s, e));
  return true;
}

// Removes `e` from n's list, or waits until its callback has finished running (unless it runs
// on this thread, inside the callback itself).
inline void unlink_entry(node* n, reg_entry* e) noexcept {
  if (e->rstate_.load(std::memory_order_acquire) == reg_done) return;
  std::uintptr_t s = lock(n);
  // Acquire: reg_done is stored by the canceller after it unlocked n, so n's lock alone does not
  // order the callback's last accesses before ours.
  const std::uint8_t rs = e->rstate_.load(std::memory_order_acquire);
  if (rs == reg_linked) {
    if (e->prev_)
      e->prev_->next_ = e->next_;
    else
      s = with_head(s, e->next_);
    if (e->next_) e->next_->prev_ = e->prev_;
    e->prev_ = e->next_ = nullptr;
    e->rstate_.store(reg_idle, std::memory_order_relaxed);
    unlock(n, s);
    return;
  }
  unlock(n, s);
  if (rs != reg_running && rs != reg_running_waited) return;
  if (e->runner_ == std::this_thread::get_id()) {
    *e->destroyed_ = true; // destroyed inside its own callback: the canceller must not touch e
    return;
  }
  std::uint8_t expected = reg_running;
  if (!e->rstate_.compare_exchange_strong(expected, reg_running_waited,
                                          std::memory_order_acq_rel) &&
      expected == reg_done)
    return; // it finished meanwhile
  for (;;) {
    const unsigned epoch = reg_epoch.load(std::memory_order_seq_cst);
    if (e->rstate_.load(std::memory_order_seq_cst) == reg_done) return;
    reg_epoch.wait(epoch, std::memory_order_seq_cst);
  }
}

} // namespace halt::detail
