// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// The Asio completion tokens whose home moved between Asio releases, under one name.
//
//   namespace halt {
//   namespace asio = ::asio;                            // ::boost::asio on Boost.Asio
//   inline constexpr auto deferred = asio::deferred;   // asio::experimental::deferred before 1.24
//   auto as_tuple(token);                               // asio::as_tuple (experimental before 1.24)
//   using error_code = ...; using system_error = ...;   // <halt/error.hpp>: Asio's error types
//   }
//
// halt supports standalone Asio 1.22 to 1.38 and Boost.Asio from Boost 1.80 (HALT_USE_BOOST_ASIO;
// there deferred and as_tuple are always boost::asio's). halt::asio names the Asio namespace
// halt is built on, so code meant for both backends can write halt::asio::steady_timer. From
// 1.24 on, `deferred` and `as_tuple` live in namespace asio; before, in asio::experimental (and
// asio/experimental/deferred.hpp is gone in newer releases). Code that must build on both writes
// halt::deferred and halt::as_tuple; code for one Asio can use Asio's own names, which are the
// same objects.
//
// HALT_ASIO_BOOST, HALT_ASIO_VERSION (ASIO_VERSION or BOOST_ASIO_VERSION) and
// HALT_ASIO_TOKENS_IN_ASIO come from detail/asio.hpp.
// Thread safety: these are Asio's tokens; nothing here has state.

#include <halt/detail/asio.hpp>
#include <halt/error.hpp>

#if !defined(HALT_ASIO_TOKENS_IN_ASIO) // an Asio too old (detail/config.hpp says so)
#elif HALT_ASIO_BOOST
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#elif HALT_ASIO_TOKENS_IN_ASIO
#include <asio/as_tuple.hpp>
#include <asio/deferred.hpp>
#else
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#endif

namespace halt {
#if !defined(HALT_ASIO_TOKENS_IN_ASIO)
#elif HALT_ASIO_TOKENS_IN_ASIO
using asio::as_tuple; // halt::asio: ::asio or ::boost::asio (detail/asio.hpp)
using asio::deferred;
#else
using asio::experimental::as_tuple;
using asio::experimental::deferred;
#endif
} // namespace halt
