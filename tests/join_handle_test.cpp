// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/cancellation_token.hpp>
#include <halt/join_handle.hpp>
#include <halt/join_set.hpp>
#include <halt/task_tracker.hpp>

#include "support/associators.hpp"
#include "support/async.hpp"
#include "support/catch.hpp"
#include "support/coro_kinds.hpp"

#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
#include <asio/bind_immediate_executor.hpp>
#endif
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <optional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using halt_test::awaitable_kind;
using halt_test::co_t;
using halt_test::task_kind;
// sleep_for(d): the harness's asio::awaitable; sleep_for<K>(d): a spawned body's, of kind K.
using halt_test::sleep_for;

// The tests that spawn are templates on the coroutine kind of the spawned bodies
// (support/coro_kinds.hpp): asio::awaitable and halt::task. Where the two behave differently by
// design (an aborted awaitable sees operation_aborted and may carry on; an aborted halt::task is
// dropped), the test checks each kind's documented behaviour with `if constexpr`.

// Counts how often it was destroyed (not counting moved-from objects).
struct guard {
  std::atomic<int>* count;
  explicit guard(std::atomic<int>& c) : count(&c) {}
  guard(guard&& o) noexcept : count(std::exchange(o.count, nullptr)) {}
  guard& operator=(guard&&) = delete;
  ~guard() {
    if (count) ++*count;
  }
};


// Runs `body` as a coroutine on `io` and runs `io` until it is done (bounded).
template <class F>
void run_main(asio::io_context& io, F body) {
  bool done = false;
  std::exception_ptr error;
  auto main = [&]() -> asio::awaitable<void> {
    try {
      co_await body();
    } catch (...) {
      error = std::current_exception();
    }
    done = true;
  };
  asio::co_spawn(io, main, asio::detached);
  io.run_for(30s);
  REQUIRE(done);
  if (error) std::rethrow_exception(error);
}

} // namespace

TEST_CASE("the _io1 registration of this file runs on single-threaded io_contexts, the other on default ones", "[task]") {
  // tests/CMakeLists.txt registers this binary twice; only the "_io1" copy sets HALT_TEST_IO1.
  const char* v = std::getenv("HALT_TEST_IO1");
  const bool io1 = v && *v && std::string_view(v) != "0";
  asio::io_context io;
  CHECK(halt::detail::single_threaded(io) == io1);
  asio::io_context explicit_default(ASIO_CONCURRENCY_HINT_DEFAULT); // an explicit hint is kept
  CHECK_FALSE(halt::detail::single_threaded(explicit_default));
}

TEST_CASE("single_threaded answers for each context, also a new one at a destroyed one's address", "[task]") {
  // On Asio 1.30 on the answer is remembered per context (detail/strand.hpp): never reused for a
  // different context that happens to live where an earlier one did.
  std::optional<asio::io_context> ctx;
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    ctx.emplace(1);
    const void* first = &*ctx;
    CHECK(halt::detail::single_threaded(*ctx));
    CHECK(halt::detail::single_threaded(*ctx)); // again, remembered
    ctx.reset();
    ctx.emplace(ASIO_CONCURRENCY_HINT_DEFAULT);
    REQUIRE(&*ctx == first); // the same storage
    CHECK_FALSE(halt::detail::single_threaded(*ctx));
    CHECK_FALSE(halt::detail::single_threaded(*ctx));
    asio::io_context other(1); // another context in between
    CHECK(halt::detail::single_threaded(other));
    CHECK_FALSE(halt::detail::single_threaded(*ctx));
    ctx.reset();
  }
}

TEMPLATE_TEST_CASE("spawn posts the task: it never runs inside spawn", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  bool ran = false;
  auto h = halt::spawn(io, [&]() -> co_t<TestType, int> {
    ran = true;
    co_return 5;
  });
  CHECK_FALSE(ran);
  CHECK_FALSE(h.is_finished());
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(ran);
    CHECK(r.has_value());
    CHECK(r.value() == 5);
    CHECK(h.is_finished());
  });
}

TEMPLATE_TEST_CASE("tasks spawned on io_context executors with property bits run, abort and join", "[task]", awaitable_kind, task_kind) {
  // Such executors get the general strand (detail/strand.hpp), the plain one a concrete strand.
  asio::io_context io;
  auto never = asio::require(io.get_executor(), asio::execution::blocking.never);
  auto cont = asio::prefer(io.get_executor(), asio::execution::relationship.continuation);
  // A tracked executor is outstanding work while it exists: the test keeps it only while spawning.
  std::optional<decltype(asio::prefer(io.get_executor(), asio::execution::outstanding_work.tracked))> tracked;
  tracked.emplace(asio::prefer(io.get_executor(), asio::execution::outstanding_work.tracked));
  int ran = 0;
  auto body = [&]() -> co_t<TestType, int> {
    ++ran;
    co_return 7;
  };
  auto pending = [](int& destroyed) -> co_t<TestType> {
    struct mark {
      int& n;
      ~mark() { ++n; }
    } m{destroyed};
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
    co_await t.async_wait(TestType::token);
  };
  auto h1 = halt::spawn(never, body);
  auto h2 = halt::spawn(*tracked, body);
  auto h3 = halt::spawn(cont, body);
  int destroyed = 0;
  auto h4 = halt::spawn(*tracked, pending(destroyed));
  tracked.reset();
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r1 = co_await h1.join();
    auto r2 = co_await h2.join();
    auto r3 = co_await h3.join();
    CHECK(r1.value() == 7);
    CHECK(r2.value() == 7);
    CHECK(r3.value() == 7);
    h4.abort();
    auto r = co_await h4.join();
    CHECK(r.is_cancelled());
  });
  CHECK(ran == 3);
  CHECK(destroyed == 1);
}

TEMPLATE_TEST_CASE("a task aborted before it starts never runs and its captures are destroyed once", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  bool ran = false;
  auto h = halt::spawn(io, [g = guard(destroyed), &ran]() -> co_t<TestType> {
    ran = true;
    co_return;
  });
  h.abort();
  h.abort(); // idempotent
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(destroyed == 1); // destroyed before join reported
  });
  CHECK_FALSE(ran);
  CHECK(destroyed == 1);
}

TEMPLATE_TEST_CASE("a coroutine body (not a callable) aborted before it starts is destroyed unrun", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  bool ran = false;
  auto body = [](guard g, bool& r) -> co_t<TestType> {
    r = true;
    (void)g;
    co_return;
  };
  auto h = halt::spawn(io.get_executor(), body(guard(destroyed), ran));
  h.abort();
  io.run_for(5s);
  CHECK_FALSE(ran);
  CHECK(destroyed == 1);
  CHECK(h.is_finished());
}

TEMPLATE_TEST_CASE("abort stops a task waiting on a timer, and its RAII guards run", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  auto h = halt::spawn(io, [&]() -> co_t<TestType, int> {
    guard g(destroyed);
    co_await sleep_for<TestType>(60s);
    co_return 1;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(20ms);
    CHECK_FALSE(h.is_finished());
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    CHECK(destroyed == 1);
    CHECK_THROWS_AS(r.value(), halt::join_error);
  });
}

TEMPLATE_TEST_CASE("abort stops a task blocked on a socket read", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket client(io), server(io);
  client.connect(acc.local_endpoint());
  acc.accept(server);
  auto h = halt::spawn(io, [&]() -> co_t<TestType, std::size_t> {
    char buf[16];
    co_return co_await server.async_read_some(asio::buffer(buf), TestType::token);
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(10ms);
    auto r = co_await h.cancel_and_join();
    CHECK(r.is_cancelled());
  });
}

TEMPLATE_TEST_CASE("abort after completion has no effect", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType, std::string> { co_return "done"; });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(5ms);
    CHECK(h.is_finished());
    h.abort();
    auto r = co_await h.join();
    REQUIRE(r.has_value());
    CHECK(r.value() == "done");
  });
}

TEMPLATE_TEST_CASE("a task that catches the cancellation and returns anyway reports its value", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  bool caught = false, after = false;
  auto h = halt::spawn(io, [&]() -> co_t<TestType, int> {
    try {
      co_await sleep_for<TestType>(60s);
      after = true;
    } catch (const halt::system_error& e) {
      caught = true;
      if (e.code() == asio::error::operation_aborted) co_return 99; // finished anyway
      throw;
    } catch (...) {
      caught = true;
      throw;
    }
    after = true;
    co_return 0;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(10ms);
    auto r = co_await h.cancel_and_join();
    if constexpr (!TestType::drops) {
      REQUIRE(r.has_value()); // "cancelled" and "finished anyway" are told apart
      CHECK(r.value() == 99);
    } else {
      // A halt::task cannot: it is dropped at the co_await (join_handle.hpp, task.hpp). No catch
      // sees the abort, no code after the co_await runs, and join reports cancelled.
      CHECK(r.is_cancelled());
    }
  });
  CHECK(caught == !TestType::drops);
  CHECK_FALSE(after);
}

TEMPLATE_TEST_CASE("an exception that escapes a task is reported, not thrown into the joiner", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType> {
    co_await sleep_for<TestType>(1ms);
    throw std::runtime_error("boom");
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    REQUIRE(r.is_exception());
    CHECK_THROWS_WITH(std::rethrow_exception(r.exception()), "boom");
    CHECK_THROWS_WITH(r.value(), halt_test::Contains("threw an exception"));
    CHECK_THROWS_AS(std::move(r).get_or_throw(), std::runtime_error);
  });
}

TEMPLATE_TEST_CASE("a cancelled join leaves the task running and it can be joined again", "[task]", awaitable_kind, task_kind) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType, int> {
    co_await sleep_for<TestType>(50ms);
    co_return 7;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto raced = co_await (h.join() || sleep_for(5ms)); // the join loses and is cancelled
    CHECK(raced.index() == 1);
    CHECK_FALSE(h.is_finished());
    auto r = co_await h.join();
    REQUIRE(r.has_value());
    CHECK(r.value() == 7);
  });
}

TEMPLATE_TEST_CASE("a join cancelled through its slot completes with operation_aborted", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType, int> {
    co_await sleep_for<TestType>(30ms);
    co_return 3;
  });
  asio::cancellation_signal sig;
  halt::error_code first;
  h.async_join(asio::bind_cancellation_slot(
      sig.slot(), asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<int>) { first = ec; })));
  asio::post(io, [&] { sig.emit(asio::cancellation_type::terminal); });
  io.run_for(5ms);
  CHECK(first == asio::error::operation_aborted);
  int value = 0;
  h.async_join(asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<int> r) {
    if (!ec && r) value = r.value();
  }));
  io.run_for(10s);
  CHECK(value == 3);
}

TEMPLATE_TEST_CASE("bad input: empty handles, a second join, an abort handle after detach", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto is_no_state = [](const halt::system_error& e) { return e.code() == halt::errc::no_state; };
  halt::join_handle<int> empty;
  CHECK_FALSE(empty.valid());
  CHECK_FALSE(empty.is_finished());
  CHECK_THROWS_MATCHES(empty.abort(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES(empty.abort_handle(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES(empty.async_join([](halt::error_code, halt::join_result<int>) {}), halt::system_error,
                       halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_AS(halt::abort_handle().abort(), halt::system_error);

  auto h = halt::spawn(io, []() -> co_t<TestType, int> {
    co_await sleep_for<TestType>(60s);
    co_return 1;
  });
  auto moved = std::move(h);
  CHECK_FALSE(h.valid());
  CHECK_THROWS_MATCHES(h.abort(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));

  auto ah = moved.abort_handle();
  moved.detach(); // the task runs on; its abort handle still works
  CHECK_FALSE(moved.valid());
  ah.abort();
  io.run_for(10s);
  CHECK(ah.is_finished());

  auto once = halt::spawn(io, []() -> co_t<TestType, int> { co_return 2; });
  io.restart();
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await once.join();
    CHECK(r.value() == 2);
    try {
      co_await once.join(); // the result was taken
      FAIL("a second join must fail");
    } catch (const halt::system_error& e) {
      // Its own error, not "no state (empty or moved-from object)": the handle is not empty.
      CHECK(e.code() == halt::errc::result_taken);
      // (Boost.System's what() appends the code: "... [std:halt:6]".)
      CHECK_THAT(std::string(e.what()), halt_test::Contains("halt::join_handle: the result was already taken by an earlier join"));
    }
    CHECK(once.valid());
  });
  // Through async_join, the same code reaches the handler.
  halt::error_code again;
  once.async_join(asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<int>) { again = ec; }));
  io.restart();
  io.run_for(10s);
  CHECK(again == halt::errc::result_taken);
}

TEMPLATE_TEST_CASE("an abort handle does not keep the result alive", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto result_alive = std::make_shared<int>(1);
  std::weak_ptr<int> watch = result_alive;
  auto h = halt::spawn(io, [r = std::move(result_alive)]() mutable -> co_t<TestType, std::shared_ptr<int>> {
    co_return std::move(r);
  });
  auto ah = h.abort_handle();
  h = halt::join_handle<std::shared_ptr<int>>(); // detach: nobody wants the result
  io.run_for(10s);
  CHECK(ah.is_finished());
  CHECK(watch.expired());
}

TEMPLATE_TEST_CASE("scoped_task aborts its task on destruction", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  halt::abort_handle ah;
  {
    halt::scoped_task<void> t(halt::spawn(io, [&]() -> co_t<TestType> {
      guard g(destroyed);
      co_await sleep_for<TestType>(60s);
    }));
    ah = t.abort_handle();
    io.run_for(5ms);
  }
  io.run_for(10s);
  CHECK(ah.is_finished());
  CHECK(destroyed == 1);

  halt::scoped_task<int> kept(halt::spawn(io, []() -> co_t<TestType, int> { co_return 4; }));
  auto plain = kept.release(); // no longer aborted on destruction
  io.restart();
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await plain.join();
    CHECK(r.value() == 4);
  });
}

TEMPLATE_TEST_CASE("an io_context destroyed with pending tasks and live handles", "[task]", awaitable_kind, task_kind) {
  std::atomic<int> destroyed{0};
  halt::join_handle<int> pending, never_started;
  {
    asio::io_context io;
    pending = halt::spawn(io, [&]() -> co_t<TestType, int> {
      guard g(destroyed);
      co_await sleep_for<TestType>(60s);
      co_return 1;
    });
    io.run_for(5ms);
    never_started = halt::spawn(io, [g = guard(destroyed)]() -> co_t<TestType, int> { co_return 2; });
  }
  CHECK(destroyed == 2);
  CHECK(pending.is_finished());
  CHECK(never_started.is_finished());
  asio::io_context other;
  run_main(other, [&]() -> asio::awaitable<void> {
    auto r = co_await pending.join();
    CHECK(r.is_cancelled());
    auto r2 = co_await never_started.join();
    CHECK(r2.is_cancelled());
  });
}

TEMPLATE_TEST_CASE("tasks run on a strand of a thread pool and abort from other threads is race-free", "[task][race]", awaitable_kind, task_kind) {
  asio::thread_pool pool(4);
  constexpr int rounds = 10'000;
  std::atomic<int> destroyed{0}, cancelled{0}, finished_anyway{0};
  for (int i = 0; i < rounds; ++i) {
    // The guard is owned by the task (a capture): destroyed exactly once, run or not.
    auto h = halt::spawn(pool, [g = guard(destroyed), i]() -> co_t<TestType, int> {
      if (i % 3 == 0) co_await sleep_for<TestType>(60s);
      co_return i;
    });
    std::thread aborter([ah = h.abort_handle()] { ah.abort(); });
    asio::io_context joiner;
    run_main(joiner, [&]() -> asio::awaitable<void> {
      auto r = co_await h.join();
      if (r.is_cancelled())
        ++cancelled;
      else if (r.has_value())
        ++finished_anyway;
    });
    aborter.join();
  }
  pool.join();
  CHECK(destroyed == rounds);
  CHECK(cancelled + finished_anyway == rounds);
  CHECK(cancelled >= rounds / 3); // every 60 s sleeper was cancelled
}

TEMPLATE_TEST_CASE("the callable form keeps its captures alive while the task runs", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, [text = std::string(100, 'x')]() -> co_t<TestType, std::size_t> {
    co_await sleep_for<TestType>(5ms);
    co_return text.size(); // the lambda object outlives the suspension
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.value() == 100);
  });
}

TEMPLATE_TEST_CASE("spawn works on a strand, and a plain-callback join runs on the system executor", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  auto h = halt::spawn(strand, []() -> co_t<TestType, int> { co_return 11; });
  std::atomic<bool> on_io{false};
  std::atomic<int> v{0};
  // Pending when the task finishes: dispatched to the system executor, so it runs at once on
  // the thread that finished the task.
  h.async_join([&](halt::error_code, halt::join_result<int> r) {
    on_io = io.get_executor().running_in_this_thread();
    v = r.value();
  });
  io.run_for(10s);
  halt_test::wait_until([&] { return v.load() == 11; });
  CHECK(on_io.load());

  // Joined after the task finished: never inline in async_join, so it is posted to the system
  // executor's own thread.
  auto h2 = halt::spawn(strand, []() -> co_t<TestType, int> { co_return 12; });
  io.restart();
  io.run_for(10s);
  REQUIRE(h2.is_finished());
  // Inline would mean on this thread; the system executor's thread may run it before
  // async_join returns, so a flag set after the call could not tell the two apart.
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> inline_call{true}, failed{true}, done{false};
  h2.async_join([&](halt::error_code ec, halt::join_result<int> r) {
    inline_call = std::this_thread::get_id() == caller;
    failed = static_cast<bool>(ec);
    v = r.value();
    done = true;
  });
  halt_test::wait_until([&] { return done.load(); });
  CHECK_FALSE(inline_call.load());
  CHECK_FALSE(failed.load());
  CHECK(v.load() == 12);
}

TEST_CASE("joining an empty handle inside a coroutine throws no_state, catchably", "[task]") {
  asio::io_context io;
  run_main(io, [&]() -> asio::awaitable<void> {
    halt::join_handle<int> empty;
    try {
      co_await empty.join();
      FAIL("join on an empty handle must throw");
    } catch (const halt::system_error& e) {
      CHECK(e.code() == halt::errc::no_state);
    }
    halt::cancellation_token t;
    halt::cancellation_token moved = std::move(t);
    try {
      co_await t.cancelled();
      FAIL("waiting on an empty token must throw");
    } catch (const halt::system_error& e) {
      CHECK(e.code() == halt::errc::no_state);
    }
  });
}

namespace {
struct no_default {
  explicit no_default(int v) : value(v) {}
  const int value; // neither default-constructible nor assignable
};
} // namespace

// Spawning never needs a default-constructible T (starting a halt::task<T> with a completion
// token does: the completion's value when the task threw or was dropped).
TEMPLATE_TEST_CASE("a task may return a type that is neither default-constructible nor assignable", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType, no_default> {
    co_await sleep_for<TestType>(1ms);
    co_return no_default(8);
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.value().value == 8);
  });
  auto detached = halt::spawn(io, []() -> co_t<TestType, no_default> { co_return no_default(1); });
  detached.detach();
  auto aborted = halt::spawn(io, []() -> co_t<TestType, no_default> {
    co_await sleep_for<TestType>(1h);
    co_return no_default(2);
  });
  aborted.abort();
  io.restart();
  io.run_for(5s);
  CHECK(aborted.is_finished());
}

TEMPLATE_TEST_CASE("a finished callable task has destroyed its captures", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  auto h = halt::spawn(io, [g = guard(destroyed)]() -> co_t<TestType, int> {
    co_await sleep_for<TestType>(1ms);
    co_return 5;
  });
  io.run_for(10s);
  REQUIRE(h.is_finished());
  CHECK(destroyed == 1); // "finished" means the frames and the callable are gone
}

TEMPLATE_TEST_CASE("a pending join completes in the same handler that finishes the task", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType, int> { co_return 5; });
  std::vector<std::string> log;
  h.async_join(asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<int> r) {
    CHECK_FALSE(ec);
    CHECK(r.value() == 5);
    CHECK(h.is_finished());
    log.push_back("joined");
  }));
  // Queued right behind the task's start. The join completes in the handler that finishes the
  // task, because the completion is dispatched (not posted) to the joiner's executor, which this
  // thread runs: no handler ever sees the task finished and the join still pending.
  asio::post(io, [&] { log.push_back(h.is_finished() ? "next handler, finished" : "next handler, running"); });
  io.run();
  // For a halt::task body too: spawn runs its chain in the posted start itself (no start
  // operation whose completion would be posted again).
  CHECK(log == std::vector<std::string>{"joined", "next handler, finished"});
}

TEMPLATE_TEST_CASE("a long chain of joins finishing at once does not exhaust the stack", "[task]", awaitable_kind, task_kind) {
  // Task i joins task i-1. When the first finishes, each join completes the next task: inline
  // for a few levels, then through the queue.
  asio::io_context io;
  constexpr int n = 20000;
  auto first = halt::spawn(io, []() -> co_t<TestType, int> {
    co_await sleep_for<TestType>(1ms);
    co_return 0;
  });
  halt::join_handle<int> prev = std::move(first);
  for (int i = 1; i < n; ++i) {
    prev = halt::spawn(io, [p = std::move(prev)]() -> co_t<TestType, int> {
      // In a halt::task, p.join() is the join operation itself (join_awaitable::in_task): no
      // co_spawn, so the chain is as cheap as with p.async_join(halt::use_task).
      auto join = p.join();
      auto r = co_await std::move(join);
      co_return r.value() + 1;
    });
  }
  int last = -1;
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await prev.join();
    last = r.value();
  });
  CHECK(last == n - 1);
}

TEMPLATE_TEST_CASE("where a task runs: its own strand, the strand given, or a single-threaded io_context", "[task]", awaitable_kind, task_kind) {
  SECTION("io_context with the default concurrency hint: a strand of its own") {
    asio::io_context io(ASIO_CONCURRENCY_HINT_DEFAULT); // (also in the _io1 variant)
    auto h = halt::spawn(io, []() -> co_t<TestType, bool> {
      auto ex = co_await asio::this_coro::executor;
      co_return halt::detail::is_strand(ex);
    });
    bool on_strand = false;
    run_main(io, [&]() -> asio::awaitable<void> {
      auto r = co_await h.join(); // named: in a template, g++ 12 cannot take (co_await ...).value()
      on_strand = r.value();
    });
    CHECK(on_strand);
  }
  SECTION("io_context(1): the io_context's executor, no strand") {
    asio::io_context io(1);
    auto h = halt::spawn(io, []() -> co_t<TestType, bool> {
      auto ex = co_await asio::this_coro::executor;
      co_return !halt::detail::is_strand(ex) && halt::detail::is_serial(ex);
    });
    bool direct = false;
    run_main(io, [&]() -> asio::awaitable<void> {
      auto r = co_await h.join(); // named: in a template, g++ 12 cannot take (co_await ...).value()
      direct = r.value();
    });
    CHECK(direct);
  }
  SECTION("a strand: that strand") {
    asio::io_context io;
    auto strand = asio::make_strand(io);
    const asio::any_io_executor given = strand;
    auto h = halt::spawn(strand, [&given]() -> co_t<TestType, bool> {
      auto ex = co_await asio::this_coro::executor;
      co_return ex == given;
    });
    bool same = false;
    run_main(io, [&]() -> asio::awaitable<void> {
      auto r = co_await h.join(); // named: in a template, g++ 12 cannot take (co_await ...).value()
      same = r.value();
    });
    CHECK(same);
  }
}

TEMPLATE_TEST_CASE("io_context(1) run by one thread: aborts from another thread, 2000 times", "[task][threads]", awaitable_kind, task_kind) {
  asio::io_context io(1);
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  std::atomic<int> guards{0}, started{0};
  struct guard {
    std::atomic<int>* n;
    explicit guard(std::atomic<int>* c) : n(c) {}
    guard(guard&& o) noexcept : n(std::exchange(o.n, nullptr)) {}
    ~guard() {
      if (n) n->fetch_add(1);
    }
  };
  constexpr int rounds = 2000;
  std::vector<halt::join_handle<void>> hs;
  hs.reserve(rounds);
  for (int i = 0; i < rounds; ++i) {
    hs.push_back(halt::spawn(io, [g = guard(&guards), &started]() -> co_t<TestType> {
      started.fetch_add(1);
      co_await sleep_for<TestType>(60s);
    }));
    if (i % 3 == 0) std::this_thread::yield(); // some start before their abort, some after
    hs.back().abort();
  }
  std::atomic<int> cancelled{0}, joined{0};
  for (auto& h : hs) {
    h.async_join([&](halt::error_code ec, halt::join_result<void> r) {
      if (!ec && r.is_cancelled()) cancelled.fetch_add(1);
      joined.fetch_add(1);
    });
  }
  halt_test::wait_until([&] { return joined.load() == rounds; });
  work.reset();
  runner.join();
  CHECK(cancelled.load() == rounds);
  CHECK(guards.load() == rounds); // each task's captures destroyed exactly once
  CHECK(started.load() <= rounds);
}

TEMPLATE_TEST_CASE("a joiner's handler that throws when run inline: run() throws, no join is lost", "[task]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto h = halt::spawn(io, []() -> co_t<TestType, int> { co_return 1; });
  halt::error_code second_ec;
  bool second_done = false;
  h.async_join(asio::bind_executor(io, [](halt::error_code, halt::join_result<int>) {
    throw std::runtime_error("boom"); // runs inside the task's finish, on this thread
  }));
  h.async_join(asio::bind_executor(io, [&](halt::error_code ec, halt::join_result<int>) {
    second_ec = ec;
    second_done = true;
  }));
  CHECK_THROWS_WITH(io.run(), "boom"); // leaves run(), as from any handler
  io.restart();
  io.run();
  CHECK(second_done); // delivered anyway; the first join took the result
  CHECK(second_ec == halt::errc::result_taken);
}

// --- Issue 10: token objects in the frames of aborted tasks ------------------------------------------
// Frames of several sizes hold a deadline child, a registration on it and a drop_guard across a
// suspension. Aborting a task destroys its frame: the guard cancels the child (the registration
// runs once), the registration and the child go, and the child's timer is released.
namespace {
template <class K, std::size_t Pad>
co_t<K> hold_tokens(halt::cancellation_token t, std::atomic<int>& fired) {
  std::array<char, Pad> pad{};
  pad[Pad - 1] = 1;
  auto child = t.child_token_after(co_await asio::this_coro::executor, 1h);
  auto reg = child.on_cancel([&fired] { fired.fetch_add(1); });
  auto guard = child.drop_guard();
  if constexpr (K::drops)
    co_await child.async_wait(K::token); // in this frame (cancelled() would co_spawn an awaitable)
  else
    co_await child.cancelled();
  CHECK(pad[Pad - 1] == 1);
}

template <class K, std::size_t... Pads>
void spawn_token_holders(asio::io_context& io, const halt::cancellation_token& root,
                         std::atomic<int>& fired, std::vector<halt::join_handle<void>>& out,
                         std::index_sequence<Pads...>) {
  (out.push_back(halt::spawn(io, hold_tokens<K, Pads * 8 + 1>(root.child_token(), fired))), ...);
}
} // namespace

TEMPLATE_TEST_CASE("aborting tasks whose frames hold tokens, registrations and guards", "[task][issue10]", awaitable_kind, task_kind) {
  asio::io_context io;
  halt::cancellation_token root;
  std::atomic<int> fired{0};
  std::vector<halt::join_handle<void>> handles;
  for (int i = 0; i < 4; ++i) spawn_token_holders<TestType>(io, root, fired, handles, std::make_index_sequence<16>{});
  io.poll(); // every task is suspended on its child token
  CHECK(fired.load() == 0);
  for (std::size_t i = 0; i < handles.size(); i += 2) handles[i].abort();
  int cancelled = 0, finished = 0;
  run_main(io, [&]() -> asio::awaitable<void> {
    for (std::size_t i = 0; i < handles.size(); i += 2) {
      auto r = co_await handles[i].join();
      cancelled += r.is_cancelled();
    }
    CHECK(fired.load() == 32); // each aborted frame's guard cancelled its child
    root.cancel(halt::errc::shutdown);
    for (std::size_t i = 1; i < handles.size(); i += 2) {
      auto r = co_await handles[i].join();
      finished += r.has_value();
    }
  });
  CHECK(cancelled == 32);
  CHECK(finished == 32);
  CHECK(fired.load() == 64);
  io.restart();
  io.run_for(10s); // no deadline timer is left behind
  CHECK(io.stopped());
}

namespace {
// Installs a recording detached-exception handler for one test; restores the previous one.
struct detached_recorder {
  std::mutex m;
  std::vector<std::string> messages;
  std::atomic<int> calls{0};
  halt::detached_exception_handler previous;

  detached_recorder() {
    previous = halt::set_detached_exception_handler([this](std::exception_ptr e) {
      std::string what = "(not a std::exception)";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
      std::lock_guard<std::mutex> g(m);
      messages.push_back(what);
      ++calls;
    });
  }
  ~detached_recorder() { halt::set_detached_exception_handler(std::move(previous)); }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> g(m);
    return messages;
  }
};
} // namespace

TEMPLATE_TEST_CASE("a detached task's exception goes to the detached-exception handler, once", "[task][detach]", awaitable_kind, task_kind) {
  detached_recorder rec;
  asio::io_context io(1);
  SECTION("detached before it throws: reported by the thread that finishes it") {
    auto h = halt::spawn(io, []() -> co_t<TestType> {
      co_await sleep_for<TestType>(1ms);
      throw std::runtime_error("write: Broken pipe");
    });
    h.detach();
    halt_test::run_until(io, [&] { return rec.calls.load() == 1; });
  }
  SECTION("finished with the exception before the handle is destroyed: reported by the destructor") {
    {
      auto h = halt::spawn(io, []() -> co_t<TestType, int> {
        throw std::runtime_error("write: Broken pipe");
        co_return 1;
      });
      halt_test::run_until(io, [&] { return h.is_finished(); });
      CHECK(rec.calls == 0); // the handle could still join it
    }
  }
  io.restart();
  io.run();
  REQUIRE(rec.seen() == std::vector<std::string>{"write: Broken pipe"});
}

TEMPLATE_TEST_CASE("a detached task that returns, is aborted, or whose exception was joined reports nothing", "[task][detach]", awaitable_kind, task_kind) {
  detached_recorder rec;
  asio::io_context io(1);
  halt::spawn(io, []() -> co_t<TestType> { co_return; }).detach();
  auto aborted = halt::spawn(io, []() -> co_t<TestType> { co_await sleep_for<TestType>(1h); });
  auto joined = halt::spawn(io, []() -> co_t<TestType> {
    throw std::runtime_error("seen by the joiner");
    co_return;
  });
  bool done = false;
  auto main = [&]() -> asio::awaitable<void> {
    auto r = co_await joined.join();
    CHECK(r.is_exception());
    aborted.abort();
    auto a = co_await aborted.join();
    CHECK(a.is_cancelled());
    done = true;
  };
  asio::co_spawn(io, main, halt_test::rethrow{});
  halt_test::run_until(io, [&] { return done; });
  joined.detach(); // the result was taken: nothing left to report
  aborted.detach();
  io.restart();
  io.run();
  CHECK(rec.calls == 0);
}

TEST_CASE("set_detached_exception_handler returns the previous handler, and an empty one restores the default", "[task][detach]") {
  auto first = halt::set_detached_exception_handler([](std::exception_ptr) {});
  CHECK(!first); // the default
  auto mine = halt::set_detached_exception_handler({});
  CHECK(static_cast<bool>(mine));
  CHECK(!halt::set_detached_exception_handler(std::move(first)));
}

TEMPLATE_TEST_CASE("a detached task's exception races its detach: reported exactly once", "[task][detach][race]", awaitable_kind, task_kind) {
  detached_recorder rec;
  asio::thread_pool pool(2);
  constexpr int n = 200;
  for (int i = 0; i < n; ++i) {
    auto h = halt::spawn(pool, []() -> co_t<TestType> {
      throw std::runtime_error("boom");
      co_return;
    });
    h.detach(); // concurrently with the task finishing on the pool
  }
  halt_test::wait_until([&] { return rec.calls.load() == n; });
  pool.join();
  CHECK(rec.calls == n);
}

TEMPLATE_TEST_CASE("abort() while another thread destroys the task's io_context", "[task][threads][issue10]", awaitable_kind, task_kind) {
  // abort() used to copy the executor under the task's mutex and dispatch after unlocking: a
  // context destroyed in between (its shutdown finishing the task) took the strand (and the
  // scheduler) with it. Run under ASan and TSan.
  constexpr int rounds = 300;
  for (int hint : {ASIO_CONCURRENCY_HINT_DEFAULT, 1}) {
    int cancelled = 0;
    for (int i = 0; i < rounds; ++i) {
      auto io = std::make_unique<asio::io_context>(hint);
      bool started = false;
      auto h = halt::spawn(*io, [&started]() -> co_t<TestType> {
        started = true;
        co_await sleep_for<TestType>(1h);
      });
      while (!started) io->run_one();
      std::latch go(2);
      std::thread aborter([&] {
        go.arrive_and_wait();
        h.abort();
      });
      go.arrive_and_wait();
      io.reset(); // destroys the context: the task's frame goes, the task finishes cancelled
      aborter.join();
      REQUIRE(h.is_finished());
      asio::io_context joiner;
      h.async_join(asio::bind_executor(joiner, [&](halt::error_code ec, halt::join_result<void> r) {
        if (!ec && r.is_cancelled()) ++cancelled;
      }));
      joiner.run();
    }
    CHECK(cancelled == rounds);
  }
}

namespace {
// A task whose abort delivery fails the first time, as a dispatch that throws bad_alloc would.
struct flaky_abort_task final : halt::detail::task_base {
  int delivered = 0;
  int attempts = 0;
  void do_abort() override {
    if (++attempts == 1) throw std::bad_alloc();
    ++delivered;
  }
};
} // namespace

TEST_CASE("abort() whose delivery throws is withdrawn, so a later abort() delivers it",
          "[task][issue10]") {
  // abort() used to set its flag before the dispatch: after a throw every later abort() was a
  // no-op and the task was never aborted.
  flaky_abort_task t;
  CHECK_THROWS_AS(t.abort(), std::bad_alloc);
  CHECK_FALSE(t.abort_requested());
  t.abort();
  CHECK(t.abort_requested());
  CHECK(t.delivered == 1);
  t.abort(); // idempotent again once delivered
  CHECK(t.attempts == 2);
}

TEMPLATE_TEST_CASE("a join pending when its handle is destroyed still receives the outcome", "[task][detach][issue10]", awaitable_kind, task_kind) {
  detached_recorder rec;
  asio::io_context io;
  std::optional<halt::join_handle<int>> h;
  h.emplace(halt::spawn(io, []() -> co_t<TestType, int> {
    co_await sleep_for<TestType>(1ms);
    throw std::runtime_error("late failure");
  }));
  bool got = false;
  h->async_join([&](halt::error_code ec, halt::join_result<int> r) {
    CHECK_FALSE(ec);
    CHECK(r.is_exception());
    CHECK_THROWS_WITH(std::rethrow_exception(r.exception()), "late failure");
    got = true;
  });
  h.reset(); // the pending join keeps its claim on the outcome
  io.run();
  CHECK(got);
  CHECK(rec.calls.load() == 0); // the joiner saw it: not an orphan
}

// --- halt::task bodies (task.hpp): started without co_spawn, dropped by abort ---------------------

namespace {
halt::task<void> task_sleep(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(halt::use_task);
}
} // namespace

TEST_CASE("spawn of a halt::task: join gives its value or its exception", "[task][halt_task]") {
  asio::io_context io;
  auto value = []() -> halt::task<int> {
    co_await task_sleep(1ms);
    co_return 42;
  };
  auto failing = []() -> halt::task<void> {
    co_await task_sleep(1ms);
    throw std::runtime_error("boom");
  };
  auto h1 = halt::spawn(io, value());
  auto h2 = halt::spawn(io, failing());
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r1 = co_await h1.join();
    REQUIRE(r1.has_value());
    CHECK(r1.value() == 42);
    auto r2 = co_await h2.join();
    REQUIRE(r2.is_exception());
    CHECK_THROWS_AS(std::rethrow_exception(r2.exception()), std::runtime_error);
  });
}

TEST_CASE("abort drops a spawned halt::task: no catch, no code after the co_await, guards run once",
          "[task][halt_task]") {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  bool after = false, caught = false;
  auto body = [&](guard outer) -> halt::task<int> {
    (void)outer;
    try {
      guard inner(destroyed);
      co_await task_sleep(1h);
      after = true;
    } catch (...) {
      caught = true;
    }
    after = true;
    co_return 1;
  };
  auto h = halt::spawn(io, body(guard(destroyed)));
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(1ms);
    CHECK_FALSE(h.is_finished());
    h.abort();
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
  });
  CHECK(destroyed == 2);
  CHECK_FALSE(after);
  CHECK_FALSE(caught);
}

TEST_CASE("a spawned halt::task aborted before it starts never runs, and a callable body's captures "
          "outlive the task", "[task][halt_task]") {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  bool ran = false;
  auto h = halt::spawn(io, [&ran, g = guard(destroyed)]() -> halt::task<void> {
    ran = true;
    co_return;
  });
  h.abort();
  std::string text = "capture";
  auto h2 = halt::spawn(io, [text]() -> halt::task<std::size_t> {
    co_await task_sleep(1ms);
    co_return text.size(); // the lambda (and text) are alive while the task runs
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
    auto r2 = co_await h2.join();
    CHECK(r2.value() == 7);
  });
  CHECK_FALSE(ran);
  CHECK(destroyed == 1);
}

TEST_CASE("spawned halt::tasks on a thread pool, aborted from another thread", "[task][halt_task]") {
  constexpr int n = 100;
  asio::thread_pool pool(4);
  std::atomic<int> destroyed{0};
  auto body = [](guard g) -> halt::task<void> {
    (void)g;
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
      asio::steady_timer t(ex, std::chrono::microseconds(50));
      co_await t.async_wait(halt::use_task);
    }
  };
  std::vector<halt::join_handle<void>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(halt::spawn(pool, body(guard(destroyed))));
  for (auto& h : hs) h.abort();
  halt_test::wait_until([&] {
    for (auto& h : hs)
      if (!h.is_finished()) return false;
    return true;
  });
  pool.join();
  CHECK(destroyed == n);
  asio::io_context joiner;
  int cancelled = 0;
  for (auto& h : hs)
    h.async_join(asio::bind_executor(joiner, [&](halt::error_code ec, halt::join_result<void> r) {
      if (!ec && r.is_cancelled()) ++cancelled;
    }));
  joiner.run();
  CHECK(cancelled == n);
}

TEST_CASE("spawning an empty halt::task throws no_state, and a callable returning one reports it",
          "[task][halt_task]") {
  asio::io_context io;
  halt::task<int> t;
  try {
    auto h = halt::spawn(io, std::move(t));
    FAIL("no exception");
  } catch (const halt::system_error& e) {
    CHECK(e.code() == halt::errc::no_state);
  }
  halt::join_set<int> set;
  CHECK_THROWS_AS(set.spawn(io, halt::task<int>{}), halt::system_error);
  CHECK(set.size() == 0);
  halt::task_tracker tracker;
  CHECK_THROWS_AS(tracker.spawn(io, halt::task<void>{}), halt::system_error);
  CHECK(tracker.size() == 0);
  // Known only when the callable runs, on the task's executor: the join reports it.
  auto h = halt::spawn(io, []() -> halt::task<int> { return {}; });
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    REQUIRE(r.is_exception());
    try {
      std::rethrow_exception(r.exception());
    } catch (const halt::system_error& e) {
      CHECK(e.code() == halt::errc::no_state);
    }
  });
}

namespace {
template <class B>
concept spawns = requires(asio::io_context& io, B&& b) { halt::spawn(io, std::forward<B>(b)); };
template <class B>
concept set_spawns = requires(halt::join_set<int>& s, asio::io_context& io, B&& b) { s.spawn(io, std::forward<B>(b)); };
template <class B>
concept tracker_spawns = requires(halt::task_tracker& t, asio::io_context& io, B&& b) { t.spawn(io, std::forward<B>(b)); };

template <class B>
concept shutdown_spawns = requires(halt::shutdown& s, B&& b) { s.spawn(std::string("t"), std::forward<B>(b)); };
} // namespace

// A coroutine object is moved into spawn: an lvalue halt::task (or asio::awaitable) does not
// compile, rather than being silently emptied (a review found that spawn took one for a while,
// and emptied the caller's task); an lvalue callable is copied.
TEST_CASE("spawn does not take a halt::task lvalue (it would empty the caller's task)", "[task][halt_task]") {
  STATIC_REQUIRE(spawns<halt::task<int>>);
  STATIC_REQUIRE(!spawns<halt::task<int>&>);
  STATIC_REQUIRE(!spawns<asio::awaitable<int>&>);
  STATIC_REQUIRE(spawns<halt::task<int> (*&)()>); // a callable lvalue: copied
  STATIC_REQUIRE(set_spawns<halt::task<int>>);
  STATIC_REQUIRE(!set_spawns<halt::task<int>&>);
  STATIC_REQUIRE(shutdown_spawns<halt::task<void>>);
  STATIC_REQUIRE(!shutdown_spawns<halt::task<void>&>);
  STATIC_REQUIRE(tracker_spawns<halt::task<void>>);
  STATIC_REQUIRE(!tracker_spawns<halt::task<void>&>);
}

TEST_CASE("a spawned halt::task that aborts itself is dropped at its next co_await", "[task][halt_task]") {
  asio::io_context io;
  std::atomic<int> destroyed{0};
  halt::join_handle<int> h;
  int steps = 0;
  auto body = [&]() -> halt::task<int> {
    guard g(destroyed);
    ++steps;
    h.abort(); // delivered at once: this task's executor runs this thread
    ++steps;   // still running: the drop happens at the next suspension
    co_await task_sleep(1h);
    ++steps;
    co_return 1;
  };
  h = halt::spawn(io, body);
  run_main(io, [&]() -> asio::awaitable<void> {
    auto r = co_await h.join();
    CHECK(r.is_cancelled());
  });
  CHECK(steps == 2);
  CHECK(destroyed == 1);
}

// join() is an asio::awaitable for an asio::awaitable, and the join operation itself for a
// halt::task (task.hpp awaits it through in_task(), before its asio::awaitable overload).
static_assert(std::is_base_of_v<asio::awaitable<halt::join_result<int>>, halt::join_awaitable<int>>);
static_assert(halt::detail::tsk::has_in_task<halt::join_awaitable<int>>);

TEST_CASE("co_await join() and cancel_and_join() inside a halt::task", "[task][halt_task]") {
  asio::io_context io;
  auto value = halt::spawn(io, []() -> halt::task<int> {
    co_await task_sleep(1ms);
    co_return 42;
  });
  auto pending = halt::spawn(io, []() -> halt::task<int> {
    co_await task_sleep(1h);
    co_return 1;
  });
  halt::join_handle<int> empty;
  auto body = [&]() -> halt::task<bool> {
    auto r1 = co_await value.join();
    auto r2 = co_await pending.cancel_and_join();
    bool threw = false;
    try {
      auto r3 = co_await value.join(); // the result was taken
      (void)r3;
    } catch (const halt::system_error& e) {
      threw = e.code() == halt::errc::result_taken;
    }
    bool no_state = false;
    try {
      auto j = empty.join();
      (void)j;
    } catch (const halt::system_error& e) {
      no_state = e.code() == halt::errc::no_state;
    }
    co_return r1.value() == 42 && r2.is_cancelled() && threw && no_state;
  };
  bool ok = false;
  body()(io, [&](std::exception_ptr e, bool v) { ok = !e && v; });
  io.run_for(10s);
  CHECK(ok);
}

TEST_CASE("a halt::task dropped while it awaits join() leaves the joined task running", "[task][halt_task]") {
  asio::io_context io;
  auto target = halt::spawn(io, []() -> halt::task<int> {
    co_await task_sleep(20ms);
    co_return 7;
  });
  bool after = false;
  auto waiter = halt::spawn(io, [&]() -> halt::task<void> {
    auto r = co_await target.join();
    (void)r;
    after = true;
  });
  run_main(io, [&]() -> asio::awaitable<void> {
    co_await sleep_for(1ms);
    waiter.abort();
    auto w = co_await waiter.join();
    CHECK(w.is_cancelled());
    CHECK_FALSE(target.is_finished());
    auto r = co_await target.join(); // the dropped join took nothing
    CHECK(r.value() == 7);
  });
  CHECK_FALSE(after);
}

TEST_CASE("a join's completion handler reports every associator of the caller's handler", "[task][associators]") {
  // join_completion wraps the caller's handler for the join operation: an operation asking it for
  // an associator must get the caller's.
  asio::io_context io;
  auto strand = asio::make_strand(io);
  asio::cancellation_signal sig;
  auto caller = [](halt::error_code, halt::join_result<int>) {};
  auto with_alloc = asio::bind_allocator(halt_test::tagged_allocator<void>(5),
                                         asio::bind_cancellation_slot(sig.slot(), caller));
  auto immediate = asio::make_strand(io); // bound only where Asio has immediate executors
  auto handler = halt_test::bind_executors(strand, immediate, std::move(with_alloc));
  using completion = halt::detail::join_completion<decltype(handler), int>;
  const completion c{std::move(handler), nullptr};
  halt_test::associator_record rec;
  halt_test::record_associators(c, io.get_executor(), rec);
  REQUIRE(rec.executor);
  CHECK(*rec.executor == asio::any_io_executor(strand));
  CHECK(rec.allocator_id == 5);
  REQUIRE(rec.slot);
  CHECK(*rec.slot == sig.slot());
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
  REQUIRE(rec.immediate_executor);
  CHECK(*rec.immediate_executor == asio::any_io_executor(immediate));
#endif

  // Without associations: the defaults the operation supplies.
  const halt::detail::join_completion<decltype(caller), int> plain{caller, nullptr};
  halt_test::associator_record defaults;
  halt_test::record_associators(plain, io.get_executor(), defaults);
  REQUIRE(defaults.executor);
  CHECK(*defaults.executor == asio::any_io_executor(io.get_executor()));
  CHECK(defaults.allocator_id == -1);
  REQUIRE(defaults.slot);
  CHECK_FALSE(defaults.slot->is_connected());
}

TEMPLATE_TEST_CASE("a join whose handler has a bound executor, allocator and slot completes on that executor", "[task][associators]", awaitable_kind, task_kind) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  auto h = halt::spawn(io, []() -> co_t<TestType, int> { co_return 4; });
  asio::cancellation_signal sig;
  int value = 0;
  bool on_strand = false;
  h.async_join(asio::bind_executor(
      strand, asio::bind_allocator(halt_test::tagged_allocator<void>(1),
                                   asio::bind_cancellation_slot(sig.slot(), [&](halt::error_code ec, halt::join_result<int> r) {
                                     on_strand = strand.running_in_this_thread();
                                     if (!ec && r) value = r.value();
                                   }))));
  io.run_for(10s);
  CHECK(value == 4);
  CHECK(on_strand);
}
