// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// Cleanup on every way out: scope guards run synchronously while a frame unwinds; halt::finally
/// runs a cleanup that co_awaits, even when the task was aborted; halt::shield with a deadline
/// keeps a slow cleanup from hanging shutdown.
#include <halt/halt.hpp>

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

asio::awaitable<void> upload() {
  halt::scope_exit log([] { std::printf("upload: frame unwound\n"); });
  halt::scope_fail cleanup([] { std::printf("upload: failed, temp file removed\n"); });
  co_await sleep_for(60s); // the abort lands here
}

asio::awaitable<void> notify_peer() { // a slow async cleanup step
  std::printf("cleanup: telling the peer we are going away\n");
  co_await sleep_for(20ms);
  std::printf("cleanup: peer notified\n");
}

asio::awaitable<void> hanging_cleanup() { co_await sleep_for(60s); } // a peer that never answers

asio::awaitable<void> session() {
  auto cleanup = [] { return notify_peer(); };
  co_await halt::finally(upload(), cleanup); // cleanup runs even though the task is aborted
}

asio::awaitable<void> bounded_session() {
  auto cleanup = []() -> asio::awaitable<void> {
    try {
      co_await halt::shield(hanging_cleanup(), 50ms); // bounded: gives up after 50 ms
    } catch (const halt::system_error& e) {
      std::printf("cleanup: gave up (%s)\n", e.code().message().c_str());
    }
  };
  co_await halt::finally(sleep_for(60s), cleanup);
}

int main() {
  asio::io_context io;
  auto a = halt::spawn(io, session());
  auto b = halt::spawn(io, bounded_session());

  asio::steady_timer stop(io, 30ms);
  stop.async_wait([&](halt::error_code) {
    std::printf("-- aborting both tasks\n");
    a.abort();
    b.abort();
  });
  auto report = [&]() -> asio::awaitable<void> {
    auto ra = co_await a.join();
    auto rb = co_await b.join();
    std::printf("session: %s, bounded_session: %s\n", ra.is_cancelled() ? "cancelled" : "finished",
                rb.is_cancelled() ? "cancelled" : "finished");
  };
  halt::spawn(io, report).detach();
  io.run();
}
