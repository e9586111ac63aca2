// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// halt::scope_exit / scope_fail / scope_success: the synchronous contract (normal exit, exception,
// release(), move, uncaught_exceptions() bookkeeping, a throwing copy), and the coroutine contract
// from scope_guard.hpp: the guards run on an abort, on a lost select, on a timeout and when the
// io_context is destroyed with the frame suspended.
#include <halt/scope_guard.hpp>
#include <halt/select.hpp>
#include <halt/join_handle.hpp>
#include <halt/timeout.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using halt_test::sleep_for;
using halt_test::run_main;


// Suspends until `flag` is set (polling); throws instead of waiting forever.
asio::awaitable<void> wait_for_flag(const bool& flag) {
  for (int i = 0; i < 10'000 && !flag; ++i) co_await sleep_for(1ms);
  if (!flag) throw std::runtime_error("wait_for_flag: flag never set");
}


// How often each kind of guard ran.
struct runs {
  int exit = 0;
  int fail = 0;
  int success = 0;
};

// A function object whose copy throws: storing it in a guard fails.
struct throwing_copy {
  int* calls;
  explicit throwing_copy(int& c) : calls(&c) {}
  throwing_copy(const throwing_copy&) { throw std::runtime_error("copy failed"); }
  throwing_copy& operator=(const throwing_copy&) = delete;
  void operator()() const { ++*calls; }
};

// Creates guards inside its destructor; used while an exception unwinds the stack.
struct guards_in_destructor {
  runs* r;
  ~guards_in_destructor() {
    halt::scope_exit e([this] { ++r->exit; });
    halt::scope_fail f([this] { ++r->fail; });
    halt::scope_success s([this] { ++r->success; });
  } // this scope ends normally, although an exception is in flight around it
};

} // namespace

// ---- the synchronous contract ------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<halt::scope_exit<void (*)()>>);
static_assert(!std::is_copy_assignable_v<halt::scope_exit<void (*)()>>);
static_assert(!std::is_move_assignable_v<halt::scope_fail<void (*)()>>);
static_assert(std::is_move_constructible_v<halt::scope_success<void (*)()>>);
static_assert(!std::is_convertible_v<void (*)(), halt::scope_exit<void (*)()>>); // explicit ctor

TEST_CASE("scope_exit runs on normal exit and on an exception", "[scope_guard]") {
  int runs = 0;
  {
    halt::scope_exit g([&] { ++runs; });
    CHECK(runs == 0); // not before the scope ends
  }
  CHECK(runs == 1);

  try {
    halt::scope_exit g([&] { ++runs; });
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
    CHECK(runs == 2); // ran while the exception unwound the scope
  }
  CHECK(runs == 2);
}

TEST_CASE("scope_fail runs on an exception only", "[scope_guard]") {
  int runs = 0;
  {
    halt::scope_fail g([&] { ++runs; });
  }
  CHECK(runs == 0);

  try {
    halt::scope_fail g([&] { ++runs; });
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
    CHECK(runs == 1);
  }
  CHECK(runs == 1);
}

TEST_CASE("scope_success runs on normal exit only", "[scope_guard]") {
  int runs = 0;
  {
    halt::scope_success g([&] { ++runs; });
  }
  CHECK(runs == 1);

  try {
    halt::scope_success g([&] { ++runs; });
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  CHECK(runs == 1);
}

TEST_CASE("release() keeps each guard from running", "[scope_guard]") {
  runs r;
  {
    halt::scope_exit e([&] { ++r.exit; });
    halt::scope_success s([&] { ++r.success; });
    e.release();
    s.release();
    s.release(); // idempotent
  }
  try {
    halt::scope_exit e([&] { ++r.exit; });
    halt::scope_fail f([&] { ++r.fail; });
    e.release();
    f.release();
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  CHECK(r.exit == 0);
  CHECK(r.fail == 0);
  CHECK(r.success == 0);

  // release() is the commit path of scope_exit-based commit-or-rollback.
  std::vector<std::string> log;
  auto transaction = [&](bool commit) {
    halt::scope_exit rollback([&] { log.push_back("rollback"); });
    if (!commit) return;
    log.push_back("commit");
    rollback.release();
  };
  transaction(true);
  transaction(false);
  CHECK(log == std::vector<std::string>{"commit", "rollback"});
}

TEST_CASE("a moved-from guard does not run, the moved-to guard runs once", "[scope_guard]") {
  SECTION("scope_exit") {
    int runs = 0;
    {
      halt::scope_exit a([&] { ++runs; });
      {
        auto b = std::move(a);
        CHECK(runs == 0);
      }
      CHECK(runs == 1); // b ran when its scope ended
    }
    CHECK(runs == 1); // a, moved from, did not
  }
  SECTION("scope_fail") {
    int runs = 0;
    try {
      halt::scope_fail a([&] { ++runs; });
      {
        auto b = std::move(a);
      }
      CHECK(runs == 0); // b's scope ended normally
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK(runs == 0); // a, moved from, did not run although its scope failed

    try {
      halt::scope_fail a([&] { ++runs; });
      auto b = std::move(a);
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK(runs == 1); // b ran once, a not at all
  }
  SECTION("scope_success") {
    int runs = 0;
    {
      halt::scope_success a([&] { ++runs; });
      {
        auto b = std::move(a);
      }
      CHECK(runs == 1);
    }
    CHECK(runs == 1);
  }
  SECTION("a released guard stays released when moved") {
    int runs = 0;
    {
      halt::scope_exit a([&] { ++runs; });
      a.release();
      auto b = std::move(a);
    }
    CHECK(runs == 0);
  }
}

TEST_CASE("fail and success compare uncaught_exceptions at construction and destruction", "[scope_guard]") {
  runs r;
  try {
    guards_in_destructor g{&r};
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  // The guards were made and destroyed inside a destructor that ran during unwinding: their own
  // scope ended without a new exception, so that counts as success.
  CHECK(r.exit == 1);
  CHECK(r.fail == 0);
  CHECK(r.success == 1);
}

TEST_CASE("if storing the function throws, scope_exit and scope_fail call it and rethrow", "[scope_guard]") {
  int calls = 0;
  throwing_copy f(calls);
  CHECK_THROWS_WITH(halt::scope_exit<throwing_copy>(f), "copy failed");
  CHECK(calls == 1);
  CHECK_THROWS_WITH(halt::scope_fail<throwing_copy>(f), "copy failed");
  CHECK(calls == 2);
  CHECK_THROWS_WITH(halt::scope_success<throwing_copy>(f), "copy failed");
  CHECK(calls == 2); // scope_success does not call it
}

TEST_CASE("a throwing scope_success function propagates its exception", "[scope_guard]") {
  auto thrower = [] { throw std::runtime_error("from the guard"); };
  static_assert(!std::is_nothrow_destructible_v<halt::scope_success<decltype(thrower)>>);
  static_assert(std::is_nothrow_destructible_v<halt::scope_success<void (*)() noexcept>>);
  CHECK_THROWS_WITH([&] { halt::scope_success g(thrower); }(), "from the guard");
}

TEST_CASE("a guard may hold a reference to a function object", "[scope_guard]") {
  int runs = 0;
  auto f = [&] { ++runs; };
  {
    halt::scope_exit<decltype(f)&> g(f);
  }
  CHECK(runs == 1);
}

// ---- in coroutines -----------------------------------------------------------------------------

TEST_CASE("guards in a coroutine run on a normal return and on an exception", "[scope_guard][coro]") {
  asio::io_context io;
  runs ok, failed;
  auto body = [](runs& r, bool fail) -> asio::awaitable<int> {
    halt::scope_exit e([&] { ++r.exit; });
    halt::scope_fail f([&] { ++r.fail; });
    halt::scope_success s([&] { ++r.success; });
    co_await sleep_for(1ms);
    if (fail) throw std::runtime_error("boom");
    co_return 1;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = body(ok, false);
    const int v = co_await std::move(a);
    CHECK(v == 1);
    CHECK(ok.exit == 1);
    CHECK(ok.fail == 0);
    CHECK(ok.success == 1);
    auto b = body(failed, true);
    std::string what;
    try {
      co_await std::move(b);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "boom");
    CHECK(failed.exit == 1);
    CHECK(failed.fail == 1);
    CHECK(failed.success == 0);
  });
}

TEST_CASE("aborting a spawned task suspended on a timer runs its guards as a failure", "[scope_guard][coro]") {
  asio::io_context io;
  runs outer, inner;
  bool suspended = false, reached_end = false;
  auto nested = [&]() -> asio::awaitable<void> {
    halt::scope_exit e([&] { ++inner.exit; });
    halt::scope_fail f([&] { ++inner.fail; });
    halt::scope_success s([&] { ++inner.success; });
    suspended = true;
    co_await sleep_for(60s);
  };
  auto h = halt::spawn(io, [&]() -> asio::awaitable<void> {
    halt::scope_exit e([&] { ++outer.exit; });
    halt::scope_fail f([&] { ++outer.fail; });
    halt::scope_success s([&] { ++outer.success; });
    co_await nested();
    reached_end = true;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(suspended);
    CHECK(outer.exit == 0);
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK_FALSE(reached_end);
    // The frames unwound through operation_aborted: an exception was in flight.
    CHECK(inner.exit == 1);
    CHECK(inner.fail == 1);
    CHECK(inner.success == 0);
    CHECK(outer.exit == 1);
    CHECK(outer.fail == 1);
    CHECK(outer.success == 0);
  });
}

TEST_CASE("a branch that loses a select runs its guards before select returns", "[scope_guard][coro]") {
  asio::io_context io;
  runs loser_runs;
  halt::error_code loser_saw;
  auto loser = [&]() -> asio::awaitable<int> {
    halt::scope_exit e([&] { ++loser_runs.exit; });
    halt::scope_fail f([&] { ++loser_runs.fail; });
    halt::scope_success s([&] { ++loser_runs.success; });
    try {
      co_await sleep_for(60s);
    } catch (const halt::system_error& err) {
      loser_saw = err.code();
      throw;
    }
    co_return 1;
  };
  auto winner = []() -> asio::awaitable<std::string> {
    co_await sleep_for(5ms);
    co_return "winner";
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = loser();
    auto b = winner();
    auto r = co_await halt::select(std::move(a), std::move(b));
    REQUIRE(r.index() == 1);
    CHECK(std::get<1>(r) == "winner");
    CHECK(loser_saw == asio::error::operation_aborted);
    CHECK(loser_runs.exit == 1);
    CHECK(loser_runs.fail == 1);
    CHECK(loser_runs.success == 0);
  });
}

TEST_CASE("a branch cut off by timeout runs its guards before timeout throws", "[scope_guard][coro]") {
  asio::io_context io;
  runs branch_runs;
  auto slow = [&]() -> asio::awaitable<void> {
    halt::scope_exit e([&] { ++branch_runs.exit; });
    halt::scope_fail f([&] { ++branch_runs.fail; });
    halt::scope_success s([&] { ++branch_runs.success; });
    co_await sleep_for(60s);
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    runs at_throw;
    halt::error_code code;
    try {
      auto a = slow();
      co_await halt::timeout(10ms, std::move(a));
    } catch (const halt::system_error& e) {
      code = e.code();
      at_throw = branch_runs;
    }
    CHECK(code == halt::errc::timed_out);
    CHECK(at_throw.exit == 1);
    CHECK(at_throw.fail == 1);
    CHECK(at_throw.success == 0);
  });
}

TEST_CASE("destroying the io_context with the task suspended runs scope_exit and scope_success", "[scope_guard][coro]") {
  runs r;
  bool suspended = false, resumed = false;
  halt::join_handle<void> h;
  {
    asio::io_context io;
    h = halt::spawn(io, [&]() -> asio::awaitable<void> {
      halt::scope_exit e([&] { ++r.exit; });
      halt::scope_fail f([&] { ++r.fail; });
      halt::scope_success s([&] { ++r.success; });
      suspended = true;
      co_await sleep_for(60s);
      resumed = true;
    });
    halt_test::run_until(io, [&] { return suspended; }, 10s);
    CHECK(r.exit == 0);
    CHECK_FALSE(h.is_finished());
  } // ~io_context destroys the suspended frame without resuming it
  CHECK_FALSE(resumed);
  CHECK(r.exit == 1);
  // As scope_guard.hpp documents: a frame destroyed without resumption has no exception in
  // flight, so scope_fail does not run and scope_success does (use scope_exit + release() for
  // commit-or-rollback).
  CHECK(r.fail == 0);
  CHECK(r.success == 1);
  CHECK(h.is_finished());
}

TEST_CASE("a dropped halt::task's scope fails: scope_fail runs, scope_success does not", "[scope_guard][halt_task]") {
  using namespace halt_test::tasks;
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    halt::scope_exit exit([&] { log.push_back("exit"); });
    halt::scope_fail fail([&] { log.push_back("fail"); });
    halt::scope_success success([&] { log.push_back("success"); });
    co_await sleep(1h);
  };
  asio::cancellation_signal sig;
  auto out = start(io, body(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK(log == std::vector<std::string>{"fail", "exit"});

  // A task that completes: success; and guards made while nothing is dropped are not confused
  // by an unrelated drop on the thread afterwards.
  log.clear();
  auto fine = [&]() -> halt::task<void> {
    halt::scope_fail fail([&] { log.push_back("fail"); });
    halt::scope_success success([&] { log.push_back("success"); });
    co_await sleep(1ms);
  };
  io.restart();
  get(run(io, fine()));
  CHECK(log == std::vector<std::string>{"success"});
}
