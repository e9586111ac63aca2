// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Helpers for tests of halt::task and the combinators that take tasks: probes that log their
// destruction, a recording completion handler, and ways to start and drop a task.
//
// Never co_await a task inside a Catch macro (CHECK((co_await std::move(t)) == 1)): with g++ 12
// that awaited the moved-from task a second time (it threw no_state). Name the result first.

#include <halt/task.hpp>

#include "async.hpp"
#include "catch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace halt_test::tasks {

// Logs its destruction. Tests keep these as locals and parameters of task frames.
struct probe {
  std::vector<std::string>* log;
  std::string name;
  probe(std::vector<std::string>& l, std::string n) : log(&l), name(std::move(n)) {}
  probe(probe&& o) noexcept : log(std::exchange(o.log, nullptr)), name(std::move(o.name)) {}
  probe& operator=(probe&&) = delete;
  ~probe() {
    if (log) log->push_back("~" + name);
  }
};

template <class T>
struct outcome {
  bool done = false;
  std::exception_ptr error;
  std::optional<T> value;
};
template <>
struct outcome<void> {
  bool done = false;
  std::exception_ptr error;
};

// A completion handler that records the outcome.
template <class T>
struct record {
  outcome<T>* out;
  void operator()(std::exception_ptr e, T v) const {
    REQUIRE_FALSE(out->done);
    out->done = true;
    out->error = e;
    if (!e) out->value.emplace(std::move(v));
  }
};
template <>
struct record<void> {
  outcome<void>* out;
  void operator()(std::exception_ptr e) const {
    REQUIRE_FALSE(out->done);
    out->done = true;
    out->error = e;
  }
};

// Runs t on io until it completes; returns the outcome.
template <class T>
outcome<T> run(asio::io_context& io, halt::task<T> t) {
  outcome<T> out;
  std::move(t)(io, record<T>{&out});
  halt_test::run_until(io, [&] { return out.done; });
  return out;
}

template <class T>
T get(outcome<T> o) {
  REQUIRE(o.done);
  if (o.error) std::rethrow_exception(o.error);
  if constexpr (!std::is_void_v<T>) return std::move(*o.value);
}

inline bool is_aborted(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const halt::system_error& x) {
    return x.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

// Starts t on io with a start slot from `sig`; returns the outcome (filled in as it completes).
template <class T>
std::shared_ptr<outcome<T>> start(asio::io_context& io, halt::task<T> t, asio::cancellation_signal& sig) {
  auto out = std::make_shared<outcome<T>>();
  std::move(t)(io, asio::bind_cancellation_slot(sig.slot(), record<T>{out.get()}));
  return out;
}

// Emits terminal on `sig` from a handler on io, after the current queue drains a little.
inline void emit_later(asio::io_context& io, asio::cancellation_signal& sig,
                asio::cancellation_type type = asio::cancellation_type::terminal) {
  asio::post(io, [&io, &sig, type] { asio::post(io, [&sig, type] { sig.emit(type); }); });
}

inline halt::task<void> sleep(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(halt::use_task);
}

inline halt::task<int> answer() { co_return 42; }
inline halt::task<int> plus_one(int x) { co_return x + 1; }
inline halt::task<void> fail() {
  throw std::runtime_error("boom");
  co_return;
}

// A task that logs "<name>.start", holds a probe named `name` (logs "~<name>" when destroyed),
// sleeps for `d` (not at all for zero: it is then ready at once), logs "<name>.end" and returns v.
// A catch that a drop must never reach logs "<name>.caught".
inline halt::task<int> logged_work(std::vector<std::string>& log, std::string name,
                                   std::chrono::steady_clock::duration d, int v) {
  log.push_back(name + ".start");
  probe p(log, name);
  if (d > d.zero()) {
    try {
      co_await sleep(d);
    } catch (...) {
      log.push_back(name + ".caught");
      throw;
    }
  }
  log.push_back(name + ".end");
  co_return v;
}

// True if `log` holds `s`.
inline bool has(const std::vector<std::string>& log, const std::string& s) {
  for (auto& x : log)
    if (x == s) return true;
  return false;
}

} // namespace halt_test::tasks
