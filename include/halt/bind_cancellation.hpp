// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::bind_cancellation: make any Asio operation cancellable by a halt::cancellation_token.
//
//   template <class CompletionToken>
//   auto bind_cancellation(cancellation_token t, CompletionToken&& token,
//                          asio::cancellation_type type = asio::cancellation_type::terminal);
//
//   co_await sock.async_read_some(buf, halt::bind_cancellation(t, asio::use_awaitable));
//
// The operation receives a cancellation slot of its own. When `t` is cancelled (from any thread),
// halt posts an emit of `type` to the operation's executor, so the emit never runs on the
// cancelling thread and never during the initiating function. If `t` is already cancelled when the
// operation starts, the emit is posted at once and the operation completes promptly with
// asio::error::operation_aborted (provided the operation supports `type`; see docs/01-tokens.md).
// A cancellation slot already associated with the inner token's handler (a coroutine's, say)
// keeps working: it is forwarded to the operation as well. Every other associator of that handler
// (executor, allocator, immediate executor, ...) is the operation's handler's too. The operation
// may have several completion signatures; each completion is passed on unchanged.
//
// Out of memory: if posting the emit throws std::bad_alloc (it runs inside the token's
// callback, which cannot throw), that cancellation is dropped and the operation completes as it
// would have without it; halt does not call std::terminate.
//
// "The operation's executor" is the handler's associated executor, falling back to the I/O
// object's executor. On a multi-threaded executor use a strand, as Asio requires for any
// cancellation. The binding keeps `t`'s node in the tree until the operation completes.
//
// Lifetimes: when the operation's execution context is destroyed with the operation pending, the
// binding is dropped (a later cancel of `t` posts nothing) and lets go of the executor. An outer
// cancellation slot (one the inner token's handler already had, say a user-owned
// asio::cancellation_signal) keeps a small part of the binding until that slot is cleared or its
// signal destroyed, which may be after the context is gone. Emitting on that signal after the
// context is gone is undefined, as it is for any Asio operation.

#include <halt/detail/config.hpp>
#include <halt/cancellation_token.hpp>

#include <halt/detail/asio.hpp>
#include <halt/detail/associators.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#include <type_traits>
#include <utility>

namespace halt {

/// The completion token made by bind_cancellation.
template <class CompletionToken>
struct cancellation_bound_token {
  cancellation_token token;
  asio::cancellation_type type;
  CompletionToken inner;
};

/// Wraps `token` so that the operation it is given to is cancelled (with `type`) when `t` is.
/// \throws halt::system_error (halt::errc::no_state) if `t` is empty.
template <class CompletionToken>
cancellation_bound_token<std::decay_t<CompletionToken>> bind_cancellation(
    cancellation_token t, CompletionToken&& token,
    asio::cancellation_type type = asio::cancellation_type::terminal) {
  if (!t.valid())
    throw halt::system_error(make_error_code(errc::no_state), "halt::bind_cancellation");
  return {std::move(t), type, std::forward<CompletionToken>(token)};
}

namespace detail {

// Every live binding of an execution context, so that the context's shutdown can deregister
// them before its scheduler goes: a cancel on another thread must not post into a dying context.
struct bound_link : service_hook {
  virtual std::shared_ptr<void> lock_owner() noexcept = 0;
  virtual void drop_registration() noexcept = 0;

protected:
  ~bound_link() = default;
};

// The live bindings of one context. Shared with each binding, so that a binding that outlives
// the context (kept by an outer cancellation slot) can still unlink itself.
struct bound_registry {
  std::mutex m;
  hook_list links; // m
};

class bind_service final : public asio::execution_context::service {
public:
  static inline asio::execution_context::id id;
  explicit bind_service(asio::execution_context& ctx)
      : asio::execution_context::service(ctx), reg_(std::make_shared<bound_registry>()) {}

  // Returns false once the context is shutting down.
  bool add(bound_link* b) {
    std::lock_guard<std::mutex> g(reg_->m);
    return reg_->links.add(b);
  }

  const std::shared_ptr<bound_registry>& registry() const noexcept { return reg_; }

private:
  // Services shut down newest first, so this runs before the scheduler's shutdown.
  void shutdown() override {
    std::vector<std::pair<bound_link*, std::shared_ptr<void>>> live;
    {
      std::lock_guard<std::mutex> g(reg_->m);
      reg_->links.close_and_drain([&](service_hook* h) {
        auto* b = static_cast<bound_link*>(h);
        if (auto keep = b->lock_owner()) live.emplace_back(b, std::move(keep));
        // else it is being destroyed: its destructor waits for its callback, which posts nothing
      });
    }
    for (auto& [b, keep] : live) b->drop_registration(); // waits for a callback posting right now
  }

  std::shared_ptr<bound_registry> reg_;
};

template <class Executor>
struct bound_state final : bound_link, std::enable_shared_from_this<bound_state<Executor>> {
  bound_state(bind_service& svc, const Executor& e, asio::cancellation_type t)
      : ex(e), type(t), registry(svc.registry()) {}
  ~bound_state() {
    std::lock_guard<std::mutex> g(registry->m);
    registry->links.remove(this);
  }
  asio::cancellation_signal sig; // outlives the operation: every emit holds a shared_ptr
  // Reset when the context shuts down: an executor (a strand's, say) must not outlive it.
  std::optional<Executor> ex;
  asio::cancellation_type type;
  std::shared_ptr<bound_registry> registry; // may outlive the context and its bind_service
  bool done = false; // touched only on ex
  cancellation_registration reg;

  std::shared_ptr<void> lock_owner() noexcept override { return this->weak_from_this().lock(); }
  // At the context's shutdown (or when it refused the binding): no emit is posted after this.
  void drop_registration() noexcept override {
    reg.reset(); // waits for a callback posting right now
    ex.reset();
  }

  // From the token's (noexcept) callback. If the post fails (std::bad_alloc), this one
  // cancellation is not delivered: the operation goes on and completes as it would have.
  void post_emit() noexcept {
    auto s = this->weak_from_this().lock();
    if (!s) return; // the operation was abandoned and its state is being destroyed
    try {
      asio::post(*ex, [s = std::move(s)] {
        if (!s->done) s->sig.emit(s->type);
      });
    } catch (...) {
    }
  }
};

template <class Handler, class Executor>
struct bound_handler {
  Handler inner;
  std::shared_ptr<bound_state<Executor>> st;

  // Replaces the inner handler's slot, which is forwarded to sig (bound_initiation). Every other
  // associator is the inner handler's (the asio::associator specialisation below).
  using cancellation_slot_type = asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return st->sig.slot(); }
  const Handler& wrapped() const noexcept { return inner; }

  template <class... Args>
  void operator()(Args&&... args) {
    st->done = true;
    st->reg.reset();
    auto outer = asio::get_associated_cancellation_slot(inner);
    if (outer.is_connected()) outer.clear();
    std::move(inner)(std::forward<Args>(args)...);
  }
};

template <class Initiation>
struct bound_initiation {
  Initiation init;
  cancellation_token tok;
  asio::cancellation_type type;

  template <class Handler, class... Args>
  void operator()(Handler&& handler, Args&&... args) && {
    auto ex = asio::get_associated_executor(handler, io_executor());
    using state_t = bound_state<decltype(ex)>;
    auto& svc = asio::use_service<bind_service>(context_of(ex));
    auto st = std::make_shared<state_t>(svc, ex, type);
    auto outer = asio::get_associated_cancellation_slot(handler);
    if (outer.is_connected())
      outer.assign([s = st](asio::cancellation_type t) { s->sig.emit(t); });
    bound_handler<std::decay_t<Handler>, decltype(ex)> bh{std::forward<Handler>(handler), st};
    state_t* raw = st.get();
    if (svc.add(raw))
      st->reg = tok.on_cancel([raw]() noexcept { raw->post_emit(); });
    else // the context is shutting down and will drop the operation
      st->ex.reset();
    std::move(init)(std::move(bh), std::forward<Args>(args)...);
  }

private:
  auto io_executor() const {
    if constexpr (requires { init.get_executor(); })
      return init.get_executor();
    else
      return asio::system_executor();
  }
};

} // namespace detail
} // namespace halt

namespace halt::detail {
// async_result<cancellation_bound_token<T>, Signatures...>::return_type where the inner token's
// async_result has one (Asio 1.22's adaptors need it); none where it has not (asio::deferred on
// newer Asio, say).
template <class CompletionToken, class... Signatures>
struct bound_return_type {};
template <class CompletionToken, class... Signatures>
  requires requires { typename asio::async_result<CompletionToken, Signatures...>::return_type; }
struct bound_return_type<CompletionToken, Signatures...> {
  using return_type = typename asio::async_result<CompletionToken, Signatures...>::return_type;
};
} // namespace halt::detail

// Any number of completion signatures (Asio 1.22 on): the inner token is initiated with the same
// signatures, and bound_handler forwards each completion unchanged.
template <class CompletionToken, class... Signatures>
struct halt::asio::async_result<halt::cancellation_bound_token<CompletionToken>, Signatures...>
    : halt::detail::bound_return_type<CompletionToken, Signatures...> {
  template <class Initiation, class RawToken, class... Args>
  static auto initiate(Initiation&& init, RawToken&& token, Args&&... args) {
    return halt::asio::async_initiate<CompletionToken, Signatures...>(
        halt::detail::bound_initiation<std::decay_t<Initiation>>{
            std::forward<Initiation>(init), static_cast<RawToken&&>(token).token, token.type},
        token.inner, std::forward<Args>(args)...);
  }
};

// Every associator of the inner handler (executor, allocator, immediate executor, ...) except the
// cancellation slot, which bound_handler replaces with its own (its member get_cancellation_slot).
template <template <class, class> class Associator, class Handler, class E, class DefaultCandidate>
struct halt::asio::associator<Associator, halt::detail::bound_handler<Handler, E>, DefaultCandidate>
    : halt::detail::forward_associator<Associator, halt::detail::bound_handler<Handler, E>, Handler,
                                       DefaultCandidate> {};
