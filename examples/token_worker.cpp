// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The Tokio article's cooperative worker, in halt: it loops over units of work, and when its
/// token is cancelled it flushes its buffer and closes its connections before it returns.
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

asio::awaitable<void> worker(int id, halt::cancellation_token token) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  std::vector<std::string> buffer;
  int connections = 2;

  while (!token.is_cancelled()) {
    // One unit of work. The wait is bound to the token, so a cancel ends it at once with
    // operation_aborted instead of waiting out the full 40 ms.
    timer.expires_after(40ms);
    try {
      co_await timer.async_wait(halt::bind_cancellation(token, asio::use_awaitable));
      buffer.push_back("result " + std::to_string(buffer.size()));
    } catch (const halt::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
    }
  }

  // The cancel was a request, not an abort: the worker is still running and may co_await.
  std::printf("worker %d: cancelled (%s), flushing %zu buffered results\n", id,
              token.reason().message().c_str(), buffer.size());
  timer.expires_after(10ms);
  co_await timer.async_wait(asio::use_awaitable); // the flush
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
