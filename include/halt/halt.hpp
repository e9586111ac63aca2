// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// The whole of halt.
//
//   error.hpp               halt::errc, halt::error_category()
//   cancellation_token.hpp  cancellation_token, cancellation_registration, drop_guard, linked_token
//   cancellation_registration.hpp  cancellation_registration (also through cancellation_token.hpp)
//   bind_cancellation.hpp   bind_cancellation(token, completion_token)
//   stop_token.hpp          from_stop_token, stop_bridge
//   task.hpp                task<T> (a coroutine cancelled by being dropped)
//   use_task.hpp            use_task (also through task.hpp)
//   dual_awaitable.hpp      dual_awaitable, join_awaitable (what halt's waits return)
//   join_handle.hpp         spawn, join_handle, join_result, abort_handle, scoped_task
//   join_result.hpp         join_result, join_error (also through join_handle.hpp)
//   join_set.hpp            join_set
//   task_tracker.hpp        task_tracker
//   spawn_blocking.hpp      spawn_blocking
//   select.hpp              select, run_until_cancelled, fair, biased
//   join.hpp                join, try_join
//   timeout.hpp             timeout, timeout_at
//   async_select.hpp        async_select, async_join, async_try_join, async_timeout[_at]
//                           (the combinators started with a completion token)
//   shield.hpp              shield, finally
//   scope_guard.hpp         scope_exit, scope_fail, scope_success
//   shutdown.hpp            shutdown
//   shutdown_report.hpp     shutdown_options, on_shutdown, shutdown_report (also through shutdown.hpp)

#include <halt/detail/config.hpp>

// Errors
#include <halt/asio.hpp>
#include <halt/error.hpp>

// Token tree
#include <halt/bind_cancellation.hpp>
#include <halt/cancellation_registration.hpp>
#include <halt/cancellation_token.hpp>
#include <halt/stop_token.hpp>

// Tasks
#include <halt/task.hpp>
#include <halt/use_task.hpp>
#include <halt/dual_awaitable.hpp>
#include <halt/join_handle.hpp>
#include <halt/join_result.hpp>
#include <halt/join_set.hpp>
#include <halt/spawn_blocking.hpp>
#include <halt/task_tracker.hpp>

// Select, timeouts and cleanup
#include <halt/join.hpp>
#include <halt/scope_guard.hpp>
#include <halt/select.hpp>
#include <halt/sleep.hpp>
#include <halt/shield.hpp>
#include <halt/timeout.hpp>
#include <halt/async_select.hpp>

// Production shutdown
#include <halt/shutdown.hpp>
#include <halt/shutdown_report.hpp>
