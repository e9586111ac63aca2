// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::async_select, async_join, async_try_join, async_timeout, async_timeout_at: the
// combinators for code that is not a coroutine. Each is an Asio initiating function: the
// executor (or execution context) the branches run on comes first, as for asio::co_spawn, and
// the completion token last. Any token works: a callback, asio::use_future, halt::deferred,
// asio::use_awaitable, halt::use_task.
//
//   // B: a halt::task<T>, a deferred Asio operation (timer.async_wait(halt::deferred)) or any
//   // callable taking a completion token. V: T (void -> std::monostate); for an operation, what
//   // co_await op(halt::use_task) gives (its completion arguments after the error code).
//   auto async_select(ExOrCtx&& ex, [biased_t | fair_t,] B&&... branches, Token&& token);
//        // void(std::exception_ptr, std::variant<V...>)
//   auto async_select(ExOrCtx&& ex, [fair_t,] std::vector<task<T>> range, Token&& token);
//        // void(std::exception_ptr, std::pair<std::size_t, V>): the winner's index and value
//   auto async_join(ExOrCtx&& ex, B&&... branches, Token&& token);       // every branch runs to
//   auto async_try_join(ExOrCtx&& ex, B&&... branches, Token&& token);   // its end; try_join: the
//        // void(std::exception_ptr, std::tuple<V...>)                     first failure drops the rest
//   auto async_timeout(ExOrCtx&& ex, std::chrono::duration<R, P> d, B&& branch, Token&& token);
//   auto async_timeout_at(ExOrCtx&& ex, std::chrono::time_point<C, D> at, B&& branch, Token&& token);
//        // void(std::exception_ptr, V) (void(std::exception_ptr) when V is void)
//
// Semantics. Each call builds the halt::task form of its combinator (select.hpp, join.hpp,
// timeout.hpp: every rule there holds, with "dropped" for cancelled) and starts it with the
// token, as std::move(task)(executor, token) does (task.hpp), so:
// - The branches run on `ex`, serialised: on `ex` itself when it already serialises what runs on
//   it (a strand, or an io_context with concurrency hint 1), else on a strand of their own over
//   `ex`. A plain callback therefore never makes them run on the system executor, and a
//   multi-threaded asio::thread_pool needs no strand of yours. The start is dispatched: nothing
//   runs inside the call unless the caller already runs on that executor.
// - The completion handler runs on its associated executor; a handler without one (a plain
//   lambda) runs on `ex` (not on the private strand). It never runs inside the initiating call:
//   a select decided while starting (a branch ready at once) completes through a post.
// - Outcome: the winner's (join: every) value. An exception that a branch throws, or an error
//   code that an operation completes with (as halt::system_error), is the exception_ptr, once
//   the other branches are gone; the value is then V{} (a default-constructed variant, tuple or
//   V: the first branch's V must be default-constructible, as co_spawn requires of its T).
//   async_timeout's deadline passing gives halt::system_error(halt::errc::timed_out).
// - Losers are dropped (frames destroyed without being resumed, their RAII guards run, pending
//   operations cancelled and their handlers run) before the completion handler is called.
//   A branch ready at once wins while starting and the branches after it never start.
// - Cancellation: terminal cancellation on the token's associated slot drops every branch, and
//   once they are gone the completion reports halt::system_error(asio::error::operation_aborted)
//   (one shared exception object, detail/task_start.hpp), even if a winner was known and only its
//   losers were still being dropped. A cancel after the combinator has finished (its completion under way)
//   changes nothing.
//   partial and total are ignored (the branches are dropped or left alone, never half-cancelled;
//   the awaited forms forward partial, see select.hpp).
// - halt::deferred: nothing starts until the deferred operation is invoked. asio::use_awaitable:
//   co_await from an asio::awaitable (its cancellation is terminal by default, so it drops).
//
// Thread safety. The call may be made from any thread; the branch objects passed in are moved
// into the combinator's frame during the call. The branches are serialised as said above. Emit
// on the token's cancellation slot only from code running on the handler's associated executor
// (for a plain callback: `ex`), as Asio requires of cancellation_signal. On a multi-threaded
// pool, bind the handler to a strand of yours (asio::bind_executor) and emit on that strand.
//
// Bad input, reported through the completion as the task forms report it: an empty halt::task
// branch (halt::system_error, halt::errc::no_state), an empty range (std::invalid_argument). A
// negative (or NaN) duration for async_timeout throws std::invalid_argument from the call.

#include <halt/detail/config.hpp>
#include <halt/detail/strand.hpp>
#include <halt/detail/typed_groups.hpp>
#include <halt/detail/wait_op.hpp>
#include <halt/join.hpp>
#include <halt/select.hpp>
#include <halt/task.hpp>
#include <halt/timeout.hpp>

#include <halt/detail/asio.hpp>

#include <chrono>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace halt {

namespace detail::async_comb {

template <class E>
concept executor_or_context = asio::execution::is_executor<std::decay_t<E>>::value ||
                              std::is_convertible_v<std::remove_reference_t<E>&, asio::execution_context&>;

// A branch argument: a task or an operation that can be moved (or copied) into the frame.
template <class A>
concept op_or_task = task_branch_arg<std::decay_t<A>> && std::is_constructible_v<std::decay_t<A>, A>;

template <class A>
inline constexpr bool is_tag = std::is_same_v<std::decay_t<A>, fair_t> || std::is_same_v<std::decay_t<A>, biased_t>;

// Args is `[Tag,] B..., Token` with at least one branch (Tag allowed only if tagged).
template <bool Tagged, class... Args>
constexpr bool branches_then_token() {
  using tup = std::tuple<Args...>;
  constexpr std::size_t n = sizeof...(Args);
  if constexpr (n < 2) {
    return false;
  } else {
    constexpr std::size_t first = Tagged && is_tag<std::tuple_element_t<0, tup>> ? 1 : 0;
    if constexpr (n - first < 2) {
      return false;
    } else {
      return []<std::size_t... I>(std::index_sequence<I...>) {
        return (op_or_task<std::tuple_element_t<first + I, tup>> && ...);
      }(std::make_index_sequence<n - 1 - first>{});
    }
  }
}

// Starts `t` on a serial executor over `ex`; a handler without an executor of its own completes
// on `ex` (bound to it: then a drop emitted there reaches the private strand through a post).
struct start_on {
  template <class Handler, class T>
  void operator()(Handler&& h, const asio::any_io_executor& ex, task<T> t) const {
    const asio::any_io_executor serial = serial_executor(ex);
    using assoc = asio::associated_executor_t<std::decay_t<Handler>, asio::system_executor>;
    if constexpr (std::is_same_v<assoc, asio::system_executor>)
      std::move(t)(serial, asio::bind_executor(ex, std::forward<Handler>(h)));
    else
      std::move(t)(serial, std::forward<Handler>(h));
  }
};

template <class T, class Token>
auto launch(asio::any_io_executor ex, task<T> t, Token&& token) {
  if constexpr (!std::is_void_v<T>)
    static_assert(std::is_default_constructible_v<T>,
                  "halt::async_select/async_join/async_timeout: the completion's value must be "
                  "default-constructible (it is passed with an exception): for a variant, the "
                  "first branch's value type; as co_spawn requires");
  return asio::async_initiate<Token, typename tsk::start_signature<T>::type>(start_on{}, token, std::move(ex),
                                                                             std::move(t));
}

// make(args[I]...) builds the task from all arguments but the last, the token.
template <class Make, class Tuple, std::size_t... I>
auto launch_split(asio::any_io_executor ex, Make make, Tuple t, std::index_sequence<I...>) {
  auto tk = make(std::get<I>(std::move(t))...); // named: built (and its branches moved) first
  return launch(std::move(ex), std::move(tk), std::get<sizeof...(I)>(std::move(t)));
}
template <class Make, class... Args>
auto launch_last(asio::any_io_executor ex, Make make, Args&&... args) {
  return launch_split(std::move(ex), std::move(make), std::forward_as_tuple(std::forward<Args>(args)...),
                      std::make_index_sequence<sizeof...(Args) - 1>{});
}

// Builds the select task from `[Tag,] B...`.
struct make_select {
  template <class A0, class... B>
  auto operator()(A0&& a0, B&&... b) const {
    if constexpr (is_tag<A0>)
      return tsk::select_tasks(std::is_same_v<std::decay_t<A0>, fair_t>, to_task(std::forward<B>(b))...);
    else
      return tsk::select_tasks(false, to_task(std::forward<A0>(a0)), to_task(std::forward<B>(b))...);
  }
};

template <bool FailFast>
struct make_join {
  template <class... B>
  auto operator()(B&&... b) const {
    return tsk::join_tasks<FailFast>(to_task(std::forward<B>(b))...);
  }
};

} // namespace detail::async_comb

/// Races the branches on `ex` (see the header synopsis); the completion token comes last:
/// void(std::exception_ptr, std::variant<V...>). An optional halt::biased or halt::fair after
/// `ex` sets the start order.
template <class ExOrCtx, class... Args>
  requires detail::async_comb::executor_or_context<ExOrCtx> &&
           (detail::async_comb::branches_then_token<true, Args...>())
auto async_select(ExOrCtx&& ex, Args&&... args) {
  return detail::async_comb::launch_last(detail::to_executor(std::forward<ExOrCtx>(ex)),
                                         detail::async_comb::make_select{}, std::forward<Args>(args)...);
}

/// Races a range of tasks on `ex`: void(std::exception_ptr, std::pair<std::size_t, V>). An empty
/// range completes with std::invalid_argument.
template <class ExOrCtx, class T, class CompletionToken>
  requires detail::async_comb::executor_or_context<ExOrCtx>
auto async_select(ExOrCtx&& ex, std::vector<task<T>> range, CompletionToken&& token) {
  return detail::async_comb::launch(detail::to_executor(std::forward<ExOrCtx>(ex)),
                                    detail::tsk::select_range<T>(false, std::move(range)),
                                    std::forward<CompletionToken>(token));
}

/// The range form without bias (a random start rotation).
template <class ExOrCtx, class T, class CompletionToken>
  requires detail::async_comb::executor_or_context<ExOrCtx>
auto async_select(ExOrCtx&& ex, fair_t, std::vector<task<T>> range, CompletionToken&& token) {
  return detail::async_comb::launch(detail::to_executor(std::forward<ExOrCtx>(ex)),
                                    detail::tsk::select_range<T>(true, std::move(range)),
                                    std::forward<CompletionToken>(token));
}

/// Runs every branch on `ex` to its end: void(std::exception_ptr, std::tuple<V...>); the first
/// failure (in completion order) is reported once all have ended.
template <class ExOrCtx, class... Args>
  requires detail::async_comb::executor_or_context<ExOrCtx> &&
           (detail::async_comb::branches_then_token<false, Args...>())
auto async_join(ExOrCtx&& ex, Args&&... args) {
  return detail::async_comb::launch_last(detail::to_executor(std::forward<ExOrCtx>(ex)),
                                         detail::async_comb::make_join<false>{}, std::forward<Args>(args)...);
}

/// As async_join, but the first failure drops the other branches and is reported once they are
/// gone.
template <class ExOrCtx, class... Args>
  requires detail::async_comb::executor_or_context<ExOrCtx> &&
           (detail::async_comb::branches_then_token<false, Args...>())
auto async_try_join(ExOrCtx&& ex, Args&&... args) {
  return detail::async_comb::launch_last(detail::to_executor(std::forward<ExOrCtx>(ex)),
                                         detail::async_comb::make_join<true>{}, std::forward<Args>(args)...);
}

/// The branch's value, or halt::system_error(halt::errc::timed_out) once `d` has passed (counted
/// from the branch's first suspension, as timeout(d, task) counts) and the branch was dropped.
/// \throws std::invalid_argument (from the call) if `d` is negative or NaN.
template <class ExOrCtx, class Rep, class Period, class B, class CompletionToken>
  requires detail::async_comb::executor_or_context<ExOrCtx> && detail::async_comb::op_or_task<B>
auto async_timeout(ExOrCtx&& ex, std::chrono::duration<Rep, Period> d, B&& branch, CompletionToken&& token) {
  auto at = detail::timeout_deadline::in(d);
  return detail::async_comb::launch(
      detail::to_executor(std::forward<ExOrCtx>(ex)),
      detail::timeout_task(at, detail::to_task(std::forward<B>(branch))),
      std::forward<CompletionToken>(token));
}

/// The branch's value, or halt::system_error(halt::errc::timed_out) once `at` (on `Clock`,
/// converted at the call) has passed and the branch was dropped.
template <class ExOrCtx, class Clock, class Duration, class B, class CompletionToken>
  requires detail::async_comb::executor_or_context<ExOrCtx> && detail::async_comb::op_or_task<B>
auto async_timeout_at(ExOrCtx&& ex, std::chrono::time_point<Clock, Duration> at, B&& branch,
                      CompletionToken&& token) {
  return detail::async_comb::launch(
      detail::to_executor(std::forward<ExOrCtx>(ex)),
      detail::timeout_task(detail::timeout_deadline{detail::steady_deadline(at)},
                           detail::to_task(std::forward<B>(branch))),
      std::forward<CompletionToken>(token));
}

} // namespace halt
