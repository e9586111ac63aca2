// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The node behind a token with its own deadline (cancellation_token::child_token_at): a tree node
// whose waiter sits on the timing wheel. Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/timer_service.hpp>
#include <halt/detail/token_node.hpp>
#include <halt/detail/token_tree.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <mutex>
#include <utility>

namespace halt::detail {

// A deadline node: its waiter sits on the timing wheel of the execution context it was made
// for (timer_service.hpp). Neither the waiter nor the wheel holds a handle: when the last user
// handle goes the node leaves the tree at once and its waiter leaves the wheel (unless children
// still follow it: then it stays, orphaned, until they go or the deadline passes). A callback
// entry, linked without a handle, stops the waiter when the node is cancelled by anyone.
//
// The wheel holds a memory reference to the node (add_ref) from arm() until it lets the waiter
// go: cancelled off the wheel by stop(), fired (the node is cancelled with timed_out), or handed
// back because the context is being destroyed. m_ guards svc_, armed_ and stopped_, and svc_ is
// cleared (under m_) when the wheel lets go, so a token that outlives its execution context never
// touches a dead service. Lock order: m_, then the service's lock (fire and shutdown call
// on_fire without the service's lock). On a single-threaded io_context (no lock on the wheel),
// an arm or stop from a thread that does not run the context is posted into it.
struct timer_node final : ext_node {
  struct stop_entry : reg_entry {
    timer_node* owner = nullptr;
  };
  struct waiter : timer_waiter {
    timer_node* owner = nullptr;
  };
  stop_entry entry_;
  waiter w_;
  std::mutex m_;
  timer_service* svc_ = nullptr; // while the wheel may hold w_ (or is about to)
  bool armed_ = false;           // given to svc_->arm(): linked, or being fired
  bool stopped_ = false;         // stop() ran: no arm any more
  bool timed_ = false;           // a waiter was set up (before entry_ is linked)

  timer_node() noexcept {
    keep_for_children_ = true;
    delete_ = [](ext_node* e) noexcept { delete static_cast<timer_node*>(e); };
    last_handle_ = [](ext_node* e) noexcept {
      auto* self = static_cast<timer_node*>(e);
      if (!self->timed_) return;
      unlink_entry(self, &self->entry_); // waits if the entry runs on another thread
      self->stop();
    };
    entry_.owner = this;
    entry_.invoke_ = [](reg_entry* r) noexcept { static_cast<stop_entry*>(r)->owner->stop(); };
    w_.owner = this;
    w_.on_fire = [](timer_waiter* w, bool shutdown) noexcept {
      timer_node* self = static_cast<waiter*>(w)->owner;
      {
        std::lock_guard<std::mutex> g(self->m_);
        self->armed_ = false;
        self->svc_ = nullptr;
      }
      if (!shutdown) {
        callback_scope no_wait; // never block the wheel's thread on another thread's cancel
        cancel_node(self, make_error_code(errc::timed_out));
      }
      release_ref(self); // the wheel's
    };
  }

  // Puts w_ on the wheel (the wheel's reference is already taken), unless stop() came first.
  // On the thread that runs a single-threaded context, or any thread on other contexts.
  void arm_here() {
    std::unique_lock<std::mutex> g(m_);
    if (stopped_ || !svc_) return let_go(g);
    timer_service::arm_result r;
    try {
      r = svc_->arm(&w_, clock::now());
    } catch (...) {
      let_go(g);
      throw;
    }
    if (r == timer_service::arm_result::shut_down) return let_go(g);
    armed_ = true;
  }

  // Starts the deadline: here, or posted into a single-threaded context from another thread.
  void arm() {
    if (svc_->owner_thread()) return arm_here();
    struct arm_job {
      timer_node* n;
      explicit arm_job(timer_node* p) noexcept : n(p) {}
      arm_job(arm_job&& o) noexcept : n(std::exchange(o.n, nullptr)) {}
      arm_job& operator=(arm_job&&) = delete;
      ~arm_job() {
        if (n) n->release_unarmed();
      }
      void operator()() {
        timer_node* p = std::exchange(n, nullptr);
        try {
          p->arm_here();
        } catch (...) { // no memory to arm it: this token will not time out
        }
      }
      using allocator_type = asio::recycling_allocator<void>;
      allocator_type get_allocator() const noexcept { return {}; }
    };
    // If the post throws, the job was destroyed unrun: its destructor dropped the wheel's
    // reference (dropping it here as well would free the node under the new token).
    asio::post(svc_->context_executor(), arm_job(this));
  }

  // Takes w_ off the wheel (the node was cancelled, or its last handle went). Any thread.
  void stop() noexcept {
    std::unique_lock<std::mutex> g(m_);
    stopped_ = true;
    if (!armed_ || !svc_) return;
    if (svc_->owner_thread()) {
      if (!svc_->cancel(&w_)) return; // being fired: on_fire lets go
      armed_ = false;
      return let_go(g);
    }
    // A single-threaded context, from another thread: the stop runs there. The context is alive:
    // its wheel still holds w_ (its shutdown would have cleared svc_ under m_).
    struct stop_job {
      timer_node* n;
      explicit stop_job(timer_node* p) noexcept : n(p) { add_ref(p); }
      stop_job(stop_job&& o) noexcept : n(std::exchange(o.n, nullptr)) {}
      stop_job& operator=(stop_job&&) = delete;
      ~stop_job() {
        if (n) release_ref(n);
      }
      void operator()() {
        timer_node* p = std::exchange(n, nullptr);
        {
          std::unique_lock<std::mutex> lk(p->m_);
          if (p->armed_ && p->svc_ && p->svc_->cancel(&p->w_)) {
            p->armed_ = false;
            p->let_go(lk);
          }
        }
        release_ref(p); // the job's
      }
      using allocator_type = asio::recycling_allocator<void>;
      allocator_type get_allocator() const noexcept { return {}; }
    };
    try {
      asio::post(svc_->context_executor(), stop_job(this));
    } catch (...) { // no memory for the stop: the deadline fires for nothing later
    }
  }

  // The wheel never got w_: drop its reference.
  void release_unarmed() noexcept {
    std::unique_lock<std::mutex> g(m_);
    let_go(g);
  }

private:
  // The wheel is done with w_: drop its reference (after unlocking: it may free the node).
  void let_go(std::unique_lock<std::mutex>& g) noexcept {
    svc_ = nullptr;
    g.unlock();
    release_ref(this);
  }
};

} // namespace halt::detail
