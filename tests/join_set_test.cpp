// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/join_set.hpp>

#include "support/catch.hpp"
#include "support/async.hpp"
#include "support/coro_kinds.hpp"
#include "support/fault_injection.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using halt_test::awaitable_kind;
using halt_test::co_t;
using halt_test::rethrow;
using halt_test::run_for;
using halt_test::run_until;
using halt_test::task_kind;

// The spawned bodies are templates on the coroutine kind (support/coro_kinds.hpp): every test
// that spawns runs once with asio::awaitable bodies and once with halt::task bodies.

template <class K>
co_t<K, int> sleep_then_return(int ms) {
  co_await halt_test::sleep_for<K>(std::chrono::milliseconds(ms));
  co_return ms;
}

template <class K>
co_t<K, int> wait_then_return(halt::cancellation_token go, int v) {
  co_await halt_test::wait_for<K>(go);
  co_return v;
}

template <class K>
co_t<K, int> yield_then_return(int v) {
  co_await halt_test::yield<K>();
  co_return v;
}

template <class K>
co_t<K, int> yield_then_throw(bool really) {
  co_await halt_test::yield<K>();
  if (really) throw std::runtime_error("boom");
  co_return 1;
}

// Counts its destruction: proves that a task's frames were unwound (or dropped).
struct guard {
  std::atomic<int>* destroyed;
  ~guard() { destroyed->fetch_add(1); }
};

// Announces that it started, then sleeps for an hour holding a guard.
template <class K>
co_t<K, int> sleep_an_hour(std::atomic<int>* started, std::atomic<int>* destroyed) {
  guard g{destroyed};
  started->fetch_add(1);
  co_await halt_test::sleep_for<K>(1h);
  co_return 0;
}

} // namespace

TEMPLATE_TEST_CASE("join_next returns results in completion order", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  for (int ms : {30, 10, 20}) set.spawn(io, sleep_then_return<TestType>(ms));
  CHECK(set.size() == 3);
  std::vector<int> order;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    while (auto r = co_await set.join_next()) order.push_back(r->value());
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return done; });
  CHECK(order == std::vector<int>{10, 20, 30});
  CHECK(set.empty());
}

TEMPLATE_TEST_CASE("join_next on an empty set returns nullopt at once", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  int calls = 0;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    auto r = co_await set.join_next();
    CHECK_FALSE(r);
    ++calls;
    // Also after the set held a task that was joined.
    auto ex = co_await asio::this_coro::executor;
    set.spawn(ex, yield_then_return<TestType>(5));
    auto v = co_await set.join_next();
    REQUIRE(v);
    CHECK(v->value() == 5);
    CHECK_FALSE(co_await set.join_next());
    ++calls;
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return done; });
  CHECK(calls == 2);
  CHECK_FALSE(set.try_join_next());
}

TEMPLATE_TEST_CASE("try_join_next returns a finished result without waiting", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  CHECK_FALSE(set.try_join_next()); // empty
  auto quick = set.spawn(io, yield_then_return<TestType>(7));
  halt::cancellation_token go;
  auto slow = set.spawn(io, wait_then_return<TestType>(go, 8));
  CHECK_FALSE(set.try_join_next()); // spawned, not run yet: spawn never runs a task inline
  CHECK_FALSE(quick.is_finished());
  run_until(io, [&] { return quick.is_finished(); });
  auto r = set.try_join_next();
  REQUIRE(r);
  CHECK(r->value() == 7);
  CHECK(set.size() == 1);
  CHECK_FALSE(set.try_join_next()); // `slow` is still waiting: no result, and no blocking
  CHECK(set.size() == 1);
  go.cancel();
  run_until(io, [&] { return slow.is_finished(); });
  r = set.try_join_next();
  REQUIRE(r);
  CHECK(r->value() == 8);
  CHECK(set.empty());
  CHECK_FALSE(set.try_join_next());
}

TEMPLATE_TEST_CASE("size() counts running and finished-but-unjoined tasks", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  CHECK(set.size() == 0);
  CHECK(set.empty());
  halt::cancellation_token go;
  auto gated = set.spawn(io, wait_then_return<TestType>(go, 1));
  auto quick = set.spawn(io, yield_then_return<TestType>(2));
  CHECK(set.size() == 2);
  CHECK_FALSE(set.empty());
  run_until(io, [&] { return quick.is_finished(); });
  CHECK(set.size() == 2); // finished but not joined yet
  REQUIRE(set.try_join_next());
  CHECK(set.size() == 1);
  go.cancel();
  run_until(io, [&] { return gated.is_finished(); });
  CHECK(set.size() == 1);
  REQUIRE(set.try_join_next());
  CHECK(set.size() == 0);
  CHECK(set.empty());
}

TEMPLATE_TEST_CASE("abort_all cancels pending tasks and unwinds their frames", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  std::atomic<int> started{0}, destroyed{0};
  for (int i = 0; i < 5; ++i) set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed));
  run_until(io, [&] { return started == 5; }); // all suspended on their hour-long timers
  CHECK(destroyed == 0);
  set.abort_all();
  int cancelled = 0, joined = 0;
  bool guards_ran_before_join = true;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    while (auto r = co_await set.join_next()) {
      ++joined;
      if (r->is_cancelled()) ++cancelled;
      if (destroyed < joined) guards_ran_before_join = false;
    }
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  const auto start = std::chrono::steady_clock::now();
  run_until(io, [&] { return done; });
  CHECK(std::chrono::steady_clock::now() - start < 10s); // nobody waited for an hour
  CHECK(joined == 5);
  CHECK(cancelled == 5);
  CHECK(destroyed == 5);
  CHECK(guards_ran_before_join); // a result is reported only after the task's frames are gone
  CHECK(set.empty());
}

TEMPLATE_TEST_CASE("abort_all before tasks start: they never run and report cancelled", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  std::atomic<int> started{0}, destroyed{0};
  for (int i = 0; i < 3; ++i) set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed));
  set.abort_all();
  int joined = 0, cancelled = 0;
  run_until(io, [&] {
    while (auto r = set.try_join_next()) {
      ++joined;
      if (r->is_cancelled()) ++cancelled;
    }
    return joined == 3;
  });
  CHECK(cancelled == 3);
  CHECK(set.empty());
  CHECK(started == 0);   // no body ran
  CHECK(destroyed == 0); // so no guard was ever constructed
}

TEMPLATE_TEST_CASE("aborting one task through its abort_handle leaves the others alone", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  std::atomic<int> started{0}, destroyed{0};
  set.spawn(io, yield_then_return<TestType>(1));
  halt::abort_handle sleeper = set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed));
  set.spawn(io, yield_then_return<TestType>(2));
  run_until(io, [&] { return started == 1; });
  CHECK_FALSE(sleeper.is_finished());
  sleeper.abort();
  std::vector<int> values;
  int cancelled = 0;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    while (auto r = co_await set.join_next()) {
      if (r->is_cancelled())
        ++cancelled;
      else
        values.push_back(r->value());
    }
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return done; });
  CHECK(cancelled == 1);
  CHECK(values == std::vector<int>{1, 2});
  CHECK(destroyed == 1);
  CHECK(sleeper.is_finished());
}

TEMPLATE_TEST_CASE("shutdown() aborts, drains and leaves the set empty", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  std::atomic<int> started{0}, destroyed{0};
  for (int i = 0; i < 3; ++i) set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed));
  auto quick = set.spawn(io, yield_then_return<TestType>(4));
  run_until(io, [&] { return started == 3 && quick.is_finished(); });
  CHECK(set.size() == 4);
  bool done = false;
  auto closer = [&]() -> asio::awaitable<void> {
    co_await set.shutdown();
    CHECK(set.empty());
    CHECK(destroyed == 3);
    CHECK_FALSE(co_await set.join_next());
    done = true;
  };
  asio::co_spawn(io, closer, rethrow{});
  run_until(io, [&] { return done; });
  CHECK(set.empty());
  CHECK(set.size() == 0);
  CHECK_FALSE(set.try_join_next());
}

TEMPLATE_TEST_CASE("a task that throws reports is_exception", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  set.spawn(io, yield_then_throw<TestType>(true));
  std::optional<halt::join_result<int>> got;
  auto joiner = [&]() -> asio::awaitable<void> {
    auto r = co_await set.join_next();
    REQUIRE(r);
    got.emplace(std::move(*r));
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return got.has_value(); });
  CHECK(got->is_exception());
  CHECK_FALSE(got->is_cancelled());
  CHECK_FALSE(got->has_value());
  CHECK_THROWS_AS(got->value(), halt::join_error);
  CHECK_THROWS_WITH(std::rethrow_exception(got->exception()), "boom");
  CHECK(set.empty());
}

TEMPLATE_TEST_CASE("join_set<void> joins void tasks", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<void> set;
  std::atomic<int> ran{0};
  auto body = [&ran]() -> co_t<TestType> {
    co_await halt_test::yield<TestType>();
    ++ran;
  };
  for (int i = 0; i < 3; ++i) set.spawn(io, body);
  int values = 0;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    while (auto r = co_await set.join_next()) {
      if (r->has_value()) ++values;
    }
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return done; });
  CHECK(ran == 3);
  CHECK(values == 3);
}

TEMPLATE_TEST_CASE("join_set works with a move-only result type", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<std::unique_ptr<int>> set;
  auto body = [p = std::make_unique<int>(6)]() mutable -> co_t<TestType, std::unique_ptr<int>> {
    co_await halt_test::yield<TestType>();
    co_return std::move(p);
  };
  set.spawn(io, std::move(body));
  std::unique_ptr<int> got;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    auto r = co_await set.join_next();
    REQUIRE(r);
    got = std::move(*r).value();
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return done; });
  REQUIRE(got);
  CHECK(*got == 6);
}

TEMPLATE_TEST_CASE("destroying a join_set aborts its tasks without waiting for them", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  std::atomic<int> started{0}, destroyed{0};
  auto owned = std::make_shared<int>(0);
  halt::abort_handle h;
  {
    halt::join_set<int> set;
    for (int i = 0; i < 3; ++i) {
      auto body = [&started, &destroyed, owned]() -> co_t<TestType, int> {
        return sleep_an_hour<TestType>(&started, &destroyed);
      };
      h = set.spawn(io, body);
    }
    run_until(io, [&] { return started == 3; });
    CHECK(owned.use_count() == 4);
  } // ~join_set runs on the only thread that runs `io`: had it waited, it would never return
  CHECK(destroyed == 0);
  CHECK_FALSE(h.is_finished());
  run_until(io, [&] { return destroyed == 3; });
  run_until(io, [&] { return h.is_finished() && owned.use_count() == 1; });
  CHECK(owned.use_count() == 1); // the callables went with the tasks; the set's state was freed
}

TEMPLATE_TEST_CASE("tasks of a destroyed io_context report cancelled", "[join_set]", awaitable_kind, task_kind) {
  halt::join_set<int> set;
  std::atomic<int> started{0}, destroyed{0};
  {
    asio::io_context io;
    set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed));
    set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed));
    run_until(io, [&] { return started == 2; });
    set.spawn(io, sleep_an_hour<TestType>(&started, &destroyed)); // never started
  }
  CHECK(destroyed == 2);
  CHECK(set.size() == 3);
  int cancelled = 0;
  while (auto r = set.try_join_next()) {
    if (r->is_cancelled()) ++cancelled;
  }
  CHECK(cancelled == 3);
  CHECK(set.empty());
  CHECK(started == 2);
}

TEMPLATE_TEST_CASE("join_next raced against a timer removes nothing, and a later join gets the result", "[join_set]", awaitable_kind, task_kind) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  halt::join_set<int> set;
  halt::cancellation_token go;
  auto task = set.spawn(io, wait_then_return<TestType>(go, 42));
  std::size_t winner = 99;
  std::size_t size_after_race = 99;
  std::optional<int> later;
  auto joiner = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
    auto r = co_await (set.join_next() || timer.async_wait(asio::use_awaitable));
    winner = r.index();
    size_after_race = set.size();
    go.cancel();
    auto again = co_await set.join_next();
    REQUIRE(again);
    later = again->value();
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return later.has_value(); });
  CHECK(winner == 1);
  CHECK(size_after_race == 1);
  CHECK(*later == 42);
  CHECK(set.empty());
}

TEMPLATE_TEST_CASE("join_next cancelled through its slot removes nothing", "[join_set]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::join_set<int> set;
  halt::cancellation_token go;
  auto task = set.spawn(io, wait_then_return<TestType>(go, 42));
  asio::cancellation_signal sig;
  std::exception_ptr error;
  bool first_done = false;
  auto first = [&]() -> asio::awaitable<void> { (void)co_await set.join_next(); };
  asio::co_spawn(io, first, asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr e) {
                   error = e;
                   first_done = true;
                 }));
  run_for(io, 10ms);
  CHECK_FALSE(first_done); // the join is pending
  sig.emit(asio::cancellation_type::terminal); // on the thread that runs `io`, while it is idle
  run_until(io, [&] { return first_done; });
  REQUIRE(error);
  try {
    std::rethrow_exception(error);
  } catch (const halt::system_error& e) {
    CHECK(e.code() == asio::error::operation_aborted);
  }
  CHECK(set.size() == 1);
  CHECK_FALSE(task.is_finished()); // cancelling the join does not cancel the task
  // The task finishes; nobody is joining. The result stays in the set.
  go.cancel();
  run_until(io, [&] { return task.is_finished(); });
  std::optional<int> later;
  auto second = [&]() -> asio::awaitable<void> {
    auto r = co_await set.join_next();
    REQUIRE(r);
    later = r->value();
  };
  asio::co_spawn(io, second, rethrow{});
  run_until(io, [&] { return later.has_value(); });
  CHECK(*later == 42);
  CHECK(set.empty());
}

TEMPLATE_TEST_CASE("1000 tasks on a 4-thread pool, spawned from two threads, are each joined once", "[join_set][race]", awaitable_kind, task_kind) {
  constexpr int n = 1000;
  asio::thread_pool pool(4);
  halt::join_set<int> set;
  const auto main_id = std::this_thread::get_id();
  std::atomic<int> on_main{0};
  auto spawn_range = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      auto body = [i, &on_main, main_id]() -> co_t<TestType, int> {
        if (std::this_thread::get_id() == main_id) ++on_main;
        co_await halt_test::yield<TestType>();
        co_return i;
      };
      set.spawn(pool, body);
    }
  };
  std::thread other([&] { spawn_range(0, n / 2); });
  spawn_range(n / 2, n);
  other.join();
  CHECK(set.size() == static_cast<std::size_t>(n));

  asio::io_context io;
  std::vector<int> seen(n, 0);
  int joined = 0, bad = 0;
  bool done = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    while (auto r = co_await set.join_next()) {
      if (r->has_value() && r->value() >= 0 && r->value() < n)
        ++seen[r->value()];
      else
        ++bad;
      ++joined;
    }
    done = true;
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return done; }, 60s);
  CHECK(joined == n);
  CHECK(bad == 0);
  int once = 0;
  for (int c : seen) once += (c == 1);
  CHECK(once == n);
  CHECK(on_main == 0);
  CHECK(set.empty());
  pool.join();
}

TEMPLATE_TEST_CASE("spawn() that throws adds nothing, so join_next() and shutdown() are not held up "
          "(fault injection over N)", "[join_set][issue10]", awaitable_kind, task_kind) {
  namespace fault = halt_test::fault;
  int faults = 0;
  for (long n = 1;; ++n) {
    asio::io_context io;
    halt::join_set<int> set;
    auto ex = fault::faulty_strand(io);
    auto body = fault::throwing_copy([]() -> co_t<TestType, int> { co_return 7; });
    bool spawned = false;
    fault::arm(n);
    try {
      set.spawn(ex, body); // an lvalue body: copied
      spawned = true;
    } catch (const std::bad_alloc&) {
    }
    const bool injected = fault::disarm();
    if (injected) ++faults;
    CHECK(set.size() == (spawned ? 1u : 0u));
    // The set still works: a task spawned now is joined (after the failed one's wake-up, if any).
    set.spawn(io, []() -> co_t<TestType, int> { co_return 8; });
    std::vector<int> got;
    bool done = false;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      while (auto r = co_await set.join_next()) got.push_back(r->value());
      co_await set.shutdown();
      done = true;
    }, rethrow{});
    run_until(io, [&] { return done; }); // fails instead of hanging
    CHECK(got.size() == (spawned ? 2u : 1u));
    CHECK(set.empty());
    if (!injected) break;
  }
  CHECK(faults > 3);
}
