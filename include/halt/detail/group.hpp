// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The engine behind select, join, try_join, timeout and run_until_cancelled: start N branches
// (awaitables or plain Asio operations) on one strand, let a policy decide when the rest must be
// cancelled, and complete only when every started branch has finished.
//
// - Every branch runs on a strand over the caller's executor (the caller's own strand when it
//   already runs on one), so branch completions, cancellation signals and the policy are touched
//   by one thread at a time, even on a multi-threaded thread_pool. On an io_context that Asio
//   treats as single-threaded (concurrency hint 1) the group runs on its executor without a
//   strand; a debug build (HALT_CHECK_SERIAL) reports two threads inside a group's code on such a
//   context at once (serial_scope, strand.hpp).
// - An awaitable branch is co_spawned with its own cancellation signal. A plain operation (an
//   asio deferred operation, or any callable that takes a completion token) is initiated with the
//   branch handler directly: no coroutine frame, no exception on cancellation.
// - Cancellation of the whole group arrives through the handler's slot and is forwarded to the
//   strand with post. By type (Asio's definitions; an operation that cannot honour a type ignores
//   it): terminal cancels every running branch (terminal) and the group fails with
//   operation_aborted unless its outcome was already decided; partial is forwarded as partial to
//   every running user branch, each of which honours or ignores it (a co_spawned awaitable
//   ignores it, as co_spawn's default filter does), and the group then completes by its usual
//   rules; total is ignored: the group cannot promise that no branch had side effects.
// - The group completes through the handler's executor, after the last branch's handler ran: by
//   then every branch's frames are destroyed and its RAII guards have run.
//
// Files: group_branch.hpp (branches and outcomes), group_state.hpp (the group's state and
// initiation), this file (launching from a coroutine, and the policies).

#include <halt/detail/config.hpp>
#include <halt/detail/group_branch.hpp>
#include <halt/detail/group_state.hpp>
#include <halt/detail/strand.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <typeinfo>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace halt::detail {

// ---- launching from the caller's own strand without suspending ---------------------------------

// Where a group launched inline leaves its outcome: kept until the caller waits for it, or handed
// to the waiting caller.
template <class R>
struct waiter_box {
  std::optional<std::pair<halt::error_code, boxed_result<R>>> result;
  std::function<void(halt::error_code, boxed_result<R>)> waiter;

  void complete(halt::error_code ec, boxed_result<R> r) {
    if (waiter) {
      auto w = std::move(waiter);
      w(ec, std::move(r));
    } else {
      result.emplace(ec, std::move(r));
    }
  }
};

// The group's handler on the inline path. No associated executor: the group completes on its
// strand, which is the caller's executor.
template <class R>
struct inline_handler {
  std::shared_ptr<waiter_box<R>> box;
  void operator()(halt::error_code ec, boxed_result<R> r) const { box->complete(ec, std::move(r)); }
};

struct initiate_wait_group {
  template <class Handler, class State, class Box>
  void operator()(Handler&& handler, std::shared_ptr<State> st, std::shared_ptr<Box> box) const {
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) {
      st->outer_slot_ = slot;
      slot.template emplace<outer_cancel_handler<State>>(outer_cancel_handler<State>{st});
    }
    // std::function (Asio 1.22 has no any_completion_handler) needs a copyable target.
    auto h = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
    box->waiter = [h](halt::error_code ec, auto r) { std::move(*h)(ec, std::move(r)); };
  }
};

// Starts a group. On the caller's own strand (inside a halt task, say) it launches at once, in
// the caller's coroutine: a group that is decided while launching (a branch ready at once) is
// then ready() without any suspension or queue pass. Elsewhere the launch is posted to a new
// strand and wait() does it (initiate_group).
template <class R, class Slots, class Policy, class Branches>
class group_launch {
  using box_type = waiter_box<R>;
  using state_type = group_state<Policy, Branches, Slots, inline_handler<R>>;

public:
  group_launch(const asio::any_io_executor& caller, Policy p, Branches b, std::size_t n,
               std::size_t first) {
    auto ge = group_strand(caller);
    if (ge.own) {
      box_ = std::make_shared<box_type>();
      st_ = std::make_shared<state_type>(std::move(ge.ex), std::move(p), std::move(b), n,
                                         inline_handler<R>{box_});
      st_->first_ = first;
      st_->allow_early_ = early_groups().load(std::memory_order_relaxed) < early_group_limit;
      st_->launch();
    } else {
      later_.emplace(deferred_launch{std::move(ge), std::move(p), std::move(b), n, first});
    }
  }

  bool ready() const noexcept { return box_ && box_->result; }

  // The outcome of a group that is ready(): throws like the awaited form would.
  boxed_result<R> take() {
    auto [ec, r] = std::move(*box_->result);
    box_->result.reset();
    if (ec) throw halt::system_error(ec);
    return std::move(r);
  }

  // Call once. The launch's state moves into the wait: the caller's frame must not keep it,
  // since the state keeps the caller's handler (and so its frame) until it completes; a context
  // destroyed meanwhile would otherwise leak both.
  asio::awaitable<boxed_result<R>> wait() {
    if (st_)
      return asio::async_initiate<const asio::use_awaitable_t<>, void(halt::error_code, boxed_result<R>)>(
          initiate_wait_group{}, asio::use_awaitable, std::move(st_), std::move(box_));
    auto& l = *later_;
    return asio::async_initiate<const asio::use_awaitable_t<>, void(halt::error_code, boxed_result<R>)>(
        initiate_group<Policy, Branches, Slots, R>{}, asio::use_awaitable, std::move(l.ge.ex),
        std::move(l.p), std::move(l.b), l.n, l.first);
  }

private:
  struct deferred_launch {
    group_executor ge;
    Policy p;
    Branches b;
    std::size_t n;
    std::size_t first;
  };
  std::shared_ptr<box_type> box_;
  std::shared_ptr<state_type> st_;
  std::optional<deferred_launch> later_;
};

// Runs a group from a coroutine and returns its outcome. On the caller's own strand a group that
// is decided while it launches returns without suspending (see group_launch).
template <class R, class Slots, class Policy, class Branches>
asio::awaitable<group_result<R>> run_group(Policy p, Branches b, std::size_t n, std::size_t first) {
  auto ex = co_await asio::this_coro::executor;
  group_launch<R, Slots, Policy, Branches> g(ex, std::move(p), std::move(b), n, first);
  boxed_result<R> r;
  if (g.ready()) {
    r = g.take();
  } else {
    auto op = g.wait(); // named: g++ 12 destroys temporaries inside a co_await twice
    r = co_await std::move(op);
  }
  co_return std::move(**r); // the value's one move outside the box: an exception here is the caller's

}

// ---- policies --------------------------------------------------------------------------------

// First completion wins; the others are cancelled.
template <class... V>
struct select_policy {
  using R = std::variant<V...>;
  group_result<R> res;
  bool decided = false;
  bool aborted = false; // decided after the group was cancelled from outside

  template <std::size_t I, class O>
  bool on_complete(index_c<I>, O&& o, bool outer_cancelled) {
    if (decided) return false; // a loser: its late value is destroyed here
    if (outer_cancelled) {
      aborted = true;
    } else if (o.value) {
      res.value.emplace(std::in_place_index<I>, std::move(*o.value)); // may throw: nothing changed
    } else {
      res.ec = o.ec;
      res.ex = std::move(o.ex);
    }
    decided = true;
    return true;
  }
  bool on_outer_cancel() { return !decided; }
  bool aborted_by_outer() const { return aborted || !decided; }
  group_result<R> result(bool) { return std::move(res); }
};

// Range form: first completion wins; the value comes with its index.
template <class V>
struct select_range_policy {
  using R = std::pair<std::size_t, V>;
  group_result<R> res;
  bool decided = false;
  bool aborted = false;

  template <class O>
  bool on_complete(std::size_t i, O&& o, bool outer_cancelled) {
    if (decided) return false;
    if (outer_cancelled) {
      aborted = true;
    } else if (o.value) {
      res.value.emplace(i, std::move(*o.value)); // may throw: nothing changed
    } else {
      res.ec = o.ec;
      res.ex = std::move(o.ex);
    }
    decided = true;
    return true;
  }
  bool on_outer_cancel() { return !decided; }
  bool aborted_by_outer() const { return aborted || !decided; }
  group_result<R> result(bool) { return std::move(res); }
};

// Every branch runs to completion; the first error (in completion order) is reported once all
// have finished. FailFast: the first error cancels the others (try_join).
// The outcome is decided once every branch has settled, or (FailFast) at the first failure. An
// outer cancel that arrives after that does not change it (as select keeps a decided winner);
// one that arrives before makes the group fail with operation_aborted.
template <bool FailFast, class... V>
struct join_policy {
  using R = std::tuple<V...>;
  std::tuple<std::optional<V>...> values;
  halt::error_code ec;
  std::exception_ptr ex;
  std::size_t settled = 0;
  bool failed = false;
  bool decided = false; // the outcome was known before any outer cancel

  template <std::size_t I, class O>
  bool on_complete(index_c<I>, O&& o, bool outer_cancelled) {
    bool first_failure = false;
    if (o.value) {
      std::get<I>(values).emplace(std::move(*o.value)); // may throw: nothing changed
    } else if (!failed) {
      failed = first_failure = true;
      ec = o.ec;
      ex = std::move(o.ex);
    }
    ++settled;
    if (!outer_cancelled && (settled == sizeof...(V) || (FailFast && first_failure))) decided = true;
    return FailFast && first_failure;
  }
  bool on_outer_cancel() { return !decided; }
  bool aborted_by_outer() const { return !decided; }
  group_result<R> result(bool outer_cancelled) {
    group_result<R> r;
    if (outer_cancelled && !decided) return r;
    if (failed) {
      r.ec = ec;
      r.ex = std::move(ex);
      return r;
    }
    r.value.emplace(std::apply([](auto&... o) { return R(std::move(*o)...); }, values));
    return r;
  }
};

} // namespace halt::detail
