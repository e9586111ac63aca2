// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/error.hpp>

#include "support/catch.hpp"

#include <string>
#include <system_error>

TEST_CASE("halt::errc codes live in the halt category", "[error]") {
  std::error_code ec = halt::errc::timed_out;
  CHECK(ec.category() == halt::error_category());
  CHECK(std::string(ec.category().name()) == "halt");
  CHECK(ec.message() == "timed out");
  CHECK(ec == halt::errc::timed_out);
  CHECK(ec != halt::errc::cancelled);
  CHECK(halt::make_error_code(halt::errc::no_state).message().find("moved-from") != std::string::npos);
  CHECK(halt::make_error_code(halt::errc::closed).message() == "closed");
  CHECK(halt::make_error_code(halt::errc::shutdown).message() == "shutting down");
  CHECK(halt::make_error_code(halt::errc::result_taken).message() ==
        "halt::join_handle: the result was already taken by an earlier join");
  CHECK(halt::make_error_code(halt::errc::result_taken) != halt::errc::no_state);
}

TEST_CASE("halt::errc maps onto portable error conditions", "[error]") {
  CHECK(halt::make_error_code(halt::errc::cancelled) == std::errc::operation_canceled);
  CHECK(halt::make_error_code(halt::errc::shutdown) == std::errc::operation_canceled);
  CHECK(halt::make_error_code(halt::errc::timed_out) == std::errc::timed_out);
  CHECK(halt::make_error_code(halt::errc::no_state) != std::errc::operation_canceled);
  CHECK(halt::make_error_code(halt::errc::result_taken) != std::errc::operation_canceled);
  CHECK_FALSE(std::error_code(halt::errc::timed_out) == std::error_code(std::make_error_code(std::errc::timed_out)));
}

TEST_CASE("halt::error_code (Boost.System's on Boost.Asio) carries halt's codes", "[error]") {
  const halt::error_code ec = halt::errc::timed_out;
  CHECK(ec);
  CHECK(ec == halt::errc::timed_out);
  CHECK(ec != halt::errc::cancelled);
  CHECK(ec == std::errc::timed_out);
  CHECK(ec.message() == "timed out");
  // Back to a std::error_code, it is in halt's category again (boost::system::error_code wraps a
  // std::error_code whose category is not Boost's, and reports a stand-in category meanwhile).
  const std::error_code back = ec;
  CHECK(back.category() == halt::error_category());
  CHECK(back == halt::errc::timed_out);
  const halt::system_error e(ec, "where");
  CHECK(e.code() == halt::errc::timed_out);
  CHECK(std::string(e.what()).find("timed out") != std::string::npos);
}
