// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#define HALT_COUNT_NODES 1
#include <halt/cancellation_token.hpp>

#include <halt/join_handle.hpp>
#include <halt/select.hpp>
#include <halt/task.hpp>

#include "support/catch.hpp"
#include "support/async.hpp"
#include "support/tasks.hpp"
#define HALT_TEST_FAULT_OWN_OPERATOR_NEW // below, with the allocation count
#include "support/fault_injection.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/strand.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <array>
#include <atomic>
#include <limits>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using halt::cancellation_token;
using halt::errc;

#if defined(__GNUC__) && !defined(__clang__)
// GCC sees the replaced operator new inline and misreads free() in operator delete as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

// Counts heap allocations made by the current thread, to check that registrations allocate nothing.
namespace {
thread_local long allocations = 0;
}
void* operator new(std::size_t n) {
  ++allocations;
  if (halt_test::fault::hit_alloc()) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++allocations;
  if (halt_test::fault::hit_alloc()) return nullptr;
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

// Asio takes handler memory (posts) from std::aligned_alloc, not operator new: this replacement
// lets a test make the next N-th one fail, so that a post throws std::bad_alloc.
namespace {
std::atomic<long> aligned_alloc_faults{0}; // 0: off; n: the n-th call from now fails (once)
} // namespace
extern "C" void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  long n = aligned_alloc_faults.load();
  while (n > 0 && !aligned_alloc_faults.compare_exchange_weak(n, n - 1)) {
  }
  if (n == 1) return nullptr;
  void* p = nullptr;
  if (align < sizeof(void*)) align = sizeof(void*);
  if (posix_memalign(&p, align, size ? size : align) != 0) return nullptr;
  return p;
}

TEST_CASE("a new token is a root that is not cancelled", "[cancellation_token]") {
  cancellation_token t;
  CHECK(t.valid());
  CHECK_FALSE(t.is_cancelled());
  CHECK_FALSE(t.reason());
  CHECK_FALSE(t.deadline());
  cancellation_token copy = t;
  CHECK(copy == t);
  CHECK_FALSE(t.child_token() == t);
  CHECK_FALSE(cancellation_token() == t);
  copy.cancel();
  CHECK(t.is_cancelled()); // copies are handles to the same node
}

TEST_CASE("a moved-from token is empty and misuse throws no_state", "[cancellation_token]") {
  cancellation_token t;
  cancellation_token u = std::move(t);
  CHECK_FALSE(t.valid());
  CHECK_FALSE(static_cast<bool>(t));
  CHECK_FALSE(t.is_cancelled());
  CHECK_FALSE(t.reason());
  CHECK_FALSE(t.deadline());
  cancellation_token empty_copy = t;
  CHECK(empty_copy == t);
  auto is_no_state = [](const halt::system_error& e) { return e.code() == errc::no_state; };
  CHECK_THROWS_MATCHES(t.cancel(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES(t.child_token(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES((void)t.on_cancel([] {}), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES((void)t.drop_guard(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES(halt::linked_token(u, t), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  asio::io_context io;
  CHECK_THROWS_MATCHES(t.child_token_after(io, 1s), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES(t.async_wait([](halt::error_code) {}), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  CHECK_THROWS_MATCHES((void)t.cancelled(), halt::system_error, halt_test::Predicate<halt::system_error>(is_no_state));
  t = u; // an empty token can be assigned again
  CHECK(t.valid());
  CHECK(t == u);
}

TEST_CASE("cancel reaches every descendant and never the parent or siblings", "[cancellation_token]") {
  cancellation_token root;
  auto a = root.child_token();
  auto b = root.child_token();
  auto a1 = a.child_token();
  auto a2 = a.child_token();
  auto a11 = a1.child_token();
  a.cancel(errc::shutdown);
  CHECK(a.is_cancelled());
  CHECK(a1.is_cancelled());
  CHECK(a2.is_cancelled());
  CHECK(a11.is_cancelled());
  CHECK(a11.reason() == errc::shutdown);
  CHECK_FALSE(root.is_cancelled());
  CHECK_FALSE(b.is_cancelled());
  root.cancel();
  CHECK(b.is_cancelled());
  CHECK(b.reason() == errc::cancelled);
  CHECK(a1.reason() == errc::shutdown); // first reason wins
}

TEST_CASE("cancel is idempotent, the first reason wins, and the default is errc::cancelled", "[cancellation_token]") {
  cancellation_token t;
  auto c = t.child_token();
  t.cancel();
  t.cancel(errc::timed_out);
  CHECK(t.reason() == errc::cancelled);
  CHECK(c.reason() == errc::cancelled);
  CHECK(std::error_code(t.reason()).category() == halt::error_category()); // (Boost: see error_test)
  cancellation_token u;
  u.cancel(asio::error::operation_aborted);
  CHECK(u.reason() == asio::error::operation_aborted);
  CHECK_THROWS_AS(u.cancel(halt::error_code{}), std::invalid_argument);
}

TEST_CASE("a child of a cancelled token is born cancelled with the parent's reason", "[cancellation_token]") {
  cancellation_token t;
  t.cancel(errc::shutdown);
  auto c = t.child_token();
  CHECK(c.is_cancelled());
  CHECK(c.reason() == errc::shutdown);
  auto cc = c.child_token();
  CHECK(cc.reason() == errc::shutdown);
}

TEST_CASE("dropping a middle node moves its children to the grandparent", "[cancellation_token]") {
  const long base = halt::detail::live_nodes();
  cancellation_token root;
  cancellation_token grandchild;
  {
    auto middle = root.child_token();
    grandchild = middle.child_token();
    CHECK(halt::detail::live_nodes() == base + 3);
  }
  CHECK(halt::detail::live_nodes() == base + 2); // the middle node is gone
  root.cancel();
  CHECK(grandchild.is_cancelled());
}

TEST_CASE("children of a dropped root are disconnected, not cancelled", "[cancellation_token]") {
  cancellation_token child;
  {
    cancellation_token root;
    child = root.child_token();
  }
  CHECK_FALSE(child.is_cancelled());
  child.cancel();
  CHECK(child.is_cancelled());
}

TEST_CASE("live nodes stay flat with 10^6 short-lived children", "[cancellation_token]") {
  const long base = halt::detail::live_nodes();
  cancellation_token parent;
  long peak = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    auto c = parent.child_token();
    auto g = c.child_token(); // with a grandchild, so leaving re-parents
    peak = std::max(peak, halt::detail::live_nodes() - base);
  }
  CHECK(peak == 3);
  CHECK(halt::detail::live_nodes() == base + 1);
}

TEST_CASE("a 10^6-deep chain cancels and is destroyed without recursion", "[cancellation_token]") {
  const long base = halt::detail::live_nodes();
  {
    std::vector<cancellation_token> chain;
    chain.reserve(1'000'000);
    chain.emplace_back();
    for (int i = 1; i < 1'000'000; ++i) chain.push_back(chain.back().child_token());
    int fired = 0;
    auto reg = chain.back().on_cancel([&] { ++fired; });
    chain.front().cancel(errc::shutdown);
    CHECK(chain.back().is_cancelled());
    CHECK(chain.back().reason() == errc::shutdown);
    CHECK(chain[500'000].is_cancelled());
    CHECK(fired == 1);
  }
  {
    // Dropped from the root down, uncancelled: each drop re-parents one child.
    std::vector<cancellation_token> chain;
    chain.reserve(1'000'000);
    chain.emplace_back();
    for (int i = 1; i < 1'000'000; ++i) chain.push_back(chain.back().child_token());
    chain.erase(chain.begin(), chain.begin() + 10); // drop some from the top first
    cancellation_token deepest = chain.back();
    chain.front().cancel();
    CHECK(deepest.is_cancelled());
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("a 10^6-wide fan-out cancels every child", "[cancellation_token]") {
  cancellation_token parent;
  std::vector<cancellation_token> kids;
  kids.reserve(1'000'000);
  for (int i = 0; i < 1'000'000; ++i) kids.push_back(parent.child_token());
  parent.cancel(errc::timed_out);
  std::size_t cancelled = 0;
  for (auto& k : kids) cancelled += k.is_cancelled() && k.reason() == errc::timed_out;
  CHECK(cancelled == kids.size());
}

TEST_CASE("on_cancel runs the callback exactly once, inline, when cancelled", "[cancellation_token]") {
  cancellation_token t;
  int n = 0;
  std::thread::id where;
  auto reg = t.child_token().on_cancel([&] {
    ++n;
    where = std::this_thread::get_id();
  });
  CHECK(reg.is_registered());
  CHECK(n == 0);
  std::thread([&] { t.cancel(); }).join();
  CHECK(n == 1);
  CHECK(where != std::this_thread::get_id());
  CHECK_FALSE(reg.is_registered());
  t.cancel();
  CHECK(n == 1);
}

TEST_CASE("on_cancel on a cancelled token runs at once", "[cancellation_token]") {
  cancellation_token t;
  t.cancel();
  int n = 0;
  auto reg = t.on_cancel([&] { ++n; });
  CHECK(n == 1);
  CHECK_FALSE(reg.is_registered());
}

TEST_CASE("every callback registered before cancel has run when cancel returns", "[cancellation_token]") {
  cancellation_token root;
  std::vector<cancellation_token> kids;
  std::vector<halt::cancellation_registration> regs;
  std::atomic<int> n{0};
  for (int i = 0; i < 100; ++i) {
    kids.push_back(root.child_token());
    regs.push_back(kids.back().on_cancel([&] { ++n; }));
    regs.push_back(root.on_cancel([&] { ++n; }));
  }
  root.cancel();
  CHECK(n == 200);
}

TEST_CASE("a callback may use its token and cancel others without deadlock", "[cancellation_token]") {
  cancellation_token root;
  auto child = root.child_token();
  cancellation_token other;
  bool saw = false;
  auto reg = child.on_cancel([&] {
    saw = child.is_cancelled() && root.is_cancelled();
    root.cancel();                       // already cancelled: returns at once
    auto inner = child.on_cancel([] {}); // runs inline
    auto grand = child.child_token();    // born cancelled
    saw = saw && grand.is_cancelled();
    other.cancel();
  });
  root.cancel();
  CHECK(saw);
  CHECK(other.is_cancelled());
}

TEST_CASE("registrations move, stay registered, and do not allocate", "[cancellation_token]") {
  cancellation_token t;
  int n = 0;
  int* p = &n;
  const long before = allocations;
  {
    auto reg = t.on_cancel([p] { ++*p; });
    halt::cancellation_registration moved = std::move(reg);
    CHECK_FALSE(reg.is_registered());
    CHECK(moved.is_registered());
    halt::cancellation_registration assigned;
    assigned = std::move(moved);
    CHECK(assigned.is_registered());
    CHECK(allocations == before);
    t.cancel();
    CHECK(n == 1);
  }
  CHECK(allocations == before);
}

TEST_CASE("the first reason wins when eight threads cancel at once", "[cancellation_token]") {
  for (int round = 0; round < 100; ++round) {
    cancellation_token root;
    std::vector<cancellation_token> kids;
    for (int i = 0; i < 64; ++i) kids.push_back(root.child_token());
    std::atomic<int> calls{0};
    std::vector<halt::cancellation_registration> regs;
    for (auto& k : kids) regs.push_back(k.on_cancel([&] { ++calls; }));
    std::atomic<bool> go{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i) {
      ts.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        root.cancel(std::error_code(100 + i, halt::error_category()));
        // After *any* cancel returns, the whole subtree is cancelled and every callback ran.
        for (auto& k : kids)
          if (!k.is_cancelled()) ++bad;
        if (calls.load() != 64) ++bad;
      });
    }
    go = true;
    for (auto& th : ts) th.join();
    REQUIRE(bad == 0);
    REQUIRE(calls == 64);
    const auto r = root.reason();
    const std::error_code raw = r; // Boost.System's value() of a std code is not the raw value
    REQUIRE(raw.value() >= 100);
    REQUIRE(raw.value() < 108);
    for (auto& k : kids) REQUIRE(k.reason() == r);
  }
}

TEST_CASE("callbacks run exactly once under 8-thread races of cancel, register, deregister and drop", "[cancellation_token][race]") {
  constexpr int rounds = 100;
  constexpr int per_thread = 40;
  for (int round = 0; round < rounds; ++round) {
    cancellation_token root;
    auto mid = root.child_token();
    struct slot {
      std::atomic<int> calls{0};
      bool kept = false; // registration still alive when the threads finish
    };
    std::vector<slot> slots(7 * per_thread);
    std::vector<std::vector<halt::cancellation_registration>> kept(7);
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    ts.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      std::this_thread::yield();
      root.cancel();
    });
    for (int t = 0; t < 7; ++t) {
      ts.emplace_back([&, t] {
        std::minstd_rand rng(static_cast<unsigned>(round * 7 + t));
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < per_thread; ++i) {
          slot& s = slots[static_cast<std::size_t>(t * per_thread + i)];
          cancellation_token base = (rng() % 2) ? mid : root;
          cancellation_token tok = (rng() % 2) ? base.child_token() : base;
          auto reg = tok.on_cancel([&s] { s.calls.fetch_add(1); });
          switch (rng() % 3) {
          case 0: break; // deregister at once
          case 1:
            s.kept = true;
            kept[static_cast<std::size_t>(t)].push_back(std::move(reg));
            break;
          default:
            if (rng() % 2) {
              cancellation_token churn = mid; // churn the handle count of a shared node
              churn = root;
            }
            s.kept = true;
            kept[static_cast<std::size_t>(t)].push_back(std::move(reg));
            tok = cancellation_token(); // drop this thread's handle while registered
          }
        }
      });
    }
    go = true;
    for (auto& th : ts) th.join();
    for (auto& s : slots) {
      REQUIRE(s.calls.load() <= 1);
      if (s.kept) REQUIRE(s.calls.load() == 1);
    }
  }
}

TEST_CASE("drop_guard cancels on destruction unless disarmed", "[cancellation_token]") {
  cancellation_token t;
  {
    auto g = t.drop_guard();
    CHECK(g.token() == t);
  }
  CHECK(t.is_cancelled());
  CHECK(t.reason() == errc::cancelled);

  cancellation_token u;
  cancellation_token back;
  {
    auto g = u.drop_guard();
    back = g.disarm();
    CHECK_FALSE(g.token().valid());
  }
  CHECK_FALSE(u.is_cancelled());
  CHECK(back == u);

  cancellation_token v, w;
  {
    halt::drop_guard g1 = v.drop_guard();
    halt::drop_guard g2 = w.drop_guard();
    g1 = std::move(g2); // assigning over a guard fires it
    CHECK(v.is_cancelled());
    CHECK_FALSE(w.is_cancelled());
  }
  CHECK(w.is_cancelled());
}

TEST_CASE("async_wait completes through the executor, never inside cancel", "[cancellation_token][asio]") {
  asio::io_context io;
  cancellation_token t;
  halt::error_code got = asio::error::would_block;
  int calls = 0;
  t.async_wait(asio::bind_executor(io, [&](halt::error_code ec) {
    got = ec;
    ++calls;
  }));
  t.cancel();
  CHECK(calls == 0); // not inline
  io.run();
  CHECK(calls == 1);
  CHECK_FALSE(got);
}

TEST_CASE("co_await token.cancelled() resumes when the token is cancelled", "[cancellation_token][asio]") {
  asio::io_context io;
  cancellation_token t;
  bool resumed = false;
  auto waiter = [&]() -> asio::awaitable<void> {
    co_await t.cancelled();
    resumed = true;
  };
  asio::co_spawn(io, waiter, asio::detached);
  asio::steady_timer timer(io, 5ms);
  timer.async_wait([&](halt::error_code) { t.cancel(errc::shutdown); });
  io.run();
  CHECK(resumed);
  CHECK(t.reason() == errc::shutdown);
}

TEST_CASE("a pending async_wait keeps io_context::run busy like any operation", "[cancellation_token][asio]") {
  asio::io_context io;
  cancellation_token t;
  bool done = false;
  t.async_wait(asio::bind_executor(io, [&](halt::error_code) { done = true; }));
  std::thread canceller([&] {
    std::this_thread::sleep_for(20ms);
    t.cancel();
  });
  io.run(); // returns only after the wait completed
  canceller.join();
  CHECK(done);
}

TEST_CASE("async_wait cancelled through its slot completes with operation_aborted", "[cancellation_token][asio]") {
  asio::io_context io;
  cancellation_token t;
  asio::cancellation_signal sig;
  halt::error_code got;
  t.async_wait(asio::bind_cancellation_slot(sig.slot(), asio::bind_executor(io, [&](halt::error_code ec) { got = ec; })));
  asio::post(io, [&] { sig.emit(asio::cancellation_type::total); });
  io.run();
  CHECK(got == asio::error::operation_aborted);
  CHECK_FALSE(t.is_cancelled());
  // The token is untouched and can be waited on again.
  halt::error_code again = asio::error::would_block;
  t.async_wait(asio::bind_executor(io, [&](halt::error_code ec) { again = ec; }));
  t.cancel();
  io.restart();
  io.run();
  CHECK_FALSE(again);
}

TEST_CASE("token.cancelled() can be raced and timed out", "[cancellation_token][asio]") {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context io;
  cancellation_token t;
  int winner = -1;
  auto race = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
    auto r = co_await (t.cancelled() || timer.async_wait(asio::use_awaitable));
    winner = static_cast<int>(r.index());
  };
  asio::co_spawn(io, race, asio::detached);
  io.run();
  CHECK(winner == 1);
  CHECK_FALSE(t.is_cancelled());
}

TEST_CASE("async_wait works with plain callbacks and use_future", "[cancellation_token][asio]") {
  cancellation_token t;
  std::promise<halt::error_code> p;
  t.async_wait([&p](halt::error_code ec) { p.set_value(ec); }); // completes on the system executor
  std::future<void> f = t.async_wait(asio::use_future);
  CHECK(f.wait_for(20ms) == std::future_status::timeout);
  t.cancel();
  CHECK_FALSE(p.get_future().get());
  f.get(); // does not throw
}

TEST_CASE("async_wait on a cancelled token completes promptly", "[cancellation_token][asio]") {
  asio::io_context io;
  cancellation_token t;
  t.cancel();
  bool done = false;
  auto w = [&]() -> asio::awaitable<void> {
    co_await t.cancelled();
    done = true;
  };
  asio::co_spawn(io, w, asio::detached);
  io.run();
  CHECK(done);
}

TEST_CASE("destroying the io_context destroys pending waits and their frames", "[cancellation_token][asio]") {
  cancellation_token t;
  auto alive = std::make_shared<int>(0);
  {
    asio::io_context io;
    auto w = [&t, guard = alive]() -> asio::awaitable<void> { co_await t.cancelled(); };
    asio::co_spawn(io, w, asio::detached);
    io.run_for(5ms);
    CHECK(alive.use_count() == 3); // ours, the lambda's and the suspended frame's
  }
  CHECK(alive.use_count() == 1); // the suspended frame was destroyed with the context
  t.cancel();                    // and nothing is left to complete
}

// ---- token.cancelled() inside a halt::task: its task form, no co_spawn -------------------------

TEST_CASE("in a halt::task, co_await token.cancelled() resumes when the token is cancelled", "[cancellation_token][task]") {
  asio::io_context io;
  cancellation_token t;
  std::vector<std::string> log;
  auto waiter = [&](cancellation_token tok) -> halt::task<void> {
    halt_test::tasks::probe p(log, "waiter");
    co_await tok.cancelled();
    log.push_back("resumed:" + tok.reason().message());
  };
  auto w = waiter(t);
  asio::cancellation_signal sig;
  auto out = halt_test::tasks::start(io, std::move(w), sig);
  asio::steady_timer timer(io, 2ms);
  timer.async_wait([&](halt::error_code) { t.cancel(errc::shutdown); });
  io.run();
  CHECK(out->done);
  CHECK_FALSE(out->error);
  REQUIRE(log.size() == 2);
  CHECK(log[0] == "resumed:" + halt::error_code(errc::shutdown).message());
  CHECK(log[1] == "~waiter");
}

TEST_CASE("in a halt::task, token.cancelled() on a cancelled token completes without suspending", "[cancellation_token][task]") {
  asio::io_context io;
  cancellation_token t;
  t.cancel();
  bool posted_ran = false;
  bool checked = false;
  auto body = [&](cancellation_token tok) -> halt::task<void> {
    asio::post(io, [&] { posted_ran = true; });
    co_await tok.cancelled(); // no suspension: the handler posted above has not run yet
    CHECK_FALSE(posted_ran);
    // As a select branch it wins at once, and the branch after it never starts.
    std::vector<std::string> log;
    auto work = halt_test::tasks::logged_work(log, "work", 0ms, 1);
    auto cancelled = tok.cancelled();
    auto r = co_await halt::select(std::move(cancelled), std::move(work));
    CHECK(r.index() == 0);
    CHECK_FALSE(halt_test::tasks::has(log, "work.start"));
    CHECK_FALSE(posted_ran);
    checked = true;
  };
  asio::cancellation_signal sig;
  auto out = halt_test::tasks::start(io, body(t), sig);
  io.run();
  CHECK(out->done);
  CHECK_FALSE(out->error);
  CHECK(checked);
}

TEST_CASE("token.cancelled() losing a select in a halt::task is dropped and its wait withdrawn", "[cancellation_token][task]") {
  asio::io_context io;
  cancellation_token t;
  int winner = -1;
  auto body = [&](cancellation_token tok) -> halt::task<void> {
    auto cancelled = tok.cancelled();
    auto nap = halt_test::tasks::sleep(1ms);
    auto r = co_await halt::select(std::move(cancelled), std::move(nap));
    winner = static_cast<int>(r.index());
  };
  asio::cancellation_signal sig;
  auto out = halt_test::tasks::start(io, body(t), sig);
  io.run(); // returns: the dropped wait no longer counts as outstanding work
  CHECK(out->done);
  CHECK(winner == 1);
  CHECK_FALSE(t.is_cancelled());
  t.cancel(); // nothing is left to complete
  CHECK(io.poll() == 0);
}

TEST_CASE("a task aborted while it awaits token.cancelled() is dropped there", "[cancellation_token][task]") {
  asio::io_context io;
  cancellation_token t;
  std::vector<std::string> log;
  auto body = [&](cancellation_token tok) -> halt::task<void> {
    halt_test::tasks::probe p(log, "body");
    try {
      co_await tok.cancelled();
      log.push_back("after");
    } catch (...) {
      log.push_back("caught");
    }
  };
  auto h = halt::spawn(io, body(t));
  io.poll(); // the task runs up to its wait
  h.abort();
  std::optional<halt::join_result<void>> r;
  h.async_join([&](halt::error_code ec, halt::join_result<void> res) {
    CHECK_FALSE(ec);
    r.emplace(std::move(res));
  });
  io.run();
  REQUIRE(r);
  CHECK(r->is_cancelled());
  CHECK(log == std::vector<std::string>{"~body"});
  CHECK_FALSE(t.is_cancelled());
}

TEST_CASE("destroying the context of a task that awaits token.cancelled() destroys its frames", "[cancellation_token][task]") {
  cancellation_token t;
  std::vector<std::string> log;
  std::optional<halt::join_handle<void>> h;
  {
    asio::io_context io;
    auto body = [&](cancellation_token tok) -> halt::task<void> {
      halt_test::tasks::probe p(log, "body");
      co_await tok.cancelled();
      log.push_back("after");
    };
    h.emplace(halt::spawn(io, body(t)));
    io.poll(); // the task waits on the token
    CHECK(log.empty());
  } // the context's shutdown destroys the wait, and with it the task's frames
  CHECK(log == std::vector<std::string>{"~body"});
  CHECK(h->is_finished());
  t.cancel(); // nothing is left registered
  CHECK(log.size() == 1);
}

TEST_CASE("tasks on a pool awaiting token.cancelled(), raced with sleeps, aborts and a cancel from another thread", "[cancellation_token][task][race]") {
  asio::thread_pool pool(4);
  std::mt19937 rng(20261129);
  for (int round = 0; round < 40; ++round) {
    cancellation_token t;
    std::atomic<int> started{0};
    std::atomic<int> guards{0};
    std::atomic<int> resumed{0};
    std::vector<halt::join_handle<int>> hs;
    auto body = [&started, &guards, &resumed](cancellation_token tok, std::chrono::microseconds nap) -> halt::task<int> {
      ++started; // a task aborted before its first run never gets here
      struct guard {
        std::atomic<int>* n;
        ~guard() { ++*n; }
      } g{&guards};
      auto cancelled = tok.cancelled();
      auto sleeper = halt_test::tasks::sleep(nap);
      auto r = co_await halt::select(std::move(cancelled), std::move(sleeper));
      if (r.index() == 0) {
        co_await tok.cancelled(); // already cancelled: no suspension
        ++resumed;
      }
      co_return static_cast<int>(r.index());
    };
    for (int i = 0; i < 50; ++i)
      hs.push_back(halt::spawn(pool, body(t, std::chrono::microseconds(rng() % 400))));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    std::thread canceller([&] { t.cancel(); });
    for (std::size_t i = 0; i < hs.size(); i += 3) hs[i].abort(); // some are dropped mid-wait
    canceller.join();
    int done = 0;
    for (auto& h : hs) {
      std::promise<halt::join_result<int>> p;
      auto f = p.get_future();
      h.async_join([&p](halt::error_code, halt::join_result<int> r) { p.set_value(std::move(r)); });
      auto r = f.get();
      CHECK((r.is_cancelled() || (r.has_value() && (r.value() == 0 || r.value() == 1))));
      ++done;
    }
    CHECK(done == 50);
    CHECK(guards.load() == started.load()); // every frame that ran destroyed exactly once
    CHECK(resumed.load() <= 50);
  }
  pool.join();
}

// The token cancelled inside the task's await_suspend, after await_ready said no and before the
// wait registers: the registration runs its callback inline, and the task resumes at once (the
// review found that this path queued the resumption and, if that post failed, destroyed the
// frame while it was still inside await_suspend).
TEST_CASE("a token cancelled while a halt::task is suspending on token.cancelled() resumes it at once", "[cancellation_token][task]") {
  asio::io_context io;
  cancellation_token t;
  std::vector<std::string> log;
  bool posted_ran = false;
  auto& hook = halt_test::fault::faulty_executor::on_track();
  auto body = [&](cancellation_token tok) -> halt::task<void> {
    halt_test::tasks::probe p(log, "body");
    asio::post(io, [&] { posted_ran = true; });
    hook = [&] { t.cancel(); }; // fires in the wait's await_suspend
    co_await tok.cancelled();
    log.push_back(posted_ran ? "resumed after a queue pass" : "resumed at once");
  };
  halt_test::tasks::outcome<void> out;
  auto task = body(t);
  auto done = [&](std::exception_ptr e) {
    out.done = true;
    out.error = e;
  };
  std::move(task)(asio::bind_executor(halt_test::fault::faulty_executor{io.get_executor()}, done));
  io.run();
  CHECK(out.done);
  CHECK_FALSE(out.error);
  CHECK_FALSE(hook); // it fired
  CHECK(log == std::vector<std::string>{"resumed at once", "~body"});
}

TEST_CASE("token.cancelled() is still an asio::awaitable<void>", "[cancellation_token][asio]") {
  asio::io_context io;
  cancellation_token t;
  bool done = false;
  auto w = [&]() -> asio::awaitable<void> {
    asio::awaitable<void> a = t.cancelled(); // stored sliced: the task form is destroyed unstarted
    co_await std::move(a);
    done = true;
  };
  asio::co_spawn(io, w, asio::detached);
  asio::post(io, [&] { t.cancel(); });
  io.run();
  CHECK(done);
}

TEST_CASE("waits on one token from many threads of a pool", "[cancellation_token][asio][race]") {
  asio::thread_pool pool(4);
  for (int round = 0; round < 50; ++round) {
    cancellation_token t;
    std::atomic<int> done{0};
    for (int i = 0; i < 64; ++i) {
      auto strand = asio::make_strand(pool);
      t.async_wait(asio::bind_executor(strand, [&](halt::error_code ec) {
        if (!ec) ++done;
      }));
    }
    t.cancel();
    halt_test::wait_until([&] { return done.load() == 64; });
    REQUIRE(done == 64);
  }
  pool.join();
}

TEST_CASE("a deadline child cancels itself with timed_out", "[cancellation_token][deadline]") {
  asio::io_context io;
  cancellation_token root;
  auto before = std::chrono::steady_clock::now();
  auto d = root.child_token_after(io, 200ms);
  REQUIRE(d.deadline());
  CHECK(*d.deadline() >= before + 200ms);
  CHECK_FALSE(root.deadline());
  auto inherits = d.child_token();
  CHECK(inherits.deadline() == d.deadline());
  auto later = d.child_token_after(io, 1h); // the earlier ancestor deadline wins
  CHECK(later.deadline() == d.deadline());
  auto sooner = d.child_token_after(io, 1ms);
  CHECK(*sooner.deadline() < *d.deadline());
  io.run();
  CHECK(std::chrono::steady_clock::now() - before >= 200ms);
  CHECK(d.reason() == errc::timed_out);
  CHECK(inherits.reason() == errc::timed_out);
  CHECK(later.reason() == errc::timed_out);
  CHECK(sooner.reason() == errc::timed_out);
  CHECK_FALSE(root.is_cancelled());
}

TEST_CASE("cancelling a deadline token releases its timer at once", "[cancellation_token][deadline]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io;
    cancellation_token root;
    auto d = root.child_token_after(io, 1h);
    root.cancel(errc::shutdown);
    auto start = std::chrono::steady_clock::now();
    io.run(); // would take an hour if the timer were still armed
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    CHECK(d.reason() == errc::shutdown);
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("deadline edge cases: past, negative, on a cancelled parent, context destroyed", "[cancellation_token][deadline]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io;
    cancellation_token root;
    auto past = root.child_token_at(io, std::chrono::steady_clock::now() - 1s);
    CHECK(past.reason() == errc::timed_out);
    CHECK_THROWS_AS(root.child_token_after(io, -1ms), std::invalid_argument);
    CHECK_THROWS_AS(root.child_token_after(io, std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
                    std::invalid_argument);
    auto zero = root.child_token_after(io, 0ms);
    CHECK(zero.reason() == errc::timed_out);
    auto huge = root.child_token_after(io, std::chrono::hours::max());
    CHECK(huge.deadline());
    CHECK_FALSE(huge.is_cancelled());
    cancellation_token dead;
    dead.cancel(errc::shutdown);
    auto born = dead.child_token_after(io, 1h);
    CHECK(born.reason() == errc::shutdown);
    {
      asio::io_context short_lived;
      auto pending = root.child_token_after(short_lived, 1h);
      short_lived.run_for(1ms);
    } // the timer goes with its context; its node leaves the tree
    root.cancel();
    io.run();
    CHECK(huge.reason() == errc::cancelled);
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("linked_token is cancelled by any input with that input's reason", "[cancellation_token]") {
  asio::io_context io;
  cancellation_token a, b;
  auto l = halt::linked_token(a, b);
  CHECK_FALSE(l.is_cancelled());
  auto lc = l.child_token();
  b.cancel(errc::shutdown);
  CHECK(l.is_cancelled());
  CHECK(lc.is_cancelled());
  CHECK(l.reason() == errc::shutdown);
  CHECK_FALSE(a.is_cancelled());
  a.cancel(errc::timed_out);
  CHECK(l.reason() == errc::shutdown);

  cancellation_token c, d;
  auto dl = d.child_token_after(io, 1h);
  auto l2 = halt::linked_token(std::vector<cancellation_token>{c, dl});
  CHECK(l2.deadline() == dl.deadline());
  l2.cancel();
  CHECK_FALSE(c.is_cancelled()); // cancelling the linked token leaves its inputs alone
  d.cancel();
  io.run();

  cancellation_token done;
  done.cancel(errc::timed_out);
  auto l3 = halt::linked_token(cancellation_token(), done);
  CHECK(l3.reason() == errc::timed_out);
}

// Documented: with no inputs, only a direct cancel() cancels it (it has no deadline either).
TEST_CASE("linked_token over an empty list: never cancelled by input, cancel() still works",
          "[cancellation_token]") {
  asio::io_context io;
  bool waiter_woke = false;
  halt::error_code waiter_saw;
  auto body = [&]() -> asio::awaitable<void> {
    cancellation_token elsewhere;
    std::vector<cancellation_token> inputs;
    auto l = halt::linked_token(inputs);
    auto child = l.child_token();
    REQUIRE(l.valid());
    CHECK_FALSE(l.is_cancelled());
    CHECK_FALSE(l.deadline().has_value());
    CHECK(l.reason() == halt::error_code{});

    auto waiter = [l, &waiter_woke, &waiter_saw]() -> asio::awaitable<void> {
      co_await l.cancelled();
      waiter_woke = true;
      waiter_saw = l.reason();
    };
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, waiter, halt_test::rethrow{});

    elsewhere.cancel(errc::shutdown); // no input: nothing reaches it
    for (int i = 0; i < 3; ++i) co_await asio::post(ex, asio::use_awaitable); // the waiter waits
    CHECK_FALSE(l.is_cancelled());
    CHECK_FALSE(child.is_cancelled());
    CHECK_FALSE(waiter_woke);

    l.cancel(errc::timed_out); // a direct cancel works as on any root
    CHECK(l.is_cancelled());
    CHECK(child.is_cancelled());
    CHECK(child.reason() == errc::timed_out);
  };
  halt_test::run_main(io, body);
  halt_test::run_until(io, [&] { return waiter_woke; });
  CHECK(waiter_saw == errc::timed_out);
}

TEST_CASE("linked tokens release their inputs when dropped", "[cancellation_token]") {
  const long base = halt::detail::live_nodes();
  {
    cancellation_token a;
    for (int i = 0; i < 1000; ++i) {
      auto child = a.child_token();
      auto l = halt::linked_token(a, child);
    }
    CHECK(halt::detail::live_nodes() == base + 1);
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("a linked token dropped while an input cancels", "[cancellation_token][race]") {
  const long base = halt::detail::live_nodes();
  for (int i = 0; i < 2000; ++i) {
    cancellation_token a;
    auto l = halt::linked_token(a);
    auto lc = l.child_token();
    std::thread th([&] { a.cancel(); });
    l = cancellation_token(a); // drops the linked node while the cancel may be running
    th.join();
    REQUIRE(a.is_cancelled());
    REQUIRE(l.is_cancelled());
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("cancel waits for a subtree that another thread is still cancelling", "[cancellation_token][race]") {
  cancellation_token parent;
  cancellation_token child = parent.child_token();
  std::atomic<bool> started{false}, finished{false};
  auto reg = child.on_cancel([&]() noexcept {
    started = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
  });
  std::thread t2([&] { child.cancel(); }); // child becomes the root of its own cancel
  while (!started) std::this_thread::yield();
  std::thread t1([&] { parent.cancel(); }); // finds the child mid-cancel
  while (!parent.is_cancelled()) std::this_thread::yield();
  parent.cancel(); // a third canceller: must also wait for the child's callback
  CHECK(finished.load());
  t1.join();
  t2.join();
}

TEST_CASE("children of a dropped linked token still follow its inputs", "[cancellation_token]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io;
    cancellation_token a, b;
    cancellation_token child = halt::linked_token(a).child_token(); // the linked root is a temporary
    cancellation_token timed = halt::linked_token(b).child_token_after(io, 1h);
    CHECK(halt::detail::live_nodes() == base + 6);
    a.cancel(errc::shutdown);
    CHECK(child.reason() == errc::shutdown);
    b.cancel();
    CHECK(timed.is_cancelled());
    io.run();
    cancellation_token c;
    auto g = halt::linked_token(c).child_token();
    g = cancellation_token(); // the last child goes: the orphaned linked root goes with it
    CHECK(halt::detail::live_nodes() == base + 6); // a, b, child, timed, c and the new g
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("an io_context destroyed while another thread cancels its pending wait", "[cancellation_token][asio][race]") {
  for (int i = 0; i < 2000; ++i) {
    cancellation_token t;
    std::atomic<bool> go{false};
    auto io = std::make_unique<asio::io_context>();
    t.async_wait(asio::bind_executor(*io, [](halt::error_code) {}));
    std::thread canceller([&] {
      while (!go.load()) std::this_thread::yield();
      t.cancel();
    });
    go = true;
    io.reset(); // races with the cancel's completion being posted
    canceller.join();
    REQUIRE(t.is_cancelled());
  }
}

TEST_CASE("a deadline token cancelled while it is being created releases its timer", "[cancellation_token][deadline][race]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    for (int i = 0; i < 300; ++i) {
      cancellation_token parent;
      std::thread canceller([&] { parent.cancel(); });
      auto d = parent.child_token_after(io, 1h);
      canceller.join();
      REQUIRE(d.is_cancelled());
    }
    work.reset();
    halt_test::wait_until([&] { return io.stopped(); }); // no hour-long timer is left
    runner.join();
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("deadline tokens cancelled while being created outlive their io_context safely", "[cancellation_token][deadline][race][issue10]") {
  // Whichever point of child_token_after the cancel lands on, the token must not keep a timer
  // that it touches (cancel, destroy) after the context is gone. Run under ASan.
  const long base = halt::detail::live_nodes();
  std::vector<cancellation_token> kept;
  {
    asio::io_context io;
    for (int i = 0; i < 2000; ++i) {
      cancellation_token parent;
      std::atomic<bool> go{false};
      std::thread canceller([&] {
        while (!go.load()) {
        }
        parent.cancel();
      });
      go = true;
      kept.push_back(parent.child_token_after(io, 1h));
      canceller.join();
      REQUIRE(kept.back().is_cancelled());
    }
    io.run_for(10s); // releases what the cancels left to the handlers
    CHECK(io.stopped());
  } // the context goes first
  kept.clear(); // then the tokens: no timer may be touched now
  CHECK(halt::detail::live_nodes() == base);
}

// --- Issue 10.1: registrations held in coroutine frames --------------------------------------------
// g++ aligns coroutine frames (and the locals in them) to 16 bytes only. Registrations used to need
// 32-byte alignment (flag bits packed into the callback-list pointer): half of these frames then
// corrupted the token tree. Frames of several sizes, each holding a registration across a suspension.
namespace {
template <std::size_t Pad>
asio::awaitable<void> hold_registration(cancellation_token t, asio::steady_timer& gate, int& fired,
                                        int& finished) {
  std::array<char, Pad> pad{}; // shifts the registration's offset in the frame
  pad[Pad - 1] = 1;
  auto reg = t.on_cancel([&fired] { ++fired; });
  cancellation_token child = t.child_token(); // a token object in the frame too
  auto child_reg = child.on_cancel([&fired] { ++fired; });
  try {
    co_await gate.async_wait(asio::use_awaitable);
  } catch (const halt::system_error&) {
  }
  CHECK(reg.is_registered() == !t.is_cancelled());
  CHECK(child.is_cancelled() == t.is_cancelled());
  CHECK(pad[Pad - 1] == 1);
  ++finished;
}

template <std::size_t... Pads>
void spawn_holders(asio::io_context& io, const cancellation_token& root, asio::steady_timer& gate,
                   int& fired, int& finished, std::index_sequence<Pads...>) {
  (asio::co_spawn(io, hold_registration<Pads * 8 + 1>(root.child_token(), gate, fired, finished),
                  halt_test::rethrow{}),
   ...);
}
} // namespace

TEST_CASE("registrations held across co_await in frames of many sizes: cancel, then destroy the context", "[cancellation_token][asio][issue10]") {
  const long base = halt::detail::live_nodes();
  for (int round = 0; round < 4; ++round) {
    int fired = 0, finished = 0;
    cancellation_token root;
    {
      asio::io_context io;
      asio::steady_timer gate(io, std::chrono::steady_clock::time_point::max());
      for (int i = 0; i < 4; ++i)
        spawn_holders(io, root, gate, fired, finished, std::make_index_sequence<16>{});
      io.poll(); // every frame is now suspended on the gate, its registrations linked
      CHECK(halt::detail::live_nodes() == base + 1 + 2 * 64);
      if (round % 2 == 0) {
        root.cancel(errc::shutdown);
        CHECK(fired == 2 * 64);
      }
      if (round >= 2) {
        gate.cancel();
        io.run();
        CHECK(finished == 64);
      }
    } // the context destroys the frames that are still suspended, and their registrations
    CHECK(fired == (round % 2 == 0 ? 2 * 64 : 0));
    root.cancel();
    CHECK(fired == (round % 2 == 0 ? 2 * 64 : 0)); // deregistered: nothing runs any more
    CHECK(halt::detail::live_nodes() == base + 1);
  }
  CHECK(halt::detail::live_nodes() == base);
}

// --- Issue 10.2: dropped deadline tokens ------------------------------------------------------------
TEST_CASE("dropped deadline tokens free their node and timer at once", "[cancellation_token][deadline][issue10]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io;
    cancellation_token root;
    for (int i = 0; i < 10000; ++i) {
      auto t = root.child_token_after(io, 30s);
      CHECK_FALSE(t.is_cancelled());
    }
    CHECK(halt::detail::live_nodes() <= base + 1 + 10000); // nodes wait only for their handlers
    const auto start = std::chrono::steady_clock::now();
    io.run(); // would take 30 s if a dropped token kept its timer
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    CHECK(halt::detail::live_nodes() == base + 1);
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("a deadline token whose arm cannot be posted into a single-threaded io_context throws and leaks nothing", "[cancellation_token][deadline][issue10]") {
  // From a thread that does not run an io_context(1), the arm is posted into it. When that post
  // threw std::bad_alloc, the node's wheel reference was released twice (by the destroyed job
  // and by the catch in arm()): the node was freed while the new token still held it.
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io(1);
    cancellation_token root;
    { auto warm = root.child_token_after(io, 1h); } // the timer service exists from here on
    io.run(); // its posted arm lets go of the dropped node
    io.restart();
    for (int i = 0; i < 3; ++i) {
      aligned_alloc_faults.store(1); // the post's handler memory
      CHECK_THROWS_AS(root.child_token_after(io, 1h), std::bad_alloc);
      aligned_alloc_faults.store(0);
      CHECK(halt::detail::live_nodes() == base + 1);
    }
    auto ok = root.child_token_after(io, 1h);
    CHECK(halt::detail::live_nodes() == base + 2);
    root.cancel();
    io.run(); // nothing left on the wheel: returns at once
    CHECK(ok.reason() == errc::cancelled);
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("a dropped deadline token still reaches the children that follow it", "[cancellation_token][deadline][issue10]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io;
    cancellation_token root;
    cancellation_token child;
    {
      auto d = root.child_token_after(io, 20ms);
      child = d.child_token();
    } // the deadline node stays while `child` follows it
    int fired = 0;
    auto reg = child.on_cancel([&] { ++fired; });
    io.run();
    CHECK(child.reason() == errc::timed_out);
    CHECK(fired == 1);
    CHECK_FALSE(root.is_cancelled());
  }
  CHECK(halt::detail::live_nodes() == base);
  {
    asio::io_context io;
    cancellation_token root;
    {
      auto d = root.child_token_after(io, 30s);
      auto c = d.child_token(); // dropped with it: nothing follows the deadline any more
    }
    const auto start = std::chrono::steady_clock::now();
    io.run();
    CHECK(std::chrono::steady_clock::now() - start < 10s);
  }
  CHECK(halt::detail::live_nodes() == base);
}

TEST_CASE("deadline tokens dropped, cancelled and fired from many threads", "[cancellation_token][deadline][race][issue10]") {
  // On a multi-threaded io_context the wheel has a lock; on an io_context(1) it has none, and
  // the makers' threads (which do not run it) post their arms and stops into it.
  const int hint = GENERATE(0, 1);
  CAPTURE(hint);
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io(hint == 1 ? 1 : 2);
    auto work = asio::make_work_guard(io);
    std::vector<std::thread> runners;
    for (int i = 0; i < (hint == 1 ? 1 : 2); ++i) runners.emplace_back([&] { io.run(); });
    std::vector<std::thread> makers;
    std::atomic<int> timed_out{0};
    for (int m = 0; m < 4; ++m)
      makers.emplace_back([&, m] {
        std::mt19937 rng(static_cast<unsigned>(m));
        cancellation_token root;
        std::vector<cancellation_token> kept;
        for (int i = 0; i < 2000; ++i) {
          auto t = root.child_token_after(io, std::chrono::microseconds(rng() % 2000));
          switch (rng() % 4) {
          case 0: kept.push_back(t); break;           // may fire
          case 1: t.cancel(errc::shutdown); break;    // cancelled before it fires
          case 2: kept.push_back(t.child_token()); break; // only a child follows it
          default: break;                             // dropped at once
          }
        }
        for (auto& k : kept) {
          halt_test::wait_until([&] { return k.is_cancelled(); });
          if (k.reason() == errc::timed_out) timed_out.fetch_add(1);
        }
      });
    for (auto& t : makers) t.join();
    work.reset();
    for (auto& t : runners) t.join();
    CHECK(timed_out.load() > 0);
  }
  CHECK(halt::detail::live_nodes() == base);
}

// --- Issue 10.6: a randomized model test of the token tree ------------------------------------------
// Random sequences of: new root, child, deadline child, linked token, copy, drop, cancel with a
// reason, drop_guard, register, deregister, move a registration. After every step each live handle
// and registration is checked against a simple reference model: is_cancelled, reason, deadline,
// is_registered, and callback counts (exactly once if cancelled while registered, else never).
// A failure prints its seed; replay one with HALT_MODEL_SEED=<seed>.
namespace model {

struct node {
  int parent = -1;              // the token it was made from (-1: a root)
  std::vector<int> inputs;      // a linked token's inputs
  bool cancelled = false;
  halt::error_code reason;
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct handle {
  int node;
  cancellation_token tok;
};

struct reg {
  int node;
  bool registered;              // expected is_registered()
  int expected = 0;             // expected number of runs
  std::unique_ptr<int> runs = std::make_unique<int>(0);
  halt::cancellation_registration r;
};

struct world {
  std::vector<node> nodes;
  std::vector<handle> handles;
  std::vector<reg> regs;

  void cancel(int x, halt::error_code why) {
    if (nodes[static_cast<std::size_t>(x)].cancelled) return;
    nodes[static_cast<std::size_t>(x)].cancelled = true;
    nodes[static_cast<std::size_t>(x)].reason = why;
    for (auto& r : regs)
      if (r.node == x && r.registered) {
        r.registered = false;
        ++r.expected;
      }
    for (std::size_t y = 0; y < nodes.size(); ++y) {
      const auto& n = nodes[y];
      if (n.parent == x) cancel(static_cast<int>(y), why);
      if (std::find(n.inputs.begin(), n.inputs.end(), x) != n.inputs.end())
        cancel(static_cast<int>(y), why);
    }
  }

  int add_node(int parent) {
    node n;
    n.parent = parent;
    if (parent >= 0) {
      const auto& p = nodes[static_cast<std::size_t>(parent)];
      n.deadline = p.deadline;
      if (p.cancelled) {
        n.cancelled = true;
        n.reason = p.reason;
      }
    }
    nodes.push_back(n);
    return static_cast<int>(nodes.size() - 1);
  }
};

inline const halt::error_code reasons[] = {
    make_error_code(errc::cancelled), make_error_code(errc::shutdown),
    make_error_code(errc::timed_out), std::make_error_code(std::errc::connection_reset)};

inline void run(unsigned seed, int steps) {
  std::mt19937 rng(seed);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  asio::io_context io;
  world w;
  for (int step = 0; step < steps; ++step) {
    INFO("model seed " << seed << ", step " << step
                       << " (replay: HALT_MODEL_SEED=" << seed << " cancellation_token_test \"[model]\")");
    const unsigned op = rng() % 12;
    const bool any = !w.handles.empty();
    if (op == 0 || !any) { // a new root
      w.handles.push_back({w.add_node(-1), cancellation_token()});
    } else if (op == 1) { // a child
      auto& h = w.handles[pick(w.handles.size())];
      const int p = h.node;
      auto t = h.tok.child_token();
      w.handles.push_back({w.add_node(p), std::move(t)});
    } else if (op == 2) { // a deadline child that never fires (or inherits a sooner deadline)
      auto& h = w.handles[pick(w.handles.size())];
      const int p = h.node;
      auto t = h.tok.child_token_after(io, std::chrono::hours(1 + rng() % 3));
      const int n = w.add_node(p);
      const auto inherited = w.nodes[static_cast<std::size_t>(p)].deadline;
      REQUIRE(t.deadline());
      if (inherited) CHECK(*t.deadline() <= *inherited);
      w.nodes[static_cast<std::size_t>(n)].deadline = t.deadline();
      w.handles.push_back({n, std::move(t)});
    } else if (op == 3) { // a linked token of one or two inputs
      auto& a = w.handles[pick(w.handles.size())];
      auto& b = w.handles[pick(w.handles.size())];
      const bool two = rng() % 2 && a.node != b.node;
      auto t = two ? halt::linked_token(a.tok, b.tok) : halt::linked_token(a.tok);
      node n;
      n.inputs.push_back(a.node);
      if (two) n.inputs.push_back(b.node);
      for (int in : n.inputs) {
        const auto& d = w.nodes[static_cast<std::size_t>(in)].deadline;
        if (d && (!n.deadline || *d < *n.deadline)) n.deadline = d;
      }
      w.nodes.push_back(n);
      const int id = static_cast<int>(w.nodes.size() - 1);
      for (int in : w.nodes[static_cast<std::size_t>(id)].inputs)
        if (w.nodes[static_cast<std::size_t>(in)].cancelled) {
          w.cancel(id, w.nodes[static_cast<std::size_t>(in)].reason);
          break;
        }
      w.handles.push_back({id, std::move(t)});
    } else if (op == 4) { // copy a handle
      auto h = w.handles[pick(w.handles.size())];
      w.handles.push_back(std::move(h));
    } else if (op == 5 || op == 6) { // drop a handle
      w.handles.erase(w.handles.begin() + static_cast<std::ptrdiff_t>(pick(w.handles.size())));
    } else if (op == 7) { // cancel with a reason
      auto& h = w.handles[pick(w.handles.size())];
      const auto why = reasons[pick(std::size(reasons))];
      h.tok.cancel(why);
      w.cancel(h.node, why);
    } else if (op == 8) { // a drop_guard, fired or disarmed
      auto& h = w.handles[pick(w.handles.size())];
      auto g = h.tok.drop_guard();
      if (rng() % 2) {
        auto back = g.disarm();
        CHECK(back == h.tok);
      } else {
        const int x = h.node;
        { auto fire = std::move(g); }
        w.cancel(x, make_error_code(errc::cancelled));
      }
    } else if (op == 9) { // register
      auto& h = w.handles[pick(w.handles.size())];
      reg r;
      r.node = h.node;
      r.registered = !w.nodes[static_cast<std::size_t>(h.node)].cancelled;
      r.expected = r.registered ? 0 : 1; // runs inline on a cancelled token
      r.r = h.tok.on_cancel([p = r.runs.get()] { ++*p; });
      w.regs.push_back(std::move(r));
    } else if (op == 10 && !w.regs.empty()) { // deregister
      const auto i = pick(w.regs.size());
      w.regs[i].r.reset();
      w.regs[i].registered = false;
      if (rng() % 2) w.regs.erase(w.regs.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (op == 11 && !w.regs.empty()) { // move a registration
      auto& from = w.regs[pick(w.regs.size())];
      reg to;
      to.node = from.node;
      to.registered = from.registered;
      to.expected = from.expected;
      to.runs = std::move(from.runs);
      to.r = std::move(from.r);
      CHECK_FALSE(from.r.is_registered());
      from.runs = std::make_unique<int>(0);
      from.registered = false;
      from.expected = 0;
      w.regs.push_back(std::move(to));
    }
    // Compared by hand (a Catch assertion per handle and step would dominate the run time).
    for (const auto& h : w.handles) {
      const auto& n = w.nodes[static_cast<std::size_t>(h.node)];
      if (h.tok.is_cancelled() != n.cancelled || h.tok.reason() != n.reason ||
          h.tok.deadline() != n.deadline) {
        CAPTURE(h.node, n.cancelled, h.tok.is_cancelled(), n.reason.message(), h.tok.reason().message(),
                n.deadline.has_value(), h.tok.deadline().has_value());
        FAIL("a token differs from the model");
      }
    }
    for (const auto& r : w.regs) {
      if (*r.runs != r.expected || r.r.is_registered() != r.registered) {
        CAPTURE(r.node, *r.runs, r.expected, r.registered, r.r.is_registered());
        FAIL("a registration differs from the model");
      }
    }
  }
  INFO("model seed " << seed << " at the end (replay: HALT_MODEL_SEED=" << seed
                      << " cancellation_token_test \"[model]\")");
  w.handles.clear();
  w.regs.clear();
  io.run_for(10s); // every deadline timer was released with its last handle: returns at once
  CHECK(io.stopped());
}

} // namespace model

TEST_CASE("the token tree follows a reference model over random operation sequences", "[cancellation_token][model][issue10]") {
  const long base = halt::detail::live_nodes();
  if (const char* s = std::getenv("HALT_MODEL_SEED")) {
    model::run(static_cast<unsigned>(std::strtoul(s, nullptr, 10)), 2000);
  } else {
    for (unsigned seed = 1; seed <= 300; ++seed) model::run(seed, 300);
  }
  CHECK(halt::detail::live_nodes() == base);
}

// --- Issue 10.6: the same operations from 8 threads on one tree, cancelled in the middle -------------
TEST_CASE("8 threads grow, copy, drop, link, register and deregister on one tree while it is cancelled", "[cancellation_token][race][issue10]") {
  const long base = halt::detail::live_nodes();
  {
    asio::io_context io; // deadline children's timers; never run until the end
    cancellation_token root;
    std::vector<cancellation_token> seeds;
    for (int i = 0; i < 4; ++i) seeds.push_back(root.child_token());
    constexpr int threads = 8;
    constexpr int iterations = 3000;
    std::atomic<int> halfway{0};
    struct counted {
      std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
      halt::cancellation_registration reg;
    };
    std::vector<std::vector<cancellation_token>> tokens(threads);
    std::vector<std::vector<counted>> regs(threads);
    std::vector<std::vector<std::shared_ptr<std::atomic<int>>>> all_runs(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(t) + 1);
        auto& mine = tokens[static_cast<std::size_t>(t)];
        auto& my_regs = regs[static_cast<std::size_t>(t)];
        auto any = [&]() -> cancellation_token& { return mine[rng() % mine.size()]; };
        mine = seeds;
        for (int i = 0; i < iterations; ++i) {
          if (i == iterations / 2) halfway.fetch_add(1);
          if (mine.empty()) mine.push_back(seeds[rng() % seeds.size()]);
          switch (rng() % 10) {
          case 0: mine.push_back(any().child_token()); break;
          case 1: mine.push_back(any().child_token_after(io, 1h)); break;
          case 2: {
            auto& a = any();
            auto& b = any();
            mine.push_back(halt::linked_token(a, b));
            break;
          }
          case 3: mine.push_back(any()); break;
          case 4:
          case 5: mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(rng() % mine.size())); break;
          case 6:
            if (rng() % 8 == 0) any().cancel(model::reasons[rng() % 4]); // a subtree of its own
            break;
          case 7: {
            counted c;
            auto runs = c.runs;
            all_runs[static_cast<std::size_t>(t)].push_back(runs);
            c.reg = any().on_cancel([runs] { runs->fetch_add(1, std::memory_order_relaxed); });
            my_regs.push_back(std::move(c));
            break;
          }
          case 8:
            if (!my_regs.empty())
              my_regs.erase(my_regs.begin() + static_cast<std::ptrdiff_t>(rng() % my_regs.size()));
            break;
          default:
            if (!my_regs.empty()) { // move a registration while others may cancel its token
              auto& c = my_regs[rng() % my_regs.size()];
              counted moved;
              moved.runs = c.runs;
              moved.reg = std::move(c.reg);
              c = std::move(moved);
            }
            break;
          }
        }
      });
    halt_test::wait_until([&] { return halfway.load() == threads; });
    root.cancel(errc::shutdown); // in the middle of everything
    for (auto& th : pool) th.join();
    for (int t = 0; t < threads; ++t) {
      for (const auto& tok : tokens[static_cast<std::size_t>(t)]) {
        REQUIRE(tok.is_cancelled()); // everything descends from root
        const auto why = tok.reason();
        CHECK(std::find(std::begin(model::reasons), std::end(model::reasons), why) !=
              std::end(model::reasons));
      }
      for (const auto& c : regs[static_cast<std::size_t>(t)]) {
        CHECK_FALSE(c.reg.is_registered());
        CHECK(c.runs->load() == 1); // alive and its token cancelled: ran exactly once
      }
      for (const auto& runs : all_runs[static_cast<std::size_t>(t)]) CHECK(runs->load() <= 1);
    }
    tokens.clear();
    regs.clear();
    seeds.clear();
    io.run_for(10s);
    CHECK(io.stopped());
  }
  CHECK(halt::detail::live_nodes() == base);
}

namespace {
// Sets *gone when destroyed: tells whether a coroutine frame holding it was destroyed.
struct frame_probe {
  bool* gone;
  ~frame_probe() { *gone = true; }
};
} // namespace

TEST_CASE("a wait whose completion cannot be posted is dropped: no terminate, no hang (fault "
          "injection over N)", "[cancellation_token][issue10]") {
  namespace fault = halt_test::fault;
  // The token's callback and the slot's handler claim the wait and post its completion; when
  // that post throws (std::bad_alloc), the wait used to call std::terminate (token) or leave a
  // claim open, so that the io_context's destructor hung (slot). Now the wait is dropped as if
  // its context had shut down: the handler is destroyed without being called.
  for (bool by_slot : {false, true}) {
    int faults = 0;
    for (long n = 1;; ++n) {
      bool gone = false;
      bool resumed = false;
      bool injected = false;
      {
        asio::io_context io;
        halt::cancellation_token tok;
        asio::cancellation_signal sig;
        asio::any_io_executor ex(fault::faulty_executor{io.get_executor()});
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
          frame_probe probe{&gone};
          auto aw = tok.async_wait(asio::bind_cancellation_slot(sig.slot(), asio::use_awaitable));
          try {
            co_await std::move(aw);
          } catch (const halt::system_error&) { // operation_aborted, through the slot
          }
          resumed = true;
        }, asio::detached);
        io.poll(); // the wait is pending now
        REQUIRE(!gone);
        fault::arm(n);
        if (by_slot)
          sig.emit(asio::cancellation_type::terminal);
        else
          tok.cancel();
        injected = fault::disarm();
        io.restart();
        io.run(); // returns: the wait completed, or was dropped with its work
        CHECK(gone);
        CHECK(resumed == !injected);
      } // the io_context's destructor does not hang
      if (injected) ++faults;
      if (!injected) break;
    }
    CHECK(faults >= 1);
  }
}
