// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// serial_executor(ex): the executor that a task or a select group runs on. It must serialise
// what runs on it, so that abort() and a group's cancellations are race-free.
//
// On an io_context that Asio treats as single-threaded (concurrency hint 1, or a hint that turns
// off its locking) that executor is the io_context's own, without a strand: halt relies on the
// promise that one thread runs the context. Asio itself takes hint 1 as an optimisation only and
// lets two threads run such a context; halt's unsynchronised state would then race. With
// HALT_CHECK_SERIAL (config.hpp; on unless NDEBUG) every entry into halt's serial code on such an
// executor (a task's start and abort delivery, a group's launch, branch completions and outer
// cancels) is a serial_scope: it records the thread inside (an atomic thread id, plus a nesting
// depth that only that thread touches), and a second thread that enters while the first is
// still inside is reported by report_serial_violation. Running the context from different
// threads one after the other is fine and is not reported. The check sees two threads only when
// both are inside halt's code at once (which is when halt's state would race there); it is not
// a proof that a context is run by one thread.

#include <halt/detail/config.hpp>
#include <halt/detail/serial_check.hpp>
#include <halt/detail/service_memo.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <typeinfo>
#include <utility>

namespace halt::detail {

// io_context executors differ by their property bits (blocking.never, relationship.continuation,
// outstanding_work.tracked): 0 to 7.
template <unsigned Bits>
using io_executor_bits = asio::io_context::basic_executor_type<std::allocator<void>, Bits>;

// Calls f(concrete) if `ex` holds an io_context executor with any property bits; returns whether
// it did. (Asio 1.22's any_executor::target<T>() does not check the type: compare target_type().)
template <class F>
bool visit_io_executor(const asio::any_io_executor& ex, F&& f) {
#if !defined(HALT_ASIO_NO_TYPEID)
  return [&]<unsigned... B>(std::integer_sequence<unsigned, B...>) {
    return ((ex.target_type() == typeid(io_executor_bits<B>) &&
             (f(*ex.target<io_executor_bits<B>>()), true)) ||
            ...);
  }(std::make_integer_sequence<unsigned, 8>{});
#else
  (void)ex;
  (void)f;
  return false;
#endif
}

// True if `ex` is a strand: over an io_context executor, or over any_io_executor.
inline bool is_strand(const asio::any_io_executor& ex) {
#if !defined(HALT_ASIO_NO_TYPEID)
  if (ex.target_type() == typeid(asio::strand<asio::any_io_executor>)) return true;
  return [&]<unsigned... B>(std::integer_sequence<unsigned, B...>) {
    return ((ex.target_type() == typeid(asio::strand<io_executor_bits<B>>)) || ...);
  }(std::make_integer_sequence<unsigned, 8>{});
#else
  (void)ex;
  return false;
#endif
}

// True if the calling thread runs `ex` right now, for the serial executors that serial_executor
// returns (strands over an io_context executor or any_io_executor, io_context executors); false
// for any other executor.
inline bool running_in_this_thread(const asio::any_io_executor& ex) {
#if !defined(HALT_ASIO_NO_TYPEID)
  if (ex.target_type() == typeid(asio::strand<asio::any_io_executor>))
    return ex.target<asio::strand<asio::any_io_executor>>()->running_in_this_thread();
  bool here = false;
  if (visit_io_executor(ex, [&](const auto& io_ex) { here = io_ex.running_in_this_thread(); }))
    return here;
  [&]<unsigned... B>(std::integer_sequence<unsigned, B...>) {
    (void)((ex.target_type() == typeid(asio::strand<io_executor_bits<B>>) &&
            (here = ex.target<asio::strand<io_executor_bits<B>>>()->running_in_this_thread(), true)) ||
           ...);
  }(std::make_integer_sequence<unsigned, 8>{});
  return here;
#else
  (void)ex;
  return false;
#endif
}

// The executor a strand runs on, for the strands serial_executor makes; `ex` itself otherwise.
inline asio::any_io_executor without_strand(const asio::any_io_executor& ex) {
#if !defined(HALT_ASIO_NO_TYPEID)
  if (ex.target_type() == typeid(asio::strand<asio::any_io_executor>))
    return ex.target<asio::strand<asio::any_io_executor>>()->get_inner_executor();
  asio::any_io_executor inner = ex;
  [&]<unsigned... B>(std::integer_sequence<unsigned, B...>) {
    (void)((ex.target_type() == typeid(asio::strand<io_executor_bits<B>>) &&
            (inner = ex.target<asio::strand<io_executor_bits<B>>>()->get_inner_executor(), true)) ||
           ...);
  }(std::make_integer_sequence<unsigned, 8>{});
  return inner;
#else
  return ex;
#endif
}

// A strand over `ex`. Over an io_context's plain executor (io.get_executor(), what co_spawn and
// halt::spawn(io, ...) hand out) it is a strand of that concrete type: Asio 1.22 then keeps it
// inside any_io_executor's small buffer, where a strand<any_io_executor> allocates on every copy,
// post and property change. An io_context executor with property bits set (blocking.never,
// relationship.continuation, outstanding_work.tracked) gets the general strand, which keeps those
// properties: only the common case gets its own instantiation, because each one costs every
// program that spawns about a second of compile time.
inline asio::any_io_executor cheap_strand(const asio::any_io_executor& ex) {
#if !defined(HALT_ASIO_NO_TYPEID)
  if (ex.target_type() == typeid(io_executor_bits<0>))
    return asio::make_strand(*ex.target<io_executor_bits<0>>());
#endif
  return asio::make_strand(ex);
}

// True if Asio itself treats `ctx` as run by one thread: a concurrency hint of 1 (Asio's
// documented promise that one thread runs the context), or a hint that turns off the scheduler's
// or the reactor's locking. The same condition as Asio's own single-thread optimisations.
// Newer Asio publishes the hint (asio::config); older releases keep it in the io_context's
// implementation, where it is from 1.22 to 1.31 (guarded by HALT_ASIO_HAS_CONCURRENCY_HINT,
// detail/asio.hpp; tested on every Asio of the test matrix). Where neither is found no context
// counts as single-threaded: every task and group gets a strand, correct, only slower.
#if HALT_ASIO_HAS_CONCURRENCY_HINT && !HALT_ASIO_HAS_CONFIG
template <class Impl>
bool single_threaded_impl(const Impl& impl) {
  if constexpr (requires { impl.concurrency_hint(); }) {
    const int h = impl.concurrency_hint();
    return h == 1 || !HALT_ASIO_HINT_IS_LOCKING(SCHEDULER, h) ||
           !HALT_ASIO_HINT_IS_LOCKING(REACTOR_IO, h);
  } else {
    return false;
  }
}
#endif
#if HALT_ASIO_HAS_CONFIG
// The answer for one context, read from its configuration once, when the service is made (a
// context's configuration, and so its hint, cannot change after its construction): asio::config
// is a locked service lookup and a string parse.
class single_thread_service final : public memoised_service<single_thread_service> {
public:
  static inline asio::execution_context::id id;
  explicit single_thread_service(asio::execution_context& ctx)
      : memoised_service<single_thread_service>(ctx),
        // Public API: the value Asio's own scheduler decides by ("1" also for the hints that
        // turn off its locking).
        value_(asio::config(ctx).get("scheduler", "concurrency_hint", 0) == 1) {}
  bool value() const noexcept { return value_; }

private:
  void shutdown() override {}
  const bool value_;
};
#endif

inline bool single_threaded([[maybe_unused]] asio::io_context& ctx) {
#if HALT_ASIO_HAS_CONFIG
  // Called on every spawn and group start: no lock and no parsing when this thread asked about
  // the same context last (service_memo.hpp).
  return use_service_memo<single_thread_service>(ctx).value();
#elif HALT_ASIO_HAS_CONCURRENCY_HINT
  return single_threaded_impl(asio::use_service<asio::detail::io_context_impl>(ctx)); // no lookup
#else
  return false;
#endif
}

// True if everything that runs on `ex` is already serialised, and a caller running on `ex` is
// inside that serialisation right now: a strand, or the executor of a single-threaded io_context.
inline bool is_serial(const asio::any_io_executor& ex) {
  // An io_context's executor first: the common case (io.get_executor()) then matches at the
  // first type compare, where every mismatch costs a string compare with g++.
  bool serial = false;
  if (visit_io_executor(ex, [&](const auto& io_ex) { serial = single_threaded(io_ex.context()); }))
    return serial;
  return is_strand(ex);
}

// The executor a task or group runs on: `ex` itself if it is serial (see is_serial), otherwise
// a strand of its own over `ex`.
inline asio::any_io_executor serial_executor(const asio::any_io_executor& ex) {
  return is_serial(ex) ? ex : cheap_strand(ex);
}

// The check for something that runs on `ex` (a serial_executor result). May throw
// std::bad_alloc (the service's creation, once per context).
inline serial_check serial_check_for([[maybe_unused]] const asio::any_io_executor& ex) {
  serial_check c;
#if HALT_CHECK_SERIAL
  visit_io_executor(ex, [&](const auto& io_ex) {
    if (single_threaded(io_ex.context()))
      c.svc = &asio::use_service<serial_check_service>(io_ex.context());
  });
#endif
  return c;
}

} // namespace halt::detail
