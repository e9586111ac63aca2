// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// cheap_strand(ex): the strand that tasks and select groups run on.

#include <halt/detail/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <typeinfo>

namespace halt::detail {

// A strand over `ex`. Over an io_context's executor it is a strand of that concrete type: Asio
// 1.22 then keeps it inside any_io_executor's small buffer, where a strand<any_io_executor>
// allocates on every copy, post and property change.
inline asio::any_io_executor cheap_strand(const asio::any_io_executor& ex) {
#if !defined(ASIO_NO_TYPEID)
  if (ex.target_type() == typeid(asio::io_context::executor_type))
    return asio::make_strand(*ex.target<asio::io_context::executor_type>());
#endif
  return asio::make_strand(ex);
}

} // namespace halt::detail
