// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#define HALT_COUNT_NODES 1
#include <halt/bind_cancellation.hpp>
#include <halt/asio.hpp>
#include <halt/cancellation_token.hpp>

#include "support/catch.hpp"
#include "support/associators.hpp"
#include "support/async.hpp"

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
#include <asio/bind_immediate_executor.hpp>
#endif
#include <asio/cancellation_signal.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
using halt::cancellation_token;
using halt::errc;
using asio::ip::tcp;

namespace {

// Generous upper bound for "promptly": only catches a cancel that never arrives (the waits being
// cancelled are one hour long).
constexpr auto prompt = 10s;
// Bound for io_context::run_for, so that a missing cancel fails the test instead of hanging it.
constexpr auto run_limit = 20s;

// A minimal Asio operation that never completes by itself and records how it gets cancelled:
// which type was emitted, whether the emit ran on the operation's executor, and whether it ran
// inside the initiating function. It completes with operation_aborted on any emit.
struct probe_record {
  std::atomic<int> emits{0};
  std::atomic<bool> initiating{false};
  std::atomic<bool> emit_inside_initiation{false};
  std::atomic<bool> emit_off_executor{false};
  std::atomic<std::thread::id> emit_thread{};
  std::atomic<unsigned> emitted_type{0};
  std::atomic<bool> slot_connected{false};
};

// The initiation has get_executor(), like those of Asio's I/O objects, so bind_cancellation can
// fall back to the I/O executor. `io_ex` must be an io_context executor.
template <class Executor>
struct probe_initiation {
  Executor io_ex;
  probe_record* rec;

  using executor_type = Executor;
  executor_type get_executor() const noexcept { return io_ex; }

  template <class Handler>
  void operator()(Handler handler) const {
    rec->initiating = true;
    auto ex = asio::get_associated_executor(handler, io_ex);
    auto slot = asio::get_associated_cancellation_slot(handler);
    rec->slot_connected = slot.is_connected();
    auto pending = std::make_shared<std::optional<Handler>>(std::move(handler));
    if (slot.is_connected()) {
      slot.assign([pending, ex, io_ex = io_ex, rec = rec](asio::cancellation_type type) {
        ++rec->emits;
        rec->emitted_type = static_cast<unsigned>(type);
        rec->emit_thread = std::this_thread::get_id();
        if (rec->initiating) rec->emit_inside_initiation = true;
        if (!io_ex.running_in_this_thread()) rec->emit_off_executor = true;
        if (!*pending) return;
        Handler h = std::move(**pending);
        pending->reset();
        asio::post(ex, [h = std::move(h)]() mutable { std::move(h)(halt::error_code(asio::error::operation_aborted)); });
      });
    }
    rec->initiating = false;
  }
};

template <class Executor, class CompletionToken>
auto async_probe(Executor io_ex, probe_record& rec, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(halt::error_code)>(
      probe_initiation<Executor>{io_ex, &rec}, token);
}

struct loopback_pair {
  tcp::acceptor acceptor;
  tcp::socket client;
  tcp::socket server;

  explicit loopback_pair(asio::io_context& io)
      : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), client(io), server(io) {
    client.connect(acceptor.local_endpoint()); // loopback: completes through the listen backlog
    acceptor.accept(server);
  }
};

} // namespace

TEST_CASE("cancelling the token from another thread aborts a bound timer wait in a coroutine", "[bind_cancellation]") {
  asio::io_context io;
  cancellation_token t;
  asio::steady_timer timer(io, 1h);
  halt::error_code got;
  bool done = false;
  bool resumed_on_io = false;
  auto body = [&]() -> asio::awaitable<void> {
    try {
      co_await timer.async_wait(halt::bind_cancellation(t, asio::use_awaitable));
    } catch (const halt::system_error& e) {
      got = e.code();
    }
    resumed_on_io = io.get_executor().running_in_this_thread();
    done = true;
  };
  asio::co_spawn(io, body, asio::detached);
  const auto start = std::chrono::steady_clock::now();
  std::jthread canceller([&] {
    std::this_thread::sleep_for(20ms);
    t.cancel();
  });
  io.run_for(run_limit);
  canceller.join();
  REQUIRE(done);
  CHECK(got == asio::error::operation_aborted);
  CHECK(resumed_on_io);
  CHECK(std::chrono::steady_clock::now() - start < prompt);
  CHECK(t.reason() == errc::cancelled);
}

TEST_CASE("the emit for a foreign-thread cancel runs on the operation's executor, not the cancelling thread", "[bind_cancellation]") {
  asio::io_context io;
  cancellation_token t;
  probe_record rec;
  halt::error_code got;
  bool done = false;
  std::thread::id canceller_id;
  auto body = [&]() -> asio::awaitable<void> {
    try {
      co_await async_probe(io.get_executor(), rec, halt::bind_cancellation(t, asio::use_awaitable));
    } catch (const halt::system_error& e) {
      got = e.code();
    }
    done = true;
  };
  asio::co_spawn(io, body, asio::detached);
  std::jthread canceller([&] {
    std::this_thread::sleep_for(20ms);
    t.cancel();
  });
  canceller_id = canceller.get_id();
  io.run_for(run_limit);
  canceller.join();
  REQUIRE(done);
  CHECK(got == asio::error::operation_aborted);
  CHECK(rec.slot_connected);
  CHECK(rec.emits == 1);
  CHECK_FALSE(rec.emit_off_executor);
  CHECK_FALSE(rec.emit_inside_initiation);
  CHECK(rec.emit_thread.load() == std::this_thread::get_id()); // the thread running io
  CHECK(rec.emit_thread.load() != canceller_id);
  CHECK(rec.emitted_type == static_cast<unsigned>(asio::cancellation_type::terminal));
}

TEST_CASE("a bound plain callback is aborted by a foreign-thread cancel and runs on the timer's executor", "[bind_cancellation]") {
  asio::io_context io;
  cancellation_token t;
  asio::steady_timer timer(io, 1h);
  halt::error_code got;
  int calls = 0;
  bool on_io = false;
  std::thread::id handler_thread;
  timer.async_wait(halt::bind_cancellation(t, [&](halt::error_code ec) {
    got = ec;
    ++calls;
    on_io = io.get_executor().running_in_this_thread();
    handler_thread = std::this_thread::get_id();
  }));
  const auto start = std::chrono::steady_clock::now();
  std::jthread canceller([&] {
    std::this_thread::sleep_for(20ms);
    t.cancel();
  });
  const auto canceller_id = canceller.get_id();
  io.run_for(run_limit);
  canceller.join();
  REQUIRE(calls == 1);
  CHECK(got == asio::error::operation_aborted);
  CHECK(on_io);
  CHECK(handler_thread == std::this_thread::get_id());
  CHECK(handler_thread != canceller_id);
  CHECK(std::chrono::steady_clock::now() - start < prompt);
}

TEST_CASE("an already-cancelled token aborts a bound operation promptly", "[bind_cancellation]") {
  asio::io_context io;
  cancellation_token t;
  t.cancel(errc::shutdown);
  const auto start = std::chrono::steady_clock::now();

  SECTION("in a coroutine") {
    asio::steady_timer timer(io, 1h);
    halt::error_code got;
    bool done = false;
    auto body = [&]() -> asio::awaitable<void> {
      try {
        co_await timer.async_wait(halt::bind_cancellation(t, asio::use_awaitable));
      } catch (const halt::system_error& e) {
        got = e.code();
      }
      done = true;
    };
    asio::co_spawn(io, body, asio::detached);
    io.run_for(run_limit);
    REQUIRE(done);
    CHECK(got == asio::error::operation_aborted);
  }

  SECTION("with a callback, initiated before the io_context runs") {
    asio::steady_timer timer(io, 1h);
    halt::error_code got;
    int calls = 0;
    timer.async_wait(halt::bind_cancellation(t, [&](halt::error_code ec) {
      got = ec;
      ++calls;
    }));
    io.run_for(run_limit);
    REQUIRE(calls == 1);
    CHECK(got == asio::error::operation_aborted);
  }

  SECTION("the emit is posted, never run inside the initiating function") {
    probe_record rec;
    halt::error_code got;
    bool done = false;
    auto body = [&]() -> asio::awaitable<void> {
      try {
        co_await async_probe(io.get_executor(), rec, halt::bind_cancellation(t, asio::use_awaitable));
      } catch (const halt::system_error& e) {
        got = e.code();
      }
      done = true;
    };
    asio::co_spawn(io, body, asio::detached);
    io.run_for(run_limit);
    REQUIRE(done);
    CHECK(got == asio::error::operation_aborted);
    CHECK(rec.emits == 1);
    CHECK_FALSE(rec.emit_inside_initiation);
    CHECK_FALSE(rec.emit_off_executor);
  }

  CHECK(std::chrono::steady_clock::now() - start < prompt);
  CHECK(t.reason() == errc::shutdown); // the token's reason is untouched by the operation
}

TEST_CASE("a bound loopback TCP read is aborted by the token and the socket keeps working", "[bind_cancellation][net]") {
  asio::io_context io;
  loopback_pair conn(io);
  cancellation_token t;
  halt::error_code first;
  std::string second;
  bool done = false;
  auto body = [&]() -> asio::awaitable<void> {
    char buf[16];
    try {
      // Nothing is written yet: this read blocks until the token is cancelled.
      co_await conn.client.async_read_some(asio::buffer(buf), halt::bind_cancellation(t, asio::use_awaitable));
    } catch (const halt::system_error& e) {
      first = e.code();
    }
    // The peer writes after the cancel; a plain read on the same socket gets every byte.
    const std::string msg = "hello";
    co_await asio::async_write(conn.server, asio::buffer(msg), asio::use_awaitable);
    const std::size_t n = co_await asio::async_read(conn.client, asio::buffer(buf, msg.size()), asio::use_awaitable);
    second.assign(buf, n);
    done = true;
  };
  asio::co_spawn(io, body, asio::detached);
  asio::steady_timer kick(io, 20ms);
  kick.async_wait([&](halt::error_code) { t.cancel(); });
  io.run_for(run_limit);
  REQUIRE(done);
  CHECK(first == asio::error::operation_aborted);
  CHECK(second == "hello");
}

TEST_CASE("a bound composed asio::async_read is aborted with terminal and loses no data", "[bind_cancellation][net]") {
  asio::io_context io;
  loopback_pair conn(io);
  cancellation_token t;
  const std::string part1 = "abcd";
  const std::string part2 = "efghij";
  asio::write(conn.server, asio::buffer(part1)); // 4 of the 10 bytes the read wants
  char buf[10] = {};
  halt::error_code got;
  std::size_t got_n = 0;
  int calls = 0;
  asio::async_read(conn.client, asio::buffer(buf), asio::transfer_exactly(sizeof buf),
                   halt::bind_cancellation(t,
                                           [&](halt::error_code ec, std::size_t n) {
                                             got = ec;
                                             got_n = n;
                                             ++calls;
                                           },
                                           asio::cancellation_type::terminal));
  asio::steady_timer kick(io, 20ms);
  kick.async_wait([&](halt::error_code) { t.cancel(); });
  io.run_for(run_limit);
  REQUIRE(calls == 1);
  CHECK(got == asio::error::operation_aborted);
  REQUIRE(got_n <= part1.size());
  // Whatever the aborted read did not take is still in the socket, followed by the new bytes.
  asio::write(conn.server, asio::buffer(part2));
  const std::size_t rest = part1.size() + part2.size() - got_n;
  const std::size_t n = asio::read(conn.client, asio::buffer(buf + got_n, rest));
  CHECK(n == rest);
  CHECK(std::string(buf, sizeof buf) == part1 + part2);
}

TEST_CASE("an uncancelled token lets the operation complete and releases its binding", "[bind_cancellation]") {
  asio::io_context io;
  const long base = halt::detail::live_nodes();
  cancellation_token root;
  halt::error_code got = asio::error::would_block;
  int calls = 0;
  asio::steady_timer timer(io, 5ms);
  {
    cancellation_token child = root.child_token();
    timer.async_wait(halt::bind_cancellation(child, [&](halt::error_code ec) {
      got = ec;
      ++calls;
    }));
  }
  // Our handle is gone; the pending operation's binding keeps the child node in the tree.
  CHECK(halt::detail::live_nodes() == base + 2);
  io.run_for(run_limit);
  REQUIRE(calls == 1);
  CHECK_FALSE(got);
  CHECK(halt::detail::live_nodes() == base + 1); // the binding released the child node
  // Cancelling afterwards has no effect on the finished operation: no stray emit, no handler.
  root.cancel();
  io.restart();
  const auto ran = io.run_for(run_limit);
  CHECK(ran == 0); // nothing was posted
  CHECK(calls == 1);
}

TEST_CASE("an uncancelled token lets a coroutine's bound wait complete and a later cancel is harmless", "[bind_cancellation]") {
  asio::io_context io;
  cancellation_token t;
  bool done = false;
  halt::error_code got = asio::error::would_block;
  auto body = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 5ms);
    try {
      co_await timer.async_wait(halt::bind_cancellation(t, asio::use_awaitable));
      got = {};
    } catch (const halt::system_error& e) {
      got = e.code();
    }
    done = true;
  };
  asio::co_spawn(io, body, asio::detached);
  io.run_for(run_limit);
  REQUIRE(done);
  CHECK_FALSE(got);
  t.cancel();
  io.restart();
  CHECK(io.run_for(run_limit) == 0);
}

TEST_CASE("the cancellation type can be chosen", "[bind_cancellation]") {
  asio::io_context io;

  SECTION("partial is emitted as partial") {
    cancellation_token t;
    probe_record rec;
    halt::error_code got;
    int calls = 0;
    async_probe(io.get_executor(), rec,
                halt::bind_cancellation(t, [&](halt::error_code ec) { got = ec; ++calls; },
                                        asio::cancellation_type::partial));
    t.cancel();
    io.run_for(run_limit);
    REQUIRE(calls == 1);
    CHECK(got == asio::error::operation_aborted);
    CHECK(rec.emitted_type == static_cast<unsigned>(asio::cancellation_type::partial));
    CHECK_FALSE(rec.emit_off_executor); // the I/O executor, as the handler has none of its own
  }

  SECTION("total is emitted as total") {
    cancellation_token t;
    probe_record rec;
    int calls = 0;
    async_probe(io.get_executor(), rec,
                halt::bind_cancellation(t, [&](halt::error_code) { ++calls; },
                                        asio::cancellation_type::total));
    t.cancel();
    io.run_for(run_limit);
    REQUIRE(calls == 1);
    CHECK(rec.emitted_type == static_cast<unsigned>(asio::cancellation_type::total));
  }

  SECTION("a timer honours partial") {
    cancellation_token t;
    asio::steady_timer timer(io, 1h);
    halt::error_code got;
    int calls = 0;
    timer.async_wait(halt::bind_cancellation(t, [&](halt::error_code ec) { got = ec; ++calls; },
                                             asio::cancellation_type::partial));
    asio::steady_timer kick(io, 5ms);
    kick.async_wait([&](halt::error_code) { t.cancel(); });
    io.run_for(run_limit);
    REQUIRE(calls == 1);
    CHECK(got == asio::error::operation_aborted);
  }
}

TEST_CASE("the coroutine's own cancellation still reaches a bound operation", "[bind_cancellation]") {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  cancellation_token t;
  asio::steady_timer long_timer(io, 1h);
  asio::steady_timer short_timer(io, 10ms);
  halt::error_code long_ec;
  int winner = -1;
  auto long_wait = [&]() -> asio::awaitable<void> {
    try {
      co_await long_timer.async_wait(halt::bind_cancellation(t, asio::use_awaitable));
    } catch (const halt::system_error& e) {
      long_ec = e.code();
      throw;
    }
  };
  auto race = [&]() -> asio::awaitable<void> {
    auto r = co_await (long_wait() || short_timer.async_wait(asio::use_awaitable));
    winner = static_cast<int>(r.index());
  };
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(io, race, asio::detached);
  io.run_for(run_limit);
  CHECK(winner == 1);
  CHECK(long_ec == asio::error::operation_aborted);
  CHECK_FALSE(t.is_cancelled());
  CHECK(std::chrono::steady_clock::now() - start < prompt);
}

TEST_CASE("bind_cancellation with an empty token throws no_state", "[bind_cancellation]") {
  cancellation_token t;
  cancellation_token u = std::move(t);
  auto is_no_state = [](const halt::system_error& e) { return e.code() == errc::no_state; };
  CHECK_THROWS_MATCHES(halt::bind_cancellation(t, asio::use_awaitable), halt::system_error,
                       halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES(halt::bind_cancellation(t, [](halt::error_code) {}), halt::system_error,
                       halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_NOTHROW(halt::bind_cancellation(u, asio::use_awaitable));
}

TEST_CASE("a named bound token can be used for several operations", "[bind_cancellation]") {
  asio::io_context io;
  cancellation_token t;
  auto bound = halt::bind_cancellation(t, asio::use_awaitable);
  int completed = 0;
  halt::error_code last;
  bool done = false;
  auto body = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(1ms);
    co_await timer.async_wait(bound);
    ++completed;
    timer.expires_after(1h);
    try {
      co_await timer.async_wait(bound); // the same (lvalue) completion token again
      ++completed;
    } catch (const halt::system_error& e) {
      last = e.code();
    }
    done = true;
  };
  asio::co_spawn(io, body, [](std::exception_ptr) {});
  asio::steady_timer kick(io, 20ms);
  kick.async_wait([&](halt::error_code) { t.cancel(); });
  io.run_for(run_limit);
  REQUIRE(done);
  CHECK(completed == 1);
  CHECK(last == asio::error::operation_aborted);
  CHECK(bound.token.valid()); // using the token did not empty it
}

TEST_CASE("bound waits on a strand of a thread pool race a foreign-thread cancel", "[bind_cancellation][race]") {
  asio::thread_pool pool(4);
  std::mt19937 rng(20260101);
  std::uniform_int_distribution<int> delay_us(0, 400);
  for (int round = 0; round < 200; ++round) {
    cancellation_token t;
    auto strand = asio::make_strand(pool);
    std::atomic<bool> done{false};
    halt::error_code got; // written on the strand before `done`, read here after it
    const int mode = round % 4;
    const int delay = delay_us(rng);
    std::jthread canceller;
    if (mode == 0) {
      // Cancelled before the wait even starts.
      std::jthread([&] { t.cancel(); }).join();
    } else {
      canceller = std::jthread([&t, delay] {
        if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
        t.cancel();
      });
    }
    auto body = [&]() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
      try {
        co_await timer.async_wait(halt::bind_cancellation(t, asio::use_awaitable));
      } catch (const halt::system_error& e) {
        got = e.code();
      }
      done.store(true, std::memory_order_release);
    };
    asio::co_spawn(strand, body, asio::detached);
    halt_test::wait_until([&] { return done.load(std::memory_order_acquire); });
    if (canceller.joinable()) canceller.join();
    INFO("round " << round << ", delay " << delay << "us");
    REQUIRE(got == asio::error::operation_aborted);
  }
  pool.join();
}

TEST_CASE("an io_context destroyed while another thread cancels the token drops its bound operation cleanly", "[bind_cancellation][race]") {
  const long base = halt::detail::live_nodes();
  for (int round = 0; round < 2000; ++round) {
    cancellation_token t;
    int calls = 0;
    {
      std::optional<asio::io_context> io(std::in_place);
      std::optional<asio::steady_timer> timer;
      auto body = [&]() -> asio::awaitable<void> {
        asio::steady_timer in_frame(co_await asio::this_coro::executor, 1h);
        co_await in_frame.async_wait(halt::bind_cancellation(t, asio::use_awaitable));
        ++calls;
      };
      if (round % 2) {
        // A callback operation: destroying the timer aborts it, and its handler is queued.
        timer.emplace(*io, 1h);
        timer->async_wait(halt::bind_cancellation(t, [&](halt::error_code) { ++calls; }));
      } else {
        // A coroutine suspended in a bound wait: its frame goes with the context.
        asio::co_spawn(*io, body, asio::detached);
        io->poll();
      }
      std::latch go(2);
      std::jthread canceller([&] {
        go.arrive_and_wait();
        t.cancel();
      });
      go.arrive_and_wait();
      timer.reset();
      io.reset(); // never run again: the operation is destroyed without completing
    }
    INFO("round " << round);
    REQUIRE(calls == 0);
    REQUIRE(t.is_cancelled());
  }
  CHECK(halt::detail::live_nodes() == base); // every abandoned binding released its node
}

TEST_CASE("an outer cancellation slot that outlives the execution context", "[bind_cancellation][issue10]") {
  // The slot's handler keeps the binding's state: it goes when the signal goes, after the context
  // and its services. Under ASan this was a use-after-free of bind_service's mutex (and, with a
  // strand, of the strand service's).
  cancellation_token t;
  bool called = false;
  SECTION("io_context executor") {
    asio::cancellation_signal outer;
    {
      asio::io_context io;
      asio::steady_timer timer(io, 1h);
      timer.async_wait(halt::bind_cancellation(
          t, asio::bind_cancellation_slot(outer.slot(), [&](halt::error_code) { called = true; })));
      io.poll();
    } // the pending wait and its handler are destroyed; the outer slot keeps the binding
    t.cancel(); // posts nothing: the context's shutdown dropped the binding's registration
  }
  SECTION("strand executor") {
    asio::cancellation_signal outer;
    {
      asio::io_context io;
      auto strand = asio::make_strand(io);
      asio::steady_timer timer(io, 1h);
      timer.async_wait(halt::bind_cancellation(
          t, asio::bind_cancellation_slot(
                 outer.slot(), asio::bind_executor(strand, [&](halt::error_code) { called = true; }))));
      io.poll();
    }
  }
  CHECK_FALSE(called);
}

// ---- associators and completion signatures -----------------------------------------------------

namespace {

// An operation that records the associators of the handler it is given (the bound_handler, under
// bind_cancellation), then completes through the handler's executor.
template <class Executor>
struct record_initiation {
  Executor io_ex;
  halt_test::associator_record* rec;

  using executor_type = Executor;
  executor_type get_executor() const noexcept { return io_ex; }

  template <class Handler>
  void operator()(Handler handler) const {
    halt_test::record_associators(handler, io_ex, *rec);
    auto ex = asio::get_associated_executor(handler, io_ex);
    asio::post(ex, [h = std::move(handler)]() mutable { std::move(h)(halt::error_code{}); });
  }
};

template <class Executor, class CompletionToken>
auto async_record(Executor io_ex, halt_test::associator_record& rec, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(halt::error_code)>(
      record_initiation<Executor>{io_ex, &rec}, token);
}

// An operation with two completion signatures: void(error_code, int) with a value, or
// void(error_code) when it is cancelled (it never completes otherwise).
template <class Executor>
struct two_signatures_initiation {
  Executor io_ex;
  bool with_value;

  using executor_type = Executor;
  executor_type get_executor() const noexcept { return io_ex; }

  template <class Handler>
  void operator()(Handler handler) const {
    auto ex = asio::get_associated_executor(handler, io_ex);
    if (with_value) {
      asio::post(ex, [h = std::move(handler)]() mutable { std::move(h)(halt::error_code{}, 42); });
      return;
    }
    auto slot = asio::get_associated_cancellation_slot(handler);
    REQUIRE(slot.is_connected());
    auto pending = std::make_shared<std::optional<Handler>>(std::move(handler));
    slot.assign([pending, ex](asio::cancellation_type) {
      if (!*pending) return;
      Handler h = std::move(**pending);
      pending->reset();
      asio::post(ex, [h = std::move(h)]() mutable {
        std::move(h)(halt::error_code(asio::error::operation_aborted));
      });
    });
  }
};

template <class Executor, class CompletionToken>
auto async_two_signatures(Executor io_ex, bool with_value, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(halt::error_code, int), void(halt::error_code)>(
      two_signatures_initiation<Executor>{io_ex, with_value}, token);
}

struct two_signatures_outcome {
  int calls = 0;
  halt::error_code ec;
  std::optional<int> value;
};

struct two_signatures_handler {
  two_signatures_outcome* out;
  void operator()(halt::error_code ec, int v) const {
    ++out->calls;
    out->ec = ec;
    out->value = v;
  }
  void operator()(halt::error_code ec) const {
    ++out->calls;
    out->ec = ec;
  }
};

} // namespace

TEST_CASE("a bound handler reports every associator of the inner handler but its cancellation slot", "[bind_cancellation][associators]") {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  asio::cancellation_signal outer;
  cancellation_token t;
  halt_test::associator_record rec;
  bool called = false;
  auto inner = asio::bind_cancellation_slot(outer.slot(), [&](halt::error_code ec) {
    called = true;
    CHECK_FALSE(ec);
    CHECK(strand.running_in_this_thread());
  });
  auto with_alloc = asio::bind_allocator(halt_test::tagged_allocator<void>(7), std::move(inner));
  auto immediate = asio::make_strand(io); // bound only where Asio has immediate executors
  auto handler = halt_test::bind_executors(strand, immediate, std::move(with_alloc));
  async_record(io.get_executor(), rec, halt::bind_cancellation(t, std::move(handler)));
  io.run();
  CHECK(called);
  REQUIRE(rec.executor);
  CHECK(*rec.executor == asio::any_io_executor(strand));
  CHECK(rec.allocator_id == 7);
  REQUIRE(rec.slot);
  CHECK(rec.slot->is_connected()); // the binding's own slot, which relays the outer one
  CHECK_FALSE(*rec.slot == outer.slot());
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
  REQUIRE(rec.immediate_executor);
  CHECK(*rec.immediate_executor == asio::any_io_executor(immediate));
#endif
}

TEST_CASE("a bound handler without associations reports the operation's defaults", "[bind_cancellation][associators]") {
  asio::io_context io;
  cancellation_token t;
  halt_test::associator_record rec;
  bool called = false;
  async_record(io.get_executor(), rec, halt::bind_cancellation(t, [&](halt::error_code) { called = true; }));
  io.run();
  CHECK(called);
  REQUIRE(rec.executor);
  CHECK(*rec.executor == asio::any_io_executor(io.get_executor()));
  CHECK(rec.allocator_id == -1);
  static_assert(std::is_same_v<asio::associated_allocator_t<halt::detail::bound_handler<
                                   two_signatures_handler, asio::io_context::executor_type>>,
                               std::allocator<void>>);
}

TEST_CASE("bind_cancellation with an operation of two completion signatures", "[bind_cancellation][associators]") {
  asio::io_context io;
  cancellation_token t;
  two_signatures_outcome out;
  SECTION("completing with a value") {
    async_two_signatures(io.get_executor(), true, halt::bind_cancellation(t, two_signatures_handler{&out}));
    io.run();
    CHECK(out.calls == 1);
    CHECK_FALSE(out.ec);
    CHECK(out.value == 42);
  }
  SECTION("cancelled by the token") {
    async_two_signatures(io.get_executor(), false, halt::bind_cancellation(t, two_signatures_handler{&out}));
    io.poll();
    CHECK(out.calls == 0);
    t.cancel();
    io.restart(); // the operation holds no work: poll() ran out of it
    io.run();
    CHECK(out.calls == 1);
    CHECK(out.ec == asio::error::operation_aborted);
    CHECK_FALSE(out.value);
  }
}

TEST_CASE("bind_cancellation of a deferred operation", "[bind_cancellation]") {
  // async_result<cancellation_bound_token<deferred_t>> asked the inner async_result for a
  // return_type, which deferred's has not: this did not compile.
  asio::io_context io;
  cancellation_token t;
  asio::steady_timer timer(io, 1h);
  auto op = timer.async_wait(halt::bind_cancellation(t, halt::deferred));
  std::optional<halt::error_code> got;
  std::move(op)([&](halt::error_code ec) { got = ec; });
  io.poll();
  CHECK_FALSE(got);
  t.cancel();
  io.run_for(run_limit);
  REQUIRE(got);
  CHECK(*got == asio::error::operation_aborted);
}

#if HALT_ASIO_VERSION >= 102800 // a deferred operation with several signatures (tested from 1.28)
TEST_CASE("bind_cancellation of a deferred operation with two completion signatures", "[bind_cancellation][associators]") {
  asio::io_context io;
  cancellation_token t;
  two_signatures_outcome out;
  auto op = async_two_signatures(io.get_executor(), false, halt::bind_cancellation(t, halt::deferred));
  std::move(op)(two_signatures_handler{&out});
  io.poll();
  CHECK(out.calls == 0);
  t.cancel();
  io.restart(); // the operation holds no work: poll() ran out of it
  io.run();
  CHECK(out.calls == 1);
  CHECK(out.ec == asio::error::operation_aborted);
}
#endif
