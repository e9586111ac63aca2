// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// halt::shield and halt::finally (shield.hpp): pass-through of values and exceptions, shielding
// from an abort with level-triggered delivery afterwards, the bounded shield, bad input, and
// finally's cleanup on each of the four outcomes (value, exception, cancel, abort).
//
// Note: g++ 12 miscompiles temporaries in a co_await full-expression, so these tests never put a
// co_await inside a Catch macro and always name awaitables and lambdas first.
#include <halt/scope_guard.hpp>
#include <halt/select.hpp>
#include <halt/shield.hpp>
#include <halt/join_handle.hpp>
#include <halt/timeout.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
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


asio::awaitable<int> value_after(std::chrono::steady_clock::duration d, int v) {
  co_await sleep_for(d);
  co_return v;
}

asio::awaitable<int> throw_after(std::chrono::steady_clock::duration d, std::string what) {
  co_await sleep_for(d);
  throw std::runtime_error(what);
}

// Sleeps 60 s; records that it was cancelled and that its guard ran, in that order, in `log`.
asio::awaitable<int> endless_work(std::vector<std::string>& log, halt::error_code& saw) {
  halt::scope_exit guard([&] { log.push_back("work guard"); });
  log.push_back("work start");
  try {
    co_await sleep_for(60s);
  } catch (const halt::system_error& e) {
    saw = e.code();
    throw;
  }
  co_return 1;
}

// An async cleanup: it co_awaits a timer, and logs when it is created, starts and ends.
struct cleanup_fn {
  std::vector<std::string>* log;
  std::chrono::steady_clock::duration d = 10ms;
  asio::awaitable<void> operator()() const {
    log->push_back("cleanup called");
    return body(log, d);
  }
  static asio::awaitable<void> body(std::vector<std::string>* log, std::chrono::steady_clock::duration d) {
    log->push_back("cleanup start");
    co_await sleep_for(d);
    log->push_back("cleanup end");
  }
};

asio::awaitable<void> throwing_cleanup_body(std::string what) {
  co_await sleep_for(1ms);
  throw std::logic_error(what);
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "?";
  }
}

struct no_default {
  explicit no_default(int v) : value(v) {}
  const int value; // neither default-constructible nor assignable
};

asio::awaitable<no_default> make_no_default(int v) {
  co_await sleep_for(1ms);
  co_return no_default(v);
}

} // namespace

// ---- shield ------------------------------------------------------------------------------------

TEST_CASE("shield passes the value through", "[shield]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = value_after(1ms, 42);
    const int v = co_await halt::shield(std::move(a));
    CHECK(v == 42);

    bool ran = false;
    auto void_work = [&]() -> asio::awaitable<void> {
      co_await sleep_for(1ms);
      ran = true;
    };
    auto b = void_work();
    co_await halt::shield(std::move(b));
    CHECK(ran);

    auto string_work = []() -> asio::awaitable<std::string> { co_return std::string(100, 's'); };
    auto c = string_work();
    const std::string s = co_await halt::shield(std::move(c));
    CHECK(s == std::string(100, 's'));
  });
}

TEST_CASE("shield passes an exception through", "[shield]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    std::string what;
    try {
      auto a = throw_after(1ms, "shielded failure");
      co_await halt::shield(std::move(a));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "shielded failure");
  });
}

TEST_CASE("an abort during a shield lets the work finish and is delivered at the next co_await", "[shield]") {
  asio::io_context io;
  bool in_shield = false, abort_called = false, work_done = false, after_shield = false, after_next = false;
  int shield_value = 0;
  halt::error_code next_error, work_error;
  auto work = [&]() -> asio::awaitable<int> {
    in_shield = true;
    try {
      co_await wait_for_flag(abort_called); // the abort is emitted while we wait here
      co_await sleep_for(30ms);              // and this timer, started later, is not cancelled either
    } catch (const halt::system_error& e) {
      work_error = e.code();
      throw;
    }
    work_done = true;
    co_return 7;
  };
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto w = work();
    shield_value = co_await halt::shield(std::move(w));
    after_shield = true; // no co_await between the shield and here
    try {
      co_await sleep_for(60s); // the first co_await after the shield throws at once
      after_next = true;
    } catch (const halt::system_error& e) {
      next_error = e.code();
      throw;
    }
    co_return 1;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(in_shield);
    h.abort();
    abort_called = true;
    auto r = co_await h.join();
    CHECK(work_done);
    CHECK_FALSE(work_error);
    CHECK(shield_value == 7);
    CHECK(after_shield);
    CHECK_FALSE(after_next);
    CHECK(next_error == asio::error::operation_aborted);
    CHECK(r.is_cancelled());
  });
}

TEST_CASE("after a shield the cancellation stays latched until throw_if_cancelled(false)", "[shield]") {
  asio::io_context io;
  bool in_shield = false, abort_called = false;
  auto work = [&]() -> asio::awaitable<void> {
    in_shield = true;
    co_await wait_for_flag(abort_called);
    co_await sleep_for(5ms);
  };
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto w = work();
    co_await halt::shield(std::move(w));
    int throws = 0;
    for (int i = 0; i < 3; ++i) {
      try {
        co_await sleep_for(60s);
      } catch (const halt::system_error& e) {
        if (e.code() == asio::error::operation_aborted) ++throws;
      }
    }
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await sleep_for(1ms); // goes through now: started after the cancel, it is not cancelled
    co_return throws;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(in_shield);
    h.abort();
    abort_called = true;
    auto r = co_await h.join();
    REQUIRE(r.has_value()); // it caught the cancellation and returned anyway
    CHECK(r.value() == 3);  // level-triggered: every co_await threw
  });
}

TEST_CASE("an outer timeout does not reach a shield", "[shield]") {
  asio::io_context io;
  bool work_done = false;
  halt::error_code work_error;
  auto work = [&]() -> asio::awaitable<int> {
    try {
      co_await sleep_for(40ms);
    } catch (const halt::system_error& e) {
      work_error = e.code();
      throw;
    }
    work_done = true;
    co_return 5;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto w = work();
    auto shielded = halt::shield(std::move(w));
    halt::error_code code;
    bool done_at_throw = false;
    try {
      co_await halt::timeout(5ms, std::move(shielded));
    } catch (const halt::system_error& e) {
      code = e.code();
      done_at_throw = work_done;
    }
    CHECK(code == halt::errc::timed_out); // the deadline won, but the shielded work ran on
    CHECK(done_at_throw);
    CHECK_FALSE(work_error);
  });
}

TEST_CASE("shield with a limit: the value if the work is in time", "[shield]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = value_after(1ms, 9);
    const int v = co_await halt::shield(std::move(a), 5s);
    CHECK(v == 9);
    auto b = throw_after(1ms, "limited failure");
    std::string what;
    try {
      co_await halt::shield(std::move(b), 5s);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "limited failure");
  });
}

TEST_CASE("shield with a limit: expiry cancels the work, waits for it to unwind, throws timed_out", "[shield]") {
  asio::io_context io;
  std::vector<std::string> log;
  halt::error_code work_saw;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto w = endless_work(log, work_saw);
    halt::error_code code;
    std::vector<std::string> log_at_throw;
    try {
      co_await halt::shield(std::move(w), 20ms);
      FAIL("the limited shield must throw");
    } catch (const halt::system_error& e) {
      code = e.code();
      log_at_throw = log;
    }
    CHECK(code == halt::errc::timed_out);
    CHECK(code != asio::error::operation_aborted);
    CHECK(work_saw == asio::error::operation_aborted); // the work itself was cancelled
    CHECK(log_at_throw == std::vector<std::string>{"work start", "work guard"});
  });
}

TEST_CASE("a limited shield still ignores an abort of the enclosing task", "[shield]") {
  asio::io_context io;
  bool in_shield = false, abort_called = false, work_done = false;
  auto work = [&]() -> asio::awaitable<int> {
    in_shield = true;
    co_await wait_for_flag(abort_called);
    co_await sleep_for(10ms);
    work_done = true;
    co_return 3;
  };
  int got = 0;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<void> {
    auto w = work();
    got = co_await halt::shield(std::move(w), 10s);
    co_await sleep_for(60s);
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await wait_for_flag(in_shield);
    h.abort();
    abort_called = true;
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(work_done);
    CHECK(got == 3);
  });
}

TEST_CASE("shield with a negative limit throws invalid_argument from the call", "[shield]") {
  bool ran = false;
  auto work = [&]() -> asio::awaitable<int> {
    ran = true;
    co_return 1;
  };
  CHECK_THROWS_AS(halt::shield(work(), -1ms), std::invalid_argument);
  CHECK_THROWS_AS(halt::shield(work(), std::chrono::duration<double>(-0.5)), std::invalid_argument);
  CHECK_THROWS_AS(halt::shield(work(), std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
                  std::invalid_argument);
  CHECK_FALSE(ran);
}

TEST_CASE("shield with a limit on void work", "[shield]") {
  asio::io_context io;
  bool ran = false;
  auto quick = [&]() -> asio::awaitable<void> {
    co_await sleep_for(1ms);
    ran = true;
  };
  CHECK_THROWS_AS(halt::shield(quick(), -1ms), std::invalid_argument);
  CHECK_FALSE(ran);
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = quick();
    co_await halt::shield(std::move(a), 5s);
    CHECK(ran);
    halt::error_code code;
    auto b = sleep_for(60s);
    try {
      co_await halt::shield(std::move(b), 10ms);
    } catch (const halt::system_error& e) {
      code = e.code();
    }
    CHECK(code == halt::errc::timed_out);
  });
}

TEST_CASE("a non-default-constructible value through shield", "[shield]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = make_no_default(4);
    const no_default v = co_await halt::shield(std::move(a));
    CHECK(v.value == 4);
    auto b = make_no_default(5);
    const no_default w = co_await halt::shield(std::move(b), 5s);
    CHECK(w.value == 5);
  });
}

// ---- finally -----------------------------------------------------------------------------------

TEST_CASE("finally on a value: the cleanup runs after the work and the value is returned", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto work = [&]() -> asio::awaitable<int> {
      log.push_back("work start");
      co_await sleep_for(1ms);
      log.push_back("work end");
      co_return 42;
    };
    auto w = work();
    const int v = co_await halt::finally(std::move(w), cleanup_fn{&log});
    CHECK(v == 42);
    // cleanup() was called (its awaitable created) only when the work had ended.
    CHECK(log == std::vector<std::string>{"work start", "work end", "cleanup called", "cleanup start",
                                          "cleanup end"});
  });
}

TEST_CASE("finally on void work", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto w = sleep_for(1ms);
    co_await halt::finally(std::move(w), cleanup_fn{&log});
    CHECK(log == std::vector<std::string>{"cleanup called", "cleanup start", "cleanup end"});
  });
}

TEST_CASE("finally on an exception: the cleanup runs and the exception is rethrown", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto w = throw_after(1ms, "work failed");
    std::string what;
    std::vector<std::string> log_at_throw;
    try {
      co_await halt::finally(std::move(w), cleanup_fn{&log});
    } catch (const std::runtime_error& e) {
      what = e.what();
      log_at_throw = log;
    }
    CHECK(what == "work failed");
    CHECK(log_at_throw == std::vector<std::string>{"cleanup called", "cleanup start", "cleanup end"});
  });
}

TEST_CASE("finally on a cancel: losing a select runs the whole cleanup before select returns", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  halt::error_code work_saw, finally_threw;
  auto branch = [&]() -> asio::awaitable<int> {
    auto w = endless_work(log, work_saw);
    try {
      const int v = co_await halt::finally(std::move(w), cleanup_fn{&log});
      co_return v;
    } catch (const halt::system_error& e) {
      finally_threw = e.code(); // the original outcome, passed on
      throw;
    }
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = branch();
    auto b = sleep_for(10ms);
    auto r = co_await halt::select(std::move(a), std::move(b));
    CHECK(r.index() == 1);
    CHECK(work_saw == asio::error::operation_aborted);
    CHECK(finally_threw == asio::error::operation_aborted);
    CHECK(log == std::vector<std::string>{"work start", "work guard", "cleanup called", "cleanup start",
                                          "cleanup end"});
  });
}

TEST_CASE("finally on a cancel: a timeout runs the whole cleanup before it throws timed_out", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  halt::error_code work_saw;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto w = endless_work(log, work_saw);
    auto guarded = halt::finally(std::move(w), cleanup_fn{&log, 20ms});
    halt::error_code code;
    std::vector<std::string> log_at_throw;
    try {
      co_await halt::timeout(10ms, std::move(guarded));
    } catch (const halt::system_error& e) {
      code = e.code();
      log_at_throw = log;
    }
    CHECK(code == halt::errc::timed_out);
    CHECK(work_saw == asio::error::operation_aborted);
    CHECK(log_at_throw == std::vector<std::string>{"work start", "work guard", "cleanup called",
                                                   "cleanup start", "cleanup end"});
  });
}

TEST_CASE("finally on an abort: the cleanup runs fully and the task joins as cancelled", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  halt::error_code work_saw, finally_threw;
  bool after_finally = false;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto w = endless_work(log, work_saw);
    try {
      const int v = co_await halt::finally(std::move(w), cleanup_fn{&log, 20ms});
      after_finally = true;
      co_return v;
    } catch (const halt::system_error& e) {
      finally_threw = e.code();
      throw;
    }
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10'000 && log.empty(); ++i) co_await sleep_for(1ms);
    REQUIRE(log == std::vector<std::string>{"work start"});
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK_FALSE(after_finally);
    CHECK(work_saw == asio::error::operation_aborted);
    CHECK(finally_threw == asio::error::operation_aborted);
    CHECK(log == std::vector<std::string>{"work start", "work guard", "cleanup called", "cleanup start",
                                          "cleanup end"});
  });
}

TEST_CASE("finally: an abort during the cleanup is delivered at the next co_await after finally", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  int got = 0;
  bool after_next = false;
  halt::error_code next_error;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto w = value_after(1ms, 11);
    got = co_await halt::finally(std::move(w), cleanup_fn{&log, 30ms}); // work's value is kept
    try {
      co_await sleep_for(60s);
      after_next = true;
    } catch (const halt::system_error& e) {
      next_error = e.code();
      throw;
    }
    co_return got;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10'000 && log.size() < 2; ++i) co_await sleep_for(1ms);
    REQUIRE(log == std::vector<std::string>{"cleanup called", "cleanup start"});
    h.abort(); // while the cleanup's timer runs
    auto r = co_await h.join();
    CHECK(log == std::vector<std::string>{"cleanup called", "cleanup start", "cleanup end"});
    CHECK(got == 11);
    CHECK_FALSE(after_next);
    CHECK(next_error == asio::error::operation_aborted);
    CHECK(r.is_cancelled());
  });
}

TEST_CASE("finally: a cleanup that throws after work succeeded propagates, the value is destroyed", "[finally]") {
  asio::io_context io;
  std::weak_ptr<int> watch;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto work = [&]() -> asio::awaitable<std::shared_ptr<int>> {
      auto p = std::make_shared<int>(5);
      watch = p;
      co_await sleep_for(1ms);
      co_return p;
    };
    auto w = work();
    auto cleanup = [] { return throwing_cleanup_body("cleanup failed"); };
    std::string what;
    bool value_alive_at_throw = true;
    try {
      auto p = co_await halt::finally(std::move(w), cleanup);
      FAIL("finally must rethrow the cleanup's exception");
    } catch (const std::logic_error& e) {
      what = e.what();
      value_alive_at_throw = !watch.expired();
    }
    CHECK(what == "cleanup failed");
    CHECK_FALSE(value_alive_at_throw);
  });
}

TEST_CASE("finally: when work and cleanup both fail, work's exception is kept", "[finally]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto cleanup = [] { return throwing_cleanup_body("cleanup failed"); };

    std::vector<std::string> handed;
    auto on_error = [&](std::exception_ptr e) { handed.push_back(what_of(e)); };
    auto w = throw_after(1ms, "work failed");
    std::string what;
    try {
      co_await halt::finally(std::move(w), cleanup, on_error);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "work failed");
    CHECK(handed == std::vector<std::string>{"cleanup failed"});

    // Without on_cleanup_error the cleanup's exception is dropped.
    auto w2 = throw_after(1ms, "work failed again");
    std::string what2;
    try {
      co_await halt::finally(std::move(w2), cleanup);
    } catch (const std::runtime_error& e) {
      what2 = e.what();
    }
    CHECK(what2 == "work failed again");

    // on_cleanup_error is not called when the cleanup succeeds, nor when only cleanup fails.
    auto w3 = throw_after(1ms, "only work failed");
    std::vector<std::string> log;
    try {
      co_await halt::finally(std::move(w3), cleanup_fn{&log}, on_error);
    } catch (const std::runtime_error&) {
    }
    auto w4 = value_after(1ms, 1);
    try {
      co_await halt::finally(std::move(w4), cleanup, on_error);
    } catch (const std::logic_error&) {
    }
    CHECK(handed.size() == 1);
  });
}

TEST_CASE("finally: a cancelled work whose cleanup fails still reports the cancellation", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  halt::error_code work_saw, finally_threw;
  std::vector<std::string> handed;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto w = endless_work(log, work_saw);
    auto cleanup = [] { return throwing_cleanup_body("cleanup failed"); };
    auto on_error = [&](std::exception_ptr e) { handed.push_back(what_of(e)); };
    try {
      const int v = co_await halt::finally(std::move(w), cleanup, on_error);
      co_return v;
    } catch (const halt::system_error& e) {
      finally_threw = e.code();
      throw;
    }
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10'000 && log.empty(); ++i) co_await sleep_for(1ms);
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(finally_threw == asio::error::operation_aborted);
    CHECK(handed == std::vector<std::string>{"cleanup failed"});
  });
}

TEST_CASE("a non-default-constructible value through finally", "[finally]") {
  asio::io_context io;
  std::vector<std::string> log;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto a = make_no_default(6);
    const no_default v = co_await halt::finally(std::move(a), cleanup_fn{&log});
    CHECK(v.value == 6);
    CHECK(log.back() == "cleanup end");
  });
}

// ---- halt::task forms ----------------------------------------------------------------------------

namespace {
using namespace halt_test::tasks;

} // namespace

TEST_CASE("task finally: a dropped work's cleanup awaits a timer, then the drop continues", "[shield][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  bool after = false;
  auto body = [&]() -> halt::task<int> {
    halt_test::tasks::probe outer(log, "outer");
    auto f = halt::finally(logged_work(log, "work", 1h, 1), [&]() -> halt::task<void> {
      log.push_back("cleanup.start");
      co_await sleep(2ms); // an awaiting cleanup, during a drop
      log.push_back("cleanup.end");
    });
    int v = co_await std::move(f);
    after = true;
    co_return v;
  };
  asio::cancellation_signal sig;
  auto out = start(io, body(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"work.start", "~work", "cleanup.start", "cleanup.end", "~outer"});
}

TEST_CASE("task finally: cleanup runs after a value and after an exception, error rules", "[shield][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    auto cleanup = [&]() -> halt::task<void> {
      co_await sleep(1ms);
      log.push_back("cleanup");
    };
    auto f1 = halt::finally(logged_work(log, "w", 1ms, 5), cleanup);
    const int v1 = co_await std::move(f1); // (never co_await inside a Catch macro)
    CHECK(v1 == 5);
    auto failing = []() -> halt::task<int> {
      co_await sleep(1ms);
      throw std::runtime_error("work failed");
    };
    auto failing_cleanup = []() -> halt::task<void> {
      co_await sleep(1ms);
      throw std::logic_error("cleanup failed");
    };
    std::exception_ptr seen;
    auto f2 = halt::finally(failing(), failing_cleanup, [&](std::exception_ptr e) { seen = e; });
    try {
      co_await std::move(f2);
    } catch (const std::runtime_error& e) {
      log.push_back(e.what()); // the work's exception is kept
    }
    CHECK(seen);
    auto f3 = halt::finally(answer(), failing_cleanup);
    try {
      co_await std::move(f3);
    } catch (const std::logic_error& e) {
      log.push_back(e.what()); // work succeeded: the cleanup's exception propagates
    }
    auto f4 = halt::finally(answer(), [] { return halt::task<void>(); });
    try {
      co_await std::move(f4);
    } catch (const halt::system_error& e) {
      if (e.code() == halt::errc::no_state) log.push_back("empty cleanup");
    }
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"w.start", "w.end", "~w", "cleanup", "work failed", "cleanup failed",
                                        "empty cleanup"});
}

TEST_CASE("task shield: an abort waits for the shielded task, then drops the caller", "[shield][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  bool after = false;
  auto body = [&]() -> halt::task<int> {
    auto s = halt::shield(logged_work(log, "shielded", 5ms, 1));
    int v = co_await std::move(s);
    after = true;
    co_return v;
  };
  auto h = halt::spawn(io, body());
  asio::post(io, [&] { asio::post(io, [&] { h.abort(); }); });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
  });
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"shielded.start", "shielded.end", "~shielded"});
}

TEST_CASE("task shield: a shielded select loser finishes before select returns", "[shield][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    auto sel = halt::select(halt::shield(logged_work(log, "shielded", 5ms, 1)), logged_work(log, "fast", 1ms, 2));
    auto v = co_await std::move(sel);
    CHECK(v.index() == 1);
    log.push_back("select returned");
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"shielded.start", "fast.start", "fast.end", "~fast", "shielded.end",
                                        "~shielded", "select returned"});
}

TEST_CASE("task shield with a limit: timed_out once it passes, a drop waits at most that long", "[shield][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    auto s = halt::shield(logged_work(log, "long", 1h, 1), 2ms);
    try {
      co_await std::move(s);
    } catch (const halt::system_error& e) {
      if (e.code() == halt::errc::timed_out) log.push_back("timed_out");
    }
    auto quick = halt::shield(logged_work(log, "quick", 1ms, 2), 1h);
    const int q = co_await std::move(quick);
    CHECK(q == 2);
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"long.start", "~long", "timed_out", "quick.start", "quick.end", "~quick"});

  log.clear();
  bool after = false;
  auto dropped = [&]() -> halt::task<void> {
    auto s = halt::shield(logged_work(log, "stuck", 1h, 1), 5ms);
    co_await std::move(s);
    after = true;
  };
  asio::cancellation_signal sig;
  io.restart();
  auto out = start(io, dropped(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"stuck.start", "~stuck"});
}

TEST_CASE("task shield and finally: bad input", "[shield][halt_task]") {
  CHECK_THROWS_AS(halt::shield(answer(), -1ms), std::invalid_argument);
  asio::io_context io;
  auto body = [&]() -> halt::task<int> {
    int n = 0;
    auto s = halt::shield(halt::task<int>());
    try {
      co_await std::move(s);
    } catch (const halt::system_error& e) {
      n += e.code() == halt::errc::no_state;
    }
    auto f = halt::finally(halt::task<int>(), [] { return halt::task<void>(); });
    try {
      co_await std::move(f);
    } catch (const halt::system_error& e) {
      n += e.code() == halt::errc::no_state;
    }
    co_return n;
  };
  CHECK(get(run(io, body())) == 2);
}
