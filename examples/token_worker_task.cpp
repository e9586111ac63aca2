// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The Tokio article's cooperative worker with halt::task: each unit of work runs until the token
/// is cancelled (halt::run_until_cancelled, a select against the token that runs inline). When
/// the token wins, the unit in flight has been dropped, and the worker, which was not dropped,
/// does its async cleanup. (examples/token_worker_select.cpp is the asio::awaitable version.)
#include <halt/halt.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

using namespace std::chrono_literals;

halt::task<std::string> unit_of_work(int n) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 40ms);
  co_await timer.async_wait(halt::use_task);
  co_return "result " + std::to_string(n);
}

halt::task<void> worker(int id, halt::cancellation_token token) {
  std::vector<std::string> buffer;
  int connections = 2;

  for (;;) {
    // std::nullopt once the token is cancelled; if it already is, no new unit of work starts.
    auto next = unit_of_work(static_cast<int>(buffer.size()));
    auto result = co_await halt::run_until_cancelled(token, std::move(next));
    if (!result) break;
    buffer.push_back(std::move(*result));
  }

  std::printf("worker %d: cancelled (%s), flushing %zu buffered results\n", id,
              token.reason().message().c_str(), buffer.size());
  asio::steady_timer flush(co_await asio::this_coro::executor, 10ms);
  co_await flush.async_wait(halt::use_task);
  while (connections > 0) std::printf("worker %d: closed connection %d\n", id, connections--);
}

int main() {
  asio::io_context io;
  halt::cancellation_token token;
  auto done = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  for (int id = 1; id <= 2; ++id) worker(id, token.child_token())(io, done);

  asio::steady_timer stop(io, 130ms);
  stop.async_wait([&](halt::error_code) { token.cancel(); });
  io.run();
}
