// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// halt::sleep_for / sleep_until and the timing wheel under them (sleep.hpp,
// detail/timer_wheel.hpp, detail/timer_service.hpp):
// - the wheel alone, on virtual time: 10^5 random deadlines over every level fire in deadline
//   order and never early; cancellation at every level; cascades; the range clamp;
// - real time: ordering and lateness of 10^5 sleeps; never early; other clocks;
// - cancellation: every cancellation type (operation form); a task dropped while it sleeps; a
//   sleep cancelled while its slot is being expired; a select whose sleep loses costs no pass
//   through the queue (counted with io_context::run's handler count);
// - threads: 10^5 sleeps armed and cancelled from four threads (TSan); a start from a thread
//   that does not run a single-threaded io_context;
// - the context destroyed with sleeps pending (no leak, handlers destroyed, frames destroyed);
// - bad input: negative durations, saturation.
#include <halt/detail/timer_wheel.hpp>
#include <halt/join_handle.hpp>
#include <halt/select.hpp>
#include <halt/sleep.hpp>
#include <halt/timeout.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/fault_injection.hpp"
#include "support/tasks.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

using halt::detail::timer_entry;
using halt::detail::timer_wheel;
using halt_test::tasks::get;
using halt_test::tasks::has;
using halt_test::tasks::probe;

struct vt_entry : timer_entry {
  std::uint64_t due = 0;   // the deadline asked for
  std::uint64_t fired = 0; // when advance() gave it back
  bool done = false;
};

// Advances `w` to `now` and records what came back.
std::size_t advance(timer_wheel& w, std::uint64_t now, std::vector<vt_entry*>& out) {
  timer_entry* due = nullptr;
  w.advance(now, due);
  std::vector<vt_entry*> batch;
  for (; due; due = due->next) batch.push_back(static_cast<vt_entry*>(due));
  std::sort(batch.begin(), batch.end(), [](auto* a, auto* b) { return a->due < b->due; });
  for (auto* e : batch) {
    e->fired = now;
    e->done = true;
    out.push_back(e);
  }
  return batch.size();
}

} // namespace

TEST_CASE("timer wheel: 10^5 random deadlines over every level fire in order, never early", "[timer_wheel]") {
  std::mt19937_64 rng(12345);
  timer_wheel w;
  std::vector<vt_entry> es(100'000);
  // Deadlines from 1 tick to 2^35 ticks ahead: every level, log-uniform.
  for (auto& e : es) {
    const int bits = static_cast<int>(rng() % 36);
    e.due = 1 + (rng() & ((std::uint64_t{1} << bits) - 1));
    e.when = e.due;
    REQUIRE(w.insert(&e));
  }
  std::vector<vt_entry*> out;
  std::uint64_t now = 0;
  while (!w.empty()) {
    // Jump to the next deadline the wheel reports (cascade points included), sometimes a bit
    // past it, as a late timer would.
    const auto next = w.next_deadline();
    REQUIRE(next.has_value());
    REQUIRE(*next >= now);
    now = *next + (rng() % 4 == 0 ? rng() % 3 : 0);
    advance(w, now, out);
  }
  REQUIRE(out.size() == es.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    REQUIRE(out[i]->fired >= out[i]->due); // never early
    if (i) REQUIRE(out[i - 1]->due <= out[i]->due); // in deadline order
  }
  // Never late: with `now` stepped to each next deadline, each fired at the first step at or
  // past its deadline, at most the 0-2 ticks of jitter added above.
  for (auto* e : out) REQUIRE(e->fired - e->due <= 2);
}

TEST_CASE("timer wheel: cancellation at every level, and cascades keep the rest", "[timer_wheel]") {
  timer_wheel w;
  w.skip_to(1000);
  std::vector<vt_entry> es(12);
  for (std::size_t i = 0; i < es.size(); ++i) { // two per level
    es[i].due = 1000 + (std::uint64_t{1} << (6 * (i / 2))) + i;
    es[i].when = es[i].due;
    REQUIRE(w.insert(&es[i]));
    CHECK(es[i].level == i / 2);
  }
  for (std::size_t i = 0; i < es.size(); i += 2) { // cancel one per level
    w.remove(&es[i]);
    CHECK_FALSE(es[i].linked());
  }
  std::vector<vt_entry*> out;
  advance(w, es.back().due + 10, out);
  REQUIRE(out.size() == 6);
  for (auto* e : out) CHECK((e - es.data()) % 2 == 1);
  CHECK(w.empty());
  CHECK_FALSE(w.next_deadline().has_value());
}

TEST_CASE("timer wheel: a deadline already passed is overdue and comes back first, and the range is clamped", "[timer_wheel]") {
  timer_wheel w;
  w.skip_to(500);
  vt_entry past, past2, cancelled;
  past.due = past.when = 500;
  past2.due = past2.when = 10;
  cancelled.when = 400;
  CHECK_FALSE(w.insert(&past)); // overdue: linked, but not in a slot
  CHECK_FALSE(w.insert(&cancelled));
  CHECK_FALSE(w.insert(&past2));
  CHECK(past.linked());
  w.remove(&cancelled);
  CHECK_FALSE(cancelled.linked());
  {
    timer_entry* due = nullptr;
    w.advance(500, due); // no time passes: the overdue come back anyway, in deadline order
    REQUIRE(due == &past2);
    REQUIRE(due->next == &past);
    CHECK(due->next->next == nullptr);
    CHECK_FALSE(past.linked());
  }
  CHECK(w.empty());
  {
    // Many overdue entries in random order (sleeps armed late, in bulk): appended in O(1) each,
    // sorted (stably) when handed back.
    std::mt19937_64 rng(3);
    std::vector<vt_entry> many(20'000);
    for (std::size_t i = 0; i < many.size(); ++i) {
      many[i].when = 1 + rng() % 500;
      many[i].due = i; // insertion order, for stability
      CHECK_FALSE(w.insert(&many[i]));
    }
    timer_entry* due = nullptr;
    w.advance(500, due);
    std::size_t n = 0;
    for (timer_entry* e = due; e; e = e->next, ++n)
      if (e->next) {
        REQUIRE(e->when <= e->next->when);
        if (e->when == e->next->when)
          REQUIRE(static_cast<vt_entry*>(e)->due < static_cast<vt_entry*>(e->next)->due);
      }
    CHECK(n == many.size());
    CHECK(w.empty());
  }
  vt_entry far;
  far.when = std::uint64_t{1} << 60;
  REQUIRE(w.insert(&far));
  CHECK(far.when == 500 + timer_wheel::max_ahead);
  vt_entry near;
  near.when = 501;
  REQUIRE(w.insert(&near));
  std::vector<vt_entry*> out;
  advance(w, 501, out);
  CHECK(out.size() == 1);
  // The clamped entry comes out at the end of the range, not before, and not wrapped around.
  while (!w.empty()) {
    const auto n = *w.next_deadline();
    REQUIRE(n <= far.when);
    advance(w, n, out);
  }
  REQUIRE(out.size() == 2);
  CHECK(out[1] == &far);
  CHECK(out[1]->fired == far.when);
}

// ---- real time ---------------------------------------------------------------------------------

TEST_CASE("sleep_for: 10^5 random sleeps complete in deadline order and never early", "[sleep]") {
  asio::io_context io(1);
  std::mt19937 rng(7);
  struct rec {
    steady::time_point deadline;
    steady::time_point done;
  };
  const int n = 100'000;
  std::vector<rec> order;
  order.reserve(n);
  for (int i = 0; i < n; ++i) {
    // sleep_until with the deadline recorded here: sleep_for(d) would read the clock again, and
    // on a loaded machine the thread may be preempted in between.
    const auto deadline = steady::now() + std::chrono::microseconds(rng() % 1'000'000); // 0 .. 1 s
    halt::sleep_until(io, deadline, [&order, deadline](halt::error_code ec) {
      REQUIRE_FALSE(ec);
      order.push_back({deadline, steady::now()});
    });
  }
  io.run();
  REQUIRE(order.size() == n);
  std::chrono::nanoseconds worst{0};
  for (std::size_t i = 0; i < order.size(); ++i) {
    REQUIRE(order[i].done >= order[i].deadline); // never early
    worst = std::max(worst, std::chrono::nanoseconds(order[i].done - order[i].deadline));
    // In order, up to the 1 ms tick: sleeps due within one tick may complete together.
    if (i) REQUIRE(order[i - 1].deadline <= order[i].deadline + 1ms);
  }
  // Loose: under sanitizers on a loaded machine 10^5 handlers can fall seconds behind. What the
  // wheel itself adds (at most a tick) is checked exactly on virtual time by the first test of
  // this file; this bound only catches a sleep filed far off (a wrong slot of a high level);
  // benchmarks/timer_bench measures the lateness.
  CHECK(worst < 30s);
}

TEST_CASE("sleep_until: other clocks are converted at the call, and never early", "[sleep]") {
  asio::io_context io(1);
  const auto t0 = steady::now();
  steady::time_point a{}, b{};
  halt::sleep_until(io, std::chrono::system_clock::now() + 20ms, [&](halt::error_code ec) {
    REQUIRE_FALSE(ec);
    a = steady::now();
  });
  halt::sleep_until(io, steady::now() + 10ms, [&](halt::error_code ec) {
    REQUIRE_FALSE(ec);
    b = steady::now();
  });
  io.run();
  CHECK(a - t0 >= 20ms);
  CHECK(b - t0 >= 10ms);
}

TEST_CASE("sleep_for: a past deadline completes through the queue, never inside the call", "[sleep]") {
  asio::io_context io(1);
  int called = 0;
  halt::sleep_for(io, 0ms, [&](halt::error_code ec) {
    CHECK_FALSE(ec);
    ++called;
  });
  halt::sleep_until(io, steady::now() - 1h, [&](halt::error_code ec) {
    CHECK_FALSE(ec);
    ++called;
  });
  CHECK(called == 0);
  io.run();
  CHECK(called == 2);
}

TEST_CASE("sleep_for: every cancellation type cancels the operation form", "[sleep]") {
  asio::io_context io(1);
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                    asio::cancellation_type::total}) {
    asio::cancellation_signal sig;
    halt::error_code got;
    bool done = false;
    halt::sleep_for(io, 1h, asio::bind_cancellation_slot(sig.slot(), [&](halt::error_code ec) {
                      got = ec;
                      done = true;
                    }));
    asio::post(io, [&] { sig.emit(type); });
    io.run(); // returns (the wheel's timer does not hold it; ctest's timeout catches a hang)
    io.restart();
    CHECK(done);
    CHECK(got == asio::error::operation_aborted);
    sig.emit(asio::cancellation_type::terminal); // after completion: nothing happens
  }
}

TEST_CASE("sleep_for: works with use_awaitable and as a branch of an awaitable select", "[sleep]") {
  asio::io_context io;
  halt_test::run_main(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_await halt::sleep_for(ex, 1ms, asio::use_awaitable);
    auto quick = halt::sleep_for(2ms);
    auto slow = halt::sleep_for(1h);
    auto r = co_await halt::select(slow, quick);
    CHECK(r.index() == 1);
  });
}

// ---- tasks -------------------------------------------------------------------------------------

TEST_CASE("sleep in a task: co_await sleep_for and sleep_until, on both kinds of context", "[sleep][halt_task]") {
  auto body = []() -> halt::task<int> {
    const auto t0 = steady::now();
    co_await halt::sleep_for(3ms);
    co_await halt::sleep_until(steady::now() + 2ms);
    co_await halt::sleep_until(std::chrono::system_clock::now() + 1ms);
    co_return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count());
  };
  SECTION("io_context(1): no lock") {
    asio::io_context io(1);
    CHECK(get(halt_test::tasks::run(io, body())) >= 6);
  }
  SECTION("a multi-threaded io_context: a strand, and the wheel's lock") {
    asio::io_context io;
    std::vector<std::string> log;
    auto h = halt::spawn(io, body());
    int ms = -1;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { ms = (co_await h.join()).value(); }, halt_test::rethrow{});
    std::thread t([&] { io.run(); });
    io.run();
    t.join();
    CHECK(ms >= 6);
  }
}

TEST_CASE("sleep in a task: a select whose sleep loses costs no pass through the queue", "[sleep][halt_task]") {
  // io_context::run() returns how many handlers it ran. 1 and 200 selects against a ready task,
  // and against a task that waits one post, must differ by nothing and by the 199 posts.
  auto ready = []() -> halt::task<int> { co_return 1; };
  auto one_post = []() -> halt::task<int> {
    co_await asio::post(co_await asio::this_coro::executor, halt::use_task);
    co_return 2;
  };
  auto loop = [&](int n, bool pending) -> halt::task<int> {
    int wins = 0;
    for (int i = 0; i < n; ++i) {
      auto s = pending ? halt::select(halt::sleep_for(60s), one_post()) : halt::select(halt::sleep_for(60s), ready());
      auto r = co_await std::move(s);
      wins += r.index() == 1;
    }
    co_return wins;
  };
  // `busy`: another sleep is pending meanwhile (a server always has some), so the wheel never
  // goes empty. When it does go empty, one check is posted (at most one per emptying) that
  // clears the wheel's steady_timer if it is still empty then, so that run() can return.
  auto handlers = [&](int n, bool pending, bool busy) {
    asio::io_context io(1);
    asio::cancellation_signal other;
    if (busy) halt::sleep_for(io, 1h, asio::bind_cancellation_slot(other.slot(), [](halt::error_code) {}));
    halt_test::tasks::outcome<int> out;
    auto l = loop(n, pending);
    std::move(l)(io, [&](std::exception_ptr e, int v) {
      halt_test::tasks::record<int>{&out}(e, v);
      other.emit(asio::cancellation_type::terminal);
    });
    const std::size_t count = io.run(); // returns: the wheel's timer does not hold it
    REQUIRE(out.done);
    CHECK(get(std::move(out)) == n);
    return count;
  };
  CHECK(handlers(200, false, false) == handlers(1, false, false));
  CHECK(handlers(200, false, true) == handlers(1, false, true));
  CHECK(handlers(200, true, true) == handlers(1, true, true) + 199);
  CHECK(handlers(200, true, false) <= handlers(1, true, false) + 2 * 199);
}

TEST_CASE("sleep in a task: a drop unlinks the sleep and destroys the frames at once", "[sleep][halt_task]") {
  asio::io_context io(1);
  std::vector<std::string> log;
  auto sleeper = [&]() -> halt::task<int> {
    probe p(log, "sleeper");
    try {
      co_await halt::sleep_for(1h);
      log.push_back("after");
    } catch (...) {
      log.push_back("caught");
    }
    co_return 0;
  };
  SECTION("abort of a spawned task") {
    auto h = halt::spawn(io, sleeper());
    asio::post(io, [&] { h.abort(); });
    bool cancelled = false;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { cancelled = (co_await h.join()).is_cancelled(); },
                   halt_test::rethrow{});
    io.run(); // returns: the 1 h sleep is off the wheel
    CHECK(cancelled);
  }
  SECTION("a select's loser, inline") {
    auto outer = [&]() -> halt::task<int> {
      auto s = halt::select(sleeper(), halt::sleep_for(1ms));
      auto r = co_await std::move(s);
      log.push_back("select returned");
      co_return static_cast<int>(r.index());
    };
    CHECK(get(halt_test::tasks::run(io, outer())) == 1);
    REQUIRE(log.size() >= 2);
    CHECK(log[0] == "~sleeper"); // gone before select returned
    CHECK(log[1] == "select returned");
  }
  CHECK(has(log, "~sleeper"));
  CHECK_FALSE(has(log, "after"));
  CHECK_FALSE(has(log, "caught"));
}

TEST_CASE("sleep in a task: two sleeps due in the same tick, the loser cancelled while its slot expires", "[sleep][halt_task]") {
  for (int round = 0; round < 20; ++round) {
    asio::io_context io(1);
    auto body = []() -> halt::task<std::size_t> {
      const auto at = steady::now() + 2ms;
      auto s = halt::select(halt::sleep_until(at), halt::sleep_until(at), halt::sleep_until(at + 1ms));
      auto r = co_await std::move(s);
      co_return r.index();
    };
    const std::size_t i = get(halt_test::tasks::run(io, body()));
    CHECK(i <= 1);
  }
  // The operation form: the first handler cancels the second, already taken off the wheel:
  // the second still completes, once, with success.
  asio::io_context io(1);
  asio::cancellation_signal s1, s2;
  std::vector<halt::error_code> got(2);
  int calls = 0;
  const auto at = steady::now() + 2ms;
  halt::sleep_until(io, at, asio::bind_cancellation_slot(s1.slot(), [&](halt::error_code ec) {
                      got[0] = ec;
                      ++calls;
                      s2.emit(asio::cancellation_type::terminal);
                    }));
  halt::sleep_until(io, at, asio::bind_cancellation_slot(s2.slot(), [&](halt::error_code ec) {
                      got[1] = ec;
                      ++calls;
                      s1.emit(asio::cancellation_type::terminal);
                    }));
  io.run();
  CHECK(calls == 2);
  CHECK_FALSE(got[0]);
  CHECK_FALSE(got[1]);
}

TEST_CASE("timeout over a task: the wheel's sleep, timed_out, and the awaitable form", "[sleep][halt_task]") {
  asio::io_context io(1);
  auto slow = []() -> halt::task<int> {
    co_await halt::sleep_for(1h);
    co_return 1;
  };
  auto body = [&]() -> halt::task<int> {
    const auto t0 = steady::now();
    try {
      co_await halt::timeout(5ms, slow());
      FAIL("timeout must throw");
    } catch (const halt::system_error& e) {
      CHECK(e.code() == halt::errc::timed_out);
    }
    CHECK(steady::now() - t0 >= 5ms);
    auto t = halt::timeout_at(std::chrono::system_clock::now() + 1h, halt_test::tasks::answer());
    co_return co_await std::move(t);
  };
  CHECK(get(halt_test::tasks::run(io, body())) == 42);
}

// ---- threads -----------------------------------------------------------------------------------

TEST_CASE("sleep_for: 10^5 sleeps armed and cancelled from four threads", "[sleep][threads]") {
  asio::thread_pool pool(4);
  const int per_thread = 25'000;
  std::atomic<int> fired{0}, aborted{0}, wrong{0};
  std::vector<std::thread> ts;
  for (int k = 0; k < 4; ++k) {
    ts.emplace_back([&, k] {
      auto strand = asio::make_strand(pool);
      std::mt19937 rng(static_cast<unsigned>(k));
      // Each sleep with a signal of its own, armed and (for the long ones) cancelled on the
      // strand its handler is bound to, as Asio asks.
      for (int i = 0; i < per_thread; ++i) {
        const bool long_one = rng() % 2 == 0;
        const auto d = long_one ? std::chrono::milliseconds(3'600'000) : std::chrono::milliseconds(1 + rng() % 20);
        asio::post(strand, [&, strand, long_one, d] {
          auto sig = std::make_shared<asio::cancellation_signal>();
          halt::sleep_for(pool, d,
                          asio::bind_cancellation_slot(
                              sig->slot(), asio::bind_executor(strand, [&, sig, long_one](halt::error_code ec) {
                                if (ec == asio::error::operation_aborted)
                                  ++aborted;
                                else if (!ec)
                                  ++fired;
                                if (long_one != (ec == asio::error::operation_aborted)) ++wrong;
                              })));
          if (long_one) asio::post(strand, [sig] { sig->emit(asio::cancellation_type::terminal); });
        });
      }
    });
  }
  for (auto& t : ts) t.join();
  pool.join(); // returns once every sleep has completed: none holds the pool
  CHECK(fired + aborted == 4 * per_thread);
  CHECK(wrong == 0);
}

TEST_CASE("sleep_for: started from a thread that does not run a single-threaded io_context", "[sleep][threads]") {
  asio::io_context io(1);
  auto guard = asio::make_work_guard(io);
  std::atomic<int> done{0};
  std::thread runner([&] { io.run(); });
  for (int i = 0; i < 200; ++i)
    halt::sleep_for(io, std::chrono::milliseconds(i % 3), [&](halt::error_code ec) {
      CHECK_FALSE(ec);
      if (++done == 200) guard.reset();
    });
  runner.join();
  CHECK(done == 200);
}

// ---- the context destroyed ---------------------------------------------------------------------

TEST_CASE("sleep_for: a context destroyed with sleeps pending destroys them uncalled", "[sleep]") {
  std::vector<std::string> log;
  auto alive = std::make_shared<int>(0);
  bool called = false;
  {
    asio::io_context io(1);
    halt::sleep_for(io, 1h, [&called, alive](halt::error_code) { called = true; });
    auto sleeper = [&]() -> halt::task<void> {
      probe p(log, "sleeper");
      co_await halt::sleep_for(1h);
      log.push_back("after");
    };
    auto h = halt::spawn(io, sleeper());
    auto branch = [&]() -> halt::task<void> {
      probe p(log, "branch");
      auto s = halt::select(halt::sleep_for(2h), halt::sleep_for(3h));
      co_await std::move(s);
    };
    auto h2 = halt::spawn(io, branch());
    io.run_for(20ms);
    CHECK(alive.use_count() == 2);
  }
  CHECK_FALSE(called);
  CHECK(alive.use_count() == 1); // the handler was destroyed
  CHECK(has(log, "~sleeper"));
  CHECK(has(log, "~branch"));
  CHECK_FALSE(has(log, "after"));
}

// ---- bad input ---------------------------------------------------------------------------------

TEST_CASE("sleep_for: negative durations throw std::invalid_argument, and huge ones saturate", "[sleep]") {
  asio::io_context io(1);
  CHECK_THROWS_AS(halt::sleep_for(-1ms), std::invalid_argument);
  CHECK_THROWS_AS(halt::sleep_for(io, -1ns, [](halt::error_code) {}), std::invalid_argument);
  CHECK_THROWS_AS(halt::timeout(-1ms, halt_test::tasks::answer()), std::invalid_argument);
  CHECK(halt::sleep_for(std::chrono::hours::max()).deadline() == steady::time_point::max());
  asio::cancellation_signal s1, s2;
  halt::error_code got1, got2;
  halt::sleep_for(io, std::chrono::hours::max(),
                  asio::bind_cancellation_slot(s1.slot(), [&](halt::error_code ec) { got1 = ec; }));
  halt::sleep_until(io, steady::time_point::max(),
                    asio::bind_cancellation_slot(s2.slot(), [&](halt::error_code ec) { got2 = ec; }));
  asio::post(io, [&] {
    s1.emit(asio::cancellation_type::terminal);
    s2.emit(asio::cancellation_type::terminal);
  });
  io.run(); // returns: both cancelled, nothing left on the wheel
  CHECK(got1 == asio::error::operation_aborted);
  CHECK(got2 == asio::error::operation_aborted);
}

// ---- review of issue 12 ------------------------------------------------------------------------

TEST_CASE("sleep_for: a pass for an overdue sleep that empties the wheel still lets run() return", "[sleep][review12]") {
  // A 1 h sleep sets the steady_timer and is cancelled (an idle check is posted); before that
  // check runs, an overdue sleep keeps the wheel non-empty; the posted pass that gives it back
  // empties the wheel. The steady_timer, still set for the hour, must not keep the context busy.
  for (int hint : {1, 2}) {
    asio::io_context io(hint);
    asio::cancellation_signal sig;
    halt::error_code got1, got2;
    int done = 0;
    asio::post(io, [&] {
      halt::sleep_for(io, 1h, asio::bind_cancellation_slot(sig.slot(), [&](halt::error_code ec) {
                        got1 = ec;
                        ++done;
                      }));
      sig.emit(asio::cancellation_type::terminal);
      halt::sleep_until(io, steady::now() - 1h, [&](halt::error_code ec) {
        got2 = ec;
        ++done;
      });
    });
    io.poll(); // every ready handler: no waiting
    CHECK(done == 2);
    CHECK(got1 == asio::error::operation_aborted);
    CHECK_FALSE(got2);
    CHECK(io.stopped()); // out of work: run() would return
  }
}

TEST_CASE("sleep_for: an executor that tracks work, first to reach the wheel, does not keep the context busy", "[sleep][review12]") {
  asio::io_context io;
  halt::error_code got = asio::error::would_block;
  {
    auto tracked = asio::prefer(io.get_executor(), asio::execution::outstanding_work.tracked);
    halt::sleep_until(tracked, steady::now() - 1h, [&](halt::error_code ec) { got = ec; });
  } // the test's own tracked executor gone: only the sleep's work is left
  io.poll();
  CHECK_FALSE(got);
  CHECK(io.stopped()); // the wheel's steady_timer holds no work of its own
}

TEST_CASE("sleep in a task: a task whose select of sleeps is dropped through its start slot does not complete inside the emit", "[sleep][halt_task][review12]") {
  for (int hint : {1, 2}) {
    asio::io_context io(hint);
    asio::cancellation_signal sig;
    bool in_emit = false;
    bool done = false;
    bool completed_in_emit = false;
    auto sleeper = []() -> halt::task<void> {
      auto s = halt::select(halt::as_task(halt::sleep_for(1h)), halt::as_task(halt::sleep_for(2h)));
      co_await std::move(s);
    };
    auto ex = asio::make_strand(io);
    asio::post(ex, [&] {
      sleeper()(ex, asio::bind_cancellation_slot(sig.slot(), [&](auto&&...) {
                  done = true;
                  completed_in_emit = in_emit;
                }));
    });
    asio::post(ex, [&] {
      in_emit = true;
      sig.emit(asio::cancellation_type::terminal);
      in_emit = false;
    });
    io.run();
    CHECK(done);
    CHECK_FALSE(completed_in_emit); // as for a task waiting on one sleep: the drop is posted
  }
}

// A drop of a task sleeping on the wheel withdraws the sleep, then queues the drop on the task's
// executor. If that post throws, nothing could resume or drop the task any more: the job,
// destroyed unrun, abandons it (its frames are destroyed once, there; its completion handler is
// destroyed uncalled, as when its context shuts down) and the exception propagates.
TEST_CASE("a drop whose post fails after its sleep was withdrawn abandons the task", "[sleep][task][fault]") {
  int threw = 0;
  for (long n = 1;; ++n) { // every post the drop makes fails once, in turn
    asio::io_context io;
    asio::cancellation_signal sig;
    std::vector<std::string> log;
    auto body = [&]() -> halt::task<void> {
      halt_test::tasks::probe p(log, "body");
      co_await halt::sleep_for(std::chrono::hours(1));
      log.push_back("after");
    };
    halt_test::tasks::outcome<void> out;
    auto t = body();
    auto done = [&](std::exception_ptr e) {
      out.done = true;
      out.error = e;
    };
    std::move(t)(asio::bind_cancellation_slot(
        sig.slot(), asio::bind_executor(halt_test::fault::faulty_executor{io.get_executor()}, done)));
    io.poll(); // the task runs up to its sleep
    REQUIRE_FALSE(out.done);
    halt_test::fault::arm(n, false);
    bool failed = false;
    try {
      sig.emit(asio::cancellation_type::terminal);
    } catch (const std::bad_alloc&) {
      failed = true;
    }
    const bool injected = halt_test::fault::disarm();
    if (failed) {
      ++threw;
      CHECK(log == std::vector<std::string>{"~body"}); // abandoned: destroyed once, right there
      sig.emit(asio::cancellation_type::terminal);     // the slot's handler is inert (ASan: no
                                                       // use of the freed task)
      io.run();                                        // nothing left to run
      CHECK_FALSE(out.done);
    } else {
      halt_test::run_until(io, [&] { return out.done; });
      CHECK(halt_test::tasks::is_aborted(out.error));
    }
    CHECK(log == std::vector<std::string>{"~body"});
    if (!injected) break;
  }
  CHECK(threw >= 1); // the drop's own post failed at least once
}
