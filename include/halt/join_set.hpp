// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::join_set<T>: a set of spawned tasks joined in completion order (Tokio's JoinSet).
//
//   template <class T> class join_set {
//    public:
//     abort_handle spawn(ExOrCtx&& ex, Body&& body);                       // like halt::spawn
//     dual_awaitable<std::optional<join_result<T>>> join_next();           // nullopt when empty
//     std::optional<join_result<T>> try_join_next();                       // never waits
//     void abort_all();
//     dual_awaitable<void> shutdown();                                     // abort_all, then drain
//     std::size_t size() const; bool empty() const;
//     ~join_set();                                                         // aborts all, no wait
//   };
//
// join_next() and shutdown() return a dual_awaitable (dual_awaitable.hpp): an asio::awaitable
// that a halt::task awaits without co_spawn. shutdown() requests the aborts when it is awaited.
// size() counts tasks not yet joined (running or finished). join_next() is cancel-safe: if the
// wait is cancelled, no task is removed. Results of finished tasks stay in the set until joined.
// Destroying the set aborts every task but does not wait for them; their results are dropped.
// Thread safety: spawn, try_join_next, abort_all, size and empty may be called from any thread;
// one join_next (or shutdown) should be pending at a time.
// Exception safety: if spawn() throws (std::bad_alloc, or the copy or move of the body threw), the
// task was not added to the set and its body never runs; join_next and shutdown do not wait for it.

#include <halt/detail/config.hpp>
#include <halt/dual_awaitable.hpp>
#include <halt/join_handle.hpp>
#include <halt/task.hpp>

#include <halt/detail/asio.hpp>

#include <cstddef>
#include <deque>
#include <unordered_map>
#include <vector>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace halt {

template <class T>
class join_set {
  struct state {
    std::mutex m;
    std::unordered_map<detail::task_base*, std::shared_ptr<detail::coro_task<T>>> running;
    std::deque<std::shared_ptr<detail::coro_task<T>>> finished;
    cancellation_token wake; // cancelled whenever a task finishes; renewed by join_next
  };

public:
  join_set() : st_(std::make_shared<state>()) {}
  join_set(const join_set&) = delete;
  join_set& operator=(const join_set&) = delete;
  ~join_set() { abort_all(); }

  /// Spawns a task into the set. Returns a handle that can abort it.
  template <class ExOrCtx, class Body>
    requires detail::spawn_body<Body>
  halt::abort_handle spawn(ExOrCtx&& ex, Body&& body) {
    static_assert(std::is_same_v<detail::spawn_value_t<Body>, T>,
                  "halt::join_set<T>::spawn: the task must produce T");
    auto start = detail::make_start<T>(detail::to_executor(std::forward<ExOrCtx>(ex)), std::forward<Body>(body));
    std::shared_ptr<detail::coro_task<T>> task = start.st;
    {
      std::lock_guard<std::mutex> g(st_->m);
      st_->running.emplace(task.get(), task);
    }
    task->hook_.ctx = st_;
    task->hook_.fn = [](void* ctx, detail::task_base* t) noexcept {
      auto* s = static_cast<state*>(ctx);
      std::optional<cancellation_token> wake;
      {
        std::lock_guard<std::mutex> g(s->m);
        if (auto it = s->running.find(t); it != s->running.end()) {
          s->finished.push_back(std::move(it->second));
          s->running.erase(it);
        }
        wake = s->wake; // a copy: no allocation in this noexcept hook (join_next renews it)
      }
      wake->cancel();
    };
    try {
      detail::post_start(start);
    } catch (...) { // not queued: the task never runs; take it out of the set again
      // If Asio dropped the start while unwinding, its destructor finished the task (cancelled)
      // and the hook already ran (and cleared itself), moving the task to `finished`.
      const bool hooked = !task->hook_.fn;
      task->hook_ = {};
      std::optional<cancellation_token> wake;
      {
        std::lock_guard<std::mutex> g(st_->m);
        st_->running.erase(task.get());
        if (hooked) {
          for (auto it = st_->finished.begin(); it != st_->finished.end(); ++it) {
            if (*it == task) {
              st_->finished.erase(it);
              break;
            }
          }
        }
        wake = st_->wake;
      }
      wake->cancel(); // a join_next waiting for it looks again (the set may be empty now)
      throw;
    }
    return halt::abort_handle(task);
  }

  /// The next finished task's result, in completion order; nullopt when the set is empty.
  dual_awaitable<std::optional<join_result<T>>> join_next() {
    return {join_next_in<asio::awaitable<next_result>>(st_), join_next_in<task<next_result>>(st_)};
  }

  /// Requests the abort of every task still running. They stay in the set until joined.
  void abort_all() { abort_all_in(*st_); }

  /// Aborts every task and waits until all have finished; their results are dropped. Safe even if
  /// the set is destroyed meanwhile.
  dual_awaitable<void> shutdown() {
    return {drain_in<asio::awaitable<void>>(st_), drain_in<task<void>>(st_)};
  }

private:
  using next_result = std::optional<join_result<T>>;

  // Static, holding the state: a pending join_next or shutdown outlives the join_set object.
  // Written once for both coroutine types (Co is asio::awaitable<R> or halt::task<R>).
  template <class Co>
  static Co join_next_in(std::shared_ptr<state> s) {
    for (;;) {
      std::optional<cancellation_token> wake;
      {
        std::lock_guard<std::mutex> g(s->m);
        if (auto r = pop_locked(*s)) co_return r;
        if (s->running.empty()) co_return std::nullopt;
        // A cancelled wake token has woken its waiters already: wait on a new one.
        if (s->wake.is_cancelled()) s->wake = cancellation_token();
        wake = s->wake;
      }
      auto woken = wake->async_wait(detail::coro_token<Co>()); // named: g++ 12 and co_await
      co_await std::move(woken);
    }
  }

  template <class Co>
  static Co drain_in(std::shared_ptr<state> s) {
    using next_t = std::conditional_t<detail::tsk::is_task<Co>::value, task<next_result>,
                                      asio::awaitable<next_result>>;
    abort_all_in(*s); // when awaited (both coroutine types start lazily)
    for (;;) { // not `while (co_await ...) {}`: g++ 12 miscompiles that with an empty body
      auto next = join_next_in<next_t>(s);
      auto r = co_await std::move(next);
      if (!r) break;
    }
  }

  static void abort_all_in(state& st) {
    std::vector<std::shared_ptr<detail::coro_task<T>>> copy;
    {
      std::lock_guard<std::mutex> g(st.m);
      copy.reserve(st.running.size());
      for (auto& [key, task] : st.running) copy.push_back(task);
    }
    for (auto& t : copy) t->abort();
  }

public:
  /// The next finished task's result if one is ready, without waiting.
  std::optional<join_result<T>> try_join_next() {
    std::lock_guard<std::mutex> g(st_->m);
    return pop_locked(*st_);
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> g(st_->m);
    return st_->running.size() + st_->finished.size();
  }
  bool empty() const { return size() == 0; }

private:
  static std::optional<join_result<T>> pop_locked(state& s) {
    while (!s.finished.empty()) {
      auto t = std::move(s.finished.front());
      s.finished.pop_front();
      if (auto r = t->take()) return r;
    }
    return std::nullopt;
  }

  std::shared_ptr<state> st_;
};

} // namespace halt
