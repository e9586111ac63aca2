// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The one place where halt reaches Asio. Unstable internals.
//
// Every halt header includes this file for the Asio it uses, and no other Asio header. What
// depends on the Asio release is decided here, by version:
//
//   HALT_ASIO_VERSION              ASIO_VERSION (1.22.1 is 102201)
//   HALT_ASIO_TOKENS_IN_ASIO       1 from Asio 1.24 on: deferred and as_tuple are asio::deferred
//                                  and asio::as_tuple (<halt/asio.hpp> gives halt::deferred and
//                                  halt::as_tuple for both); 0 before: asio::experimental::...
//   HALT_ASIO_HAS_CONFIG           1 where the concurrency hint is public (asio::config, newer
//                                  Asio); detail/strand.hpp reads it there
//   HALT_ASIO_HAS_CONCURRENCY_HINT 1 where the io_context's implementation tells its concurrency
//                                  hint (asio::detail, guarded here; used where there is no config)
//
// Supported: standalone Asio 1.22 to 1.38 (tested: 1.22.1, 1.28.0, 1.38.2). Older: a
// static_assert naming the version found (detail/config.hpp). Boost.Asio headers included before
// a halt header in the same translation unit: #error (halt uses standalone Asio).

#include <halt/detail/config.hpp>

#if ASIO_VERSION >= 102200 // else config.hpp has said why not: no cascade of missing headers
#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
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

#define HALT_ASIO_VERSION ASIO_VERSION

#if ASIO_VERSION >= 102400
#define HALT_ASIO_TOKENS_IN_ASIO 1
#else
#define HALT_ASIO_TOKENS_IN_ASIO 0
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
#if ASIO_VERSION >= 102200 && ASIO_VERSION <= 103899 && __has_include(<asio/detail/concurrency_hint.hpp>)
#include <asio/detail/concurrency_hint.hpp>
#define HALT_ASIO_HAS_CONCURRENCY_HINT 1
#else
#define HALT_ASIO_HAS_CONCURRENCY_HINT 0
#endif
#endif // ASIO_VERSION >= 102200
