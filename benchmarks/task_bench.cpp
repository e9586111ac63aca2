// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// Task micro-benchmarks: halt::spawn / abort / join against a raw co_spawn with a
/// cancellation_signal (the anchor), on a single-threaded io_context. benchmarks/compare.py adds
/// the Tokio program's numbers (current-thread runtime) and prints ratios.
#include <halt/join_set.hpp>
#include <halt/task.hpp>

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
#include <new>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts bytes currently allocated, for the memory-per-task figure.
namespace {
std::atomic<long> live_bytes{0};
}
void* operator new(std::size_t n) {
  void* p = std::malloc(n + 16);
  if (!p) throw std::bad_alloc();
  *static_cast<std::size_t*>(p) = n;
  live_bytes.fetch_add(static_cast<long>(n), std::memory_order_relaxed);
  return static_cast<char*>(p) + 16;
}
void operator delete(void* p) noexcept {
  if (!p) return;
  char* base = static_cast<char*>(p) - 16;
  live_bytes.fetch_sub(static_cast<long>(*reinterpret_cast<std::size_t*>(base)), std::memory_order_relaxed);
  std::free(base);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

namespace {

asio::awaitable<void> sleeper() {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<int> ready() { co_return 1; }

// spawn a task, let it run to its first suspension, abort it, join it.
void spawn_abort_join_halt(benchmark::State& state) {
  asio::io_context io;
  for (auto _ : state) {
    auto h = halt::spawn(io, sleeper());
    io.restart();
    io.poll(); // first run: the task suspends on its timer
    h.abort();
    bool joined = false;
    h.async_join(asio::bind_executor(io, [&](std::error_code, halt::join_result<void> r) {
      joined = r.is_cancelled();
    }));
    io.restart();
    while (!joined) io.run_one();
  }
}

void spawn_abort_join_asio(benchmark::State& state) {
  asio::io_context io;
  for (auto _ : state) {
    asio::cancellation_signal sig;
    bool done = false;
    asio::co_spawn(io, sleeper(),
                   asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr) { done = true; }));
    io.restart();
    io.poll();
    asio::post(io, [&] { sig.emit(asio::cancellation_type::terminal); });
    io.restart();
    while (!done) io.run_one();
  }
}

void spawn_join_ready_halt(benchmark::State& state) {
  asio::io_context io;
  for (auto _ : state) {
    auto h = halt::spawn(io, ready());
    int v = 0;
    h.async_join(asio::bind_executor(io, [&](std::error_code, halt::join_result<int> r) { v = r.value(); }));
    io.restart();
    while (!v) io.run_one();
  }
}

void spawn_join_ready_asio(benchmark::State& state) {
  asio::io_context io;
  for (auto _ : state) {
    int v = 0;
    asio::co_spawn(io, ready(), [&](std::exception_ptr, int r) { v = r; });
    io.restart();
    while (!v) io.run_one();
  }
}

void abort_before_start_halt(benchmark::State& state) {
  asio::io_context io;
  for (auto _ : state) {
    auto h = halt::spawn(io, ready());
    h.abort();
    bool joined = false;
    h.async_join(asio::bind_executor(io, [&](std::error_code, halt::join_result<int> r) {
      joined = r.is_cancelled();
    }));
    io.restart();
    while (!joined) io.run_one();
  }
}

constexpr int set_size = 10'000;

void join_set_halt(benchmark::State& state) {
  asio::io_context io;
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

void abort_all_halt(benchmark::State& state) {
  asio::io_context io;
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
void task_memory_halt(benchmark::State& state) {
  double bytes = 0;
  for (auto _ : state) {
    asio::io_context io;
    io.poll();
    std::vector<halt::join_handle<void>> hs;
    hs.reserve(set_size);
    const long before = live_bytes.load();
    for (int i = 0; i < set_size; ++i) hs.push_back(halt::spawn(io, sleeper()));
    io.poll();
    bytes = static_cast<double>(live_bytes.load() - before) / set_size;
    for (auto& h : hs) h.abort();
    io.restart();
    io.poll();
  }
  state.counters["bytes"] = bytes;
}

void task_memory_asio(benchmark::State& state) {
  double bytes = 0;
  for (auto _ : state) {
    asio::io_context io;
    io.poll();
    std::vector<asio::cancellation_signal> sigs(set_size);
    const long before = live_bytes.load();
    for (int i = 0; i < set_size; ++i)
      asio::co_spawn(io, sleeper(), asio::bind_cancellation_slot(sigs[static_cast<std::size_t>(i)].slot(), asio::detached));
    io.poll();
    bytes = static_cast<double>(live_bytes.load() - before) / set_size;
    for (auto& s : sigs) asio::post(io, [&s] { s.emit(asio::cancellation_type::terminal); });
    io.restart();
    io.poll();
  }
  state.counters["bytes"] = bytes;
}

} // namespace

BENCHMARK(spawn_abort_join_halt)->Name("spawn_abort_join/halt");
BENCHMARK(spawn_abort_join_asio)->Name("spawn_abort_join/asio");
BENCHMARK(spawn_join_ready_halt)->Name("spawn_join_ready/halt");
BENCHMARK(spawn_join_ready_asio)->Name("spawn_join_ready/asio");
BENCHMARK(abort_before_start_halt)->Name("abort_before_start/halt");
BENCHMARK(join_set_halt)->Name("join_set_10k_per_task/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK(abort_all_halt)->Name("abort_all_10k_per_task/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK(task_memory_halt)->Name("task_memory_bytes/halt")->Iterations(1);
BENCHMARK(task_memory_asio)->Name("task_memory_bytes/asio")->Iterations(1);

BENCHMARK_MAIN();
