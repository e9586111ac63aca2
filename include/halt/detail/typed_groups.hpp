// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The typed groups of halt::task branches on the engine of task_group.hpp (a fixed set of tasks,
// a range of tasks, a task with its cleanup) and the tasks that select, join, shield and finally
// return. Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/task_group.hpp>
#include <halt/error.hpp>
#include <halt/task.hpp>

#include <array>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

// ---- typed groups ----------------------------------------------------------------------------
namespace halt::detail::tsk {

template <class T>
using value_or_mono = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
value_or_mono<T> take_value(branch_root& b) {
  if constexpr (std::is_void_v<T>) {
    return {};
  } else {
    auto h = std::coroutine_handle<promise<T>>::from_address(b.frame_.address());
    return std::move(*h.promise().value_);
  }
}

template <class... T>
void require_valid(const task<T>&... ts) {
  if (!(task_access::valid(ts) && ...))
    throw halt::system_error(make_error_code(errc::no_state), "halt: a branch is an empty halt::task");
}

// A fixed set of branches of types task<T>...: select keeps the winner, join every value.
template <group_base::kind K, class... T>
class fixed_group final : public group_base {
  static constexpr std::size_t N = sizeof...(T);

public:
  fixed_group(std::size_t first, task<T>&... ts) noexcept : group_base(K, first) {
    link(roots_.data(), N);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (adopt(I, task_access::release(ts)), ...);
    }(std::make_index_sequence<N>{});
  }


  std::variant<value_or_mono<T>...> winner() {
    if (error_) std::rethrow_exception(error_);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::optional<std::variant<value_or_mono<T>...>> out;
      ((winner_ == I ? (void)out.emplace(std::in_place_index<I>, std::move(*std::get<I>(vals_)))
                     : void()),
       ...);
      return std::move(*out);
    }(std::make_index_sequence<N>{});
  }

  std::tuple<value_or_mono<T>...> all() {
    if (error_) std::rethrow_exception(error_);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::tuple<value_or_mono<T>...>(std::move(*std::get<I>(vals_))...);
    }(std::make_index_sequence<N>{});
  }

private:
  void store(std::size_t i) override {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((i == I ? (void)std::get<I>(vals_).emplace(take_value<T>(roots_[I])) : void()), ...);
    }(std::make_index_sequence<N>{});
  }

  std::array<branch_root, N> roots_;
  std::tuple<std::optional<value_or_mono<T>>...> vals_;
};

// A range of branches of one type (select over a vector).
template <class T>
class range_group final : public group_base {
public:
  range_group(std::size_t first, std::unique_ptr<branch_root[]> roots, std::vector<task<T>>& ts) noexcept
      : group_base(kind::select, first), roots_(std::move(roots)) {
    link(roots_.get(), ts.size());
    for (std::size_t i = 0; i < ts.size(); ++i) adopt(i, task_access::release(ts[i]));
  }


  std::pair<std::size_t, value_or_mono<T>> winner() {
    if (error_) std::rethrow_exception(error_);
    return {winner_, std::move(*val_)};
  }

private:
  void store(std::size_t i) override { val_.emplace(take_value<T>(roots_[i])); }

  std::unique_ptr<branch_root[]> roots_;
  std::optional<value_or_mono<T>> val_;
};

// finally(work, cleanup): the work's value, and the cleanup created once the work has ended.
template <class T, class F>
class finally_group final : public group_base {
public:
  finally_group(task<T>& work, F& cleanup) noexcept : group_base(kind::finally, 0), cleanup_(&cleanup) {
    link(roots_.data(), 2);
    adopt(0, task_access::release(work));
  }

  value_or_mono<T> result() {
    if (error_) std::rethrow_exception(error_);
    return std::move(*val_);
  }
  const std::exception_ptr& cleanup_error() const noexcept { return cleanup_error_; }

private:
  void store(std::size_t i) override {
    if (i == 0) val_.emplace(take_value<T>(roots_[0]));
  }
  void after_work() override {
    task<void> c = (*cleanup_)();
    if (!task_access::valid(c))
      throw halt::system_error(make_error_code(errc::no_state), "halt::finally: cleanup() returned an empty task");
    adopt(1, task_access::release(c));
  }

  std::array<branch_root, 2> roots_;
  F* cleanup_;
  std::optional<value_or_mono<T>> val_;
};

template <class... T>
task<std::variant<value_or_mono<T>...>> select_tasks(bool fair, task<T>... ts) {
  require_valid(ts...);
  fixed_group<group_base::kind::select, T...> g(fair ? random_start(sizeof...(T)) : 0, ts...);
  co_await g;
  co_return g.winner();
}

template <class T>
task<std::pair<std::size_t, value_or_mono<T>>> select_range(bool fair, std::vector<task<T>> ts) {
  if (ts.empty()) throw std::invalid_argument("halt::select: empty range");
  for (auto& t : ts) require_valid(t);
  range_group<T> g(fair ? random_start(ts.size()) : 0,
                   std::unique_ptr<branch_root[]>(new branch_root[ts.size()]), ts);
  co_await g;
  co_return g.winner();
}

template <class T>
task<T> shield_task(task<T> t) {
  require_valid(t);
  fixed_group<group_base::kind::shield, T> g(0, t);
  co_await g;
  auto v = g.winner();
  if constexpr (!std::is_void_v<T>) co_return std::move(std::get<0>(v));
}

template <class T, class F, class E>
task<T> finally_task(task<T> work, F cleanup, E on_cleanup_error) {
  require_valid(work);
  finally_group<T, F> g(work, cleanup);
  co_await g;
  if (g.cleanup_error()) on_cleanup_error(g.cleanup_error());
  if constexpr (std::is_void_v<T>)
    g.result();
  else
    co_return g.result();
}

template <bool FailFast, class... T>
task<std::tuple<value_or_mono<T>...>> join_tasks(task<T>... ts) {
  require_valid(ts...);
  fixed_group<FailFast ? group_base::kind::try_join : group_base::kind::join, T...> g(0, ts...);
  co_await g;
  co_return g.all();
}

} // namespace halt::detail::tsk
