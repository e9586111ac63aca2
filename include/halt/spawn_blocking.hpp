// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::spawn_blocking: run blocking code on a thread pool with a cooperative cancel.
//
//   template <class ExOrCtx, class F>      // F: R f(halt::cancellation_token)
//   [[nodiscard]] join_handle<R> spawn_blocking(ExOrCtx&& pool, F&& f);
//
// `f` runs on a thread of `pool` (an asio::thread_pool, or any executor or execution context).
// abort() cancels the token passed to `f`; that is all it can do. Like every abort() it never
// blocks: the cancel, which runs the token's on_cancel callbacks, runs on Asio's system executor
// shortly after abort() returns (abort_requested is set at once). A thread cannot be interrupted
// (the Tokio article's caveat): `f` must check the token (is_cancelled(), throw_if_cancelled(),
// or an on_cancel callback that unblocks it) or it runs to the end. Join waits until `f` returns.
//
// `f` (with its captures) is destroyed on the pool thread before the outcome is published, so a
// join never sees it alive. Outcome: aborted before `f` started -> cancelled, and `f` never runs. `f` returns -> its value,
// even if it was aborted meanwhile. `f` throws -> cancelled if the task was aborted and the
// exception is a halt::system_error equivalent to std::errc::operation_canceled (which
// throw_if_cancelled() throws for the default reason), otherwise that exception.

#include <halt/detail/config.hpp>
#include <halt/error.hpp>
#include <halt/join_handle.hpp>

#include <halt/detail/asio.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {
namespace detail {

template <class R>
struct blocking_task final : task_state<R> {
  cancellation_token token;

protected:
  // abort() never blocks: cancelling the token runs its on_cancel callbacks and waits for a
  // concurrent cancel of the same token, so it is handed to Asio's system executor (not to the
  // pool, whose threads may all be blocked in tasks waiting for this very cancel). The token's
  // on_cancel callbacks therefore run on a thread of Asio's system pool. Nothing is posted for a
  // task that has already finished.
  void do_abort() override {
    if (this->is_finished()) return;
    asio::post(asio::system_executor(), [t = token]() mutable noexcept { t.cancel(); });
  }
};

template <class R, class F>
struct blocking_start {
  std::shared_ptr<blocking_task<R>> st;
  std::optional<F> f; // reset (captures destroyed) before the outcome is published

  blocking_start(std::shared_ptr<blocking_task<R>> s, F fn)
      : st(std::move(s)), f(std::in_place, std::move(fn)) {}
  blocking_start(blocking_start&&) noexcept = default;
  blocking_start& operator=(blocking_start&&) = delete;
  ~blocking_start() {
    if (st) { // the pool went away before f started
      f.reset();
      st->finish(join_result<R>::cancelled(), false); // in a destructor: post the joins
    }
  }

  void operator()() {
    auto s = std::move(st);
    std::optional<join_result<R>> out;
    if (s->abort_requested()) {
      out.emplace(join_result<R>::cancelled());
    } else {
      try {
        if constexpr (std::is_void_v<R>) {
          std::invoke(*f, s->token);
          out.emplace(join_result<R>::from_value({}));
        } else {
          out.emplace(join_result<R>::from_value(std::invoke(*f, s->token)));
        }
      } catch (...) {
        auto e = std::current_exception();
        if (s->abort_requested() && is_system_error(e, std::errc::operation_canceled))
          out.emplace(join_result<R>::cancelled());
        else
          out.emplace(join_result<R>::from_exception(std::move(e)));
      }
    }
    f.reset(); // f is consumed: its captures go before join reports (as a coroutine task's do)
    s->finish(std::move(*out));
  }
};

} // namespace detail

/// Runs `f(token)` on `pool`; see the header comment.
template <class ExOrCtx, class F>
  requires std::invocable<std::decay_t<F>&, cancellation_token>
[[nodiscard]] auto spawn_blocking(ExOrCtx&& pool, F&& f) {
  using R = std::invoke_result_t<std::decay_t<F>&, cancellation_token>;
  auto st = std::make_shared<detail::blocking_task<R>>();
  asio::post(detail::to_executor(std::forward<ExOrCtx>(pool)),
             detail::blocking_start<R, std::decay_t<F>>(st, std::forward<F>(f)));
  return join_handle<R>(st);
}

} // namespace halt
