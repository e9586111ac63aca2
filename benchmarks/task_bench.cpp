// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// Task micro-benchmarks: halt::spawn / abort / join against a raw co_spawn with a
/// cancellation_signal (the anchor), on a single-threaded io_context. benchmarks/compare.py adds
/// the Tokio program's numbers (current-thread runtime) and prints ratios.
#include <halt/join_set.hpp>
#include <halt/join_handle.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
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

BENCHMARK_MAIN();
