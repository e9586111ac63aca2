// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// The guide's small code blocks (docs/01-*.md ... docs/08-*.md), compiled and run. Every ```cpp
// block of a chapter that is not quoted from an example appears here verbatim (indentation may
// differ), inside real code with the declarations it needs; tests/docs_test.cpp checks that. When
// you edit a block in the guide, edit its copy here, and the other way round.
//
// Notes:
// - g++ 12 miscompiles temporaries in a co_await full-expression: the code around the snippets
//   names its lambdas and awaitables first, and no co_await appears inside a Catch macro. (The
//   snippets are the guide's code as written; the temporaries they hold are plain awaitables and
//   deferred operations, as in the examples.)
// - halt's headers come first (clang with Asio 1.22 needs them before any Asio header), and the
//   include-only blocks of the guide are the first lines below.
// - clang-format is off: it would sort the include blocks and realign the snippets' comments, and
//   they would no longer match the guide.

// clang-format off

// docs/01-tokens.md
#include <halt/halt.hpp>   // or <halt/cancellation_token.hpp>

// docs/02-tasks.md
#include <halt/task.hpp>   // task, use_task, as_task (<halt/halt.hpp> has everything)

// docs/03-abort.md
#include <halt/join_handle.hpp>   // spawn, join_handle, abort_handle, scoped_task, join_result
#include <halt/join_set.hpp>
#include <halt/task_tracker.hpp>
#include <halt/spawn_blocking.hpp>

// docs/04-select.md
#include <halt/select.hpp>   // select, run_until_cancelled, halt::fair, halt::biased
#include <halt/timeout.hpp>  // timeout, timeout_at
#include <halt/sleep.hpp>    // sleep_for, sleep_until (the timing wheel)
#include <halt/join.hpp>     // join, try_join
#include <halt/async_select.hpp>  // async_select, async_join, async_try_join, async_timeout

// docs/05-cleanup.md
#include <halt/scope_guard.hpp>  // scope_exit, scope_fail, scope_success
#include <halt/shield.hpp>       // shield, finally

// docs/06-shutdown.md
#include <halt/shutdown.hpp>   // shutdown, shutdown_options, shutdown_report, on_shutdown

#include "support/async.hpp"
#include "support/catch.hpp"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <halt/asio.hpp>
#include <asio/bind_executor.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using asio::ip::tcp;
constexpr auto deferred = halt::deferred; // asio::deferred (asio::experimental:: before Asio 1.24)

namespace {

// Two connected loopback sockets: the snippets read from `sock`, the test writes into `peer`.
struct socket_pair {
  tcp::socket sock;
  tcp::socket peer;
  explicit socket_pair(asio::io_context& io) : sock(io), peer(io) {
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    sock.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
  }
};

// Runs `aw` on `io` to the end (at most 20 s); rethrows what escaped it.
void run_to_end(asio::io_context& io, asio::awaitable<void> aw) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  halt_test::run_until(io, [&] { return done; });
  if (error) std::rethrow_exception(error);
}

} // namespace

// =================================================================================================
// docs/01-tokens.md
// =================================================================================================

TEST_CASE("01-tokens: the tree", "[docs]") {
  halt::cancellation_token root;              // a new root, not cancelled
  auto conn = root.child_token();             // cancelled whenever root is
  auto req  = conn.child_token();
  conn.cancel();                              // conn and req; never root, never conn's siblings

  CHECK_FALSE(root.is_cancelled());
  CHECK(conn.is_cancelled());
  CHECK(req.is_cancelled());
  CHECK(req.reason() == halt::errc::cancelled);
  auto sibling = root.child_token();
  CHECK_FALSE(sibling.is_cancelled());
}

namespace ch01 {

// Reads from `sock` until the read ends; tells whether it ended with operation_aborted.
asio::awaitable<void> bound_read(tcp::socket& sock, halt::cancellation_token token, bool& aborted) {
  char data[64];
  auto buf = asio::buffer(data);
  try {
    co_await sock.async_read_some(buf, halt::bind_cancellation(token, asio::use_awaitable));
  } catch (const halt::system_error& e) {
    aborted = e.code() == asio::error::operation_aborted;
  }
}

} // namespace ch01

TEST_CASE("01-tokens: binding a token to an Asio operation", "[docs]") {
  asio::io_context io;
  socket_pair pair(io);
  halt::cancellation_token token;
  bool aborted = false;
  bool done = false;
  asio::co_spawn(io, ch01::bound_read(pair.sock, token, aborted), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  io.poll(); // the read is pending: the peer sends nothing
  REQUIRE_FALSE(done);
  token.cancel();
  halt_test::run_until(io, [&] { return done; });
  CHECK(aborted);
}

TEST_CASE("01-tokens: deadlines", "[docs]") {
  asio::io_context io;
  halt::cancellation_token conn;
  const auto before = std::chrono::steady_clock::now();

  auto req = conn.child_token_after(io, 30s);          // or child_token_at(ex, time_point)
  req.deadline();                                      // std::optional<steady_clock::time_point>

  const auto after = std::chrono::steady_clock::now();
  REQUIRE(req.deadline().has_value());
  CHECK(*req.deadline() >= before + 30s);
  CHECK(*req.deadline() <= after + 30s);
  CHECK_FALSE(conn.deadline().has_value());
  CHECK_FALSE(req.is_cancelled());
  conn.cancel(); // releases the timer at once
  CHECK(req.reason() == halt::errc::cancelled);
}

// =================================================================================================
// docs/02-tasks.md (the rest of the chapter quotes examples/abort_task.cpp,
// examples/select_request_task.cpp and examples/token_worker_task.cpp)
// =================================================================================================

namespace ch02 {

halt::task<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);   // the task's executor
  co_await timer.async_wait(halt::use_task);   // any Asio operation; an error code throws
}

halt::task<std::string> read_line(tcp::socket& sock) {
  co_await sleep_for(1ms);   // another task: started and resumed inline, no post, no co_spawn
  std::string line;
  std::size_t n = co_await asio::async_read_until(sock, asio::dynamic_buffer(line), '\n', halt::use_task);
  line.resize(n - 1);        // the completion's value, without its error code
  co_return line;
}

asio::awaitable<std::string> read_line_from_awaitable(tcp::socket& sock) {
  std::string line = co_await read_line(sock)(asio::use_awaitable);   // in an asio::awaitable
  co_return line;
}

// The drop rules: what runs when a task is dropped.
halt::task<void> upload(std::vector<std::string>& log) {
  halt::scope_exit always([&] { log.push_back("scope_exit runs"); });
  halt::scope_success ok([&] { log.push_back("never: scope_success"); });
  halt::scope_fail failed([&] { log.push_back("scope_fail runs: a drop is a failure"); });
  try {
    co_await sleep_for(60s);                                  // dropped here
    log.push_back("never: the code after the co_await");
  } catch (...) {
    log.push_back("never: a catch");
  }
  log.push_back("never: the rest of the task");
}

// Async cleanup during a drop.
struct connection {
  std::vector<std::string> log;

  halt::task<void> serve() {
    log.push_back("serving");
    halt::scope_exit gone([this] { log.push_back("serve: gone"); });
    co_await sleep_for(60s);
  }
  halt::task<void> send_goodbye() {
    log.push_back("goodbye: sending");
    co_await sleep_for(5ms); // it co_awaits, in the middle of the drop
    log.push_back("goodbye: sent");
  }
  halt::task<void> write_record(int record) {
    log.push_back("record " + std::to_string(record) + ": writing");
    co_await sleep_for(5ms);
    log.push_back("record " + std::to_string(record) + ": written");
  }
};

halt::task<void> session(connection& conn) {
  auto goodbye = [&conn] { return conn.send_goodbye(); };   // -> halt::task<void>; named first
  co_await halt::finally(conn.serve(), goodbye);   // goodbye runs however serve() ends, a drop included
}

halt::task<void> save(connection& conn, int record) {
  co_await halt::shield(conn.write_record(record), 5s);   // a drop waits for the whole record, at most 5 s
  conn.log.push_back("saved");
}

// select, join and timeout over tasks.
halt::task<std::string> fetch(int id) {
  co_await sleep_for(1ms);
  co_return "user " + std::to_string(id);
}

struct raced {
  std::size_t first_index = 9;
  std::string first, a, b, c;
  std::size_t d_index = 9, e_index = 9, f_index = 9;
  std::string f;
};

// `timer` never expires in the test: the branches racing it win.
halt::task<void> race(asio::steady_timer& timer, asio::steady_timer& other, raced& out) {
  auto first = co_await halt::select(fetch(1), fetch(2));   // std::variant<std::string, std::string>
  auto [a, b] = co_await halt::join(fetch(3), fetch(4));    // std::tuple<std::string, std::string>
  std::string c = co_await halt::timeout(2s, fetch(5));     // or halt::system_error(errc::timed_out)
  auto d = co_await halt::select(fetch(6), timer.async_wait(deferred));   // a task and an operation

  other.expires_after(1ms); // so that the second of these operations wins
  auto e = co_await halt::select(halt::as_task(timer.async_wait(deferred)), other.async_wait(deferred));

  out.first_index = first.index();
  out.first = first.index() == 0 ? std::get<0>(first) : std::get<1>(first);
  out.a = a;
  out.b = b;
  out.c = c;
  out.d_index = d.index();
  out.e_index = e.index();
}

asio::awaitable<void> race_from_awaitable(raced& out) {
  auto f = co_await halt::select(fetch(7), fetch(8))(asio::use_awaitable);   // in an asio::awaitable
  out.f_index = f.index();
  out.f = f.index() == 0 ? std::get<0>(f) : std::get<1>(f);
}

// Executors and threads.
halt::task<void> tick(halt::cancellation_token token, std::atomic<int>& ticks) {
  while (!token.is_cancelled()) {
    co_await sleep_for(1ms);
    ++ticks;
  }
}

// Joins `h` on `io` (bound to io: a plain handler would run on Asio's system executor, another
// thread); true if the task reported cancelled.
template <class T>
bool join_cancelled(asio::io_context& io, halt::join_handle<T>& h) {
  bool joined = false;
  bool cancelled = false;
  h.async_join(asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<T> r) {
    joined = !ec;
    cancelled = r.is_cancelled();
  }));
  halt_test::run_until(io, [&] { return joined; });
  return cancelled;
}

} // namespace ch02

TEST_CASE("02-tasks: writing and starting a task", "[docs]") {
  SECTION("with a completion handler") {
    asio::io_context io;
    socket_pair pair(io);
    tcp::socket& sock = pair.sock;
    asio::write(pair.peer, asio::buffer("hello\n", 6));
    std::string greeting;

    using ch02::read_line;
    read_line(sock)(io, [&](std::exception_ptr e, std::string line) {   // starts it on io
      if (!e) greeting = std::move(line);
    });

    halt_test::run_until(io, [&] { return !greeting.empty(); });
    CHECK(greeting == "hello");
  }
  SECTION("from an asio::awaitable") {
    asio::io_context io;
    socket_pair pair(io);
    asio::write(pair.peer, asio::buffer("from awaitable\n", 15));
    std::string got;
    auto body = [&]() -> asio::awaitable<void> {
      auto read = ch02::read_line_from_awaitable(pair.sock);
      got = co_await std::move(read);
    };
    run_to_end(io, body());
    CHECK(got == "from awaitable");
  }
  SECTION("spawned") {
    asio::io_context io;
    socket_pair pair(io);
    tcp::socket& sock = pair.sock;
    asio::write(pair.peer, asio::buffer("spawned\n", 8));

    using ch02::read_line;
    halt::join_handle<std::string> h = halt::spawn(io, read_line(sock));   // a task of its own

    std::string got;
    auto body = [&]() -> asio::awaitable<void> {
      auto r = co_await h.join();
      got = std::move(r).get_or_throw();
    };
    run_to_end(io, body());
    CHECK(got == "spawned");
  }
  SECTION("an error code throws halt::system_error") {
    asio::io_context io;
    socket_pair pair(io);
    pair.peer.close(); // end of file before a whole line
    halt::error_code code;
    ch02::read_line(pair.sock)(io, [&](std::exception_ptr e, std::string) {
      try {
        if (e) std::rethrow_exception(e);
      } catch (const halt::system_error& x) {
        code = x.code();
      }
    });
    halt_test::run_until(io, [&] { return static_cast<bool>(code); });
    CHECK(code == asio::error::eof);
  }
}

TEST_CASE("02-tasks: the drop rules", "[docs]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto h = halt::spawn(io, ch02::upload(log));
  io.poll(); // the start: upload runs to its 60 s sleep
  REQUIRE_FALSE(h.is_finished());
  CHECK(log.empty());
  h.abort();
  CHECK(ch02::join_cancelled(io, h));
  CHECK(log == std::vector<std::string>{"scope_fail runs: a drop is a failure", "scope_exit runs"});
}

TEST_CASE("02-tasks: finally and shield during a drop", "[docs]") {
  SECTION("finally: the cleanup co_awaits during the drop, and the join waits for it") {
    asio::io_context io;
    ch02::connection conn;
    auto h = halt::spawn(io, ch02::session(conn));
    halt_test::run_until(io, [&] { return !conn.log.empty(); });
    h.abort();
    CHECK(ch02::join_cancelled(io, h));
    CHECK(conn.log == std::vector<std::string>{"serving", "serve: gone", "goodbye: sending", "goodbye: sent"});
  }
  SECTION("shield: the drop waits for the record, then the task is dropped") {
    asio::io_context io;
    ch02::connection conn;
    auto h = halt::spawn(io, ch02::save(conn, 7));
    halt_test::run_until(io, [&] { return !conn.log.empty(); });
    h.abort();
    CHECK(ch02::join_cancelled(io, h));
    CHECK(conn.log == std::vector<std::string>{"record 7: writing", "record 7: written"});
  }
  SECTION("without a drop, both pass the work's outcome on") {
    asio::io_context io;
    ch02::connection conn;
    auto body = [&]() -> halt::task<void> {
      co_await ch02::save(conn, 8);
    };
    bool done = false;
    body()(io, [&](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
    halt_test::run_until(io, [&] { return done; });
    CHECK(conn.log == std::vector<std::string>{"record 8: writing", "record 8: written", "saved"});
  }
}

TEST_CASE("02-tasks: select, join and timeout over tasks", "[docs]") {
  asio::io_context io;
  asio::steady_timer timer(io, 1h);
  asio::steady_timer other(io, 1h);
  ch02::raced out;
  bool done = false;
  ch02::race(timer, other, out)(io, [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  halt_test::run_until(io, [&] { return done; });
  REQUIRE(out.first_index < 2);
  CHECK(out.first == "user " + std::to_string(out.first_index + 1));
  CHECK(out.a == "user 3");
  CHECK(out.b == "user 4");
  CHECK(out.c == "user 5");
  CHECK(out.d_index == 0);
  CHECK(out.e_index == 1);

  run_to_end(io, ch02::race_from_awaitable(out));
  REQUIRE(out.f_index < 2);
  CHECK(out.f == "user " + std::to_string(out.f_index + 7));
}

TEST_CASE("02-tasks: on a thread pool", "[docs]") {
  halt::cancellation_token token;
  std::atomic<int> ticks{0};
  std::atomic<bool> done{false};
  std::atomic<bool> failed{false};
  auto on_done = [&](std::exception_ptr e) {
    failed = static_cast<bool>(e);
    done = true;
  };

  using ch02::tick;
  asio::thread_pool pool(2);
  halt::join_handle<void> h = halt::spawn(pool, tick(token, ticks));   // spawn gives each task a strand
  tick(token, ticks)(asio::make_strand(pool), on_done);               // by hand: give it a strand yourself

  halt_test::wait_until([&] { return ticks.load() >= 4; });
  token.cancel();
  halt_test::wait_until([&] { return done.load() && h.is_finished(); });
  pool.join();
  CHECK_FALSE(failed.load());
}

// =================================================================================================
// docs/04-select.md (the rest of the chapter quotes examples/select_request.cpp and
// examples/token_worker_select.cpp)
// =================================================================================================

namespace ch04 {

// Reads what `sock` has (within 2 s), then "handshakes" before `deadline`. The handshake takes
// `handshake_time`.
asio::awaitable<std::size_t> read_then_handshake(
    tcp::socket& sock, std::chrono::system_clock::time_point deadline,
    std::chrono::steady_clock::duration handshake_time) {
  char data[64];
  auto buf = asio::buffer(data);
  auto handshake = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, handshake_time);
    co_await timer.async_wait(asio::use_awaitable);
  };

  std::size_t n = co_await halt::timeout(2s, sock.async_read_some(buf, deferred));
  co_await halt::timeout_at(deadline, handshake());   // any clock: steady, system, ...

  co_return n;
}

halt::task<std::string> fetch() {
  co_await halt::sleep_for(1ms);
  co_return "fetched";
}

halt::task<std::string> fetch_or_default() {
  co_await halt::sleep_for(5ms);                          // the task's executor
  auto r = co_await halt::select(halt::sleep_for(50ms), fetch());
  if (r.index() == 0) co_return "default";                // fetch() was dropped
  co_return std::get<1>(r);
}

void on_idle(asio::io_context& io) {                      // any completion token
  halt::sleep_for(io, 30s, [](halt::error_code ec) { if (!ec) std::puts("idle for 30 s"); });
}

// A callback: the reply or the deadline, whichever comes first. The loser is gone (its
// wait cancelled, its handler run) before the callback runs.
void fetch_with_deadline(asio::io_context& io, asio::steady_timer& deadline) {
  halt::async_select(io, fetch(), deadline.async_wait(halt::deferred),
                     [](std::exception_ptr e, std::variant<std::string, std::monostate> r) {
                       if (e) std::puts("failed");
                       else if (r.index() == 0) std::printf("got %s\n", std::get<0>(r).c_str());
                       else std::puts("timed out");
                     });
}

// A future, on a thread that does not run the io_context.
std::string fetch_blocking(asio::io_context& io) {
  std::future<std::string> f = halt::async_timeout(io, 2s, fetch(), asio::use_future);
  return f.get();                                         // throws halt::system_error(timed_out)
}

asio::awaitable<std::string> fetch_user(int id) {
  co_return "user " + std::to_string(id);
}

asio::awaitable<std::vector<int>> fetch_orders(int id) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
  co_await timer.async_wait(asio::use_awaitable);
  co_return std::vector<int>{id, id + 1};
}

asio::awaitable<std::size_t> upload(const std::string& part) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
  co_await timer.async_wait(asio::use_awaitable);
  co_return part.size();
}

struct joined {
  std::string user;
  std::vector<int> orders;
  std::size_t a = 0;
  std::size_t b = 0;
};

asio::awaitable<void> join_both(int id, joined& out) {
  const std::string part1 = "first part";
  const std::string part2 = "second";

  auto [user, orders] = co_await halt::join(fetch_user(id), fetch_orders(id));
  auto [a, b] = co_await halt::try_join(upload(part1), upload(part2));

  out.user = user;
  out.orders = orders;
  out.a = a;
  out.b = b;
}

} // namespace ch04

TEST_CASE("04-select: sleeps on the timing wheel", "[docs]") {
  asio::io_context io(1);
  std::string got;
  auto t = ch04::fetch_or_default();
  std::move(t)(io, [&](std::exception_ptr e, std::string v) {
    REQUIRE_FALSE(e);
    got = std::move(v);
  });
  ch04::on_idle(io); // 30 s: the context is destroyed first, and the handler with it, uncalled
  halt_test::run_until(io, [&] { return !got.empty(); });
  CHECK(got == "fetched");
}

TEST_CASE("04-select: without a coroutine (async_select, async_timeout)", "[docs]") {
  asio::io_context io;
  asio::steady_timer deadline(io, 2s);
  ch04::fetch_with_deadline(io, deadline);
  io.run(); // fetch() wins after 1 ms; run() returns once the deadline's wait was cancelled
  CHECK(deadline.cancel() == 0);

  io.restart();
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  const std::string got = ch04::fetch_blocking(io);
  work.reset();
  runner.join();
  CHECK(got == "fetched");
}

TEST_CASE("04-select: timeout and timeout_at", "[docs]") {
  SECTION("both finish in time") {
    asio::io_context io;
    socket_pair pair(io);
    asio::write(pair.peer, asio::buffer("ping", 4));
    std::size_t n = 0;
    auto body = [&]() -> asio::awaitable<void> {
      auto read = ch04::read_then_handshake(pair.sock, std::chrono::system_clock::now() + 10s, 1ms);
      n = co_await std::move(read);
    };
    run_to_end(io, body());
    CHECK(n == 4);
  }
  SECTION("the handshake misses its deadline") {
    asio::io_context io;
    socket_pair pair(io);
    asio::write(pair.peer, asio::buffer("ping", 4));
    halt::error_code code;
    auto body = [&]() -> asio::awaitable<void> {
      auto read = ch04::read_then_handshake(pair.sock, std::chrono::system_clock::now() + 20ms, 1h);
      try {
        co_await std::move(read);
      } catch (const halt::system_error& e) {
        code = e.code();
      }
    };
    run_to_end(io, body());
    CHECK(code == halt::errc::timed_out);
  }
}

TEST_CASE("04-select: join and try_join", "[docs]") {
  asio::io_context io;
  ch04::joined out;
  run_to_end(io, ch04::join_both(7, out));
  CHECK(out.user == "user 7");
  CHECK(out.orders == std::vector<int>{7, 8});
  CHECK(out.a == 10);
  CHECK(out.b == 6);
}

// =================================================================================================
// docs/05-cleanup.md (the example is examples/cleanup.cpp)
// =================================================================================================

namespace ch05 {

struct latch_probe {
  bool work_started = false;
  bool cancelled = false;
  bool rollback_started = false;
  bool reached_end = false;
};

// The guide's "this does not work": after an abort, the rollback's co_await throws at once.
asio::awaitable<void> rollback_after_catch(latch_probe& p) {
  auto work = [&p]() -> asio::awaitable<void> {
    p.work_started = true;
    asio::steady_timer timer(co_await asio::this_coro::executor, 60s);
    co_await timer.async_wait(asio::use_awaitable); // the abort lands here
  };
  auto rollback = [&p]() -> asio::awaitable<void> {
    p.rollback_started = true;
    co_return;
  };
  bool& cancelled = p.cancelled;

  try {
    co_await work();
  } catch (const halt::system_error&) {
    cancelled = true;               // C++ forbids co_await inside a catch block anyway
  }
  if (cancelled) co_await rollback();   // throws operation_aborted at once: the task is cancelled

  p.reached_end = true;
}

struct finally_probe {
  int work_calls = 0;
  int cleanups = 0;
  std::vector<int> cleanup_saw_work_calls; // each cleanup records how many works had ended
  int value = 0;
  std::vector<std::string> cleanup_errors;
};

// Both forms of finally. With `fail`, the second work and its cleanup both throw.
asio::awaitable<void> work_with_cleanup(finally_probe& p, bool fail) {
  auto work = [&p, fail]() -> asio::awaitable<int> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
    co_await timer.async_wait(asio::use_awaitable);
    if (++p.work_calls == 2 && fail) throw std::runtime_error("work failed");
    co_return 10 * p.work_calls;
  };
  auto cleanup = [&p, fail]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
    co_await timer.async_wait(asio::use_awaitable);
    p.cleanup_saw_work_calls.push_back(p.work_calls);
    if (++p.cleanups == 2 && fail) throw std::runtime_error("cleanup failed");
  };
  auto on_cleanup_error = [&p](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      p.cleanup_errors.push_back(x.what());
    }
  };

  int value = co_await halt::finally(work(), cleanup);                 // cleanup() -> awaitable<void>
  value = co_await halt::finally(work(), cleanup, on_cleanup_error);

  p.value = value;
}

} // namespace ch05

TEST_CASE("05-cleanup: a rollback after catching the cancellation does not run", "[docs]") {
  asio::io_context io;
  ch05::latch_probe p;
  auto h = halt::spawn(io, ch05::rollback_after_catch(p));
  halt_test::run_until(io, [&] { return p.work_started; });
  h.abort();
  bool joined = false;
  bool was_cancelled = false;
  // Bound to io: a plain handler has no associated executor and would run on Asio's system
  // executor, another thread.
  h.async_join(asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<void> r) {
    joined = !ec;
    was_cancelled = r.is_cancelled();
  }));
  halt_test::run_until(io, [&] { return joined; });
  CHECK(was_cancelled);
  CHECK(p.cancelled);               // the catch block ran
  CHECK_FALSE(p.rollback_started);  // but co_await rollback() threw before the rollback started
  CHECK_FALSE(p.reached_end);
}

TEST_CASE("05-cleanup: finally", "[docs]") {
  SECTION("work succeeds: its value is passed on, after the cleanup") {
    asio::io_context io;
    ch05::finally_probe p;
    run_to_end(io, ch05::work_with_cleanup(p, false));
    CHECK(p.value == 20);
    CHECK(p.cleanup_saw_work_calls == std::vector<int>{1, 2});
    CHECK(p.cleanup_errors.empty());
  }
  SECTION("work and cleanup both fail: work's exception is kept, cleanup's goes to the handler") {
    asio::io_context io;
    ch05::finally_probe p;
    std::string what;
    try {
      run_to_end(io, ch05::work_with_cleanup(p, true));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "work failed");
    CHECK(p.value == 0);
    CHECK(p.cleanup_saw_work_calls == std::vector<int>{1, 2});
    CHECK(p.cleanup_errors == std::vector<std::string>{"cleanup failed"});
  }
}

// =================================================================================================
// docs/06-shutdown.md (the other blocks are quoted from examples/server.cpp)
// =================================================================================================

TEST_CASE("06-shutdown: the options", "[docs]") {
  asio::io_context io;

  halt::shutdown_options options;
  options.grace = 10s;              // phase 1 bound (negative: std::invalid_argument)
  options.abort_wait = 5s;          // phase 2 bound
  options.signals = {SIGINT, SIGTERM};
  options.log = [](const std::string& line) { std::puts(line.c_str()); };
  halt::shutdown sd(io, options);   // a signal that cannot be installed: halt::system_error

  auto worker = [](halt::cancellation_token token) -> asio::awaitable<void> {
    co_await token.cancelled(); // cooperative: finishes as soon as the shutdown begins
  };
  sd.spawn("worker", worker(sd.token())).detach();

  halt::shutdown_report report;
  auto main_task = [&]() -> asio::awaitable<void> { report = co_await sd.run(); };
  auto h = halt::spawn(io, main_task);
  sd.request();
  halt_test::run_until(io, [&] { return h.is_finished(); });

  CHECK(report.trigger == "request()");
  CHECK_FALSE(report.forced);
  REQUIRE(report.tasks.size() == 1);
  CHECK(report.tasks[0].name == "worker");
  CHECK(report.tasks[0].how == halt::shutdown_report::outcome::graceful);
  CHECK(sd.token().reason() == halt::errc::shutdown);
}

// =================================================================================================
// docs/07-cancellation-safety.md (the safe version is quoted from examples/server.cpp)
// =================================================================================================

namespace ch07 {

// The guide's unsafe read: a line raced against the token. Returns the winner's index and, when
// the read wins, the length of the line (its delimiter included).
asio::awaitable<std::pair<std::size_t, std::size_t>> unsafe_read_line(
    tcp::socket& sock, std::string& tmp, halt::cancellation_token token) {
  // Not safe: if this read loses after half a line arrived, its result (the line's length) is lost.
  auto r = co_await halt::select(token.cancelled(),
                                 asio::async_read_until(sock, asio::dynamic_buffer(tmp), '\n', deferred));

  co_return std::pair<std::size_t, std::size_t>{r.index(), r.index() == 1 ? std::get<1>(r) : 0};
}

} // namespace ch07

TEST_CASE("07-cancellation-safety: async_read_until raced against a token", "[docs]") {
  asio::io_context io;
  socket_pair pair(io);
  halt::cancellation_token token;
  std::string tmp;
  std::pair<std::size_t, std::size_t> result{99, 0};
  bool done = false;
  auto body = [&]() -> asio::awaitable<void> {
    auto read = ch07::unsafe_read_line(pair.sock, tmp, token);
    result = co_await std::move(read);
  };

  SECTION("a whole line arrives: the read wins") {
    asio::write(pair.peer, asio::buffer("hello\n", 6));
    run_to_end(io, body());
    CHECK(result.first == 1);
    CHECK(result.second == 6);
  }
  SECTION("half a line, then the token: the token wins and the read is cancelled") {
    asio::write(pair.peer, asio::buffer("hel", 3));
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
    halt_test::run_for(io, 20ms); // the read takes "hel" and waits for the rest of the line
    REQUIRE_FALSE(done);
    token.cancel();
    halt_test::run_until(io, [&] { return done; });
    CHECK(result.first == 0);
  }
}
