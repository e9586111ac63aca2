// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// README.md's "A taste", compiled and run. The code between the two markers below is README.md's
// ```cpp blocks, verbatim and in order (indentation and blank lines aside), with nothing before it
// but comments: tests/docs_test.cpp checks that. So the README's code compiles on its own, with
// its own includes and declarations; the test cases after the end marker define its log() and
// check what its comments claim. When you edit a block in README.md, edit it here too.
//
// clang-format off: it would sort the includes and realign the comments, and the code would no
// longer match README.md.

// clang-format off

// ---- README.md begins ----
#include <halt/halt.hpp>   // first: with clang and Asio older than 1.26 it enables coroutines

#include <asio.hpp>
#include <halt/asio.hpp>

#include <memory>
#include <string>

using namespace std::chrono_literals;

void log(const std::string& line);   // yours: print it, or hand it to your logger

asio::awaitable<void> flush_and_say_goodbye() {         // cleanup that needs to co_await
  asio::steady_timer flush(co_await asio::this_coro::executor, 5ms);
  co_await flush.async_wait(asio::use_awaitable);
}

asio::awaitable<void> connection(halt::cancellation_token token) {
  asio::steady_timer work(co_await asio::this_coro::executor);
  while (!token.is_cancelled()) {                       // one atomic load
    work.expires_after(20ms);
    try {                                               // the token cancels the wait itself
      co_await work.async_wait(halt::bind_cancellation(token, asio::use_awaitable));
    } catch (const halt::system_error&) {}
  }
  co_await flush_and_say_goodbye();                     // cooperative: cleanup may co_await
  log("stopped: " + token.reason().message());          // "shutting down", "timed out", ...
}

// root.cancel(halt::errc::shutdown) reaches every connection; each one also has a deadline,
// max_age after it starts, that cancels it with halt::errc::timed_out.
void serve(asio::io_context& io, const halt::cancellation_token& root, int connections,
           std::chrono::steady_clock::duration max_age) {
  for (int i = 0; i < connections; ++i)
    asio::co_spawn(io, connection(root.child_token_after(io, max_age)), asio::detached);
}

struct connection_guard {                               // a socket, a lock, a transaction...
  ~connection_guard() { log("guard released"); }
};

asio::awaitable<int> long_job(std::unique_ptr<connection_guard>) {  // the task owns its parameters
  asio::steady_timer sleep(co_await asio::this_coro::executor, 24h);
  co_await sleep.async_wait(asio::use_awaitable);       // an abort lands here
  co_return 42;
}

asio::awaitable<void> hammer() {
  auto ex = co_await asio::this_coro::executor;
  auto guard = std::make_unique<connection_guard>();
  halt::join_handle<int> h = halt::spawn(ex, long_job(std::move(guard))); // posted, not inline
  h.abort();                                            // any thread; never blocks
  halt::join_result<int> r = co_await h.join();         // value, cancelled, or exception
  if (r.is_cancelled()) log("aborted; the guard it owned was released");   // though it never ran
}

asio::awaitable<std::string> do_request(int id) {
  halt::scope_fail rollback([id] { log("request " + std::to_string(id) + " rolled back"); });
  asio::steady_timer database(co_await asio::this_coro::executor, 50ms);
  co_await database.async_wait(asio::use_awaitable);    // the slow part
  co_return "reply " + std::to_string(id) + "\n";
}

asio::awaitable<void> send_goodbye(asio::ip::tcp::socket& sock) {
  co_await asio::async_write(sock, asio::buffer("bye\n", 4), asio::use_awaitable);
}

asio::awaitable<void> handle(asio::ip::tcp::socket& sock, halt::cancellation_token shutdown,
                             int id) {
  // a std::variant<std::monostate, std::string>: index() names the winner
  auto winner = co_await halt::select(shutdown.cancelled(), do_request(id));
  if (winner.index() == 0) {
    log("shutdown won; the request was rolled back");
    co_return;
  }
  const std::string& reply = std::get<1>(winner);
  auto write = asio::async_write(sock, asio::buffer(reply), halt::deferred);
  auto goodbye = [&sock] { return send_goodbye(sock); };  // named first: see the g++ 12 note
  co_await halt::finally(halt::timeout(2s, std::move(write)), goodbye);  // cleanup that awaits
}

halt::task<std::string> fetch_reply(int id) {          // lazy: runs when awaited, raced or spawned
  halt::scope_exit rollback([id] { log("request " + std::to_string(id) + " dropped, rolled back"); });
  asio::steady_timer database(co_await asio::this_coro::executor, 50ms);
  co_await database.async_wait(halt::use_task);         // any Asio operation, with halt::use_task
  rollback.release();                                   // not reached when the request is dropped
  co_return "reply " + std::to_string(id) + "\n";
}

halt::task<void> handle_task(asio::ip::tcp::socket& sock, halt::cancellation_token shutdown,
                             int id) {
  // Tokio's select! against shutdown.cancelled(): in a task the token's wait is a task branch too
  auto winner = co_await halt::select(shutdown.cancelled(), fetch_reply(id));
  if (winner.index() == 0) {
    log("shutdown won; the request was dropped");
    co_return;
  }
  co_await asio::async_write(sock, asio::buffer(std::get<1>(winner)), halt::use_task);
}
// started like any Asio operation: handle_task(sock, shutdown, 1)(io, completion_handler);
// or spawned, and then abort() drops it: halt::spawn(io, handle_task(sock, shutdown, 1));

// ---- README.md ends ----

// clang-format on

#include "support/async.hpp"
#include "support/catch.hpp"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <vector>

namespace {
std::vector<std::string> logged; // what the README's code logged; the tests run on one thread
} // namespace

void log(const std::string& line) { logged.push_back(line); }

namespace {

using asio::ip::tcp;

// Two connected loopback sockets: handle() writes to `sock`, the test reads from `peer`.
struct socket_pair {
  tcp::socket sock;
  tcp::socket peer;
  explicit socket_pair(asio::io_context& io) : sock(io), peer(io) {
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    sock.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
  }
};

} // namespace

TEST_CASE("README: root.cancel(shutdown) reaches every connection, after its async cleanup", "[docs][readme]") {
  logged.clear();
  asio::io_context io;
  halt::cancellation_token root;
  serve(io, root, 3, 1h);
  io.poll(); // every connection is in its first 20 ms wait
  CHECK(logged.empty());
  root.cancel(halt::errc::shutdown);
  halt_test::run_until(io, [&] { return logged.size() == 3; });
  CHECK(logged == std::vector<std::string>(3, "stopped: shutting down"));
  halt_test::run_until(io, [&] { return io.stopped(); }); // nothing is left: the deadlines went
}

TEST_CASE("README: a connection's deadline stops it with timed_out", "[docs][readme]") {
  logged.clear();
  asio::io_context io;
  halt::cancellation_token root;
  serve(io, root, 1, 30ms);
  halt_test::run_until(io, [&] { return logged.size() == 1; });
  CHECK(logged[0] == "stopped: timed out");
  CHECK_FALSE(root.is_cancelled()); // a deadline cancels the child only
}

TEST_CASE("README: the hammer: what the task owned is released before join reports", "[docs][readme]") {
  SECTION("aborted before it ran, as in the README") {
    logged.clear();
    asio::io_context io;
    halt_test::run_main(io, hammer);
    CHECK(logged == std::vector<std::string>{"guard released", "aborted; the guard it owned was released"});
  }
  SECTION("why the README's guard is a parameter: a guard in the body of a task aborted before it ran never exists") {
    logged.clear();
    asio::io_context io;
    auto body = []() -> asio::awaitable<int> {
      connection_guard guard;
      co_return 1;
    };
    halt::join_handle<int> h = halt::spawn(io, body);
    h.abort();
    bool cancelled = false;
    auto join = [&]() -> asio::awaitable<void> { cancelled = (co_await h.join()).is_cancelled(); };
    halt_test::run_main(io, join);
    CHECK(cancelled);
    CHECK(logged.empty());
  }
  SECTION("aborted in its sleep") {
    logged.clear();
    asio::io_context io;
    halt::join_handle<int> h = halt::spawn(io, long_job(std::make_unique<connection_guard>()));
    io.poll(); // the task has run to its 24 h sleep
    REQUIRE_FALSE(h.is_finished());
    CHECK(logged.empty());
    h.abort();
    bool cancelled = false;
    auto join = [&]() -> asio::awaitable<void> {
      auto r = co_await h.join();
      cancelled = r.is_cancelled();
      log("joined");
    };
    halt_test::run_main(io, join);
    CHECK(cancelled);
    CHECK(logged == std::vector<std::string>{"guard released", "joined"});
  }
}

TEST_CASE("README: the race: the loser is rolled back before select returns", "[docs][readme]") {
  SECTION("shutdown wins") {
    logged.clear();
    asio::io_context io;
    socket_pair pair(io);
    halt::cancellation_token shutdown;
    bool done = false;
    asio::co_spawn(io, handle(pair.sock, shutdown, 1), [&](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
    io.poll(); // the request is in its 50 ms database wait
    REQUIRE_FALSE(done);
    shutdown.cancel(halt::errc::shutdown);
    halt_test::run_until(io, [&] { return done; });
    CHECK(logged == std::vector<std::string>{"request 1 rolled back",
                                             "shutdown won; the request was rolled back"});
    pair.sock.close(); // nothing was written: the peer reads end-of-file at once
    char c = 0;
    halt::error_code ec;
    CHECK(asio::read(pair.peer, asio::buffer(&c, 1), ec) == 0);
    CHECK(ec == asio::error::eof);
  }
  SECTION("the request wins: the reply, then the goodbye") {
    logged.clear();
    asio::io_context io;
    socket_pair pair(io);
    halt::cancellation_token shutdown;
    auto body = [&]() -> asio::awaitable<void> {
      auto h = handle(pair.sock, shutdown, 7);
      co_await std::move(h);
    };
    halt_test::run_main(io, body);
    CHECK(logged.empty()); // no rollback
    std::string got(std::string("reply 7\nbye\n").size(), '\0');
    asio::read(pair.peer, asio::buffer(got));
    CHECK(got == "reply 7\nbye\n");
  }
}

TEST_CASE("README: the race with halt::task: the losing request is dropped before select returns", "[docs][readme]") {
  SECTION("shutdown wins: the request is dropped, its scope_exit runs, nothing after its co_await") {
    logged.clear();
    asio::io_context io;
    socket_pair pair(io);
    halt::cancellation_token shutdown;
    bool done = false;
    handle_task(pair.sock, shutdown, 1)(io, [&](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
    io.poll(); // the request is in its 50 ms database wait
    REQUIRE_FALSE(done);
    shutdown.cancel(halt::errc::shutdown);
    halt_test::run_until(io, [&] { return done; });
    CHECK(logged == std::vector<std::string>{"request 1 dropped, rolled back",
                                             "shutdown won; the request was dropped"});
    pair.sock.close(); // nothing was written: the peer reads end-of-file at once
    char c = 0;
    halt::error_code ec;
    CHECK(asio::read(pair.peer, asio::buffer(&c, 1), ec) == 0);
    CHECK(ec == asio::error::eof);
  }
  SECTION("the request wins: the reply is written, no rollback") {
    logged.clear();
    asio::io_context io;
    socket_pair pair(io);
    halt::cancellation_token shutdown;
    bool done = false;
    handle_task(pair.sock, shutdown, 7)(io, [&](std::exception_ptr e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
    halt_test::run_until(io, [&] { return done; });
    CHECK(logged.empty());
    std::string got(std::string("reply 7\n").size(), '\0');
    asio::read(pair.peer, asio::buffer(got));
    CHECK(got == "reply 7\n");
  }
  SECTION("spawned, then aborted: abort() drops it like a lost race") {
    logged.clear();
    asio::io_context io;
    socket_pair pair(io);
    halt::cancellation_token shutdown;
    halt::join_handle<void> h = halt::spawn(io, handle_task(pair.sock, shutdown, 2));
    io.poll(); // the request is in its database wait
    REQUIRE_FALSE(h.is_finished());
    h.abort();
    bool cancelled = false;
    auto join = [&]() -> asio::awaitable<void> { cancelled = (co_await h.join()).is_cancelled(); };
    halt_test::run_main(io, join);
    CHECK(cancelled);
    CHECK(logged == std::vector<std::string>{"request 2 dropped, rolled back"});
  }
}
