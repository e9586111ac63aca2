// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// halt::join and halt::try_join (join.hpp): values as a tuple, concurrency (proven by branches
// that wait on each other, not by timing), failure handling of each, cancellation of the join
// itself, and use on a multi-threaded thread_pool without a user strand.
//
// Note: g++ 12 miscompiles temporaries in a co_await full-expression, so these tests never put a
// co_await inside a Catch macro and always name awaitables and lambdas first.
#include <halt/join.hpp>
#include <halt/scope_guard.hpp>
#include <halt/select.hpp>
#include <halt/join_handle.hpp>

#include "support/async.hpp"
#include "support/fault_injection.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {

using halt_test::sleep_for;
using halt_test::run_main;


// Suspends until `flag` is set (polling, ~1 ms steps); returns false instead of waiting forever.
asio::awaitable<bool> wait_for_flag(const bool& flag, int max_polls = 5'000) {
  for (int i = 0; i < max_polls && !flag; ++i) co_await sleep_for(1ms);
  co_return flag;
}


asio::awaitable<int> value_after(std::chrono::steady_clock::duration d, int v) {
  co_await sleep_for(d);
  co_return v;
}

// Sleeps 60 s unless cancelled; records the cancellation and its guard.
struct probe {
  bool guard_ran = false;
  halt::error_code saw;
};
asio::awaitable<int> endless(probe& p) {
  halt::scope_exit guard([&] { p.guard_ran = true; });
  try {
    co_await sleep_for(60s);
  } catch (const halt::system_error& e) {
    p.saw = e.code();
    throw;
  }
  co_return 1;
}

struct no_default {
  explicit no_default(int v) : value(v) {}
  const int value;
};

} // namespace

TEST_CASE("join returns a tuple of the branches' values, void as std::monostate", "[join]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = value_after(2ms, 1);
    auto strings = []() -> asio::awaitable<std::string> {
      co_await sleep_for(1ms);
      co_return "two";
    };
    auto b = strings();
    auto c = sleep_for(1ms);
    asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
    auto d = timer.async_wait(halt::deferred); // a plain operation
    auto nd = []() -> asio::awaitable<no_default> { co_return no_default(5); };
    auto e = nd();

    auto r = co_await halt::join(std::move(a), std::move(b), std::move(c), std::move(d), std::move(e));
    static_assert(std::is_same_v<decltype(r),
                                 std::tuple<int, std::string, std::monostate, std::monostate, no_default>>);
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r) == "two");
    CHECK(std::get<4>(r).value == 5);

    auto single = value_after(1ms, 9);
    auto one = co_await halt::join(std::move(single));
    static_assert(std::is_same_v<decltype(one), std::tuple<int>>);
    CHECK(std::get<0>(one) == 9);

    auto x = value_after(1ms, 3);
    auto y = value_after(2ms, 4);
    auto t = co_await halt::try_join(std::move(x), std::move(y));
    CHECK(t == std::make_tuple(3, 4));
  });
}

TEST_CASE("join runs its branches concurrently", "[join]") {
  // Each branch waits for a flag that only the other branch sets. Run one after the other, the
  // first would never see its flag (and report false after its bounded wait).
  asio::io_context io;
  bool a_started = false, b_started = false;
  auto a = [&]() -> asio::awaitable<bool> {
    a_started = true;
    co_return co_await wait_for_flag(b_started);
  };
  auto b = [&]() -> asio::awaitable<bool> {
    const bool saw_a = co_await wait_for_flag(a_started);
    b_started = true;
    co_return saw_a;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto aa = a();
    auto bb = b();
    auto r = co_await halt::join(std::move(aa), std::move(bb));
    CHECK(std::get<0>(r)); // a saw b's flag while a was still running
    CHECK(std::get<1>(r));
  });
  // The same for try_join.
  a_started = b_started = false;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto aa = a();
    auto bb = b();
    auto r = co_await halt::try_join(std::move(aa), std::move(bb));
    CHECK(std::get<0>(r));
    CHECK(std::get<1>(r));
  });
}

TEST_CASE("join with a failure waits for every branch and rethrows the first failure", "[join]") {
  asio::io_context io;
  bool a_threw = false, b_done = false, c_threw = false;
  halt::error_code b_saw;
  auto a = [&]() -> asio::awaitable<int> {
    co_await sleep_for(1ms);
    a_threw = true;
    throw std::runtime_error("first");
  };
  auto b = [&]() -> asio::awaitable<int> {
    try {
      co_await wait_for_flag(a_threw);
      co_await sleep_for(20ms); // keeps running after the failure: join does not cancel
    } catch (const halt::system_error& e) {
      b_saw = e.code();
      throw;
    }
    b_done = true;
    co_return 2;
  };
  auto c = [&]() -> asio::awaitable<std::string> {
    co_await wait_for_flag(a_threw); // fails second, in completion order
    c_threw = true;
    throw std::logic_error("second");
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto aa = a();
    auto bb = b();
    auto cc = c();
    std::string what;
    bool b_done_at_throw = false, c_threw_at_throw = false;
    try {
      co_await halt::join(std::move(aa), std::move(bb), std::move(cc));
      FAIL("join must rethrow");
    } catch (const std::runtime_error& e) {
      what = e.what();
      b_done_at_throw = b_done;
      c_threw_at_throw = c_threw;
    }
    CHECK(what == "first");
    CHECK(b_done_at_throw); // every branch finished first
    CHECK(c_threw_at_throw);
    CHECK_FALSE(b_saw); // and none was cancelled
  });
}

TEST_CASE("join rethrows an operation's error code as halt::system_error", "[join]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer failing(ex, 60s);
    asio::steady_timer canceller(ex, 2ms);
    canceller.async_wait([&](halt::error_code) { failing.cancel(); });
    auto op = failing.async_wait(halt::deferred);
    auto other = value_after(10ms, 1);
    halt::error_code code;
    try {
      co_await halt::join(std::move(op), std::move(other));
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == asio::error::operation_aborted);
  });
}

TEST_CASE("try_join cancels the other branches on the first failure and rethrows it", "[join]") {
  asio::io_context io;
  probe endless_a;
  bool stubborn_caught = false, stubborn_guard = false;
  auto failing = []() -> asio::awaitable<int> {
    co_await sleep_for(5ms);
    throw std::runtime_error("try_join failure");
  };
  // Catches the cancellation and returns a value anyway: the outcome does not change.
  auto stubborn = [&]() -> asio::awaitable<int> {
    halt::scope_exit guard([&] { stubborn_guard = true; });
    try {
      co_await sleep_for(60s);
    } catch (const halt::system_error&) {
      stubborn_caught = true;
    }
    co_return 7;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer long_timer(ex, 60s);
    auto op = long_timer.async_wait(halt::deferred); // a plain operation: cancelled too
    auto a = endless(endless_a);
    auto b = failing();
    auto c = stubborn();
    std::string what;
    bool a_guard_at_throw = false, c_guard_at_throw = false;
    try {
      co_await halt::try_join(std::move(a), std::move(b), std::move(c), std::move(op));
      FAIL("try_join must rethrow");
    } catch (const std::runtime_error& e) {
      what = e.what();
      a_guard_at_throw = endless_a.guard_ran;
      c_guard_at_throw = stubborn_guard;
    }
    CHECK(what == "try_join failure");
    CHECK(endless_a.saw == asio::error::operation_aborted);
    CHECK(a_guard_at_throw); // unwound before try_join threw
    CHECK(stubborn_caught);
    CHECK(c_guard_at_throw);
  });
}

TEST_CASE("cancelling a join (task abort) cancels every branch and the task joins cancelled", "[join]") {
  asio::io_context io;
  probe p1, p2, p3;
  int guards_at_throw = -1;
  bool started = false;
  halt::error_code join_error;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<void> {
    auto a = endless(p1);
    auto b = endless(p2);
    auto c = endless(p3);
    asio::steady_timer long_timer(co_await asio::this_coro::executor, 60s);
    auto op = long_timer.async_wait(halt::deferred);
    started = true;
    try {
      co_await halt::join(std::move(a), std::move(b), std::move(c), std::move(op));
    } catch (const halt::system_error& e) {
      join_error = e.code();
      guards_at_throw = int(p1.guard_ran) + int(p2.guard_ran) + int(p3.guard_ran);
      throw;
    }
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(started);
    co_await sleep_for(5ms);
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(join_error == asio::error::operation_aborted);
    CHECK(guards_at_throw == 3); // every branch unwound before the join failed
    CHECK(p1.saw == asio::error::operation_aborted);
    CHECK(p2.saw == asio::error::operation_aborted);
    CHECK(p3.saw == asio::error::operation_aborted);
  });
}

TEST_CASE("cancelling a try_join (task abort) cancels every branch and the task joins cancelled", "[join]") {
  asio::io_context io;
  probe p1, p2;
  bool started = false;
  int guards_at_throw = -1;
  halt::error_code join_error;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<void> {
    auto a = endless(p1);
    auto b = endless(p2);
    started = true;
    try {
      co_await halt::try_join(std::move(a), std::move(b));
    } catch (const halt::system_error& e) {
      join_error = e.code();
      guards_at_throw = int(p1.guard_ran) + int(p2.guard_ran);
      throw;
    }
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(started);
    co_await sleep_for(5ms);
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(join_error == asio::error::operation_aborted);
    CHECK(guards_at_throw == 2);
  });
}

TEST_CASE("a join that loses an outer select has every branch unwound before select returns", "[join]") {
  asio::io_context io;
  probe p1, p2;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = endless(p1);
    auto b = endless(p2);
    auto joined = halt::join(std::move(a), std::move(b));
    auto winner = value_after(5ms, 1);
    auto r = co_await halt::select(std::move(joined), std::move(winner));
    CHECK(r.index() == 1);
    CHECK(p1.guard_ran);
    CHECK(p2.guard_ran);
    CHECK(p1.saw == asio::error::operation_aborted);
    CHECK(p2.saw == asio::error::operation_aborted);
  });
}

namespace {

struct pool_counters {
  std::atomic<int> finished{0}, good{0}, bad{0}, errors{0}, branch_runs{0}, overlaps{0};
};

// One branch of a thread-pool round: it yields (so that other threads get in between), then
// appends to `seen`, which is not synchronised: join must serialise its branches (one strand) and
// publish their effects to the caller. `active` counts the round's branches inside that section;
// more than one at once means two branches of one join ran in parallel.
asio::awaitable<int> pool_branch(int v, std::vector<int>& seen, std::atomic<int>& active, pool_counters& c) {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
  if (active.fetch_add(1) != 0) c.overlaps.fetch_add(1);
  seen.push_back(v);
  std::this_thread::yield();
  active.fetch_sub(1);
  co_await asio::post(ex, asio::use_awaitable);
  c.branch_runs.fetch_add(1, std::memory_order_relaxed);
  co_return v;
}

asio::awaitable<void> join_round(int i, pool_counters& c) {
  std::vector<int> seen; // owned by this round, touched by its branches
  std::atomic<int> active{0};
  auto a = pool_branch(i, seen, active, c);
  auto b = pool_branch(i + 1, seen, active, c);
  auto d = pool_branch(i + 2, seen, active, c);
  auto r = co_await halt::join(std::move(a), std::move(b), std::move(d));
  const bool ok = r == std::make_tuple(i, i + 1, i + 2) && seen.size() == 3;
  (ok ? c.good : c.bad).fetch_add(1, std::memory_order_relaxed);
}

asio::awaitable<void> try_join_round(int i, pool_counters& c) {
  std::vector<int> seen;
  std::atomic<int> active{0};
  bool guard_ran = false; // written by a branch, read here after try_join: must be published
  auto endless_branch = [&]() -> asio::awaitable<int> {
    halt::scope_exit g([&] { guard_ran = true; });
    co_await sleep_for(60s);
    co_return 0;
  };
  auto failing = [&]() -> asio::awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    co_await asio::post(ex, asio::use_awaitable);
    seen.push_back(i);
    throw std::runtime_error("round failure");
  };
  auto a = endless_branch();
  auto b = failing();
  auto d = pool_branch(i, seen, active, c);
  bool threw = false;
  try {
    co_await halt::try_join(std::move(a), std::move(b), std::move(d));
  } catch (const std::runtime_error&) {
    threw = true;
  }
  const bool ok = threw && guard_ran && !seen.empty();
  (ok ? c.good : c.bad).fetch_add(1, std::memory_order_relaxed);
}

template <class Round>
void run_pool_rounds(int rounds, Round round, pool_counters& c) {
  asio::thread_pool pool(4);
  for (int i = 0; i < rounds; ++i) {
    // The round's coroutine runs on the pool itself: no user strand.
    asio::co_spawn(pool, round(i, c), [&c](std::exception_ptr e) {
      if (e) c.errors.fetch_add(1);
      c.finished.fetch_add(1);
    });
  }
  halt_test::wait_until([&] { return c.finished.load() == rounds; }, std::chrono::seconds(20));
  pool.join();
}

} // namespace

TEST_CASE("join on a 4-thread thread_pool without a user strand, 1000 times", "[join][race]") {
  constexpr int rounds = 1000;
  pool_counters c;
  run_pool_rounds(rounds, join_round, c);
  CHECK(c.finished.load() == rounds);
  CHECK(c.errors.load() == 0);
  CHECK(c.bad.load() == 0);
  CHECK(c.good.load() == rounds);
  CHECK(c.branch_runs.load() == 3 * rounds);
  CHECK(c.overlaps.load() == 0);
}

TEST_CASE("try_join on a 4-thread thread_pool without a user strand, cancelling each time", "[join][race]") {
  constexpr int rounds = 500;
  pool_counters c;
  run_pool_rounds(rounds, try_join_round, c);
  CHECK(c.finished.load() == rounds);
  CHECK(c.errors.load() == 0);
  CHECK(c.bad.load() == 0);
  CHECK(c.good.load() == rounds);
  CHECK(c.overlaps.load() == 0);
}

// ---- an outer cancel that arrives after every branch settled (issue 10, P12) -------------------

namespace {

// A branch that suspends once (a post through its own executor) and then returns `v`.
asio::awaitable<int> after_one_post(int v) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  co_return v;
}

// A branch that is ready at once, but first cancels the coroutine awaiting the join (through
// `outer`, bound to that coroutine's co_spawn). The group's cancellation is then queued on its
// strand after the branch that suspended, and before co_spawn's posted completion of this
// branch: it reaches the group once every branch has settled, before the last one retired.
asio::awaitable<int> cancel_outer_then(asio::cancellation_signal& outer, int v, bool fail) {
  outer.emit(asio::cancellation_type::terminal);
  if (fail) throw std::runtime_error("branch failed");
  co_return v;
}

struct late_cancel_result {
  bool done = false;
  std::optional<std::tuple<int, int>> values;
  halt::error_code error;
  std::string what;
};

template <bool FailFast>
void run_late_cancel(bool fail, late_cancel_result& out) {
  asio::io_context io; // the default hint: the join posts its launch to a strand of its own
  asio::cancellation_signal outer;
  auto body = [&]() -> asio::awaitable<void> {
    auto a = after_one_post(2);
    auto b = cancel_outer_then(outer, 1, fail);
    try {
      if constexpr (FailFast) {
        auto op = halt::try_join(std::move(a), std::move(b));
        out.values = co_await std::move(op);
      } else {
        auto op = halt::join(std::move(a), std::move(b));
        out.values = co_await std::move(op);
      }
    } catch (const halt::system_error& e) {
      out.error = e.code();
    } catch (const std::exception& e) {
      out.what = e.what();
    }
    // No co_await here: the coroutine itself was cancelled, and its next co_await would throw.
  };
  asio::co_spawn(io, body, asio::bind_cancellation_slot(outer.slot(), [&](std::exception_ptr e) {
                   out.done = true;
                   if (e) std::rethrow_exception(e);
                 }));
  halt_test::run_until(io, [&] { return out.done; });
}

} // namespace

TEST_CASE("join keeps its values when an outer cancel arrives after every branch settled",
          "[join][issue10]") {
  late_cancel_result r;
  run_late_cancel<false>(false, r);
  CHECK(r.error == halt::error_code());
  REQUIRE(r.values.has_value());
  CHECK(*r.values == std::tuple<int, int>(2, 1));
}

TEST_CASE("try_join keeps its values when an outer cancel arrives after every branch settled",
          "[join][issue10]") {
  late_cancel_result r;
  run_late_cancel<true>(false, r);
  CHECK(r.error == halt::error_code());
  REQUIRE(r.values.has_value());
  CHECK(*r.values == std::tuple<int, int>(2, 1));
}

TEST_CASE("try_join keeps a failure that decided it before an outer cancel arrived", "[join][issue10]") {
  late_cancel_result r;
  run_late_cancel<true>(true, r);
  CHECK(r.error == halt::error_code());
  CHECK_FALSE(r.values.has_value());
  CHECK(r.what == "branch failed");
}

TEST_CASE("join keeps a failure once every branch settled before an outer cancel arrived",
          "[join][issue10]") {
  late_cancel_result r;
  run_late_cancel<false>(true, r);
  CHECK(r.error == halt::error_code());
  CHECK(r.what == "branch failed");
}

// ---- the outer cancellation type (issue 10, P11) ------------------------------------------------

TEST_CASE("join forwards a partial cancel: an operation honours it, an awaitable ignores it",
          "[join][issue10]") {
  asio::io_context io;
  asio::steady_timer gate(io, asio::steady_timer::time_point::max());
  asio::steady_timer t(io, 1h);
  bool awaitable_finished = false;
  halt::error_code got;
  halt_test::run_cancelled_with(
      io, asio::cancellation_type::partial,
      [&]() -> asio::awaitable<void> {
        auto a = [&]() -> asio::awaitable<int> {
          halt::error_code ec;
          co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          auto cs = co_await asio::this_coro::cancellation_state;
          awaitable_finished = cs.cancelled() == asio::cancellation_type::none;
          co_return 1;
        };
        auto first = a();
        auto op = halt::join(std::move(first), t.async_wait(halt::deferred));
        try {
          co_await std::move(op);
        } catch (const halt::system_error& e) {
          got = e.code();
        }
      },
      [&] { gate.cancel(); });
  CHECK(awaitable_finished); // not cancelled; before: terminal, like every other branch
  CHECK(got == asio::error::operation_aborted); // the timer branch's own failure
}

TEST_CASE("join ignores a total cancel", "[join][issue10]") {
  asio::io_context io;
  asio::steady_timer gate(io, asio::steady_timer::time_point::max());
  asio::steady_timer t(io, 1h);
  std::optional<std::tuple<int, std::monostate>> got;
  halt_test::run_cancelled_with(
      io, asio::cancellation_type::total,
      [&]() -> asio::awaitable<void> {
        auto a = [&]() -> asio::awaitable<int> {
          halt::error_code ec;
          co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          co_return 1;
        };
        auto first = a();
        auto second = [&]() -> asio::awaitable<void> {
          halt::error_code ec;
          co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        };
        auto op = halt::join(std::move(first), second());
        got = co_await std::move(op);
      },
      [&] { gate.cancel(); });
  REQUIRE(got.has_value());
  CHECK(std::get<0>(*got) == 1);
}

// --- Issue 10.3: a value whose move throws, on every move of a join and a select ---------------------
// Fault injection over N: the Nth move of a branch's value throws std::bad_alloc. Wherever it
// lands (the branch's co_return, the group's bookkeeping, building the result, resuming the
// caller), the caller resumes with the values or with an exception; it never hangs.
namespace {
struct move_bomb {
  int v = 0;
  explicit move_bomb(int x) : v(x) {}
  move_bomb(const move_bomb& o) : v(o.v) { halt_test::fault::point(); }
  move_bomb(move_bomb&& o) : v(o.v) { halt_test::fault::point(); }
  move_bomb& operator=(const move_bomb&) = default;
  move_bomb& operator=(move_bomb&&) = default;
};

asio::awaitable<move_bomb> bomb_now(int v) { co_return move_bomb(v); }
asio::awaitable<move_bomb> bomb_later(int v) {
  co_await halt_test::sleep_for(1ms);
  co_return move_bomb(v);
}
} // namespace

TEST_CASE("join and select resume their caller whichever move of a value throws", "[join][select][issue10]") {
  for (int which = 0; which < 3; ++which) {
    int faults = 0;
    for (long n = 1;; ++n) {
      INFO("combinator " << which << ", fault at move " << n);
      asio::io_context io;
      bool resumed = false, failed = false;
      halt_test::fault::arm(n, /*allocations=*/false);
      halt_test::run_main(io, [&]() -> asio::awaitable<void> {
        try {
          if (which == 0) {
            auto [a, b] = co_await halt::join(bomb_now(1), bomb_later(2));
            CHECK(a.v + b.v == 3);
          } else if (which == 1) {
            auto r = co_await halt::select(bomb_later(1), bomb_now(2));
            CHECK(r.index() == 1);
          } else {
            auto r = co_await halt::try_join(bomb_later(1), bomb_later(2));
            CHECK(std::get<0>(r).v + std::get<1>(r).v == 3);
          }
        } catch (const std::bad_alloc&) {
          failed = true;
        }
        resumed = true;
      });
      const bool injected = halt_test::fault::disarm();
      CHECK(resumed);
      if (injected) {
        ++faults;
        CHECK(failed); // a lost move is reported, never a value that silently went missing
      }
      if (!injected) break;
    }
    CHECK(faults > 0);
  }
}

// ---- halt::task branches: run inline ------------------------------------------------------------

namespace {
using namespace halt_test::tasks;

} // namespace

TEST_CASE("task join: every branch runs to its end, values in argument order", "[join][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<int> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, 1ms);
    auto j = halt::join(logged_work(log, "a", 5ms, 1), logged_work(log, "b", 1ms, 2), sleep(2ms),
                        t.async_wait(halt::deferred));
    auto [a, b, c, d] = co_await std::move(j);
    (void)c;
    (void)d;
    co_return a * 10 + b;
  };
  CHECK(get(run(io, body())) == 12);
  CHECK(has(log, "a.end"));
  CHECK(has(log, "b.end"));
}

TEST_CASE("task join: a failure is rethrown after every branch finished, none is dropped", "[join][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto failing = [&]() -> halt::task<int> {
    co_await sleep(1ms);
    throw std::runtime_error("first");
  };
  auto body = [&]() -> halt::task<void> {
    auto j = halt::join(failing(), logged_work(log, "slow", 10ms, 2));
    try {
      co_await std::move(j);
    } catch (const std::runtime_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"slow.start", "slow.end", "~slow", "caught first"});
}

TEST_CASE("task try_join: the first failure drops the others and is rethrown once they are gone", "[join][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto failing = [&]() -> halt::task<int> {
    co_await sleep(1ms);
    throw std::runtime_error("first");
  };
  auto body = [&]() -> halt::task<void> {
    auto j = halt::try_join(logged_work(log, "slow", 1h, 2), failing(), logged_work(log, "slow2", 1h, 3));
    try {
      co_await std::move(j);
    } catch (const std::runtime_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
    // A branch that fails at once: the branches after it never start.
    auto at_once = []() -> halt::task<int> {
      throw std::logic_error("now");
      co_return 0;
    };
    auto j2 = halt::try_join(at_once(), logged_work(log, "never", 1h, 1));
    try {
      co_await std::move(j2);
    } catch (const std::logic_error&) {
      log.push_back("caught now");
    }
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"slow.start", "slow2.start", "~slow", "~slow2", "caught first",
                                        "caught now"});
}

TEST_CASE("task join: dropped with its task, every branch is dropped, empty task is bad input", "[join][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  bool after = false;
  auto body = [&]() -> halt::task<int> {
    auto j = halt::join(logged_work(log, "a", 1h, 1), logged_work(log, "b", 1h, 2));
    co_await std::move(j);
    after = true;
    co_return 0;
  };
  asio::cancellation_signal sig;
  auto out = start(io, body(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"a.start", "b.start", "~a", "~b"});

  auto bad = [&]() -> halt::task<void> {
    halt::task<int> empty;
    auto j = halt::join(answer(), std::move(empty));
    bool no_state = false;
    try {
      co_await std::move(j);
    } catch (const halt::system_error& e) {
      no_state = e.code() == halt::errc::no_state;
    }
    CHECK(no_state);
  };
  io.restart();
  get(run(io, bad()));
}
