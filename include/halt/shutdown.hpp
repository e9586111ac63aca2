// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::shutdown: the production hierarchy in one object. A root token for graceful shutdown, a
// task tracker, SIGINT/SIGTERM handling, and a shutdown that escalates from graceful to forced,
// with a report of the tasks that ignored the cancel.
//
//   struct shutdown_options {
//     steady_clock::duration grace = 10s;       // phase 1 bound
//     steady_clock::duration abort_wait = 5s;   // phase 2 bound (after the abort)
//     std::vector<int> signals = {SIGINT, SIGTERM};
//     std::function<void(const std::string&)> log;  // phase messages; empty: silent
//   };
//   enum class on_shutdown { cancel, abort };   // a task's policy: cooperative, or the hammer
//   class shutdown {
//    public:
//     explicit shutdown(ExOrCtx&& ex, shutdown_options = {});
//     cancellation_token token() const;                         // the root
//     join_handle<T> spawn(std::string name, Body&&, on_shutdown = cancel);       // on ex
//     join_handle<T> spawn(ExOrCtx&&, std::string name, Body&&, on_shutdown = cancel);
//     task_tracker& tracker();   // closed and waited for by phase 1
//     void request();      // any thread: start the shutdown (as the first signal does)
//     void force();        // any thread: go to phase 2 now (as a second signal does)
//     bool requested() const;   // requested, or begun by a signal
//     asio::awaitable<shutdown_report> run();   // waits for the trigger, runs both phases
//   };
//   struct shutdown_report { trigger, forced, force_reason, graceful_time, total_time,
//                            tasks{name, outcome, after_cancel, error}, before{returned, failed,
//                            aborted, failures}; std::string to_string() const; };
//
// Phases (run())
// 0. Waits for the first configured signal, request() or force().
// 1. Graceful: tasks spawned with on_shutdown::abort are aborted; the root token is cancelled
//    with halt::errc::shutdown; the tracker is closed (spawn() then throws errc::closed); run()
//    waits until every tracked task has finished, for at most `grace`.
// 2. Forced: when the grace period expires, a second signal arrives or force() is called, every
//    task still running is aborted, and run() waits up to `abort_wait` for them to unwind. Tasks
//    still running after that (a shield without a limit, a blocking call that ignores its token)
//    are reported as stuck; run() does not wait for them any longer.
// The report lists every named task that was running when phase 1 began, in spawn order: how it
// ended (graceful, aborted, failed, stuck) and how long after the cancel it finished. It also
// counts the named tasks that finished before phase 1 (returned, failed, aborted) and lists the
// last few that failed, with their errors.
//
// Exceptions: a named task that ends with an exception (other than the operation_aborted that an
// abort ends it with) is never silent: the log gets a line naming it and the error at once, the
// report lists it as failed (or counts it in `before`), and the exception still reaches its
// join_handle (or, if detached, the detached-exception handler: see join_handle.hpp).
//
// Bad input: a negative grace or abort_wait throws std::invalid_argument; a signal that cannot be
// installed throws halt::system_error naming the signal (both from the constructor). A second
// concurrent run() throws halt::system_error(halt::errc::no_state). spawn() after phase 1 began
// throws halt::system_error(halt::errc::closed).
// Thread safety: token(), spawn(), request(), force(), requested() and tracker() may be called
// from any thread. `log` is called from run()'s thread and, for a failed task, from the thread
// that runs that task. run() is awaited once, on any executor. Destroying the object while run() is
// pending is undefined; destroying it does not abort tasks.

#include <halt/cancellation_token.hpp>
#include <halt/detail/config.hpp>
#include <halt/error.hpp>
#include <halt/select.hpp>
#include <halt/sleep.hpp>
#include <halt/join_handle.hpp>
#include <halt/task_tracker.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace halt {

namespace detail {
inline std::string format_ms(std::chrono::nanoseconds d, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f ms", decimals,
                std::chrono::duration<double, std::milli>(d).count());
  return buf;
}
} // namespace detail

struct shutdown_options {
  std::chrono::steady_clock::duration grace = std::chrono::seconds(10);
  std::chrono::steady_clock::duration abort_wait = std::chrono::seconds(5);
  std::vector<int> signals{SIGINT, SIGTERM};
  std::function<void(const std::string&)> log;
};

/// What happens to a task when the shutdown begins.
enum class on_shutdown {
  cancel, ///< cooperative: it sees the root token cancelled and finishes by itself (aborted after the grace period)
  abort,  ///< the hammer, at once: for work that needs no cleanup (telemetry)
};

struct shutdown_report {
  enum class outcome {
    graceful, ///< finished by itself after the cancel, within the grace period
    aborted,  ///< aborted (on_shutdown::abort, or still running when phase 2 began) and then finished
    stuck,    ///< still running when run() gave up waiting
    failed,   ///< ended with an exception (not the abort's operation_aborted); see task::error
  };
  struct task {
    std::string name;
    outcome how = outcome::graceful;
    std::chrono::nanoseconds after_cancel{0}; ///< from phase 1's start until it finished (stuck: until run() gave up)
    std::string error{};                      ///< failed: the exception's what()
  };
  /// The named tasks that finished before phase 1 began.
  struct earlier {
    static constexpr std::size_t max_failures = 16;
    std::size_t returned = 0;   ///< returned (a value, or caught its cancel)
    std::size_t failed = 0;     ///< ended with an exception
    std::size_t aborted = 0;    ///< ended by an abort (operation_aborted), or never started
    std::vector<task> failures; ///< the last max_failures that failed (after_cancel is zero)
  };

  std::string trigger;      ///< "SIGTERM", "SIGINT", "signal 10", "request()" or "force()"
  bool forced = false;      ///< phase 2 ran
  std::string force_reason; ///< "grace period expired", "second signal (SIGINT)", "force()"
  std::chrono::nanoseconds graceful_time{0}; ///< phase 1's duration
  std::chrono::nanoseconds total_time{0};    ///< from phase 1's start until run() returned
  std::vector<task> tasks;                   ///< named tasks running when phase 1 began, in spawn order
  earlier before;                            ///< named tasks that finished before phase 1 began

  std::size_t count(outcome o) const {
    std::size_t n = 0;
    for (const auto& t : tasks) n += t.how == o;
    return n;
  }

  /// A few human-readable lines.
  std::string to_string() const {
    auto ms = [](std::chrono::nanoseconds d) { return detail::format_ms(d, 1); };
    std::string s = "shutdown report: triggered by " + trigger + "; ";
    if (forced)
      s += "graceful phase " + ms(graceful_time) + ", then forced (" + force_reason + ")";
    else
      s += "graceful, all tasks finished in " + ms(graceful_time);
    s += "; total " + ms(total_time) + "\n";
    const std::size_t ended = before.returned + before.failed + before.aborted;
    if (ended > 0) {
      s += "  " + std::to_string(ended) + " task(s) finished before the shutdown: " +
           std::to_string(before.returned) + " returned, " + std::to_string(before.failed) +
           " failed, " + std::to_string(before.aborted) + " aborted\n";
      if (before.failed > before.failures.size())
        s += "  (the last " + std::to_string(before.failures.size()) + " failures:)\n";
      for (const auto& t : before.failures) s += "  - FAILED    " + t.name + ": " + t.error + "\n";
    }
    s += "  " + std::to_string(tasks.size()) + " task(s) were running: " +
         std::to_string(count(outcome::graceful)) + " graceful, " +
         std::to_string(count(outcome::aborted)) + " aborted, " +
         std::to_string(count(outcome::failed)) + " failed, " +
         std::to_string(count(outcome::stuck)) + " stuck\n";
    for (const auto& t : tasks) {
      const char* how = t.how == outcome::graceful  ? "graceful"
                        : t.how == outcome::aborted ? "aborted "
                        : t.how == outcome::failed  ? "FAILED  "
                                                    : "STUCK   ";
      s += "  - " + std::string(how) + "  " + ms(t.after_cancel) + " after the cancel  " + t.name;
      if (t.how == outcome::failed) s += ": " + t.error;
      s += "\n";
    }
    return s;
  }
};

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

class shutdown {
public:
  template <class ExOrCtx>
  explicit shutdown(ExOrCtx&& ex, shutdown_options opts = {})
      : ex_(detail::to_executor(std::forward<ExOrCtx>(ex))), opts_(std::move(opts)),
        reg_(std::make_shared<detail::shutdown_registry>()) {
    reg_->log = opts_.log;
    if (opts_.grace < opts_.grace.zero())
      throw std::invalid_argument("halt::shutdown: negative grace period");
    if (opts_.abort_wait < opts_.abort_wait.zero())
      throw std::invalid_argument("halt::shutdown: negative abort_wait");
    if (!opts_.signals.empty()) {
      signals_.emplace(ex_);
      for (int sig : opts_.signals) {
        halt::error_code ec;
        signals_->add(sig, ec);
        if (ec)
          throw halt::system_error(ec, "halt::shutdown: cannot install a handler for " +
                                          detail::signal_name(sig));
      }
    }
  }
  shutdown(const shutdown&) = delete;
  shutdown& operator=(const shutdown&) = delete;

  /// The root token: cancelled with errc::shutdown when phase 1 begins. Hand out child tokens.
  cancellation_token token() const { return root_; }

  /// The tracker that phase 1 closes and waits for. Tasks added to it directly (tracker().spawn
  /// or track) are waited for, but the shutdown has no handle to abort them and they are not in
  /// the report: spawn through shutdown::spawn to get both.
  task_tracker& tracker() noexcept { return tracker_; }

  /// Spawns a named, tracked task on `ex`. With on_shutdown::abort it is aborted as soon as the
  /// shutdown begins. \throws halt::system_error(errc::closed) once phase 1 has begun.
  template <class ExOrCtx, class Body>
  auto spawn(ExOrCtx&& ex, std::string name, Body&& body, on_shutdown policy = on_shutdown::cancel) {
    using T = detail::spawn_value_t<Body>;
    auto e = std::make_shared<detail::shutdown_entry>();
    e->name = std::move(name);
    e->policy = policy;
    bool abort_now = false;
    std::optional<decltype(tracker_.spawn(ex, std::declval<asio::awaitable<T>>()))> h;
    {
      // Admission to the tracker and registration happen under the lock that run() holds
      // while it takes its snapshot and closes the tracker: a spawn is either refused
      // (errc::closed) or in the report.
      std::lock_guard<std::recursive_mutex> g(reg_->m);
      e->id = reg_->next_id++;
      detail::entry_guard guard(e, reg_);
      if constexpr (detail::awaitable_factory<Body>) // a callable returning an awaitable or a task
        h.emplace(tracker_.spawn(std::forward<ExOrCtx>(ex),
                                 detail::named_task_fn(std::move(guard), std::decay_t<Body>(std::forward<Body>(body)))));
      else
        h.emplace(tracker_.spawn(std::forward<ExOrCtx>(ex),
                                 detail::named_task(std::move(guard), std::forward<Body>(body))));
      e->handle = h->abort_handle();
      e->admitted = true;
      // A task that already finished (on another thread) has no entry to keep.
      if (!e->done.load(std::memory_order_acquire)) reg_->running.emplace(e->id, e);
      abort_now = reg_->phase1 && policy == on_shutdown::abort;
    }
    if (abort_now) e->handle.abort();
    return std::move(*h);
  }

  /// Spawns a named, tracked task on the shutdown's executor.
  template <class Body>
    requires(!std::is_convertible_v<Body, std::string>)
  auto spawn(std::string name, Body&& body, on_shutdown policy = on_shutdown::cancel) {
    return spawn(ex_, std::move(name), std::forward<Body>(body), policy);
  }

  /// Starts the shutdown, as the first signal does. Any thread; later calls do nothing.
  void request() { requested_.cancel(); }

  /// Goes to phase 2 (abort everything) now, as a second signal does; also starts the shutdown
  /// if it has not begun. Any thread.
  void force() {
    forced_.cancel();
    requested_.cancel();
  }

  /// True once the shutdown was requested (request(), force()) or began (a signal).
  bool requested() const noexcept {
    return requested_.is_cancelled() || started_.load(std::memory_order_acquire);
  }

  /// Waits for the trigger, runs phase 1 and, if needed, phase 2, and returns the report.
  /// (A template only so that a program that never calls it does not compile it: g++ emits
  /// every inline coroutine it sees.)
  template <int = 0>
  asio::awaitable<shutdown_report> run() {
    if (running_.exchange(true))
      throw halt::system_error(make_error_code(errc::no_state), "halt::shutdown::run: already running");
    shutdown_report rep;
    auto ex = co_await asio::this_coro::executor;

    // 0. The trigger.
    if (forced_.is_cancelled()) {
      rep.trigger = "force()";
    } else if (requested_.is_cancelled() || !signals_) {
      if (!requested_.is_cancelled()) co_await requested_.cancelled();
      rep.trigger = forced_.is_cancelled() ? "force()" : "request()";
    } else {
      auto signal = detail::wait_on(*signals_); // named: no temporaries inside a co_await (g++ 12)
      auto first = co_await halt::select(requested_.cancelled(), signal);
      if (first.index() == 1)
        rep.trigger = detail::signal_name(std::get<1>(first));
      else
        rep.trigger = forced_.is_cancelled() ? "force()" : "request()";
    }

    // 1. Graceful.
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<detail::shutdown_entry>> snapshot;
    {
      std::lock_guard<std::recursive_mutex> g(reg_->m);
      started_.store(true, std::memory_order_release);
      reg_->phase1 = true;
      tracker_.close(); // with the snapshot: a later spawn is refused, an earlier one is listed
      for (auto& [id, e] : reg_->running) snapshot.push_back(e);
      rep.before = reg_->before;
    }
    say("shutdown: " + rep.trigger + " received; phase 1 (graceful): cancelling " +
        std::to_string(tracker_.size()) + " task(s), grace period " + ms(opts_.grace));
    for (auto& e : snapshot)
      if (e->policy == on_shutdown::abort) abort_entry(*e);
    root_.cancel(errc::shutdown);

    bool drained = false;
    if (forced_.is_cancelled()) {
      rep.force_reason = "force()";
    } else {
      if (signals_) {
        auto expiry = halt::sleep_for(opts_.grace); // on the timing wheel (sleep.hpp)
        auto signal = detail::wait_on(*signals_);
        auto r = co_await halt::select(tracker_.wait(), expiry, signal, forced_.cancelled());
        drained = r.index() == 0;
        if (r.index() == 1) rep.force_reason = "grace period expired";
        if (r.index() == 2) rep.force_reason = "second signal (" + detail::signal_name(std::get<2>(r)) + ")";
        if (r.index() == 3) rep.force_reason = "force()";
      } else {
        auto expiry = halt::sleep_for(opts_.grace);
        auto r = co_await halt::select(tracker_.wait(), expiry, forced_.cancelled());
        drained = r.index() == 0;
        rep.force_reason = r.index() == 1 ? "grace period expired" : r.index() == 2 ? "force()" : "";
      }
    }
    const auto t1 = std::chrono::steady_clock::now();
    rep.graceful_time = t1 - t0;

    // 2. Forced.
    if (!drained) {
      rep.forced = true;
      std::vector<std::shared_ptr<detail::shutdown_entry>> left;
      {
        std::lock_guard<std::recursive_mutex> g(reg_->m);
        for (auto& [id, e] : reg_->running) left.push_back(e);
      }
      say("shutdown: phase 2 (forced, " + rep.force_reason + "): aborting " +
          std::to_string(tracker_.size()) + " task(s) still running");
      for (auto& e : left) abort_entry(*e);
      auto expiry = halt::sleep_for(opts_.abort_wait);
      auto r = co_await halt::select(tracker_.wait(), expiry);
      if (r.index() == 1)
        say("shutdown: " + std::to_string(tracker_.size()) + " task(s) still running after " +
            ms(opts_.abort_wait) + "; giving up on them");
    }

    // The report.
    const auto end = std::chrono::steady_clock::now();
    rep.total_time = end - t0;
    for (auto& e : snapshot) {
      shutdown_report::task t;
      t.name = e->name;
      if (e->done.load(std::memory_order_acquire)) {
        const auto at = std::chrono::steady_clock::time_point(
            std::chrono::steady_clock::duration(e->finished_at.load(std::memory_order_relaxed)));
        t.after_cancel = at - t0;
        if (e->how == detail::shutdown_entry::end::failed) {
          t.how = shutdown_report::outcome::failed;
          t.error = e->error;
        } else {
          t.how = e->abort_requested.load(std::memory_order_acquire) ? shutdown_report::outcome::aborted
                                                                      : shutdown_report::outcome::graceful;
        }
      } else {
        t.how = shutdown_report::outcome::stuck;
        t.after_cancel = end - t0;
      }
      rep.tasks.push_back(std::move(t));
    }
    say("shutdown: done in " + ms(rep.total_time));
    co_return rep;
  }

private:
  static std::string ms(std::chrono::nanoseconds d) { return detail::format_ms(d, 0); }
  void say(const std::string& s) const {
    if (opts_.log) opts_.log(s);
  }
  static void abort_entry(detail::shutdown_entry& e) {
    if (e.done.load(std::memory_order_acquire)) return;
    e.abort_requested.store(true, std::memory_order_release);
    e.handle.abort();
  }

  asio::any_io_executor ex_;
  shutdown_options opts_;
  std::optional<asio::signal_set> signals_;
  cancellation_token root_;
  cancellation_token requested_;
  cancellation_token forced_;
  task_tracker tracker_;
  std::shared_ptr<detail::shutdown_registry> reg_;
  std::atomic<bool> running_{false};
  std::atomic<bool> started_{false};
};

} // namespace halt
