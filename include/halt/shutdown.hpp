// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::shutdown: the production hierarchy in one object. A root token for graceful shutdown, a
// task tracker, SIGINT/SIGTERM handling, and a shutdown that escalates from graceful to forced,
// with a report of the tasks that ignored the cancel.
//
//   (shutdown_options, on_shutdown and shutdown_report: see shutdown_report.hpp, included here)
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
#include <halt/detail/shutdown_registry.hpp>
#include <halt/error.hpp>
#include <halt/select.hpp>
#include <halt/shutdown_report.hpp>
#include <halt/sleep.hpp>
#include <halt/join_handle.hpp>
#include <halt/task_tracker.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace halt {

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
    requires detail::spawn_body<Body>
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
    requires(!std::is_convertible_v<Body, std::string> && detail::spawn_body<Body>)
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
