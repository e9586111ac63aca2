// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/task.hpp>
#include <halt/join_handle.hpp>
#include <halt/select.hpp>

#include "support/async.hpp"
#include "support/tasks.hpp"
#include "support/catch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <halt/asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <thread>
#include <functional>
#include <future>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace halt_test::tasks;


// --- basics -------------------------------------------------------------------------------------

TEST_CASE("a task is lazy: destroying an unstarted task runs nothing and destroys its parameters", "[task]") {
  std::vector<std::string> log;
  bool ran = false;
  {
    auto body = [](probe p, bool& r) -> halt::task<void> {
      r = true;
      (void)p;
      co_return;
    };
    halt::task<void> t = body(probe(log, "param"), ran);
    CHECK(t.valid());
    CHECK(log.empty());
  }
  CHECK_FALSE(ran);
  CHECK(log == std::vector<std::string>{"~param"});
}

TEST_CASE("co_await of a task gives its value, and its exception propagates", "[task]") {
  asio::io_context io;
  auto body = []() -> halt::task<int> {
    int v = co_await answer();
    v = co_await plus_one(v);
    bool caught = false;
    try {
      co_await fail();
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "boom";
    }
    REQUIRE(caught);
    co_return v;
  };
  CHECK(get(run(io, body())) == 43);

  auto out = run(io, fail());
  REQUIRE(out.error);
  CHECK_THROWS_AS(std::rethrow_exception(out.error), std::runtime_error);
}

TEST_CASE("a task that finishes inside its starting call completes through a post", "[task]") {
  asio::io_context io;
  outcome<int> out;
  bool returned = false;
  asio::post(io, [&] {
    answer()(io, [&](std::exception_ptr e, int v) {
      CHECK(returned); // not inside the initiating call
      out.done = true;
      out.error = e;
      out.value = v;
    });
    returned = true;
  });
  halt_test::run_until(io, [&] { return out.done; });
  CHECK(*out.value == 42);
}

TEST_CASE("co_await asio::this_coro::executor gives the task's executor", "[task]") {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  outcome<bool> out;
  auto body = [](asio::strand<asio::io_context::executor_type> s) -> halt::task<bool> {
    auto ex = co_await asio::this_coro::executor;
    co_return ex == asio::any_io_executor(s);
  };
  body(strand)(strand, record<bool>{&out});
  halt_test::run_until(io, [&] { return out.done; });
  CHECK(get(std::move(out)));
}

TEST_CASE("a task started with a token alone runs on the handler's associated executor", "[task]") {
  asio::io_context io;
  outcome<bool> out;
  auto body = [](asio::any_io_executor want) -> halt::task<bool> {
    co_return (co_await asio::this_coro::executor) == want;
  };
  body(io.get_executor())(asio::bind_executor(io, record<bool>{&out}));
  halt_test::run_until(io, [&] { return out.done; });
  CHECK(get(std::move(out)));
}

// --- use_task -----------------------------------------------------------------------------------

TEST_CASE("an asio::awaitable awaits a task with use_awaitable, and a task awaits co_spawn", "[task]") {
  asio::io_context io;
  int seen = 0;
  auto from_awaitable = [&]() -> asio::awaitable<void> {
    seen = co_await answer()(asio::use_awaitable);
  };
  asio::co_spawn(io, from_awaitable(), halt_test::rethrow{});
  halt_test::run_until(io, [&] { return seen == 42; });

  auto aw = []() -> asio::awaitable<int> { co_return 5; };
  auto body = [&]() -> halt::task<int> {
    co_return co_await asio::co_spawn(io, aw(), halt::use_task);
  };
  CHECK(get(run(io, body())) == 5);
}

TEST_CASE("a task co_awaits an asio::awaitable directly, dropping the task cancels it", "[task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  auto aw = []() -> asio::awaitable<int> { co_return 5; };
  auto thrower = []() -> asio::awaitable<void> {
    throw std::runtime_error("from awaitable");
    co_return;
  };
  auto body = [&]() -> halt::task<int> {
    int v = co_await aw();
    try {
      co_await thrower();
    } catch (const std::runtime_error&) {
      ++v;
    }
    co_return v;
  };
  CHECK(get(run(io, body())) == 6);

  bool after = false;
  auto pending = [&]() -> asio::awaitable<void> {
    probe p(log, "awaitable");
    asio::steady_timer t(co_await asio::this_coro::executor, 1h);
    co_await t.async_wait(asio::use_awaitable);
  };
  auto dropped = [&]() -> halt::task<void> {
    probe p(log, "task");
    co_await pending();
    after = true;
  };
  asio::cancellation_signal sig;
  io.restart();
  auto out = start(io, dropped(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"~awaitable", "~task"});
}

// --- bad input ----------------------------------------------------------------------------------

TEST_CASE("awaiting or starting an empty task throws errc::no_state", "[task]") {
  asio::io_context io;
  auto body = []() -> halt::task<bool> {
    halt::task<int> t = answer();
    halt::task<int> moved = std::move(t);
    (void)moved;
    try {
      co_await std::move(t);
    } catch (const halt::system_error& e) {
      co_return e.code() == halt::errc::no_state;
    }
    co_return false;
  };
  CHECK(get(run(io, body())));

  halt::task<int> t = answer();
  outcome<int> out;
  std::move(t)(io, record<int>{&out});
  CHECK_FALSE(t.valid());
  try {
    std::move(t)(io, record<int>{&out}); // started twice
    FAIL("no exception");
  } catch (const halt::system_error& e) {
    CHECK(e.code() == halt::errc::no_state);
  }
  halt::task<void> empty;
  CHECK_THROWS_AS(std::move(empty)(io, record<void>{nullptr}), halt::system_error);
  halt_test::run_until(io, [&] { return out.done; });
  CHECK(*out.value == 42);
}

// --- stack safety (the debug build is -O0) -------------------------------------------------------

TEST_CASE("a million co_awaits of tasks that finish at once do not grow the stack", "[task][stack]") {
  asio::io_context io;
  auto body = []() -> halt::task<long> {
    long sum = 0;
    for (int i = 0; i < 1'000'000; ++i) sum += co_await plus_one(i) - i;
    co_return sum;
  };
  CHECK(get(run(io, body())) == 1'000'000);
}

namespace {
halt::task<int> nested(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}
halt::task<int> nested_sleeping(int depth, int& destroyed) {
  struct count {
    int* n;
    ~count() { ++*n; }
  } c{&destroyed};
  if (depth == 0) {
    co_await sleep(1h);
    co_return 0;
  }
  co_return 1 + co_await nested_sleeping(depth - 1, destroyed);
}
} // namespace

TEST_CASE("a chain of 10^4 nested tasks neither overflows the stack nor does its drop", "[task][stack]") {
  asio::io_context io;
  CHECK(get(run(io, nested(10'000))) == 10'000);

  int destroyed = 0;
  asio::cancellation_signal sig;
  auto out = start(io, nested_sleeping(10'000, destroyed), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK(destroyed == 10'001);
}

// --- drop ---------------------------------------------------------------------------------------

TEST_CASE("drop: no code after the co_await runs, no catch sees anything", "[task][drop]") {
  asio::io_context io;
  bool after = false, caught = false, caught_all = false;
  auto body = [&]() -> halt::task<int> {
    try {
      try {
        asio::steady_timer t(co_await asio::this_coro::executor, 1h);
        co_await t.async_wait(halt::use_task);
        after = true;
      } catch (const halt::system_error&) {
        caught = true;
      }
    } catch (...) {
      caught_all = true;
    }
    after = true;
    co_return 1;
  };
  asio::cancellation_signal sig;
  auto out = start(io, body(), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK_FALSE(caught);
  CHECK_FALSE(caught_all);
}

namespace {
halt::task<void> level3(std::vector<std::string>& log, probe p, bool& after) {
  (void)p;
  probe a(log, "l3.a");
  probe b(log, "l3.b");
  co_await sleep(1h);
  after = true;
}
halt::task<int> level2(std::vector<std::string>& log, probe p, bool& after) {
  (void)p;
  probe a(log, "l2.a");
  try {
    co_await level3(log, probe(log, "l3.param"), after);
  } catch (...) {
    after = true;
  }
  after = true;
  co_return 2;
}
halt::task<int> level1(std::vector<std::string>& log, bool& after) {
  probe a(log, "l1.a");
  int v = co_await level2(log, probe(log, "l2.param"), after);
  after = true;
  co_return v;
}
} // namespace

TEST_CASE("drop: a nested chain of three tasks, every local destroyed once, innermost first", "[task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  bool after = false;
  asio::cancellation_signal sig;
  auto out = start(io, level1(log, after), sig);
  emit_later(io, sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"~l3.b", "~l3.a", "~l3.param", "~l2.a", "~l2.param", "~l1.a"});
}

TEST_CASE("drop: a task dropped before its first run runs nothing", "[task][drop]") {
  asio::io_context io;
  std::vector<std::string> log;
  bool ran = false;
  auto body = [](probe p, bool& r) -> halt::task<void> {
    r = true;
    (void)p;
    co_return;
  };
  asio::cancellation_signal sig;
  auto out = start(io, body(probe(log, "param"), ran), sig); // posted: we are not on io's thread
  sig.emit(asio::cancellation_type::terminal);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(ran);
  CHECK(log == std::vector<std::string>{"~param"});
}

TEST_CASE("drop: a result that arrives together with the drop is discarded", "[task][drop]") {
  asio::io_context io;
  bool after = false;
  asio::cancellation_signal sig;
  auto body = [&]() -> halt::task<void> {
    // The drop is queued before the operation's completion: the operation has its result when
    // the drop reaches it, and the task is dropped anyway.
    asio::post(io, [&] { sig.emit(asio::cancellation_type::terminal); });
    co_await asio::post(io, halt::use_task);
    after = true;
  };
  auto out = start(io, body(), sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(after);
}

TEST_CASE("drop: a task that emits on its own start slot is dropped at its next co_await, "
          "before that operation starts", "[task][drop]") {
  asio::io_context io;
  bool after = false, initiated = false;
  asio::cancellation_signal sig;
  auto body = [&]() -> halt::task<void> {
    sig.emit(asio::cancellation_type::terminal);
    co_await answer(); // not an operation: runs
    auto op = asio::async_initiate<const halt::use_task_t&, void()>(
        [&](auto) { initiated = true; }, halt::use_task);
    co_await std::move(op);
    after = true;
  };
  auto out = start(io, body(), sig);
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  CHECK_FALSE(initiated);
  CHECK_FALSE(after);
}

TEST_CASE("drop: only terminal cancellation drops, partial and total are ignored", "[task][drop]") {
  asio::io_context io;
  asio::cancellation_signal sig;
  auto body = []() -> halt::task<int> {
    co_await sleep(20ms);
    co_return 7;
  };
  auto out = start(io, body(), sig);
  emit_later(io, sig, asio::cancellation_type::total | asio::cancellation_type::partial);
  halt_test::run_until(io, [&] { return out->done; });
  REQUIRE_FALSE(out->error);
  CHECK(*out->value == 7);
}

TEST_CASE("drop: an asio::awaitable that loses || drops the task it awaits", "[task][drop]") {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  std::vector<std::string> log;
  bool after = false;
  auto slow = [&](probe p) -> halt::task<int> {
    (void)p;
    probe local(log, "local");
    co_await sleep(1h);
    after = true;
    co_return 1;
  };
  bool done = false;
  auto main = [&]() -> asio::awaitable<void> {
    auto t = slow(probe(log, "param"));
    auto r = co_await (std::move(t)(asio::use_awaitable) || halt_test::sleep_for(1ms));
    CHECK(r.index() == 1);
    done = true;
  };
  asio::co_spawn(io, main(), halt_test::rethrow{});
  halt_test::run_until(io, [&] { return done; });
  CHECK_FALSE(after);
  CHECK(log == std::vector<std::string>{"~local", "~param"});
}

TEST_CASE("a task whose io_context is destroyed: frames destroyed, completion never called", "[task][drop]") {
  std::vector<std::string> log;
  bool called = false;
  {
    asio::io_context io;
    auto body = [&](probe p) -> halt::task<void> {
      (void)p;
      probe local(log, "local");
      co_await sleep(1h);
    };
    body(probe(log, "param"))(io, [&](std::exception_ptr) { called = true; });
    io.run_one(); // the start: the task waits on its timer
    CHECK(log.empty());
  }
  CHECK_FALSE(called);
  CHECK(log == std::vector<std::string>{"~local", "~param"});
}

TEST_CASE("a task abandoned by its io_context after its start slot's signal is gone leaves the slot "
          "alone", "[task][drop]") {
  std::vector<std::string> log;
  bool called = false;
  auto io = std::make_unique<asio::io_context>();
  auto sig = std::make_unique<asio::cancellation_signal>();
  auto body = [&](probe p) -> halt::task<void> {
    (void)p;
    probe local(log, "local");
    co_await sleep(1h);
  };
  body(probe(log, "param"))(*io, asio::bind_cancellation_slot(sig->slot(), [&](std::exception_ptr) {
    called = true;
  }));
  io->run_one(); // the start: the task waits on its timer
  sig.reset();   // the signal (and the task's handler in it) goes first
  io.reset();    // then the context: the task is abandoned (ASan saw a use after free here)
  CHECK_FALSE(called);
  CHECK(log == std::vector<std::string>{"~local", "~param"});
}

// --- threads ------------------------------------------------------------------------------------

TEST_CASE("tasks on strands of a 4-thread pool, dropped from another thread", "[task][drop][threads]") {
  constexpr int n = 200;
  asio::thread_pool pool(4);
  std::atomic<int> destroyed{0}, completed{0}, aborted{0}, started{0};

  struct guard {
    std::atomic<int>* n;
    explicit guard(std::atomic<int>* c) : n(c) {}
    guard(guard&& o) noexcept : n(std::exchange(o.n, nullptr)) {}
    guard& operator=(guard&&) = delete;
    ~guard() {
      if (n) n->fetch_add(1);
    }
  };
  auto body = [&](guard g) -> halt::task<void> {
    (void)g;
    started.fetch_add(1);
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
      asio::steady_timer t(ex, std::chrono::microseconds(50));
      co_await t.async_wait(halt::use_task);
      co_await asio::post(ex, halt::use_task);
    }
  };

  struct slot_state {
    explicit slot_state(asio::thread_pool& p) : strand(asio::make_strand(p)) {}
    asio::strand<asio::thread_pool::executor_type> strand;
    asio::cancellation_signal sig;
  };
  std::vector<std::unique_ptr<slot_state>> tasks;
  for (int i = 0; i < n; ++i) {
    auto s = std::make_unique<slot_state>(pool);
    auto done = [&](std::exception_ptr e) {
      if (is_aborted(e)) aborted.fetch_add(1);
      completed.fetch_add(1);
    };
    body(guard{&destroyed})(s->strand, asio::bind_cancellation_slot(s->sig.slot(), done));
    tasks.push_back(std::move(s));
  }
  // Drop them from this thread, at whatever point each one has reached (some before they start).
  for (int i = 0; i < n; ++i) {
    slot_state* s = tasks[i].get();
    asio::post(s->strand, [s] { s->sig.emit(asio::cancellation_type::terminal); });
    if (i % 16 == 0) std::this_thread::yield();
  }
  halt_test::wait_until([&] { return completed.load() == n; });
  pool.join();
  CHECK(aborted.load() == n);
  CHECK(destroyed.load() == n);
}

// ---- review of issue 11 (branch review11): repros tagged [review11] -----------------------------

namespace review11 {

// A value whose move constructor throws once armed (its construction from an int never does).
struct move_bomb {
  static inline bool armed = false;
  int v = 0;
  move_bomb() = default;
  move_bomb(int x) : v(x) {} // NOLINT: implicit, so that co_return 7 constructs it in place
  move_bomb(move_bomb&& o) : v(o.v) {
    if (armed) throw std::runtime_error("move_bomb moved");
  }
  move_bomb& operator=(move_bomb&&) = default;
};

// An operation whose initiating function emits `sig` (the caller's own start slot, from its
// executor) before it starts waiting on `t`.
template <class Token>
auto async_emit_then_wait(asio::cancellation_signal& sig, asio::steady_timer& t, Token&& token) {
  return asio::async_initiate<Token, void(halt::error_code)>(
      [&sig, &t](auto h) {
        sig.emit(asio::cancellation_type::terminal);
        t.async_wait(std::move(h));
      },
      token);
}

} // namespace review11

TEST_CASE("a task whose value's move throws completes with that exception (review11: std::terminate before)",
          "[task][review11]") {
  // Before the fix root<T, Handler>::finish (task.hpp) was noexcept and moved the task's value
  // several times: a throwing move terminated the program, where select's keep() turns the same
  // throw into the branch's exception. Now the move's exception is the task's outcome (and a
  // value whose move may throw travels boxed). Run in a child process; the child exits 0 when the
  // completion handler got an exception.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);
    asio::io_context io;
    bool got_error = false;
    auto t = []() -> halt::task<review11::move_bomb> { co_return 7; };
    review11::move_bomb::armed = true;
    std::move(t())(io, [&](std::exception_ptr e, review11::move_bomb) { got_error = e != nullptr; });
    try {
      io.run();
    } catch (...) {
    }
    ::_exit(got_error ? 0 : 3);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK_FALSE(WIFSIGNALED(status)); // before the fix: SIGABRT from std::terminate
  CHECK(WIFEXITED(status));
  if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a drop requested while the task's operation is being initiated cancels it once initiated (review11)",
          "[task][drop][review11]") {
  // request_drop() sees the leaf's operation in st::initiating and only sets drop_requested_;
  // op_awaitable::await_suspend then emits on the operation's slot once the initiation returned.
  // Before the fix nothing ever emitted, and the task ran on until its one-hour timer expired.
  asio::cancellation_signal sig;
  std::vector<std::string> log;
  asio::io_context io;
  auto body = [&]() -> halt::task<void> {
    probe p(log, "body");
    asio::steady_timer t(co_await asio::this_coro::executor, 1h);
    auto op = review11::async_emit_then_wait(sig, t, halt::use_task);
    co_await std::move(op);
    log.push_back("after");
  };
  auto out = start(io, body(), sig);
  io.restart();
  while (io.poll() != 0) {
  }
  REQUIRE(out->done); // before the fix: the timer was never cancelled
  CHECK(is_aborted(out->error));
  CHECK(log == std::vector<std::string>{"~body"});
}

TEST_CASE("dropping a task that awaits a task started on another executor posts the drop there (review11)",
          "[task][drop][threads][review11]") {
  // co_await std::move(t)(strand, halt::use_task) inside a task on `io`: a drop of the outer task
  // emits terminal on the inner start slot from io's thread, and start_cancel calls
  // root_base::request_drop() right there: the inner root (drop_requested_, op_, its signal) was
  // read and written by io's thread while the pool's thread ran the inner chain (TSan reported
  // the race). Now a task whose handler's executor is not its own gets remote_cancel in its start
  // slot, which dispatches the drop to the task's executor, and the slot is cleared on the
  // handler's executor.
  asio::thread_pool pool(1);
  auto strand = asio::make_strand(pool);
  asio::cancellation_signal sig;
  asio::io_context io;
  std::atomic<long> spins{0};
  auto inner = [&]() -> halt::task<void> {
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
      spins.fetch_add(1, std::memory_order_relaxed);
      co_await asio::post(ex, halt::use_task);
    }
  };
  auto outer = [&]() -> halt::task<void> {
    auto op = inner()(strand, halt::use_task);
    co_await std::move(op);
  };
  auto out = start(io, outer(), sig);
  halt_test::run_until(io, [&] { return spins.load() > 1000; });
  asio::post(io, [&] { sig.emit(asio::cancellation_type::terminal); });
  halt_test::run_until(io, [&] { return out->done; });
  CHECK(is_aborted(out->error));
  pool.join();
}

namespace review11 {
// Runs f() in a child process; returns its wait status. The child exits 0 if f() returns true.
template <class F>
int in_child(F f) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);
    bool ok = false;
    try {
      ok = f();
    } catch (...) {
    }
    ::_exit(ok ? 0 : 3);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}
} // namespace review11

TEST_CASE("a completion handler that throws when run inline on a strand leaves run() (review11: std::terminate before)",
          "[task][review11]") {
  // root<T, Handler>::finish dispatches the completion: inline when the task finishes on the
  // handler's executor (whenever it finishes after a suspension). Before the fix finish (and
  // handler_called/drive) were noexcept, so a strand's inline handler that threw terminated the
  // process. Now the exception leaves run(), as from any Asio handler (join_handle_test.cpp: "a
  // joiner's handler that throws when run inline: run() throws").
  auto body = []() -> halt::task<int> {
    co_await asio::post(co_await asio::this_coro::executor, halt::use_task);
    co_return 1;
  };
  const int status = review11::in_child([&] {
    asio::io_context io;
    auto strand = asio::make_strand(io);
    std::move(body())(strand, [](std::exception_ptr, int) { throw std::runtime_error("boom"); });
    try {
      io.run();
    } catch (const std::runtime_error& e) {
      return std::string(e.what()) == "boom";
    }
    return false;
  });
  CHECK_FALSE(WIFSIGNALED(status)); // before the fix: SIGABRT (std::terminate)
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("task frame memory: a per-thread cache by size class, bounded, released at thread exit", "[task][frames][threads]") {
  using halt::detail::frame_allocate;
  using halt::detail::frame_deallocate;
#if HALT_FRAME_CACHE == 0
  // AddressSanitizer: every frame is its own operator new (a use after destruction is reported).
  void* p = frame_allocate(100);
  frame_deallocate(p, 100);
  SUCCEED("no frame cache under AddressSanitizer");
#else
  {
    constexpr std::size_t depth = halt::detail::frame_cache::depth;
    std::vector<void*> reused;
    std::vector<void*> first;
    std::thread t([&] {
      // More than the cache keeps: the first `depth` freed are kept, the rest deleted.
      std::vector<void*> blocks;
      for (std::size_t i = 0; i < depth + 4; ++i) blocks.push_back(frame_allocate(100));
      for (void* p : blocks) std::memset(p, 0xab, 100); // usable, 16-aligned
      for (void* p : blocks) CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
      for (void* p : blocks) frame_deallocate(p, 100);
      first.assign(blocks.begin(), blocks.begin() + depth);
      // The same class (89..104 bytes) takes them back; another class does not.
      static_assert(halt::detail::frame_cache::size_of(halt::detail::frame_cache::class_of(100)) == 104);
      void* other = frame_allocate(200);
      for (std::size_t i = 0; i < depth; ++i) reused.push_back(frame_allocate(104));
      frame_deallocate(other, 200);
      for (void* p : reused) frame_deallocate(p, 104);
      // Larger than the largest class: plain operator new / delete.
      void* big = frame_allocate(4096);
      frame_deallocate(big, 4096);
    }); // the thread's exit releases its cache (LeakSanitizer and valgrind see the rest)
    t.join();
    std::sort(first.begin(), first.end());
    std::sort(reused.begin(), reused.end());
    CHECK(first == reused);
  }
#endif
}

namespace {
// Made on the main thread, run on a pool thread, where its child frame is made (so that thread
// has a cache) and both are freed.
halt::task<int> nested_plus_one(int i) {
  auto t = plus_one(i); // named: g++ 12 and temporaries in a co_await full-expression
  co_return co_await std::move(t);
}
} // namespace

TEST_CASE("task frames made on one thread and destroyed on another", "[task][frames][threads]") {
  // The outer frames are made on the main thread and freed on the pool's threads, which make and
  // free the inner ones too: their caches take frames that other threads allocated.
  asio::thread_pool pool(4);
  std::atomic<int> sum{0};
  for (int round = 0; round < 50; ++round) {
    std::vector<halt::join_handle<int>> hs;
    for (int i = 0; i < 40; ++i) hs.push_back(halt::spawn(asio::make_strand(pool), nested_plus_one(i)));
    for (auto& h : hs) {
      auto f = h.async_join(asio::use_future);
      sum += f.get().value();
    }
  }
  pool.join();
  CHECK(sum == 50 * (40 * 41 / 2));
}

TEST_CASE("a task started with asio::use_future: a handler executor that any_io_executor cannot hold",
          "[task][threads]") {
  // use_future's handler carries a promise executor, which any_io_executor cannot hold: starting a
  // task with it did not compile (async_select.hpp's use_future form needs it).
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  std::future<int> f = answer()(io, asio::use_future);
  CHECK(f.get() == 42);
  std::future<void> g = fail()(io.get_executor(), asio::use_future);
  CHECK_THROWS_AS(g.get(), std::runtime_error);
  work.reset();
  runner.join();
}

// --- an operation of another execution context ----------------------------------------------------
//
// A task on io_context `a` awaits a timer of io_context `b`. When `b` is destroyed first (on the
// main thread, while a thread runs `a`), the timer's handler is destroyed there, uncalled: the
// task's frames must still be destroyed on the task's executor, by a's thread (the handler posts
// the abandon there), not by the thread destroying `b` while a's thread may touch the same chain.

namespace foreign {

// Records how often, and on which thread, it was destroyed.
struct where_log {
  std::atomic<int> destroyed{0};
  std::thread::id where;
  std::atomic<bool> resumed{false}; // the wait completed: never, its context is destroyed first
};
struct where_guard {
  where_log* log;
  explicit where_guard(where_log& l) noexcept : log(&l) {}
  where_guard(const where_guard&) = delete;
  where_guard& operator=(const where_guard&) = delete;
  ~where_guard() {
    log->where = std::this_thread::get_id();
    log->destroyed.fetch_add(1);
  }
};

// Waits on `t` (a timer of another context) with a where_guard in the frame. `suspended` is set
// by a job posted to `a` before the wait starts: it runs once the task has suspended.
inline halt::task<void> wait_on(asio::io_context& a, asio::steady_timer& t, where_log& log,
                                std::promise<void>& suspended) {
  where_guard g(log);
  asio::post(a, [&suspended] { suspended.set_value(); });
  co_await t.async_wait(halt::use_task);
  log.resumed = true;
}

// A select of the wait above and a wait on a's own timer `own`, with a guard for each branch.
inline halt::task<void> race(asio::io_context& a, asio::steady_timer& theirs, asio::steady_timer& own,
                             where_log& theirs_log, where_log& own_log, std::promise<void>& suspended) {
  auto on_own = [](asio::steady_timer& t, where_log& log) -> halt::task<void> {
    where_guard g(log);
    co_await t.async_wait(halt::use_task);
    log.resumed = true;
  };
  auto x = wait_on(a, theirs, theirs_log, suspended);
  auto y = on_own(own, own_log);
  auto s = halt::select(std::move(x), std::move(y));
  co_await std::move(s);
}

} // namespace foreign

TEST_CASE("a task awaiting an operation of another context that is destroyed is abandoned on its own executor",
          "[task][threads][foreign]") {
  foreign::where_log log;
  asio::io_context a; // run by one thread, but not single-threaded for Asio: the task gets a strand
  auto work = asio::make_work_guard(a);
  std::thread ta([&] { a.run(); });
  auto b = std::make_unique<asio::io_context>();
  auto timer = std::make_unique<asio::steady_timer>(*b, std::chrono::hours(1));
  std::promise<void> suspended;
  auto h = halt::spawn(a, foreign::wait_on(a, *timer, log, suspended));
  auto joined = h.async_join(asio::use_future);
  suspended.get_future().get();
  timer.reset(); // cancels the wait: its completion is queued in b, which never runs it
  b.reset();     // destroys that completion, and with it the handler, on this thread
  const halt::join_result<void> r = joined.get();
  CHECK(r.is_cancelled());
  CHECK(log.destroyed.load() == 1);
  CHECK(log.where == ta.get_id()); // before the fix: this (the main) thread
  CHECK_FALSE(log.resumed.load());
  work.reset();
  ta.join();
  CHECK(log.destroyed.load() == 1);
}

TEST_CASE("a task awaiting an operation of a destroyed context, aborted on its own executor just before or after",
          "[task][threads][foreign]") {
  // `a` is single-threaded for Asio (hint 1): the task runs on a's own executor, and a job posted
  // to `a` is on the task's executor, where abort() delivers the drop inline. That job holds a's
  // thread while the main thread destroys `b`, and aborts the task just before, or just after:
  // after, the drop must not emit on the lost timer's cancellation slot (whose handler refers to
  // b's destroyed timer service) but leave the task to the abandon queued behind it.
  for (const bool abort_first : {true, false}) {
    INFO("abort " << (abort_first ? "before" : "after") << " b is destroyed");
    foreign::where_log log;
    asio::io_context a(1);
    auto work = asio::make_work_guard(a);
    std::thread ta([&] { a.run(); });
    auto b = std::make_unique<asio::io_context>();
    auto timer = std::make_unique<asio::steady_timer>(*b, std::chrono::hours(1));
    std::promise<void> suspended;
    auto h = halt::spawn(a, foreign::wait_on(a, *timer, log, suspended));
    auto joined = h.async_join(asio::use_future);
    suspended.get_future().get();
    std::promise<void> holding, destroyed, aborted;
    asio::post(a, [&] {
      if (abort_first) h.abort(); // delivered here: emits on the timer's slot (b is alive)
      holding.set_value();
      destroyed.get_future().get(); // a's thread waits while the main thread destroys b
      if (!abort_first) h.abort();  // delivered here, before the abandon queued behind this job
      aborted.set_value();
    });
    holding.get_future().get();
    timer.reset();
    b.reset();
    destroyed.set_value();
    aborted.get_future().get();
    const halt::join_result<void> r = joined.get();
    CHECK(r.is_cancelled());
    CHECK(log.destroyed.load() == 1);
    CHECK(log.where == ta.get_id()); // before the fix: the main thread
    CHECK_FALSE(log.resumed.load());
    work.reset();
    ta.join();
  }
}

TEST_CASE("a task awaiting an operation of another context, both contexts destroyed (b first)",
          "[task][threads][foreign]") {
  // a's thread has stopped: the abandon posted to a's strand when `b` goes is never run, and
  // a's destruction destroys it, abandoning the task there (no thread runs `a` any more).
  foreign::where_log log;
  auto a = std::make_unique<asio::io_context>();
  std::thread::id a_thread;
  std::promise<void> suspended;
  auto b = std::make_unique<asio::io_context>();
  auto timer = std::make_unique<asio::steady_timer>(*b, std::chrono::hours(1));
  auto h = halt::spawn(*a, foreign::wait_on(*a, *timer, log, suspended));
  auto joined = h.async_join(asio::use_future);
  std::thread ta([&] { a->run(); }); // returns when stopped: the timer's wait is a's work
  suspended.get_future().get();
  a->stop();
  ta.join();
  timer.reset();
  b.reset();
  CHECK(log.destroyed.load() == 0); // queued on a's strand, not run: no thread runs `a`
  a.reset();
  const halt::join_result<void> r = joined.get();
  CHECK(r.is_cancelled());
  CHECK(log.destroyed.load() == 1);
  CHECK(log.where == std::this_thread::get_id());
}

TEST_CASE("a select branch awaiting an operation of a destroyed context: the group ends on the task's executor",
          "[task][threads][foreign][select]") {
  // The lost branch ends the group: its sibling (waiting on a's own timer) is dropped and the task
  // abandoned. All of it on a's thread: before the fix the lost branch ended on the main thread,
  // which then emitted the sibling's drop and destroyed both branches' frames there.
  foreign::where_log theirs, own;
  asio::io_context a;
  asio::steady_timer own_timer(a, std::chrono::hours(1));
  auto work = asio::make_work_guard(a);
  std::thread ta([&] { a.run(); });
  auto b = std::make_unique<asio::io_context>();
  auto timer = std::make_unique<asio::steady_timer>(*b, std::chrono::hours(1));
  std::promise<void> suspended;
  auto h = halt::spawn(a, foreign::race(a, *timer, own_timer, theirs, own, suspended));
  auto joined = h.async_join(asio::use_future);
  suspended.get_future().get();
  timer.reset();
  b.reset();
  const halt::join_result<void> r = joined.get();
  CHECK(r.is_cancelled());
  CHECK(theirs.destroyed.load() == 1);
  CHECK(own.destroyed.load() == 1);
  CHECK(theirs.where == ta.get_id()); // before the fix: the main thread
  CHECK(own.where == ta.get_id());
  CHECK_FALSE(theirs.resumed.load());
  CHECK_FALSE(own.resumed.load());
  work.reset();
  ta.join();
}

TEST_CASE("a task awaiting its own context's timer is abandoned when that context goes, whatever its services' order",
          "[task][foreign]") {
  // The other side of the fix above, on one context. Its services are shut down newest first, so
  // here (the wait_service, then the timer's and the reactor, then the strand's) the strand is
  // shut down before the reactor destroys the pending wait's handler, while the wait_service still
  // takes posts: the handler (not on the task's strand: the thread destroying `a` runs nothing)
  // posts the abandon to that strand, which destroys it at once; that must abandon the task, not
  // leak it (LeakSanitizer, and the checks below).
  foreign::where_log log;
  auto a = std::make_unique<asio::io_context>();
  (void)halt::detail::wait_service_of(*a); // made first: shut down after the others
  { asio::steady_timer first(*a); }        // the timer service and the reactor, before the strand's
  auto body = [](std::reference_wrapper<foreign::where_log> log) -> halt::task<void> {
    foreign::where_guard g(log.get());
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex, std::chrono::hours(1));
    co_await t.async_wait(halt::use_task);
    log.get().resumed = true;
  };
  auto h = halt::spawn(*a, body(std::ref(log))); // makes the strand service
  auto joined = h.async_join(asio::use_future);
  a->run_one(); // the task's start, to its suspension
  REQUIRE(joined.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  REQUIRE(log.destroyed.load() == 0);
  a.reset();
  REQUIRE(log.destroyed.load() == 1); // a leak: 0, and the join would never complete
  const halt::join_result<void> r = joined.get();
  CHECK(r.is_cancelled());
  CHECK_FALSE(log.resumed.load());
}
