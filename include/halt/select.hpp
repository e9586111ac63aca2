// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::select: race branches; the first to finish wins, the losers are cancelled and fully
// unwound before select returns (Tokio's select!, with the losers joined instead of dropped).
//
//   // Each branch is an asio::awaitable<T> or a plain Asio operation (an asio deferred
//   // operation, or a callable taking a completion token); its value type V is T (void:
//   // std::monostate), or for an operation its completion arguments after the error.
//   asio::awaitable<std::variant<V...>>        select(B... branches);
//   asio::awaitable<std::variant<V...>>        select(halt::fair_t, B... branches);
//   asio::awaitable<std::variant<V...>>        select(halt::biased_t, B... branches);
//   asio::awaitable<std::pair<std::size_t, V>> select(std::vector<asio::awaitable<T>>);
//   asio::awaitable<std::pair<std::size_t, V>> select(halt::fair_t, std::vector<asio::awaitable<T>>);
//   asio::awaitable<std::optional<V>>          run_until_cancelled(cancellation_token, B branch);
//
// Semantics
// - Branches start one after another (in argument order; with halt::fair in a random rotation),
//   each as its own thread of execution with its own cancellation signal, on one strand over the
//   caller's executor (the caller's own strand if it runs on one). The first branch to complete
//   wins.
// - A branch that completes while it starts (ready at once: it finishes before its first
//   suspension) wins on the spot, and the branches after it in start order are never started:
//   their awaitables are destroyed unstarted, like a future that Tokio's select! never polled.
//   A branch that never started cannot lose data. Otherwise every branch starts.
// - Every other started branch gets terminal cancellation. select completes only when every
//   loser has finished: its frames are destroyed and its RAII guards have run. A loser's value
//   that arrives late is destroyed. If the winner completed with an exception (or, for an
//   operation, an error code), select rethrows it (halt::system_error for an error code) after the
//   losers unwound.
// - Ties: of several branches that are ready at once, the first in start order wins: argument
//   order by default (like Tokio's `biased;`), a random rotation with halt::fair (like Tokio's
//   default). Pass halt::biased to say so explicitly. Put the branch that must win ties (a
//   shutdown token, say) first.
// - Cancelling the select itself (its slot: the enclosing task aborted, an outer select or
//   timeout) cancels every branch; once they have finished, select fails with
//   asio::error::operation_aborted. If a winner had already completed when the cancel arrived,
//   select returns the winner (the enclosing coroutine's next co_await still throws).
// - Cancellation types (Asio's definitions; an operation that cannot honour a type ignores it):
//   terminal is honoured as above. partial is forwarded as partial to every running branch (not
//   to timeout's timer or run_until_cancelled's token), which honours or ignores it: an Asio I/O
//   operation honours it and completes with operation_aborted (which then wins, like any
//   completion); an asio::awaitable branch ignores it, as any co_spawned coroutine does by
//   default. select then completes by its usual rules. total is ignored: select cannot promise
//   that no branch had side effects. The same holds for join, try_join and timeout.
// - Safe on a multi-threaded asio::thread_pool without a user strand.
// - A loser that ignores cancellation (for example an operation without cancellation support,
//   such as async_resolve) keeps select waiting until it finishes.
// - A branch operation whose initiation throws counts as that branch failing with the exception.
//
// run_until_cancelled(token, b): std::nullopt if `token` is (or becomes) cancelled first, else the
// branch's value. If the token is already cancelled, the branch never starts (Tokio #7462).
//
// halt::task forms (every branch a halt::task or a plain operation, at least one a task):
//   task<std::variant<V...>>                    select([fair_t|biased_t,] B... branches);
//   task<std::pair<std::size_t, V>>             select([fair_t,] std::vector<task<T>>);
//   task<std::optional<V>>                      run_until_cancelled(cancellation_token, task<T>);
//   (V: T, std::monostate for void; an operation's V is what co_await op(halt::use_task) gives.)
// - They return a lazy halt::task. Awaited in a halt::task, the branches run inline as children
//   of the awaiting frame, on its executor: no co_spawn, no strand, no post; the select's own
//   frame is the one allocation. Started with a token (std::move(s)(asio::use_awaitable), or any
//   completion token) it runs as a task of its own.
// - The rules above hold, with drop for cancel: the losers are dropped (their frames destroyed
//   without being resumed) and gone before select returns; a drop of the awaiting task drops
//   every branch, innermost first, and then the awaiting task.
// - asio::awaitable and halt::task branches do not mix in one select (no overload matches). An
//   all-operations select is the asio::awaitable form: inside a halt::task, make one branch
//   halt::as_task(op) to get the inline form.
// - Nesting: each level of selects nested in one another (a select whose branch awaits a select,
//   ...) uses some stack while it starts and while it is dropped: 10^4 levels are fine, 10^5
//   overflow an 8 MiB stack in a debug build. A loop of selects does not grow the stack.
//
// Bad input: an empty range throws std::invalid_argument and an empty token throws
// halt::system_error(halt::errc::no_state), both when the returned awaitable is awaited.
// Thread safety: the returned awaitables are awaited like any other; the branches may run on any
// executor, the group serialises them itself.

#include <halt/cancellation_token.hpp>
#include <halt/detail/config.hpp>
#include <halt/detail/group.hpp>
#include <halt/detail/typed_groups.hpp>
#include <halt/task.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

namespace halt {

/// Tag: start select's branches in argument order (the default). When several branches are ready
/// at once, the first in argument order wins.
struct biased_t {
  explicit biased_t() = default;
};
inline constexpr biased_t biased{};

/// Tag: start select's branches in a random rotation, so that no branch is favoured when several
/// are ready at once (Tokio's default).
struct fair_t {
  explicit fair_t() = default;
};
inline constexpr fair_t fair{};

template <class B>
using branch_value_t = typename decltype(detail::make_branch(std::declval<B>()))::value_type;

namespace detail {

template <class... B>
asio::awaitable<std::variant<branch_value_t<B>...>> select_impl(bool fair_start, B... branches) {
  constexpr std::size_t n = sizeof...(B);
  using policy = select_policy<branch_value_t<B>...>;
  // Named, not temporaries inside the co_await: g++ 12 destroys such temporaries twice.
  auto all = make_branches(std::move(branches)...);
  auto op = run_group<typename policy::R, fixed_slots<n>>(policy{}, std::move(all), n,
                                                           fair_start ? random_start(n) : 0);
  auto r = co_await std::move(op);
  co_return std::move(r).get();
}

template <class T>
asio::awaitable<std::pair<std::size_t, value_t<T>>> select_range_impl(bool fair_start,
                                                                    std::vector<asio::awaitable<T>> v) {
  if (v.empty()) throw std::invalid_argument("halt::select: empty range");
  using policy = select_range_policy<value_t<T>>;
  std::vector<awaitable_branch<T>> branches;
  branches.reserve(v.size());
  for (auto& a : v) branches.push_back(awaitable_branch<T>{std::move(a)});
  const std::size_t n = branches.size();
  auto op = run_group<typename policy::R, dynamic_slots>(policy{}, std::move(branches), n,
                                                         fair_start ? random_start(n) : 0);
  auto r = co_await std::move(op);
  co_return std::move(r).get();
}

} // namespace detail

/// Races the branches; see the header synopsis. Branches start in argument order.
template <detail::branch_arg... B>
  requires(sizeof...(B) >= 1)
asio::awaitable<std::variant<branch_value_t<B>...>> select(B... branches) {
  return detail::select_impl(false, std::move(branches)...);
}

/// select with an explicit bias: branches start (and win ties) in argument order.
template <detail::branch_arg... B>
  requires(sizeof...(B) >= 1)
asio::awaitable<std::variant<branch_value_t<B>...>> select(biased_t, B... branches) {
  return detail::select_impl(false, std::move(branches)...);
}

/// select without bias: branches start in a random rotation, so ties go to no branch in particular.
template <detail::branch_arg... B>
  requires(sizeof...(B) >= 1)
asio::awaitable<std::variant<branch_value_t<B>...>> select(fair_t, B... branches) {
  return detail::select_impl(true, std::move(branches)...);
}

/// Races a range of awaitables: returns the winner's index and value.
template <class T>
asio::awaitable<std::pair<std::size_t, detail::value_t<T>>> select(std::vector<asio::awaitable<T>> v) {
  return detail::select_range_impl<T>(false, std::move(v));
}

/// The range form without bias (random start rotation).
template <class T>
asio::awaitable<std::pair<std::size_t, detail::value_t<T>>> select(fair_t, std::vector<asio::awaitable<T>> v) {
  return detail::select_range_impl<T>(true, std::move(v));
}

namespace detail {
template <class B>
asio::awaitable<std::optional<branch_value_t<B>>> run_until_cancelled_impl(cancellation_token token,
                                                                          B branch) {
  if (!token.valid())
    throw halt::system_error(make_error_code(errc::no_state), "halt::run_until_cancelled");
  if (token.is_cancelled()) co_return std::nullopt; // the branch never starts
  using policy = select_policy<branch_value_t<B>, std::monostate>;
  auto both = std::make_tuple(make_branch(std::move(branch)), token_branch<cancellation_token>{token});
  auto op = run_group<typename policy::R, fixed_slots<2>>(policy{}, std::move(both), 2, 0);
  auto r = co_await std::move(op);
  auto v = std::move(r).get();
  if (v.index() == 1) co_return std::nullopt;
  co_return std::optional<branch_value_t<B>>(std::move(std::get<0>(v)));
}
} // namespace detail

/// Runs `branch` until it completes (its value) or `token` is cancelled (std::nullopt, after the
/// branch was cancelled and unwound). An already-cancelled token: the branch never starts.
template <detail::branch_arg B>
asio::awaitable<std::optional<branch_value_t<B>>> run_until_cancelled(cancellation_token token, B branch) {
  return detail::run_until_cancelled_impl(std::move(token), std::move(branch));
}

// ---- halt::task branches: raced inline (detail/task_group.hpp) --------------------------------

namespace detail {
// A branch of the task forms: a halt::task, or an operation (raced as halt::as_task(op)).
// A dual_awaitable (h.join(), set.join_next(), tracker.wait()) races as its task form.
template <class B>
concept task_branch_arg = tsk::is_task<std::decay_t<B>>::value || tsk::task_operation<B> ||
                          is_dual<std::decay_t<B>>::value;
// The task forms are chosen when every branch is a task or an operation and one is a task.
template <class... B>
concept task_branches = (sizeof...(B) >= 1) && (task_branch_arg<B> && ...) &&
                        (tsk::is_task<std::decay_t<B>>::value || ...);

template <class B>
auto to_task(B&& b) {
  if constexpr (tsk::is_task<std::decay_t<B>>::value)
    return std::forward<B>(b);
  else if constexpr (is_dual<std::decay_t<B>>::value)
    return std::move(b).as_task();
  else
    return as_task(std::forward<B>(b));
}
// The task a branch becomes. A trait, not decltype(to_task(b)): the select overloads' return
// types name it, and for a non-task branch it must fail softly (clang substitutes the return
// type before checking the requires-clause).
template <class B>
struct task_of {};
template <class B>
  requires tsk::is_task<std::decay_t<B>>::value
struct task_of<B> {
  using type = std::decay_t<B>;
};
template <class B>
  requires tsk::task_operation<B>
struct task_of<B> {
  using type = task<tsk::operation_result_t<B>>;
};
template <class B>
  requires is_dual<std::decay_t<B>>::value
struct task_of<B> {
  using type = task<typename std::decay_t<B>::value_type>;
};
template <class B>
using task_branch_value_t = tsk::value_or_mono<typename task_of<B>::type::value_type>;
} // namespace detail

/// Races halt::tasks (and plain operations) inline: a lazy halt::task that, awaited in a
/// halt::task, runs the branches as children of the awaiting frame (no co_spawn, no strand);
/// started with a completion token (std::move(s)(token)), it runs as a task of its own.
template <class... B>
  requires detail::task_branches<B...>
task<std::variant<detail::task_branch_value_t<B>...>> select(B... branches) {
  return detail::tsk::select_tasks(false, detail::to_task(std::move(branches))...);
}
template <class... B>
  requires detail::task_branches<B...>
task<std::variant<detail::task_branch_value_t<B>...>> select(biased_t, B... branches) {
  return detail::tsk::select_tasks(false, detail::to_task(std::move(branches))...);
}
template <class... B>
  requires detail::task_branches<B...>
task<std::variant<detail::task_branch_value_t<B>...>> select(fair_t, B... branches) {
  return detail::tsk::select_tasks(true, detail::to_task(std::move(branches))...);
}

/// Races a range of halt::tasks: the winner's index and value.
template <class T>
task<std::pair<std::size_t, detail::tsk::value_or_mono<T>>> select(std::vector<task<T>> v) {
  return detail::tsk::select_range<T>(false, std::move(v));
}
template <class T>
task<std::pair<std::size_t, detail::tsk::value_or_mono<T>>> select(fair_t, std::vector<task<T>> v) {
  return detail::tsk::select_range<T>(true, std::move(v));
}

namespace detail {
template <class T>
task<std::optional<tsk::value_or_mono<T>>> run_until_cancelled_task(cancellation_token token, task<T> t) {
  if (!token.valid())
    throw halt::system_error(make_error_code(errc::no_state), "halt::run_until_cancelled");
  if (token.is_cancelled()) co_return std::nullopt; // the branch never starts
  auto w = [&token](auto&& tok) { return token.async_wait(std::forward<decltype(tok)>(tok)); };
  auto s = tsk::select_tasks(false, std::move(t), as_task(std::move(w)));
  auto v = co_await std::move(s);
  if (v.index() == 1) co_return std::nullopt;
  co_return std::move(std::get<0>(v));
}
} // namespace detail

/// run_until_cancelled for a halt::task: std::nullopt once `token` is cancelled (the task dropped).
template <class T>
task<std::optional<detail::tsk::value_or_mono<T>>> run_until_cancelled(cancellation_token token, task<T> t) {
  return detail::run_until_cancelled_task(std::move(token), std::move(t));
}

} // namespace halt
