// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
//
// The values that describe a halt::shutdown (shutdown.hpp, which includes this header): its
// options, a task's policy, and the report that shutdown::run() returns.
//
//   struct shutdown_options {
//     steady_clock::duration grace = 10s;       // phase 1 bound
//     steady_clock::duration abort_wait = 5s;   // phase 2 bound (after the abort)
//     std::vector<int> signals = {SIGINT, SIGTERM};
//     std::function<void(const std::string&)> log;  // phase messages; empty: silent
//   };
//   enum class on_shutdown { cancel, abort };   // a task's policy: cooperative, or the hammer
//   struct shutdown_report { trigger, forced, force_reason, graceful_time, total_time,
//                            tasks{name, outcome, after_cancel, error}, before{returned, failed,
//                            aborted, failures}; std::size_t count(outcome) const;
//                            std::string to_string() const; };
//
// Bad input: shutdown_options is checked by shutdown's constructor (a negative grace or
// abort_wait throws std::invalid_argument; a signal that cannot be installed throws
// halt::system_error). count() and to_string() accept any report, also a default-constructed or
// hand-filled one.
// Thread safety: plain values (like std::vector): distinct objects may be used from distinct
// threads; one object must not be modified concurrently. When and where shutdown calls `log`:
// see shutdown.hpp.

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace halt {

namespace detail {
inline std::string format_ms(std::chrono::nanoseconds d, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f ms", decimals,
                std::chrono::duration<double, std::milli>(d).count());
  return buf;
}
} // namespace detail

struct shutdown_options {
  std::chrono::steady_clock::duration grace = std::chrono::seconds(10);
  std::chrono::steady_clock::duration abort_wait = std::chrono::seconds(5);
  std::vector<int> signals{SIGINT, SIGTERM};
  std::function<void(const std::string&)> log;
};

/// What happens to a task when the shutdown begins.
enum class on_shutdown {
  cancel, ///< cooperative: it sees the root token cancelled and finishes by itself (aborted after the grace period)
  abort,  ///< the hammer, at once: for work that needs no cleanup (telemetry)
};

struct shutdown_report {
  enum class outcome {
    graceful, ///< finished by itself after the cancel, within the grace period
    aborted,  ///< aborted (on_shutdown::abort, or still running when phase 2 began) and then finished
    stuck,    ///< still running when run() gave up waiting
    failed,   ///< ended with an exception (not the abort's operation_aborted); see task::error
  };
  struct task {
    std::string name;
    outcome how = outcome::graceful;
    std::chrono::nanoseconds after_cancel{0}; ///< from phase 1's start until it finished (stuck: until run() gave up)
    std::string error{};                      ///< failed: the exception's what()
  };
  /// The named tasks that finished before phase 1 began.
  struct earlier {
    static constexpr std::size_t max_failures = 16;
    std::size_t returned = 0;   ///< returned (a value, or caught its cancel)
    std::size_t failed = 0;     ///< ended with an exception
    std::size_t aborted = 0;    ///< ended by an abort (operation_aborted), or never started
    std::vector<task> failures; ///< the last max_failures that failed (after_cancel is zero)
  };

  std::string trigger;      ///< "SIGTERM", "SIGINT", "signal 10", "request()" or "force()"
  bool forced = false;      ///< phase 2 ran
  std::string force_reason; ///< "grace period expired", "second signal (SIGINT)", "force()"
  std::chrono::nanoseconds graceful_time{0}; ///< phase 1's duration
  std::chrono::nanoseconds total_time{0};    ///< from phase 1's start until run() returned
  std::vector<task> tasks;                   ///< named tasks running when phase 1 began, in spawn order
  earlier before;                            ///< named tasks that finished before phase 1 began

  std::size_t count(outcome o) const {
    std::size_t n = 0;
    for (const auto& t : tasks) n += t.how == o;
    return n;
  }

  /// A few human-readable lines.
  std::string to_string() const {
    auto ms = [](std::chrono::nanoseconds d) { return detail::format_ms(d, 1); };
    std::string s = "shutdown report: triggered by " + trigger + "; ";
    if (forced)
      s += "graceful phase " + ms(graceful_time) + ", then forced (" + force_reason + ")";
    else
      s += "graceful, all tasks finished in " + ms(graceful_time);
    s += "; total " + ms(total_time) + "\n";
    const std::size_t ended = before.returned + before.failed + before.aborted;
    if (ended > 0) {
      s += "  " + std::to_string(ended) + " task(s) finished before the shutdown: " +
           std::to_string(before.returned) + " returned, " + std::to_string(before.failed) +
           " failed, " + std::to_string(before.aborted) + " aborted\n";
      if (before.failed > before.failures.size())
        s += "  (the last " + std::to_string(before.failures.size()) + " failures:)\n";
      for (const auto& t : before.failures) s += "  - FAILED    " + t.name + ": " + t.error + "\n";
    }
    s += "  " + std::to_string(tasks.size()) + " task(s) were running: " +
         std::to_string(count(outcome::graceful)) + " graceful, " +
         std::to_string(count(outcome::aborted)) + " aborted, " +
         std::to_string(count(outcome::failed)) + " failed, " +
         std::to_string(count(outcome::stuck)) + " stuck\n";
    for (const auto& t : tasks) {
      const char* how = t.how == outcome::graceful  ? "graceful"
                        : t.how == outcome::aborted ? "aborted "
                        : t.how == outcome::failed  ? "FAILED  "
                                                    : "STUCK   ";
      s += "  - " + std::string(how) + "  " + ms(t.after_cancel) + " after the cancel  " + t.name;
      if (t.how == outcome::failed) s += ": " + t.error;
      s += "\n";
    }
    return s;
  }
};

} // namespace halt
