// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// Task micro-benchmarks: halt::spawn / abort / join against a raw co_spawn with a
/// cancellation_signal (the anchor), on a single-threaded io_context. benchmarks/compare.py adds
/// the Tokio program's numbers (current-thread runtime) and prints ratios.
///
/// Implementations (the second part of a row's name):
/// - `halt`:  halt::spawn of an asio::awaitable, driven from an asio::awaitable;
/// - `asio`:  raw co_spawn with a cancellation_signal (the anchor);
/// - `task`:  halt::spawn of a halt::task (dropped, not unwound, by abort), the loop driven from
///            a halt::task on the same io_context (issue 11);
/// - `floor`: the raw-callback program of issue 11: no coroutine at all, just the Asio operations
///            the row cannot do without (a post, a timer arm, a cancel, one handler run).
#include <halt/join_set.hpp>
#include <halt/join_handle.hpp>
#include <halt/sleep.hpp>
#include <halt/task.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <malloc.h>
#include <new>
#include <system_error>
#include <vector>

// Heap bytes in use (glibc), for the memory-per-task figure. It counts every allocation, Asio's
// recycled frame memory included, without replacing operator new (which would slow every row).
namespace {
long heap_in_use() { return static_cast<long>(mallinfo2().uordblks); }
}

namespace {

asio::awaitable<void> sleeper() {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<int> ready() { co_return 1; }

// Each benchmark drives its loop from a coroutine on a single-threaded io_context (concurrency
// hint 1), the counterpart of Tokio's current-thread runtime and block_on. halt then runs tasks
// on the io_context's executor directly. The `_mt` rows use the default hint instead (an
// io_context that several threads may run), where each task gets a strand of its own.
constexpr int single_thread = 1;
constexpr int multi_thread = ASIO_CONCURRENCY_HINT_DEFAULT;

template <class Body>
void drive(benchmark::State& state, Body body, int hint = single_thread) {
  asio::io_context io(hint);
  std::exception_ptr error;
  auto main = [&]() -> asio::awaitable<void> {
    try {
      co_await body(state, io.get_executor());
    } catch (...) {
      error = std::current_exception();
    }
  };
  asio::co_spawn(io, main, asio::detached);
  io.run();
  if (error) state.SkipWithError("the benchmark threw");
}

asio::awaitable<void> yield_now() { co_await asio::post(asio::use_awaitable); }

// spawn a task, let it run to its first suspension, abort it, join it.
void spawn_abort_join_halt(benchmark::State& state, int hint) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto h = halt::spawn(ex, sleeper());
      co_await yield_now(); // the task's first run: it suspends on its timer
      co_await yield_now();
      h.abort();
      auto r = co_await h.join();
      if (!r.is_cancelled()) st.SkipWithError("not cancelled");
    }
  }, hint);
}

// The anchor: a raw co_spawn with a cancellation_signal, emitted on the same thread.
void spawn_abort_join_asio(benchmark::State& state, int hint) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    for (auto _ : st) {
      asio::cancellation_signal sig;
      bool done = false;
      asio::co_spawn(ex, sleeper(),
                     asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr) { done = true; }));
      co_await yield_now();
      co_await yield_now();
      sig.emit(asio::cancellation_type::terminal);
      while (!done) co_await yield_now();
    }
  }, hint);
}

void spawn_join_ready_halt(benchmark::State& state, int hint) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto h = halt::spawn(ex, ready());
      auto r = co_await h.join();
      benchmark::DoNotOptimize(r.value());
    }
  }, hint);
}

void spawn_join_ready_asio(benchmark::State& state, int hint) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    for (auto _ : st) {
      int v = co_await asio::co_spawn(ex, ready(), asio::use_awaitable);
      benchmark::DoNotOptimize(v);
    }
  }, hint);
}

void abort_before_start_halt(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor ex) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto h = halt::spawn(ex, ready());
      h.abort();
      auto r = co_await h.join();
      if (!r.is_cancelled()) st.SkipWithError("not cancelled");
    }
  });
}

constexpr int set_size = 10'000;

void join_set_halt(benchmark::State& state) {
  asio::io_context io(single_thread);
  double per_task = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    halt::join_set<int> set;
    for (int i = 0; i < set_size; ++i) set.spawn(io, ready());
    int joined = 0;
    auto drain = [&]() -> asio::awaitable<void> {
      while (co_await set.join_next()) ++joined;
    };
    asio::co_spawn(io, drain, asio::detached);
    io.restart();
    io.run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    per_task = s * 1e9 / set_size;
    if (joined != set_size) state.SkipWithError("lost tasks");
  }
  state.counters["ns_per_task"] = per_task;
}

void abort_all_halt(benchmark::State& state, int hint) {
  asio::io_context io(hint);
  double per_task = 0;
  for (auto _ : state) {
    halt::join_set<void> set;
    for (int i = 0; i < set_size; ++i) set.spawn(io, sleeper());
    io.restart();
    io.poll(); // every task runs to its timer
    const auto t0 = std::chrono::steady_clock::now();
    set.abort_all();
    auto drain = [&]() -> asio::awaitable<void> { co_await set.shutdown(); };
    asio::co_spawn(io, drain, asio::detached);
    io.restart();
    io.run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    per_task = s * 1e9 / set_size;
  }
  state.counters["ns_per_task"] = per_task;
}

// Bytes held per pending task (spawned and suspended on its timer).
void task_memory_halt(benchmark::State& state, int hint) {
  double bytes = 0;
  for (auto _ : state) {
    asio::io_context io(hint);
    io.poll();
    std::vector<halt::join_handle<void>> hs;
    hs.reserve(set_size);
    const long before = heap_in_use();
    for (int i = 0; i < set_size; ++i) hs.push_back(halt::spawn(io, sleeper()));
    io.restart(); // the first poll() found no work and stopped the io_context
    io.poll();    // every task runs to its timer
    bytes = static_cast<double>(heap_in_use() - before) / set_size;
    for (auto& h : hs) h.abort();
    io.restart();
    io.poll();
  }
  state.counters["bytes"] = bytes;
}

// ---- halt::task: the loop runs in a halt::task on the io_context ---------------------------------

constexpr auto forever = std::chrono::hours(1);

// The halt::task counterparts of sleeper() and ready(). `runs` counts the sleepers that reached
// their timer, so that the abort rows can check that the abort hit a pending task (not one that
// had not started yet, which is abort_before_start).
halt::task<void> task_sleeper(long* runs) {
  asio::steady_timer t(co_await asio::this_coro::executor, forever);
  ++*runs;
  co_await t.async_wait(halt::use_task);
}

halt::task<int> task_ready() { co_return 1; }

// Runs body(state, executor), a halt::task<void>, on an io_context with the given hint until it
// finishes.
template <class Body>
void drive_task(benchmark::State& state, Body body, int hint = single_thread) {
  asio::io_context io(hint);
  std::exception_ptr error;
  bool done = false;
  auto main = body(state, io.get_executor());
  std::move(main)(io, [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.run();
  if (error || !done) state.SkipWithError("the benchmark threw or did not finish");
}

// Joins from inside a halt::task: co_await h.join(), which a halt::task awaits as the join
// operation itself (join_awaitable::in_task: no co_spawn).
halt::task<void> spawn_abort_join_task_body(benchmark::State& st, asio::any_io_executor ex) {
  long runs = 0;
  for (auto _ : st) {
    auto h = halt::spawn(ex, task_sleeper(&runs));
    co_await asio::post(ex, halt::use_task); // the task's first run (started inline by spawn's
                                              // posted start): it suspends on its timer
    h.abort();                                // delivered here: emitted on the timer's slot
    auto join = h.join();
    auto r = co_await std::move(join);
    if (!r.is_cancelled()) st.SkipWithError("not cancelled");
  }
  if (runs != static_cast<long>(st.iterations())) st.SkipWithError("aborted before its first run");
}

void spawn_abort_join_task(benchmark::State& state, int hint) {
  drive_task(state, spawn_abort_join_task_body, hint);
}

halt::task<void> spawn_join_ready_task_body(benchmark::State& st, asio::any_io_executor ex) {
  for (auto _ : st) {
    auto h = halt::spawn(ex, task_ready());
    auto join = h.join();
    auto r = co_await std::move(join);
    benchmark::DoNotOptimize(r.value());
  }
}

void spawn_join_ready_task(benchmark::State& state, int hint) {
  drive_task(state, spawn_join_ready_task_body, hint);
}

halt::task<void> abort_before_start_task_body(benchmark::State& st, asio::any_io_executor ex) {
  for (auto _ : st) {
    auto h = halt::spawn(ex, task_ready());
    h.abort();
    auto join = h.join();
    auto r = co_await std::move(join);
    if (!r.is_cancelled()) st.SkipWithError("not cancelled");
  }
}

void abort_before_start_task(benchmark::State& state) {
  drive_task(state, abort_before_start_task_body);
}

// co_await of a task that returns at once, inside one task: no post, no spawn.
halt::task<void> co_await_ready_task_body(benchmark::State& st, asio::any_io_executor) {
  for (auto _ : st) {
    auto t = task_ready();
    int v = co_await std::move(t);
    benchmark::DoNotOptimize(v);
  }
}

void co_await_ready_task(benchmark::State& state) { drive_task(state, co_await_ready_task_body); }

// The asio::awaitable counterpart: co_await of an awaitable that returns at once.
void co_await_ready_asio(benchmark::State& state) {
  drive(state, [](benchmark::State& st, asio::any_io_executor) -> asio::awaitable<void> {
    for (auto _ : st) {
      auto a = ready();
      int v = co_await std::move(a);
      benchmark::DoNotOptimize(v);
    }
  });
}

// join_set accepts halt::task bodies (spawn), but join_next() and shutdown() return
// asio::awaitable on this branch, so the drain below is an asio::awaitable, co_spawned as in the
// halt rows: the difference between the rows is the task bodies.
void join_set_task(benchmark::State& state) {
  asio::io_context io(single_thread);
  double per_task = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    halt::join_set<int> set;
    for (int i = 0; i < set_size; ++i) set.spawn(io, task_ready());
    int joined = 0;
    auto drain = [&]() -> asio::awaitable<void> {
      while (co_await set.join_next()) ++joined;
    };
    asio::co_spawn(io, drain, asio::detached);
    io.restart();
    io.run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    per_task = s * 1e9 / set_size;
    if (joined != set_size) state.SkipWithError("lost tasks");
  }
  state.counters["ns_per_task"] = per_task;
}

// abort_all of 10^4 pending halt::task bodies in a join_set (which accepts them), then the
// shutdown drain (an asio::awaitable: see join_set_task).
void abort_all_task(benchmark::State& state, int hint) {
  asio::io_context io(hint);
  double per_task = 0;
  long runs = 0;
  for (auto _ : state) {
    halt::join_set<void> set;
    for (int i = 0; i < set_size; ++i) set.spawn(io, task_sleeper(&runs));
    io.restart();
    io.poll(); // every task runs to its timer
    const auto t0 = std::chrono::steady_clock::now();
    set.abort_all();
    auto drain = [&]() -> asio::awaitable<void> { co_await set.shutdown(); };
    asio::co_spawn(io, drain, asio::detached);
    io.restart();
    io.run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    per_task = s * 1e9 / set_size;
  }
  if (runs != static_cast<long>(state.iterations()) * set_size)
    state.SkipWithError("a task was aborted before its first run");
  state.counters["ns_per_task"] = per_task;
}

// The counterpart of Tokio's sleeper task (tokio::time::sleep): a halt::task pending on
// halt::sleep_for, halt's timer (a timing wheel, sleep.hpp) instead of an asio::steady_timer.
halt::task<void> task_wheel_sleeper(long* runs) {
  ++*runs;
  co_await halt::sleep_for(forever);
}

// Bytes held per pending halt::task (spawned and suspended on its timer), measured as
// task_memory_halt measures an awaitable task. Body: task_sleeper (an asio::steady_timer in its
// frame), or task_wheel_sleeper.
void task_memory_task(benchmark::State& state, int hint, halt::task<void> (*body)(long*)) {
  double bytes = 0;
  long runs = 0;
  for (auto _ : state) {
    asio::io_context io(hint);
    io.poll();
    std::vector<halt::join_handle<void>> hs;
    hs.reserve(set_size);
    const long before = heap_in_use();
    for (int i = 0; i < set_size; ++i) hs.push_back(halt::spawn(io, body(&runs)));
    io.restart(); // the first poll() found no work and stopped the io_context
    io.poll();    // every task runs to its timer
    bytes = static_cast<double>(heap_in_use() - before) / set_size;
    for (auto& h : hs) h.abort();
    io.restart();
    io.poll();
  }
  if (runs != static_cast<long>(state.iterations()) * set_size) state.SkipWithError("not all pending");
  state.counters["bytes"] = bytes;
}

// ---- the raw-callback floor (issue 11): no coroutine, no task state ----------------------------
// Each runs its loop as a chain of callbacks under one io.run(), on an io_context(1). The timer
// and the signal are reused (a task would own a timer of its own; constructing a steady_timer
// costs no system call).

// spawn + first run + abort + join: post a start; in it, arm a 60 s timer whose handler has a
// bound cancellation slot, and emit terminal on the slot (the abort); the iteration ends when the
// timer's handler (operation_aborted) has run.
struct spawn_abort_join_floor_loop {
  benchmark::State& st;
  asio::io_context& io;

  spawn_abort_join_floor_loop(benchmark::State& state, asio::io_context& ctx) : st(state), io(ctx) {}
  asio::steady_timer timer{io};
  asio::cancellation_signal sig;

  void next() {
    if (!st.KeepRunning()) return;
    asio::post(io, [this] { start(); });
  }
  void start() {
    timer.expires_after(forever);
    timer.async_wait(asio::bind_cancellation_slot(sig.slot(), [this](std::error_code ec) {
      if (ec != asio::error::operation_aborted) st.SkipWithError("not cancelled");
      next();
    }));
    sig.emit(asio::cancellation_type::terminal);
  }
};

void spawn_abort_join_floor(benchmark::State& state) {
  asio::io_context io(single_thread);
  spawn_abort_join_floor_loop loop(state, io);
  loop.next();
  io.run();
}

// spawn + join of a ready task: one post whose handler runs.
struct spawn_join_ready_floor_loop {
  benchmark::State& st;
  asio::io_context& io;

  spawn_join_ready_floor_loop(benchmark::State& state, asio::io_context& ctx) : st(state), io(ctx) {}
  int value = 0;

  void next() {
    if (!st.KeepRunning()) return;
    asio::post(io, [this] {
      value = 1;
      benchmark::DoNotOptimize(value);
      next();
    });
  }
};

void spawn_join_ready_floor(benchmark::State& state) {
  asio::io_context io(single_thread);
  spawn_join_ready_floor_loop loop(state, io);
  loop.next();
  io.run();
}

void task_memory_asio(benchmark::State& state) {
  double bytes = 0;
  for (auto _ : state) {
    asio::io_context io(single_thread);
    io.poll();
    std::vector<asio::cancellation_signal> sigs(set_size);
    const long before = heap_in_use();
    for (int i = 0; i < set_size; ++i)
      asio::co_spawn(io, sleeper(), asio::bind_cancellation_slot(sigs[static_cast<std::size_t>(i)].slot(), asio::detached));
    io.restart(); // the first poll() found no work and stopped the io_context
    io.poll();    // every coroutine runs to its timer
    bytes = static_cast<double>(heap_in_use() - before) / set_size;
    for (auto& s : sigs) asio::post(io, [&s] { s.emit(asio::cancellation_type::terminal); });
    io.restart();
    io.poll();
  }
  state.counters["bytes"] = bytes;
}

} // namespace

BENCHMARK_CAPTURE(spawn_abort_join_halt, st, single_thread)->Name("spawn_abort_join/halt");
BENCHMARK_CAPTURE(spawn_abort_join_asio, st, single_thread)->Name("spawn_abort_join/asio");
BENCHMARK_CAPTURE(spawn_join_ready_halt, st, single_thread)->Name("spawn_join_ready/halt");
BENCHMARK_CAPTURE(spawn_join_ready_asio, st, single_thread)->Name("spawn_join_ready/asio");
BENCHMARK_CAPTURE(spawn_abort_join_halt, mt, multi_thread)->Name("spawn_abort_join_mt/halt");
BENCHMARK_CAPTURE(spawn_abort_join_asio, mt, multi_thread)->Name("spawn_abort_join_mt/asio");
BENCHMARK_CAPTURE(spawn_join_ready_halt, mt, multi_thread)->Name("spawn_join_ready_mt/halt");
BENCHMARK_CAPTURE(spawn_join_ready_asio, mt, multi_thread)->Name("spawn_join_ready_mt/asio");
BENCHMARK(abort_before_start_halt)->Name("abort_before_start/halt");
BENCHMARK(join_set_halt)->Name("join_set_10k_per_task/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(abort_all_halt, st, single_thread)->Name("abort_all_10k_per_task/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(abort_all_halt, mt, multi_thread)->Name("abort_all_10k_per_task_mt/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(task_memory_halt, st, single_thread)->Name("task_memory_bytes/halt")->Iterations(1);
BENCHMARK_CAPTURE(task_memory_halt, mt, multi_thread)->Name("task_memory_bytes_mt/halt")->Iterations(1);
BENCHMARK(task_memory_asio)->Name("task_memory_bytes/asio")->Iterations(1);

// issue 11: halt::task (loop driven from a halt::task) and the raw-callback floor.
BENCHMARK(spawn_abort_join_floor)->Name("spawn_abort_join/floor");
BENCHMARK_CAPTURE(spawn_abort_join_task, st, single_thread)->Name("spawn_abort_join/task");
BENCHMARK(spawn_join_ready_floor)->Name("spawn_join_ready/floor");
BENCHMARK_CAPTURE(spawn_join_ready_task, st, single_thread)->Name("spawn_join_ready/task");
BENCHMARK_CAPTURE(spawn_abort_join_task, mt, multi_thread)->Name("spawn_abort_join_mt/task");
BENCHMARK_CAPTURE(spawn_join_ready_task, mt, multi_thread)->Name("spawn_join_ready_mt/task");
BENCHMARK(abort_before_start_task)->Name("abort_before_start/task");
BENCHMARK(co_await_ready_task)->Name("co_await_ready/task");
BENCHMARK(co_await_ready_asio)->Name("co_await_ready/asio");
BENCHMARK(join_set_task)->Name("join_set_10k_per_task/task")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(abort_all_task, st, single_thread)->Name("abort_all_10k_per_task/task")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(abort_all_task, mt, multi_thread)->Name("abort_all_10k_per_task_mt/task")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(task_memory_task, st, single_thread, task_sleeper)->Name("task_memory_bytes/task")->Iterations(1);
BENCHMARK_CAPTURE(task_memory_task, mt, multi_thread, task_sleeper)->Name("task_memory_bytes_mt/task")->Iterations(1);
BENCHMARK_CAPTURE(task_memory_task, wheel, single_thread, task_wheel_sleeper)->Name("task_memory_bytes/task_wheel")->Iterations(1);

BENCHMARK_MAIN();
