// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// Configuration that must be seen before any Asio header.
//
// Every halt header includes this file first. It checks the Asio release and makes Asio's
// coroutine support visible to clang on Asio releases older than 1.26, which detect clang's
// coroutines only through <experimental/coroutine>. Include a halt header before any Asio header
// (or pass -DASIO_HAS_CO_AWAIT=1, -DBOOST_ASIO_HAS_CO_AWAIT=1 yourself) so that it takes effect.

// Two backends: standalone Asio (the default: <asio/...>, namespace asio) or Boost.Asio (define
// HALT_USE_BOOST_ASIO in every translation unit, or configure CMake with -DHALT_BOOST_ASIO=ON:
// <boost/asio/...>, namespace boost::asio, boost::system::error_code). One program uses one of
// them; halt's code names the one it uses `halt::asio` (detail/asio.hpp).
#define HALT_DETAIL_STR2(x) #x
#define HALT_DETAIL_STR(x) HALT_DETAIL_STR2(x)

#if defined(HALT_USE_BOOST_ASIO)

#if defined(ASIO_VERSION) && !defined(HALT_ALLOW_STANDALONE_ASIO_HEADERS)
#error "halt: standalone Asio headers (<asio/...>) were included before halt's in a translation unit that uses halt on Boost.Asio (HALT_USE_BOOST_ASIO). If you use both on purpose, define HALT_ALLOW_STANDALONE_ASIO_HEADERS."
#endif

#include <boost/version.hpp>
#include <boost/asio/version.hpp>

#if BOOST_VERSION < 108000
#pragma message("halt on Boost.Asio requires Boost 1.80 or newer (BOOST_VERSION 108000); this one is BOOST_VERSION " HALT_DETAIL_STR(BOOST_VERSION))
#error "halt requires Boost 1.80 or newer (see the message above for the version found)"
#endif

#if defined(__clang__) && BOOST_ASIO_VERSION < 102600 && !defined(BOOST_ASIO_HAS_CO_AWAIT) && \
    defined(__cpp_impl_coroutine)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif

#else // standalone Asio

#if defined(BOOST_ASIO_VERSION) && !defined(HALT_ALLOW_BOOST_ASIO_HEADERS)
#error "halt: Boost.Asio headers were included before halt's in this translation unit, and halt is configured for standalone Asio (<asio/...>, namespace asio). To use halt on Boost.Asio, define HALT_USE_BOOST_ASIO (CMake: -DHALT_BOOST_ASIO=ON). If you use both on purpose (say Boost.Beast beside halt on standalone Asio), define HALT_ALLOW_BOOST_ASIO_HEADERS."
#endif

#include <asio/version.hpp>

#if ASIO_VERSION < 102200
// The message first (a preprocessor diagnostic, before any header that this Asio lacks stops
// the compiler), then the error.
#pragma message("halt requires standalone Asio 1.22 or newer (ASIO_VERSION 102200); this one is ASIO_VERSION " HALT_DETAIL_STR(ASIO_VERSION))
#error "halt requires standalone Asio 1.22 or newer (see the message above for the version found)"
#endif

#if defined(__clang__) && ASIO_VERSION < 102600 && !defined(ASIO_HAS_CO_AWAIT) && \
    defined(__cpp_impl_coroutine)
#define ASIO_HAS_CO_AWAIT 1
#endif

#endif // HALT_USE_BOOST_ASIO

/// HALT_ASSERT(cond): internal invariant check. Defaults to assert(); define it before including
/// halt to route invariant failures elsewhere.
#ifndef HALT_ASSERT
#include <cassert>
#define HALT_ASSERT(cond) assert(cond)
#endif

/// HALT_CHECK_SERIAL: 1 turns on a run-time check that an io_context which halt treats as run by
/// one thread (concurrency hint 1, or a hint that turns off Asio's locking: halt then runs tasks
/// and select groups on its executor without a strand) is not run by two threads at once. Two
/// threads found inside halt's code on such a context at the same time are reported through
/// detail::report_serial_violation (by default: a message on stderr, then std::abort()). Defaults
/// to 1 unless NDEBUG is defined; 0 compiles the check out (what is left is one null pointer per
/// task and per select group, so that translation units built either way agree on the layout).
#ifndef HALT_CHECK_SERIAL
#ifdef NDEBUG
#define HALT_CHECK_SERIAL 0
#else
#define HALT_CHECK_SERIAL 1
#endif
#endif

namespace halt::detail {
// How many halt::task chains this thread is destroying without resuming them (a drop, or an
// abandon when the execution context goes away): the destructors that run meanwhile belong to
// a scope that did not complete, which scope_fail/scope_success treat like an exception.
inline thread_local int frames_dropping = 0;
} // namespace halt::detail
