// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// Timer micro-benchmarks (issue 12): halt's timer wheel (halt::sleep_for, halt::timeout over a
/// halt::task) against asio::steady_timer, on a single-threaded io_context. benchmarks/compare.py
/// adds the Tokio program's numbers (`tokio::time::sleep` / `timeout` on the current-thread
/// runtime) and prints them side by side with ratios.
///
/// Rows (`<op>/<impl>`, impl = `wheel` or `steady_timer`):
/// - select_sleep_ready: select(a 60 s sleep, a ready task), the sleep first: it is armed, the
///   ready task wins, the sleep is dropped. /wheel: halt::sleep_for(60 s); /steady_timer: an
///   asio::steady_timer per call and its async_wait (as a plain-operation branch). Tokio:
///   select_pending_ready (`select! { biased; sleep(60 s), ready }`).
/// - timeout_ready/steady_timer: select(ready task, steady_timer wait), i.e. what
///   halt::timeout(60 s, task) did before the wheel (a steady_timer per call; the ready task wins
///   while it starts, so the wait never starts). halt::timeout itself is timeout_ready/task in
///   select_bench; Tokio: timeout_ready.
/// - arm_cancel_1e6: arm 10^6 timers with deadlines spread uniformly over 1 s .. 1 h (fixed-seed
///   std::mt19937_64), then cancel each, and run the io_context until every handler has run.
///   Value: ns per timer (counter ns_per_timer; items_per_second: timers per second of one core).
///   /wheel: halt::sleep_for(io, d, bind_cancellation_slot(signal.slot(), handler)), cancelled by
///   signal.emit(terminal); /steady_timer: 10^6 reusable asio::steady_timer objects, each
///   expires_after(d) + async_wait, cancelled by cancel(). Tokio: arm_cancel_1e6.
///   arm_cancel_1e6_slot/steady_timer: the steady_timers cancelled as the wheel's sleeps are
///   (a bound slot, emit).
/// - timer_memory_bytes: bytes per pending timer, 10^6 of them (counter bytes; see the row).
///
/// Every loop runs inside a halt::task on an io_context(1) that has its reactor up front (an idle
/// steady_timer for the whole run), as in select_bench and task_bench.
///
/// Note: g++ 12 miscompiles temporaries in a co_await full-expression, so every awaitable is
/// named before it is awaited (as in the tests).
#include <halt/select.hpp>
#include <halt/sleep.hpp>
#include <halt/task.hpp>
#include <halt/timeout.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <malloc.h>
#include <memory>
#include <new>
#include <random>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

// ---- allocation counting ----------------------------------------------------------------------
// Replacements of the global operator new and of aligned_alloc (through which Asio's recycling
// handler allocator, asio::detail::aligned_new, allocates its operations without operator new)
// that count the allocations (and their requested bytes) made while `counting` is on: only the
// memory rows turn it on. Off, it costs one relaxed load per allocation, in every row alike.
// Direct malloc calls are not counted (neither Asio nor halt makes any on these paths; the
// memory rows' byte figure comes from mallinfo2, which sees everything).
namespace {
std::atomic<bool> counting{false};
std::atomic<long> counted_allocs{0};
std::atomic<long> counted_bytes{0};

void count(std::size_t n) noexcept {
  if (counting.load(std::memory_order_relaxed)) {
    counted_allocs.fetch_add(1, std::memory_order_relaxed);
    counted_bytes.fetch_add(static_cast<long>(n), std::memory_order_relaxed);
  }
}

void* allocate(std::size_t n) {
  count(n);
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}

void* allocate_aligned(std::size_t n, std::align_val_t al) {
  count(n);
  if (void* p = memalign(static_cast<std::size_t>(al), n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
} // namespace

// glibc's aligned_alloc is memalign (a power-of-two alignment and any size).
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t n) noexcept {
  count(n);
  return memalign(alignment, n);
}

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_aligned(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

// Heap bytes in use (glibc: small chunks plus mmapped blocks, chunk headers included), as
// task_bench measures memory per task.
long heap_in_use() {
  const auto m = mallinfo2();
  return static_cast<long>(m.uordblks + m.hblkhd);
}

// glibc's malloc keeps the memory it is given back (no trim of the heap top, no mmap for large
// blocks), so that after the first run the 10^6 timers of a run reuse memory that is already
// mapped: the arm/cancel rows measure the timers, not the kernel's page faults (the Tokio program
// does the same before its timer ops). Done once, before main.
const bool malloc_keeps_freed_memory = [] {
  return mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1 && mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
}();

constexpr auto forever = std::chrono::seconds(60);
// 10^6; 10^4 under HALT_BENCH_SMOKE (the smoke test: the rows run, nothing is measured).
const std::size_t n_timers = std::getenv("HALT_BENCH_SMOKE") ? 10'000 : 1'000'000;

// n_timers durations, uniform over [1 s, 1 h] at ns resolution, from a fixed seed (the same
// seed as the Tokio program's generator: the same distribution, not the same sequence).
const std::vector<std::chrono::nanoseconds>& spread_durations() {
  static const std::vector<std::chrono::nanoseconds> ds = [] {
    std::mt19937_64 rng(12);
    std::uniform_int_distribution<std::int64_t> d(std::chrono::nanoseconds(1s).count(),
                                                  std::chrono::nanoseconds(1h).count());
    std::vector<std::chrono::nanoseconds> v;
    v.reserve(n_timers);
    for (std::size_t i = 0; i < n_timers; ++i) v.emplace_back(d(rng));
    return v;
  }();
  return ds;
}

halt::task<int> task_ready() { co_return 1; }

// Runs body(state, io), a halt::task<void>, on an io_context(1) with its reactor up (an idle
// timer for the whole run), until it finishes.
template <class Body>
void drive_task(benchmark::State& state, Body body) {
  if (!malloc_keeps_freed_memory) {
    state.SkipWithError("mallopt failed");
    return;
  }
  asio::io_context io(1);
  asio::steady_timer reactor_on(io); // never waited on
  std::exception_ptr error;
  bool done = false;
  auto main = body(state, io);
  std::move(main)(io, [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.run();
  if (error || !done) state.SkipWithError("the benchmark threw or did not finish");
}

// The completion handler of the armed timers: counts the completions and the cancelled ones.
struct tally {
  std::size_t done = 0;
  std::size_t aborted = 0;
};
struct count_completion {
  tally* t;
  void operator()(std::error_code ec) const {
    ++t->done;
    if (ec == asio::error::operation_aborted) ++t->aborted;
  }
};

// Runs the io_context (from inside the task) until every armed timer's handler has run.
halt::task<void> drain(asio::io_context& io, const tally& t) {
  while (t.done < n_timers) {
    auto p = asio::post(io, halt::use_task);
    co_await std::move(p);
  }
}

using clock_type = std::chrono::steady_clock;

double ns_between(clock_type::time_point a, clock_type::time_point b) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

void report_arm_cancel(benchmark::State& st, double arm_ns, double cancel_ns, std::size_t rounds) {
  const double per = 1.0 / static_cast<double>(rounds * n_timers);
  st.counters["ns_per_timer"] = (arm_ns + cancel_ns) * per;
  st.counters["arm_ns"] = arm_ns * per;
  st.counters["cancel_ns"] = cancel_ns * per;
  st.SetItemsProcessed(static_cast<std::int64_t>(rounds * n_timers));
}

// ---- select(sleep 60 s, ready task): the sleep is armed first, then dropped ------------------

// A steady_timer per call, its wait raced as a plain operation (what halt::select makes
// halt::as_task(op) of): the wait starts (the timer is armed), the ready task wins, the wait is
// cancelled and its completion goes through the io_context's queue before select returns.
halt::task<void> select_sleep_ready_steady_timer_body(benchmark::State& st, asio::io_context& io) {
  for (auto _ : st) {
    asio::steady_timer timer(io, forever);
    auto w = timer.async_wait(halt::deferred);
    auto sel = halt::select(std::move(w), task_ready());
    auto r = co_await std::move(sel);
    if (r.index() != 1) st.SkipWithError("wrong winner");
    benchmark::DoNotOptimize(r);
  }
}

void select_sleep_ready_steady_timer(benchmark::State& state) {
  drive_task(state, select_sleep_ready_steady_timer_body);
}

// halt::timeout(60 s, ready task) as it was before the wheel: a steady_timer per call raced
// after the task; the task wins while it starts, so the wait never starts.
halt::task<void> timeout_ready_steady_timer_body(benchmark::State& st, asio::io_context& io) {
  for (auto _ : st) {
    asio::steady_timer timer(io, forever);
    auto w = timer.async_wait(halt::deferred);
    auto sel = halt::select(task_ready(), std::move(w));
    auto r = co_await std::move(sel);
    if (r.index() != 0) st.SkipWithError("timed out");
    benchmark::DoNotOptimize(r);
  }
}

void timeout_ready_steady_timer(benchmark::State& state) {
  drive_task(state, timeout_ready_steady_timer_body);
}

// ---- arm and cancel 10^6 timers spread over 1 s .. 1 h ---------------------------------------

// 10^6 steady_timer objects, built once (untimed), reused by every round: per timer
// expires_after(d) + async_wait, then cancel() on each; the io_context runs the 10^6 handlers
// (operation_aborted) before the round ends.
halt::task<void> arm_cancel_steady_timer_body(benchmark::State& st, asio::io_context& io) {
  const auto& ds = spread_durations();
  std::vector<asio::steady_timer> timers;
  timers.reserve(n_timers);
  for (std::size_t i = 0; i < n_timers; ++i) timers.emplace_back(io);
  double arm_ns = 0, cancel_ns = 0;
  std::size_t rounds = 0;
  for (auto _ : st) {
    tally t;
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n_timers; ++i) {
      timers[i].expires_after(ds[i]);
      timers[i].async_wait(count_completion{&t});
    }
    const auto t1 = clock_type::now();
    for (auto& timer : timers) timer.cancel();
    auto d = drain(io, t);
    co_await std::move(d);
    const auto t2 = clock_type::now();
    if (t.aborted != n_timers) st.SkipWithError("a timer was not cancelled");
    arm_ns += ns_between(t0, t1);
    cancel_ns += ns_between(t1, t2);
    ++rounds;
  }
  report_arm_cancel(st, arm_ns, cancel_ns, rounds);
}

void arm_cancel_1e6_steady_timer(benchmark::State& state) {
  drive_task(state, arm_cancel_steady_timer_body);
}

// arm_cancel_1e6_slot/steady_timer: the steady_timer rounds cancelled the way the wheel's are:
// each async_wait's handler bound to a cancellation_signal's slot (Asio then allocates the
// slot's handler memory per wait), emit(terminal) on each. The wheel row has no such variant:
// arm_cancel_1e6/wheel is cancelled that way already.
halt::task<void> arm_cancel_steady_timer_slot_body(benchmark::State& st, asio::io_context& io) {
  const auto& ds = spread_durations();
  std::vector<asio::steady_timer> timers;
  timers.reserve(n_timers);
  for (std::size_t i = 0; i < n_timers; ++i) timers.emplace_back(io);
  std::unique_ptr<asio::cancellation_signal[]> signals(new asio::cancellation_signal[n_timers]);
  double arm_ns = 0, cancel_ns = 0;
  std::size_t rounds = 0;
  for (auto _ : st) {
    tally t;
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n_timers; ++i) {
      timers[i].expires_after(ds[i]);
      timers[i].async_wait(asio::bind_cancellation_slot(signals[i].slot(), count_completion{&t}));
    }
    const auto t1 = clock_type::now();
    for (std::size_t i = 0; i < n_timers; ++i) signals[i].emit(asio::cancellation_type::terminal);
    auto d = drain(io, t);
    co_await std::move(d);
    const auto t2 = clock_type::now();
    if (t.aborted != n_timers) st.SkipWithError("a timer was not cancelled");
    arm_ns += ns_between(t0, t1);
    cancel_ns += ns_between(t1, t2);
    ++rounds;
  }
  report_arm_cancel(st, arm_ns, cancel_ns, rounds);
}

void arm_cancel_1e6_slot_steady_timer(benchmark::State& state) {
  drive_task(state, arm_cancel_steady_timer_slot_body);
}

// Bytes per pending timer: 10^6 timers armed as in arm_cancel_1e6 (pending), measured in a fresh
// io_context whose timer service already exists (one timer armed and cancelled first).
// bytes = heap_bytes + object_bytes:
//   heap_bytes: heap growth while arming (mallinfo2: chunk headers included; for steady_timer
//               this includes the growth of the timer queue's heap vector), per timer;
//   object_bytes: the object the caller keeps per timer (sizeof(asio::steady_timer); for the
//               wheel the cancellation_signal that cancels it).
// allocs: operator new and aligned_alloc calls per timer while arming.
// requested_bytes: the sizes those allocations asked for, per timer.
void report_memory(benchmark::State& st, double heap, double object, std::pair<double, double> counted) {
  st.counters["bytes"] = heap + object;
  st.counters["heap_bytes"] = heap;
  st.counters["object_bytes"] = object;
  st.counters["allocs"] = counted.first;
  st.counters["requested_bytes"] = counted.second;
}

struct memory_window {
  long before = heap_in_use();
  memory_window() {
    counted_allocs = 0;
    counted_bytes = 0;
    counting = true;
  }
  // Ends counting; returns heap bytes per timer, and {allocations, requested bytes} per timer.
  std::pair<double, std::pair<double, double>> close() {
    counting = false;
    const double n = static_cast<double>(n_timers);
    return {static_cast<double>(heap_in_use() - before) / n,
            {static_cast<double>(counted_allocs.load()) / n, static_cast<double>(counted_bytes.load()) / n}};
  }
};

halt::task<void> timer_memory_steady_timer_body(benchmark::State& st, asio::io_context& io) {
  const auto& ds = spread_durations();
  std::vector<asio::steady_timer> timers;
  timers.reserve(n_timers);
  for (std::size_t i = 0; i < n_timers; ++i) timers.emplace_back(io);
  for (auto _ : st) {
    { // the service and its queue exist before counting
      tally t0;
      timers[0].expires_after(1h);
      timers[0].async_wait(count_completion{&t0});
      timers[0].cancel();
      while (t0.done == 0) {
        auto p = asio::post(io, halt::use_task);
        co_await std::move(p);
      }
    }
    tally t;
    memory_window w;
    for (std::size_t i = 0; i < n_timers; ++i) {
      timers[i].expires_after(ds[i]);
      timers[i].async_wait(count_completion{&t});
    }
    const auto [heap, counted] = w.close();
    for (auto& timer : timers) timer.cancel();
    auto d = drain(io, t);
    co_await std::move(d);
    if (t.aborted != n_timers) st.SkipWithError("a timer was not cancelled");
    report_memory(st, heap, static_cast<double>(sizeof(asio::steady_timer)), counted);
  }
}

void timer_memory_steady_timer(benchmark::State& state) {
  drive_task(state, timer_memory_steady_timer_body);
}

// ---- the same with halt's timer wheel ---------------------------------------------------------

halt::task<void> select_sleep_ready_wheel_body(benchmark::State& st, asio::io_context&) {
  for (auto _ : st) {
    auto sel = halt::select(halt::sleep_for(forever), task_ready());
    auto r = co_await std::move(sel);
    if (r.index() != 1) st.SkipWithError("wrong winner");
    benchmark::DoNotOptimize(r);
  }
}

void select_sleep_ready_wheel(benchmark::State& state) {
  drive_task(state, select_sleep_ready_wheel_body);
}

// 10^6 cancellation signals, built once (untimed): per timer
// halt::sleep_for(io, d, bind_cancellation_slot(signal.slot(), handler)), then emit(terminal)
// on each signal (on the io_context's thread); the io_context runs the 10^6 handlers.
halt::task<void> arm_cancel_wheel_body(benchmark::State& st, asio::io_context& io) {
  const auto& ds = spread_durations();
  std::unique_ptr<asio::cancellation_signal[]> signals(new asio::cancellation_signal[n_timers]);
  double arm_ns = 0, cancel_ns = 0;
  std::size_t rounds = 0;
  for (auto _ : st) {
    tally t;
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n_timers; ++i)
      halt::sleep_for(io, ds[i], asio::bind_cancellation_slot(signals[i].slot(), count_completion{&t}));
    const auto t1 = clock_type::now();
    for (std::size_t i = 0; i < n_timers; ++i) signals[i].emit(asio::cancellation_type::terminal);
    auto d = drain(io, t);
    co_await std::move(d);
    const auto t2 = clock_type::now();
    if (t.aborted != n_timers) st.SkipWithError("a timer was not cancelled");
    arm_ns += ns_between(t0, t1);
    cancel_ns += ns_between(t1, t2);
    ++rounds;
  }
  report_arm_cancel(st, arm_ns, cancel_ns, rounds);
}

void arm_cancel_1e6_wheel(benchmark::State& state) { drive_task(state, arm_cancel_wheel_body); }

halt::task<void> timer_memory_wheel_body(benchmark::State& st, asio::io_context& io) {
  const auto& ds = spread_durations();
  std::unique_ptr<asio::cancellation_signal[]> signals(new asio::cancellation_signal[n_timers]);
  for (auto _ : st) {
    { // the timer service and its wheel exist before counting
      tally t0;
      halt::sleep_for(io, 1h, asio::bind_cancellation_slot(signals[0].slot(), count_completion{&t0}));
      signals[0].emit(asio::cancellation_type::terminal);
      while (t0.done == 0) {
        auto p = asio::post(io, halt::use_task);
        co_await std::move(p);
      }
    }
    tally t;
    memory_window w;
    for (std::size_t i = 0; i < n_timers; ++i)
      halt::sleep_for(io, ds[i], asio::bind_cancellation_slot(signals[i].slot(), count_completion{&t}));
    const auto [heap, counted] = w.close();
    for (std::size_t i = 0; i < n_timers; ++i) signals[i].emit(asio::cancellation_type::terminal);
    auto d = drain(io, t);
    co_await std::move(d);
    if (t.aborted != n_timers) st.SkipWithError("a timer was not cancelled");
    report_memory(st, heap, static_cast<double>(sizeof(asio::cancellation_signal)), counted);
  }
}

void timer_memory_wheel(benchmark::State& state) { drive_task(state, timer_memory_wheel_body); }

} // namespace

BENCHMARK(select_sleep_ready_wheel)->Name("select_sleep_ready/wheel");
BENCHMARK(select_sleep_ready_steady_timer)->Name("select_sleep_ready/steady_timer");
BENCHMARK(timeout_ready_steady_timer)->Name("timeout_ready/steady_timer");
// A round takes 0.2-0.5 s: at least 1 s per repetition (several rounds), after a warm-up of
// 0.5 s, whose first round maps the memory that the later rounds reuse (malloc keeps it): the
// first round in the process pays a few hundred thousand page faults, about 0.25 s.
// HALT_BENCH_SMOKE (set by the smoke test, benchmarks/CMakeLists.txt): one short round each,
// which checks that the rows run, not what they measure.
benchmark::internal::Benchmark* timed_rounds(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->UseRealTime();
  if (!std::getenv("HALT_BENCH_SMOKE")) b->MinWarmUpTime(0.5)->MinTime(1.0);
  return b;
}
BENCHMARK(arm_cancel_1e6_wheel)->Name("arm_cancel_1e6/wheel")->Apply([](auto* b) { timed_rounds(b); });
BENCHMARK(arm_cancel_1e6_steady_timer)->Name("arm_cancel_1e6/steady_timer")->Apply([](auto* b) {
  timed_rounds(b);
});
BENCHMARK(arm_cancel_1e6_slot_steady_timer)->Name("arm_cancel_1e6_slot/steady_timer")->Apply([](auto* b) {
  timed_rounds(b);
});
BENCHMARK(timer_memory_wheel)->Name("timer_memory_bytes/wheel")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(timer_memory_steady_timer)
    ->Name("timer_memory_bytes/steady_timer")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

BENCHMARK_MAIN();
