// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// cheap_strand(ex): the strand that tasks and select groups run on.

#include <halt/detail/config.hpp>

#include <asio/any_io_executor.hpp>
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

// A strand over `ex`. Over an io_context's executor it is a strand of that concrete type: Asio
// 1.22 then keeps it inside any_io_executor's small buffer, where a strand<any_io_executor>
// allocates on every copy, post and property change.
inline asio::any_io_executor cheap_strand(const asio::any_io_executor& ex) {
  asio::any_io_executor result;
  if (visit_io_executor(ex, [&](const auto& io_ex) { result = asio::make_strand(io_ex); }))
    return result;
  return asio::make_strand(ex);
}

} // namespace halt::detail
