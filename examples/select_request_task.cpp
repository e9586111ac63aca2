// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The Tokio article's request handler with halt::task: work that holds a transaction, raced
/// against the shutdown token. The select runs inline in the handler's task; the losing work is
/// dropped where it waits, as a Rust future is: its transaction's destructor rolls back, and no
/// code after its co_await runs. Request 3's rollback must co_await (a ROLLBACK sent over the
/// connection), which a Rust Drop cannot do: halt::finally runs it during the drop, and select
/// returns only once it has finished. (examples/select_request.cpp is the asio::awaitable version.)
#include <halt/halt.hpp>

#include <halt/asio.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

using namespace std::chrono_literals;

halt::task<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(halt::use_task);
}

// Rolls back in its destructor unless committed: Rust's Drop, in C++.
class transaction {
public:
  explicit transaction(int id) : id_(id) { std::printf("request %d: BEGIN\n", id_); }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction() {
    if (!committed_) std::printf("request %d: ROLLBACK (destructor)\n", id_);
  }
  void commit() {
    committed_ = true;
    std::printf("request %d: COMMIT\n", id_);
  }

private:
  int id_;
  bool committed_ = false;
};

// The work of one request: it holds a transaction across a slow step.
halt::task<void> do_request(int id, std::chrono::milliseconds work) {
  transaction tx(id);
  co_await sleep_for(work); // a losing request is dropped here: ~transaction rolls back
  tx.commit();
}

// The same work when rolling back means talking to the database: the rollback co_awaits.
halt::task<void> do_request_async_rollback(int id, std::chrono::milliseconds work) {
  bool committed = false;
  std::printf("request %d: BEGIN\n", id);
  auto step = [&]() -> halt::task<void> {
    co_await sleep_for(work);
    committed = true;
    std::printf("request %d: COMMIT\n", id);
  };
  auto rollback = [&]() -> halt::task<void> {
    if (committed) co_return;
    std::printf("request %d: sending ROLLBACK\n", id);
    co_await sleep_for(20ms); // the round trip to the database, in the middle of the drop
    std::printf("request %d: ROLLBACK acknowledged\n", id);
  };
  co_await halt::finally(step(), rollback); // the rollback runs however step() ends, drop included
}

// The article's handler: whichever finishes first, the shutdown token or the work, wins. When
// the token wins, select returns only after the work was dropped: its rollback, sync or async,
// has already run.
halt::task<void> handle_request(int id, halt::task<void> work, halt::cancellation_token shutdown) {
  // Tokio's `select! { _ = shutdown.cancelled() => ..., _ = work => ... }`: inside a halt::task
  // the token's wait races as a task branch, inline, like the work.
  auto winner = co_await halt::select(shutdown.cancelled(), std::move(work));
  if (winner.index() == 0)
    std::printf("request %d: cancelled by shutdown, work already dropped\n", id);
  else
    std::printf("request %d: done\n", id);
}

int main() {
  asio::io_context io;
  halt::cancellation_token shutdown;
  auto done = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  handle_request(1, do_request(1, 50ms), shutdown)(io, done);
  handle_request(2, do_request(2, 5s), shutdown)(io, done);
  handle_request(3, do_request_async_rollback(3, 5s), shutdown)(io, done);

  asio::steady_timer stop(io, 100ms);
  stop.async_wait([&](halt::error_code) {
    std::printf("-- shutdown requested\n");
    shutdown.cancel(halt::errc::shutdown);
  });
  io.run();
}
