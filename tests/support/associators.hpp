// SPDX-License-Identifier: BSL-1.0
// What an Asio operation sees associated with the handler it is given: for the tests that halt's
// handler wrappers forward every associator of the user's handler.
#pragma once

#include <halt/detail/asio.hpp> // HALT_ASIO_HAS_IMMEDIATE_EXECUTOR

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
#include <asio/associated_immediate_executor.hpp>
#include <asio/bind_immediate_executor.hpp>
#endif

#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace halt_test {

// An allocator that can be told apart: a handler bound to tagged_allocator<void>(id) reports id.
template <class T>
struct tagged_allocator {
  using value_type = T;
  int id = 0;

  explicit tagged_allocator(int i) noexcept : id(i) {}
  template <class U>
  tagged_allocator(const tagged_allocator<U>& o) noexcept : id(o.id) {}

  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }

  template <class U>
  friend bool operator==(const tagged_allocator& a, const tagged_allocator<U>& b) noexcept {
    return a.id == b.id;
  }
};

struct associator_record {
  std::optional<asio::any_io_executor> executor;
  int allocator_id = -1; // -1: the allocator is not a tagged_allocator
  std::optional<asio::cancellation_slot> slot;
  std::optional<asio::any_io_executor> immediate_executor; // Asio 1.28 on
};

// Reads every associator of `h` as an Asio operation would, `fallback` being the operation's
// I/O executor.
template <class Handler, class Executor>
void record_associators(const Handler& h, const Executor& fallback, associator_record& r) {
  r.executor.emplace(asio::get_associated_executor(h, fallback));
  auto a = asio::get_associated_allocator(h);
  if constexpr (std::is_same_v<decltype(a), tagged_allocator<void>>) r.allocator_id = a.id;
  r.slot.emplace(asio::get_associated_cancellation_slot(h));
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
  r.immediate_executor.emplace(asio::get_associated_immediate_executor(h, fallback));
#endif
}

// `h` bound to the executor `ex` and, where Asio has immediate executors (1.28 on), to the
// immediate executor `immediate`.
template <class Executor, class Immediate, class Handler>
auto bind_executors(const Executor& ex, const Immediate& immediate, Handler h) {
#if HALT_ASIO_HAS_IMMEDIATE_EXECUTOR
  return asio::bind_executor(ex, asio::bind_immediate_executor(immediate, std::move(h)));
#else
  (void)immediate;
  return asio::bind_executor(ex, std::move(h));
#endif
}

} // namespace halt_test
