// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// halt::shutdown (shutdown.hpp): the trigger (request(), force(), a configured signal), phase 1
// (root token cancelled with errc::shutdown, tracker closed, on_shutdown::abort tasks aborted,
// cooperative tasks drain), phase 2 (grace period expired, force(), a second signal: everything
// still running is aborted), stuck tasks, the report (names, spawn order, outcomes, times,
// to_string), bad input, and spawn()/request() from other threads while run() runs on a pool.
// The report's own fields and formatting, without a shutdown: shutdown_report_test.cpp.
//
// Notes:
// - g++ 12 miscompiles temporaries in a co_await full-expression, so lambdas and awaitables are
//   named before they are co_awaited, and no co_await appears inside a Catch macro.
// - Catch2 assertions are not thread-safe: other threads only record into atomics or their own
//   vectors; everything is asserted on the main thread.
// - Only SIGUSR1 is used for signal tests, and only while a shutdown object that handles it
//   exists (its default action would end the process). Every other test uses signals = {}.
// - Times are only checked from below (timers never fire early); no upper bounds.
#include <halt/shield.hpp>
#include <halt/shutdown.hpp>

#include "support/strings.hpp"
#include "support/async.hpp"
#include "support/coro_kinds.hpp"
#include "support/catch.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

// The coroutine kinds of the spawned bodies (support/coro_kinds.hpp): every test below runs for
// asio::awaitable and halt::task bodies.
#ifndef HALT_TEST_SHUTDOWN_KINDS
#define HALT_TEST_SHUTDOWN_KINDS awaitable_kind, task_kind
#endif

namespace {

using halt_test::awaitable_kind;
using halt_test::co_t;
using halt_test::run_for;
using halt_test::run_until;
using halt_test::task_kind;
using outcome = halt::shutdown_report::outcome;

halt::shutdown_options quiet(std::chrono::steady_clock::duration grace,
                             std::chrono::steady_clock::duration abort_wait = 5s) {
  halt::shutdown_options o;
  o.grace = grace;
  o.abort_wait = abort_wait;
  o.signals = {}; // no SIGINT/SIGTERM handlers in tests
  return o;
}

// Sets *flag when destroyed: an RAII guard in a task's frame.
struct flag_guard {
  std::atomic<bool>* flag;
  explicit flag_guard(std::atomic<bool>* f) noexcept : flag(f) {}
  flag_guard(const flag_guard&) = delete;
  flag_guard& operator=(const flag_guard&) = delete;
  ~flag_guard() {
    if (flag) flag->store(true);
  }
};

// The spawned bodies are templates on the coroutine kind (support/coro_kinds.hpp).
using halt_test::sleep_for;
using halt_test::wait_for;

// Watches the token; once it is cancelled, cleans up for `cleanup` and sets *done.
template <class K>
co_t<K> cooperative(halt::cancellation_token tok, std::chrono::milliseconds cleanup,
                    std::atomic<bool>* done = nullptr) {
  co_await wait_for<K>(tok);
  if (cleanup > 0ms) co_await sleep_for<K>(cleanup);
  if (done) done->store(true);
}

// As cooperative, with a value.
template <class K>
co_t<K, int> cooperative_value(halt::cancellation_token tok, int v) {
  co_await wait_for<K>(tok);
  co_return v;
}

// Ignores the token: sleeps 60 s. *guard_ran is set when its frame is destroyed.
template <class K>
co_t<K> stubborn(std::atomic<bool>* guard_ran) {
  flag_guard g(guard_ran);
  co_await sleep_for<K>(60s);
}

// Finishes at once.
template <class K>
co_t<K> quick() {
  co_return;
}

// Holds `owned` in its frame (a parameter: destroyed with the frame, even if it never ran).
template <class K>
co_t<K> holds([[maybe_unused]] std::shared_ptr<int> owned) {
  co_return;
}

// Adds one to *n when destroyed (unless moved from). As a coroutine parameter it counts the
// frame's destruction, whether or not the coroutine ever ran.
struct count_on_destroy {
  std::atomic<int>* n;
  explicit count_on_destroy(std::atomic<int>* p) noexcept : n(p) {}
  count_on_destroy(count_on_destroy&& o) noexcept : n(std::exchange(o.n, nullptr)) {}
  count_on_destroy& operator=(count_on_destroy&&) = delete;
  ~count_on_destroy() {
    if (n) n->fetch_add(1);
  }
};
template <class K>
co_t<K> counted_sleeper([[maybe_unused]] count_on_destroy c) {
  co_await sleep_for<K>(60s);
}
template <class K>
co_t<K> counted_cooperative(halt::cancellation_token tok, [[maybe_unused]] count_on_destroy c) {
  co_await wait_for<K>(tok);
}

// Sits in an unbounded shield of a 60 s sleep: an abort cannot end it. *inner_gone is set when
// the shielded sleep's frame is destroyed.
template <class K>
co_t<K> sleep_with_guard(std::chrono::steady_clock::duration d, std::atomic<bool>* gone) {
  flag_guard g(gone);
  co_await sleep_for<K>(d);
}
// halt::shield of an awaitable, or of a halt::task (a drop waits for the shielded task).
template <class K>
co_t<K> shielded_sleeper(std::atomic<bool>* inner_gone) {
  auto inner = sleep_with_guard<K>(60s, inner_gone);
  auto sh = halt::shield(std::move(inner));
  co_await std::move(sh);
}

// Catches the abort and then waits for `release` anyway: an abort cannot end it either. (A
// halt::task cannot: it is dropped at the co_await, and no catch runs.)
template <class K>
co_t<K, int> ignores_abort(halt::cancellation_token release, std::atomic<bool>* caught) {
  try {
    co_await sleep_for<K>(60s);
  } catch (const halt::system_error&) {
    caught->store(true);
  } catch (...) {
    caught->store(true);
    throw;
  }
  if constexpr (!K::drops) co_await asio::this_coro::reset_cancellation_state();
  co_await wait_for<K>(release);
  co_return 5;
}

// run()'s outcome, filled in by the co_spawn completion handler.
struct run_result {
  bool done = false;
  std::exception_ptr error;
  std::optional<halt::shutdown_report> report;
};

void start_run(asio::io_context& io, halt::shutdown& sd, run_result& out) {
  auto aw = sd.run();
  asio::co_spawn(io, std::move(aw), [&out](std::exception_ptr e, halt::shutdown_report r) {
    out.error = e;
    if (!e) out.report = std::move(r);
    out.done = true;
  });
}

// The report, after run() completed; rethrows (failing the test) if run() threw.
const halt::shutdown_report& report_of(const run_result& r) {
  REQUIRE(r.done);
  if (r.error) std::rethrow_exception(r.error);
  REQUIRE(r.report.has_value());
  return *r.report;
}

const halt::shutdown_report::task* find_task(const halt::shutdown_report& rep, const std::string& name) {
  for (const auto& t : rep.tasks)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<std::string> names_of(const halt::shutdown_report& rep) {
  std::vector<std::string> v;
  for (const auto& t : rep.tasks) v.push_back(t.name);
  return v;
}

// The error code of the halt::system_error that f() throws; empty if it throws nothing.
template <class F>
halt::error_code error_of(F f) {
  try {
    f();
  } catch (const halt::system_error& e) {
    return e.code();
  }
  return {};
}

using halt_test::contains;
using halt_test::line_with;
using halt_test::lower;

} // namespace

// --- Phase 0 and phase 1 ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("request() starts phase 1: the root token is cancelled with errc::shutdown and the tracker closed", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  auto root = sd.token();
  auto child = root.child_token();
  std::atomic<bool> cleaned{false};
  auto h = sd.spawn("worker", cooperative<TestType>(sd.token(), 20ms, &cleaned));
  run_result res;
  start_run(io, sd, res);
  run_for(io, 20ms);
  // Phase 0: run() waits for the trigger; nothing is cancelled yet.
  CHECK_FALSE(res.done);
  CHECK_FALSE(sd.requested());
  CHECK_FALSE(root.is_cancelled());
  CHECK_FALSE(sd.tracker().is_closed());
  CHECK_FALSE(h.is_finished());

  sd.request();
  CHECK(sd.requested());
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);

  CHECK(root.is_cancelled());
  CHECK(root.reason() == halt::errc::shutdown);
  CHECK(child.is_cancelled());
  CHECK(child.reason() == halt::errc::shutdown);
  CHECK(sd.token().reason() == halt::errc::shutdown);
  CHECK(sd.tracker().is_closed());
  CHECK(sd.tracker().size() == 0);
  CHECK(cleaned.load());
  CHECK(h.is_finished());

  CHECK(rep.trigger == "request()");
  CHECK_FALSE(rep.forced);
  CHECK(rep.force_reason.empty());
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].name == "worker");
  CHECK(rep.tasks[0].how == outcome::graceful);
  CHECK(rep.tasks[0].after_cancel >= 20ms); // its own cleanup took 20 ms after the cancel
  CHECK(rep.graceful_time >= rep.tasks[0].after_cancel);
  CHECK(rep.total_time >= rep.graceful_time);
  CHECK(rep.count(outcome::graceful) == 1);
  CHECK(rep.count(outcome::aborted) == 0);
  CHECK(rep.count(outcome::stuck) == 0);
}

TEST_CASE("request() is idempotent and requested() reports it", "[shutdown]") {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  CHECK_FALSE(sd.requested());
  sd.request();
  sd.request();
  CHECK(sd.requested());
  // Requested before run(): run() starts phase 1 at once. Nothing running: an empty report.
  run_result res;
  start_run(io, sd, res);
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "request()");
  CHECK_FALSE(rep.forced);
  CHECK(rep.tasks.empty());
  CHECK(sd.token().reason() == halt::errc::shutdown);
  sd.request(); // after run(): nothing happens
  CHECK(sd.requested());
}

TEMPLATE_TEST_CASE("spawn() returns a working join_handle, on the shutdown's executor or a given one", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  auto tok = sd.token();
  auto body = [tok]() -> co_t<TestType, int> { return cooperative_value<TestType>(tok, 3); };
  auto h1 = sd.spawn("callable", body);                                 // a callable body
  auto h2 = sd.spawn(asio::make_strand(io), "on a strand", cooperative_value<TestType>(tok, 4)); // an executor
  auto h3 = sd.spawn(io, "on a context", cooperative_value<TestType>(tok, 5));    // an execution context
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(names_of(rep) == std::vector<std::string>{"callable", "on a strand", "on a context"});
  CHECK(rep.count(outcome::graceful) == 3);

  std::optional<halt::join_result<int>> r1, r2, r3;
  auto joiner = [&]() -> asio::awaitable<void> {
    r1.emplace(co_await h1.join());
    r2.emplace(co_await h2.join());
    r3.emplace(co_await h3.join());
  };
  asio::co_spawn(io, joiner, halt_test::rethrow{});
  run_until(io, [&] { return r3.has_value(); }, 5s);
  CHECK(r1->value() == 3);
  CHECK(r2->value() == 4);
  CHECK(r3->value() == 5);
}

TEMPLATE_TEST_CASE("spawn() after phase 1 began throws errc::closed and the task is not reported", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  auto owned = std::make_shared<int>(1);
  auto h = sd.spawn("slow", cooperative<TestType>(sd.token(), 50ms));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return sd.token().is_cancelled(); }, 5s); // phase 1 has begun
  CHECK_FALSE(res.done);
  CHECK(error_of([&] { (void)sd.spawn("late", holds<TestType>(owned)); }) == halt::errc::closed);
  CHECK(error_of([&] { (void)sd.spawn(io, "late", quick<TestType>()); }) == halt::errc::closed);
  CHECK(error_of([&] { (void)sd.spawn("late", quick<TestType>(), halt::on_shutdown::abort); }) == halt::errc::closed);
  CHECK_THROWS_AS((void)sd.spawn("late", quick<TestType>()), halt::system_error);
  auto body = [owned]() -> co_t<TestType> { return holds<TestType>(owned); };
  CHECK(error_of([&] { (void)sd.spawn("late", body); }) == halt::errc::closed);
  CHECK(owned.use_count() == 2); // ours and body's: the refused work was destroyed, not queued
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK_FALSE(rep.forced);
  CHECK(names_of(rep) == std::vector<std::string>{"slow"});
  CHECK(error_of([&] { (void)sd.spawn("later", quick<TestType>()); }) == halt::errc::closed);
}

// --- Phase 2 --------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("a task that ignores the token is aborted when the grace period expires", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  std::vector<std::string> log;
  auto opts = quiet(100ms);
  opts.log = [&log](const std::string& s) { log.push_back(s); };
  halt::shutdown sd(io, opts);
  std::atomic<bool> guard_ran{false}, cleaned{false};
  auto hs = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  auto hc = sd.spawn("cooperative", cooperative<TestType>(sd.token(), 10ms, &cleaned));
  run_result res;
  start_run(io, sd, res);
  run_for(io, 5ms);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);

  CHECK(rep.trigger == "request()");
  CHECK(rep.forced);
  CHECK(rep.force_reason == "grace period expired");
  CHECK(rep.graceful_time >= 100ms);
  CHECK(rep.total_time >= rep.graceful_time);
  REQUIRE(rep.tasks.size() == 2);
  CHECK(rep.tasks[0].name == "stubborn");
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(rep.tasks[0].after_cancel >= 100ms);
  CHECK(rep.tasks[1].name == "cooperative");
  CHECK(rep.tasks[1].how == outcome::graceful);
  CHECK(rep.tasks[1].after_cancel >= 10ms);
  CHECK(guard_ran.load()); // the stubborn task unwound before run() returned
  CHECK(cleaned.load());
  CHECK(hs.is_finished());
  CHECK(hc.is_finished());
  CHECK(sd.tracker().size() == 0);

  // Phase messages went to the log.
  CHECK(log.size() >= 2);
  CHECK(std::any_of(log.begin(), log.end(), [](const std::string& s) { return contains(s, "phase 2"); }));
}

TEMPLATE_TEST_CASE("an empty log function keeps the shutdown silent and working", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(20ms, 1s)); // opts.log is empty
  std::atomic<bool> guard_ran{false};
  auto h = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.forced);
  CHECK(rep.count(outcome::aborted) == 1);
}

TEMPLATE_TEST_CASE("force() during phase 1 goes to phase 2 at once", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s)); // the grace period would not expire during the test
  std::atomic<bool> guard_ran{false};
  auto h = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return sd.token().is_cancelled(); }, 5s);
  run_for(io, 20ms);
  CHECK_FALSE(res.done); // phase 1 waits for the stubborn task
  CHECK_FALSE(guard_ran.load());
  sd.force();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "request()");
  CHECK(rep.forced);
  CHECK(rep.force_reason == "force()");
  CHECK(rep.graceful_time >= 20ms);
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(guard_ran.load());
  CHECK(h.is_finished());
}

TEMPLATE_TEST_CASE("force() before run() is the trigger and forces phase 2 at once", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  std::atomic<bool> guard_ran{false};
  auto h = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  run_for(io, 5ms);
  sd.force();
  CHECK(sd.requested()); // force() also starts the shutdown
  run_result res;
  start_run(io, sd, res);
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "force()");
  CHECK(rep.forced);
  CHECK(rep.force_reason == "force()");
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].name == "stubborn");
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(guard_ran.load());
  CHECK(sd.token().reason() == halt::errc::shutdown); // phase 1 still cancelled the root
  CHECK(sd.tracker().is_closed());
}

TEMPLATE_TEST_CASE("force() while run() waits for the trigger is the trigger", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  std::atomic<bool> guard_ran{false};
  auto h = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  run_result res;
  start_run(io, sd, res);
  run_for(io, 20ms);
  CHECK_FALSE(res.done);
  sd.force();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "force()");
  CHECK(rep.forced);
  CHECK(rep.force_reason == "force()");
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(guard_ran.load());
}

// --- on_shutdown::abort --------------------------------------------------------------------------

TEMPLATE_TEST_CASE("on_shutdown::abort tasks are aborted when phase 1 begins, without forcing", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(3s));
  std::atomic<bool> telemetry_gone{false}, metrics_gone{false}, cleaned{false};
  // Neither telemetry task ever looks at the token.
  auto h1 = sd.spawn("telemetry", stubborn<TestType>(&telemetry_gone), halt::on_shutdown::abort);
  auto h2 = sd.spawn("worker", cooperative<TestType>(sd.token(), 20ms, &cleaned));
  auto h3 = sd.spawn("metrics", stubborn<TestType>(&metrics_gone), halt::on_shutdown::abort);
  run_result res;
  start_run(io, sd, res);
  run_for(io, 10ms);
  CHECK_FALSE(telemetry_gone.load()); // not before the shutdown
  sd.request();
  run_until(io, [&] { return res.done; }, 10s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "request()");
  CHECK_FALSE(rep.forced); // everything drained within the grace period
  CHECK(rep.force_reason.empty());
  CHECK(names_of(rep) == std::vector<std::string>{"telemetry", "worker", "metrics"});
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(rep.tasks[1].how == outcome::graceful);
  CHECK(rep.tasks[1].after_cancel >= 20ms);
  CHECK(rep.tasks[2].how == outcome::aborted);
  CHECK(telemetry_gone.load());
  CHECK(metrics_gone.load());
  CHECK(cleaned.load());
}

TEMPLATE_TEST_CASE("on_shutdown::abort alone: the shutdown drains without the grace period", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(3s));
  std::atomic<bool> gone{false};
  auto h = sd.spawn("telemetry", stubborn<TestType>(&gone), halt::on_shutdown::abort);
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 10s);
  const auto& rep = report_of(res);
  CHECK_FALSE(rep.forced);
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(gone.load());
}

// --- Stuck tasks ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("a task in an unbounded shield is reported stuck and run() gives up after abort_wait", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  std::atomic<bool> inner_gone{false};
  {
    asio::io_context io;
    run_result res;
    {
      halt::shutdown sd(io, quiet(50ms, 100ms));
      std::atomic<bool> guard_ran{false};
      auto hs = sd.spawn("shielded", shielded_sleeper<TestType>(&inner_gone));
      auto ha = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
      start_run(io, sd, res);
      run_for(io, 5ms);
      sd.request();
      run_until(io, [&] { return res.done; }, 10s);
      const auto& rep = report_of(res);
      CHECK(rep.forced);
      CHECK(rep.force_reason == "grace period expired");
      CHECK(rep.graceful_time >= 50ms);
      CHECK(rep.total_time >= 150ms); // grace + abort_wait
      REQUIRE(rep.tasks.size() == 2);
      CHECK(rep.tasks[0].name == "shielded");
      CHECK(rep.tasks[0].how == outcome::stuck);
      CHECK(rep.tasks[0].after_cancel >= 150ms); // until run() gave up
      CHECK(rep.tasks[0].after_cancel <= rep.total_time);
      CHECK(rep.tasks[1].name == "stubborn");
      CHECK(rep.tasks[1].how == outcome::aborted);
      CHECK(rep.count(outcome::stuck) == 1);
      CHECK(guard_ran.load());
      CHECK_FALSE(hs.is_finished());
      CHECK_FALSE(inner_gone.load());
      CHECK(sd.tracker().size() == 1);

      const auto text = rep.to_string();
      CHECK(contains(lower(line_with(text, "shielded")), "stuck"));
      CHECK(contains(lower(line_with(text, "stubborn")), "aborted"));
      CHECK(contains(text, "grace period expired"));
      // The shutdown object goes first; destroying it does not abort or wait for the stuck task.
    }
    io.stop(); // the stuck work ends with its execution context
  }
  CHECK(inner_gone.load()); // the shielded sleep's frame was destroyed with the io_context
}

TEMPLATE_TEST_CASE("a task that catches the abort and keeps running is reported stuck", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(30ms, 60ms));
  halt::cancellation_token release;
  std::atomic<bool> caught{false};
  auto h = sd.spawn("deaf", ignores_abort<TestType>(release, &caught));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 10s);
  const auto& rep = report_of(res);
  CHECK(rep.forced);
  CHECK(rep.force_reason == "grace period expired");
  REQUIRE(rep.tasks.size() == 1);
  if constexpr (!TestType::drops) {
    CHECK(rep.total_time >= 90ms);
    CHECK(rep.tasks[0].how == outcome::stuck);
    CHECK(caught.load()); // it was aborted, and ignored it
    CHECK_FALSE(h.is_finished());
  } else {
    // A halt::task cannot catch the abort: it is dropped at its co_await (task.hpp), no catch
    // runs, and it is reported aborted.
    CHECK(rep.total_time >= 30ms);
    CHECK(rep.tasks[0].how == outcome::aborted);
    CHECK_FALSE(caught.load());
    CHECK(h.is_finished());
  }

  // An awaitable can still finish later; run() no longer cares. A dropped task stays cancelled.
  release.cancel();
  std::optional<halt::join_result<int>> r;
  auto joiner = [&]() -> asio::awaitable<void> { r.emplace(co_await h.join()); };
  asio::co_spawn(io, joiner, halt_test::rethrow{});
  run_until(io, [&] { return r.has_value(); }, 5s);
  if constexpr (!TestType::drops)
    CHECK(r->value() == 5);
  else
    CHECK(r->is_cancelled());
  CHECK(sd.tracker().size() == 0);
}

// --- Signals --------------------------------------------------------------------------------------

TEST_CASE("signal_name names SIGINT and SIGTERM, other signals by number", "[shutdown][signal]") {
  CHECK(halt::detail::signal_name(SIGINT) == "SIGINT");
  CHECK(halt::detail::signal_name(SIGTERM) == "SIGTERM");
  CHECK(halt::detail::signal_name(SIGUSR1) == "signal " + std::to_string(SIGUSR1));
  CHECK(halt::detail::signal_name(SIGKILL) == "signal " + std::to_string(SIGKILL));
}

TEMPLATE_TEST_CASE("a configured signal triggers the shutdown and names itself as the trigger", "[shutdown][signal]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  auto opts = quiet(10s);
  opts.signals = {SIGUSR1};
  halt::shutdown sd(io, opts);
  std::atomic<bool> cleaned{false};
  auto h = sd.spawn("worker", cooperative<TestType>(sd.token(), 10ms, &cleaned));
  run_result res;
  start_run(io, sd, res);
  run_for(io, 20ms);
  CHECK_FALSE(res.done);
  CHECK_FALSE(sd.token().is_cancelled());
  REQUIRE(::raise(SIGUSR1) == 0);
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "signal " + std::to_string(SIGUSR1));
  CHECK(rep.trigger == halt::detail::signal_name(SIGUSR1));
  CHECK_FALSE(rep.forced);
  CHECK(sd.token().reason() == halt::errc::shutdown);
  CHECK(sd.tracker().is_closed());
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::graceful);
  CHECK(cleaned.load());
  CHECK(contains(rep.to_string(), rep.trigger));
}

TEMPLATE_TEST_CASE("a second signal during phase 1 forces phase 2", "[shutdown][signal]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  auto opts = quiet(10s);
  opts.signals = {SIGUSR1};
  halt::shutdown sd(io, opts);
  std::atomic<bool> guard_ran{false};
  auto h = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  run_result res;
  start_run(io, sd, res);
  run_for(io, 10ms);
  REQUIRE(::raise(SIGUSR1) == 0);
  run_until(io, [&] { return sd.token().is_cancelled(); }, 5s); // phase 1 has begun
  run_for(io, 10ms);
  CHECK_FALSE(res.done);
  REQUIRE(::raise(SIGUSR1) == 0);
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == halt::detail::signal_name(SIGUSR1));
  CHECK(rep.forced);
  CHECK(contains(rep.force_reason, "second signal"));
  CHECK(contains(rep.force_reason, halt::detail::signal_name(SIGUSR1)));
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::aborted);
  CHECK(guard_ran.load());
}

TEMPLATE_TEST_CASE("with signals configured, request() and force() still work", "[shutdown][signal]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  auto opts = quiet(10s);
  opts.signals = {SIGUSR1};
  halt::shutdown sd(io, opts);
  std::atomic<bool> guard_ran{false};
  auto h = sd.spawn("stubborn", stubborn<TestType>(&guard_ran));
  run_result res;
  start_run(io, sd, res);
  run_for(io, 10ms);
  sd.request();
  run_until(io, [&] { return sd.token().is_cancelled(); }, 5s);
  run_for(io, 10ms);
  CHECK_FALSE(res.done);
  sd.force();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.trigger == "request()");
  CHECK(rep.forced);
  CHECK(rep.force_reason == "force()");
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::aborted);
}

// --- Bad input ------------------------------------------------------------------------------------

TEST_CASE("a negative grace or abort_wait throws std::invalid_argument from the constructor", "[shutdown]") {
  asio::io_context io;
  CHECK_THROWS_AS(halt::shutdown(io, quiet(-1ms)), std::invalid_argument);
  CHECK_THROWS_AS(halt::shutdown(io, quiet(1s, -1ms)), std::invalid_argument);
  CHECK_THROWS_AS(halt::shutdown(io.get_executor(), quiet(-1ns)), std::invalid_argument);
  CHECK_NOTHROW(halt::shutdown(io, quiet(0s, 0s))); // zero is allowed
}

TEST_CASE("a signal that cannot be installed throws halt::system_error naming it", "[shutdown][signal]") {
  asio::io_context io;
  for (int sig : {SIGKILL, SIGSTOP}) {
    auto opts = quiet(1s);
    opts.signals = {sig};
    bool threw = false;
    try {
      halt::shutdown sd(io, opts);
    } catch (const halt::system_error& e) {
      threw = true;
      INFO("what(): " << e.what());
      CHECK(e.code());
      CHECK(contains(e.what(), halt::detail::signal_name(sig)));
    }
    CHECK(threw);
  }
}

TEMPLATE_TEST_CASE("a second concurrent run() throws errc::no_state", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  std::atomic<bool> cleaned{false};
  auto h = sd.spawn("worker", cooperative<TestType>(sd.token(), 0ms, &cleaned));
  run_result first, second;
  start_run(io, sd, first);
  run_for(io, 10ms);
  start_run(io, sd, second);
  run_until(io, [&] { return second.done; }, 5s);
  REQUIRE(second.error);
  CHECK_FALSE(first.done);
  halt::error_code ec;
  try {
    std::rethrow_exception(second.error);
  } catch (const halt::system_error& e) {
    ec = e.code();
  } catch (...) {
  }
  CHECK(ec == halt::errc::no_state);
  CHECK_FALSE(sd.requested()); // the failed run() did not start anything
  CHECK_FALSE(sd.token().is_cancelled());

  // The first run() is unaffected.
  sd.request();
  run_until(io, [&] { return first.done; }, 5s);
  const auto& rep = report_of(first);
  CHECK_FALSE(rep.forced);
  REQUIRE(rep.tasks.size() == 1);
  CHECK(rep.tasks[0].how == outcome::graceful);
  CHECK(cleaned.load());
}

// --- The report -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("the report lists named tasks running at phase 1 in spawn order, not finished or tracker-only ones", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  auto tok = sd.token();
  std::atomic<bool> tracked_done{false};
  auto ha = sd.spawn("alpha", cooperative<TestType>(tok, 5ms));
  auto he = sd.spawn("early", quick<TestType>()); // finishes before the shutdown
  auto hb = sd.spawn("beta", cooperative<TestType>(tok, 0ms));
  auto hd1 = sd.spawn("dup", cooperative<TestType>(tok, 0ms));
  // Added through the tracker: waited for, but not reported.
  auto ht = sd.tracker().spawn(io, cooperative<TestType>(tok, 40ms, &tracked_done));
  auto hg = sd.spawn("gamma", cooperative<TestType>(tok, 0ms));
  auto hd2 = sd.spawn("dup", cooperative<TestType>(tok, 0ms));
  run_until(io, [&] { return he.is_finished(); }, 5s);
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(names_of(rep) == std::vector<std::string>{"alpha", "beta", "dup", "gamma", "dup"});
  CHECK(find_task(rep, "early") == nullptr);
  CHECK(rep.count(outcome::graceful) == 5);
  CHECK_FALSE(rep.forced);
  CHECK(tracked_done.load()); // run() waited for the tracker-only task
  CHECK(ht.is_finished());
  CHECK(rep.graceful_time >= 40ms);
  CHECK(sd.tracker().size() == 0);
}

TEMPLATE_TEST_CASE("report.to_string() of a real shutdown names each task with its outcome", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(50ms, 1s));
  std::atomic<bool> g1{false}, g2{false};
  auto h1 = sd.spawn("nice-worker", cooperative<TestType>(sd.token(), 0ms));
  auto h2 = sd.spawn("deaf-worker", stubborn<TestType>(&g1));
  auto h3 = sd.spawn("telemetry-pump", stubborn<TestType>(&g2), halt::on_shutdown::abort);
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  const auto s = rep.to_string();
  INFO(s);
  CHECK(contains(s, "request()"));
  CHECK(contains(lower(line_with(s, "nice-worker")), "graceful"));
  CHECK(contains(lower(line_with(s, "deaf-worker")), "aborted"));
  CHECK(contains(lower(line_with(s, "telemetry-pump")), "aborted"));
}

TEMPLATE_TEST_CASE("destroying the shutdown object does not abort its tasks", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::cancellation_token go;
  halt::join_handle<int> h;
  {
    halt::shutdown sd(io, quiet(10s));
    h = sd.spawn("survivor", cooperative_value<TestType>(go, 8));
    run_for(io, 5ms);
  }
  run_for(io, 20ms);
  CHECK_FALSE(h.is_finished());
  go.cancel();
  std::optional<halt::join_result<int>> r;
  auto joiner = [&]() -> asio::awaitable<void> { r.emplace(co_await h.join()); };
  asio::co_spawn(io, joiner, halt_test::rethrow{});
  run_until(io, [&] { return r.has_value(); }, 5s);
  CHECK(r->value() == 8);
}

TEMPLATE_TEST_CASE("a spawn() that succeeds while phase 1 is starting is in the report", "[shutdown]", HALT_TEST_SHUTDOWN_KINDS) {
  // Deterministic version of a race: run()'s thread is held up (here: in the log callback, which
  // run() calls as phase 1 begins) while another thread spawns. The spawn must either fail with
  // errc::closed (phase 1 began) or succeed, and then the task was running when phase 1 began:
  // it must be in the report.
  asio::io_context io;
  halt::shutdown* self = nullptr;
  std::atomic<int> late_ok{0}, late_refused{0}, late_other{0};
  halt::join_handle<void> late;
  auto opts = quiet(10s);
  opts.log = [&](const std::string&) {
    if (late_ok + late_refused + late_other > 0) return; // once
    std::thread other([&] {
      try {
        late = self->spawn("late", cooperative<TestType>(self->token(), 0ms));
        ++late_ok;
      } catch (const halt::system_error& e) {
        if (e.code() == halt::errc::closed)
          ++late_refused;
        else
          ++late_other;
      } catch (...) {
        ++late_other;
      }
    });
    other.join();
  };
  halt::shutdown sd(io, opts);
  self = &sd;
  auto h = sd.spawn("early", cooperative<TestType>(sd.token(), 0ms));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(late_other.load() == 0);
  CHECK(late_ok + late_refused == 1);
  CHECK(find_task(rep, "early") != nullptr);
  if (late_ok.load() == 1) {
    INFO("spawn() succeeded during the start of phase 1; report: " << rep.to_string());
    CHECK(late.is_finished()); // it was waited for...
    CHECK(find_task(rep, "late") != nullptr); // ...so it must be reported
  }
}

// --- Threads --------------------------------------------------------------------------------------

namespace {

// One repetition: `spawners` threads spawn named tasks (thread 0 with on_shutdown::abort and a body
// that ignores the token, the others cooperative) while another thread calls request() and run()
// runs on a thread pool of `pool_threads` threads. Every spawn that succeeded must be reported
// exactly once (no task can finish before the root token is cancelled), with the right outcome.
struct race_stats {
  int raced = 0; // repetitions where a spawn was refused after successful ones
};

template <class K>
void race_once(int rep, int pool_threads, int spawners, race_stats& stats) {
  constexpr int per_thread = 48; // spawns per thread, at most
  asio::thread_pool pool(static_cast<std::size_t>(pool_threads));
  halt::shutdown sd(pool, quiet(10s));
  std::future<halt::shutdown_report> fut = asio::co_spawn(pool, sd.run(), asio::use_future);

  std::atomic<int> ready{0}, spawned_total{0}, wrong_error{0}, abort_gone{0}, coop_done{0};
  std::atomic<bool> go{false};
  std::vector<std::vector<std::string>> ok(static_cast<std::size_t>(spawners));
  std::vector<int> refused(static_cast<std::size_t>(spawners), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < spawners; ++t) {
    threads.emplace_back([&, t] {
      auto tok = sd.token();
      auto& mine = ok[static_cast<std::size_t>(t)];
      mine.reserve(per_thread);
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < per_thread; ++k) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(k);
        try {
          if (t == 0) {
            auto h = sd.spawn(name, counted_sleeper<K>(count_on_destroy(&abort_gone)), halt::on_shutdown::abort);
          } else {
            auto h = sd.spawn(name, counted_cooperative<K>(tok, count_on_destroy(&coop_done)));
          }
          mine.push_back(std::move(name));
          ++spawned_total;
        } catch (const halt::system_error& e) {
          if (e.code() == halt::errc::closed)
            ++refused[static_cast<std::size_t>(t)];
          else
            ++wrong_error;
          break;
        } catch (...) {
          ++wrong_error;
          break;
        }
      }
    });
  }
  std::thread requester([&] {
    ++ready;
    while (!go.load()) std::this_thread::yield();
    // Vary the moment: after some spawns, with a few yields more.
    const int wanted = (rep * 7) % (spawners * per_thread / 3 + 1);
    for (int spin = 0; spin < 100000 && spawned_total.load() < wanted; ++spin) std::this_thread::yield();
    for (int spin = 0; spin < rep % 13; ++spin) std::this_thread::yield();
    sd.request();
  });
  while (ready.load() < spawners + 1) std::this_thread::yield();
  go = true;
  for (auto& th : threads) th.join();
  requester.join();

  REQUIRE(fut.wait_for(20s) == std::future_status::ready);
  const halt::shutdown_report rep_ = fut.get();

  INFO("rep " << rep << ", pool " << pool_threads << ", spawned " << spawned_total.load());
  REQUIRE(wrong_error.load() == 0);
  CHECK(rep_.trigger == "request()");
  CHECK_FALSE(rep_.forced);
  CHECK(sd.tracker().size() == 0);

  // Each successful spawn is reported exactly once, and nothing else is.
  std::map<std::string, int> seen;
  for (const auto& t : rep_.tasks) ++seen[t.name];
  std::size_t expected = 0;
  for (const auto& v : ok) expected += v.size();
  std::vector<std::string> missing, duplicated, unknown;
  for (const auto& v : ok)
    for (const auto& n : v) {
      auto it = seen.find(n);
      if (it == seen.end()) missing.push_back(n);
      else if (it->second != 1) duplicated.push_back(n);
    }
  for (const auto& [n, c] : seen) {
    bool known = false;
    for (const auto& v : ok) known = known || std::find(v.begin(), v.end(), n) != v.end();
    if (!known) unknown.push_back(n);
  }
  INFO("missing from the report: " << missing.size() << (missing.empty() ? "" : " (first: " + missing[0] + ")"));
  CHECK(missing.empty());
  CHECK(duplicated.empty());
  CHECK(unknown.empty());
  CHECK(rep_.tasks.size() == expected);

  // Outcomes: thread 0's tasks were aborted, the others finished gracefully.
  for (const auto& t : rep_.tasks) {
    const bool abort_policy = t.name.rfind("t0-", 0) == 0;
    if (abort_policy && t.how != outcome::aborted) FAIL_CHECK(t.name << " should be aborted");
    if (!abort_policy && t.how != outcome::graceful) FAIL_CHECK(t.name << " should be graceful");
  }
  // Spawn order within each thread is kept.
  for (int t = 0; t < spawners; ++t) {
    const std::string prefix = "t" + std::to_string(t) + "-";
    int last = -1;
    bool ordered = true;
    for (const auto& task : rep_.tasks)
      if (task.name.rfind(prefix, 0) == 0) {
        const int k = std::stoi(task.name.substr(prefix.size()));
        ordered = ordered && k > last;
        last = k;
      }
    CHECK(ordered);
  }
  // Every task's frame was gone before run() returned: the successful spawns were waited for
  // (and a refused spawn's work was destroyed in spawn()).
  CHECK(abort_gone.load() == static_cast<int>(ok[0].size()) + refused[0]);
  int coop_expected = 0;
  for (int t = 1; t < spawners; ++t)
    coop_expected += static_cast<int>(ok[static_cast<std::size_t>(t)].size()) + refused[static_cast<std::size_t>(t)];
  CHECK(coop_done.load() == coop_expected);

  bool any_refused = false, any_ok = expected > 0;
  for (int r : refused) any_refused = any_refused || r > 0;
  if (any_refused && any_ok) ++stats.raced;
}

} // namespace

TEMPLATE_TEST_CASE("spawn() and request() from other threads while run() runs on a 2-thread pool", "[shutdown][race]", HALT_TEST_SHUTDOWN_KINDS) {
  race_stats stats;
  for (int rep = 0; rep < 30; ++rep) race_once<TestType>(rep, 2, 3, stats);
  INFO("repetitions with a refused spawn after successful ones: " << stats.raced);
  SUCCEED();
}

TEMPLATE_TEST_CASE("spawn() and request() from other threads while run() runs on a 4-thread pool", "[shutdown][race]", HALT_TEST_SHUTDOWN_KINDS) {
  race_stats stats;
  for (int rep = 0; rep < 30; ++rep) race_once<TestType>(rep, 4, 2, stats);
  INFO("repetitions with a refused spawn after successful ones: " << stats.raced);
  SUCCEED();
}

// --- Tasks that end with an exception (issue 10: errors must not vanish) -------------------------

namespace {
template <class K>
co_t<K> fails_now(std::string what) {
  co_await sleep_for<K>(0ms);
  throw std::runtime_error(what);
}
template <class K>
co_t<K, int> fails_after_cancel(halt::cancellation_token tok) {
  co_await wait_for<K>(tok);
  throw std::runtime_error("flush: disk full");
  co_return 0;
}
template <class K>
co_t<K> aborted_by_operation(halt::cancellation_token tok) {
  co_await wait_for<K>(tok);
  throw halt::system_error(asio::error::operation_aborted); // how an abort ends an awaitable task
}
struct log_lines {
  std::mutex m;
  std::vector<std::string> lines;
  halt::shutdown_options options(std::chrono::steady_clock::duration grace) {
    auto o = quiet(grace);
    o.log = [this](const std::string& s) {
      std::lock_guard<std::mutex> g(m);
      lines.push_back(s);
    };
    return o;
  }
  std::size_t count_with(const std::string& needle) {
    std::lock_guard<std::mutex> g(m);
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return contains(l, needle);
    }));
  }
};
} // namespace

TEMPLATE_TEST_CASE("a named task that throws before the shutdown is logged at once, counted and listed in the report", "[shutdown][issue10]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  log_lines log;
  halt::shutdown sd(io, log.options(10s));
  std::vector<std::exception_ptr> detached;
  auto prev = halt::set_detached_exception_handler([&](std::exception_ptr e) { detached.push_back(e); });
  sd.spawn("connection 1", fails_now<TestType>("write: Broken pipe")).detach();
  auto joined = sd.spawn("connection 2", fails_now<TestType>("read: bad input"));
  auto fine = sd.spawn("connection 3", quick<TestType>());
  auto cut = sd.spawn("connection 4", counted_sleeper<TestType>(count_on_destroy(nullptr)));
  run_until(io, [&] { return joined.is_finished() && fine.is_finished(); }, 5s);
  cut.abort();
  run_until(io, [&] { return cut.is_finished(); }, 5s);
  // Logged as it happened, naming the task and the error.
  CHECK(log.count_with("\"connection 1\" ended with an exception: write: Broken pipe") == 1);
  CHECK(log.count_with("\"connection 2\" ended with an exception: read: bad input") == 1);
  CHECK(log.count_with("connection 3") == 0);
  CHECK(log.count_with("connection 4") == 0);
  // The exception still reaches its owner: the joiner, or the detached-exception handler.
  std::optional<halt::join_result<void>> r;
  auto joiner = [&]() -> asio::awaitable<void> { r.emplace(co_await joined.join()); };
  asio::co_spawn(io, joiner, halt_test::rethrow{});
  run_until(io, [&] { return r.has_value(); }, 5s);
  CHECK(r->is_exception());
  CHECK(detached.size() == 1);
  halt::set_detached_exception_handler(std::move(prev));

  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.tasks.empty());
  CHECK(rep.before.returned == 1);
  CHECK(rep.before.failed == 2);
  CHECK(rep.before.aborted == 1);
  REQUIRE(rep.before.failures.size() == 2);
  CHECK(rep.before.failures[0].name == "connection 1");
  CHECK(rep.before.failures[0].error == "write: Broken pipe");
  CHECK(rep.before.failures[1].name == "connection 2");
  const auto s = rep.to_string();
  INFO(s);
  CHECK(contains(s, "4 task(s) finished before the shutdown: 1 returned, 2 failed, 1 aborted"));
  CHECK(contains(lower(line_with(s, "connection 1")), "failed"));
  CHECK(contains(line_with(s, "connection 1"), "write: Broken pipe"));
}

TEMPLATE_TEST_CASE("a named task that throws after the cancel is reported failed with its error", "[shutdown][issue10]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  log_lines log;
  halt::shutdown sd(io, log.options(10s));
  std::atomic<int> orphans{0};
  auto prev = halt::set_detached_exception_handler([&](std::exception_ptr) { ++orphans; });
  auto tok = sd.token();
  auto bad = sd.spawn("journal flusher", fails_after_cancel<TestType>(tok));
  auto ok = sd.spawn("worker", cooperative<TestType>(tok, 0ms));
  auto cut = sd.spawn("cut", aborted_by_operation<TestType>(tok));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  REQUIRE(rep.tasks.size() == 3);
  CHECK(rep.tasks[0].how == outcome::failed);
  CHECK(rep.tasks[0].error == "flush: disk full");
  CHECK(rep.tasks[1].how == outcome::graceful);
  CHECK(rep.tasks[2].how == outcome::graceful); // operation_aborted is not a failure
  CHECK(rep.count(outcome::failed) == 1);
  CHECK_FALSE(rep.forced);
  CHECK(log.count_with("\"journal flusher\" ended with an exception: flush: disk full") == 1);
  const auto s = rep.to_string();
  INFO(s);
  CHECK(contains(s, "2 graceful, 0 aborted, 1 failed, 0 stuck"));
  CHECK(contains(lower(line_with(s, "journal flusher")), "failed"));
  CHECK(contains(line_with(s, "journal flusher"), "flush: disk full"));
  bad.detach(); // both exceptions go to the detached-exception handler
  cut.detach();
  CHECK(orphans == 2);
  halt::set_detached_exception_handler(std::move(prev));
}

TEMPLATE_TEST_CASE("the report keeps the last 16 failures before the shutdown and counts them all", "[shutdown][issue10]", HALT_TEST_SHUTDOWN_KINDS) {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  auto prev = halt::set_detached_exception_handler([](std::exception_ptr) {});
  std::vector<halt::join_handle<void>> hs;
  for (int i = 0; i < 20; ++i) hs.push_back(sd.spawn("t" + std::to_string(i), fails_now<TestType>("e" + std::to_string(i))));
  run_until(io, [&] { return std::all_of(hs.begin(), hs.end(), [](auto& h) { return h.is_finished(); }); }, 5s);
  hs.clear(); // detached: to the handler above
  halt::set_detached_exception_handler(std::move(prev));
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(rep.before.failed == 20);
  REQUIRE(rep.before.failures.size() == halt::shutdown_report::earlier::max_failures);
  CHECK(rep.before.failures.front().name == "t4");
  CHECK(rep.before.failures.back().error == "e19");
  CHECK(contains(rep.to_string(), "(the last 16 failures:)"));
}

TEST_CASE("spawn() takes a halt::task or a callable returning one, an aborted task is reported aborted",
          "[shutdown][halt_task]") {
  asio::io_context io;
  halt::shutdown sd(io, quiet(10s));
  auto tok = sd.token();
  auto value = [](halt::cancellation_token t, int v) -> halt::task<int> {
    co_await t.async_wait(halt::use_task); // returns once the shutdown cancels the root token
    co_return v;
  };
  auto forever = []() -> halt::task<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, 1h);
    co_await t.async_wait(halt::use_task);
  };
  auto h1 = sd.spawn("task", value(tok, 3));
  auto h2 = sd.spawn("callable", [&] { return value(tok, 4); });
  auto h3 = sd.spawn("aborted", forever(), halt::on_shutdown::abort);
  run_result res;
  start_run(io, sd, res);
  sd.request();
  run_until(io, [&] { return res.done; }, 5s);
  const auto& rep = report_of(res);
  CHECK(names_of(rep) == std::vector<std::string>{"task", "callable", "aborted"});
  CHECK(rep.count(outcome::graceful) == 2);
  CHECK(rep.count(outcome::aborted) == 1);
  std::optional<halt::join_result<int>> r1, r2;
  std::optional<halt::join_result<void>> r3;
  auto joiner = [&]() -> halt::task<void> {
    r1.emplace(co_await h1.join()); // join() is an asio::awaitable: bridged inside a task
    r2.emplace(co_await h2.async_join(halt::use_task));
    r3.emplace(co_await h3.join());
  };
  bool joined = false;
  std::move(joiner())(io, [&](std::exception_ptr e) {
    CHECK_FALSE(e);
    joined = true;
  });
  run_until(io, [&] { return joined; }, 5s);
  CHECK(r1->value() == 3);
  CHECK(r2->value() == 4);
  CHECK(r3->is_cancelled());
}
