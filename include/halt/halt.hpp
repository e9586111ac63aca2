// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// The whole of halt.
//
//   error.hpp               halt::errc, halt::error_category()
//   cancellation_token.hpp  cancellation_token, cancellation_registration, drop_guard, linked_token
//   bind_cancellation.hpp   bind_cancellation(token, completion_token)
//   stop_token.hpp          from_stop_token, stop_bridge

#include <halt/detail/config.hpp>

// Errors
#include <halt/error.hpp>

// Token tree
#include <halt/bind_cancellation.hpp>
#include <halt/cancellation_token.hpp>
#include <halt/stop_token.hpp>
