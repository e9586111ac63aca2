// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/spawn_blocking.hpp>

#include "support/catch.hpp"
#include "support/async.hpp"

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

using namespace std::chrono_literals;

namespace {

using halt_test::rethrow;
using halt_test::run_until;
using halt_test::run_for;

// `co_await h.join()` from a coroutine on a local io_context; fails the test after `limit`.
template <class T>
halt::join_result<T> join_within(const halt::join_handle<T>& h, std::chrono::milliseconds limit = 20s) {
  asio::io_context io;
  std::optional<halt::join_result<T>> out;
  auto joiner = [&]() -> asio::awaitable<void> { out.emplace(co_await h.join()); };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return out.has_value(); }, limit);
  return std::move(*out);
}

// Blocks the calling (pool) thread until `flag` is set, for at most 30 s so that a failing test
// cannot hang the pool's destructor. Returns whether the flag was seen.
bool block_until(const std::atomic<bool>& flag) {
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(200us);
  }
  return true;
}

} // namespace

TEST_CASE("f runs on a pool thread and join returns its value", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on; // written by f, read after the join: the join must publish it
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token t) {
    ran_on = std::this_thread::get_id();
    return t.is_cancelled() ? -1 : 42;
  });
  auto r = join_within(h);
  REQUIRE(r.has_value());
  CHECK(r.value() == 42);
  CHECK(ran_on != std::thread::id());
  CHECK(ran_on != caller);
  CHECK(h.is_finished());
}

TEST_CASE("the result can be taken once, and abort after completion changes nothing", "[spawn_blocking]") {
  asio::thread_pool pool(1);
  auto h = halt::spawn_blocking(pool, [](halt::cancellation_token) { return 5; });
  halt_test::wait_until([&] { return h.is_finished(); });
  h.abort(); // no effect once finished
  auto r = join_within(h);
  REQUIRE(r.has_value());
  CHECK(r.value() == 5);
  // A second join completes with errc::result_taken.
  asio::io_context io;
  std::optional<halt::error_code> again;
  auto joiner = [&]() -> asio::awaitable<void> {
    try {
      (void)co_await h.join();
      again = halt::error_code();
    } catch (const halt::system_error& e) {
      again = e.code();
    }
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return again.has_value(); });
  CHECK(*again == halt::errc::result_taken);
}

TEST_CASE("cooperative abort: f that throws through throw_if_cancelled reports cancelled", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  std::atomic<bool> started{false}, saw_cancel{false};
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token t) -> int {
    started = true;
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < end) {
      saw_cancel = t.is_cancelled();
      t.throw_if_cancelled();
      std::this_thread::sleep_for(200us);
    }
    return -1;
  });
  halt_test::wait_until([&] { return started.load(); });
  CHECK_FALSE(h.is_finished());
  h.abort();
  auto r = join_within(h);
  CHECK(r.is_cancelled());
  CHECK(saw_cancel);
  CHECK_THROWS_AS(r.value(), halt::join_error);
}

TEST_CASE("cooperative abort: f that returns normally after the abort reports its value", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  std::atomic<bool> started{false};
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token t) -> int {
    started = true;
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (!t.is_cancelled()) {
      if (std::chrono::steady_clock::now() > end) return -1;
      std::this_thread::sleep_for(200us);
    }
    return 7; // partial work, reported as a value
  });
  halt_test::wait_until([&] { return started.load(); });
  h.abort_handle().abort(); // through a copyable abort_handle this time
  auto r = join_within(h);
  REQUIRE(r.has_value());
  CHECK(r.value() == 7);
}

TEST_CASE("an on_cancel callback can unblock f", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  std::atomic<bool> started{false};
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token t) -> int {
    std::mutex m;
    std::condition_variable cv;
    bool stop = false;
    auto reg = t.on_cancel([&]() noexcept {
      {
        std::lock_guard<std::mutex> g(m);
        stop = true;
      }
      cv.notify_all();
    });
    started = true;
    std::unique_lock<std::mutex> lk(m);
    if (!cv.wait_for(lk, 30s, [&] { return stop; })) return -1;
    t.throw_if_cancelled();
    return 0;
  });
  halt_test::wait_until([&] { return started.load(); });
  h.abort();
  auto r = join_within(h);
  CHECK(r.is_cancelled());
}

TEST_CASE("a worker that ignores its token runs to the end, and join waits for it", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  std::atomic<bool> started{false}, release{false}, returned{false};
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token) -> int {
    started = true;
    const bool ok = block_until(release); // never looks at the token
    returned = true;
    return ok ? 11 : -1;
  });
  halt_test::wait_until([&] { return started.load(); });
  h.abort();

  asio::io_context io;
  std::optional<halt::join_result<int>> r;
  auto joiner = [&]() -> asio::awaitable<void> { r.emplace(co_await h.join()); };
  asio::co_spawn(io, joiner, rethrow{});
  io.run_for(30ms);
  CHECK_FALSE(r.has_value()); // the abort did not stop f, and the join is still waiting
  CHECK_FALSE(h.is_finished());
  CHECK_FALSE(returned);
  release = true;
  run_until(io, [&] { return r.has_value(); });
  CHECK(returned);
  REQUIRE(r->has_value());
  CHECK(r->value() == 11);
}

TEST_CASE("abort before f starts: f never runs and join reports cancelled", "[spawn_blocking]") {
  asio::thread_pool pool(1);
  std::atomic<bool> busy{false}, release{false}, ran{false};
  auto blocker = halt::spawn_blocking(pool, [&](halt::cancellation_token) {
    busy = true;
    return block_until(release);
  });
  halt_test::wait_until([&] { return busy.load(); }); // the only pool thread is taken
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token) {
    ran = true;
    return 3;
  });
  h.abort();
  release = true;
  auto r = join_within(h);
  CHECK(r.is_cancelled());
  auto b = join_within(blocker);
  REQUIRE(b.has_value());
  CHECK(b.value());
  pool.join();
  CHECK_FALSE(ran);
}

TEST_CASE("a pool destroyed before f starts: f never runs and join reports cancelled", "[spawn_blocking]") {
  std::atomic<bool> busy{false}, release{false}, ran{false};
  halt::join_handle<int> h;
  {
    asio::thread_pool pool(1);
    auto blocker = halt::spawn_blocking(pool, [&](halt::cancellation_token) {
      busy = true;
      return block_until(release);
    });
    halt_test::wait_until([&] { return busy.load(); });
    h = halt::spawn_blocking(pool, [&](halt::cancellation_token) {
      ran = true;
      return 3;
    });
    pool.stop(); // the queued f will not be run; ~thread_pool destroys it
    release = true;
  }
  CHECK_FALSE(ran);
  CHECK(h.is_finished());
  auto r = join_within(h);
  CHECK(r.is_cancelled());
}

TEST_CASE("f throwing a non-cancel exception reports is_exception", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  SECTION("without an abort") {
    auto h = halt::spawn_blocking(pool, [](halt::cancellation_token) -> int {
      throw std::runtime_error("boom");
    });
    auto r = join_within(h);
    REQUIRE(r.is_exception());
    CHECK_THROWS_WITH(std::rethrow_exception(r.exception()), "boom");
    CHECK_THROWS_AS(r.value(), halt::join_error);
  }
  SECTION("after an abort") {
    std::atomic<bool> started{false};
    auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token t) -> int {
      started = true;
      const auto end = std::chrono::steady_clock::now() + 30s;
      while (!t.is_cancelled() && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(200us);
      throw std::runtime_error("cleanup failed");
    });
    halt_test::wait_until([&] { return started.load(); });
    h.abort();
    auto r = join_within(h);
    REQUIRE(r.is_exception()); // not a cancel exception: reported as it is
    CHECK_THROWS_WITH(std::rethrow_exception(r.exception()), "cleanup failed");
  }
  SECTION("a cancel exception without an abort is an exception, not cancelled") {
    auto h = halt::spawn_blocking(pool, [](halt::cancellation_token) -> int {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled));
    });
    auto r = join_within(h);
    CHECK(r.is_exception());
  }
}

TEST_CASE("a move-only f with a move-only result", "[spawn_blocking]") {
  asio::thread_pool pool(1);
  auto f = [p = std::make_unique<int>(8)](halt::cancellation_token) mutable { return std::move(p); };
  auto h = halt::spawn_blocking(pool, std::move(f));
  auto r = join_within(h);
  REQUIRE(r.has_value());
  auto v = std::move(r).value();
  REQUIRE(v);
  CHECK(*v == 8);
}

namespace {
// A capture whose destructor takes a while and then says so.
struct slow_to_die {
  std::atomic<bool>* gone;
  explicit slow_to_die(std::atomic<bool>* g) noexcept : gone(g) {}
  slow_to_die(slow_to_die&& o) noexcept : gone(std::exchange(o.gone, nullptr)) {}
  slow_to_die& operator=(slow_to_die&&) = delete;
  ~slow_to_die() {
    if (!gone) return;
    std::this_thread::sleep_for(50ms);
    gone->store(true);
  }
};
} // namespace

TEST_CASE("f and its captures are destroyed before join completes", "[spawn_blocking]") {
  asio::thread_pool pool(1);
  std::atomic<bool> capture_gone{false};
  auto f = [c = slow_to_die(&capture_gone)](halt::cancellation_token) { return c.gone != nullptr; };
  std::atomic<bool> busy{false}, release{false};
  std::optional<halt::join_handle<bool>> blocker;
  SECTION("after f ran") {}
  SECTION("when f was aborted before it started") {
    blocker.emplace(halt::spawn_blocking(pool, [&](halt::cancellation_token) {
      busy = true;
      return block_until(release);
    }));
    halt_test::wait_until([&] { return busy.load(); });
  }
  auto h = halt::spawn_blocking(pool, std::move(f));
  if (blocker) {
    h.abort();
    release = true;
  }
  asio::io_context io;
  std::optional<halt::join_result<bool>> r;
  bool gone_at_join = false;
  auto joiner = [&]() -> asio::awaitable<void> {
    auto res = co_await h.join();
    gone_at_join = capture_gone.load(); // the joiner may now destroy what the captures refer to
    r.emplace(std::move(res));
  };
  asio::co_spawn(io, joiner, rethrow{});
  run_until(io, [&] { return r.has_value(); });
  CHECK(gone_at_join);
  if (blocker)
    CHECK(r->is_cancelled());
  else
    CHECK(r->value());
}

TEST_CASE("void-returning f", "[spawn_blocking]") {
  asio::thread_pool pool(2);
  int side_effect = 0; // written by f, read after the join
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token) { side_effect = 17; });
  static_assert(std::is_same_v<decltype(h), halt::join_handle<void>>);
  auto r = join_within(h);
  REQUIRE(r.has_value());
  r.value(); // returns nothing, does not throw
  CHECK(side_effect == 17);

  SECTION("and aborted cooperatively") {
    std::atomic<bool> started{false};
    auto h2 = halt::spawn_blocking(pool, [&](halt::cancellation_token t) {
      started = true;
      const auto end = std::chrono::steady_clock::now() + 30s;
      while (std::chrono::steady_clock::now() < end) {
        t.throw_if_cancelled();
        std::this_thread::sleep_for(200us);
      }
    });
    halt_test::wait_until([&] { return started.load(); });
    h2.abort();
    CHECK(join_within(h2).is_cancelled());
  }
}

TEST_CASE("abort() does not run a blocking on_cancel callback on the calling thread", "[spawn_blocking][issue10]") {
  // abort() used to cancel the token inline: the callback below (which waits for abort() to
  // return) held abort() until it gave up.
  asio::thread_pool pool(1);
  std::atomic<bool> registered{false}, abort_returned{false}, saw_return{false};
  std::atomic<std::thread::id> callback_thread{};
  auto h = halt::spawn_blocking(pool, [&](halt::cancellation_token t) {
    auto reg = t.on_cancel([&]() noexcept {
      callback_thread = std::this_thread::get_id();
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5); // bounds a failure
      while (!abort_returned.load() && std::chrono::steady_clock::now() < end) std::this_thread::yield();
      saw_return = abort_returned.load();
    });
    registered = true;
    while (!t.is_cancelled()) std::this_thread::yield();
  });
  halt_test::wait_until([&] { return registered.load(); });
  h.abort();
  abort_returned = true;
  asio::io_context io;
  bool joined = false;
  h.async_join(asio::bind_executor(io, [&](halt::error_code, halt::join_result<void>) { joined = true; }));
  halt_test::run_until(io, [&] { return joined; });
  CHECK(saw_return.load());
  CHECK(callback_thread.load() != std::this_thread::get_id());
  pool.join();
}
