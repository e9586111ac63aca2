// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// halt::use_task: an Asio operation awaited inside a halt::task (task.hpp). Unstable internals.
//
// op(args..., halt::use_task) returns an op_awaitable holding the operation's initiation and
// arguments; nothing starts until a task co_awaits it. Its await_suspend initiates the operation
// with an op_handler, which points back at the awaitable (in the suspended frame) and carries the
// chain's executor, the slot of the chain's cancellation signal and a recycling allocator. The
// handler stores the result there and resumes (or drops) the chain (op_state, task_frame.hpp).

#include <halt/detail/config.hpp>
#include <halt/error.hpp>
#include <halt/detail/task_frame.hpp>

#include <halt/detail/asio.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace halt::detail::tsk {

// The value of co_await op(halt::use_task) for completion arguments Args...: without a leading
// halt::error_code / std::exception_ptr (thrown when set), none -> void, one -> it, else a tuple.
template <class... Args>
struct op_value {
  static constexpr bool lead_ec = false, lead_ep = false;
  using rest = std::tuple<Args...>;
};
template <class... Args>
struct op_value<halt::error_code, Args...> : op_value<> {
  static constexpr bool lead_ec = true;
  using rest = std::tuple<Args...>;
};
template <class... Args>
struct op_value<std::exception_ptr, Args...> : op_value<> {
  static constexpr bool lead_ep = true;
  using rest = std::tuple<Args...>;
};

template <class Op>
class op_handler {
public:
  explicit op_handler(Op* op) noexcept : op_(op) {}
  op_handler(op_handler&& o) noexcept : op_(std::exchange(o.op_, nullptr)) {}
  op_handler& operator=(op_handler&&) = delete;
  ~op_handler() {
    if (op_) op_->handler_lost();
  }

  using executor_type = asio::any_io_executor;
  executor_type get_executor() const noexcept { return op_->root_->executor(); }
  using cancellation_slot_type = asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return op_->root_->signal_.slot(); }
  using allocator_type = asio::recycling_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }

  template <class... A>
  void operator()(A&&... a) {
    Op* op = std::exchange(op_, nullptr);
    op->result_.emplace(std::forward<A>(a)...);
    op->handler_called();
  }

private:
  Op* op_;
};

template <class Sig, class Init, class... IArgs>
class op_awaitable;

template <class... Args, class Init, class... IArgs>
class op_awaitable<void(Args...), Init, IArgs...> : public op_state {
  using traits = op_value<std::decay_t<Args>...>;
  using rest = typename traits::rest;
  friend class op_handler<op_awaitable>;

public:
  template <class I, class... A>
  explicit op_awaitable(I&& init, A&&... a) : init_(std::forward<I>(init)), args_(std::forward<A>(a)...) {}
  // asio::redirect_error(halt::use_task, ec): the leading error code goes to *ec, never thrown.
  template <class I, class... A>
  op_awaitable(halt::error_code* redirect, I&& init, A&&... a)
      : init_(std::forward<I>(init)), args_(std::forward<A>(a)...), redirect_(redirect) {}
  op_awaitable(op_awaitable&&) = default; // only before it is awaited
  op_awaitable& operator=(op_awaitable&&) = delete;

  bool await_ready() const noexcept { return false; }

  template <class P>
    requires std::is_base_of_v<promise_base, P>
  bool await_suspend(std::coroutine_handle<P> h) {
    root_base* r = h.promise().root_;
    root_ = r;
    frame_ = h;
    if (r->drop_requested_) { // dropped before this operation starts: it never starts
      r->act_ = root_base::act::drop;
      return true;
    }
    st_ = st::initiating;
    r->op_ = this;
    try {
      std::apply([this](IArgs&... a) { std::move(init_)(op_handler<op_awaitable>(this), std::move(a)...); },
                 args_);
    } catch (...) {
      reset(r);
      throw; // thrown from the co_await
    }
    switch (st_) {
    case st::done_inline:
      reset(r);
      if (!r->drop_requested_) return false; // resume at once with the result
      r->act_ = root_base::act::drop;
      return true;
    case st::lost_inline:
      reset(r);
      r->act_ = root_base::act::abandon;
      return true;
    default:
      st_ = st::pending;
      if (r->drop_requested_) {
        // A drop arrived while the operation was being initiated (its initiating function ran
        // code that asked for it): request_drop() could not cancel it then, so cancel it now.
        if (!emit_terminal()) { // its handler was lost on another thread: the abandon is posted
        } else if (st_ == st::done_in_emit) { // drive() drops the chain once we have suspended
          reset(r);
          r->act_ = root_base::act::drop;
        } else if (st_ == st::lost_in_emit) {
          reset(r);
          r->act_ = root_base::act::abandon;
        }
      }
      return true;
    }
  }

  decltype(auto) await_resume() {
    auto& t = *result_;
    if constexpr (traits::lead_ec) {
      if (redirect_)
        *redirect_ = std::get<0>(t);
      else if (const halt::error_code& ec = std::get<0>(t))
        throw halt::system_error(ec);
    } else if constexpr (traits::lead_ep) {
      if (std::get<0>(t)) std::rethrow_exception(std::get<0>(t));
    }
    constexpr std::size_t skip = (traits::lead_ec || traits::lead_ep) ? 1 : 0;
    constexpr std::size_t n = std::tuple_size_v<rest>;
    if constexpr (n == 0) {
      return;
    } else if constexpr (n == 1) {
      return std::tuple_element_t<0, rest>(std::move(std::get<skip>(t)));
    } else {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return rest(std::move(std::get<skip + I>(t))...);
      }(std::make_index_sequence<n>{});
    }
  }

private:
  void reset(root_base* r) noexcept {
    st_ = st::idle;
    r->op_ = nullptr;
    r->signal_.slot().clear();
  }

  Init init_;
  std::tuple<IArgs...> args_;
  std::optional<std::tuple<std::decay_t<Args>...>> result_;
  halt::error_code* redirect_ = nullptr;
};

template <class Sig, class Init, class... IArgs>
struct is_op_awaitable<op_awaitable<Sig, Init, IArgs...>> : std::true_type {};

} // namespace halt::detail::tsk

template <class R, class... Args>
class halt::asio::async_result<halt::use_task_t, R(Args...)> {
public:
  template <class Initiation, class... InitArgs>
  static auto initiate(Initiation&& init, halt::use_task_t, InitArgs&&... args) {
    return halt::detail::tsk::op_awaitable<void(Args...), std::decay_t<Initiation>,
                                           std::decay_t<InitArgs>...>(
        std::forward<Initiation>(init), std::forward<InitArgs>(args)...);
  }
};

// An operation with several completion signatures (Asio allows them from 1.22 on) cannot be
// awaited through halt::use_task: co_await gives one value type. asio::use_awaitable (up to 1.38
// at least) accepts one signature too. Say so, instead of Asio's own failure deep inside
// async_initiate.
// (One signature, even ref-qualified or noexcept, is left to the specialisation above and Asio.)
template <class... Signatures>
  requires(sizeof...(Signatures) > 1)
class halt::asio::async_result<halt::use_task_t, Signatures...> {
  static_assert(sizeof...(Signatures) == 1,
                "halt::use_task: this operation has several completion signatures, and co_await "
                "through halt::use_task (like asio::use_awaitable) takes an operation with exactly "
                "one. Wrap it in an operation with one signature (asio::async_initiate or "
                "asio::async_compose), or complete it with a callback.");

public:
  template <class Initiation, class... InitArgs>
  static void initiate(Initiation&&, halt::use_task_t, InitArgs&&...) {}
};

// Asio 1.22's redirect_error needs a return_type that does not depend on the initiation, which
// op_awaitable does: redirect_error(halt::use_task, ec) is handled here instead.
template <class R, class... Args>
class halt::asio::async_result<halt::asio::redirect_error_t<halt::use_task_t>, R(halt::error_code, Args...)> {
public:
  template <class Initiation, class Token, class... InitArgs>
  static auto initiate(Initiation&& init, Token&& token, InitArgs&&... args) {
    return halt::detail::tsk::op_awaitable<void(halt::error_code, Args...), std::decay_t<Initiation>,
                                           std::decay_t<InitArgs>...>(
        &token.ec_, std::forward<Initiation>(init), std::forward<InitArgs>(args)...);
  }
};

template <class... Signatures>
  requires(sizeof...(Signatures) > 1)
class halt::asio::async_result<halt::asio::redirect_error_t<halt::use_task_t>, Signatures...> {
  static_assert(sizeof...(Signatures) == 1,
                "halt::use_task: this operation has several completion signatures, and co_await "
                "through asio::redirect_error(halt::use_task, ec) takes an operation with exactly "
                "one. Wrap it in an operation with one signature (asio::async_initiate or "
                "asio::async_compose), or complete it with a callback.");

public:
  template <class Initiation, class Token, class... InitArgs>
  static void initiate(Initiation&&, Token&&, InitArgs&&...) {}
};
