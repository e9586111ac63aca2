// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#include <halt/error.hpp>

#include "support/catch.hpp"

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
