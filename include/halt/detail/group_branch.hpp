// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The branches of an awaitable group (group.hpp): how one branch ends (outcome), the group's
// result, and the branch kinds (a co_spawned asio::awaitable, a plain asynchronous operation,
// a callable taking a completion token). Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/strand.hpp>
#include <halt/dual_awaitable.hpp>
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

namespace halt {

template <class T>
class task;

namespace detail {

template <class T>
using value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// How one branch ended: an error code (operation style), an exception (coroutine style) or a
// value. Exactly one is set.
template <class V>
struct outcome {
  halt::error_code ec;
  std::exception_ptr ex;
  std::optional<V> value;

  static outcome failed(halt::error_code e) {
    outcome o;
    o.ec = e;
    return o;
  }
  static outcome failed(std::exception_ptr e) {
    outcome o;
    o.ex = std::move(e);
    return o;
  }
  template <class... A>
  static outcome ok(A&&... a) {
    outcome o;
    o.value.emplace(std::forward<A>(a)...);
    return o;
  }
};

// What a group hands back to its (coroutine) front end: the value, or the error of the branch
// that decided the outcome. The group's own error (operation_aborted when it was cancelled from
// outside) travels separately, as the completion's error_code.
template <class R>
struct group_result {
  halt::error_code ec;
  std::exception_ptr ex;
  std::optional<R> value;

  R get() && {
    if (ex) std::rethrow_exception(ex);
    if (ec) throw halt::system_error(ec);
    return std::move(*value);
  }
};

// How a group's outcome travels from the group to its front end: boxed, so that every move on the
// way (through Asio's completion machinery, which cannot unwind a throwing move) is nothrow. The
// box is allocated with the group, before any branch runs. The value itself moves only in the
// front end's coroutine, where a throwing move is an ordinary exception for the caller.
template <class R>
using boxed_result = std::unique_ptr<std::optional<group_result<R>>>;

// ---- branches --------------------------------------------------------------------------------

// The co_spawn completion of an awaitable branch, one type for all of them: the group (kept alive
// by `st`), its strand (the handler's executor) and the branch's cancellation slot, and the
// group's typed delivery behind a function pointer.
struct awaitable_done {
  std::shared_ptr<void> st;
  const asio::any_io_executor* strand;
  asio::cancellation_slot slot;
  void (*deliver)(void* st, std::size_t i, std::exception_ptr e);
  std::size_t i;
  void operator()(std::exception_ptr e) { deliver(st.get(), i, std::move(e)); }
};

// A co_spawned asio::awaitable<T>. A small wrapper coroutine settles the branch's outcome the
// moment the awaitable finishes, so that a branch that is ready at once decides the group while
// it is being started (the branches after it then never start).
template <class T>
struct awaitable_branch {
  using value_type = value_t<T>;
  static constexpr bool settles_itself = true;
  asio::awaitable<T> aw;

  template <class State, class Index>
  static asio::awaitable<void> run(std::shared_ptr<State> st, Index idx, asio::awaitable<T> a) {
    std::optional<outcome<value_type>> o;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(a);
        o.emplace(outcome<value_type>::ok());
      } else {
        T v = co_await std::move(a);
        o.emplace(outcome<value_type>::ok(std::move(v)));
      }
    } catch (...) {
      o.emplace(outcome<value_type>::failed(std::current_exception()));
    }
    st->settle(idx, std::move(*o));
  }

  // The group's own handler `H` is not used: co_spawn gets the one handler type every awaitable
  // branch of every group shares (awaitable_done), so that a program compiles co_spawn's
  // machinery for branches once, not once per branch of every select/join it makes.
  template <class State, class Index, class H>
  void start(const asio::any_io_executor& ex, const std::shared_ptr<State>& st, Index idx, H&&) {
    auto body = run(st, idx, std::move(aw));
    const std::size_t i = idx;
    awaitable_done done{st, &st->strand_, st->slots_.sigs[i].slot(), &deliver_erased<State, Index>, i};
    asio::co_spawn(ex, std::move(body), std::move(done));
  }
  template <class State, class Index>
  static void deliver_erased(void* st, std::size_t i, std::exception_ptr e) {
    if constexpr (std::is_same_v<Index, std::size_t>)
      deliver(*static_cast<State*>(st), i, std::move(e));
    else
      deliver(*static_cast<State*>(st), Index{}, std::move(e)); // index_c<I>: i == I
  }
  void drop() noexcept { asio::awaitable<T> gone(std::move(aw)); }

  // The co_spawn completion: the branch's thread has finished.
  template <class State, class Index>
  static void deliver(State& st, Index idx, std::exception_ptr e) {
    if (e) st.settle(idx, outcome<value_type>::failed(std::move(e))); // ignored if settled
    st.retire(idx);
  }
};

// A completion token that only reports an operation's completion signature (never initiated).
struct signature_probe {};
template <class Sig>
struct signature_probe_result {
  using type = Sig;
};

template <class Op>
using op_signature_t =
    typename decltype(std::declval<std::decay_t<Op>>()(std::declval<signature_probe>()))::type;

template <class T>
struct is_awaitable : std::false_type {};
template <class T, class E>
struct is_awaitable<asio::awaitable<T, E>> : std::true_type {};
// join(), join_next(), wait(): an asio::awaitable with a task form (dual_awaitable.hpp); a branch
// of an awaitable group takes its asio::awaitable form.
template <class T, class F>
struct is_awaitable<dual_awaitable<T, F>> : std::true_type {};

template <class T>
struct is_halt_task : std::false_type {};
template <class T>
struct is_halt_task<task<T>> : std::true_type {};

// Anything that can be started with a completion token: an asio deferred operation, or a
// callable such as [&](auto&& token) { return timer.async_wait(token); }. A halt::task is one
// too, but tasks are raced inline (task_group.hpp), not by this engine.
template <class Op>
concept async_operation = !is_awaitable<std::decay_t<Op>>::value &&
                          !is_halt_task<std::decay_t<Op>>::value && requires {
  typename op_signature_t<Op>;
};

// Maps an operation's completion arguments to a value, following use_awaitable's conventions:
// a leading error_code or exception_ptr is the error, the rest is the value (none: monostate,
// one: itself, several: a tuple).
template <class Sig>
struct op_traits;
template <class... A>
struct op_traits<void(A...)> {
  template <class... B>
  struct split {
    static constexpr bool has_error = false;
    using value_list = std::tuple<B...>;
  };
  template <class... B>
  struct split<halt::error_code, B...> {
    static constexpr bool has_error = true;
    using value_list = std::tuple<B...>;
  };
  template <class... B>
  struct split<std::exception_ptr, B...> {
    static constexpr bool has_error = true;
    using value_list = std::tuple<B...>;
  };
  using parts = split<std::decay_t<A>...>;

  template <class Tuple>
  struct value_of;
  template <class... B>
  struct value_of<std::tuple<B...>> {
    using type = std::tuple<B...>;
  };
  template <class B>
  struct value_of<std::tuple<B>> {
    using type = B;
  };
  template <class Dummy>
  struct value_of_empty {
    using type = std::monostate;
  };
  using value_type = typename std::conditional_t<std::tuple_size_v<typename parts::value_list> == 0,
                                                 value_of_empty<void>,
                                                 value_of<typename parts::value_list>>::type;
};

// A plain Asio operation, initiated with the branch handler.
template <class Op>
struct op_branch {
  using signature = op_signature_t<Op>;
  using traits = op_traits<signature>;
  using value_type = typename traits::value_type;
  std::optional<std::decay_t<Op>> op;

  template <class State, class Index, class H>
  void start(const asio::any_io_executor&, const std::shared_ptr<State>&, Index, H&& h) {
    std::move (*op)(std::forward<H>(h));
    op.reset();
  }
  void drop() noexcept { op.reset(); }

  template <class... B>
  static outcome<value_type> values(B&&... b) {
    return outcome<value_type>::ok(std::forward<B>(b)...);
  }
  template <class E, class... B>
  static outcome<value_type> make(E&& e, B&&... b) {
    if constexpr (traits::parts::has_error) {
      if (e) return outcome<value_type>::failed(std::forward<E>(e));
      return values(std::forward<B>(b)...);
    } else {
      return values(std::forward<E>(e), std::forward<B>(b)...);
    }
  }
  static outcome<value_type> make() { return outcome<value_type>::ok(); }
};

// Waits for a halt::cancellation_token (run_until_cancelled). Token is the token type, so that
// this header does not need cancellation_token.hpp.
template <class Token>
struct token_branch {
  using value_type = std::monostate;
  static constexpr bool internal = true;
  Token tok;

  template <class State, class Index, class H>
  void start(const asio::any_io_executor&, const std::shared_ptr<State>&, Index, H&& h) {
    tok.async_wait(std::forward<H>(h));
  }
  void drop() noexcept {}
  static outcome<value_type> make(halt::error_code ec) {
    if (ec) return outcome<value_type>::failed(ec);
    return outcome<value_type>::ok();
  }
};

template <class T>
awaitable_branch<T> make_branch(asio::awaitable<T> a) {
  return {std::move(a)};
}
template <class Op>
  requires async_operation<Op>
op_branch<std::decay_t<Op>> make_branch(Op&& op) {
  return {std::optional<std::decay_t<Op>>(std::forward<Op>(op))};
}

/// A select/join branch: an asio::awaitable<T>, or a plain asynchronous operation.
template <class B>
concept branch_arg = is_awaitable<std::decay_t<B>>::value || async_operation<B>;

template <class... B>
std::tuple<decltype(make_branch(std::declval<B>()))...> make_branches(B&&... b) {
  return {make_branch(std::forward<B>(b))...};
}

} // namespace detail
} // namespace halt

template <class Executor>
struct halt::asio::associated_executor<halt::detail::awaitable_done, Executor> {
  using type = halt::asio::any_io_executor;
  static type get(const halt::detail::awaitable_done& h, const Executor& = Executor()) noexcept {
    return *h.strand;
  }
};

template <class CancellationSlot>
struct halt::asio::associated_cancellation_slot<halt::detail::awaitable_done, CancellationSlot> {
  using type = halt::asio::cancellation_slot;
  static type get(const halt::detail::awaitable_done& h,
                  const CancellationSlot& = CancellationSlot()) noexcept {
    return h.slot;
  }
};

// The signature probe: lets the group read a deferred operation's completion signature.
template <class Sig>
struct halt::asio::async_result<halt::detail::signature_probe, Sig> {
  template <class Initiation, class... Args>
  static halt::detail::signature_probe_result<Sig> initiate(Initiation&&, halt::detail::signature_probe,
                                                            Args&&...) {
    return {};
  }
};
