// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::task_tracker: counts tasks so that shutdown can wait for them (tokio-util's TaskTracker),
// with a close() that really closes.
//
//   class task_tracker {
//    public:
//     join_handle<T> spawn(ExOrCtx&& ex, Body&& body);   // throws system_error(errc::closed) once closed
//     asio::awaitable<T> track(asio::awaitable<T> aw);   // counts aw while it runs; same error
//     bool close();  bool reopen();                      // true if the state changed
//     bool is_closed() const;  std::size_t size() const;
//     dual_awaitable<void> wait();                       // until closed and empty (an
//                                                        // asio::awaitable; a halt::task awaits
//                                                        // it without co_spawn)
//   };
//
// After close(), spawn() and track() throw halt::system_error with halt::errc::closed, atomically
// with the close (Tokio #6759): a spawn either is tracked and waited for, or fails.
// Exception safety: if spawn() throws (closed, std::bad_alloc, or the copy or move of the body
// threw), nothing was counted and the body never runs; wait() is not held up by it. wait()
// completes once the tracker is closed and no tracked task is left (it waits again after a
// reopen()). Destroying the tracker neither aborts nor waits for its tasks. All members may be
// called from any thread.

#include <halt/detail/config.hpp>
#include <halt/error.hpp>
#include <halt/dual_awaitable.hpp>
#include <halt/join_handle.hpp>
#include <halt/task.hpp>

#include <halt/detail/asio.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

namespace halt {

class task_tracker {
  struct state {
    std::mutex m;
    std::size_t count = 0;
    bool closed = false;
    cancellation_token idle; // cancelled when closed and empty; replaced by reopen()
  };

public:
  task_tracker() : st_(std::make_shared<state>()) {}
  task_tracker(const task_tracker&) = delete;
  task_tracker& operator=(const task_tracker&) = delete;

  /// Spawns a tracked task (see halt::spawn). \throws halt::system_error(errc::closed) if closed.
  template <class ExOrCtx, class Body>
    requires detail::spawn_body<Body>
  auto spawn(ExOrCtx&& ex, Body&& body) {
    using T = detail::spawn_value_t<Body>;
    auto start = detail::make_start<T>(detail::to_executor(std::forward<ExOrCtx>(ex)), std::forward<Body>(body));
    std::shared_ptr<detail::coro_task<T>> task = start.st;
    enter();
    task->hook_.ctx = st_;
    task->hook_.fn = [](void* ctx, detail::task_base*) noexcept { leave(*static_cast<state*>(ctx)); };
    try {
      detail::post_start(start);
    } catch (...) { // not queued: the task never runs, and is no longer counted
      // If Asio dropped the start while unwinding, its destructor finished the task (cancelled)
      // and the hook already ran (and cleared itself): the task was counted out then.
      if (task->hook_.fn) {
        task->hook_ = {};
        leave(*st_);
      }
      throw;
    }
    return join_handle<T>(task);
  }

  /// Counts `aw` as a tracked task while it runs (however it ends). \throws system_error(closed).
  template <class T>
  asio::awaitable<T> track(asio::awaitable<T> aw) {
    enter();
    return tracked(leave_guard(st_), std::move(aw));
  }

  /// Closes the tracker: no more spawns. Returns true if it was open.
  bool close() {
    std::optional<cancellation_token> fire;
    bool changed;
    {
      std::lock_guard<std::mutex> g(st_->m);
      changed = !st_->closed;
      st_->closed = true;
      if (changed && st_->count == 0) fire = st_->idle;
    }
    if (fire) fire->cancel();
    return changed;
  }

  /// Opens the tracker again. Returns true if it was closed.
  bool reopen() {
    std::lock_guard<std::mutex> g(st_->m);
    if (!st_->closed) return false;
    st_->closed = false;
    // Closed and empty means the current idle token has fired or is about to (close() and
    // leave() cancel it after unlocking), so it is replaced here, not only once it is cancelled.
    if (st_->count == 0) st_->idle = cancellation_token();
    return true;
  }

  bool is_closed() const {
    std::lock_guard<std::mutex> g(st_->m);
    return st_->closed;
  }

  /// Number of tracked tasks still running.
  std::size_t size() const {
    std::lock_guard<std::mutex> g(st_->m);
    return st_->count;
  }

  /// Completes when the tracker is closed and empty: an asio::awaitable that a halt::task awaits
  /// without co_spawn (dual_awaitable.hpp).
  dual_awaitable<void> wait() { return {wait_in<asio::awaitable<void>>(st_), wait_in<task<void>>(st_)}; }

private:
  void enter() {
    std::lock_guard<std::mutex> g(st_->m);
    if (st_->closed)
      throw halt::system_error(make_error_code(errc::closed), "halt::task_tracker: closed");
    ++st_->count;
  }

  static void leave(state& s) noexcept {
    std::optional<cancellation_token> fire;
    {
      std::lock_guard<std::mutex> g(s.m);
      if (--s.count == 0 && s.closed) fire = s.idle;
    }
    if (fire) fire->cancel();
  }

  // Leaves when destroyed. As a coroutine parameter it also leaves if the coroutine never runs.
  struct leave_guard {
    std::shared_ptr<state> s;
    explicit leave_guard(std::shared_ptr<state> st) noexcept : s(std::move(st)) {}
    leave_guard(leave_guard&&) noexcept = default;
    leave_guard& operator=(leave_guard&&) = delete;
    ~leave_guard() {
      if (s) leave(*s);
    }
  };

  template <class T>
  static asio::awaitable<T> tracked([[maybe_unused]] leave_guard g, asio::awaitable<T> aw) {
    co_return co_await std::move(aw);
  }

  // wait(), written once for both coroutine types (Co: asio::awaitable<void> or halt::task<void>;
  // a template, so that it is compiled only where it is used).
  template <class Co>
  static Co wait_in(std::shared_ptr<state> s) {
    for (;;) {
      std::optional<cancellation_token> idle;
      {
        std::lock_guard<std::mutex> g(s->m);
        if (s->closed && s->count == 0) co_return;
        idle = s->idle;
      }
      auto woken = idle->async_wait(detail::coro_token<Co>()); // named: g++ 12 and co_await
      co_await std::move(woken);
    }
  }

  std::shared_ptr<state> st_;
};

} // namespace halt
