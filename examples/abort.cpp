// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The hammer: spawn a task that sleeps for 60 seconds, abort it after 100 ms, and look at how
/// it ended. Its RAII destructors run; join tells "cancelled" from "finished" and "threw".
#include <halt/halt.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

struct connection_guard { // stands in for a socket, a lock, a transaction...
  ~connection_guard() { std::printf("task: guard destroyed, resources released\n"); }
};

asio::awaitable<int> long_job() {
  connection_guard guard;
  asio::steady_timer sleep(co_await asio::this_coro::executor, 60s);
  std::printf("task: sleeping for 60 s\n");
  co_await sleep.async_wait(asio::use_awaitable); // the abort lands here
  co_return 42;
}

asio::awaitable<void> main_task() {
  auto ex = co_await asio::this_coro::executor;
  halt::join_handle<int> handle = halt::spawn(ex, long_job());

  asio::steady_timer timer(ex, 100ms);
  co_await timer.async_wait(asio::use_awaitable);
  std::printf("main: aborting after 100 ms\n");
  handle.abort(); // any thread, never blocks

  halt::join_result<int> result = co_await handle.join();
  if (result.has_value())
    std::printf("main: finished with %d\n", result.value());
  else if (result.is_cancelled())
    std::printf("main: the task was cancelled\n");
  else
    std::printf("main: the task threw\n");
}

int main() {
  asio::io_context io;
  asio::co_spawn(io, main_task(), asio::detached);
  io.run();
}
