// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// The Asio completion tokens whose home moved between Asio releases, under one name.
//
//   namespace halt {
//   inline constexpr auto deferred = asio::deferred;   // asio::experimental::deferred before 1.24
//   auto as_tuple(token);                               // asio::as_tuple (experimental before 1.24)
//   }
//
// halt supports standalone Asio 1.22 to 1.38. From 1.24 on, `deferred` and `as_tuple` live in
// namespace asio; before, in asio::experimental (and asio/experimental/deferred.hpp is gone in
// newer releases). Code that must build on both writes halt::deferred and halt::as_tuple; code for
// one Asio can use Asio's own names, which are the same objects.
//
// HALT_ASIO_VERSION (= ASIO_VERSION) and HALT_ASIO_TOKENS_IN_ASIO come from detail/asio.hpp.
// Thread safety: these are Asio's tokens; nothing here has state.

#include <halt/detail/asio.hpp>

#if !defined(HALT_ASIO_TOKENS_IN_ASIO) // an Asio too old (detail/config.hpp says so)
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
using ::asio::as_tuple;
using ::asio::deferred;
#else
using ::asio::experimental::as_tuple;
using ::asio::experimental::deferred;
#endif
} // namespace halt
