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
/// - every client is bounded: a line is at most --max-line bytes (64 KiB), at most
///   --max-connections are open at once (256), and a write that the client does not read within
///   --write-timeout-ms (5 s) drops the connection; writes race the shutdown token too, so a
///   client that stops reading cannot hold up the shutdown;
/// - every way a connection ends is logged ("connection N: ended: ...") and tallied at exit.
///
/// Usage: server [--port N] [--journal FILE] [--grace-ms N] [--max-line BYTES]
///               [--max-connections N] [--write-timeout-ms N] [--stubborn]
///   --stubborn also starts a task that ignores the cancel, to show phase 2 and the report.
/// Protocol: the client sends lines; the server answers "ok <n>" once line n (1-based, per
/// connection) is in the journal, and "bye" when it shuts down. A line longer than the limit gets
/// "error: line <n> is longer than <max> bytes; closing", a connection over the limit gets
/// "error: server full (<max> connections); try again later"; either way the server then closes.
#include <halt/halt.hpp>

#include <halt/asio.hpp>
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
#include <map>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using asio::ip::tcp;
constexpr auto deferred = halt::deferred; // asio::deferred (asio::experimental:: before Asio 1.24)

// Every accepted line goes here before it is acknowledged. write(2) with O_APPEND: once it
// returns, the line is in the file, whatever happens to this process afterwards.
class journal {
public:
  explicit journal(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw halt::system_error(std::error_code(errno, std::generic_category()), "open " + path);
  }
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;
  ~journal() { close(); }
  void append(std::string_view lines) {
    while (!lines.empty()) {
      const ssize_t n = ::write(fd_, lines.data(), lines.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw halt::system_error(std::error_code(errno, std::generic_category()), "journal write");
      lines.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

private:
  int fd_;
};

// The limits that keep one client from hurting the others or the shutdown.
struct settings {
  std::size_t max_line = 64 * 1024; // bytes, without the '\n'; a longer line closes the connection
  int max_connections = 256;        // open at once; more are refused with an error line
  std::chrono::milliseconds write_timeout{5000}; // a client that does not read is dropped after it
};

struct stats {
  int connections = 0; // accepted, refused ones included
  int open = 0;
  int writing = 0; // connections waiting for a write to complete
  int refusing = 0;
  long lines = 0;
  std::map<std::string, int> ended; // how connections ended, by reason
};

// Writes all of `data`, bounded by the write timeout and, given a token, raced against it: a
// client that stops reading can neither keep a connection forever nor hold up the shutdown.
enum class sent { done, stopped, timed_out, client_gone };
asio::awaitable<sent> send(tcp::socket& sock, std::string_view data, const settings& cfg, stats& st,
                           std::string& error, const halt::cancellation_token* stop = nullptr) {
  ++st.writing;
  halt::scope_exit done([&st] { --st.writing; });
  auto write = asio::async_write(sock, asio::buffer(data), deferred);
  auto bounded = halt::timeout(cfg.write_timeout, std::move(write));
  try {
    if (stop == nullptr) {
      co_await std::move(bounded);
      co_return sent::done;
    }
    auto r = co_await halt::select(stop->cancelled(), std::move(bounded));
    co_return r.index() == 0 ? sent::stopped : sent::done; // stopped: cancelled, perhaps half done
  } catch (const halt::system_error& e) {
    error = e.code().message();
    if (e.code() == halt::errc::timed_out) co_return sent::timed_out;
    if (e.code() == asio::error::broken_pipe || e.code() == asio::error::connection_reset)
      co_return sent::client_gone;
    throw;
  }
}

// After a last error line: send FIN, then discard what the client still sends until it closes
// (bounded), so that closing with unread input does not reset the connection and destroy the
// error line before the client has read it.
asio::awaitable<void> close_after_reply(tcp::socket& sock, const halt::cancellation_token& stop) {
  halt::error_code ec;
  sock.shutdown(tcp::socket::shutdown_send, ec);
  char sink[4096];
  auto drain = [&]() -> asio::awaitable<void> {
    for (;;) co_await sock.async_read_some(asio::buffer(sink), asio::use_awaitable);
  };
  try {
    auto d = drain();
    auto bounded = halt::timeout(1s, std::move(d));
    co_await halt::select(stop.cancelled(), std::move(bounded));
  } catch (const halt::system_error&) { // eof (the client closed), reset, timed out: done
  }
}

// One connection. The bytes read so far live outside the select, so a read that loses the race
// loses nothing (async_read_some is cancellation-safe; a composed read would not be).
asio::awaitable<void> connection(tcp::socket sock, int id, halt::cancellation_token shutdown,
                                 journal& j, const settings& cfg, stats& st) {
  long acked = 0;
  std::string how = "aborted", detail; // how it ended: every way is logged and counted
  ++st.open;
  halt::scope_exit log_end([&] {
    --st.open;
    ++st.ended[how];
    std::printf("connection %d: ended: %s%s; lines acknowledged: %ld\n", id, how.c_str(),
                detail.c_str(), acked);
  });
  std::string input;   // the line being received: at most max_line plus one chunk
  std::string pending; // complete lines, not yet journaled
  char chunk[4096];
  std::string error;
  // Journal first, acknowledge second.
  auto commit = [&](const halt::cancellation_token* stop) -> asio::awaitable<sent> {
    if (pending.empty()) co_return sent::done;
    std::string acks;
    const auto lines = std::count(pending.begin(), pending.end(), '\n');
    for (long i = 0; i < lines; ++i) acks += "ok " + std::to_string(++acked) + "\n";
    j.append(pending);
    st.lines += lines;
    pending.clear();
    co_return co_await send(sock, acks, cfg, st, error, stop);
  };
  auto write_failed = [&](sent s) {
    how = s == sent::timed_out ? "write timed out (client not reading)" : "client gone during a write";
    detail = ": " + error;
  };

  try {
    bool stopped_mid_write = false;
    for (;;) {
      auto read = sock.async_read_some(asio::buffer(chunk), deferred);
      auto r = co_await halt::select(shutdown.cancelled(), std::move(read));
      if (r.index() == 0) break; // shutdown: the read was cancelled, nothing was lost
      // Only the new bytes are scanned for '\n': a long line costs linear time, not quadratic.
      const std::size_t old_size = input.size();
      input.append(chunk, std::get<1>(r));
      std::size_t line_start = 0;
      bool too_long = false;
      for (std::size_t at = old_size; at < input.size();) {
        const void* nl = std::memchr(input.data() + at, '\n', input.size() - at);
        if (nl == nullptr) break;
        const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - input.data());
        if (end - line_start > cfg.max_line) break;
        line_start = at = end + 1;
      }
      too_long = input.size() - line_start > cfg.max_line;
      pending.append(input, 0, line_start);
      input.erase(0, line_start);
      auto c = commit(&shutdown);
      const sent s = co_await std::move(c);
      if (s == sent::stopped) {
        stopped_mid_write = true;
        break;
      }
      if (s != sent::done) {
        write_failed(s);
        co_return;
      }
      if (too_long) { // tell the client why, then close
        const std::string msg = "error: line " + std::to_string(acked + 1) + " is longer than " +
                                std::to_string(cfg.max_line) + " bytes; closing\n";
        auto e = send(sock, msg, cfg, st, error, &shutdown);
        const sent es = co_await std::move(e);
        if (es == sent::done) {
          auto close = close_after_reply(sock, shutdown);
          co_await std::move(close);
        }
        how = "line too long";
        detail = " (over " + std::to_string(cfg.max_line) + " bytes)";
        co_return;
      }
    }

    if (stopped_mid_write) { // the acknowledgements are half written: no goodbye
      how = "shutdown during a write";
      co_return;
    }
    // Shutdown: flush what was received and say goodbye. Async cleanup, shielded from the abort
    // that comes after the grace period, and bounded so a client that stops reading cannot hang us.
    auto goodbye = [&]() -> asio::awaitable<sent> {
      auto c = commit(nullptr);
      const sent s = co_await std::move(c);
      if (s != sent::done) co_return s;
      co_return co_await send(sock, "bye\n", cfg, st, error);
    };
    auto g = halt::shield(goodbye(), std::min<std::chrono::milliseconds>(cfg.write_timeout, 1s));
    const sent s = co_await std::move(g);
    how = s == sent::done ? "shutdown, said goodbye" : "shutdown, goodbye failed";
    if (s != sent::done) detail = ": " + error;
  } catch (const halt::system_error& e) {
    if (e.code() == asio::error::eof) {
      how = "closed by client";
    } else if (e.code() == asio::error::connection_reset) {
      how = "reset by client";
    } else {
      if (e.code() != asio::error::operation_aborted) { // an abort is "aborted"
        how = "failed";
        detail = ": " + std::string(e.what());
      }
      throw; // the task fails: the shutdown logs it and the report lists it
    }
  } catch (const std::exception& e) {
    how = "failed";
    detail = ": " + std::string(e.what());
    throw;
  }
}

// A connection over the limit: one error line, then closed.
asio::awaitable<void> refuse(tcp::socket sock, halt::cancellation_token shutdown,
                             const settings& cfg, stats& st) {
  ++st.refusing;
  halt::scope_exit done([&st] { --st.refusing; });
  const std::string msg = "error: server full (" + std::to_string(cfg.max_connections) +
                          " connections); try again later\n";
  std::string error;
  auto s = send(sock, msg, cfg, st, error, &shutdown);
  if (co_await std::move(s) == sent::done) {
    auto close = close_after_reply(sock, shutdown);
    co_await std::move(close);
  }
}

asio::awaitable<void> acceptor_loop(tcp::acceptor& acceptor, halt::shutdown& sd, journal& j,
                                    const settings& cfg, stats& st) {
  auto token = sd.token();
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (;;) {
    auto accept = acceptor.async_accept(deferred);
    std::optional<tcp::socket> sock;
    halt::error_code failed;
    try {
      auto r = co_await halt::select(token.cancelled(), std::move(accept));
      if (r.index() == 0) break;
      sock.emplace(std::move(std::get<1>(r)));
    } catch (const halt::system_error& e) { // out of descriptors or memory: wait, then go on
      if (e.code() == asio::error::operation_aborted) throw;
      failed = e.code();
    }
    if (failed) {
      std::printf("acceptor: accept failed: %s; retrying in 100 ms\n", failed.message().c_str());
      pause.expires_after(100ms);
      auto wait = pause.async_wait(deferred);
      auto r = co_await halt::select(token.cancelled(), std::move(wait));
      if (r.index() == 0) break;
      continue;
    }
    const int id = ++st.connections;
    halt::error_code ec;
    const auto peer = sock->remote_endpoint(ec);
    if (st.open >= cfg.max_connections) {
      ++st.ended["refused (server full)"];
      std::printf("connection %d: ended: refused (server full): %d open\n", id, st.open);
      if (st.refusing >= 256) continue; // a flood of refusals must not cost more than this
      try {
        sd.spawn("refusal " + std::to_string(id), refuse(std::move(*sock), token.child_token(), cfg, st))
            .detach();
      } catch (const halt::system_error& e) { // the shutdown began: the socket just closes
        if (e.code() != halt::errc::closed) throw;
      }
      continue;
    }
    std::printf("connection %d: accepted from %s:%u\n", id, peer.address().to_string().c_str(),
                static_cast<unsigned>(peer.port()));
    try {
      sd.spawn("connection " + std::to_string(id),
               connection(std::move(*sock), id, token.child_token(), j, cfg, st))
          .detach();
    } catch (const halt::system_error& e) { // accepted just as the shutdown began: closed unserved
      if (e.code() != halt::errc::closed) throw;
      ++st.ended["closed unserved (shutting down)"];
      std::printf("connection %d: ended: closed unserved (shutting down)\n", id);
    }
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
    std::printf("telemetry: %d connections (%d open, %d writing), %ld lines journaled\n",
                st.connections, st.open, st.writing, st.lines);
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
  settings cfg;
  auto number = [&](int& i, long lo, long hi) { // the next argument, in [lo, hi]; -1 if bad
    if (i + 1 >= argc) return -1L;
    char* end = nullptr;
    const long v = std::strtol(argv[++i], &end, 10);
    return (*end != '\0' || v < lo || v > hi) ? -1L : v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    long v = 0;
    if (a == "--port" && (v = number(i, 0, 65535)) >= 0) port = static_cast<unsigned short>(v);
    else if (a == "--journal" && i + 1 < argc) journal_path = argv[++i];
    else if (a == "--grace-ms" && (v = number(i, 0, 3600000)) >= 0) grace_ms = static_cast<int>(v);
    else if (a == "--max-line" && (v = number(i, 1, 1L << 30)) >= 0) cfg.max_line = static_cast<std::size_t>(v);
    else if (a == "--max-connections" && (v = number(i, 1, 100000)) >= 0) cfg.max_connections = static_cast<int>(v);
    else if (a == "--write-timeout-ms" && (v = number(i, 1, 3600000)) >= 0) cfg.write_timeout = std::chrono::milliseconds(v);
    else if (a == "--stubborn") with_stubborn = true;
    else {
      std::fprintf(stderr, "usage: server [--port N] [--journal FILE] [--grace-ms N] [--max-line BYTES]\n"
                           "              [--max-connections N] [--write-timeout-ms N] [--stubborn]\n");
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
    std::printf("server: lines up to %zu bytes, up to %d connections, write timeout %lld ms\n",
                cfg.max_line, cfg.max_connections, static_cast<long long>(cfg.write_timeout.count()));

    sd.spawn("acceptor", acceptor_loop(acceptor, sd, j, cfg, st)).detach();
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
  std::printf("server: how the %d connection(s) ended:\n", st.connections);
  for (const auto& [how, n] : st.ended) std::printf("  %d %s\n", n, how.c_str());
  if (st.open > 0) std::printf("  %d still open\n", st.open);
  const int fds_at_exit = open_fds();
  std::printf("server: %d file descriptors open at start, %d at exit\n", fds_at_start, fds_at_exit);
  if (fds_at_exit != fds_at_start) exit_code = 1;
  std::printf("server: exit %d\n", exit_code);
  return exit_code;
}
