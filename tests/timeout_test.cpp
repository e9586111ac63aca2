// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// halt::timeout and halt::timeout_at (timeout.hpp): ready and slow branches, expiry with the
// branch unwound first, timed_out versus operation_aborted (outer cancellation, a branch's own
// operation_aborted), a branch's own exception, bad input, plain deferred operations, other
// clocks, saturation, and the error code's mapping to std::errc::timed_out.
//
// Note: g++ 12 miscompiles temporaries in a co_await full-expression, so these tests never put a
// co_await inside a Catch macro and always name awaitables and lambdas first.
#include <halt/error.hpp>
#include <halt/scope_guard.hpp>
#include <halt/join_handle.hpp>
#include <halt/timeout.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

using namespace std::chrono_literals;

namespace {

using halt_test::sleep_for;
using halt_test::run_main;


asio::awaitable<void> wait_for_flag(const bool& flag) {
  for (int i = 0; i < 10'000 && !flag; ++i) co_await sleep_for(1ms);
  if (!flag) throw std::runtime_error("wait_for_flag: flag never set");
}


asio::awaitable<int> ready(int v) { co_return v; }

asio::awaitable<int> value_after(std::chrono::steady_clock::duration d, int v) {
  co_await sleep_for(d);
  co_return v;
}

asio::awaitable<int> throw_after(std::chrono::steady_clock::duration d, std::string what) {
  co_await sleep_for(d);
  throw std::runtime_error(what);
}

// Never finishes on its own (60 s). Records whether it was cancelled and when its guard ran.
struct endless_probe {
  bool guard_ran = false;
  halt::error_code saw;
};
asio::awaitable<int> endless(endless_probe& p) {
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

TEST_CASE("a ready branch returns its value, even with a zero duration or a past deadline", "[timeout]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = ready(1);
    const int v1 = co_await halt::timeout(5s, std::move(a));
    CHECK(v1 == 1);

    auto b = ready(2);
    const int v2 = co_await halt::timeout(0ms, std::move(b));
    CHECK(v2 == 2);

    auto c = ready(3);
    const int v3 = co_await halt::timeout_at(std::chrono::steady_clock::now() - 1s, std::move(c));
    CHECK(v3 == 3);

    auto d = ready(4);
    const int v4 = co_await halt::timeout_at(std::chrono::system_clock::now() - 1h, std::move(d));
    CHECK(v4 == 4);

    auto e = ready(5);
    const int v5 = co_await halt::timeout(std::chrono::nanoseconds(0), std::move(e));
    CHECK(v5 == 5);
  });
}

TEST_CASE("a slow branch that finishes before the deadline returns its value", "[timeout]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = value_after(10ms, 7);
    const int v = co_await halt::timeout(5s, std::move(a));
    CHECK(v == 7);

    // An awaitable<void> branch: timeout yields awaitable<void> (timeout.hpp: "T for an
    // asio::awaitable<T> (void included)").
    bool slept = false;
    auto void_branch = [&]() -> asio::awaitable<void> {
      co_await sleep_for(5ms);
      slept = true;
    };
    auto s = void_branch();
    auto void_timeout = halt::timeout(5s, std::move(s));
    static_assert(std::is_same_v<decltype(void_timeout), asio::awaitable<void>>);
    co_await std::move(void_timeout);
    CHECK(slept);

    auto n = []() -> asio::awaitable<no_default> {
      co_await sleep_for(1ms);
      co_return no_default(8);
    };
    auto na = n();
    const no_default nd = co_await halt::timeout(5s, std::move(na));
    CHECK(nd.value == 8);
  });
}

TEST_CASE("a branch that never finishes times out after the deadline, unwound first", "[timeout]") {
  asio::io_context io;
  endless_probe probe;
  run_main(io, [&]() -> asio::awaitable<void> {
    const auto start = std::chrono::steady_clock::now();
    auto a = endless(probe);
    halt::error_code code;
    bool guard_ran_at_throw = false;
    try {
      co_await halt::timeout(20ms, std::move(a));
      FAIL("timeout must throw");
    } catch (const halt::system_error& e) {
      code = e.code();
      guard_ran_at_throw = probe.guard_ran;
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(code == halt::errc::timed_out);
    CHECK(code != asio::error::operation_aborted);
    CHECK(guard_ran_at_throw);
    CHECK(probe.saw == asio::error::operation_aborted); // the branch got cancelled
    CHECK(elapsed >= 20ms);                              // not before the deadline
  });
}

TEST_CASE("a branch that catches the cancellation and returns anyway still times out", "[timeout]") {
  asio::io_context io;
  std::weak_ptr<int> late_value;
  bool caught = false;
  auto stubborn = [&]() -> asio::awaitable<std::shared_ptr<int>> {
    try {
      co_await sleep_for(60s);
    } catch (const halt::system_error&) {
      caught = true;
    }
    auto p = std::make_shared<int>(1);
    late_value = p;
    co_return p;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = stubborn();
    halt::error_code code;
    try {
      auto p = co_await halt::timeout(10ms, std::move(a));
      FAIL("timeout must throw");
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == halt::errc::timed_out);
    CHECK(caught);
    CHECK(late_value.expired()); // the loser's value was destroyed
  });
}

TEST_CASE("an abort of the enclosing task inside timeout is a cancellation, not timed_out", "[timeout]") {
  asio::io_context io;
  endless_probe probe;
  bool started = false;
  halt::error_code code;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto a = endless(probe);
    started = true;
    try {
      const int v = co_await halt::timeout(30s, std::move(a));
      co_return v;
    } catch (const halt::system_error& e) {
      code = e.code();
      throw;
    }
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(started);
    co_await sleep_for(5ms);
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(code == asio::error::operation_aborted);
    CHECK(code != halt::errc::timed_out);
    CHECK(probe.guard_ran);
    CHECK(probe.saw == asio::error::operation_aborted);
  });
}

TEST_CASE("an outer cancellation signal fails timeout with operation_aborted, not timed_out", "[timeout]") {
  asio::io_context io;
  asio::cancellation_signal sig; // outlives the coroutine: io is run until it has finished
  endless_probe probe;
  halt::error_code code;
  bool finished = false;
  auto body = [&]() -> asio::awaitable<void> {
    auto a = endless(probe);
    try {
      co_await halt::timeout(30s, std::move(a));
    } catch (const halt::system_error& e) {
      code = e.code();
    }
  };
  asio::co_spawn(io, body(), asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr e) {
                   finished = true;
                   if (e) std::rethrow_exception(e);
                 }));
  asio::steady_timer later(io, 20ms);
  later.async_wait([&](halt::error_code) { sig.emit(asio::cancellation_type::terminal); });
  halt_test::run_until(io, [&] { return finished; }, 10s);
  CHECK(code == asio::error::operation_aborted);
  CHECK(code != halt::errc::timed_out);
  CHECK(probe.guard_ran);
  CHECK(probe.saw == asio::error::operation_aborted);
}

TEST_CASE("a branch's own exception propagates", "[timeout]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = throw_after(1ms, "branch failed");
    std::string what;
    try {
      co_await halt::timeout(5s, std::move(a));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "branch failed");

    // Also when the deadline is zero: the branch failed at once, before the timer.
    auto thrower = []() -> asio::awaitable<int> { throw std::logic_error("at once"); co_return 0; };
    auto b = thrower();
    std::string what2;
    try {
      co_await halt::timeout(0ms, std::move(b));
    } catch (const std::logic_error& e) {
      what2 = e.what();
    }
    CHECK(what2 == "at once");
  });
}

TEST_CASE("a branch that reports operation_aborted itself fails with operation_aborted", "[timeout]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto self_aborting = []() -> asio::awaitable<int> {
      co_await sleep_for(1ms);
      throw halt::system_error(asio::error::operation_aborted);
    };
    auto a = self_aborting();
    halt::error_code code;
    try {
      co_await halt::timeout(5s, std::move(a));
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == asio::error::operation_aborted);
    CHECK(code != halt::errc::timed_out);
  });
}

TEST_CASE("a negative duration throws invalid_argument from the call", "[timeout]") {
  bool ran = false;
  auto branch = [&]() -> asio::awaitable<int> {
    ran = true;
    co_return 1;
  };
  CHECK_THROWS_AS(halt::timeout(-1ms, branch()), std::invalid_argument);
  CHECK_THROWS_AS(halt::timeout(std::chrono::duration<double>(-1e-9), branch()), std::invalid_argument);
  CHECK_THROWS_AS(halt::timeout(std::chrono::hours(-1), branch()), std::invalid_argument);
  CHECK_THROWS_AS(halt::timeout(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN()), branch()),
                  std::invalid_argument);
  CHECK_FALSE(ran);
}

TEST_CASE("timeout on a plain deferred operation", "[timeout]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;

    asio::steady_timer quick(ex, 5ms);
    auto op = quick.async_wait(halt::deferred);
    auto m = co_await halt::timeout(5s, std::move(op));
    static_assert(std::is_same_v<decltype(m), std::monostate>);
    (void)m;
    CHECK(quick.expiry() <= std::chrono::steady_clock::now());

    asio::steady_timer slow(ex, 60s);
    auto op2 = slow.async_wait(halt::deferred);
    halt::error_code code;
    try {
      co_await halt::timeout(10ms, std::move(op2));
      FAIL("timeout must throw");
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == halt::errc::timed_out);

    // An operation that fails with its own error code: halt::system_error with that code.
    asio::steady_timer cancelled(ex, 60s);
    asio::steady_timer canceller(ex, 5ms);
    canceller.async_wait([&](halt::error_code) { cancelled.cancel(); });
    auto op3 = cancelled.async_wait(halt::deferred);
    halt::error_code code3;
    try {
      co_await halt::timeout(5s, std::move(op3));
    } catch (const halt::system_error& e) {
      code3 = e.code();
    }
    CHECK(code3 == asio::error::operation_aborted);
  });
}

TEST_CASE("timeout_at with std::chrono::system_clock", "[timeout]") {
  asio::io_context io;
  endless_probe probe;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = value_after(5ms, 3);
    const int v = co_await halt::timeout_at(std::chrono::system_clock::now() + 5s, std::move(a));
    CHECK(v == 3);

    auto b = endless(probe);
    halt::error_code code;
    try {
      co_await halt::timeout_at(std::chrono::system_clock::now() + 20ms, std::move(b));
      FAIL("timeout_at must throw");
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == halt::errc::timed_out);
    CHECK(probe.guard_ran);

    // A coarser duration type for the time point.
    auto c = value_after(1ms, 4);
    const auto at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) + 10s;
    const int v4 = co_await halt::timeout_at(at, std::move(c));
    CHECK(v4 == 4);
  });
}

TEST_CASE("durations too large for the clock saturate", "[timeout]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = value_after(1ms, 1);
    const int v1 = co_await halt::timeout(std::chrono::hours::max(), std::move(a));
    CHECK(v1 == 1);
    auto b = value_after(1ms, 2);
    const int v2 = co_await halt::timeout(std::chrono::duration<double>(1e300), std::move(b));
    CHECK(v2 == 2);
    auto c = value_after(1ms, 3);
    const int v3 = co_await halt::timeout_at(std::chrono::steady_clock::time_point::max(), std::move(c));
    CHECK(v3 == 3);
  });
}

TEST_CASE("halt::errc::timed_out maps to std::errc::timed_out", "[timeout]") {
  // error.hpp: "timed_out [compares equal] to std::errc::timed_out".
  const halt::error_code ec = halt::errc::timed_out;
  CHECK(ec == std::errc::timed_out);
  CHECK(ec != std::errc::operation_canceled);
  CHECK(std::error_code(ec).category() == halt::error_category()); // (Boost: see error_test)
  CHECK(ec != asio::error::operation_aborted);

  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = sleep_for(60s);
    halt::error_code code;
    try {
      co_await halt::timeout(1ms, std::move(a));
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == std::errc::timed_out);
    CHECK(code == halt::errc::timed_out);
  });
}

// ---- the outer cancellation type (issue 10, P11) ------------------------------------------------

TEST_CASE("timeout does not turn a partial or total cancel into a timeout or an abort",
          "[timeout][issue10]") {
  for (auto type : {asio::cancellation_type::partial, asio::cancellation_type::total}) {
    asio::io_context io;
    asio::steady_timer gate(io, asio::steady_timer::time_point::max());
    int got = 0;
    halt_test::run_cancelled_with(
        io, type,
        [&]() -> asio::awaitable<void> {
          auto a = [&]() -> asio::awaitable<int> {
            halt::error_code ec;
            co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            co_return 5;
          };
          auto branch = a();
          auto op = halt::timeout(1h, std::move(branch));
          got = co_await std::move(op);
        },
        [&] { gate.cancel(); });
    CHECK(got == 5); // partial must not reach the deadline timer (it would "win" with an error)
  }
}

// ---- halt::task: run inline ----------------------------------------------------------------------

namespace {
using namespace halt_test::tasks;

} // namespace

TEST_CASE("task timeout: the value when the task finishes first, even with a zero deadline if ready", "[timeout][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<int> {
    auto t1 = halt::timeout(1h, logged_work(log, "a", 1ms, 7));
    int a = co_await std::move(t1);
    auto t2 = halt::timeout(0s, answer());
    int b = co_await std::move(t2);
    auto t3 = halt::timeout_at(std::chrono::system_clock::now() + 1h, plus_one(1));
    int c = co_await std::move(t3);
    auto t4 = halt::timeout(1h, sleep(1ms));
    co_await std::move(t4);
    co_return a + b + c;
  };
  CHECK(get(run(io, body())) == 7 + 42 + 2);
}

TEST_CASE("task timeout: the deadline drops the task and throws timed_out", "[timeout][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    auto t = halt::timeout(2ms, logged_work(log, "slow", 1h, 1));
    try {
      co_await std::move(t);
      log.push_back("no throw");
    } catch (const halt::system_error& e) {
      log.push_back(e.code() == halt::errc::timed_out ? "timed_out" : e.code().message());
    }
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"slow.start", "~slow", "timed_out"});
}

TEST_CASE("task timeout: bad input", "[timeout][halt_task]") {
  CHECK_THROWS_AS(halt::timeout(-1s, answer()), std::invalid_argument);
  CHECK_THROWS_AS(halt::timeout(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN()), answer()),
                  std::invalid_argument);
  CHECK_THROWS_AS(halt::sleep_for(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
                  std::invalid_argument);
  asio::io_context io;
  auto body = [&]() -> halt::task<void> {
    auto t = halt::timeout(1s, halt::task<int>());
    bool no_state = false;
    try {
      co_await std::move(t);
    } catch (const halt::system_error& e) {
      no_state = e.code() == halt::errc::no_state;
    }
    CHECK(no_state);
  };
  get(run(io, body()));
}

TEST_CASE("task timeout: the duration counts from the task's first suspension, and saturates", "[timeout][halt_task]") {
  asio::io_context io;
  using clock = std::chrono::steady_clock;
  clock::time_point first_wait{};
  clock::time_point timed_out_at{};
  const auto start = clock::now();
  auto slow_start = [&]() -> halt::task<void> {
    std::this_thread::sleep_for(20ms); // synchronous work: a timeout cannot interrupt it
    first_wait = clock::now();
    co_await halt::sleep_for(1h);
  };
  auto body = [&]() -> halt::task<int> {
    auto t = halt::timeout(10ms, slow_start());
    bool timed_out = false;
    try {
      co_await std::move(t);
    } catch (const halt::system_error& e) {
      timed_out = e.code() == halt::errc::timed_out;
    }
    timed_out_at = clock::now();
    CHECK(timed_out);
    // Durations beyond the clock's range saturate, whether or not the task suspends.
    auto huge = halt::timeout(std::chrono::hours::max(), answer());
    int v = co_await std::move(huge);
    auto huge2 = halt::timeout(std::chrono::duration<double>(1e300), sleep(1ms));
    co_await std::move(huge2);
    co_return v;
  };
  CHECK(get(run(io, body())) == 42);
  CHECK(timed_out_at - first_wait >= 10ms); // never early, counted from the first suspension
  CHECK(timed_out_at - start >= 30ms);
}
