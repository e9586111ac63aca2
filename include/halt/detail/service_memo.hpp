// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// asio::use_service<Service>(ctx) without Asio's lock and type look-up on the hot path (every
// spawn, join and group start asks for a service of its context). Unstable internals.
//
//   class my_service final : public memoised_service<my_service> { ... static inline id; };
//   my_service& s = use_service_memo<my_service>(ctx);
//
// Each thread remembers the last context it asked about and the service it got. The memo holds
// only while Service's generation count is the one it was read at: memoised_service's
// destructor bumps it, before the dead context's storage can be reused, so a new context at a
// dead one's address is never taken for it.

#include <halt/detail/config.hpp>

#include <halt/detail/asio.hpp>

#include <atomic>
#include <cstdint>

namespace halt::detail {

template <class Service>
class memoised_service : public asio::execution_context::service {
public:
  static inline std::atomic<std::uint64_t> generation{0};

protected:
  explicit memoised_service(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
  ~memoised_service() override { generation.fetch_add(1, std::memory_order_release); }
};

template <class Service>
Service& use_service_memo(asio::execution_context& ctx) {
  struct last_answer {
    const void* ctx = nullptr;
    std::uint64_t generation = 0;
    Service* svc = nullptr;
  };
  thread_local last_answer last;
  const std::uint64_t gen = Service::generation.load(std::memory_order_acquire);
  if (last.ctx == &ctx && last.generation == gen) return *last.svc;
  Service& svc = asio::use_service<Service>(ctx);
  last = {&ctx, gen, &svc};
  return svc;
}

} // namespace halt::detail
