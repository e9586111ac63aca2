// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
/// A TCP line server on loopback that follows the Tokio article's production hierarchy:
/// - a root token (halt::shutdown) for graceful shutdown on SIGINT/SIGTERM;
/// - every connection handler races its reads against that token with halt::select, journals each
///   line before it acknowledges it, and on shutdown flushes and says goodbye (async, shielded,
///   bounded);
/// - a telemetry task that needs no cleanup is simply aborted;
/// - the shutdown escalates to abort after a grace period, and prints its report.
///
/// Usage: server [--port N] [--journal FILE] [--grace-ms N] [--stubborn]
///   --stubborn also starts a task that ignores the cancel, to show phase 2 and the report.
/// Protocol: the client sends lines; the server answers "ok <n>" once line n (1-based, per
/// connection) is in the journal, and "bye" when it shuts down.
#include <halt/halt.hpp>

#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using asio::ip::tcp;
constexpr auto deferred = asio::experimental::deferred; // asio::deferred from Asio 1.23

// Every accepted line goes here before it is acknowledged. write(2) with O_APPEND: once it
// returns, the line is in the file, whatever happens to this process afterwards.
class journal {
public:
  explicit journal(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
  }
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;
  ~journal() { close(); }
  void append(std::string_view lines) {
    while (!lines.empty()) {
      const ssize_t n = ::write(fd_, lines.data(), lines.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::system_error(errno, std::generic_category(), "journal write");
      lines.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

private:
  int fd_;
};

struct stats {
  int connections = 0;
  long lines = 0;
};

// One connection. The bytes read so far live outside the select, so a read that loses the race
// loses nothing (async_read_some is cancellation-safe; a composed read would not be).
asio::awaitable<void> connection(tcp::socket sock, int id, halt::cancellation_token shutdown,
                                 journal& j, stats& st) {
  std::string input;   // received, not yet a complete line
  std::string pending; // complete lines, not yet journaled
  long acked = 0;
  char chunk[4096];
  auto commit = [&]() -> asio::awaitable<void> { // journal first, acknowledge second
    if (pending.empty()) co_return;
    std::string acks;
    const auto lines = std::count(pending.begin(), pending.end(), '\n');
    for (long i = 0; i < lines; ++i) acks += "ok " + std::to_string(++acked) + "\n";
    j.append(pending);
    st.lines += lines;
    pending.clear();
    co_await asio::async_write(sock, asio::buffer(acks), asio::use_awaitable);
  };

  try {
    for (;;) {
      auto read = sock.async_read_some(asio::buffer(chunk), deferred);
      auto r = co_await halt::select(shutdown.cancelled(), std::move(read));
      if (r.index() == 0) break; // shutdown: the read was cancelled, nothing was lost
      input.append(chunk, std::get<1>(r));
      const auto end = input.rfind('\n');
      if (end == std::string::npos) continue;
      pending.append(input, 0, end + 1);
      input.erase(0, end + 1);
      co_await commit();
    }
  } catch (const std::system_error& e) {
    if (e.code() != asio::error::eof && e.code() != asio::error::connection_reset) throw;
    std::printf("connection %d: client left; lines acknowledged: %ld\n", id, acked);
    co_return;
  }

  // Shutdown: flush what was received and say goodbye. Async cleanup, shielded from the abort
  // that comes after the grace period, and bounded so a client that stops reading cannot hang us.
  auto goodbye = [&]() -> asio::awaitable<void> {
    co_await commit();
    co_await asio::async_write(sock, asio::buffer("bye\n", 4), asio::use_awaitable);
  };
  try {
    co_await halt::shield(goodbye(), 1s);
    std::printf("connection %d: shutting down: lines acknowledged: %ld, said goodbye\n", id, acked);
  } catch (const std::system_error& e) {
    std::printf("connection %d: goodbye failed: %s\n", id, e.code().message().c_str());
  }
}

asio::awaitable<void> acceptor_loop(tcp::acceptor& acceptor, halt::shutdown& sd, journal& j,
                                    stats& st) {
  auto token = sd.token();
  for (;;) {
    auto accept = acceptor.async_accept(deferred);
    auto r = co_await halt::select(token.cancelled(), std::move(accept));
    if (r.index() == 0) break;
    auto sock = std::move(std::get<1>(r));
    const int id = ++st.connections;
    const auto peer = sock.remote_endpoint();
    std::printf("connection %d: accepted from %s:%u\n", id, peer.address().to_string().c_str(),
                static_cast<unsigned>(peer.port()));
    sd.spawn("connection " + std::to_string(id),
             connection(std::move(sock), id, token.child_token(), j, st))
        .detach();
  }
  acceptor.close();
  std::printf("acceptor: stopped accepting\n");
}

// Needs no cleanup: aborted as soon as the shutdown begins (on_shutdown::abort).
asio::awaitable<void> telemetry(stats& st) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (;;) {
    tick.expires_after(500ms);
    co_await tick.async_wait(asio::use_awaitable);
    std::printf("telemetry: %d connections, %ld lines journaled\n", st.connections, st.lines);
  }
}

// Ignores the cancel: the grace period runs out and phase 2 aborts it.
asio::awaitable<void> stubborn() {
  asio::steady_timer t(co_await asio::this_coro::executor, 1h);
  co_await t.async_wait(asio::use_awaitable);
}

int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    --n; // the directory stream itself
  }
  return n;
}

int main(int argc, char** argv) {
  unsigned short port = 0;
  std::string journal_path = "journal.txt";
  int grace_ms = 2000;
  bool with_stubborn = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::atoi(argv[++i]));
    else if (a == "--journal" && i + 1 < argc) journal_path = argv[++i];
    else if (a == "--grace-ms" && i + 1 < argc) grace_ms = std::atoi(argv[++i]);
    else if (a == "--stubborn") with_stubborn = true;
    else {
      std::fprintf(stderr, "usage: server [--port N] [--journal FILE] [--grace-ms N] [--stubborn]\n");
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0); // one line at a time, also into a pipe

  asio::io_context io(1);
  halt::shutdown_options options;
  options.grace = std::chrono::milliseconds(grace_ms);
  options.log = [](const std::string& line) { std::printf("%s\n", line.c_str()); };
  halt::shutdown sd(io, options); // SIGINT and SIGTERM
  const int fds_at_start = open_fds();

  stats st;
  int exit_code = 0;
  {
    journal j(journal_path);
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), port});
    std::printf("server: listening on 127.0.0.1:%u, journal %s, grace period %d ms\n",
                static_cast<unsigned>(acceptor.local_endpoint().port()), journal_path.c_str(), grace_ms);

    sd.spawn("acceptor", acceptor_loop(acceptor, sd, j, st)).detach();
    sd.spawn("telemetry", telemetry(st), halt::on_shutdown::abort).detach();
    if (with_stubborn) sd.spawn("stubborn worker", stubborn()).detach();

    auto main_task = [&]() -> asio::awaitable<void> {
      auto report = co_await sd.run();
      std::printf("%s", report.to_string().c_str());
      if (report.count(halt::shutdown_report::outcome::stuck) > 0) {
        exit_code = 1;
        io.stop(); // do not wait for them any longer
      }
    };
    auto h = halt::spawn(io, main_task);
    io.run();
    if (!h.is_finished()) exit_code = 1;
  } // the journal and the acceptor close here
  const int fds_at_exit = open_fds();
  std::printf("server: %d file descriptors open at start, %d at exit\n", fds_at_start, fds_at_exit);
  if (fds_at_exit != fds_at_start) exit_code = 1;
  std::printf("server: exit %d\n", exit_code);
  return exit_code;
}
