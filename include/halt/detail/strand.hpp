// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// serial_executor(ex): the executor that a task or a select group runs on. It must serialise
// what runs on it, so that abort() and a group's cancellations are race-free.

#include <halt/detail/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/detail/concurrency_hint.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <memory>
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
#if !defined(ASIO_NO_TYPEID)
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
#if !defined(ASIO_NO_TYPEID)
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
#if !defined(ASIO_NO_TYPEID)
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

// A strand over `ex`. Over an io_context's executor it is a strand of that concrete type: Asio
// 1.22 then keeps it inside any_io_executor's small buffer, where a strand<any_io_executor>
// allocates on every copy, post and property change.
inline asio::any_io_executor cheap_strand(const asio::any_io_executor& ex) {
  asio::any_io_executor result;
  if (visit_io_executor(ex, [&](const auto& io_ex) { result = asio::make_strand(io_ex); }))
    return result;
  return asio::make_strand(ex);
}

// True if Asio itself treats `ctx` as run by one thread: a concurrency hint of 1 (Asio's
// documented promise that one thread runs the context), or a hint that turns off the scheduler's
// or the reactor's locking. The same condition as Asio's own single-thread optimisations.
template <class Impl>
bool single_threaded_impl(const Impl& impl) {
  if constexpr (requires { impl.concurrency_hint(); }) {
    const int h = impl.concurrency_hint();
    return h == 1 || !ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, h) ||
           !ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_IO, h);
  } else {
    return false;
  }
}
inline bool single_threaded(asio::io_context& ctx) {
  return single_threaded_impl(asio::use_service<asio::detail::io_context_impl>(ctx)); // no lookup
}

// True if everything that runs on `ex` is already serialised, and a caller running on `ex` is
// inside that serialisation right now: a strand, or the executor of a single-threaded io_context.
inline bool is_serial(const asio::any_io_executor& ex) {
  if (is_strand(ex)) return true;
  bool serial = false;
  visit_io_executor(ex, [&](const auto& io_ex) { serial = single_threaded(io_ex.context()); });
  return serial;
}

// The executor a task or group runs on: `ex` itself if it is serial (see is_serial), otherwise
// a strand of its own over `ex`.
inline asio::any_io_executor serial_executor(const asio::any_io_executor& ex) {
  return is_serial(ex) ? ex : cheap_strand(ex);
}

} // namespace halt::detail
