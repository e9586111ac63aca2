// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// The token tree at work: a root token, one child per connection, one cancel that reaches them
/// all, and the reason each connection sees.
#include <halt/halt.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A connection handler: it serves until its token is cancelled, then cleans up and says why.
asio::awaitable<void> connection(int id, halt::cancellation_token token) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer work(ex);
  int requests = 0;
  while (!token.is_cancelled()) {
    work.expires_after(20ms); // one request's worth of work; the token cancels the wait
    try {
      co_await work.async_wait(halt::bind_cancellation(token, asio::use_awaitable));
      ++requests;
    } catch (const halt::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
    }
  }
  // Cooperative cancellation: the handler is still running, so its cleanup may co_await.
  work.expires_after(5ms);
  co_await work.async_wait(asio::use_awaitable); // e.g. flush and say goodbye
  std::printf("  [conn %d] stopped after %d requests, reason: %s\n", id, requests,
              token.reason().message().c_str());
}

} // namespace

int main() {
  asio::io_context io;
  halt::cancellation_token root; // the server's token

  std::printf("halt showcase: one root token, one child token per connection\n");
  std::vector<halt::cancellation_token> conns;
  for (int id = 1; id <= 3; ++id) {
    conns.push_back(root.child_token());
    asio::co_spawn(io, connection(id, conns.back()), asio::detached);
  }
  // Connection 4 has a deadline of its own: its token cancels itself with timed_out.
  halt::cancellation_token slow = root.child_token_after(io, 70ms);
  asio::co_spawn(io, connection(4, slow), asio::detached);

  // A callback on the root runs inline, in the thread that cancels.
  auto reg = root.on_cancel([] { std::printf("  [root] cancelled: stop accepting\n"); });

  asio::steady_timer shutdown(io, 150ms);
  shutdown.async_wait([&](halt::error_code) {
    std::printf("150 ms: root.cancel(halt::errc::shutdown)\n");
    root.cancel(halt::errc::shutdown); // one call reaches every connection
    bool all = true;
    for (const auto& c : conns) all = all && c.is_cancelled();
    std::printf("  root.cancel returned: every connection token reports is_cancelled() = %s\n",
                all ? "true" : "false");
  });

  io.run();
  std::printf("all connections finished; the first reason each token got is the one it kept\n");
}
