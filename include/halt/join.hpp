// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::join and halt::try_join: run branches concurrently and wait for all of them (Tokio's
// join! and try_join!).
//
//   asio::awaitable<std::tuple<V...>> join(B... branches);
//   asio::awaitable<std::tuple<V...>> try_join(B... branches);
//
// Branches are asio::awaitable<T> or plain Asio operations, as for select (V: T, or
// std::monostate for void). They start in argument order, each as its own thread of execution on
// one strand over the caller's executor, so this is safe on a multi-threaded thread_pool.
//
// - join waits for every branch. If any failed, it rethrows the first failure (in completion
//   order) after all have finished; the other branches are not cancelled.
// - try_join cancels the other branches (terminal) on the first failure, waits until they have
//   unwound, and rethrows that failure. A branch that catches the cancellation and still returns
//   a value does not change the outcome.
// - Cancelling the join itself (its slot: the enclosing task aborted, an outer select) cancels
//   every branch; once they have finished, it fails with asio::error::operation_aborted. If the
//   outcome was already decided when the cancel arrived (every branch had completed, or for
//   try_join a branch had failed), join reports that outcome instead: the values, or the failure
//   (as select keeps a winner). The enclosing coroutine's next co_await still throws.

#include <halt/detail/config.hpp>
#include <halt/detail/group.hpp>
#include <halt/detail/typed_groups.hpp>
#include <halt/select.hpp>

#include <halt/detail/asio.hpp>

#include <tuple>
#include <optional>
#include <utility>

namespace halt {

namespace detail {
template <bool FailFast, class... B>
asio::awaitable<std::tuple<branch_value_t<B>...>> join_impl(B... branches) {
  constexpr std::size_t n = sizeof...(B);
  using policy = join_policy<FailFast, branch_value_t<B>...>;
  // Named, not temporaries inside the co_await: g++ 12 destroys such temporaries twice.
  auto all = make_branches(std::move(branches)...);
  auto op = run_group<typename policy::R, fixed_slots<n>>(policy{}, std::move(all), n, 0);
  auto r = co_await std::move(op);
  co_return std::move(r).get();
}
} // namespace detail

/// Waits for every branch; rethrows the first failure once all have finished.
template <detail::branch_arg... B>
  requires(sizeof...(B) >= 1)
asio::awaitable<std::tuple<branch_value_t<B>...>> join(B... branches) {
  return detail::join_impl<false>(std::move(branches)...);
}

/// Waits for every branch; the first failure cancels the others and is rethrown once they unwound.
template <detail::branch_arg... B>
  requires(sizeof...(B) >= 1)
asio::awaitable<std::tuple<branch_value_t<B>...>> try_join(B... branches) {
  return detail::join_impl<true>(std::move(branches)...);
}

/// join for halt::tasks (and plain operations, with at least one task): the branches run inline
/// as children of the awaiting task; a lazy halt::task of the values.
template <class... B>
  requires detail::task_branches<B...>
task<std::tuple<detail::task_branch_value_t<B>...>> join(B... branches) {
  return detail::tsk::join_tasks<false>(detail::to_task(std::move(branches))...);
}

/// try_join for halt::tasks: the first exception drops the other branches and is rethrown.
template <class... B>
  requires detail::task_branches<B...>
task<std::tuple<detail::task_branch_value_t<B>...>> try_join(B... branches) {
  return detail::tsk::join_tasks<true>(detail::to_task(std::move(branches))...);
}

} // namespace halt
