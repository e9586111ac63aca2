// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Where an exception that escaped a detached task goes (join_handle.hpp has the public
// set_detached_exception_handler). Unstable internals.
//
// The handler lives in a process-wide slot (never destroyed: a task may finish during static
// destruction), read under its mutex and called outside it: exactly one of a task's finish()
// and its handle's detach() hands a detached task's exception to report_detached_exception.

#include <halt/detail/config.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace halt::detail {

struct detached_handler_slot {
  std::mutex m;
  std::shared_ptr<const std::function<void(std::exception_ptr)>> h; // empty: the default
};
// Never destroyed: a task may finish during static destruction.
inline detached_handler_slot& detached_slot() noexcept {
  static detached_handler_slot* s = new detached_handler_slot;
  return *s;
}

// The default: one line on stderr, as Tokio's panic hook does for a detached task.
inline void default_detached_handler(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "halt: a detached task ended with an exception: %s\n", x.what());
  } catch (...) {
    std::fprintf(stderr, "halt: a detached task ended with an exception not derived from std::exception\n");
  }
}

// Hands an orphaned exception to the handler. A handler that throws terminates the program.
inline void report_detached_exception(std::exception_ptr e) noexcept {
  std::shared_ptr<const std::function<void(std::exception_ptr)>> h;
  {
    auto& s = detached_slot();
    std::lock_guard<std::mutex> g(s.m);
    h = s.h;
  }
  if (h)
    (*h)(std::move(e));
  else
    default_detached_handler(e);
}

} // namespace halt::detail
