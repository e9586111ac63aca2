// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/task_tracker.hpp>

#include "support/catch.hpp"
#include "support/async.hpp"
#include "support/coro_kinds.hpp"
#include "support/fault_injection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

using namespace std::chrono_literals;

namespace {

using halt_test::awaitable_kind;
using halt_test::co_t;
using halt_test::rethrow;
using halt_test::run_for;
using halt_test::run_until;
using halt_test::task_kind;
using halt_test::wait_for;

// The error code of the halt::system_error that f() throws; empty if it throws nothing.
template <class F>
halt::error_code error_of(F f) {
  try {
    f();
  } catch (const halt::system_error& e) {
    return e.code();
  }
  return {};
}

// The bodies are templates on the coroutine kind (support/coro_kinds.hpp): the tests that spawn
// run once with asio::awaitable bodies and once with halt::task bodies. track() takes an
// asio::awaitable only: its tests use the awaitable_kind bodies.

template <class K>
co_t<K, int> wait_then_add_one(halt::cancellation_token go, int v) {
  co_await wait_for<K>(go);
  co_return v + 1;
}

template <class K>
co_t<K, int> yield_then_throw(bool really) {
  co_await halt_test::yield<K>();
  if (really) throw std::runtime_error("boom");
  co_return 1;
}

// Holds `owned` in its frame; never meant to run.
template <class K>
co_t<K, int> holds(std::shared_ptr<int> owned) {
  co_return *owned;
}

// A coroutine body for co_spawn: co_await tracker->wait(), then set *done.
struct waiter {
  halt::task_tracker* tracker;
  bool* done;
  asio::awaitable<void> operator()() const {
    co_await tracker->wait();
    *done = true;
  }
};

} // namespace

TEMPLATE_TEST_CASE("wait() completes only once the tracker is closed and empty", "[task_tracker]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::task_tracker tracker;
  halt::cancellation_token go;
  auto h = tracker.spawn(io, wait_for<TestType>(go));
  bool waited = false;
  asio::co_spawn(io, waiter{&tracker, &waited}, rethrow{});
  run_for(io, 20ms);
  CHECK_FALSE(waited); // open, one task
  CHECK(tracker.close());
  run_for(io, 20ms);
  CHECK_FALSE(waited); // closed, one task
  CHECK(tracker.size() == 1);
  go.cancel();
  run_until(io, [&] { return waited; });
  CHECK(h.is_finished());
  CHECK(tracker.size() == 0);
}

TEST_CASE("wait() on an open, empty tracker waits for close()", "[task_tracker]") {
  asio::io_context io;
  halt::task_tracker tracker;
  bool waited = false;
  asio::co_spawn(io, waiter{&tracker, &waited}, rethrow{});
  run_for(io, 20ms);
  CHECK_FALSE(waited); // empty, but open
  CHECK(tracker.close());
  run_until(io, [&] { return waited; });
  // Closed and empty: a new wait completes at once.
  bool again = false;
  asio::co_spawn(io, waiter{&tracker, &again}, rethrow{});
  run_until(io, [&] { return again; });
}

TEMPLATE_TEST_CASE("spawn() and track() after close() throw errc::closed and track nothing", "[task_tracker]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::task_tracker tracker;
  CHECK(tracker.close());
  auto owned = std::make_shared<int>(1);
  CHECK(error_of([&] { (void)tracker.spawn(io, holds<TestType>(owned)); }) == halt::errc::closed);
  auto body = [owned]() -> co_t<TestType, int> { return holds<TestType>(owned); };
  CHECK(error_of([&] { (void)tracker.spawn(io, body); }) == halt::errc::closed);
  // track() takes an asio::awaitable only.
  CHECK(error_of([&] { (void)tracker.track(holds<awaitable_kind>(owned)); }) == halt::errc::closed);
  CHECK(tracker.size() == 0);
  run_for(io, 5ms);
  CHECK(owned.use_count() == 2); // ours and `body`'s: the refused work was destroyed, not queued
  CHECK_THROWS_AS((void)tracker.spawn(io, holds<TestType>(owned)), halt::system_error);
}

TEST_CASE("close() and reopen() report whether they changed the state", "[task_tracker]") {
  halt::task_tracker tracker;
  CHECK_FALSE(tracker.is_closed());
  CHECK_FALSE(tracker.reopen()); // already open
  CHECK(tracker.close());
  CHECK(tracker.is_closed());
  CHECK_FALSE(tracker.close()); // already closed
  CHECK(tracker.is_closed());
  CHECK(tracker.reopen());
  CHECK_FALSE(tracker.is_closed());
  CHECK_FALSE(tracker.reopen());
  CHECK(tracker.close());
}

TEMPLATE_TEST_CASE("reopen() allows spawning again, and wait() waits again", "[task_tracker]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::task_tracker tracker;
  CHECK(tracker.close());
  bool first = false;
  asio::co_spawn(io, waiter{&tracker, &first}, rethrow{});
  run_until(io, [&] { return first; }); // closed and empty

  CHECK(tracker.reopen());
  halt::cancellation_token go;
  auto h = tracker.spawn(io, wait_then_add_one<TestType>(go, 1)); // does not throw any more
  CHECK(tracker.size() == 1);
  bool second = false;
  asio::co_spawn(io, waiter{&tracker, &second}, rethrow{});
  run_for(io, 20ms);
  CHECK_FALSE(second); // open again: the earlier idle state does not count
  CHECK(tracker.close());
  run_for(io, 20ms);
  CHECK_FALSE(second); // closed, but the task still runs
  go.cancel();
  run_until(io, [&] { return second; });
  CHECK(h.is_finished());

  // reopen() while a task is running and a wait is pending: the task ending while open does not
  // complete the wait; the next close() does.
  CHECK(tracker.reopen());
  halt::cancellation_token go2;
  auto h2 = tracker.spawn(io, wait_for<TestType>(go2));
  CHECK(tracker.close());
  bool third = false;
  asio::co_spawn(io, waiter{&tracker, &third}, rethrow{});
  run_for(io, 10ms);
  CHECK(tracker.reopen());
  go2.cancel();
  run_until(io, [&] { return h2.is_finished(); });
  run_for(io, 20ms);
  CHECK_FALSE(third); // empty, but open
  CHECK(tracker.close());
  run_until(io, [&] { return third; });
}

TEMPLATE_TEST_CASE("size() counts spawned tasks until they finish", "[task_tracker]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::task_tracker tracker;
  CHECK(tracker.size() == 0);
  halt::cancellation_token a, b;
  auto ha = tracker.spawn(io, wait_then_add_one<TestType>(a, 1));
  auto hb = tracker.spawn(io, wait_then_add_one<TestType>(b, 2));
  CHECK(tracker.size() == 2); // counted from spawn(), before they run
  run_for(io, 10ms);
  CHECK(tracker.size() == 2);
  a.cancel();
  run_until(io, [&] { return ha.is_finished(); });
  CHECK(tracker.size() == 1);
  hb.abort(); // an aborted task leaves the count too
  run_until(io, [&] { return hb.is_finished(); });
  CHECK(tracker.size() == 0);

  std::optional<halt::join_result<int>> ra, rb;
  auto joiner = [&]() -> asio::awaitable<void> {
    ra.emplace(co_await ha.join());
    rb.emplace(co_await hb.join());
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return rb.has_value(); });
  CHECK(ra->value() == 2);
  CHECK(rb->is_cancelled());
}

TEST_CASE("track() counts an awaitable while it runs", "[task_tracker]") {
  asio::io_context io;
  halt::task_tracker tracker;
  halt::cancellation_token go;
  auto aw = tracker.track(wait_then_add_one<awaitable_kind>(go, 41));
  CHECK(tracker.size() == 1); // counted from track()
  std::optional<int> out;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, int v) {
    if (e) std::rethrow_exception(e);
    out = v;
  });
  run_for(io, 10ms);
  CHECK(tracker.size() == 1);
  CHECK(tracker.close());
  bool waited = false;
  asio::co_spawn(io, waiter{&tracker, &waited}, rethrow{});
  run_for(io, 10ms);
  CHECK_FALSE(waited);
  go.cancel();
  run_until(io, [&] { return waited; });
  REQUIRE(out);
  CHECK(*out == 42);
  CHECK(tracker.size() == 0);
}

TEST_CASE("track(): an awaitable destroyed without running is no longer counted", "[task_tracker]") {
  asio::io_context io;
  halt::task_tracker tracker;
  auto owned = std::make_shared<int>(3);
  std::optional<asio::awaitable<int>> aw;
  aw.emplace(tracker.track(holds<awaitable_kind>(owned)));
  CHECK(tracker.size() == 1);
  CHECK(tracker.close());
  bool waited = false;
  asio::co_spawn(io, waiter{&tracker, &waited}, rethrow{});
  run_for(io, 10ms);
  CHECK_FALSE(waited); // the unrun awaitable still counts
  aw.reset();
  CHECK(tracker.size() == 0);
  CHECK(owned.use_count() == 1);
  run_until(io, [&] { return waited; });
}

TEST_CASE("track(): an awaitable that throws is no longer counted", "[task_tracker]") {
  asio::io_context io;
  halt::task_tracker tracker;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, tracker.track(yield_then_throw<awaitable_kind>(true)), [&](std::exception_ptr e, int) {
    error = e;
    done = true;
  });
  CHECK(tracker.size() == 1);
  run_until(io, [&] { return done; });
  REQUIRE(error);
  CHECK_THROWS_WITH(std::rethrow_exception(error), "boom");
  CHECK(tracker.size() == 0);
}

TEST_CASE("track(): an awaitable destroyed mid-run with its io_context is no longer counted", "[task_tracker]") {
  halt::task_tracker tracker;
  halt::cancellation_token never;
  {
    asio::io_context io;
    asio::co_spawn(io, tracker.track(wait_for<awaitable_kind>(never)), asio::detached);
    run_for(io, 10ms);
    CHECK(tracker.size() == 1);
  }
  CHECK(tracker.size() == 0);
}

TEMPLATE_TEST_CASE("spawn() returns a join_handle for the task's value", "[task_tracker]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::task_tracker tracker;
  halt::cancellation_token go;
  go.cancel();
  auto h = tracker.spawn(io, wait_then_add_one<TestType>(go, 9));
  std::optional<halt::join_result<int>> r;
  auto joiner = [&]() -> asio::awaitable<void> { r.emplace(co_await h.join()); };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return r.has_value(); });
  CHECK(r->value() == 10);
  CHECK(tracker.size() == 0);
}

TEMPLATE_TEST_CASE("destroying the tracker neither aborts nor waits for its tasks", "[task_tracker]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::cancellation_token go;
  halt::join_handle<int> h;
  {
    halt::task_tracker tracker;
    h = tracker.spawn(io, wait_then_add_one<TestType>(go, 1));
    run_for(io, 5ms);
  }
  run_for(io, 10ms);
  CHECK_FALSE(h.is_finished()); // not aborted
  go.cancel();
  std::optional<halt::join_result<int>> r;
  auto joiner = [&]() -> asio::awaitable<void> { r.emplace(co_await h.join()); };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return r.has_value(); });
  CHECK(r->value() == 2);
}

namespace {

// Counts itself live while its frame exists.
struct live_guard {
  std::atomic<int>* live;
  explicit live_guard(std::atomic<int>* l) : live(l) { live->fetch_add(1); }
  live_guard(const live_guard&) = delete;
  live_guard& operator=(const live_guard&) = delete;
  ~live_guard() { live->fetch_sub(1); }
};

template <class K>
co_t<K> short_task(std::atomic<int>* live, std::atomic<int>* finished) {
  live_guard g(live);
  co_await halt_test::yield<K>();
  finished->fetch_add(1);
}

} // namespace

TEMPLATE_TEST_CASE("close() racing spawn(): every spawn fails with closed or is waited for", "[task_tracker][race]", awaitable_kind, task_kind) {
  asio::thread_pool pool(2);
  int raced = 0; // repetitions where some spawns succeeded and a later one was refused
  for (int rep = 0; rep < 500; ++rep) {
    halt::task_tracker tracker;
    std::atomic<int> spawned{0}, refused{0}, wrong_error{0}, finished{0}, live{0};
    std::atomic<int> finished_at_wait{-1}, live_at_wait{-1}, size_at_wait{-1};
    auto wait_then_snapshot = [&]() -> asio::awaitable<void> {
      co_await tracker.wait();
      live_at_wait = live.load();
      finished_at_wait = finished.load();
      size_at_wait = static_cast<int>(tracker.size());
    };
    std::future<void> waited = asio::co_spawn(pool, wait_then_snapshot, asio::use_future);

    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::thread spawner([&] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < 64; ++k) {
        try {
          auto h = tracker.spawn(pool, short_task<TestType>(&live, &finished));
          ++spawned;
        } catch (const halt::system_error& e) {
          if (e.code() == halt::errc::closed)
            ++refused;
          else
            ++wrong_error;
          break;
        } catch (...) {
          ++wrong_error;
          break;
        }
      }
    });
    std::thread closer([&] {
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int spin = 0; spin < rep % 16; ++spin) std::this_thread::yield(); // vary the window
      tracker.close();
    });
    while (ready.load() < 2) std::this_thread::yield();
    go = true;
    spawner.join();
    closer.join();
    REQUIRE(waited.wait_for(20s) == std::future_status::ready);
    waited.get();
    INFO("rep " << rep << ": spawned " << spawned << ", refused " << refused);
    REQUIRE(wrong_error == 0);
    REQUIRE(spawned + refused >= 1);
    // Nothing spawned successfully was still running (or yet to run) when wait() returned.
    REQUIRE(live_at_wait == 0);
    REQUIRE(size_at_wait == 0);
    REQUIRE(finished_at_wait == spawned);
    REQUIRE(finished == spawned);
    REQUIRE(tracker.size() == 0);
    if (spawned > 0 && refused > 0) ++raced;
  }
  pool.join();
  // Not asserted (that would be a timing assertion); shown with -s to see the race was exercised.
  INFO("repetitions with a spawn refused after successful ones: " << raced);
  SUCCEED();
}

TEST_CASE("reopen right after an empty close leaves wait() waiting, not spinning", "[task_tracker]") {
  for (int i = 0; i < 200; ++i) {
    halt::task_tracker tracker;
    std::thread closer([&] { tracker.close(); });
    tracker.reopen(); // may land between close()'s unlock and its cancel of the idle token
    closer.join();
    tracker.reopen();
    asio::io_context io;
    bool waited = false;
    auto waiter = [&]() -> asio::awaitable<void> {
      co_await tracker.wait();
      waited = true;
    };
    asio::co_spawn(io, waiter, rethrow{});
    const auto handlers = io.run_for(std::chrono::milliseconds(5));
    REQUIRE_FALSE(waited);   // open: wait() must not complete
    REQUIRE(handlers < 50);  // and must not busy-loop on a stale, cancelled idle token
    tracker.close();
    io.restart();
    run_until(io, [&] { return waited; });
  }
}

TEMPLATE_TEST_CASE("spawn() that throws counts nothing, so wait() is not held up (fault injection over N)",
          "[task_tracker][issue10]", awaitable_kind, task_kind) {
  namespace fault = halt_test::fault;
  int faults = 0;
  for (long n = 1;; ++n) {
    asio::io_context io;
    halt::task_tracker tracker;
    // Every allocation, every post through the executor and every copy or move of the body is
    // a fault point: the Nth throws std::bad_alloc. (A strand of our own, made before arming:
    // see faulty_strand.)
    auto ex = fault::faulty_strand(io);
    auto body = fault::throwing_copy([]() -> co_t<TestType, int> { co_return 7; });
    std::optional<halt::join_handle<int>> h;
    fault::arm(n);
    try {
      h.emplace(tracker.spawn(ex, body)); // an lvalue body: copied
    } catch (const std::bad_alloc&) {
    }
    const bool injected = fault::disarm();
    if (injected) ++faults;
    CHECK(tracker.size() == (h ? 1u : 0u));
    tracker.close();
    bool done = false;
    asio::co_spawn(io, waiter{&tracker, &done}, rethrow{});
    run_until(io, [&] { return done; }); // fails instead of hanging
    CHECK(tracker.size() == 0);
    if (h) {
      std::optional<halt::join_result<int>> r;
      asio::co_spawn(io, [&]() -> asio::awaitable<void> { r.emplace(co_await h->join()); }, rethrow{});
      run_until(io, [&] { return r.has_value(); });
      CHECK(r->value() == 7);
    }
    if (!injected) break;
  }
  CHECK(faults > 3);
}
