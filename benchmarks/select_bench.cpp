// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// select / timeout micro-benchmarks: halt::select and halt::timeout against Asio's awaitable
/// operators (`a || b`, asio/experimental/awaitable_operators.hpp, the anchor), on a
/// single-threaded io_context. benchmarks/compare.py adds the Tokio program's numbers
/// (`tokio::select!`, `tokio::time::timeout` on the current-thread runtime) and prints ratios.
///
/// A "sleeper" is a coroutine waiting on a 60 s steady_timer: it only ends by being cancelled.
/// `ready()` co_returns at once. Every iteration checks which branch won.
///
/// `/floor` rows (issue 11) are the raw-callback program of the same shape: no coroutine, only the
/// Asio operations the select cannot do without.
///
/// Note: g++ 12 miscompiles temporaries in a co_await full-expression, so every awaitable is
/// named before it is awaited (as in the tests).
#include <halt/cancellation_token.hpp>
#include <halt/select.hpp>
#include <halt/timeout.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <exception>
#include <system_error>
#include <utility>
#include <variant>

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto forever = std::chrono::seconds(60);

asio::awaitable<void> sleeper() {
  asio::steady_timer t(co_await asio::this_coro::executor, forever);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<int> ready() { co_return 1; }

// Each benchmark drives its loop from a coroutine on a single-threaded io_context (concurrency
// hint 1), the counterpart of Tokio's current-thread runtime and block_on. With on_strand the
// driving coroutine runs on a strand over the io_context (halt then reuses that strand).
//
// The io_context gets its reactor up front (an idle timer constructed for the whole run), as in
// any program that owns a timer or a socket, and as Tokio's runtime has its drivers
// (enable_all). Without it, a row whose sleepers never start (halt skips the branches after a
// branch that is ready at once) would run without a reactor, while the others pay one
// epoll_wait per pass of the io_context's handler queue once their first timer exists.
// on_strand: the coroutine runs on a strand. multi_thread: the io_context has the default
// concurrency hint (several threads may run it), so a select from a coroutine on its plain
// executor must make a strand of its own and post its launch there.
template <class Body>
void drive(benchmark::State& state, Body body, bool on_strand = false, bool multi_thread = false) {
  asio::io_context io(multi_thread ? ASIO_CONCURRENCY_HINT_DEFAULT : 1);
  asio::steady_timer reactor_on(io); // never waited on
  std::exception_ptr error;
  auto main = [&]() -> asio::awaitable<void> {
    try {
      auto ex = co_await asio::this_coro::executor;
      auto b = body(state, ex);
      co_await std::move(b);
    } catch (...) {
      error = std::current_exception();
    }
  };
  if (on_strand)
    asio::co_spawn(asio::make_strand(io), main, asio::detached);
  else
    asio::co_spawn(io, main, asio::detached);
  io.run();
  if (error) state.SkipWithError("the benchmark threw");
}

// ---- select(ready, pending): the ready branch starts first and wins -------------------------

// halt starts branches in order; the ready branch wins while it starts, so the sleeper is
// destroyed unstarted.
asio::awaitable<void> ready_pending_halt(benchmark::State& st, asio::any_io_executor) {
  for (auto _ : st) {
    auto a = ready();
    auto b = sleeper();
    auto sel = halt::select(std::move(a), std::move(b));
    auto r = co_await std::move(sel);
    if (r.index() != 0) st.SkipWithError("wrong winner");
    benchmark::DoNotOptimize(r);
  }
}

void select_ready_pending_halt(benchmark::State& state) { drive(state, ready_pending_halt); }
void select_ready_pending_strand_halt(benchmark::State& state) {
  drive(state, ready_pending_halt, true);
}

asio::awaitable<void> ready_pending_asio(benchmark::State& st, asio::any_io_executor) {
  for (auto _ : st) {
    auto a = ready();
    auto b = sleeper();
    auto sel = std::move(a) || std::move(b);
    auto r = co_await std::move(sel);
    if (r.index() != 0) st.SkipWithError("wrong winner");
    benchmark::DoNotOptimize(r);
  }
}

void select_ready_pending_asio(benchmark::State& state) { drive(state, ready_pending_asio); }
void select_ready_pending_strand_asio(benchmark::State& state) {
  drive(state, ready_pending_asio, true);
}

// A coroutine on the plain executor of an io_context with the default concurrency hint.
void select_ready_pending_mt_halt(benchmark::State& state) {
  drive(state, ready_pending_halt, false, true);
}
void select_ready_pending_mt_asio(benchmark::State& state) {
  drive(state, ready_pending_asio, false, true);
}

// ---- select(pending, ready): the sleeper starts first, must be cancelled and unwound ---------

void select_pending_ready_halt(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto a = sleeper();
      auto b = ready();
      auto sel = halt::select(std::move(a), std::move(b));
      auto r = co_await std::move(sel);
      if (r.index() != 1) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

void select_pending_ready_asio(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto a = sleeper();
      auto b = ready();
      auto sel = std::move(a) || std::move(b);
      auto r = co_await std::move(sel);
      if (r.index() != 1) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

// The floor of select(pending on a timer, ready), issue 11: arm a 60 s timer whose handler has a
// bound cancellation slot (the pending branch), take the ready branch's value inline, emit
// terminal on the slot (the loser's cancel), and end the iteration when the timer's handler
// (operation_aborted) has run: one timer arm, one cancel, one pass of the queue. The loop is a
// chain of callbacks under one io.run(), on an io_context(1) with its reactor up front as in
// drive(); the timer and the signal are reused.
struct pending_ready_floor_loop {
  benchmark::State& st;
  asio::io_context& io;

  pending_ready_floor_loop(benchmark::State& state, asio::io_context& ctx) : st(state), io(ctx) {}
  asio::steady_timer timer{io};
  asio::cancellation_signal sig;

  void next() {
    if (!st.KeepRunning()) return;
    timer.expires_after(forever);
    timer.async_wait(asio::bind_cancellation_slot(sig.slot(), [this](std::error_code ec) {
      if (ec != asio::error::operation_aborted) st.SkipWithError("wrong winner");
      next();
    }));
    int ready_value = 1; // the ready branch, completed inline
    benchmark::DoNotOptimize(ready_value);
    sig.emit(asio::cancellation_type::terminal);
  }
};

void select_pending_ready_floor(benchmark::State& state) {
  asio::io_context io(1);
  asio::steady_timer reactor_on(io); // never waited on
  pending_ready_floor_loop loop(state, io);
  asio::post(io, [&loop] { loop.next(); });
  io.run();
}

// ---- a plain operation as the pending branch (no coroutine frame for it) --------------------

void select_ready_timer_op_halt(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    asio::steady_timer timer(ex);
    for (auto _ : st) {
      timer.expires_after(forever);
      auto a = ready();
      auto b = timer.async_wait(halt::deferred);
      auto sel = halt::select(std::move(a), std::move(b));
      auto r = co_await std::move(sel);
      if (r.index() != 0) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

void select_pending_timer_op_halt(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    asio::steady_timer timer(ex);
    for (auto _ : st) {
      timer.expires_after(forever);
      auto a = timer.async_wait(halt::deferred);
      auto b = ready();
      auto sel = halt::select(std::move(a), std::move(b));
      auto r = co_await std::move(sel);
      if (r.index() != 1) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

// ---- timeout around a ready-at-once operation ----------------------------------------------

void timeout_ready_halt(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto a = ready();
      auto t = halt::timeout(forever, std::move(a));
      int v = co_await std::move(t);
      if (v != 1) st.SkipWithError("wrong value");
      benchmark::DoNotOptimize(v);
    }
  });
}

// Asio's natural pattern: a timer per call, raced with ||.
void timeout_ready_asio(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    for (auto _ : st) {
      asio::steady_timer timer(ex, forever);
      auto a = ready();
      auto b = timer.async_wait(asio::use_awaitable);
      auto sel = std::move(a) || std::move(b);
      auto r = co_await std::move(sel);
      if (r.index() != 0) st.SkipWithError("timed out");
      benchmark::DoNotOptimize(r);
    }
  });
}

// ---- halt::task branches (issue 11): raced inline, the loop driven from a halt::task ---------

halt::task<void> task_sleeper() {
  asio::steady_timer t(co_await asio::this_coro::executor, forever);
  co_await t.async_wait(halt::use_task);
}

halt::task<int> task_ready() { co_return 1; }

// Runs body(state), a halt::task<void>, on an io_context(1) with its reactor up (as drive()).
template <class Body>
void drive_task(benchmark::State& state, Body body) {
  asio::io_context io(1);
  asio::steady_timer reactor_on(io); // never waited on
  std::exception_ptr error;
  bool done = false;
  auto main = body(state);
  std::move(main)(io, [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.run();
  if (error || !done) state.SkipWithError("the benchmark threw or did not finish");
}

void select_ready_pending_task(benchmark::State& state) {
  drive_task(state, [](benchmark::State& st) -> halt::task<void> {
    for (auto _ : st) {
      auto sel = halt::select(task_ready(), task_sleeper());
      auto r = co_await std::move(sel);
      if (r.index() != 0) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

void select_pending_ready_task(benchmark::State& state) {
  drive_task(state, [](benchmark::State& st) -> halt::task<void> {
    for (auto _ : st) {
      auto sel = halt::select(task_sleeper(), task_ready());
      auto r = co_await std::move(sel);
      if (r.index() != 1) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

void timeout_ready_task(benchmark::State& state) {
  drive_task(state, [](benchmark::State& st) -> halt::task<void> {
    for (auto _ : st) {
      auto t = halt::timeout(forever, task_ready());
      int v = co_await std::move(t);
      if (v != 1) st.SkipWithError("wrong value");
      benchmark::DoNotOptimize(v);
    }
  });
}

void select8_task(benchmark::State& state) {
  drive_task(state, [](benchmark::State& st) -> halt::task<void> {
    for (auto _ : st) {
      auto sel = halt::select(task_sleeper(), task_sleeper(), task_sleeper(), task_sleeper(), task_sleeper(),
                              task_sleeper(), task_sleeper(), task_ready());
      auto r = co_await std::move(sel);
      if (r.index() != 7) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

// ---- select with 8 branches: 7 sleepers (all start, all cancelled), then a ready one ---------

void select8_halt(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto s0 = sleeper();
      auto s1 = sleeper();
      auto s2 = sleeper();
      auto s3 = sleeper();
      auto s4 = sleeper();
      auto s5 = sleeper();
      auto s6 = sleeper();
      auto r7 = ready();
      auto sel = halt::select(std::move(s0), std::move(s1), std::move(s2), std::move(s3),
                              std::move(s4), std::move(s5), std::move(s6), std::move(r7));
      auto r = co_await std::move(sel);
      if (r.index() != 7) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

// Asio's || is binary: `a || b || ...` is (((s0 || s1) || s2) ... || r7), 7 nested operator
// coroutines, each a parallel group of two co_spawns (14 in all); the value type is flattened to
// std::variant<monostate x 7, int>.
void select8_asio(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto s0 = sleeper();
      auto s1 = sleeper();
      auto s2 = sleeper();
      auto s3 = sleeper();
      auto s4 = sleeper();
      auto s5 = sleeper();
      auto s6 = sleeper();
      auto r7 = ready();
      auto sel = std::move(s0) || std::move(s1) || std::move(s2) || std::move(s3) ||
                 std::move(s4) || std::move(s5) || std::move(s6) || std::move(r7);
      auto r = co_await std::move(sel);
      static_assert(std::variant_size_v<decltype(r)> == 8);
      if (r.index() != 7) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

// select(token.cancelled(), ready) on a token nobody cancels, Tokio's
// `select! { biased; _ = token.cancelled() => .., v = ready => v }`: the token's wait starts
// first (registers with the token), the ready branch wins, and the wait is dropped (withdrawn).
void select_token_ready_task(benchmark::State& state) {
  drive_task(state, [](benchmark::State& st) -> halt::task<void> {
    halt::cancellation_token token;
    for (auto _ : st) {
      auto sel = halt::select(token.cancelled(), task_ready());
      auto r = co_await std::move(sel);
      if (r.index() != 1) st.SkipWithError("wrong winner");
      benchmark::DoNotOptimize(r);
    }
  });
}

// The same from an asio::awaitable: token.cancelled()'s awaitable form, raced by halt's
// awaitable engine.
asio::awaitable<void> token_ready_halt(benchmark::State& st, asio::any_io_executor) {
  halt::cancellation_token token;
  for (auto _ : st) {
    auto a = token.cancelled();
    auto b = ready();
    auto sel = halt::select(std::move(a), std::move(b));
    auto r = co_await std::move(sel);
    if (r.index() != 1) st.SkipWithError("wrong winner");
    benchmark::DoNotOptimize(r);
  }
}
void select_token_ready_halt(benchmark::State& state) { drive(state, token_ready_halt); }

} // namespace

BENCHMARK(select_ready_pending_halt)->Name("select_ready_pending/halt");
BENCHMARK(select_ready_pending_asio)->Name("select_ready_pending/asio");
BENCHMARK(select_pending_ready_halt)->Name("select_pending_ready/halt");
BENCHMARK(select_pending_ready_asio)->Name("select_pending_ready/asio");
BENCHMARK(select_pending_ready_floor)->Name("select_pending_ready/floor");
BENCHMARK(select_ready_timer_op_halt)->Name("select_ready_timer_op/halt");
BENCHMARK(select_pending_timer_op_halt)->Name("select_pending_timer_op/halt");
BENCHMARK(select_ready_pending_strand_halt)->Name("select_ready_pending_strand/halt");
BENCHMARK(select_ready_pending_strand_asio)->Name("select_ready_pending_strand/asio");
BENCHMARK(select_ready_pending_mt_halt)->Name("select_ready_pending_mt/halt");
BENCHMARK(select_ready_pending_mt_asio)->Name("select_ready_pending_mt/asio");
BENCHMARK(timeout_ready_halt)->Name("timeout_ready/halt");
BENCHMARK(timeout_ready_asio)->Name("timeout_ready/asio");
BENCHMARK(select8_halt)->Name("select8/halt");
BENCHMARK(select8_asio)->Name("select8/asio");
BENCHMARK(select_ready_pending_task)->Name("select_ready_pending/task");
BENCHMARK(select_pending_ready_task)->Name("select_pending_ready/task");
BENCHMARK(timeout_ready_task)->Name("timeout_ready/task");
BENCHMARK(select8_task)->Name("select8/task");
BENCHMARK(select_token_ready_halt)->Name("select_token_ready/halt");
BENCHMARK(select_token_ready_task)->Name("select_token_ready/task");

BENCHMARK_MAIN();
