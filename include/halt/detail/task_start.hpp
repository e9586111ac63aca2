// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// Starting a halt::task (task.hpp): the root that owns a started chain and its completion
// handler, the drop hooks put into the start token's cancellation slot, and the initiation
// (start_init) behind std::move(task)(ex, token). Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/serial_check.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace halt::detail::tsk {

template <class T>
struct start_signature {
  using type = void(std::exception_ptr, T);
};
template <>
struct start_signature<void> {
  using type = void(std::exception_ptr);
};

// Set while root::finish schedules its completion: the completion marks it when it runs inline,
// so that finish tells the handler's exception from a failure to schedule it.
inline thread_local bool* completion_entered = nullptr;

// The exception_ptr a dropped task completes with: one object for every drop (made once), so a
// drop neither allocates nor builds a message, and a receiver can recognise it by comparison.
inline const std::exception_ptr& dropped_exception() noexcept {
  static const std::exception_ptr e =
      std::make_exception_ptr(halt::system_error(asio::error::operation_aborted));
  return e;
}

// A drop emitted from another executor than the task's (the start slot of a task awaited by a
// task on another strand, say): the slot's handler posts the drop to the task's executor, where
// the root is, if it still is. The link is shared by the slot's handler and the root, and freed
// by the last of them; its root pointer is touched only on the task's executor.
struct remote_link {
  std::atomic<int> refs{2};
  root_base* r;
  asio::any_io_executor ex;
  remote_link(root_base* root, asio::any_io_executor e) : r(root), ex(std::move(e)) {}
  static void release(remote_link* l) noexcept {
    if (l->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete l;
  }
  static void cut(remote_link* l) noexcept { // by the root, on its executor, as it goes
    l->r = nullptr;
    release(l);
  }
};

// A started chain: owns its outermost frame and the completion handler.
template <class T, class Handler>
class root final : public root_base {
  using handler_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;
  using work_executor = std::decay_t<decltype(asio::prefer(
      std::declval<handler_executor>(), asio::execution::outstanding_work.tracked))>;
  using allocator = typename std::allocator_traits<asio::associated_allocator_t<
      Handler, asio::recycling_allocator<void>>>::template rebind_alloc<root>;

public:
  root(asio::any_io_executor ex, Handler&& h)
      : root_base(&own_ex_), own_ex_(std::move(ex)), handler_(std::move(h)),
        work_(asio::prefer(asio::get_associated_executor(handler_, own_ex_),
                           asio::execution::outstanding_work.tracked)) {}

  static root* create(asio::any_io_executor ex, Handler&& h) {
    allocator a(asio::get_associated_allocator(h, asio::recycling_allocator<void>()));
    root* p = std::allocator_traits<allocator>::allocate(a, 1);
    try {
      return ::new (static_cast<void*>(p)) root(std::move(ex), std::move(h));
    } catch (...) {
      std::allocator_traits<allocator>::deallocate(a, p, 1);
      throw;
    }
  }

  asio::cancellation_slot start_slot_;
  remote_link* remote_ = nullptr; // set when the start slot's emitter runs on another executor

  void finish(bool dropped) override {
    std::exception_ptr e;
    std::optional<value_holder> v;
    if (dropped) {
      e = dropped_exception();
    } else {
      auto& p = std::coroutine_handle<promise<T>>::from_address(frame_.address()).promise();
      e = p.error_;
      if constexpr (!std::is_void_v<T>) {
        if (!e) {
          try {
            v.emplace(value_holder::make(std::move(*p.value_)));
          } catch (...) { // the value's move (or its box) threw: that is the task's outcome
            e = std::current_exception();
          }
        }
      }
      std::exchange(frame_, nullptr).destroy();
    }
    const bool post = initiating == this; // never complete inline inside the starting call
    // The start slot belongs to the handler's executor. When that is the task's, clear it here;
    // otherwise it is cleared by the completion, on the handler's executor, and a drop that
    // arrives meanwhile finds the link cut.
    asio::cancellation_slot remote_slot;
    if (remote_) {
      remote_slot = start_slot_;
      remote_link::cut(std::exchange(remote_, nullptr));
    } else if (start_slot_.is_connected()) {
      start_slot_.clear();
    }
    allocator a(asio::get_associated_allocator(handler_, asio::recycling_allocator<void>()));
    Handler h(std::move(handler_));
    work_executor w(std::move(work_));
    destroy_self(a);
    auto complete = [h = std::move(h), e = std::move(e), v = std::move(v), remote_slot]() mutable {
      if (completion_entered) *std::exchange(completion_entered, nullptr) = true;
      if (remote_slot.is_connected()) remote_slot.clear();
      if constexpr (std::is_void_v<T>) {
        (void)v; // always empty for void
        std::move(h)(e);
      } else if (v) {
        std::move(h)(e, std::move(*v).take());
      } else {
        std::move(h)(e, T{});
      }
    };
    // What the handler throws when dispatched inline propagates (Asio lets it leave run());
    // a completion that cannot be scheduled at all (bad_alloc) is dropped: its handler is
    // destroyed uncalled, as when the execution context shuts down.
    bool entered = false;
    bool* const outer = std::exchange(completion_entered, &entered);
    try {
      if (post)
        asio::post(w, std::move(complete));
      else
        asio::dispatch(w, std::move(complete));
    } catch (...) {
      completion_entered = outer;
      if (entered) throw;
      return;
    }
    completion_entered = outer;
  }

  // Abandoned (the execution context is being destroyed): as Asio's own operations do, the start
  // slot is left alone (its signal may already be gone). Its handler now refers to freed memory:
  // the signal must not be emitted again (it usually goes with the handler's owner, destroyed
  // here).
  void discard() noexcept override {
    if (remote_) remote_link::cut(std::exchange(remote_, nullptr));
    if (frame_) std::exchange(frame_, nullptr).destroy();
    destroy_self();
  }

private:
  // The value on its way to the handler: T itself, or boxed when T's move may throw, so that
  // moving the completion around (into Asio's queue) cannot throw.
  struct value_holder {
    using V = std::conditional_t<std::is_void_v<T>, char, T>;
    static constexpr bool boxed = !std::is_nothrow_move_constructible_v<V>;
    std::conditional_t<boxed, std::unique_ptr<V>, V> value;
    static value_holder make(V&& x) {
      if constexpr (boxed)
        return value_holder{std::make_unique<V>(std::move(x))};
      else
        return value_holder{std::move(x)};
    }
    V take() && {
      if constexpr (boxed)
        return std::move(*value);
      else
        return std::move(value);
    }
  };

  void destroy_self() noexcept {
    destroy_self(allocator(asio::get_associated_allocator(handler_, asio::recycling_allocator<void>())));
  }
  void destroy_self(allocator a) noexcept {
    this->~root();
    std::allocator_traits<allocator>::deallocate(a, this, 1);
  }

  asio::any_io_executor own_ex_;
  Handler handler_;
  work_executor work_;
};

struct remote_cancel {
  remote_link* l;
  explicit remote_cancel(remote_link* link) noexcept : l(link) {}
  remote_cancel(const remote_cancel&) = delete;
  remote_cancel& operator=(const remote_cancel&) = delete;
  ~remote_cancel() { remote_link::release(l); }
  void operator()(asio::cancellation_type_t t) const {
    if ((t & asio::cancellation_type::terminal) == asio::cancellation_type::none) return;
    l->refs.fetch_add(1, std::memory_order_relaxed);
    struct job {
      remote_link* l;
      job(remote_link* link) noexcept : l(link) {}
      job(job&& o) noexcept : l(std::exchange(o.l, nullptr)) {}
      ~job() {
        if (l) remote_link::release(l);
      }
      void operator()() {
        remote_link* link = std::exchange(l, nullptr);
        root_base* r = link->r;
        remote_link::release(link);
        if (r) r->request_drop();
      }
    };
    asio::dispatch(l->ex, job(l));
  }
};

// Terminal cancellation on the start token's slot drops the task. The first one disarms the
// handler: the root may be gone when request_drop() returns (a drop whose post failed abandons
// it, and the exception leaves the emit), and a later emit on the slot must not reach it.
struct start_cancel {
  mutable root_base* r;
  void operator()(asio::cancellation_type_t t) const {
    if ((t & asio::cancellation_type::terminal) == asio::cancellation_type::none || !r) return;
    std::exchange(r, nullptr)->request_drop();
  }
};

struct start_init {
  template <class Handler, class T>
  void operator()(Handler&& h, task<T> t) const {
    using ex_t = asio::associated_executor_t<std::decay_t<Handler>, asio::system_executor>;
    static_assert(!std::is_same_v<ex_t, asio::system_executor>,
                  "std::move(task)(token): the completion handler has no associated executor to run "
                  "the task on; use std::move(task)(executor, token) or asio::bind_executor");
    (*this)(std::forward<Handler>(h), asio::any_io_executor(asio::get_associated_executor(h, asio::system_executor())),
            std::move(t));
  }

  template <class Handler, class T>
  void operator()(Handler&& h, asio::any_io_executor ex, task<T> t) const {
    if constexpr (!std::is_void_v<T>)
      static_assert(std::is_default_constructible_v<T>,
                    "starting a halt::task<T> needs a default-constructible T (the completion's "
                    "value when the task threw or was dropped), as co_spawn does");
    using root_t = root<T, std::decay_t<Handler>>;
    auto slot = asio::get_associated_cancellation_slot(h);
    serial_check check; // may throw (the service's creation), before anything is built
    // The task's context, for a handler lost on another thread (task_frame.hpp). May throw too.
    const std::uint64_t home = wait_service_of(context_of(ex)).serial();
#if HALT_CHECK_SERIAL
    check = serial_check_for(ex); // a debug build reports two threads inside the chain
#endif
    // Whether a drop emitted on the slot (from the handler's executor) comes from another
    // executor than the task's. A handler executor that any_io_executor cannot hold (use_future's
    // promise executor, say) is another executor.
    using handler_ex_t = asio::associated_executor_t<std::decay_t<Handler>, asio::any_io_executor>;
    bool remote = true;
    if constexpr (std::is_constructible_v<asio::any_io_executor, handler_ex_t>)
      remote = asio::any_io_executor(asio::get_associated_executor(h, ex)) != ex;
    root_t* r = root_t::create(ex, std::move(h));
    r->check_ = check;
    r->home_ = home;
    auto& p = t.h_.promise();
    r->frame_ = std::exchange(t.h_, nullptr);
    p.root_ = r;
    p.owner_ = &r->frame_;
    r->leaf_ = &p;
    if (slot.is_connected()) {
      try {
        if (remote) { // the emitter is not on the task's executor
          auto* link = new remote_link(r, r->executor());
          r->remote_ = link;
          slot.template emplace<remote_cancel>(link);
        } else {
          slot.template emplace<start_cancel>(start_cancel{r});
        }
      } catch (...) { // bad_alloc: nothing started; the frame, the root and the handler go
        if (r->remote_) { // the slot's handler was not made: the root's release is the last
          remote_link::release(r->remote_);
          r->remote_ = nullptr;
        }
        r->discard();
        throw;
      }
      r->start_slot_ = slot;
    }
    // r may be gone once dispatch returns (finished inline, or posted and run elsewhere).
    root_base* const outer = std::exchange(initiating, r);
    try {
      asio::dispatch(r->executor(), root_job(r, [](root_base* rb) {
                       if (rb->drop_requested_)
                         rb->drop(); // dropped before it started: nothing of it runs
                       else
                         drive(rb, rb->frame_);
                     }));
    } catch (...) {
      // The job could not be scheduled (bad_alloc): its destruction abandoned the root. Its
      // cancellation handler must not stay in the caller's slot.
      initiating = outer;
      if (slot.is_connected()) slot.clear();
      throw;
    }
    initiating = outer;
  }
};

} // namespace halt::detail::tsk
