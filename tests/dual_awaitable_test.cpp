// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/dual_awaitable.hpp>
#include <halt/join_handle.hpp>
#include <halt/join_set.hpp>
#include <halt/select.hpp>
#include <halt/sleep.hpp>
#include <halt/task_tracker.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using halt_test::run_main;
using namespace halt_test::tasks;

namespace {

// The two forms of one wait, each logging that it ran and how it ended.
asio::awaitable<int> awaitable_form(std::vector<std::string>& log, probe p) {
  (void)p;
  log.push_back("awaitable.ran");
  co_return 1;
}
halt::task<int> task_form(std::vector<std::string>& log, probe p) {
  (void)p;
  log.push_back("task.ran");
  co_return 2;
}
halt::dual_awaitable<int> both(std::vector<std::string>& log) {
  return {awaitable_form(log, probe(log, "awaitable")), task_form(log, probe(log, "task"))};
}

} // namespace

static_assert(std::is_base_of_v<asio::awaitable<int>, halt::dual_awaitable<int>>);
static_assert(std::is_same_v<halt::join_awaitable<int>, decltype(std::declval<halt::join_handle<int>&>().join())>);

TEST_CASE("a dual_awaitable runs its task form in a halt::task and its awaitable form in an awaitable",
          "[dual_awaitable]") {
  asio::io_context io;
  std::vector<std::string> log;
  SECTION("awaited in a halt::task: the task form runs, the awaitable form is destroyed unstarted") {
    auto body = [&]() -> halt::task<int> {
      auto d = both(log);
      int v = co_await std::move(d);
      co_return v;
    };
    CHECK(get(run(io, body())) == 2);
    CHECK(log == std::vector<std::string>{"~awaitable", "task.ran", "~task"});
  }
  SECTION("awaited in an asio::awaitable: the awaitable form runs, the task form is destroyed unstarted") {
    int v = 0;
    run_main(io, [&]() -> asio::awaitable<void> {
      auto d = both(log);
      v = co_await std::move(d);
    });
    CHECK(v == 1);
    REQUIRE(log.size() == 3);
    CHECK(log[0] == "awaitable.ran"); // the task form goes with the dual_awaitable, later
    CHECK(std::count(log.begin(), log.end(), "~task") == 1);
    CHECK(std::count(log.begin(), log.end(), "~awaitable") == 1);
  }
  SECTION("stored as a plain asio::awaitable (sliced): the awaitable form") {
    int v = 0;
    run_main(io, [&]() -> asio::awaitable<void> {
      asio::awaitable<int> a = both(log);
      v = co_await std::move(a);
    });
    CHECK(v == 1);
    CHECK(std::count(log.begin(), log.end(), "task.ran") == 0);
  }
  SECTION("as_task(): the task form as a halt::task, raced in a task select") {
    auto body = [&]() -> halt::task<std::size_t> {
      auto t = both(log).as_task();
      auto s = halt::select(std::move(t), sleep(1h));
      auto r = co_await std::move(s);
      co_return r.index();
    };
    CHECK(get(run(io, body())) == 0);
    CHECK(std::count(log.begin(), log.end(), "task.ran") == 1);
    CHECK(std::count(log.begin(), log.end(), "awaitable.ran") == 0);
  }
}

TEST_CASE("dual_awaitable bad input: a second in_task() or as_task() throws no_state", "[dual_awaitable]") {
  std::vector<std::string> log;
  auto d = both(log);
  auto t = std::move(d).as_task();
  CHECK(t.valid());
  try {
    auto again = std::move(d).as_task();
    FAIL("no exception");
  } catch (const halt::system_error& e) {
    CHECK(e.code() == halt::errc::no_state);
  }
  CHECK_THROWS_AS(std::move(d).in_task(), halt::system_error);
}

TEST_CASE("join_set and task_tracker waits inside a halt::task", "[dual_awaitable][join_set][task_tracker]") {
  asio::io_context io;
  halt::join_set<int> set;
  halt::task_tracker tracker;
  auto value = [](int v, std::chrono::milliseconds d) -> halt::task<int> {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(halt::use_task);
    co_return v;
  };
  set.spawn(io, value(1, 5ms));
  set.spawn(io, value(2, 1ms));
  set.spawn(io, value(3, 1h)); // aborted by shutdown()
  auto tracked = tracker.spawn(io, value(4, 2ms));
  tracker.close();
  auto body = [&]() -> halt::task<std::vector<int>> {
    std::vector<int> got;
    for (int i = 0; i < 2; ++i) {
      auto next = set.join_next();
      auto r = co_await std::move(next);
      if (r && r->has_value()) got.push_back(r->value());
    }
    auto down = set.shutdown(); // aborts the pending one, drains
    co_await std::move(down);
    auto idle = tracker.wait();
    co_await std::move(idle);
    auto last = set.join_next(); // empty now
    auto none = co_await std::move(last);
    got.push_back(none ? -1 : 0);
    co_return got;
  };
  auto got = get(run(io, body()));
  CHECK(got == std::vector<int>{2, 1, 0});
  CHECK(set.empty());
  CHECK(tracker.size() == 0);
  CHECK(tracked.is_finished());
}

TEST_CASE("a halt::task dropped while it awaits join_next() or wait() leaves the set and tracker usable",
          "[dual_awaitable][join_set][task_tracker]") {
  asio::io_context io;
  halt::join_set<int> set;
  halt::task_tracker tracker;
  set.spawn(io, []() -> halt::task<int> {
    co_await sleep(20ms);
    co_return 5;
  });
  auto tracked = tracker.spawn(io, []() -> halt::task<void> { co_await sleep(20ms); });
  auto next = set.join_next();
  auto wait = tracker.wait();
  auto race = [&]() -> halt::task<std::size_t> {
    auto s = halt::select(std::move(next), std::move(wait), sleep(1ms));
    auto r = co_await std::move(s);
    co_return r.index();
  };
  CHECK(get(run(io, race())) == 2); // both waits dropped, nothing taken
  CHECK(set.size() == 1);
  tracker.close();
  std::optional<int> joined;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await set.join_next();
    if (r) joined = r->value();
    co_await tracker.wait();
  });
  CHECK(joined == 5);
  CHECK(tracked.is_finished());
}

TEST_CASE("join() of a dual_awaitable kind races in an awaitable select and spawns as a task",
          "[dual_awaitable]") {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> halt::task<int> {
    co_await sleep(1ms);
    co_return 9;
  });
  // An awaitable select takes join() as an asio::awaitable branch, as before join() returned a
  // dual_awaitable.
  int v = 0;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto timer = halt::sleep_for(1h);
    auto r = co_await halt::select(h.join(), std::move(timer));
    REQUIRE(r.index() == 0);
    v = std::get<0>(r).value();
  });
  CHECK(v == 9);
  // halt::spawn of a dual_awaitable spawns its task form (the join operation, no co_spawn).
  auto h2 = halt::spawn(io, []() -> halt::task<int> { co_return 3; });
  auto joiner = halt::spawn(io, h2.join());
  std::optional<int> inner;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await joiner.join();
    inner = r.value().value();
  });
  CHECK(inner == 3);
}

// ---- review of the dual_awaitable changes (bad input: moved-from duals) -----------------------

// dual_awaitable.hpp promises no_state for in_task()/as_task() of a moved-from dual. A defaulted
// move constructor left the source's std::optional<TaskForm> engaged (holding a moved-from form),
// so take() did not see it as empty. For join_awaitable the form is a join_form whose shared_ptr
// was then null: in_task() returned an operation that, once awaited, dereferenced that null
// state (initiate_join: `auto& task = *st;`). These failed before the move constructor reset
// the source.
TEST_CASE("review: in_task() and as_task() of a moved-from join_awaitable throw no_state", "[dual_awaitable][review]") {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> halt::task<int> { co_return 1; });
  auto d = h.join();
  auto moved = std::move(d);
  bool threw = false;
  try {
    auto op = std::move(d).in_task(); // must not be awaited: its state is null
    (void)op;
  } catch (const halt::system_error& e) {
    threw = e.code() == halt::errc::no_state;
  }
  CHECK(threw);
  auto d2 = h.join();
  auto moved2 = std::move(d2);
  threw = false;
  try {
    auto t = std::move(d2).as_task(); // a task that would join a null state
    (void)t;
  } catch (const halt::system_error& e) {
    threw = e.code() == halt::errc::no_state;
  }
  CHECK(threw);
  // Spawning a moved-from one is spawning an empty task: no_state from the call.
  auto d3 = h.join();
  auto moved3 = std::move(d3);
  threw = false;
  try {
    auto j = halt::spawn(io, std::move(d3));
    (void)j;
  } catch (const halt::system_error& e) {
    threw = e.code() == halt::errc::no_state;
  }
  CHECK(threw);
  io.run();
}

TEST_CASE("review: as_task() of a moved-from task-form dual throws no_state", "[dual_awaitable][review]") {
  std::vector<std::string> log;
  auto d = both(log);
  auto moved = std::move(d);
  bool threw = false;
  try {
    auto t = std::move(d).as_task();
    (void)t;
  } catch (const halt::system_error& e) {
    threw = e.code() == halt::errc::no_state;
  }
  CHECK(threw);
}

// The documented form (README, docs/02-tasks.md): `co_await h.join()` etc. inside a halt::task,
// without naming the dual_awaitable first (g++ 12's co_await temporaries).
TEST_CASE("review: unnamed co_await of join(), join_next(), wait() and cancel_and_join() inside a halt::task",
          "[dual_awaitable][review]") {
  asio::io_context io;
  halt::join_set<int> set;
  halt::task_tracker tracker;
  set.spawn(io, []() -> halt::task<int> { co_return 4; });
  auto tracked = tracker.spawn(io, []() -> halt::task<void> { co_return; });
  auto h = halt::spawn(io, []() -> halt::task<int> {
    co_await sleep(1ms);
    co_return 7;
  });
  auto pending = halt::spawn(io, []() -> halt::task<int> {
    co_await sleep(1h);
    co_return 0;
  });
  auto body = [&]() -> halt::task<int> {
    auto r = co_await h.join();
    auto n = co_await set.join_next();
    tracker.close();
    co_await tracker.wait();
    auto c = co_await pending.cancel_and_join();
    co_await set.shutdown();
    co_return r.value() + (n ? n->value() : 100) + (c.is_cancelled() ? 1000 : 0);
  };
  CHECK(get(run(io, body())) == 1011);
}

// Crashed (UBSan: a reference bound to a null task state, initiate_join) before the fix above.
TEST_CASE("review: co_await of a moved-from join_awaitable inside a halt::task throws no_state",
          "[dual_awaitable][review]") {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> halt::task<int> { co_return 1; });
  auto d = h.join();
  auto moved = std::move(d);
  (void)moved;
  auto body = [&]() -> halt::task<bool> {
    try {
      auto r = co_await std::move(d);
      (void)r;
    } catch (const halt::system_error& e) {
      co_return e.code() == halt::errc::no_state;
    }
    co_return false;
  };
  CHECK(get(run(io, body())));
}
