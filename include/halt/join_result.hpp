// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// The outcome of a task, as a join reports it (join_handle, join_set, task_tracker, shutdown).
//
//   template <class T> class join_result;   // value | cancelled | exception
//   class join_error;                       // thrown by join_result::value()
//
// Thread safety: a join_result is a plain value (like std::variant): distinct objects may be used
// from distinct threads; one object must not be modified concurrently.

#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace halt {

/// Thrown by `join_result::value()` when the task did not produce a value.
class join_error : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

/// The outcome of a task: exactly one of a value, cancelled, or an exception that escaped it.
/// For `T = void` the value is empty (`value()` returns nothing).
template <class T>
class join_result {
  using stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

public:
  struct cancelled_t {};

  static join_result from_value(stored v) { return join_result(std::in_place_index<0>, std::move(v)); }
  static join_result cancelled() { return join_result(std::in_place_index<1>, cancelled_t{}); }
  static join_result from_exception(std::exception_ptr e) {
    return join_result(std::in_place_index<2>, std::move(e));
  }

  bool has_value() const noexcept { return v_.index() == 0; }
  bool is_cancelled() const noexcept { return v_.index() == 1; }
  bool is_exception() const noexcept { return v_.index() == 2; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value. \throws join_error if the task was cancelled or threw (what() says which).
  decltype(auto) value() & { return get(*this); }
  decltype(auto) value() const& { return get(*this); }
  decltype(auto) value() && { return get(std::move(*this)); }

  /// The exception that escaped the task. \throws join_error if there is none.
  std::exception_ptr exception() const {
    if (!is_exception()) throw join_error(describe("has no exception"));
    return std::get<2>(v_);
  }

  /// Rethrows the task's exception, throws join_error if cancelled, or returns the value.
  decltype(auto) get_or_throw() && {
    if (is_exception()) std::rethrow_exception(std::get<2>(v_));
    return std::move(*this).value();
  }

private:
  template <std::size_t I, class A>
  join_result(std::in_place_index_t<I> i, A&& a) : v_(i, std::forward<A>(a)) {}

  std::string describe(const char* what) const {
    const char* state = has_value() ? "a value" : is_cancelled() ? "cancelled" : "an exception";
    return std::string("halt::join_result ") + what + ": the task finished with " + state;
  }

  template <class Self>
  static decltype(auto) get(Self&& self) {
    if (!self.has_value()) {
      throw join_error(self.is_cancelled() ? "halt::join_result::value: the task was cancelled"
                                           : "halt::join_result::value: the task threw an exception");
    }
    if constexpr (std::is_void_v<T>)
      return;
    else
      return std::get<0>(std::forward<Self>(self).v_);
  }

  std::variant<stored, cancelled_t, std::exception_ptr> v_;
};

} // namespace halt
