// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The hammer, with halt::task: spawn a task that sleeps for 60 seconds, abort it after 100 ms,
/// and look at how it ended. The task is dropped where it waits: its destructors run, but no
/// catch sees the abort and no code after that co_await runs. (examples/abort.cpp is the same
/// program with asio::awaitable, where the abort is an exception that unwinds the frames.)
#include <halt/halt.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

using namespace std::chrono_literals;

struct connection_guard { // stands in for a socket, a lock, a transaction...
  ~connection_guard() { std::printf("task: guard destroyed, resources released\n"); }
};

halt::task<int> long_job() {
  connection_guard guard;
  asio::steady_timer sleep(co_await asio::this_coro::executor, 60s);
  std::printf("task: sleeping for 60 s\n");
  try {
    co_await sleep.async_wait(halt::use_task); // the abort lands here: the task is dropped
  } catch (...) {
    std::printf("task: never printed: no catch sees a drop\n");
  }
  std::printf("task: never printed: no code after the co_await runs\n");
  co_return 42;
}

halt::task<void> main_task() {
  auto ex = co_await asio::this_coro::executor;
  halt::join_handle<int> handle = halt::spawn(ex, long_job()); // started without co_spawn

  asio::steady_timer timer(ex, 100ms);
  co_await timer.async_wait(halt::use_task);
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
  // A halt::task is an Asio operation: start it on io with a completion handler.
  main_task()(io, [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
}
