// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The state of an awaitable group (group.hpp) and how it starts: its strand, the branch
// handlers, the cancellation slots, and the initiation that launches it. Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/group_branch.hpp>
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

} // namespace halt::detail

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
