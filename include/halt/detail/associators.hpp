// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Forwarding every associator of a wrapped completion handler. Unstable internals.
//
// A halt handler that wraps the user's handler (bind_cancellation's bound_handler, the join's
// join_completion) must report what the user's handler has associated with it: executor,
// allocator, cancellation slot, immediate executor (Asio 1.28 on), and any associator a later
// Asio adds. Asio's generic hook for that is asio::associator<Associator, T, DefaultCandidate>
// (present in every supported release: standalone 1.22 on, Boost 1.80 on): the primary templates
// of associated_executor, associated_allocator, associated_cancellation_slot and
// associated_immediate_executor consult it for a type without the matching nested typedef. So a
// wrapper gets one specialisation of asio::associator deriving from forward_associator below.
//
// A wrapper that replaces one associator (bound_handler installs its own cancellation slot)
// does so with the nested typedef and member (cancellation_slot_type, get_cancellation_slot()):
// Asio uses a member before the associator in every release, so the two never compete.
//
// Conflicts: the specialisations are for halt's own types only (no Asio partial specialisation
// matches them), and halt declares no explicit associated_executor / associated_allocator /
// associated_cancellation_slot specialisation for a wrapper that also has an associator one.

#include <halt/detail/config.hpp>
#include <halt/detail/asio.hpp>

#include <utility>

namespace halt::detail {

// The body of asio::associator<Associator, Wrapper, DefaultCandidate> for a Wrapper whose
// wrapped handler (of type Inner) is returned by Wrapper::wrapped(). Deriving from
// Associator<Inner, DefaultCandidate> gives `type` and, where the inner handler has nothing
// associated, Asio's "unspecialised" marker, as Asio's own binders do.
template <template <class, class> class Associator, class Wrapper, class Inner, class DefaultCandidate>
struct forward_associator : Associator<Inner, DefaultCandidate> {
  using inner_associator = Associator<Inner, DefaultCandidate>;

  static typename inner_associator::type get(const Wrapper& w) noexcept {
    return inner_associator::get(w.wrapped());
  }

  static auto get(const Wrapper& w, const DefaultCandidate& c) noexcept
      -> decltype(inner_associator::get(std::declval<const Inner&>(), c)) {
    return inner_associator::get(w.wrapped(), c);
  }
};

} // namespace halt::detail
