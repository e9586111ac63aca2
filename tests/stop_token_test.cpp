// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#define HALT_COUNT_NODES 1
#include <halt/stop_token.hpp>
#include <halt/cancellation_token.hpp>

#include "support/catch.hpp"
#include "support/async.hpp"

#include <asio/use_future.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
using halt::cancellation_token;
using halt::errc;

namespace {
auto is_no_state = [](const halt::system_error& e) { return e.code() == errc::no_state; };
} // namespace

// --- from_stop_token ------------------------------------------------------------------------

TEST_CASE("from_stop_token is cancelled with errc::cancelled when a stop is requested", "[stop_token]") {
  std::stop_source src;
  cancellation_token t = halt::from_stop_token(src.get_token());
  REQUIRE(t.valid());
  CHECK_FALSE(t.is_cancelled());
  CHECK_FALSE(t.reason());
  int ran = 0;
  auto reg = t.on_cancel([&] { ++ran; });
  auto child = t.child_token();
  auto grandchild = child.child_token();
  CHECK(ran == 0);
  CHECK(src.request_stop());
  CHECK(t.is_cancelled());
  CHECK(t.reason() == errc::cancelled);
  CHECK(ran == 1); // inline, in the thread that requested the stop
  CHECK(child.is_cancelled());
  CHECK(grandchild.reason() == errc::cancelled);
  CHECK_FALSE(src.request_stop()); // already requested: nothing more happens
  CHECK(ran == 1);
}

TEST_CASE("cancelling a from_stop_token token does not request a stop on the source", "[stop_token]") {
  std::stop_source src;
  cancellation_token t = halt::from_stop_token(src.get_token());
  t.cancel(errc::shutdown);
  CHECK(t.is_cancelled());
  CHECK_FALSE(src.stop_requested()); // the bridge is one way
  src.request_stop();
  CHECK(t.reason() == errc::shutdown); // the first reason wins
}

TEST_CASE("from_stop_token on an already-stopped source gives a born-cancelled token", "[stop_token]") {
  std::stop_source src;
  src.request_stop();
  cancellation_token t = halt::from_stop_token(src.get_token());
  CHECK(t.is_cancelled());
  CHECK(t.reason() == errc::cancelled);
  bool ran = false;
  auto reg = t.on_cancel([&] { ran = true; });
  CHECK(ran); // inline inside on_cancel
  CHECK(t.child_token().is_cancelled());
}

TEST_CASE("from_stop_token without a stop source is never cancelled by it but can be cancelled directly", "[stop_token]") {
  SECTION("a default-constructed std::stop_token") {
    std::stop_token none;
    REQUIRE_FALSE(none.stop_possible());
    cancellation_token t = halt::from_stop_token(none);
    CHECK_FALSE(t.is_cancelled());
    auto child = t.child_token();
    t.cancel(errc::shutdown);
    CHECK(t.reason() == errc::shutdown);
    CHECK(child.reason() == errc::shutdown);
  }
  SECTION("a std::stop_token whose source is gone without a stop") {
    std::stop_token orphan;
    {
      std::stop_source src;
      orphan = src.get_token();
    }
    REQUIRE_FALSE(orphan.stop_possible());
    cancellation_token t = halt::from_stop_token(orphan);
    CHECK_FALSE(t.is_cancelled());
    t.cancel();
    CHECK(t.reason() == errc::cancelled);
  }
}

TEST_CASE("a stop requested from another thread completes an async_wait on the token", "[stop_token]") {
  std::stop_source src;
  cancellation_token t = halt::from_stop_token(src.get_token());
  std::future<void> f = t.async_wait(asio::use_future);
  CHECK(f.wait_for(10ms) == std::future_status::timeout);
  std::jthread stopper([&] { src.request_stop(); });
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  CHECK_NOTHROW(f.get());
  CHECK(t.reason() == errc::cancelled);
}

TEST_CASE("a std::jthread's stop reaches a halt token made from its stop_token", "[stop_token]") {
  std::promise<halt::error_code> reason;
  std::future<halt::error_code> got = reason.get_future();
  std::jthread worker([&](std::stop_token st) {
    cancellation_token t = halt::from_stop_token(st);
    std::future<void> f = t.async_wait(asio::use_future);
    if (f.wait_for(20s) == std::future_status::ready)
      reason.set_value(t.reason());
    else
      reason.set_value(std::make_error_code(std::errc::timed_out));
  });
  std::this_thread::sleep_for(5ms);
  worker.request_stop();
  REQUIRE(got.wait_for(30s) == std::future_status::ready);
  CHECK(got.get() == errc::cancelled);
}

TEST_CASE("a from_stop_token token is released when dropped", "[stop_token]") {
  const long base = halt::detail::live_nodes();
  std::stop_source src;
  int ran = 0;
  {
    cancellation_token t = halt::from_stop_token(src.get_token());
    auto child = t.child_token();
    CHECK(halt::detail::live_nodes() == base + 2);
    auto reg = t.on_cancel([&] { ++ran; });
  }
  CHECK(halt::detail::live_nodes() == base);
  CHECK(src.request_stop()); // the node's stop_callback is gone: nothing runs, nothing is touched
  CHECK(ran == 0);
}

TEST_CASE("a from_stop_token node stays while a registration holds it", "[stop_token]") {
  const long base = halt::detail::live_nodes();
  std::stop_source src;
  int ran = 0;
  std::optional<halt::cancellation_registration> reg;
  {
    cancellation_token t = halt::from_stop_token(src.get_token());
    reg.emplace(t.on_cancel([&] { ++ran; }));
  }
  CHECK(halt::detail::live_nodes() == base + 1);
  src.request_stop();
  CHECK(ran == 1);
  reg.reset();
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("a child of a from_stop_token token is cancelled by the stop after the parent handle is dropped", "[stop_token]") {
  std::stop_source src;
  // The natural one-liner: the from_stop_token root is a temporary.
  cancellation_token child = halt::from_stop_token(src.get_token()).child_token();
  CHECK_FALSE(child.is_cancelled());
  src.request_stop();
  CHECK(child.is_cancelled());
  CHECK(child.reason() == errc::cancelled);
}

TEST_CASE("request_stop racing the drop of a from_stop_token token", "[stop_token][race]") {
  const long base = halt::detail::live_nodes();
  for (int round = 0; round < 500; ++round) {
    std::stop_source src;
    std::optional<cancellation_token> t(halt::from_stop_token(src.get_token()));
    std::atomic<int> fired{0};
    std::optional<halt::cancellation_registration> reg(t->on_cancel([&] { fired.fetch_add(1); }));
    int fired_after_reset = -1;
    std::latch go(2);
    std::jthread stopper([&] {
      go.arrive_and_wait();
      src.request_stop();
    });
    std::jthread dropper([&] {
      go.arrive_and_wait();
      if (round % 2) {
        reg.reset(); // deregister first, then drop the token
        fired_after_reset = fired.load();
        t.reset();
      } else {
        t.reset(); // drop the token first: the registration keeps the node
        reg.reset();
        fired_after_reset = fired.load();
      }
    });
    stopper.join();
    dropper.join();
    INFO("round " << round);
    CHECK(fired.load() <= 1);
    CHECK(fired.load() == fired_after_reset); // no callback after its registration was destroyed
    CHECK(halt::detail::live_nodes() == base);
  }
}

// --- stop_bridge ----------------------------------------------------------------------------

TEST_CASE("stop_bridge requests its stop when the halt token is cancelled", "[stop_token]") {
  cancellation_token t;
  halt::stop_bridge bridge(t);
  std::stop_token st = bridge.get_token();
  CHECK(st.stop_possible());
  CHECK_FALSE(st.stop_requested());
  int ran = 0;
  std::stop_callback cb(st, [&] { ++ran; });
  t.cancel();
  CHECK(st.stop_requested());
  CHECK(bridge.get_token().stop_requested());
  CHECK(ran == 1);
}

TEST_CASE("stop_bridge follows a cancel of an ancestor", "[stop_token]") {
  cancellation_token root;
  halt::stop_bridge bridge(root.child_token()); // the bridge's registration keeps the child in the tree
  root.cancel(errc::shutdown);
  CHECK(bridge.get_token().stop_requested());
}

TEST_CASE("a stop requested through the bridge's source does not cancel the halt token", "[stop_token]") {
  cancellation_token t;
  halt::stop_bridge bridge(t);
  bridge.get_source().request_stop();
  CHECK(bridge.get_token().stop_requested());
  CHECK_FALSE(t.is_cancelled()); // one way only
  t.cancel();                    // and a later cancel is harmless
  CHECK(t.is_cancelled());
}

TEST_CASE("stop_bridge wakes a condition_variable_any wait when the token is cancelled from another thread", "[stop_token]") {
  cancellation_token t;
  halt::stop_bridge bridge(t);
  std::mutex m;
  std::condition_variable_any cv;
  std::atomic<bool> waiting{false};
  std::atomic<bool> woke{false};
  bool pred_result = true;
  bool stop_seen = false;
  std::chrono::steady_clock::duration waited{};
  std::jthread waiter([&] {
    std::unique_lock lock(m);
    const auto start = std::chrono::steady_clock::now();
    waiting = true;
    pred_result = cv.wait_for(lock, bridge.get_token(), 20s, [] { return false; });
    waited = std::chrono::steady_clock::now() - start;
    stop_seen = bridge.get_token().stop_requested();
    woke = true;
  });
  halt_test::wait_until([&] { return waiting.load(); });
  std::this_thread::sleep_for(10ms);
  t.cancel();
  halt_test::wait_until([&] { return woke.load(); }, std::chrono::seconds(30));
  waiter.join();
  CHECK_FALSE(pred_result); // woken by the stop, not by the predicate
  CHECK(stop_seen);
  CHECK(waited < 10s); // not by the 20 s timeout either
}

TEST_CASE("stop_bridge on an already-cancelled token gives a requested stop_token", "[stop_token]") {
  cancellation_token t;
  t.cancel();
  halt::stop_bridge bridge(t);
  CHECK(bridge.get_token().stop_requested());
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  CHECK_FALSE(cv.wait_for(lock, bridge.get_token(), 20s, [] { return false; })); // returns at once
}

TEST_CASE("a moved stop_bridge keeps forwarding, to tokens obtained before and after the move", "[stop_token]") {
  cancellation_token t;
  halt::stop_bridge a(t);
  std::stop_token before = a.get_token();
  halt::stop_bridge b(std::move(a));
  std::stop_token after = b.get_token();
  t.cancel();
  CHECK(before.stop_requested());
  CHECK(after.stop_requested());
}

TEST_CASE("destroying a stop_bridge stops forwarding, its stop_tokens stay valid but are not requested", "[stop_token]") {
  const long base = halt::detail::live_nodes();
  cancellation_token root;
  std::stop_token st;
  {
    halt::stop_bridge bridge(root.child_token());
    st = bridge.get_token();
    CHECK(halt::detail::live_nodes() == base + 2); // the registration keeps the child node
  }
  CHECK(halt::detail::live_nodes() == base + 1); // and releases it with the bridge
  // The stop_token is still a valid object; with its only source gone it can no longer be stopped.
  CHECK_FALSE(st.stop_possible());
  root.cancel();
  CHECK_FALSE(st.stop_requested());
}

TEST_CASE("a copy of a destroyed stop_bridge's source keeps its tokens stoppable, by hand only", "[stop_token]") {
  cancellation_token t;
  std::stop_source kept;
  {
    halt::stop_bridge bridge(t);
    kept = bridge.get_source();
  }
  std::stop_token st = kept.get_token();
  CHECK(st.stop_possible());
  t.cancel();
  CHECK_FALSE(st.stop_requested()); // not forwarded any more
  kept.request_stop();
  CHECK(st.stop_requested());
}

TEST_CASE("stop_bridge on an empty token throws no_state", "[stop_token]") {
  cancellation_token t;
  cancellation_token u = std::move(t);
  CHECK_THROWS_MATCHES(halt::stop_bridge(t), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_NOTHROW(halt::stop_bridge(u));
}

TEST_CASE("cancel racing the destruction of a stop_bridge", "[stop_token][race]") {
  for (int round = 0; round < 500; ++round) {
    cancellation_token t;
    std::optional<halt::stop_bridge> bridge(std::in_place, t);
    std::stop_token st = bridge->get_token();
    std::latch go(2);
    std::jthread canceller([&] {
      go.arrive_and_wait();
      t.cancel();
    });
    std::jthread destroyer([&] {
      go.arrive_and_wait();
      bridge.reset();
    });
    canceller.join();
    destroyer.join();
    INFO("round " << round);
    CHECK(t.is_cancelled());
    // Either the cancel was forwarded before the bridge went or it was not; afterwards nothing
    // changes any more.
    const bool requested = st.stop_requested();
    t.cancel();
    CHECK(st.stop_requested() == requested);
  }
}

// --- Issue 10.1: bridges held in coroutine frames ---------------------------------------------------
// A stop_bridge holds a registration; g++ aligns coroutine frames to 16 bytes only, so a bridge in a
// frame must not need more. Frames of several sizes hold a bridge (and a std::stop_callback on it)
// across a suspension; the token is cancelled or the context destroyed with the frames suspended.
namespace {
template <std::size_t Pad>
asio::awaitable<void> hold_bridge(cancellation_token t, asio::steady_timer& gate, int& stopped) {
  std::array<char, Pad> pad{}; // shifts the bridge's offset in the frame
  pad[Pad - 1] = 1;
  halt::stop_bridge bridge(t);
  auto on_stop = [&stopped] { ++stopped; };
  std::stop_callback<decltype(on_stop)> cb(bridge.get_token(), on_stop);
  try {
    co_await gate.async_wait(asio::use_awaitable);
  } catch (const halt::system_error&) {
  }
  CHECK(bridge.get_token().stop_requested() == t.is_cancelled());
  CHECK(pad[Pad - 1] == 1);
}

template <std::size_t... Pads>
void spawn_bridges(asio::io_context& io, const cancellation_token& root, asio::steady_timer& gate,
                   int& stopped, std::index_sequence<Pads...>) {
  (asio::co_spawn(io, hold_bridge<Pads * 8 + 1>(root.child_token(), gate, stopped),
                  halt_test::rethrow{}),
   ...);
}
} // namespace

TEST_CASE("stop_bridges held across co_await in frames of many sizes", "[stop_token][issue10]") {
  const long base = halt::detail::live_nodes();
  for (int round = 0; round < 3; ++round) {
    int stopped = 0;
    cancellation_token root;
    {
      asio::io_context io;
      asio::steady_timer gate(io, std::chrono::steady_clock::time_point::max());
      for (int i = 0; i < 4; ++i) spawn_bridges(io, root, gate, stopped, std::make_index_sequence<16>{});
      io.poll();
      CHECK(halt::detail::live_nodes() == base + 1 + 64);
      if (round != 1) {
        root.cancel(errc::shutdown);
        CHECK(stopped == 64);
      }
      if (round == 2) {
        gate.cancel();
        io.run();
      }
    } // destroys the frames still suspended
    CHECK(stopped == (round != 1 ? 64 : 0));
    root.cancel();
    CHECK(halt::detail::live_nodes() == base + 1);
  }
  CHECK(halt::detail::live_nodes() == base);
}
