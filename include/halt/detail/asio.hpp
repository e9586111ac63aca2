// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The one place where halt reaches Asio. Unstable internals.
//
// Every halt header includes this file for the Asio it uses, and no other Asio header. It picks
// the backend (detail/config.hpp): standalone Asio, or Boost.Asio where HALT_USE_BOOST_ASIO is
// defined. Either way halt's code names it `halt::asio` (a namespace alias for ::asio or
// ::boost::asio; public, so that code written for both can use it too), and its error types
// detail::asio_error_code and detail::asio_system_error (published as halt::error_code and
// halt::system_error by <halt/error.hpp>). What depends on the release is decided here:
//
//   HALT_ASIO_BOOST                1 on Boost.Asio, 0 on standalone Asio
//   HALT_ASIO_VERSION              ASIO_VERSION or BOOST_ASIO_VERSION (1.22.1 is 102201; Boost
//                                  1.81 has 102600)
//   HALT_ASIO_TOKENS_IN_ASIO       1 from Asio 1.24 on (every supported Boost): deferred and
//                                  as_tuple are asio::deferred and asio::as_tuple (<halt/asio.hpp>
//                                  gives halt::deferred and halt::as_tuple for both); 0 before:
//                                  asio::experimental::...
//   HALT_ASIO_NO_TYPEID            defined where Asio is built without typeid
//   HALT_ASIO_HAS_IMMEDIATE_EXECUTOR 1 where Asio has associated_immediate_executor (1.28 on,
//                                  Boost 1.82 on)
//   HALT_ASIO_HAS_CONFIG           1 where the concurrency hint is public (asio::config, newer
//                                  Asio); detail/strand.hpp reads it there
//   HALT_ASIO_HAS_CONCURRENCY_HINT 1 where the io_context's implementation tells its concurrency
//                                  hint (asio::detail, guarded here; used where there is no
//                                  config), with HALT_ASIO_HINT_IS_LOCKING(facility, hint)
//
// Supported: standalone Asio 1.22 to 1.38 (tested: 1.22.1, 1.28.0, 1.38.2) and Boost.Asio from
// Boost 1.80 (tested: 1.81). Older: #error naming the version found (detail/config.hpp), as for
// the headers of the other backend included in the same translation unit.

#include <halt/detail/config.hpp>

#if defined(HALT_USE_BOOST_ASIO)
#if BOOST_VERSION >= 108000 // else config.hpp has said why not
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#if __has_include(<boost/asio/associated_immediate_executor.hpp>)
#include <boost/asio/associated_immediate_executor.hpp>
#endif
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_context.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

namespace halt {
namespace asio = ::boost::asio;
namespace detail {
using asio_error_code = ::boost::system::error_code;
using asio_system_error = ::boost::system::system_error;
} // namespace detail
} // namespace halt

#define HALT_ASIO_BOOST 1
#define HALT_ASIO_VERSION BOOST_ASIO_VERSION
#define HALT_ASIO_TOKENS_IN_ASIO 1
#if __has_include(<boost/asio/associated_immediate_executor.hpp>)
#define HALT_ASIO_HAS_IMMEDIATE_EXECUTOR 1
#else
#define HALT_ASIO_HAS_IMMEDIATE_EXECUTOR 0
#endif
#if defined(BOOST_ASIO_NO_TYPEID)
#define HALT_ASIO_NO_TYPEID 1
#endif
#if BOOST_ASIO_VERSION >= 103000 && __has_include(<boost/asio/config.hpp>)
#include <boost/asio/config.hpp>
#define HALT_ASIO_HAS_CONFIG 1
#else
#define HALT_ASIO_HAS_CONFIG 0
#endif
#if BOOST_ASIO_VERSION <= 103899 && __has_include(<boost/asio/detail/concurrency_hint.hpp>)
#include <boost/asio/detail/concurrency_hint.hpp>
#define HALT_ASIO_HAS_CONCURRENCY_HINT 1
#define HALT_ASIO_HINT_IS_LOCKING(facility, hint) BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(facility, hint)
#else
#define HALT_ASIO_HAS_CONCURRENCY_HINT 0
#endif
#endif // BOOST_VERSION >= 108000

#else // standalone Asio
#if ASIO_VERSION >= 102200 // else config.hpp has said why not: no cascade of missing headers
#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#if __has_include(<asio/associated_immediate_executor.hpp>)
#include <asio/associated_immediate_executor.hpp>
#endif
#include <asio/associator.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/execution.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/is_executor.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/query.hpp>
#include <asio/recycling_allocator.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/system_context.hpp>
#include <asio/system_executor.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <system_error>

namespace halt {
namespace asio = ::asio;
namespace detail {
using asio_error_code = std::error_code;
using asio_system_error = std::system_error;
} // namespace detail
} // namespace halt

#define HALT_ASIO_BOOST 0
#define HALT_ASIO_VERSION ASIO_VERSION
#if defined(ASIO_NO_TYPEID)
#define HALT_ASIO_NO_TYPEID 1
#endif

#if ASIO_VERSION >= 102400
#define HALT_ASIO_TOKENS_IN_ASIO 1
#else
#define HALT_ASIO_TOKENS_IN_ASIO 0
#endif

// The immediate executor (asio::associated_immediate_executor, asio::bind_immediate_executor):
// from Asio 1.28 (Boost 1.82).
#if __has_include(<asio/associated_immediate_executor.hpp>)
#define HALT_ASIO_HAS_IMMEDIATE_EXECUTOR 1
#else
#define HALT_ASIO_HAS_IMMEDIATE_EXECUTOR 0
#endif

// Newer Asio publishes an execution context's concurrency hint in its configuration
// (asio/config.hpp: config(ctx).get("scheduler", "concurrency_hint", 0)); detail/strand.hpp
// reads it there. Older releases keep it in the io_context's scheduler (below).
#if ASIO_VERSION >= 103000 && __has_include(<asio/config.hpp>)
#include <asio/config.hpp>
#define HALT_ASIO_HAS_CONFIG 1
#else
#define HALT_ASIO_HAS_CONFIG 0
#endif

// The io_context's scheduler and its concurrency hint (asio/detail/concurrency_hint.hpp) are not
// public API. They have the same shape in every release from 1.22 to 1.38; a newer release that
// changes them makes halt fall back to "not known to be single-threaded" (a strand per task).
#if ASIO_VERSION <= 103899 && __has_include(<asio/detail/concurrency_hint.hpp>)
#include <asio/detail/concurrency_hint.hpp>
#define HALT_ASIO_HAS_CONCURRENCY_HINT 1
#define HALT_ASIO_HINT_IS_LOCKING(facility, hint) ASIO_CONCURRENCY_HINT_IS_LOCKING(facility, hint)
#else
#define HALT_ASIO_HAS_CONCURRENCY_HINT 0
#endif
#endif // ASIO_VERSION >= 102200
#endif // HALT_USE_BOOST_ASIO
