// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// Token-tree micro-benchmarks: halt against std::stop_token and raw Asio, side by side.
/// Names are `<operation>/<implementation>`; benchmarks/compare.py adds the Tokio program's
/// numbers (benchmarks/tokio) and prints ratios. Methods are described in benchmarks/README.md.
#include <halt/cancellation_token.hpp>

#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <stop_token>
#include <thread>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;
constexpr int fanout = 1'000'000;

// ---- is_cancelled ------------------------------------------------------------------------------

void is_cancelled_halt(benchmark::State& state) {
  halt::cancellation_token root;
  auto t = root.child_token();
  for (auto _ : state) benchmark::DoNotOptimize(t.is_cancelled());
}

void is_cancelled_std(benchmark::State& state) {
  std::stop_source src;
  auto t = src.get_token();
  for (auto _ : state) benchmark::DoNotOptimize(t.stop_requested());
}

void is_cancelled_asio(benchmark::State& state) {
  asio::cancellation_signal sig;
  asio::cancellation_state cs(sig.slot());
  for (auto _ : state) benchmark::DoNotOptimize(cs.cancelled() != asio::cancellation_type::none);
}

// ---- token creation ----------------------------------------------------------------------------

void child_token_halt(benchmark::State& state) {
  halt::cancellation_token parent;
  for (auto _ : state) {
    auto c = parent.child_token();
    benchmark::DoNotOptimize(c);
  }
}

void new_token_halt(benchmark::State& state) {
  for (auto _ : state) {
    halt::cancellation_token t;
    benchmark::DoNotOptimize(t);
  }
}

void new_token_std(benchmark::State& state) {
  for (auto _ : state) {
    std::stop_source s;
    benchmark::DoNotOptimize(s);
  }
}

void clone_drop_halt(benchmark::State& state) {
  halt::cancellation_token t;
  for (auto _ : state) {
    halt::cancellation_token c = t;
    benchmark::DoNotOptimize(c);
  }
}

void clone_drop_std(benchmark::State& state) {
  std::stop_source s;
  auto t = s.get_token();
  for (auto _ : state) {
    std::stop_token c = t;
    benchmark::DoNotOptimize(c);
  }
}

// ---- callbacks ---------------------------------------------------------------------------------

void on_cancel_halt(benchmark::State& state) {
  halt::cancellation_token t;
  int hits = 0;
  for (auto _ : state) {
    auto reg = t.on_cancel([&hits]() noexcept { ++hits; });
    benchmark::DoNotOptimize(reg);
  }
  benchmark::DoNotOptimize(hits);
}

void on_cancel_std(benchmark::State& state) {
  std::stop_source s;
  auto t = s.get_token();
  int hits = 0;
  for (auto _ : state) {
    std::stop_callback cb(t, [&hits]() noexcept { ++hits; });
    benchmark::DoNotOptimize(cb);
  }
  benchmark::DoNotOptimize(hits);
}

void on_cancel_asio(benchmark::State& state) {
  asio::cancellation_signal sig;
  auto slot = sig.slot();
  int hits = 0;
  for (auto _ : state) {
    slot.assign([&hits](asio::cancellation_type) { ++hits; });
    slot.clear();
  }
  benchmark::DoNotOptimize(hits);
}

// ---- cancel of a 10^6 fan-out (one cancel per run; the tree is rebuilt untimed) -----------------

void cancel_fanout_halt(benchmark::State& state) {
  double per_child = 0;
  for (auto _ : state) {
    halt::cancellation_token root;
    std::vector<halt::cancellation_token> kids;
    kids.reserve(fanout);
    for (int i = 0; i < fanout; ++i) kids.push_back(root.child_token());
    const auto t0 = clk::now();
    root.cancel();
    const auto t1 = clk::now();
    const double s = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(s);
    per_child = s * 1e9 / fanout;
    benchmark::DoNotOptimize(kids.back().is_cancelled());
  }
  state.counters["ns_per_child"] = per_child;
}

// std has no tree: the closest anchor is one stop_source with 10^6 stop_callbacks.
void cancel_fanout_std(benchmark::State& state) {
  struct noop {
    void operator()() const noexcept {}
  };
  double per_child = 0;
  for (auto _ : state) {
    std::stop_source src;
    std::deque<std::stop_callback<noop>> cbs; // stop_callback cannot move
    for (int i = 0; i < fanout; ++i) cbs.emplace_back(src.get_token(), noop{});
    const auto t0 = clk::now();
    src.request_stop();
    const auto t1 = clk::now();
    const double s = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(s);
    per_child = s * 1e9 / fanout;
  }
  state.counters["ns_per_child"] = per_child;
}

// ---- is_cancelled latency while another thread cancels a 10^6-node tree -------------------------

void is_cancelled_p999_under_cancel_halt(benchmark::State& state) {
  struct sample {
    std::int64_t start, dur;
  };
  static std::vector<sample> samples(std::size_t(16) << 20, sample{1, 1});
  double p999 = 0;
  for (auto _ : state) {
    halt::cancellation_token root;
    auto observed = root.child_token();
    std::vector<halt::cancellation_token> kids;
    kids.reserve(fanout);
    for (int i = 0; i < fanout; ++i) kids.push_back(root.child_token());
    std::atomic<bool> observing{false}, stop{false};
    std::size_t n = 0;
    const auto base = clk::now();
    std::thread obs([&] {
      observing.store(true);
      while (!stop.load(std::memory_order_relaxed) && n < samples.size()) {
        const auto t0 = clk::now();
        benchmark::DoNotOptimize(observed.is_cancelled());
        const auto t1 = clk::now();
        samples[n++] = {(t0 - base).count(), (t1 - t0).count()};
      }
    });
    while (!observing.load()) {
    }
    const auto spin_until = clk::now() + std::chrono::milliseconds(2);
    while (clk::now() < spin_until) {
    }
    const auto ts = clk::now();
    root.cancel();
    const auto te = clk::now();
    stop.store(true);
    obs.join();
    std::vector<std::int64_t> during;
    const auto lo = (ts - base).count(), hi = (te - base).count();
    for (std::size_t i = 0; i < n; ++i)
      if (samples[i].start >= lo && samples[i].start < hi) during.push_back(samples[i].dur);
    if (!during.empty()) {
      std::sort(during.begin(), during.end());
      const auto idx = static_cast<std::size_t>(std::ceil(0.999 * static_cast<double>(during.size()))) - 1;
      p999 = static_cast<double>(during[std::min(idx, during.size() - 1)]);
    }
    state.SetIterationTime(std::chrono::duration<double>(te - ts).count());
  }
  state.counters["p999_ns"] = p999;
}

// ---- an Asio wait that is completed by a cancel ------------------------------------------------

void wait_cancel_halt(benchmark::State& state) {
  asio::io_context io;
  int done = 0;
  for (auto _ : state) {
    halt::cancellation_token t;
    t.async_wait(asio::bind_executor(io, [&](std::error_code) { ++done; }));
    t.cancel();
    io.restart();
    io.run();
  }
  benchmark::DoNotOptimize(done);
}

void wait_cancel_asio(benchmark::State& state) {
  asio::io_context io;
  asio::steady_timer timer(io);
  int done = 0;
  for (auto _ : state) {
    timer.expires_after(std::chrono::hours(1));
    timer.async_wait([&](std::error_code) { ++done; });
    timer.cancel();
    io.restart();
    io.run();
  }
  benchmark::DoNotOptimize(done);
}

} // namespace

BENCHMARK(is_cancelled_halt)->Name("is_cancelled/halt");
BENCHMARK(is_cancelled_std)->Name("is_cancelled/std");
BENCHMARK(is_cancelled_asio)->Name("is_cancelled/asio");
BENCHMARK(child_token_halt)->Name("child_token/halt");
BENCHMARK(new_token_halt)->Name("new_token/halt");
BENCHMARK(new_token_std)->Name("new_token/std");
BENCHMARK(clone_drop_halt)->Name("clone_drop/halt");
BENCHMARK(clone_drop_std)->Name("clone_drop/std");
BENCHMARK(on_cancel_halt)->Name("on_cancel/halt");
BENCHMARK(on_cancel_std)->Name("on_cancel/std");
BENCHMARK(on_cancel_asio)->Name("on_cancel/asio");
BENCHMARK(cancel_fanout_halt)->Name("cancel_fanout_per_child/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK(cancel_fanout_std)->Name("cancel_fanout_per_child/std")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK(is_cancelled_p999_under_cancel_halt)->Name("is_cancelled_p999_under_cancel/halt")->UseManualTime()->Iterations(1)->Repetitions(5)->Unit(benchmark::kMillisecond);
BENCHMARK(wait_cancel_halt)->Name("wait_cancel/halt");
BENCHMARK(wait_cancel_asio)->Name("wait_cancel/asio");

BENCHMARK_MAIN();
