// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// halt::use_task: the completion token that makes an Asio asynchronous operation awaitable
// inside a halt::task (task.hpp), as asio::use_awaitable does inside an asio::awaitable.
//
//   struct use_task_t { constexpr use_task_t() noexcept; };
//   inline constexpr use_task_t use_task;
//
//   co_await op(args..., halt::use_task)                       // inside a halt::task
//   co_await op(args..., halt::as_tuple(halt::use_task))       // (halt/asio.hpp: as_tuple of
//   co_await op(args..., asio::redirect_error(halt::use_task, ec))   //  this Asio release)
//
// The value of the co_await is the completion's arguments without a leading halt::error_code
// (or std::exception_ptr): none -> void, one -> that value, several -> std::tuple. A non-zero
// error code is thrown as halt::system_error, an exception_ptr is rethrown. The handler carries
// the task's executor, the cancellation slot of the task's chain (a drop cancels the operation)
// and asio::recycling_allocator. An operation with several completion signatures cannot be
// awaited this way (a static_assert says so). Outside a halt::task the token is unusable: the
// operation's initiation is a halt::task awaiter (detail/task_op.hpp), which only a task's
// co_await can run.
//
// Thread safety: a constant; the operation belongs to the awaiting task's executor.

#include <halt/detail/config.hpp>

namespace halt {

/// The completion token that makes an Asio asynchronous operation awaitable inside a halt::task:
/// `co_await op(args..., halt::use_task)` (task.hpp).
struct use_task_t {
  constexpr use_task_t() noexcept = default;
};
inline constexpr use_task_t use_task{};

} // namespace halt
