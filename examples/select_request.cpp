// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The Tokio article's request handler, in halt: work that holds a transaction which rolls back
/// when it is dropped, raced with halt::select against the shutdown token. The losing branch is
/// cancelled and fully unwound (its rollback has run) before select returns. Request 3 needs an
/// async rollback (a ROLLBACK sent over the connection): halt::finally runs it, shielded, however
/// the work ended, and select waits for it too.
#include <halt/halt.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
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
asio::awaitable<void> do_request(int id, std::chrono::milliseconds work) {
  transaction tx(id);
  co_await sleep_for(work);
  tx.commit();
}

// The same work when rolling back means talking to the database: the rollback co_awaits.
asio::awaitable<void> do_request_async_rollback(int id, std::chrono::milliseconds work) {
  bool committed = false;
  std::printf("request %d: BEGIN\n", id);
  auto step = [&]() -> asio::awaitable<void> {
    co_await sleep_for(work);
    committed = true;
    std::printf("request %d: COMMIT\n", id);
  };
  auto rollback = [&]() -> asio::awaitable<void> {
    if (committed) co_return;
    std::printf("request %d: sending ROLLBACK\n", id);
    co_await sleep_for(20ms); // the round trip to the database
    std::printf("request %d: ROLLBACK acknowledged\n", id);
  };
  co_await halt::finally(step(), rollback); // the rollback runs however step() ends
}

// The article's handler: whichever finishes first, the shutdown token or the work, wins. When
// the token wins, select returns only after the work was cancelled and unwound: its rollback,
// sync or async, has already run.
asio::awaitable<void> handle_request(int id, asio::awaitable<void> work,
                                     halt::cancellation_token shutdown) {
  auto winner = co_await halt::select(shutdown.cancelled(), std::move(work));
  if (winner.index() == 0)
    std::printf("request %d: cancelled by shutdown, work already unwound\n", id);
  else
    std::printf("request %d: done\n", id);
}

int main() {
  asio::io_context io;
  halt::cancellation_token shutdown;
  asio::co_spawn(io, handle_request(1, do_request(1, 50ms), shutdown), asio::detached);
  asio::co_spawn(io, handle_request(2, do_request(2, 5s), shutdown), asio::detached);
  asio::co_spawn(io, handle_request(3, do_request_async_rollback(3, 5s), shutdown), asio::detached);

  asio::steady_timer stop(io, 100ms);
  stop.async_wait([&](halt::error_code) {
    std::printf("-- shutdown requested\n");
    shutdown.cancel(halt::errc::shutdown);
  });
  io.run();
}
