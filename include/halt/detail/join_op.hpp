// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// A pending join of a spawned task (join_handle::async_join): the operation object and how a join
// starts. Unstable internals; the protocol is at the top of task_state.hpp.

#include <halt/detail/config.hpp>
#include <halt/detail/task_state.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <type_traits>
#include <utility>

namespace halt::detail {

// The join operation: owned by the joiner context's wait_service until claimed, by finish() (the
// task's outcome), by the handler's cancellation slot (operation_aborted), or by the service's
// shutdown (destroyed without completing).
template <class Handler, class Executor>
struct join_op final : join_waiter {
  Handler handler_;
  work_holder<Executor> work_;
  asio::cancellation_slot slot_;
  task_base* task_; // kept alive by the handler (join_completion holds the task)

  join_op(Handler&& h, const Executor& ex, wait_service& svc, task_base* t)
      : handler_(std::move(h)), work_(ex), slot_(asio::get_associated_cancellation_slot(handler_)),
        task_(t) {
    service_ = &svc;
    complete_ = &op_lifetime<join_op>::complete;
    destroy_ = &op_lifetime<join_op>::destroy;
    deliver_ = &do_deliver;
  }

  // From the slot's handler, or at initiation for a finished task. noexcept: see post_claimed.
  void claim_and_post(halt::error_code ec) noexcept {
    if (service_->begin_claim(this)) post_claimed(service_, work_.executor(), this, ec);
  }

  // Posting never throws (post_claimed). Dispatching propagates what the handler, run inline,
  // throws; if the dispatch itself fails (std::bad_alloc queuing it) the op is dropped as in
  // post_claimed, and that exception propagates too. Either way the claim ends.
  static void do_deliver(join_waiter* b, halt::error_code ec, bool dispatch) {
    auto* op = static_cast<join_op*>(b);
    if (!dispatch) return post_claimed(op->service_, op->work_.executor(), op, ec);
    end_claim_guard guard{op->service_}; // also when the handler throws; *op may be gone by then
    asio::dispatch(op->work_.executor(), wait_completion(op, ec));
  }

  // Runs after the claim (the completion is posted or dispatched after it), so by_finish_ is read
  // after finish() wrote it.
  void release_hooks() noexcept {
    if (slot_.is_connected()) slot_.clear();
    if (!by_finish_) task_->unlink_joiner(this);
  }
};

// Starts a join of `st` that completes `handler` (void(halt::error_code)): never inline.
template <class T, class Handler>
void start_join(task_state<T>& st, Handler&& handler) {
  using H = std::decay_t<Handler>;
  // system_executor as the default, as Asio did before 1.37 (where it became inline_executor).
  auto ex = asio::get_associated_executor(handler, asio::system_executor());
  using Ex = decltype(ex);
  auto& svc = wait_service_of(context_of(ex));
  auto* op = new join_op<H, Ex>(std::forward<Handler>(handler), ex, svc, &st);
  if (op->slot_.is_connected()) {
    try {
      op->slot_.assign([op](asio::cancellation_type type) {
        if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                     asio::cancellation_type::total)) != asio::cancellation_type::none)
          op->claim_and_post(asio::error::operation_aborted);
      });
    } catch (...) {
      delete op;
      throw;
    }
  }
  bool finished = false;
  if (!st.add_joiner(svc, op, finished)) {
    op->release_hooks(); // the context is shutting down: drop the join, as Asio drops handlers
    delete op;
    return;
  }
  if (finished) op->claim_and_post({}); // complete through the executor, never inline here
}

} // namespace halt::detail
