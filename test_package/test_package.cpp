// Conan test_package for halt: a task spawned and joined, a task aborted before it ran, and a
// select whose loser is unwound before select returns. Prints one line and returns 0 when all
// three behave; prints what failed and returns 1 otherwise.
#include <halt/halt.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/version.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <utility>
#include <variant>

namespace {

// Owned by a coroutine's frame: records that the frame was destroyed.
struct on_destroy {
  explicit on_destroy(bool& flag) : destroyed(flag) {}
  on_destroy(const on_destroy&) = delete;
  on_destroy& operator=(const on_destroy&) = delete;
  ~on_destroy() { destroyed = true; }
  bool& destroyed;
};

asio::awaitable<int> answer(int value) { co_return value; }

asio::awaitable<int> sleep_a_day(std::unique_ptr<on_destroy>) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::hours(24));
  co_await timer.async_wait(asio::use_awaitable);
  co_return 0;
}

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("halt test_package: FAILED: %s\n", what);
    ++failures;
  }
}

asio::awaitable<void> run_checks() {
  auto ex = co_await asio::this_coro::executor;

  halt::join_handle<int> spawned = halt::spawn(ex, answer(42));
  halt::join_result<int> joined = co_await spawned.join();
  expect(joined.has_value() && joined.value() == 42, "spawn: join did not report the value 42");

  bool aborted_freed = false;
  halt::join_handle<int> doomed =
      halt::spawn(ex, sleep_a_day(std::make_unique<on_destroy>(aborted_freed)));
  doomed.abort();
  halt::join_result<int> aborted = co_await doomed.join();
  expect(aborted.is_cancelled(), "abort: join did not report cancelled");
  expect(aborted_freed, "abort: the task's parameters were not destroyed before join returned");

  bool loser_freed = false;
  // Named before the co_await (g++ 12 mishandles some temporaries inside a co_await expression).
  auto race = halt::select(sleep_a_day(std::make_unique<on_destroy>(loser_freed)), answer(7));
  auto winner = co_await std::move(race);
  expect(winner.index() == 1 && std::get<1>(winner) == 7, "select: answer(7) did not win");
  expect(loser_freed, "select: the loser was not destroyed before select returned");
}

}  // namespace

int main() {
  asio::io_context io;
  asio::co_spawn(io, run_checks(), [](std::exception_ptr e) {
    if (e) expect(false, "run_checks threw");
  });
  io.run();
  if (failures != 0) return 1;
  std::printf("halt test_package: spawn, abort and select work (Asio %d.%d.%d)\n",
              ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100);
  return 0;
}
