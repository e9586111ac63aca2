// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The cooperative worker from docs/01-tokens.md, written the way the Tokio article writes it:
/// each unit of work is raced against token.cancelled() with halt::select. When the token wins,
/// the unit in flight has been cancelled and unwound, and the worker does its async cleanup.
#include <halt/halt.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

asio::awaitable<std::string> unit_of_work(int n) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 40ms);
  co_await timer.async_wait(asio::use_awaitable);
  co_return "result " + std::to_string(n);
}

asio::awaitable<void> worker(int id, halt::cancellation_token token) {
  std::vector<std::string> buffer;
  int connections = 2;

  for (;;) {
    // The token comes first: if it is already cancelled, no new unit of work starts.
    auto next = unit_of_work(static_cast<int>(buffer.size()));
    auto winner = co_await halt::select(token.cancelled(), std::move(next));
    if (winner.index() == 0) break;
    buffer.push_back(std::move(std::get<1>(winner)));
  }

  std::printf("worker %d: cancelled (%s), flushing %zu buffered results\n", id,
              token.reason().message().c_str(), buffer.size());
  asio::steady_timer flush(co_await asio::this_coro::executor, 10ms);
  co_await flush.async_wait(asio::use_awaitable);
  while (connections > 0) std::printf("worker %d: closed connection %d\n", id, connections--);
}

int main() {
  asio::io_context io;
  halt::cancellation_token token;
  for (int id = 1; id <= 2; ++id) asio::co_spawn(io, worker(id, token.child_token()), asio::detached);

  asio::steady_timer stop(io, 130ms);
  stop.async_wait([&](halt::error_code) { token.cancel(); });
  io.run();
}
