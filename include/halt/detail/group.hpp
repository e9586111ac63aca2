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

#include <halt/detail/config.hpp>
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

// ---- the group -------------------------------------------------------------------------------

// The executor that serialises a group: the caller's own if it is serial (a strand, or a
// single-threaded io_context; then `own` is true: the caller is running inside it right now),
// otherwise a strand of the group's own.
struct group_executor {
  asio::any_io_executor ex;
  bool own = false;
};
inline group_executor group_strand(const asio::any_io_executor& ex) {
  if (is_serial(ex)) return {ex, true};
  return {cheap_strand(ex), false};
}

inline std::size_t random_start(std::size_t n) noexcept {
  thread_local std::uint64_t s = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<std::uintptr_t>(&s);
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return n ? static_cast<std::size_t>(s % n) : 0;
}

// Groups that completed while launching inline, before co_spawn's posted completions of their
// branches ran. Each keeps its state queued until then; a caller that loops on groups that are
// always ready never suspends, so this is bounded: past the limit, a group waits for its
// branches (one queue pass) like any other, and the queue drains.
inline std::atomic<std::size_t>& early_groups() noexcept {
  static std::atomic<std::size_t> n{0};
  return n;
}
inline constexpr std::size_t early_group_limit = 64;

template <class State, class Index>
struct branch_handler {
  std::shared_ptr<State> st;
  Index idx;

  template <class... A>
  void operator()(A&&... a) {
    using B = typename State::template branch_at<Index>;
    if constexpr (requires { B::settles_itself; }) {
      B::deliver(*st, idx, std::forward<A>(a)...);
    } else {
      st->settle(idx, B::make(std::forward<A>(a)...));
      st->retire(idx);
    }
  }
};

template <std::size_t I>
using index_c = std::integral_constant<std::size_t, I>;

// Fixed-size storage (variadic forms) or dynamic (range forms) for the per-branch state.
template <std::size_t N>
struct fixed_slots {
  std::array<asio::cancellation_signal, N> sigs;
  std::array<unsigned char, N> state{};
  explicit fixed_slots(std::size_t) {}
  static constexpr std::size_t size() { return N; }
};
struct dynamic_slots {
  std::unique_ptr<asio::cancellation_signal[]> sigs;
  std::unique_ptr<unsigned char[]> state;
  std::size_t n;
  explicit dynamic_slots(std::size_t count)
      : sigs(new asio::cancellation_signal[count]), state(new unsigned char[count]()), n(count) {}
  std::size_t size() const { return n; }
};

enum : unsigned char { not_started = 0, running = 1, settled = 2, finished = 3 };

// Policy interface (all calls on the strand):
//   bool on_complete(Index, outcome<V>&&, bool outer_cancelled)  -> true: cancel the others
//   bool on_outer_cancel()                                      -> true: cancel the running ones
//   group_result<R> result(bool outer_cancelled)                  -> the outcome handed back
// Branches: std::tuple<B...> (Index = index_c<I>) or std::vector<B> (Index = std::size_t).
template <class Policy, class Branches, class Slots, class Handler>
struct group_state final : std::enable_shared_from_this<group_state<Policy, Branches, Slots, Handler>> {
  using result_type = decltype(std::declval<Policy&>().result(false));
  using box_type = std::unique_ptr<std::optional<result_type>>;

  template <class Index>
  struct branch_of;
  template <std::size_t I>
  struct branch_of<index_c<I>> {
    using type = std::tuple_element_t<I, Branches>;
  };
  template <class Dummy>
  struct branch_of_dyn {
    using type = typename Branches::value_type;
  };
  template <class Index>
  using branch_at = typename std::conditional_t<std::is_same_v<Index, std::size_t>,
                                                branch_of_dyn<Index>, branch_of<Index>>::type;

  group_state(asio::any_io_executor strand, Policy p, Branches b, std::size_t n, Handler h)
      : strand_(std::move(strand)), policy_(std::move(p)), branches_(std::move(b)), slots_(n),
        handler_(std::move(h)), box_(std::make_unique<std::optional<result_type>>()),
        check_(serial_check_for(strand_)) {}

  asio::any_io_executor strand_;
  Policy policy_;
  Branches branches_;
  Slots slots_;
  Handler handler_;
  box_type box_; // the outcome's box, allocated up front (see boxed_result)
  asio::cancellation_slot outer_slot_;
  serial_check check_; // on an io_context(1) without a strand: the entries below are checked
  std::size_t first_ = 0;   // start offset (fair)
  std::size_t running_ = 0;   // started and not finished
  std::size_t unsettled_ = 0; // started and outcome not known yet
  int busy_ = 0;            // inside launch or a cancel loop: do not finish yet
  bool stopping_ = false;   // the running branches were (or are being) cancelled
  bool outer_cancelled_ = false;
  bool done_ = false;
  bool allow_early_ = true; // may complete once every branch settled, before they retired
  bool early_ = false;      // did, and counts in early_groups() until destroyed

  ~group_state() {
    if (early_) early_groups().fetch_sub(1, std::memory_order_relaxed);
  }

  std::size_t size() const { return slots_.size(); }

  template <class F>
  void for_index(std::size_t i, F&& f) {
    if constexpr (std::is_same_v<Slots, dynamic_slots>) {
      f(i, branches_[i]);
    } else {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (void)((i == I ? (f(index_c<I>{}, std::get<I>(branches_)), true) : false) || ...);
      }(std::make_index_sequence<std::tuple_size_v<Branches>>{});
    }
  }

  // On the strand. Starts the branches in order. Once the group is decided (a branch that was
  // ready at once won, or failed for try_join) or cancelled, the rest are destroyed unstarted.
  void launch() {
    serial_scope scope(check_);
    ++busy_;
    const std::size_t n = size();
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (first_ + k) % n;
      for_index(i, [&](auto idx, auto& b) {
        if (stopping_) {
          b.drop();
          slots_.state[i] = finished;
          return;
        }
        slots_.state[i] = running;
        ++running_;
        ++unsettled_;
        try {
          auto self = this->shared_from_this();
          b.start(strand_, self, idx, branch_handler<group_state, decltype(idx)>{self, idx});
        } catch (...) { // the initiation threw (bad_alloc, bad arguments): the branch failed
          if (slots_.state[i] == running) {
            using B = std::decay_t<decltype(b)>;
            settle(idx, outcome<typename B::value_type>::failed(std::current_exception()));
            retire(idx);
          }
        }
      });
    }
    --busy_;
    // Every started branch settled while it started (ready at once, the rest never started):
    // the outcome is known and every branch's frames are gone, so complete now instead of
    // waiting a queue pass for co_spawn's posted completions (they only retire the branches).
    if (unsettled_ == 0 && running_ > 0 && allow_early_ && !done_) {
      early_ = true;
      early_groups().fetch_add(1, std::memory_order_relaxed);
      finish();
    }
    maybe_finish();
  }

  // A branch's outcome is known (its frames are gone or going). At most once per branch.
  template <class Index, class O>
  void settle(Index idx, O&& o) {
    serial_scope scope(check_);
    const std::size_t i = idx;
    if (slots_.state[i] != running) return;
    slots_.state[i] = settled;
    --unsettled_;
    using outcome_t = std::decay_t<O>;
    bool stop = false;
    try {
      outcome_t local(std::forward<O>(o)); // a loser's late value dies here, before finishing
      stop = policy_.on_complete(idx, std::move(local), outer_cancelled_);
    } catch (...) {
      // Moving the value threw (the policies change nothing before the move succeeds): the branch
      // failed with that exception, so the value is never silently missing from the result.
      stop = policy_.on_complete(idx, outcome_t::failed(std::current_exception()), outer_cancelled_);
    }
    if (stop) cancel_running();
  }

  // A branch's thread of execution has finished.
  template <class Index>
  void retire(Index idx) {
    serial_scope scope(check_);
    const std::size_t i = idx;
    if (slots_.state[i] == finished) return;
    slots_.state[i] = finished;
    --running_;
    maybe_finish();
  }

  // An outer cancel of type partial (without terminal): forwarded to the running user branches.
  void outer_partial_cancel() {
    serial_scope scope(check_);
    if (done_ || stopping_) return;
    ++busy_;
    for (std::size_t i = 0; i < size(); ++i) {
      if (slots_.state[i] != running) continue;
      for_index(i, [&](auto, auto& b) {
        if constexpr (!requires { std::decay_t<decltype(b)>::internal; })
          slots_.sigs[i].emit(asio::cancellation_type::partial);
      });
    }
    --busy_;
    maybe_finish();
  }

  void outer_cancel() {
    serial_scope scope(check_);
    if (done_) return;
    outer_cancelled_ = true;
    if (policy_.on_outer_cancel()) cancel_running();
    maybe_finish();
  }

  void cancel_running() {
    if (stopping_) return;
    stopping_ = true;
    ++busy_;
    for (std::size_t i = 0; i < size(); ++i)
      if (slots_.state[i] == running) slots_.sigs[i].emit(asio::cancellation_type::terminal);
    --busy_;
  }

  void maybe_finish() {
    if (busy_ || running_) return;
    finish();
  }

  // Completes the caller, once. Exception safety: if building the result throws (a branch's
  // value whose move throws, std::bad_alloc), the caller receives that exception instead of the
  // result. If queuing the completion itself throws, the exception leaves the branch's handler
  // (and so run()); the caller's handler is then destroyed with the group without being invoked,
  // as Asio does with a handler it cannot schedule.
  struct completion {
    std::shared_ptr<group_state> self;
    halt::error_code ec;
    box_type r;
    void operator()() {
      self->outer_slot_.clear();
      Handler h(std::move(self->handler_));
      self.reset(); // the group's storage goes before the caller resumes
      std::move(h)(ec, std::move(r));
    }
  };
  completion make_completion(halt::error_code ec) noexcept {
    try {
      box_->emplace(policy_.result(outer_cancelled_));
    } catch (...) {
      box_->emplace().ex = std::current_exception();
    }
    return completion{this->shared_from_this(), ec, std::move(box_)};
  }

  void finish() {
    if (done_) return;
    auto ec = outer_cancelled_ && policy_.aborted_by_outer() ? halt::error_code(asio::error::operation_aborted)
                                                             : halt::error_code();
    auto ex = asio::get_associated_executor(handler_, strand_);
    auto c = make_completion(ec);
    done_ = true; // only now: the caller is certain to get an outcome
    // Never inside an initiation: the posted launch (initiate_group) runs in a handler of its
    // own, and the inline launch (group_launch) has no initiation around it.
    asio::dispatch(ex, std::move(c));
  }
};

template <class State>
struct outer_cancel_handler {
  std::weak_ptr<State> w;
  // See the top of this file: terminal wins over partial; total alone is ignored.
  void operator()(asio::cancellation_type_t type) const {
    const bool terminal = (type & asio::cancellation_type::terminal) != asio::cancellation_type::none;
    const bool partial = (type & asio::cancellation_type::partial) != asio::cancellation_type::none;
    if (!terminal && !partial) return;
    if (auto s = w.lock()) {
      auto ex = s->strand_;
      if (terminal)
        asio::post(ex, [s = std::move(s)] { s->outer_cancel(); });
      else
        asio::post(ex, [s = std::move(s)] { s->outer_partial_cancel(); });
    }
  }
};

template <class Policy, class Branches, class Slots, class R>
struct initiate_group {
  template <class Handler>
  void operator()(Handler&& handler, asio::any_io_executor strand, Policy p, Branches b,
                  std::size_t n, std::size_t first) const {
    using H = std::decay_t<Handler>;
    using state = group_state<Policy, Branches, Slots, H>;
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto st = std::make_shared<state>(std::move(strand), std::move(p), std::move(b), n,
                                      std::forward<Handler>(handler));
    st->first_ = first;
    if (slot.is_connected()) {
      st->outer_slot_ = slot;
      slot.template emplace<outer_cancel_handler<state>>(outer_cancel_handler<state>{st});
    }
    // The caller is not on the new strand: the launch is posted to it. (A caller on its own
    // strand launches inline, without an initiation: group_launch.)
    auto ex = st->strand_;
    asio::post(ex, [st = std::move(st)] { st->launch(); });
  }
};

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

template <class... B>
std::tuple<decltype(make_branch(std::declval<B>()))...> make_branches(B&&... b) {
  return {make_branch(std::forward<B>(b))...};
}

} // namespace detail
} // namespace halt

// The branch handler runs on the group's strand and carries the branch's cancellation slot.
template <class State, class Index, class Executor>
struct halt::asio::associated_executor<halt::detail::branch_handler<State, Index>, Executor> {
  using type = halt::asio::any_io_executor;
  static type get(const halt::detail::branch_handler<State, Index>& h,
                  const Executor& = Executor()) noexcept {
    return h.st->strand_;
  }
};

template <class State, class Index, class CancellationSlot>
struct halt::asio::associated_cancellation_slot<halt::detail::branch_handler<State, Index>, CancellationSlot> {
  using type = halt::asio::cancellation_slot;
  static type get(const halt::detail::branch_handler<State, Index>& h,
                  const CancellationSlot& = CancellationSlot()) noexcept {
    return h.st->slots_.sigs[static_cast<std::size_t>(h.idx)].slot();
  }
};

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
