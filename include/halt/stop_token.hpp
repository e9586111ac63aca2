// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// Interoperation with std::stop_token, both ways.
//
//   cancellation_token from_stop_token(std::stop_token st);  // cancelled when stop is requested
//   class stop_bridge {                                      // std::stop_token that follows a halt token
//    public:
//     explicit stop_bridge(const cancellation_token& t);
//     std::stop_token get_token() const noexcept;
//   };
//
// from_stop_token gives a new root token cancelled (reason halt::errc::cancelled) when a stop is
// requested on `st`; if it was already requested, the token is born cancelled. While the token
// lives it holds a std::stop_callback on `st`.
//
// stop_bridge owns a std::stop_source whose stop is requested when `t` is cancelled, so
// std::jthread, std::condition_variable_any and other std::stop_token users follow a halt token.
// The bridge forwards only while it lives; tokens obtained from it stay valid afterwards. All
// calls may come from any thread.

#include <halt/detail/config.hpp>
#include <halt/cancellation_token.hpp>

#include <optional>
#include <stop_token>
#include <utility>

namespace halt {

namespace detail {
struct stop_node final : ext_node {
  struct fire {
    node* n;
    void operator()() const noexcept { cancel_node(n, make_error_code(errc::cancelled)); }
  };
  std::optional<std::stop_callback<fire>> cb_;
};
} // namespace detail

/// A new root token that is cancelled when a stop is requested on `st`.
inline cancellation_token from_stop_token(std::stop_token st) {
  auto* n = new detail::stop_node();
  detail::count_node(1);
  n->delete_ = [](detail::ext_node* e) noexcept { delete static_cast<detail::stop_node*>(e); };
  n->last_handle_ = [](detail::ext_node* e) noexcept { static_cast<detail::stop_node*>(e)->cb_.reset(); };
  n->keep_for_children_ = true;
  cancellation_token t = detail_adopt_token(n);
  if (st.stop_possible()) n->cb_.emplace(std::move(st), detail::stop_node::fire{n});
  return t;
}

/// A std::stop_source that is requested when a halt token is cancelled. Move-only.
class stop_bridge {
public:
  /// \throws halt::system_error (halt::errc::no_state) if `t` is empty.
  explicit stop_bridge(const cancellation_token& t)
      : reg_(t.on_cancel([s = src_]() mutable noexcept { s.request_stop(); })) {}

  /// A token whose stop is requested when the halt token is cancelled.
  std::stop_token get_token() const noexcept { return src_.get_token(); }

  /// The underlying source (a stop can also be requested through it directly).
  std::stop_source get_source() const noexcept { return src_; }

private:
  std::stop_source src_;
  cancellation_registration reg_;
};

} // namespace halt
