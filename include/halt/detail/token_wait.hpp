// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// co_await token.cancelled() inside a halt::task: the wait itself, in the task's frame.
// Unstable internals; cancellation_token.hpp includes this header after its class.
//
// The awaiter is at once the chain's operation (tsk::op_state) and a wait that the task's
// context's wait_service tracks (wait_op_base, wait_op.hpp), and it holds the token's
// registration: no allocation, no completion handler. Exactly one party claims it (the
// service's begin_claim):
// - the token's callback (any thread): queues handler_called() on the task's executor, so the
//   task resumes there, never inside cancel();
// - a drop of the task (on its executor, root_base::cancel_wait through withdraw_): the wait is
//   withdrawn at once, with nothing in flight, so the frames go without a queue pass (a select
//   whose other branch won returns at once, as Tokio drops its `cancelled()` future);
// - the context's shutdown (destroy_): the task's frames are abandoned, as with any operation
//   whose handler the context destroys.
// While it waits it counts as outstanding work on the task's executor, as async_wait does.

#include <halt/cancellation_token.hpp>
#include <halt/detail/config.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/wait_op.hpp>

#include <halt/detail/asio.hpp>

#include <coroutine>
#include <optional>
#include <type_traits>
#include <utility>

namespace halt::detail::tsk {

class token_wait_awaiter final : public op_state, public wait_op_base {
public:
  explicit token_wait_awaiter(cancellation_token t) noexcept : token_(std::move(t)) {}
  token_wait_awaiter(const token_wait_awaiter&) = delete;
  token_wait_awaiter& operator=(const token_wait_awaiter&) = delete;
  ~token_wait_awaiter() { // not expected: a frame goes only once its wait was claimed
    if (svc_ && !claimed_.load(std::memory_order_acquire) && svc_->begin_claim(this)) {
      svc_->end_claim();
      release();
    }
  }

  bool await_ready() const noexcept { return token_.is_cancelled(); }

  template <class P>
    requires std::is_base_of_v<promise_base, P>
  bool await_suspend(std::coroutine_handle<P> h) {
    root_base* r = h.promise().root_;
    if (r->drop_requested_) {
      r->act_ = root_base::act::drop;
      return true;
    }
    root_ = r;
    frame_ = h;
    svc_ = &wait_service_of(context_of(r->executor()));
    complete_ = &on_complete;
    destroy_ = &on_destroy;
    withdraw_ = &withdraw;
    work_.emplace(asio::prefer(r->executor(), asio::execution::outstanding_work.tracked));
    st_ = st::pending;
    r->op_ = this;
    if (!svc_->add(this, [] {})) { // the context is shutting down: as a destroyed handler
      release();
      reset(r);
      r->act_ = root_base::act::abandon;
      return true;
    }
    // If the token was cancelled meanwhile, on_cancel runs the callback inline, here: it only
    // notes it (suspending_), and the task resumes at once, with no queue pass (and no post
    // that could fail while this frame is still inside await_suspend).
    inline_cancel_ = false;
    token_wait_awaiter* const outer = std::exchange(suspending_, this);
    try {
      reg_ = token_.on_cancel([this]() noexcept { claim(); });
    } catch (...) { // (std::bad_alloc) nothing registered
      suspending_ = outer;
      if (svc_->begin_claim(this)) { // take the wait back, rethrow from the co_await
        svc_->end_claim();
        release();
        reset(r);
        throw;
      }
      return true; // claimed by the context's shutdown: it abandons the chain (on_destroy)
    }
    suspending_ = outer;
    if (inline_cancel_ && svc_->begin_claim(this)) { // (else the shutdown claimed it)
      svc_->end_claim();
      release();
      reset(r);
      return false; // resume now
    }
    return true;
  }
  void await_resume() const noexcept {}

private:
  // The token's callback, on any thread: claims the wait and queues its end on the task's
  // executor. The claim keeps the context alive until the post is done (wait_service).
  void claim() noexcept {
    if (suspending_ == this) { // inline, inside await_suspend's on_cancel: it resumes at once
      inline_cancel_ = true;
      return;
    }
    if (!svc_->begin_claim(this)) return; // withdrawn, or the context shuts down
    post_claimed(svc_, *work_, this, halt::error_code{});
  }

  // The queued end (wait_completion): on the task's executor.
  static void on_complete(wait_op_base* b, halt::error_code) {
    auto* self = static_cast<token_wait_awaiter*>(b);
    self->release();
    self->handler_called(); // resumes the task, or drops it if a drop was requested meanwhile
  }
  // The context's shutdown, or a post that failed: the chain is abandoned.
  static void on_destroy(wait_op_base* b) noexcept {
    auto* self = static_cast<token_wait_awaiter*>(b);
    self->release();
    self->handler_lost();
  }
  // A drop, on the task's executor. True if the wait was still pending: it is gone now.
  static bool withdraw(op_state* s) noexcept {
    auto* self = static_cast<token_wait_awaiter*>(s);
    if (!self->svc_->begin_claim(self)) return false; // its end is queued: the drop follows it
    self->svc_->end_claim();
    self->release();
    return true;
  }

  // Deregisters (waiting for a callback still returning on another thread) and ends the work.
  void release() noexcept {
    reg_.reset();
    work_.reset();
  }
  void reset(root_base* r) noexcept {
    st_ = st::idle;
    r->op_ = nullptr;
  }

  // The awaiter whose await_suspend registers with its token on this thread (see there).
  static inline thread_local token_wait_awaiter* suspending_ = nullptr;

  cancellation_token token_;
  cancellation_registration reg_;
  bool inline_cancel_ = false; // set by the inline callback, on the suspending thread
  wait_service* svc_ = nullptr;
  std::optional<asio::any_io_executor> work_; // tracked while the wait is pending
};

// What cancellation_token::cancelled()'s task form awaits (task_promise's has_in_task).
struct token_wait {
  cancellation_token token;
  token_wait_awaiter in_task() && noexcept { return token_wait_awaiter(std::move(token)); }
};

} // namespace halt::detail::tsk

namespace halt {
template <int>
task<void> cancellation_token::wait_task(cancellation_token t) {
  detail::tsk::token_wait w{std::move(t)}; // named: g++ 12 destroys a co_await temporary twice
  co_await std::move(w);
}
} // namespace halt
