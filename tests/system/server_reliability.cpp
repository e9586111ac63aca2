// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// Reliability test: shutdown under load. Starts the built examples/server process, drives 32
// concurrent loopback clients that send lines and count acknowledgements, sends SIGTERM in the
// middle of the load, and checks that
//   - every acknowledged line is in the journal, and no line is there twice;
//   - the process exits 0 within the grace period plus 1 s;
//   - the server closed every file descriptor it opened (it reports /proc/self/fd at start and
//     at exit);
//   - the report names the task that ignored the cancel, when one was started (--stubborn).
// Each round uses a different timing. All traffic stays on 127.0.0.1.
#include "support/catch.hpp"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fcntl.h>
#include <signal.h>
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
    REQUIRE(::pipe(pipe_fds) == 0);
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
  } catch (const std::system_error&) { // the server went away: expected during shutdown
  }
  ++log.finished;
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

  ::unlink(journal.c_str());
  ::rmdir(dir.c_str());
}

} // namespace

TEST_CASE("shutdown under load: SIGTERM early", "[reliability]") { round(50ms, false); }
TEST_CASE("shutdown under load: SIGTERM later", "[reliability]") { round(300ms, false); }
TEST_CASE("shutdown under load: with a task that ignores the cancel", "[reliability]") {
  round(150ms, true);
}
