// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The Tokio article's last section: blocking work on a thread pool cannot be interrupted. abort()
/// on a spawn_blocking task only cancels the token it was given. A worker that checks the token
/// between iterations stops; a worker that ignores it runs to the end. Cancelling the *wait* for
/// it (here with a timeout) stops only the waiting: the thread keeps running, and the handle can
/// be joined again later.
#include <halt/halt.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

// Checks the token between chunks of work: abort() stops it at the next check.
long cooperative(halt::cancellation_token token) {
  long chunks = 0;
  while (chunks < 1000) {
    token.throw_if_cancelled(); // join reports cancelled
    std::this_thread::sleep_for(1ms); // one chunk of blocking work
    ++chunks;
  }
  return chunks;
}

// Never looks at the token: nothing can stop it early.
long ignores_token(halt::cancellation_token) {
  long chunks = 0;
  for (; chunks < 300; ++chunks) std::this_thread::sleep_for(1ms);
  return chunks;
}

int main() {
  asio::thread_pool pool(2);
  asio::io_context io;
  auto a = halt::spawn_blocking(pool, cooperative);
  auto b = halt::spawn_blocking(pool, ignores_token);

  auto driver = [&]() -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
    co_await t.async_wait(asio::use_awaitable);
    std::printf("aborting both blocking tasks after 50 ms\n");
    a.abort();
    b.abort();

    auto ra = co_await a.join();
    std::printf("cooperative: %s\n", ra.is_cancelled() ? "cancelled at its next check" : "finished");

    const auto start = std::chrono::steady_clock::now();
    try {
      co_await halt::timeout(100ms, b.join()); // only the wait is cancelled, not the thread
    } catch (const halt::system_error& e) {
      std::printf("ignores_token: stopped waiting (%s); its thread is still running\n",
                  e.code().message().c_str());
    }
    auto rb = co_await b.join(); // join again: a cancelled join leaves the task alone
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::printf("ignores_token: ran to the end anyway: %ld chunks; the second join waited %lld ms\n",
                rb.has_value() ? rb.value() : -1L, static_cast<long long>(waited.count()));
  };
  halt::spawn(io, driver).detach();
  io.run();
  pool.join();
}
