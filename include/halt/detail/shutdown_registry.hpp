// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The bookkeeping behind halt::shutdown (shutdown.hpp): the registry of named tasks
// (shutdown_entry, shutdown_registry), the guard that records how each one ended (entry_guard),
// the coroutines that run a named task's body (named_task, named_task_fn), and the signal helpers
// (wait_on, signal_name). Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/task_state.hpp>
#include <halt/error.hpp>
#include <halt/join_handle.hpp>
#include <halt/shutdown_report.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

namespace halt {

namespace detail {

// `obj.async_wait` as a select branch (an operation taking a completion token).
template <class T>
auto wait_on(T& obj) {
  return [&obj](auto&& token) { return obj.async_wait(std::forward<decltype(token)>(token)); };
}

inline std::string signal_name(int sig) {
  switch (sig) {
  case SIGINT: return "SIGINT";
  case SIGTERM: return "SIGTERM";
#ifdef SIGHUP
  case SIGHUP: return "SIGHUP";
#endif
#ifdef SIGQUIT
  case SIGQUIT: return "SIGQUIT";
#endif
  default: return "signal " + std::to_string(sig);
  }
}

// One named task, for the report. The finish time is recorded by a guard that is a parameter of
// the task's wrapper coroutine, so it runs however the task ends, even if it never started.
struct shutdown_entry {
  enum class end { aborted, returned, failed }; // aborted also when it never started
  std::uint64_t id;
  std::string name;
  on_shutdown policy;
  halt::abort_handle handle;
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> finished_at{0}; // steady_clock ticks
  std::atomic<bool> abort_requested{false};
  bool admitted = false; // registry lock: the tracker accepted it
  // Written by the task before `done` (release), read after it (acquire) or by the guard.
  end how = end::aborted;
  std::string error; // failed: what()
};

struct shutdown_registry {
  // Recursive: a refused spawn destroys its entry guard while spawn() holds the lock.
  std::recursive_mutex m;
  std::uint64_t next_id = 0;
  bool phase1 = false; // once set, policy-abort tasks are aborted as they are spawned
  std::map<std::uint64_t, std::shared_ptr<shutdown_entry>> running;
  shutdown_report::earlier before; // m
  std::function<void(const std::string&)> log; // a copy of the options' log; immutable
};

inline std::string describe_exception(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

struct entry_guard {
  std::shared_ptr<shutdown_entry> e;
  std::shared_ptr<shutdown_registry> r;
  entry_guard(std::shared_ptr<shutdown_entry> en, std::shared_ptr<shutdown_registry> reg) noexcept
      : e(std::move(en)), r(std::move(reg)) {}
  entry_guard(entry_guard&&) noexcept = default;
  entry_guard& operator=(entry_guard&&) = delete;
  ~entry_guard() {
    if (!e) return;
    e->finished_at.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                         std::memory_order_relaxed);
    e->done.store(true, std::memory_order_release);
    std::lock_guard<std::recursive_mutex> g(r->m);
    r->running.erase(e->id);
    if (!e->admitted || r->phase1) return; // refused, or in run()'s snapshot
    auto& b = r->before;
    switch (e->how) {
    case shutdown_entry::end::returned: ++b.returned; break;
    case shutdown_entry::end::aborted: ++b.aborted; break;
    case shutdown_entry::end::failed:
      ++b.failed;
      try {
        if (b.failures.size() == shutdown_report::earlier::max_failures) b.failures.erase(b.failures.begin());
        b.failures.push_back({e->name, shutdown_report::outcome::failed, {}, e->error});
      } catch (...) { // out of memory: it is still counted, and it was logged
      }
      break;
    }
  }
  void returned() noexcept { e->how = shutdown_entry::end::returned; }
  // Called in the task's catch block: records the exception and logs it.
  void threw(const std::exception_ptr& x) {
    if (is_system_error(x, asio::error::operation_aborted)) {
      e->how = shutdown_entry::end::aborted;
      return;
    }
    e->how = shutdown_entry::end::failed;
    e->error = describe_exception(x);
    if (r->log) r->log("shutdown: task \"" + e->name + "\" ended with an exception: " + e->error);
  }
};

// Runs a named task's body (Co: asio::awaitable<T> or halt::task<T>) and records how it ended.
// An exception is recorded, logged, and rethrown: it still reaches the join_handle (or the
// detached-exception handler). A dropped halt::task runs no catch: the guard's destructor
// records it as aborted.
template <class Co>
Co named_task(entry_guard g, Co body) {
  using T = typename Co::value_type;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(body);
      g.returned();
    } else {
      T v = co_await std::move(body);
      g.returned();
      co_return v;
    }
  } catch (...) {
    g.threw(std::current_exception());
    throw;
  }
}
// The same for a callable returning the body; the callable lives in this frame while it runs.
template <class F>
std::invoke_result_t<F&> named_task_fn(entry_guard g, F f) {
  std::invoke_result_t<F&> body;
  try {
    body = std::invoke(f);
  } catch (...) { // the callable threw: the task failed
    g.threw(std::current_exception());
    throw;
  }
  co_return co_await named_task(std::move(g), std::move(body));
}

} // namespace detail

} // namespace halt
