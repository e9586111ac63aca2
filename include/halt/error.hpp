// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt's error codes.
//
//   enum class halt::errc { cancelled = 1, timed_out, shutdown, no_state, closed, result_taken };
//   const std::error_category& halt::error_category() noexcept;   // name() == "halt"
//   std::error_code halt::make_error_code(halt::errc) noexcept;
//
//   using halt::error_code   = std::error_code;     // boost::system::error_code on Boost.Asio
//   using halt::system_error = std::system_error;   // boost::system::system_error on Boost.Asio
//
// `halt::errc` values are std::error_code enums, so `ec == halt::errc::timed_out` works. They map
// to portable conditions: cancelled and shutdown compare equal to std::errc::operation_canceled,
// timed_out to std::errc::timed_out. Cancellation of an Asio operation itself is still reported
// with asio::error::operation_aborted, as Asio does; halt's codes describe *why* a token was
// cancelled (its reason).
//
// halt::error_code and halt::system_error are the error types of the Asio halt is built on
// (detail/asio.hpp): every completion signature of halt (void(halt::error_code), ...), every
// token reason and every exception halt throws for an error code use them, so that halt's
// operations compose with that Asio's (as_tuple, redirect_error, parallel_group, awaitable
// operators). On Boost.Asio (HALT_USE_BOOST_ASIO) they are Boost.System's: a
// boost::system::error_code carries halt's std::error_category as it is, `ec == halt::errc::x`
// and `ec == std::errc::operation_canceled` work there too, and a halt::system_error is not a
// std::system_error (catch halt::system_error, or std::runtime_error for both).

#include <halt/detail/asio.hpp>

#include <string>
#include <system_error>

namespace halt {

/// The error code type of halt's completion signatures and token reasons: Asio's
/// (std::error_code; boost::system::error_code on Boost.Asio).
using error_code = detail::asio_error_code;
/// The exception halt throws for an error code: Asio's (std::system_error;
/// boost::system::system_error on Boost.Asio).
using system_error = detail::asio_system_error;

/// Reasons and failures reported by halt.
enum class errc {
  cancelled = 1,  ///< A token was cancelled without a more specific reason (the default reason).
  timed_out,      ///< A deadline passed.
  shutdown,       ///< The program is shutting down.
  no_state,       ///< The object is empty (moved-from): it has no token or task behind it.
  closed,         ///< The container is closed and accepts no new work.
  result_taken,   ///< A join_handle was joined again after an earlier join took the task's result.
};

namespace detail {
class error_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override { return "halt"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
    case errc::cancelled: return "cancelled";
    case errc::timed_out: return "timed out";
    case errc::shutdown: return "shutting down";
    case errc::no_state: return "no state (empty or moved-from object)";
    case errc::closed: return "closed";
    case errc::result_taken: return "halt::join_handle: the result was already taken by an earlier join";
    }
    return "unknown halt error";
  }

  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<errc>(ev)) {
    case errc::cancelled:
    case errc::shutdown: return std::make_error_condition(std::errc::operation_canceled);
    case errc::timed_out: return std::make_error_condition(std::errc::timed_out);
    default: return {ev, *this};
    }
  }
};
} // namespace detail

/// The category of every `halt::errc` code. Its name() is "halt".
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl cat;
  return cat;
}

/// Makes a `std::error_code` in halt's category.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace halt

template <>
struct std::is_error_code_enum<halt::errc> : std::true_type {};
