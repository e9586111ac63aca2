// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The node of a linked_token (cancellation_token.hpp, which includes this header after its
// class): a root cancelled by registrations on each of its inputs. Unstable internals.

#include <halt/cancellation_token.hpp>
#include <halt/error.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace halt {
namespace detail {
struct linked_node final : ext_node {
  std::vector<cancellation_registration> upstream_;
};

inline cancellation_token make_linked(const cancellation_token* const* ins, std::size_t count) {
  auto* n = new linked_node();
  count_node(1);
  n->delete_ = [](ext_node* e) noexcept { delete static_cast<linked_node*>(e); };
  n->last_handle_ = [](ext_node* e) noexcept { static_cast<linked_node*>(e)->upstream_.clear(); };
  n->keep_for_children_ = true;
  cancellation_token out = detail_adopt_token(n);
  for (std::size_t i = 0; i < count; ++i) {
    node* in = detail_node_of(*ins[i]);
    if (in == &empty_node)
      throw halt::system_error(make_error_code(errc::no_state), "halt::linked_token");
    if (auto d = ins[i]->deadline()) n->deadline_ = std::min(n->deadline_, *d);
  }
  n->upstream_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    node* in = detail_node_of(*ins[i]);
    if (in->state_.load(std::memory_order_acquire) & st_cancelled) {
      cancel_node(n, in->reason());
      break;
    }
    n->upstream_.push_back(ins[i]->on_cancel([n, in]() noexcept { cancel_node(n, in->reason()); }));
  }
  return out;
}
} // namespace detail
} // namespace halt
