// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/select.hpp>
#include <halt/join_handle.hpp>

#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/tasks.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__unix__)
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace std::chrono_literals;

namespace {

using halt_test::sleep_for;
using halt_test::run_main;

// Appends "<name> guard" to a log when destroyed.
struct log_guard {
  std::vector<std::string>* log;
  std::string name;
  log_guard(std::vector<std::string>& l, std::string n) : log(&l), name(std::move(n)) {}
  log_guard(log_guard&& o) noexcept : log(std::exchange(o.log, nullptr)), name(std::move(o.name)) {}
  log_guard& operator=(log_guard&&) = delete;
  ~log_guard() {
    if (log) log->push_back(name + " guard");
  }
};

// Counts destructions (not counting moved-from objects).
struct counted {
  std::atomic<int>* count;
  int value;
  counted(std::atomic<int>& c, int v) : count(&c), value(v) {}
  counted(counted&& o) noexcept : count(std::exchange(o.count, nullptr)), value(o.value) {}
  counted& operator=(counted&&) = delete;
  ~counted() {
    if (count) ++*count;
  }
};


asio::awaitable<int> value_after(int v, std::chrono::steady_clock::duration d) {
  co_await sleep_for(d);
  co_return v;
}

asio::awaitable<int> ready(int v) { co_return v; }

// Logs "<name> guard" when its frame goes; counts itself in *started (if given) once it runs.
asio::awaitable<int> guarded_sleeper(std::vector<std::string>& log, std::string name, int* started = nullptr) {
  log_guard g(log, name);
  if (started) ++*started;
  co_await sleep_for(60s);
  co_return -1;
}


} // namespace

TEST_CASE("select returns the first branch to finish, after every loser's guards ran", "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto v = co_await halt::select(guarded_sleeper(log, "a"), value_after(42, 5ms),
                                   guarded_sleeper(log, "c"));
    log.push_back("select returned");
    REQUIRE(v.index() == 1);
    CHECK(std::get<1>(v) == 42);
  });
  REQUIRE(log.size() == 3);
  CHECK(log[2] == "select returned");
  CHECK(std::count(log.begin(), log.end(), "a guard") == 1);
  CHECK(std::count(log.begin(), log.end(), "c guard") == 1);
}

TEST_CASE("select waits for a loser whose cleanup co_awaits a timer", "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto slow_loser = [&]() -> asio::awaitable<int> {
    bool cancelled = false;
    try {
      co_await sleep_for(60s);
    } catch (const halt::system_error& e) {
      cancelled = e.code() == asio::error::operation_aborted;
    }
    REQUIRE(cancelled);
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await sleep_for(20ms); // async cleanup
    log.push_back("loser cleaned up");
    co_return 0;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto v = co_await halt::select(slow_loser(), value_after(1, 1ms));
    log.push_back("select returned");
    CHECK(v.index() == 1);
  });
  REQUIRE(log.size() == 2);
  CHECK(log[0] == "loser cleaned up");
  CHECK(log[1] == "select returned");
}

TEST_CASE("a loser's value that arrives late is destroyed before select returns", "[select]") {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  auto stubborn = [&]() -> asio::awaitable<counted> {
    try {
      co_await sleep_for(60s);
    } catch (const halt::system_error&) {
    }
    co_return counted(destroyed, 7); // catches the cancel and returns a value anyway
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto v = co_await halt::select(stubborn(), value_after(1, 1ms));
    CHECK(v.index() == 1);
    CHECK(destroyed == 1);
  });
}

TEST_CASE("a winner that throws: select rethrows after the losers unwound", "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto thrower = []() -> asio::awaitable<int> {
    co_await sleep_for(2ms);
    throw std::runtime_error("boom");
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    bool caught = false;
    try {
      co_await halt::select(guarded_sleeper(log, "loser"), thrower());
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "boom";
      log.push_back("caught");
    }
    CHECK(caught);
  });
  REQUIRE(log.size() == 2);
  CHECK(log[0] == "loser guard");
  CHECK(log[1] == "caught");
}

TEST_CASE("branches ready at once: the first in start order wins (biased by default)", "[select]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 20; ++i) {
      auto v = co_await halt::select(ready(1), ready(2), ready(3));
      CHECK(v.index() == 0);
      auto w = co_await halt::select(halt::biased, ready(1), ready(2));
      CHECK(w.index() == 0);
    }
  });
}

TEST_CASE("with halt::fair every branch that is ready at once can win", "[select]") {
  asio::io_context io;
  int wins[3] = {0, 0, 0};
  run_main(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 300; ++i) {
      auto v = co_await halt::select(halt::fair, ready(1), ready(2), ready(3));
      ++wins[v.index()];
      CHECK(std::visit([](int x) { return x; }, v) == static_cast<int>(v.index()) + 1);
    }
  });
  CHECK(wins[0] > 0); // each has probability 1/3; missing one in 300 tries is ~1e-53
  CHECK(wins[1] > 0);
  CHECK(wins[2] > 0);
}

TEST_CASE("void branches give std::monostate, and non-default-constructible values work", "[select]") {
  struct no_default {
    explicit no_default(int x) : v(x) {}
    int v;
  };
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto v = co_await halt::select(sleep_for(1ms), sleep_for(60s));
    CHECK(v.index() == 0);
    static_assert(std::is_same_v<decltype(v), std::variant<std::monostate, std::monostate>>);
    auto make = []() -> asio::awaitable<no_default> { co_return no_default(9); };
    auto w = co_await halt::select(sleep_for(60s), make());
    REQUIRE(w.index() == 1);
    CHECK(std::get<1>(w).v == 9);
  });
}

TEST_CASE("nested selects unwind inside out", "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto inner = [&]() -> asio::awaitable<int> {
    auto v = co_await halt::select(guarded_sleeper(log, "inner a"), guarded_sleeper(log, "inner b"));
    co_return v.index() == 0 ? 1 : 2;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto v = co_await halt::select(inner(), value_after(5, 5ms));
    log.push_back("outer returned");
    REQUIRE(v.index() == 1);
    CHECK(std::get<1>(v) == 5);
    // the inner select won its own race in a nested select too
    auto w = co_await halt::select(halt::select(ready(3), sleep_for(60s)), sleep_for(60s));
    REQUIRE(w.index() == 0);
    CHECK(std::get<0>(w).index() == 0);
  });
  REQUIRE(log.size() == 3);
  CHECK(log[2] == "outer returned");
}

TEST_CASE("select inside an aborted task: every branch unwinds and the task reports cancelled",
          "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    log_guard task_guard(log, "task");
    auto v = co_await halt::select(guarded_sleeper(log, "a"), guarded_sleeper(log, "b"));
    co_return static_cast<int>(v.index());
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(5ms);
    auto r = co_await h.cancel_and_join();
    CHECK(r.is_cancelled());
  });
  REQUIRE(log.size() == 3);
  CHECK(log[2] == "task guard"); // the branches unwound before the task's own frame
}

TEST_CASE("cancelling the select through its slot cancels every branch: operation_aborted",
          "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  asio::cancellation_signal sig;
  halt::error_code result;
  bool done = false;
  auto body = [&]() -> asio::awaitable<void> {
    try {
      co_await halt::select(guarded_sleeper(log, "a"), guarded_sleeper(log, "b"));
    } catch (const halt::system_error& e) {
      result = e.code();
      log.push_back("select failed");
    }
  };
  asio::co_spawn(io, body, asio::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr) { done = true; }));
  asio::steady_timer t(io, 5ms);
  t.async_wait([&](halt::error_code) { sig.emit(asio::cancellation_type::terminal); });
  halt_test::run_until(io, [&] { return done; });
  CHECK(result == asio::error::operation_aborted);
  REQUIRE(log.size() == 3);
  CHECK(log[2] == "select failed");
}

TEST_CASE("select of plain Asio operations: no frame, errors become exceptions", "[select]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer fast(ex, 1ms), slow(ex, 60s);
    auto v = co_await halt::select(slow.async_wait(halt::deferred),
                                   fast.async_wait(halt::deferred));
    CHECK(v.index() == 1);

    // a callable that takes a completion token is an operation too
    asio::steady_timer t2(ex, 1ms);
    auto op = [&](auto&& token) { return t2.async_wait(std::forward<decltype(token)>(token)); };
    auto w = co_await halt::select(op, sleep_for(60s));
    CHECK(w.index() == 0);

    // an operation that fails (connection refused) is rethrown as halt::system_error
    asio::ip::tcp::acceptor acc(ex, {asio::ip::address_v4::loopback(), 0});
    auto ep = acc.local_endpoint();
    acc.close();
    asio::ip::tcp::socket s(ex);
    bool failed = false;
    try {
      co_await halt::select(s.async_connect(ep, halt::deferred), sleep_for(60s));
    } catch (const halt::system_error& e) {
      failed = e.code() == asio::error::connection_refused;
    }
    CHECK(failed);
  });
}

TEST_CASE("select aborts a socket read that lost", "[select]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::acceptor acc(ex, {asio::ip::address_v4::loopback(), 0});
    asio::ip::tcp::socket client(ex), server(ex);
    co_await client.async_connect(acc.local_endpoint(), asio::use_awaitable);
    co_await acc.async_accept(server, asio::use_awaitable);
    char buf[16];
    auto v = co_await halt::select(server.async_read_some(asio::buffer(buf), halt::deferred),
                                   sleep_for(2ms));
    CHECK(v.index() == 1);
    // the socket is usable again: the cancelled read consumed nothing
    co_await asio::async_write(client, asio::buffer("hi", 2), asio::use_awaitable);
    auto w = co_await halt::select(server.async_read_some(asio::buffer(buf), halt::deferred),
                                   sleep_for(60s));
    REQUIRE(w.index() == 0);
    CHECK(std::get<0>(w) == 2);
  });
}

TEST_CASE("the range form returns the winner's index", "[select]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    std::vector<asio::awaitable<int>> v;
    v.push_back(value_after(0, 60s));
    v.push_back(value_after(10, 60s));
    v.push_back(value_after(20, 1ms));
    v.push_back(value_after(30, 60s));
    auto [i, x] = co_await halt::select(std::move(v));
    CHECK(i == 2);
    CHECK(x == 20);

    std::vector<asio::awaitable<void>> w;
    w.push_back(sleep_for(60s));
    w.push_back(sleep_for(1ms));
    auto [j, m] = co_await halt::select(halt::fair, std::move(w));
    CHECK(j == 1);
    (void)m;

    bool threw = false;
    try {
      co_await halt::select(std::vector<asio::awaitable<int>>{});
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CHECK(threw);
  });
}

TEST_CASE("select on a 4-thread pool without a user strand, 10^4 times", "[select][threads]") {
  asio::thread_pool pool(4);
  std::atomic<int> guards{0};
  std::atomic<int> selects{0};
  constexpr int tasks = 100, rounds = 100;
  auto loser = [&]() -> asio::awaitable<int> {
    counted g(guards, 0);
    co_await sleep_for(60s);
    co_return 0;
  };
  auto winner = [&](int i) -> asio::awaitable<int> {
    counted g(guards, 0);
    if (i % 2) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return i;
  };
  auto worker = [&](int t) -> asio::awaitable<void> {
    for (int r = 0; r < rounds; ++r) {
      auto v = co_await halt::select(loser(), winner(r), loser());
      if (v.index() == 1 && std::get<1>(v) == r) ++selects; // Catch2 assertions are not thread-safe
    }
    (void)t;
  };
  for (int t = 0; t < tasks; ++t) asio::co_spawn(pool, worker(t), halt_test::rethrow{});
  pool.join();
  CHECK(selects == tasks * rounds);
  // An even round's winner is ready at once, so the loser after it never starts (no guard):
  // 2 guards; an odd round's winner suspends first, so all three branches run: 3 guards.
  CHECK(guards == tasks * (rounds / 2) * 2 + tasks * (rounds / 2) * 3);
}

TEST_CASE("run_until_cancelled: the value, or nullopt once the token is cancelled", "[select]") {
  asio::io_context io;
  std::vector<std::string> log;
  run_main(io, [&]() -> asio::awaitable<void> {
    halt::cancellation_token token;
    auto a = co_await halt::run_until_cancelled(token, value_after(4, 1ms));
    REQUIRE(a);
    CHECK(*a == 4);

    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, 5ms);
    t.async_wait([token](halt::error_code) { token.cancel(); });
    auto b = co_await halt::run_until_cancelled(token, guarded_sleeper(log, "work"));
    CHECK_FALSE(b);
    CHECK(log == std::vector<std::string>{"work guard"});
  });
}

TEST_CASE("run_until_cancelled with an already-cancelled token never starts the work", "[select]") {
  asio::io_context io;
  bool started = false;
  std::atomic<int> destroyed{0};
  auto work = [&](counted c) -> asio::awaitable<int> {
    started = true;
    co_return c.value;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    halt::cancellation_token token;
    token.cancel();
    auto r = co_await halt::run_until_cancelled(token, work(counted(destroyed, 1)));
    CHECK_FALSE(r);
  });
  CHECK_FALSE(started);
  CHECK(destroyed == 1);
}

TEST_CASE("run_until_cancelled with an empty token throws no_state", "[select]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    halt::cancellation_token token;
    halt::cancellation_token moved = std::move(token);
    halt::error_code ec;
    try {
      co_await halt::run_until_cancelled(token, ready(1));
    } catch (const halt::system_error& e) {
      ec = e.code();
    }
    CHECK(ec == halt::errc::no_state);
  });
}

TEST_CASE("select when the io_context is destroyed with branches pending: no leak", "[select]") {
  std::vector<std::string> log;
  {
    asio::io_context io;
    int started = 0;
    auto body = [&]() -> asio::awaitable<void> {
      log_guard g(log, "parent");
      co_await halt::select(guarded_sleeper(log, "a", &started), guarded_sleeper(log, "b", &started));
    };
    asio::co_spawn(io, body, asio::detached);
    // Until both branches wait (not a fixed time: under load they may not have started yet).
    halt_test::run_until(io, [&] { return started == 2; });
    io.run_for(2ms);
    CHECK(log.empty());
  }
  CHECK(log.size() == 3); // every frame destroyed, under ASan with no leak
}

TEST_CASE("select on a strand when the io_context is destroyed with branches pending: no leak",
          "[select]") {
  // On its own strand the caller launches the group inline; the group keeps the caller's handler,
  // so the caller's frame must not keep the group (a cycle that leaked every frame).
  std::vector<std::string> log;
  {
    asio::io_context io;
    int started = 0;
    auto body = [&]() -> asio::awaitable<void> {
      log_guard g(log, "parent");
      co_await halt::select(guarded_sleeper(log, "a", &started), guarded_sleeper(log, "b", &started));
    };
    asio::co_spawn(asio::make_strand(io), body, asio::detached);
    halt_test::run_until(io, [&] { return started == 2; }); // both branches wait
    io.run_for(2ms);
    CHECK(log.empty());
  }
  CHECK(log.size() == 3); // every frame destroyed, under ASan with no leak
}

TEST_CASE("a branch that is ready at once decides the select: later branches never start",
          "[select]") {
  asio::io_context io;
  bool started = false;
  std::atomic<int> destroyed{0};
  auto later = [&](counted c) -> asio::awaitable<int> {
    started = true;
    co_await sleep_for(60s);
    co_return c.value;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    auto v = co_await halt::select(ready(1), later(counted(destroyed, 2)));
    CHECK(v.index() == 0);
    CHECK(destroyed == 1); // the unstarted branch's parameters are gone before select returns
    // in the other order the pending branch starts first and is cancelled
    auto w = co_await halt::select(later(counted(destroyed, 3)), ready(4));
    CHECK(w.index() == 1);
    CHECK(started);
    CHECK(destroyed == 2);
  });
}

TEST_CASE("select against an already-cancelled token.cancelled() never starts the work", "[select]") {
  asio::io_context io;
  bool started = false;
  auto work = [&]() -> asio::awaitable<int> {
    started = true;
    co_await sleep_for(60s);
    co_return 1;
  };
  run_main(io, [&]() -> asio::awaitable<void> {
    halt::cancellation_token token;
    token.cancel();
    auto v = co_await halt::select(token.cancelled(), work());
    CHECK(v.index() == 0);
  });
  CHECK_FALSE(started);
}

TEST_CASE("select inside a task on io_context(1): inline on the io_context, losers unwound", "[select]") {
  asio::io_context io(1);
  std::vector<std::string> log;
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    // Ready first: decided while launching; the pending branch never starts.
    auto ready = []() -> asio::awaitable<int> { co_return 1; };
    auto never = [&]() -> asio::awaitable<int> {
      log.push_back("never started?");
      co_await sleep_for(60s);
      co_return 2;
    };
    auto a = ready();
    auto b = never();
    auto r1 = co_await halt::select(std::move(a), std::move(b));
    // Pending loser: cancelled and unwound before select returns.
    auto quick = []() -> asio::awaitable<int> {
      co_await sleep_for(1ms);
      co_return 3;
    };
    auto slow = [&]() -> asio::awaitable<int> {
      log_guard g(log, "slow");
      co_await sleep_for(60s);
      co_return 4;
    };
    auto c = slow();
    auto d = quick();
    auto r2 = co_await halt::select(std::move(c), std::move(d));
    log.push_back("select returned");
    co_return static_cast<int>(r1.index() * 10 + r2.index());
  });
  int v = -1;
  run_main(io, [&]() -> asio::awaitable<void> { v = (co_await h.join()).value(); });
  CHECK(v == 1); // r1: index 0, r2: index 1
  CHECK(log == std::vector<std::string>{"slow guard", "select returned"});
}

// ---- io_context(1) run from two threads (issue 10, section 5) -----------------------------------
//
// halt runs tasks and groups on an io_context(1)'s executor without a strand. A debug build
// (HALT_CHECK_SERIAL) reports two threads inside halt's code on such a context at once.

#if HALT_CHECK_SERIAL
namespace {

// Records reported violations (instead of the default: stderr, then std::abort()). The tests
// below use `m` and `cv` for their own flags too.
struct serial_probe {
  static inline std::mutex m;
  static inline std::condition_variable cv;
  static inline int violations = 0;
  static inline std::string message;

  static void record(const char* msg) {
    {
      std::lock_guard<std::mutex> g(m);
      ++violations;
      message = msg;
    }
    cv.notify_all();
  }
};

// Installs serial_probe::record for one test case.
struct serial_recorder {
  halt::detail::serial_violation_handler prev;
  serial_recorder() {
    {
      std::lock_guard<std::mutex> g(serial_probe::m);
      serial_probe::violations = 0;
      serial_probe::message.clear();
    }
    prev = halt::detail::set_serial_violation_handler(&serial_probe::record);
  }
  ~serial_recorder() { halt::detail::set_serial_violation_handler(prev); }
  serial_recorder(const serial_recorder&) = delete;
  serial_recorder& operator=(const serial_recorder&) = delete;

  static int violations() {
    std::lock_guard<std::mutex> g(serial_probe::m);
    return serial_probe::violations;
  }
};

} // namespace

TEST_CASE("io_context(1) run from two threads at once: a debug build reports it",
          "[select][task][threads][issue10]") {
  serial_recorder rec;
  asio::io_context io(1);
  auto& m = serial_probe::m;
  auto& cv = serial_probe::cv;
  bool inside = false;     // thread A is inside the group's launch (m)
  bool second_ran = false; // task 2's body ran (m): the way out if nothing was reported
  // Task 1, run by thread A: a select on the io_context itself launches inline, in the task's
  // coroutine, and starts its plain-operation branch there, inside halt's serial code. The
  // branch blocks there until the second thread has entered halt's code on the same context.
  auto h1 = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto ex = co_await asio::this_coro::executor;
    auto op = [&inside, &second_ran, ex](auto&& token) {
      {
        std::unique_lock<std::mutex> g(serial_probe::m);
        inside = true;
        serial_probe::cv.notify_all();
        serial_probe::cv.wait(g, [&] { return serial_probe::violations > 0 || second_ran; });
      }
      return asio::post(ex, std::forward<decltype(token)>(token));
    };
    auto sel = halt::select(std::move(op));
    auto r = co_await std::move(sel);
    co_return static_cast<int>(r.index()) + 1;
  });
  std::thread a([&] { io.run(); });
  {
    std::unique_lock<std::mutex> g(m);
    cv.wait(g, [&] { return inside; });
  }
  // Task 2, queued from this thread (not from a handler: Asio would keep it in thread A's
  // private queue), so thread B takes its start while A is still inside task 1's select.
  auto h2 = halt::spawn(io, [&]() -> asio::awaitable<int> {
    {
      std::lock_guard<std::mutex> g(m);
      second_ran = true;
    }
    cv.notify_all();
    co_return 2;
  });
  std::thread b([&] { io.run(); });
  a.join();
  b.join();

  CHECK(rec.violations() >= 1);
  {
    std::lock_guard<std::mutex> g(m);
    CHECK(serial_probe::message == halt::detail::serial_violation_message);
    CHECK(serial_probe::message.find("concurrency hint 1") != std::string::npos);
  }
  // Both tasks still finished; joined from this thread, alone.
  int v1 = 0, v2 = 0;
  io.restart();
  run_main(io, [&]() -> asio::awaitable<void> {
    v1 = (co_await h1.join()).value();
    v2 = (co_await h2.join()).value();
  });
  CHECK(v1 == 1);
  CHECK(v2 == 2);
}

TEST_CASE("io_context(1) run by different threads one after the other: nothing is reported",
          "[select][task][threads][issue10]") {
  serial_recorder rec;
  asio::io_context io(1);
  std::vector<std::string> log;
  std::atomic<bool> aborted_guard{false};
  // One task with selects (a ready winner, a pending loser that is cancelled), a second task
  // that it aborts, and plain hops through the queue: every handler below runs on a fresh thread.
  auto h = halt::spawn(io, [&]() -> asio::awaitable<int> {
    auto victim = halt::spawn(io, [&]() -> asio::awaitable<void> {
      struct on_exit {
        std::atomic<bool>* f;
        ~on_exit() { f->store(true); }
      } g{&aborted_guard};
      co_await sleep_for(60s);
    });
    int sum = 0;
    for (int i = 0; i < 3; ++i) {
      auto ready = [](int v) -> asio::awaitable<int> { co_return v; };
      auto slow = [&]() -> asio::awaitable<int> {
        log_guard g(log, "slow");
        co_await sleep_for(60s);
        co_return -1;
      };
      auto quick = [](int v) -> asio::awaitable<int> {
        co_await asio::post(asio::use_awaitable);
        co_return v;
      };
      auto a = ready(i);
      auto b = slow();
      auto r1 = co_await halt::select(std::move(a), std::move(b));
      auto c = slow();
      auto d = quick(10 * i);
      auto r2 = co_await halt::select(std::move(c), std::move(d));
      sum += std::get<0>(r1) + std::get<1>(r2);
      co_await asio::post(asio::use_awaitable);
    }
    victim.abort();
    auto jr = co_await victim.join();
    co_return jr.is_cancelled() ? sum : -1;
  });
  int rounds = 0;
  while (!h.is_finished() && rounds < 10000) {
    std::size_t ran = 0;
    std::thread t([&] { ran = io.poll_one(); });
    t.join();
    ++rounds;
    if (ran == 0 && !h.is_finished()) {
      if (io.stopped()) io.restart();
      std::this_thread::yield(); // nothing ready yet: a timer's cancellation is on its way
    }
  }
  REQUIRE(h.is_finished());
  CHECK(rounds > 10); // the task's handlers really ran on many threads
  CHECK(rec.violations() == 0);
  int v = 0;
  io.restart();
  run_main(io, [&]() -> asio::awaitable<void> { v = (co_await h.join()).value(); });
  CHECK(v == 0 + 1 + 2 + 0 + 10 + 20);
  CHECK(aborted_guard.load());
  CHECK(log == std::vector<std::string>(3, "slow guard")); // the first select's loser never starts
  CHECK(rec.violations() == 0);
}

#if defined(__unix__)
TEST_CASE("the default serial violation handler writes the message to stderr and aborts",
          "[select][issue10]") {
  REQUIRE(halt::detail::serial_violation_slot().load() == nullptr);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) { // the child: report with the default handler
    std::signal(SIGABRT, SIG_DFL); // not Catch's handler: it would report a failure from here
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    halt::detail::report_serial_violation();
    ::_exit(0); // not reached unless the default handler returned
  }
  ::close(fds[1]);
  std::string err;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    err.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find(halt::detail::serial_violation_message) != std::string::npos);
}
#endif
#endif // HALT_CHECK_SERIAL

// ---- the outer cancellation type (issue 10, P11) ------------------------------------------------

namespace {

// Waits until `gate` is cancelled (the timer never expires); returns v.
asio::awaitable<int> gated(asio::steady_timer& gate, int v) {
  halt::error_code ec;
  co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return v;
}

} // namespace

TEST_CASE("select ignores a partial or total cancel that its awaitable branches ignore",
          "[select][issue10]") {
  for (auto type : {asio::cancellation_type::partial, asio::cancellation_type::total}) {
    asio::io_context io;
    asio::steady_timer gate(io, asio::steady_timer::time_point::max());
    std::vector<std::string> log;
    int got = 0;
    halt_test::run_cancelled_with(
        io, type,
        [&]() -> asio::awaitable<void> {
          auto a = gated(gate, 7);
          auto b = guarded_sleeper(log, "b");
          auto op = halt::select(std::move(a), std::move(b));
          auto v = co_await std::move(op);
          got = std::get<0>(v);
        },
        [&] { gate.cancel(); });
    CHECK(got == 7); // before: operation_aborted, the partial/total request taken as terminal
  }
}

TEST_CASE("select forwards a partial cancel to an operation branch, which honours it",
          "[select][issue10]") {
  asio::io_context io;
  asio::steady_timer gate(io, asio::steady_timer::time_point::max());
  asio::steady_timer t(io, 1h);
  halt::error_code got;
  halt_test::run_cancelled_with(
      io, asio::cancellation_type::partial,
      [&]() -> asio::awaitable<void> {
        auto a = gated(gate, 7);
        auto op = halt::select(t.async_wait(halt::deferred), std::move(a));
        try {
          co_await std::move(op);
        } catch (const halt::system_error& e) {
          got = e.code();
        }
      },
      [] {});
  CHECK(got == asio::error::operation_aborted); // the timer's own operation_aborted won
}

TEST_CASE("select still takes a terminal request (alone or with other types) as terminal",
          "[select][issue10]") {
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::all}) {
    asio::io_context io;
    asio::steady_timer gate(io, asio::steady_timer::time_point::max());
    std::vector<std::string> log;
    halt::error_code got;
    halt_test::run_cancelled_with(
        io, type,
        [&]() -> asio::awaitable<void> {
          auto a = guarded_sleeper(log, "a");
          auto b = guarded_sleeper(log, "b");
          auto op = halt::select(std::move(a), std::move(b));
          try {
            co_await std::move(op);
          } catch (const halt::system_error& e) {
            got = e.code();
          }
        },
        [] {});
    CHECK(got == asio::error::operation_aborted);
    CHECK(log.size() == 2);
  }
}

// ---- halt::task branches: raced inline ----------------------------------------------------------

namespace {
using namespace halt_test::tasks;

} // namespace

TEST_CASE("task select: a branch ready at once wins and the branches after it never start", "[select][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<std::size_t> {
    auto s = halt::select(logged_work(log, "a", 0s, 1), logged_work(log, "b", 1h, 2));
    auto v = co_await std::move(s);
    CHECK(std::get<0>(v) == 1);
    co_return v.index();
  };
  CHECK(get(run(io, body())) == 0);
  CHECK(log == std::vector<std::string>{"a.start", "a.end", "~a"});
}

TEST_CASE("task select: a pending loser is dropped, and gone before select returns", "[select][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<int> {
    probe outer(log, "outer");
    auto s = halt::select(logged_work(log, "slow", 1h, 1), logged_work(log, "fast", 10ms, 2));
    auto v = co_await std::move(s);
    log.push_back("returned");
    co_return std::get<1>(v);
  };
  CHECK(get(run(io, body())) == 2);
  CHECK(log == std::vector<std::string>{"slow.start", "fast.start", "fast.end", "~fast", "~slow", "returned",
                                        "~outer"});
}

TEST_CASE("task select: plain operations race with tasks, their value follows use_task", "[select][halt_task]") {
  asio::io_context io;
  auto body = [&]() -> halt::task<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, 1ms);
    auto s = halt::select(sleep(1h), t.async_wait(halt::deferred));
    auto v = co_await std::move(s);
    CHECK(v.index() == 1);
    // An operation whose error code is set fails its branch, and so the select.
    asio::steady_timer t2(ex, 1h);
    auto cancel = [&] { t2.cancel(); };
    asio::post(ex, cancel);
    auto s2 = halt::select(sleep(1h), t2.async_wait(halt::deferred));
    bool threw = false;
    try {
      co_await std::move(s2);
    } catch (const halt::system_error& e) {
      threw = e.code() == asio::error::operation_aborted;
    }
    CHECK(threw);
  };
  get(run(io, body()));
}

TEST_CASE("task select: ties go to the first in argument order, or to any with halt::fair", "[select][halt_task]") {
  asio::io_context io;
  auto body = [&]() -> halt::task<void> {
    for (int i = 0; i < 20; ++i) {
      auto s = halt::select(answer(), plus_one(1));
      auto v = co_await std::move(s);
      CHECK(v.index() == 0);
    }
    bool seen[2] = {false, false};
    for (int i = 0; i < 200; ++i) {
      auto s = halt::select(halt::fair, answer(), plus_one(1));
      auto v = co_await std::move(s);
      seen[v.index()] = true;
    }
    CHECK(seen[0]);
    CHECK(seen[1]);
  };
  get(run(io, body()));
}

TEST_CASE("task select: a winner's exception is rethrown after the losers are gone", "[select][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto failing = [&]() -> halt::task<int> {
    co_await sleep(1ms);
    throw std::runtime_error("boom");
  };
  auto body = [&]() -> halt::task<void> {
    auto s = halt::select(logged_work(log, "slow", 1h, 1), failing());
    try {
      co_await std::move(s);
      log.push_back("no throw");
    } catch (const std::runtime_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
  };
  get(run(io, body()));
  CHECK(log == std::vector<std::string>{"slow.start", "~slow", "caught boom"});
}

TEST_CASE("task select: nested selects, and a range of tasks", "[select][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    auto inner = halt::select(logged_work(log, "i1", 1h, 1), logged_work(log, "i2", 1h, 2));
    auto s = halt::select(std::move(inner), logged_work(log, "o", 5ms, 3));
    auto v = co_await std::move(s);
    CHECK(v.index() == 1);
    CHECK(std::get<1>(v) == 3);
    std::vector<halt::task<int>> range;
    range.push_back(logged_work(log, "r0", 1h, 10));
    range.push_back(logged_work(log, "r1", 2ms, 11));
    range.push_back(logged_work(log, "r2", 1h, 12));
    auto rs = halt::select(std::move(range));
    auto r = co_await std::move(rs);
    CHECK(r.first == 1);
    CHECK(r.second == 11);
  };
  get(run(io, body()));
  for (auto n : {"~i1", "~i2", "~o", "~r0", "~r1", "~r2"}) CHECK(has(log, n));
  for (auto n : {"i1.end", "i2.end", "r0.end", "r2.end", "i1.caught", "r0.caught"}) CHECK_FALSE(has(log, n));
}

TEST_CASE("task select: bad input (an empty task, an empty range)", "[select][halt_task]") {
  asio::io_context io;
  auto body = [&]() -> halt::task<void> {
    halt::task<int> empty;
    auto s = halt::select(answer(), std::move(empty));
    auto err = [&]() -> halt::task<halt::error_code> {
      try {
        co_await std::move(s);
      } catch (const halt::system_error& e) {
        co_return e.code();
      }
      co_return halt::error_code();
    };
    const halt::error_code ec = co_await err();
    CHECK(ec == halt::errc::no_state);
    auto r = halt::select(std::vector<halt::task<int>>{});
    bool invalid = false;
    try {
      co_await std::move(r);
    } catch (const std::invalid_argument&) {
      invalid = true;
    }
    CHECK(invalid);
  };
  get(run(io, body()));
}

TEST_CASE("task select: a select whose task is dropped drops every branch, innermost first", "[select][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  bool after = false;
  auto body = [&]() -> halt::task<int> {
    probe outer(log, "outer");
    auto inner = halt::select(logged_work(log, "i1", 1h, 1), logged_work(log, "i2", 1h, 2));
    auto s = halt::select(std::move(inner), logged_work(log, "o", 1h, 3));
    co_await std::move(s);
    after = true;
    co_return 0;
  };
  asio::cancellation_signal sig;
  auto out = start(io, body(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK(log.back() == "~outer");
  for (auto n : {"~i1", "~i2", "~o"}) CHECK(has(log, n));
  for (auto n : {"i1.caught", "i2.caught", "o.caught"}) CHECK_FALSE(has(log, n));
}

TEST_CASE("task select: a select inside a spawned task that is aborted", "[select][halt_task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<int> {
    auto s = halt::select(logged_work(log, "a", 1h, 1), logged_work(log, "b", 1h, 2));
    auto v = co_await std::move(s);
    co_return v.index() == 0 ? std::get<0>(v) : std::get<1>(v);
  };
  auto h = halt::spawn(io, body());
  asio::post(io, [&] { asio::post(io, [&] { h.abort(); }); });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
  });
  CHECK(has(log, "~a"));
  CHECK(has(log, "~b"));
}

TEST_CASE("task select: started with a token from an asio::awaitable or a callback", "[select][halt_task]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto s = halt::select(sleep(1h), answer());
    auto v = co_await std::move(s)(asio::use_awaitable);
    CHECK(std::get<1>(v) == 42);
  });
  std::optional<std::size_t> idx;
  auto s = halt::select(sleep(1h), answer());
  std::move(s)(io, [&](std::exception_ptr e, std::variant<std::monostate, int> v) {
    CHECK_FALSE(e);
    idx = v.index();
  });
  io.restart();
  halt_test::run_until(io, [&] { return idx.has_value(); });
  CHECK(*idx == 1);
}

TEST_CASE("task select: 10^5 selects in a loop do not grow the stack", "[select][halt_task][stack]") {
  asio::io_context io;
  auto body = [&]() -> halt::task<long> {
    long sum = 0;
    for (int i = 0; i < 100000; ++i) {
      auto s = halt::select(answer(), sleep(1h));
      auto v = co_await std::move(s);
      sum += std::get<0>(v);
    }
    co_return sum;
  };
  CHECK(get(run(io, body())) == 4200000);
}

TEST_CASE("task select: an io_context destroyed while a select waits destroys every frame", "[select][halt_task][drop]") {
  std::vector<std::string> log;
  bool completed = false;
  {
    asio::io_context io;
    auto body = [&]() -> halt::task<void> {
      probe outer(log, "outer");
      auto s = halt::select(logged_work(log, "a", 1h, 1), logged_work(log, "b", 1h, 2));
      co_await std::move(s);
    };
    std::move(body())(io, [&](std::exception_ptr) { completed = true; });
    io.run_for(5ms);
  }
  CHECK_FALSE(completed);
  CHECK(has(log, "~a"));
  CHECK(has(log, "~b"));
  CHECK(has(log, "~outer"));
}

TEST_CASE("task run_until_cancelled: the task's value, or nullopt once the token is cancelled", "[select][halt_task]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto body = [&]() -> halt::task<void> {
    halt::cancellation_token tok;
    auto a = halt::run_until_cancelled(tok, answer());
    auto r1 = co_await std::move(a);
    CHECK(r1 == 42);
    asio::post(co_await asio::this_coro::executor, [&] { tok.cancel(); });
    auto b = halt::run_until_cancelled(tok, logged_work(log, "x", 1h, 1));
    auto r2 = co_await std::move(b);
    CHECK_FALSE(r2.has_value());
    auto c = halt::run_until_cancelled(tok, logged_work(log, "never", 0s, 1));
    auto r3 = co_await std::move(c);
    CHECK_FALSE(r3.has_value());
  };
  get(run(io, body()));
  CHECK(has(log, "~x"));
  CHECK_FALSE(has(log, "never.start"));
}

TEST_CASE("task select: 2000 spawned tasks with selects on a 4-thread pool, aborted from another thread",
          "[select][halt_task][drop][threads]") {
  asio::thread_pool pool(4);
  // Every guard that was constructed is destroyed exactly once (a task aborted before it ran, or
  // a branch that never started, constructs none).
  std::atomic<int> made{0}, gone{0}, finished{0};
  struct guard {
    std::atomic<int>* m;
    std::atomic<int>* n;
    guard(std::atomic<int>& made_, std::atomic<int>& gone_) : m(&made_), n(&gone_) { m->fetch_add(1); }
    guard(const guard&) = delete;
    ~guard() { n->fetch_add(1); }
  };
  auto branch = [&](std::chrono::microseconds d) -> halt::task<int> {
    guard g(made, gone);
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(halt::use_task);
    co_return 1;
  };
  auto body = [&](int i) -> halt::task<int> {
    guard g(made, gone);
    auto s = halt::select(branch(std::chrono::microseconds(i % 7 * 50)), branch(std::chrono::microseconds(i % 5 * 60)));
    auto v = co_await std::move(s);
    co_return static_cast<int>(v.index());
  };
  constexpr int n = 2000;
  std::vector<halt::join_handle<int>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(halt::spawn(pool, body(i)));
  std::thread aborter([&] {
    for (int i = 0; i < n; i += 2) hs[static_cast<std::size_t>(i)].abort();
  });
  aborter.join();
  std::atomic<int> joined{0};
  for (auto& h : hs)
    // Bound to the pool: pool.join() then waits for these handlers too (a plain callback would
    // run on the system executor, which pool.join() does not wait for).
    h.async_join(asio::bind_executor(pool, [&](halt::error_code, halt::join_result<int> r) {
      if (r.is_cancelled() || r.has_value()) joined.fetch_add(1);
      finished.fetch_add(1);
    }));
  pool.join();
  CHECK(finished == n);
  CHECK(joined == n);
  CHECK(made == gone);
  CHECK(made > n); // most tasks ran, with their branches
}

// ---- review of issue 11 (branch review11): repros tagged [review11] -----------------------------

namespace review11 {

// A move-only completion handler (void()) parked until it is fired by hand.
struct parked {
  struct base {
    virtual ~base() = default;
    virtual void call() = 0;
  };
  template <class H>
  struct impl final : base {
    H h;
    explicit impl(H&& x) : h(std::move(x)) {}
    void call() override { std::move(h)(); }
  };
  std::unique_ptr<base> p;
  void fire() {
    auto q = std::move(p);
    q->call();
  }
};

// An operation (void()) whose handler is parked in `slot` until fired; it ignores cancellation.
template <class Token>
auto async_park(parked& slot, Token&& token) {
  return asio::async_initiate<Token, void()>(
      [&slot](auto h) { slot.p = std::make_unique<parked::impl<decltype(h)>>(std::move(h)); }, token);
}

// An operation whose initiating function first fires `p` (completing another operation inline, as
// a dispatch to the current executor does), then waits on `t`.
template <class Token>
auto async_fire_then_wait(parked& p, asio::steady_timer& t, Token&& token) {
  return asio::async_initiate<Token, void(halt::error_code)>(
      [&p, &t](auto h) {
        p.fire();
        t.async_wait(std::move(h));
      },
      token);
}

// An operation (void(halt::error_code)) that only ends when cancelled, and then completes inline,
// inside the emit of its slot (allowed by Asio's rules; its own operations post instead).
template <class Token>
auto async_cancel_inline(Token&& token) {
  return asio::async_initiate<Token, void(halt::error_code)>(
      [](auto h) {
        using H = decltype(h);
        struct canceller {
          std::optional<H> h;
          void operator()(asio::cancellation_type_t) {
            if (!h) return;
            auto x = std::move(*h);
            h.reset();
            std::move(x)(asio::error::operation_aborted);
          }
        };
        auto slot = asio::get_associated_cancellation_slot(h);
        REQUIRE(slot.is_connected());
        slot.template emplace<canceller>(canceller{std::optional<H>(std::move(h))});
      },
      token);
}

// Runs every handler that is ready, until none is.
inline void drain(asio::io_context& io) {
  io.restart();
  while (io.poll() != 0) {
  }
}

} // namespace review11

TEST_CASE("task select: a drop requested while a branch's operation is being initiated cancels it (review11)",
          "[select][halt_task][drop][review11]") {
  // Branch b's initiating function completes branch a inline; a wins and asks b to drop while b's
  // operation is still initiating (op_state::st::initiating). request_drop() only emits when the
  // operation is pending; op_awaitable::await_suspend re-checks drop_requested_ after the
  // initiation and emits then. Before the fix it did not: b's timer was never cancelled, and the
  // select waited for the full hour.
  using namespace review11;
  std::vector<std::string> log;
  parked park;
  asio::io_context io; // destroyed first: it may still destroy b's frame
  auto a = [&]() -> halt::task<int> {
    co_await async_park(park, halt::use_task);
    co_return 1;
  };
  auto b = [&]() -> halt::task<int> {
    probe p(log, "b");
    asio::steady_timer t(co_await asio::this_coro::executor, 1h);
    auto op = async_fire_then_wait(park, t, halt::use_task);
    co_await std::move(op);
    log.push_back("b.after");
    co_return 2;
  };
  auto body = [&]() -> halt::task<int> {
    auto s = halt::select(a(), b());
    auto v = co_await std::move(s);
    co_return static_cast<int>(v.index());
  };
  outcome<int> out;
  std::move(body())(io, record<int>{&out});
  drain(io);
  CHECK(has(log, "~b"));
  REQUIRE(out.done); // before the fix: b was still waiting on its one-hour timer
  CHECK(get(std::move(out)) == 0);
  CHECK_FALSE(has(log, "b.after"));
}

TEST_CASE("review11 probe: a branch whose operation completes inside the drop's emit",
          "[select][halt_task][drop][review11]") {
  using namespace review11;
  std::vector<std::string> log;
  auto a = [&]() -> halt::task<int> {
    probe p(log, "a");
    co_await async_cancel_inline(halt::use_task);
    log.push_back("a.after");
    co_return 1;
  };
  auto b = [&]() -> halt::task<int> {
    co_await asio::post(co_await asio::this_coro::executor, halt::use_task);
    co_return 2;
  };
  auto body = [&]() -> halt::task<int> {
    probe p(log, "body");
    auto s = halt::select(a(), b());
    auto v = co_await std::move(s);
    co_return static_cast<int>(v.index());
  };
  SECTION("run to the end") {
    asio::io_context io;
    CHECK(get(run(io, body())) == 1);
    CHECK(log == std::vector<std::string>{"~a", "~body"});
  }
  SECTION("the io_context is destroyed while the drop job is queued") {
    bool completed = false;
    {
      asio::io_context io;
      std::move(body())(io, [&](std::exception_ptr, int) { completed = true; });
      CHECK(io.run_one() == 1); // the start: a waits, b posts
      CHECK(io.run_one() == 1); // b wins; a completes inside the emit: its drop is posted
      CHECK(log.empty());
    }
    CHECK_FALSE(completed);
    CHECK(log == std::vector<std::string>{"~a", "~body"});
  }
}

TEST_CASE("review11 probe: a nested select dropped while its branch completes inside the emit",
          "[select][halt_task][drop][review11]") {
  using namespace review11;
  std::vector<std::string> log;
  auto inl = [&]() -> halt::task<int> {
    probe p(log, "inl");
    co_await async_cancel_inline(halt::use_task);
    log.push_back("inl.after");
    co_return 1;
  };
  auto fast = [&]() -> halt::task<int> {
    co_await asio::post(co_await asio::this_coro::executor, halt::use_task);
    co_return 3;
  };
  auto body = [&]() -> halt::task<int> {
    probe p(log, "body");
    auto inner = halt::select(inl(), sleep(1h));
    auto s = halt::select(std::move(inner), fast());
    auto v = co_await std::move(s);
    co_return static_cast<int>(v.index());
  };
  SECTION("run to the end") {
    asio::io_context io;
    CHECK(get(run(io, body())) == 1);
    CHECK(log == std::vector<std::string>{"~inl", "~body"});
  }
  SECTION("the io_context is destroyed with the drops queued") {
    bool completed = false;
    {
      asio::io_context io;
      std::move(body())(io, [&](std::exception_ptr, int) { completed = true; });
      CHECK(io.run_one() == 1);
      CHECK(io.run_one() == 1);
    }
    CHECK_FALSE(completed);
    CHECK(log == std::vector<std::string>{"~inl", "~body"});
  }
}

TEST_CASE("review11 probe: the parent dropped by a branch while the group starts its branches",
          "[select][halt_task][drop][review11]") {
  std::vector<std::string> log;
  asio::cancellation_signal sig;
  asio::io_context io;
  auto dropper = [&]() -> halt::task<int> {
    probe p(log, "dropper");
    sig.emit(asio::cancellation_type::terminal); // the parent's start slot, from its executor
    co_await sleep(1h);
    log.push_back("dropper.after");
    co_return 2;
  };
  auto body = [&]() -> halt::task<int> {
    probe p(log, "body");
    auto s = halt::select(logged_work(log, "a", 1h, 1), dropper(), logged_work(log, "c", 0s, 3));
    auto v = co_await std::move(s);
    log.push_back("body.after");
    co_return static_cast<int>(v.index());
  };
  auto out = start(io, body(), sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK(log == std::vector<std::string>{"a.start", "~dropper", "~a", "~body"});
}

TEST_CASE("review11 probe: a branch that ends while a later branch starts and a nested select dropped while starting",
          "[select][halt_task][drop][review11]") {
  using namespace review11;
  std::vector<std::string> log;
  parked park;
  asio::io_context io;
  auto waiter = [&]() -> halt::task<int> {
    co_await async_park(park, halt::use_task);
    co_return 1;
  };
  auto firer = [&](std::string name) -> halt::task<int> {
    probe p(log, name);
    park.fire(); // completes `waiter` inline, which wins
    co_await sleep(1h);
    log.push_back(name + ".after");
    co_return 2;
  };
  auto body = [&]() -> halt::task<int> {
    auto s1 = halt::select(waiter(), firer("f1"), logged_work(log, "never1", 0s, 3));
    auto v1 = co_await std::move(s1);
    CHECK(v1.index() == 0);
    auto inner = halt::select(firer("f2"), logged_work(log, "never2", 0s, 4));
    auto s2 = halt::select(waiter(), std::move(inner));
    auto v2 = co_await std::move(s2);
    CHECK(v2.index() == 0);
    co_return 0;
  };
  CHECK(get(run(io, body())) == 0);
  CHECK(log == std::vector<std::string>{"~f1", "~f2"});
}

TEST_CASE("review11 probe: a spawned task waiting on a select when its context (strand) goes away",
          "[select][halt_task][drop][review11]") {
  std::vector<std::string> log;
  std::atomic<bool> started{false};
  auto marker = [&]() -> halt::task<int> {
    started = true;
    co_await sleep(1h);
    co_return 0;
  };
  auto body = [&]() -> halt::task<int> {
    probe outer(log, "outer");
    auto inner = halt::select(logged_work(log, "i1", 1h, 1), logged_work(log, "i2", 1h, 2));
    auto s = halt::select(logged_work(log, "a", 1h, 1), std::move(inner), marker());
    auto v = co_await std::move(s);
    co_return static_cast<int>(v.index());
  };
  SECTION("io_context with a strand") {
    halt::join_handle<int> h;
    {
      asio::io_context io;
      h = halt::spawn(io, body());
      halt_test::run_until(io, [&] { return started.load(); });
      CHECK(has(log, "i2.start"));
    }
    CHECK(h.is_finished());
  }
  SECTION("thread_pool") {
    halt::join_handle<int> h;
    {
      asio::thread_pool pool(2);
      h = halt::spawn(pool, body());
      halt_test::wait_until([&] { return started.load(); });
      pool.stop();
      pool.join();
    }
    CHECK(h.is_finished());
  }
  for (auto n : {"~outer", "~a", "~i1", "~i2"}) CHECK(has(log, n));
  CHECK(log.back() == "~outer");
}

namespace review11 {
// n selects nested in one another: select(nest(n - 1), sleep(1h)) at every level.
inline halt::task<int> nest(int n) {
  if (n == 0) {
    co_await asio::post(co_await asio::this_coro::executor, halt::use_task);
    co_return 0;
  }
  auto s = halt::select(nest(n - 1), sleep(1h));
  auto v = co_await std::move(s);
  co_return std::get<0>(v) + 1;
}
} // namespace review11

// Hidden ([.]): it overflows the stack (SIGSEGV under ASan at depth 10^5; 10^4 passes), which
// would end the whole run. Run it by name.
TEST_CASE("review11: 10^5 selects nested in one another: start and drop recurse on the stack (known limit)",
          "[.][select][halt_task][stack][review11]") {
  // group_base::start drives each branch inline (drive -> resume -> the next select's start ->
  // drive ...), and a drop recurses the same way (request_drop -> drop_all -> request_drop ...):
  // the stack grows with the nesting depth, unlike a chain of co_awaits (trampolined by drive()).
  // A recursive task that wraps its recursion in halt::timeout (one select per level) has the
  // same shape.
  constexpr int depth = 100000;
  SECTION("run to the end") {
    asio::io_context io;
    CHECK(get(run(io, review11::nest(depth))) == depth);
  }
  SECTION("dropped") {
    asio::io_context io;
    asio::cancellation_signal sig;
    auto out = start(io, review11::nest(depth), sig);
    io.run_one(); // the start: every level's select is waiting
    sig.emit(asio::cancellation_type::terminal);
    halt_test::run_until(io, [&] { return out->done; });
    CHECK(is_aborted(out->error));
  }
}

#if HALT_CHECK_SERIAL
TEST_CASE("io_context(1) run from two threads: a spawned halt::task's resumptions are checked (review11)",
          "[select][halt_task][threads][review11]") {
  // halt::spawn keeps the no-strand rule for io_context(1) for halt::task bodies too. Every entry
  // into a chain (drive, an operation's handler, a drop) is a serial_scope of the root's check_
  // (set by the start on such a context), so two threads inside two tasks' chains at once are
  // reported, as the awaitable engine reports them (see the issue-10 test above). Before the fix
  // only the start was checked.
  using namespace review11;
  serial_recorder rec;
  parked p1, p2;
  auto& m = serial_probe::m;
  auto& cv = serial_probe::cv;
  bool inside1 = false, inside2 = false;
  asio::io_context io(1);
  auto h1 = halt::spawn(io, [&]() -> halt::task<int> {
    co_await async_park(p1, halt::use_task);
    {
      std::unique_lock<std::mutex> g(m);
      inside1 = true;
      cv.notify_all();
      // Inside task 1's chain (a handler_called -> drive) until thread B is inside task 2's.
      cv.wait_for(g, 5s, [&] { return serial_probe::violations > 0 || inside2; });
    }
    co_return 1;
  });
  auto h2 = halt::spawn(io, [&]() -> halt::task<int> {
    co_await async_park(p2, halt::use_task);
    {
      std::lock_guard<std::mutex> g(m);
      inside2 = true;
    }
    cv.notify_all();
    co_return 2;
  });
  // Queued from this thread (shared queue, FIFO): both starts park, then task 1 resumes on A.
  asio::post(io, [&] { p1.fire(); });
  std::thread a([&] { io.run(); });
  {
    std::unique_lock<std::mutex> g(m);
    cv.wait(g, [&] { return inside1; });
  }
  asio::post(io, [&] { p2.fire(); }); // thread B takes it while A is still inside task 1
  std::thread b([&] { io.run(); });
  a.join();
  b.join();
  {
    std::lock_guard<std::mutex> g(m);
    CHECK(inside2);
  }
  CHECK(rec.violations() >= 1); // before the fix: nothing was reported
  CHECK(h1.is_finished());
  CHECK(h2.is_finished());
}
#endif
