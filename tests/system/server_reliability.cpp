// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// Reliability test: the built examples/server process, driven over loopback (127.0.0.1 only).
//
// Shutdown under load: 32 concurrent clients send lines and count acknowledgements, SIGTERM
// arrives in the middle of the load, and the test checks that
//   - every acknowledged line is in the journal, and no line is there twice;
//   - the process exits 0 within the grace period plus 1 s;
//   - the server closed every file descriptor it opened (it reports /proc/self/fd at start and
//     at exit);
//   - the report names the task that ignored the cancel, when one was started (--stubborn).
// Each round uses a different timing.
//
// Hostile clients (issue 10), each case a few seconds at most:
//   - a 10 MB line without a newline, NUL-laden random bytes: an error line, then closed;
//   - NUL-laden random lines: journaled byte for byte and acknowledged;
//   - 200 connections at once over a limit of 50: 50 served, 150 refused with a clear message;
//   - clients that send and close at once (their acknowledgements fail with EPIPE or a reset);
//   - a client that never reads: dropped after the write timeout; and, with a long write
//     timeout, the shutdown still reaches it at once (no forced phase);
//   - an idle client gets "bye".
// Every case also checks that every connection's end was logged exactly once, that no task
// failed or ended with an exception, and that the server exited 0 with no descriptor left open.
#include "support/catch.hpp"

#include <halt/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef HALT_SERVER_PATH
#error "HALT_SERVER_PATH must name the built examples/server"
#endif

extern char** environ;

using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {

constexpr int clients = 32;

struct server_process {
  pid_t pid = -1;
  int out_fd = -1;
  std::string output; // everything it printed
  std::mutex m;
  std::thread reader;

  server_process(const std::vector<std::string>& args) {
    int pipe_fds[2];
    // O_CLOEXEC: no other child spawned meanwhile inherits the write end (which would keep the
    // pipe open after this server exits).
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    REQUIRE(rc == 0);
    out_fd = pipe_fds[0];
    reader = std::thread([this] {
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(out_fd, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard<std::mutex> g(m);
        output.append(buf, static_cast<std::size_t>(n));
      }
    });
  }
  ~server_process() {
    if (pid > 0 && !exited) {
      ::kill(pid, SIGKILL);
      int st = 0;
      ::waitpid(pid, &st, 0);
    }
    if (reader.joinable()) reader.join();
    if (out_fd >= 0) ::close(out_fd);
  }

  std::string text() {
    std::lock_guard<std::mutex> g(m);
    return output;
  }

  unsigned short wait_for_port() {
    const std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < end) {
      std::smatch m;
      const std::string t = text();
      if (std::regex_search(t, m, re)) return static_cast<unsigned short>(std::stoi(m[1]));
      std::this_thread::sleep_for(5ms);
    }
    FAIL("the server did not start: " << text());
    return 0;
  }

  // Waits up to `limit` for the process to exit; returns its wait status, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        exited = true;
        // The server has exited, so its end of the pipe is closed: read what it printed last
        // before anyone looks at the output (the reader stops at end of file).
        if (reader.joinable()) reader.join();
        return st;
      }
      if (std::chrono::steady_clock::now() > end) return -1;
      std::this_thread::sleep_for(2ms);
    }
  }

  bool exited = false;
};

struct client_log {
  std::mutex m;
  std::vector<std::string> acked; // lines the server acknowledged
  std::atomic<long> sent{0};
  std::atomic<int> connected{0};
  std::atomic<int> finished{0};
  std::atomic<int> byes{0};
  std::atomic<int> violations{0}; // an acknowledgement that was not the expected "ok <n>"
};

// Sends "c<k>-<i>" lines one at a time and waits for each "ok <n>".
asio::awaitable<void> client(tcp::endpoint ep, int k, client_log& log) {
  tcp::socket sock(co_await asio::this_coro::executor);
  try {
    co_await sock.async_connect(ep, asio::use_awaitable);
    ++log.connected;
    asio::streambuf in;
    for (long i = 0;; ++i) {
      const std::string line = "c" + std::to_string(k) + "-" + std::to_string(i);
      const std::string msg = line + "\n";
      co_await asio::async_write(sock, asio::buffer(msg), asio::use_awaitable);
      ++log.sent;
      co_await asio::async_read_until(sock, in, '\n', asio::use_awaitable);
      std::string reply;
      std::istream is(&in);
      std::getline(is, reply);
      if (reply == "bye") {
        ++log.byes;
        break;
      }
      if (reply != "ok " + std::to_string(i + 1)) {
        ++log.violations;
        break;
      }
      std::lock_guard<std::mutex> g(log.m);
      log.acked.push_back(line);
    }
  } catch (const halt::system_error&) { // the server went away: expected during shutdown
  }
  ++log.finished;
}


// The checks every case shares: every connection's end was logged exactly once (an accepted one
// has an "accepted" line too), the exit tally counts them all, and nothing failed or ended with
// an exception.
void check_every_end_logged(const std::string& out) {
  std::map<int, int> ends;
  std::set<int> ids;
  const std::regex re("connection ([0-9]+): (accepted|ended)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it) {
    const int id = std::stoi((*it)[1]);
    ids.insert(id);
    if ((*it)[2] == "ended") ++ends[id];
  }
  long unlogged = 0, twice = 0;
  for (int id : ids) {
    unlogged += ends[id] == 0;
    twice += ends[id] > 1;
  }
  CHECK(unlogged == 0);
  CHECK(twice == 0);
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("how the ([0-9]+) connection\\(s\\) ended")));
  CHECK(std::stoul(m[1]) == ids.size());
  CHECK(out.find("still open") == std::string::npos);
  CHECK(out.find("ended with an exception") == std::string::npos);
  CHECK(out.find("halt: a detached task") == std::string::npos);
  CHECK(out.find("ended: failed") == std::string::npos);
  CHECK(out.find("FAILED") == std::string::npos);
  const std::regex failed("[1-9][0-9]* failed");
  CHECK_FALSE(std::regex_search(out, failed));
}

int count_of(const std::string& out, const std::string& needle) {
  int n = 0;
  for (auto at = out.find(needle); at != std::string::npos; at = out.find(needle, at + 1)) ++n;
  return n;
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/halt-reliability-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

void round(std::chrono::milliseconds load_time, bool stubborn) {
  const int grace_ms = 1000;
  const std::string dir = make_temp_dir();
  const std::string journal = dir + "/journal.txt";
  std::vector<std::string> args = {HALT_SERVER_PATH, "--port", "0", "--journal", journal,
                                   "--grace-ms", std::to_string(grace_ms)};
  if (stubborn) args.push_back("--stubborn");
  server_process server(args);
  const unsigned short port = server.wait_for_port();
  const tcp::endpoint ep(asio::ip::address_v4::loopback(), port);

  client_log log;
  asio::io_context io;
  for (int k = 0; k < clients; ++k) asio::co_spawn(io, client(ep, k, log), asio::detached);
  std::thread driver([&] { io.run(); });

  // Load, then SIGTERM in the middle of it.
  const auto load_end = std::chrono::steady_clock::now() + load_time;
  while (std::chrono::steady_clock::now() < load_end || log.connected < clients)
    std::this_thread::sleep_for(1ms);
  const long sent_before = log.sent.load();
  REQUIRE(::kill(server.pid, SIGTERM) == 0);
  const int status = server.wait_exit(std::chrono::milliseconds(grace_ms + 1000));
  driver.join();
  const std::string out = server.text();
  INFO("server output:\n" << out);

  REQUIRE(status != -1); // exited within the grace period plus 1 s
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(sent_before > clients); // the SIGTERM really came in the middle of the load
  CHECK(log.finished == clients);
  CHECK(log.violations == 0);

  // Every acknowledged line is in the journal, exactly once; no line is there twice.
  std::ifstream f(journal);
  std::map<std::string, int> in_journal;
  for (std::string line; std::getline(f, line);) ++in_journal[line];
  long duplicates = 0;
  for (const auto& [line, n] : in_journal) duplicates += n > 1;
  CHECK(duplicates == 0);
  long missing = 0;
  for (const auto& line : log.acked) missing += in_journal.count(line) == 0;
  CHECK(missing == 0);
  CHECK(log.acked.size() <= in_journal.size());
  CHECK(!log.acked.empty());

  // No file descriptor left open.
  std::smatch m;
  const std::regex fds("([0-9]+) file descriptors open at start, ([0-9]+) at exit");
  REQUIRE(std::regex_search(out, m, fds));
  CHECK(m[1] == m[2]);

  // The report.
  CHECK(out.find("shutdown report: triggered by SIGTERM") != std::string::npos);
  CHECK(out.find("STUCK") == std::string::npos);
  if (stubborn) {
    CHECK(std::regex_search(out, std::regex("aborted .* stubborn worker")));
    CHECK(out.find("forced (grace period expired)") != std::string::npos);
  } else {
    CHECK(out.find("forced") == std::string::npos); // everyone finished in time
  }
  CHECK(std::regex_search(out, std::regex("aborted .* telemetry")));
  check_every_end_logged(out);

  ::unlink(journal.c_str());
  ::rmdir(dir.c_str());
}

// --- Hostile clients ------------------------------------------------------------------------------

// A blocking loopback client socket; every read and write gives up after 10 s (SO_RCVTIMEO,
// SO_SNDTIMEO), so a case can never hang.
struct client_socket {
  int fd = -1;
  std::string buf; // received, not yet returned

  explicit client_socket(unsigned short port, int rcvbuf = 0) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    const timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  }
  client_socket(const client_socket&) = delete;
  client_socket& operator=(const client_socket&) = delete;
  ~client_socket() { close(); }
  void close() {
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }

  // False if the connection failed (the server may have closed it).
  bool send_all(std::string_view d) {
    while (!d.empty()) {
      const ssize_t n = ::send(fd, d.data(), d.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      d.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // The next line, without its '\n'; "<eof>" if the server closed, "<error>" on an error or
  // after 10 s of silence.
  std::string read_line() {
    for (;;) {
      const auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      char tmp[4096];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n == 0) return "<eof>";
      if (n < 0) return "<error>";
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }
};

struct test_server {
  std::string dir = make_temp_dir();
  std::string journal = dir + "/journal.txt";
  int grace_ms;
  server_process proc;
  unsigned short port;

  test_server(int grace, std::vector<std::string> extra)
      : grace_ms(grace), proc(args(extra)), port(proc.wait_for_port()) {}
  ~test_server() {
    ::unlink(journal.c_str());
    ::rmdir(dir.c_str());
  }
  std::vector<std::string> args(const std::vector<std::string>& extra) const {
    std::vector<std::string> a = {HALT_SERVER_PATH, "--port", "0", "--journal", journal,
                                  "--grace-ms", std::to_string(grace_ms)};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Waits (at most 20 s) until the output has `n` occurrences of `needle`.
  void wait_for(const std::string& needle, int n = 1) {
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (count_of(proc.text(), needle) < n) {
      if (std::chrono::steady_clock::now() > end) FAIL("never saw " << n << " x \"" << needle << "\" in:\n" << proc.text());
      std::this_thread::sleep_for(5ms);
    }
  }

  // SIGTERM, then the shared checks. Returns the server's output.
  std::string stop() {
    REQUIRE(::kill(proc.pid, SIGTERM) == 0);
    const int status = proc.wait_exit(std::chrono::milliseconds(grace_ms + 10000));
    const std::string out = proc.text();
    INFO("server output:\n" << out);
    REQUIRE(status != -1);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(out.find("shutdown report: triggered by SIGTERM") != std::string::npos);
    CHECK(out.find("forced") == std::string::npos); // the graceful phase reached everyone
    std::smatch m;
    REQUIRE(std::regex_search(out, m, std::regex("([0-9]+) file descriptors open at start, ([0-9]+) at exit")));
    CHECK(m[1] == m[2]);
    check_every_end_logged(out);
    return out;
  }
};

// Random bytes, NULs included (one in eight), never '\n'.
std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s(n, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& c : s) {
    int b = byte(rng);
    if (b == '\n' || b % 8 == 0) b = 0;
    c = static_cast<char>(b);
  }
  return s;
}

// Sends `data` from its own thread (the server may close before it is all sent: that is fine).
struct background_send {
  std::thread t;
  background_send(client_socket& c, std::string data)
      : t([&c, d = std::move(data)] { c.send_all(d); }) {}
  ~background_send() { t.join(); }
};

// A client that never reads: it keeps sending short lines until stopped; the acknowledgements
// fill its tiny receive buffer and then the server's send buffer.
struct stalled_client {
  client_socket sock;
  std::atomic<bool> stop{false};
  std::thread t;
  explicit stalled_client(unsigned short port) : sock(port, 4096) {
    t = std::thread([this] {
      const std::string lines = [] {
        std::string s;
        for (int i = 0; i < 8192; ++i) s += "y\n";
        return s;
      }();
      ::fcntl(sock.fd, F_SETFL, ::fcntl(sock.fd, F_GETFL) | O_NONBLOCK);
      while (!stop) {
        pollfd p{sock.fd, POLLOUT, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        if (::send(sock.fd, lines.data(), lines.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN) break;
      }
    });
  }
  ~stalled_client() {
    stop = true;
    t.join();
  }
};


} // namespace

TEST_CASE("shutdown under load: SIGTERM early", "[reliability]") { round(50ms, false); }
TEST_CASE("shutdown under load: SIGTERM later", "[reliability]") { round(300ms, false); }
TEST_CASE("shutdown under load: with a task that ignores the cancel", "[reliability]") {
  round(150ms, true);
}

TEST_CASE("a line longer than the limit gets an error line and closes that connection only", "[reliability][issue10]") {
  test_server server(2000, {});
  std::mt19937 rng(10);
  client_socket ok(server.port); // unaffected
  REQUIRE(ok.send_all("before\n"));
  CHECK(ok.read_line() == "ok 1");
  {
    client_socket c(server.port);
    // Two good lines, then 10 MB of random bytes, NULs included, with no newline.
    std::string data = "one\n" + random_bytes(rng, 100) + "\n" + random_bytes(rng, 10 * 1024 * 1024);
    background_send sender(c, std::move(data));
    CHECK(c.read_line() == "ok 1");
    CHECK(c.read_line() == "ok 2");
    CHECK(c.read_line() == "error: line 3 is longer than 65536 bytes; closing");
    CHECK(c.read_line() == "<eof>");
  }
  server.wait_for("ended: line too long");
  REQUIRE(ok.send_all("after\n")); // the server is still up and serving
  CHECK(ok.read_line() == "ok 2");
  const auto out = server.stop();
  INFO(out);
  CHECK(ok.read_line() == "bye");
  CHECK(count_of(out, "ended: line too long (over 65536 bytes); lines acknowledged: 2") == 1);
}

TEST_CASE("the line limit is configurable and counts bytes without the newline", "[reliability][issue10]") {
  test_server server(2000, {"--max-line", "10"});
  client_socket c(server.port);
  REQUIRE(c.send_all("0123456789\n01234567890\n"));
  CHECK(c.read_line() == "ok 1");
  CHECK(c.read_line() == "error: line 2 is longer than 10 bytes; closing");
  CHECK(c.read_line() == "<eof>");
  c.close();
  server.wait_for("ended: line too long");
  server.stop();
}

TEST_CASE("NUL-laden random lines are journaled byte for byte and acknowledged", "[reliability][issue10]") {
  test_server server(2000, {});
  std::mt19937 rng(7);
  std::string all;
  for (int i = 0; i < 500; ++i) all += random_bytes(rng, 1 + rng() % 300) + "\n";
  {
    client_socket c(server.port);
    background_send sender(c, all);
    for (int i = 1; i <= 500; ++i) {
      const auto line = c.read_line();
      REQUIRE(line == "ok " + std::to_string(i));
    }
  }
  server.wait_for("ended: closed by client");
  server.stop();
  std::ifstream f(server.journal, std::ios::binary);
  const std::string journal((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(journal.size() == all.size());
  CHECK(journal == all);
}

TEST_CASE("200 connections at once over a limit of 50: 50 served, 150 refused with a message", "[reliability][issue10]") {
  test_server server(3000, {"--max-connections", "50"});
  std::vector<std::unique_ptr<client_socket>> clients;
  for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<client_socket>(server.port));
  int served = 0, refused = 0, other = 0;
  std::vector<client_socket*> open;
  for (auto& c : clients) {
    REQUIRE(c->send_all("hello\n"));
    const auto line = c->read_line();
    if (line == "ok 1") {
      ++served;
      open.push_back(c.get());
    } else if (line == "error: server full (50 connections); try again later") {
      ++refused;
      CHECK(c->read_line() == "<eof>");
      c->close();
    } else {
      ++other;
      UNSCOPED_INFO("unexpected answer: " << line);
    }
  }
  CHECK(served == 50);
  CHECK(refused == 150);
  CHECK(other == 0);
  const auto out = server.stop();
  INFO(out);
  int byes = 0;
  for (auto* c : open) byes += c->read_line() == "bye";
  CHECK(byes == 50);
  CHECK(count_of(out, "ended: refused (server full)") == 150);
  CHECK(count_of(out, "ended: shutdown, said goodbye") == 50);
}

TEST_CASE("clients that send and close at once: every connection's end is logged, nothing fails", "[reliability][issue10]") {
  test_server server(2000, {});
  std::string lines;
  for (int i = 0; i < 20000; ++i) lines += "x\n";
  constexpr int n = 20;
  for (int i = 0; i < n; ++i) {
    client_socket c(server.port);
    c.send_all(lines); // the server may reset the connection before it is all sent
    if (i % 2 == 0) { // half of them abort the connection (RST) instead of closing it
      const linger l{1, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
  }
  server.wait_for("ended: ", n);
  const auto out = server.stop();
  INFO(out);
  const int ended = count_of(out, "ended: closed by client") + count_of(out, "ended: reset by client") +
                    count_of(out, "ended: client gone during a write");
  CHECK(ended == n);
}

TEST_CASE("a client that never reads is dropped after the write timeout", "[reliability][issue10]") {
  test_server server(2000, {"--write-timeout-ms", "300"});
  {
    stalled_client stalled(server.port);
    server.wait_for("ended: write timed out (client not reading)");
  }
  client_socket c(server.port); // still serving
  REQUIRE(c.send_all("hi\n"));
  CHECK(c.read_line() == "ok 1");
  server.stop();
}

TEST_CASE("a client that never reads does not hold up the shutdown, nor does an idle one", "[reliability][issue10]") {
  // A long write timeout: only the shutdown token can end the blocked write.
  test_server server(20000, {"--write-timeout-ms", "60000"});
  client_socket idle(server.port);
  stalled_client stalled(server.port);
  // Wait until the server is stuck in that write: two telemetry lines (500 ms apart) with a
  // write pending and no new line journaled in between.
  const std::regex tele("telemetry: [0-9]+ connections \\([0-9]+ open, ([0-9]+) writing\\), ([0-9]+) lines journaled");
  const auto end = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    REQUIRE(std::chrono::steady_clock::now() < end);
    const std::string out = server.proc.text();
    std::vector<std::pair<std::string, std::string>> ticks; // (writing, lines journaled)
    for (auto it = std::sregex_iterator(out.begin(), out.end(), tele); it != std::sregex_iterator(); ++it)
      ticks.emplace_back((*it)[1], (*it)[2]);
    const auto n = ticks.size();
    if (n >= 2 && ticks[n - 1].first != "0" && ticks[n - 2].first != "0" && ticks[n - 1].second == ticks[n - 2].second)
      break;
    std::this_thread::sleep_for(50ms);
  }
  const auto out = server.stop(); // not forced: the graceful phase reached the blocked write
  INFO(out);
  CHECK(count_of(out, "ended: shutdown during a write") == 1);
  CHECK(count_of(out, "ended: shutdown, said goodbye") == 1);
  CHECK(idle.read_line() == "bye");
}
