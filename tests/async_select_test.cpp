// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
// halt::async_select, async_join, async_try_join, async_timeout: the combinators started with a
// completion token, for code that is not a coroutine.
#include <halt/async_select.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <halt/asio.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using namespace halt_test::tasks;

namespace {

// An operation (void(halt::error_code)) that completes with `ec` through a post.
template <class Token>
auto async_fail(asio::io_context& io, halt::error_code ec, Token&& token) {
  return asio::async_initiate<Token, void(halt::error_code)>(
      [&io, ec](auto h) {
        auto ex = asio::get_associated_executor(h, io.get_executor());
        asio::post(ex, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
      },
      token);
}

// A move-only void() handler, parked until fired by hand; fire() posts it to its executor.
struct parked {
  struct base {
    virtual ~base() = default;
    virtual void fire() = 0;
  };
  template <class H>
  struct impl final : base {
    H h;
    explicit impl(H&& x) : h(std::move(x)) {}
    void fire() override {
      auto ex = asio::get_associated_executor(h);
      asio::post(ex, std::move(h));
    }
  };
  std::unique_ptr<base> p;
  void fire() { std::exchange(p, nullptr)->fire(); }
};

// An operation (void()) that ignores cancellation: it completes when `slot` is fired.
template <class Token>
auto async_park(parked& slot, Token&& token) {
  return asio::async_initiate<Token, void()>(
      [&slot](auto h) { slot.p = std::make_unique<parked::impl<decltype(h)>>(std::move(h)); }, token);
}

// The code of the halt::system_error that `e` holds (a default code for anything else).
halt::error_code code_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const halt::system_error& x) {
    return x.code();
  } catch (...) {
  }
  return {};
}

// Calls start(handler), where the handler records the outcome, and runs io until it completes.
template <class T, class F>
outcome<T> run_token(asio::io_context& io, F start) {
  outcome<T> out;
  start(record<T>{&out});
  io.restart();
  halt_test::run_until(io, [&] { return out.done; });
  return out;
}

halt::task<int> fail_after(std::chrono::steady_clock::duration d) {
  co_await sleep(d);
  throw std::runtime_error("boom");
}

} // namespace

TEST_CASE("async_select with a callback: a timer wins, the losers are gone before the callback runs",
          "[async_select]") {
  asio::io_context io;
  std::vector<std::string> log;
  asio::steady_timer fast(io, 2ms), slow(io, 1h);
  bool done = false;
  halt::async_select(io, logged_work(log, "task", 1h, 1), slow.async_wait(halt::deferred),
                     fast.async_wait(halt::deferred),
                     [&](std::exception_ptr e, std::variant<int, std::monostate, std::monostate> v) {
                       CHECK_FALSE(e);
                       CHECK(v.index() == 2);
                       CHECK(has(log, "~task"));
                       CHECK_FALSE(has(log, "task.caught")); // dropped, not unwound
                       CHECK_FALSE(has(log, "task.end"));
                       CHECK(slow.cancel() == 0);             // its wait is no longer pending
                       log.push_back("callback");
                       done = true;
                     });
  CHECK(log.empty()); // nothing ran inside the call
  halt_test::run_until(io, [&] { return done; });
  CHECK(log == std::vector<std::string>{"task.start", "~task", "callback"});
  io.restart();
  CHECK(io.poll() == 0); // the losing wait's handler had already run
}

TEST_CASE("async_select with asio::use_future, on an io_context run by another thread", "[async_select][threads]") {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  std::vector<std::string> log; // touched on the runner thread until a future is ready
  asio::steady_timer fast(io, 2ms);
  std::future<std::variant<int, std::monostate>> f =
      halt::async_select(io, logged_work(log, "slow", 1h, 1), fast.async_wait(halt::deferred), asio::use_future);
  const auto v = f.get();
  CHECK(v.index() == 1);
  CHECK(has(log, "~slow"));

  // An error code that wins arrives as the future's exception, halt::system_error.
  auto fail = [&](auto&& token) {
    return async_fail(io, asio::error::connection_reset, std::forward<decltype(token)>(token));
  };
  std::future<std::variant<int, std::monostate>> f2 =
      halt::async_select(io, logged_work(log, "slow2", 1h, 1), fail, asio::use_future);
  f2.wait();
  // The runner is joined before the exception is looked at: TSan does not see libstdc++'s own
  // synchronisation of an exception_ptr's count, and would report its release on the runner.
  work.reset();
  runner.join();
  halt::error_code code;
  try {
    f2.get();
  } catch (const halt::system_error& e) {
    code = e.code();
  }
  CHECK(code == asio::error::connection_reset);
  CHECK(has(log, "~slow2"));
}

TEST_CASE("async_select: an error code that wins is the exception_ptr, after the losers are gone", "[async_select]") {
  asio::io_context io;
  std::vector<std::string> log;
  asio::steady_timer t(io, 1h);
  outcome<std::variant<int, std::monostate>> out;
  halt::async_select(io, logged_work(log, "loser", 1h, 1), t.async_wait(halt::deferred),
                     record<std::variant<int, std::monostate>>{&out});
  // Once the branches have started: the wait completes with operation_aborted.
  asio::post(io, [&] { asio::post(io, [&] { CHECK(t.cancel() == 1); }); });
  halt_test::run_until(io, [&] { return out.done; });
  CHECK(code_of(out.error) == asio::error::operation_aborted);
  CHECK(has(log, "~loser"));
  CHECK_FALSE(out.value.has_value());
}

TEST_CASE("async_select: terminal cancellation on the handler's slot drops every branch", "[async_select][drop]") {
  for (const bool on_strand : {false, true}) {
    INFO("executor passed: " << (on_strand ? "a strand" : "the io_context's"));
    asio::io_context io;
    const asio::any_io_executor ex =
        on_strand ? asio::any_io_executor(asio::make_strand(io)) : asio::any_io_executor(io.get_executor());
    std::vector<std::string> log;
    asio::steady_timer slow(io, 1h);
    asio::cancellation_signal sig;
    outcome<std::variant<int, std::monostate>> out;
    halt::async_select(ex, logged_work(log, "a", 1h, 1), slow.async_wait(halt::deferred),
                       asio::bind_cancellation_slot(sig.slot(), record<std::variant<int, std::monostate>>{&out}));
    // partial and total are ignored; terminal drops. Emitted on the handler's executor (`ex`).
    asio::post(ex, [&] {
      sig.emit(asio::cancellation_type::partial);
      sig.emit(asio::cancellation_type::total);
      asio::post(ex, [&] {
        log.push_back("emit");
        sig.emit(asio::cancellation_type::terminal);
      });
    });
    halt_test::run_until(io, [&] { return out.done; });
    CHECK(is_aborted(out.error));
    CHECK(log == std::vector<std::string>{"a.start", "emit", "~a"});
    CHECK(slow.cancel() == 0);
  }
}

TEST_CASE("async_select: a terminal cancel while a loser is still being dropped reports operation_aborted",
          "[async_select][drop]") {
  asio::io_context io;
  parked loser; // ignores cancellation: the select waits for it after the winner
  asio::steady_timer fast(io, 1ms);
  bool won = false;
  auto winner = [&]() -> halt::task<void> {
    co_await fast.async_wait(halt::use_task);
    won = true;
  };
  auto park = [&](auto&& token) { return async_park(loser, std::forward<decltype(token)>(token)); };
  asio::cancellation_signal sig;
  using V = std::variant<std::monostate, std::monostate>;
  outcome<V> out;
  halt::async_select(io, park, winner(), asio::bind_cancellation_slot(sig.slot(), record<V>{&out}));
  halt_test::run_until(io, [&] { return won; }); // decided: the loser is asked to go, and ignores it
  REQUIRE(loser.p);
  sig.emit(asio::cancellation_type::terminal); // on this thread, the only one that runs io
  loser.fire();
  halt_test::run_until(io, [&] { return out.done; });
  CHECK(is_aborted(out.error));
}

TEST_CASE("async_select: a branch ready at once wins and the branches after it never start", "[async_select]") {
  asio::io_context io;
  std::vector<std::string> log;
  asio::steady_timer never(io, 1h);
  bool done = false;
  halt::async_select(io, answer(), logged_work(log, "b", 1h, 2), never.async_wait(halt::deferred),
                     [&](std::exception_ptr e, std::variant<int, int, std::monostate> v) {
                       CHECK_FALSE(e);
                       CHECK(v.index() == 0);
                       CHECK(std::get<0>(v) == 42);
                       done = true;
                     });
  CHECK_FALSE(done); // never completes inside the call
  halt_test::run_until(io, [&] { return done; });
  CHECK(log.empty()); // b's frame was destroyed unstarted
  CHECK(never.cancel() == 0);
}

TEST_CASE("async_select: halt::biased keeps ties in argument order, halt::fair spreads them", "[async_select]") {
  asio::io_context io;
  using V = std::variant<int, int>;
  auto once = [&](auto tag) {
    outcome<V> out;
    halt::async_select(io, tag, answer(), plus_one(1), record<V>{&out});
    halt_test::run_until(io, [&] { return out.done; });
    REQUIRE(out.value.has_value());
    return out.value->index();
  };
  for (int i = 0; i < 20; ++i) CHECK(once(halt::biased) == 0);
  bool seen[2] = {false, false};
  for (int i = 0; i < 200; ++i) seen[once(halt::fair)] = true;
  CHECK(seen[0]);
  CHECK(seen[1]);
}

TEST_CASE("async_select with halt::deferred starts nothing until invoked, and with asio::use_awaitable",
          "[async_select]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto op = halt::async_select(io, logged_work(log, "a", 1ms, 1), logged_work(log, "b", 1h, 2), halt::deferred);
  io.poll();
  CHECK(log.empty());
  std::optional<std::size_t> idx;
  std::move(op)([&](std::exception_ptr e, std::variant<int, int> v) {
    CHECK_FALSE(e);
    idx = v.index();
  });
  io.restart();
  halt_test::run_until(io, [&] { return idx.has_value(); });
  CHECK(*idx == 0);
  CHECK(has(log, "~b"));

  halt_test::run_main(io, [&]() -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
    // Named, not temporaries inside the co_await (g++ 12).
    auto aw = halt::async_select(io, t.async_wait(halt::deferred), logged_work(log, "c", 1h, 3), asio::use_awaitable);
    auto v = co_await std::move(aw);
    CHECK(v.index() == 0);
    CHECK(has(log, "~c"));
  });
}

TEST_CASE("async_select over a range of tasks, and bad input", "[async_select]") {
  asio::io_context io;
  std::vector<std::string> log;
  using P = std::pair<std::size_t, int>;
  std::vector<halt::task<int>> range;
  range.push_back(logged_work(log, "r0", 1h, 10));
  range.push_back(logged_work(log, "r1", 2ms, 11));
  auto r = get(run_token<P>(io, [&](auto h) { halt::async_select(io, std::move(range), std::move(h)); }));
  CHECK(r == P{1, 11});
  CHECK(has(log, "~r0"));

  // An empty range: std::invalid_argument, through the completion.
  auto empty = run_token<P>(io, [&](auto h) { halt::async_select(io, halt::fair, std::vector<halt::task<int>>{}, std::move(h)); });
  CHECK_THROWS_AS(get(std::move(empty)), std::invalid_argument);

  // An empty task branch: halt::errc::no_state, through the completion.
  using V = std::variant<int, int>;
  halt::task<int> none;
  auto out = run_token<V>(io, [&](auto h) { halt::async_select(io, answer(), std::move(none), std::move(h)); });
  CHECK(code_of(out.error) == halt::errc::no_state);

  // A negative duration: std::invalid_argument from the call; nothing is started.
  bool called = false;
  CHECK_THROWS_AS(halt::async_timeout(io, -1ms, answer(), [&](std::exception_ptr, int) { called = true; }),
                  std::invalid_argument);
  io.restart();
  io.poll();
  CHECK_FALSE(called);
}

TEST_CASE("async_join, async_try_join, async_timeout and async_timeout_at", "[async_select]") {
  asio::io_context io;
  std::vector<std::string> log;
  asio::steady_timer t(io, 1ms);
  using J = std::tuple<int, int, std::monostate>;
  auto j = get(run_token<J>(io, [&](auto h) {
    halt::async_join(io, logged_work(log, "j", 2ms, 1), answer(), t.async_wait(halt::deferred), std::move(h));
  }));
  CHECK(std::get<0>(j) == 1);
  CHECK(std::get<1>(j) == 42);
  CHECK(has(log, "j.end"));

  // try_join: the first failure drops the others and is reported once they are gone.
  using TJ = std::tuple<int, int>;
  auto tj = run_token<TJ>(io, [&](auto h) {
    halt::async_try_join(io, logged_work(log, "slow", 1h, 1), fail_after(1ms), std::move(h));
  });
  CHECK_THROWS_AS(get(std::move(tj)), std::runtime_error);
  CHECK(has(log, "~slow"));
  CHECK_FALSE(has(log, "slow.end"));

  auto late = run_token<int>(io, [&](auto h) { halt::async_timeout(io, 5ms, logged_work(log, "late", 1h, 1), std::move(h)); });
  CHECK(code_of(late.error) == halt::errc::timed_out);
  CHECK(has(log, "~late"));
  CHECK(get(run_token<int>(io, [&](auto h) { halt::async_timeout(io, 1h, answer(), std::move(h)); })) == 42);

  // A void operation: void(std::exception_ptr).
  asio::steady_timer t2(io, 1ms);
  auto done = run_token<void>(io, [&](auto h) {
    halt::async_timeout_at(io, std::chrono::system_clock::now() + 1h, t2.async_wait(halt::deferred), std::move(h));
  });
  CHECK(done.done);
  CHECK_FALSE(done.error);
}

TEST_CASE("async_select on a 2-thread pool without a user strand: the branches are serialised",
          "[async_select][threads]") {
  asio::thread_pool pool(2);
  // Touched by both branches of one select without a lock: a data race unless they are serialised.
  struct shared {
    int touched = 0;
  };
  auto branch = [](shared& s, std::chrono::microseconds d) -> halt::task<int> {
    ++s.touched;
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(halt::use_task);
    ++s.touched;
    co_return 1;
  };
  constexpr int n = 300;
  std::atomic<int> done{0}, ok{0};
  for (int i = 0; i < n; ++i) {
    auto s = std::make_shared<shared>();
    const auto d1 = std::chrono::microseconds(i % 3 * 20), d2 = std::chrono::microseconds(i % 4 * 20);
    halt::async_select(pool, branch(*s, d1), branch(*s, d2), [s, &done, &ok](std::exception_ptr e, std::variant<int, int>) {
      if (!e && s->touched == 3) ok.fetch_add(1); // both started, the winner ended, the loser was dropped
      done.fetch_add(1);
    });
  }
  // Cancelled from a strand of the caller's, to which the handler is bound (Asio's rule for
  // cancellation_signal on a pool): the drop reaches the select's own strand through a post.
  std::atomic<int> aborted{0};
  for (int i = 0; i < n; ++i) {
    auto s = std::make_shared<shared>();
    auto strand = asio::make_strand(pool);
    auto sig = std::make_shared<asio::cancellation_signal>();
    auto slot = sig->slot();
    halt::async_select(pool, branch(*s, 1h), branch(*s, 1h),
                       asio::bind_executor(strand, asio::bind_cancellation_slot(slot, [s, sig, &done, &aborted](std::exception_ptr e, std::variant<int, int>) {
                                             if (is_aborted(e) && s->touched <= 2) aborted.fetch_add(1);
                                             done.fetch_add(1);
                                           })));
    asio::post(strand, [sig] { sig->emit(asio::cancellation_type::terminal); });
  }
  pool.join();
  CHECK(done == 2 * n);
  CHECK(ok == n);
  CHECK(aborted == n);
}
