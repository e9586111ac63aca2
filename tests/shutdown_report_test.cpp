// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// The values of shutdown_report.hpp on their own, without a shutdown: shutdown_options'
// defaults, a default report, count(), and to_string() (trigger, graceful or forced, the tasks
// that were running, those that finished before, the failures it keeps). What a real shutdown
// puts into a report is tested in shutdown_test.cpp. Only this header is included: it needs
// neither Asio nor the rest of halt.
#include <halt/shutdown_report.hpp>

#include "support/strings.hpp"
#include "support/catch.hpp"

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using outcome = halt::shutdown_report::outcome;

using halt_test::contains;
using halt_test::line_with;
using halt_test::lower;

} // namespace

TEST_CASE("shutdown_options defaults: 10 s grace, 5 s abort_wait, SIGINT and SIGTERM, no log", "[shutdown_report]") {
  const halt::shutdown_options o;
  CHECK(o.grace == 10s);
  CHECK(o.abort_wait == 5s);
  CHECK(o.signals == std::vector<int>{SIGINT, SIGTERM});
  CHECK_FALSE(o.log);
}

TEST_CASE("a default report is empty: no trigger, not forced, zero times, no tasks, nothing before", "[shutdown_report]") {
  const halt::shutdown_report rep;
  CHECK(rep.trigger.empty());
  CHECK_FALSE(rep.forced);
  CHECK(rep.force_reason.empty());
  CHECK(rep.graceful_time == 0ns);
  CHECK(rep.total_time == 0ns);
  CHECK(rep.tasks.empty());
  CHECK(rep.before.returned == 0);
  CHECK(rep.before.failed == 0);
  CHECK(rep.before.aborted == 0);
  CHECK(rep.before.failures.empty());
  for (auto o : {outcome::graceful, outcome::aborted, outcome::stuck, outcome::failed}) CHECK(rep.count(o) == 0);
  CHECK(halt::shutdown_report::earlier::max_failures == 16);

  const halt::shutdown_report::task t;
  CHECK(t.name.empty());
  CHECK(t.how == outcome::graceful);
  CHECK(t.after_cancel == 0ns);
  CHECK(t.error.empty());
}

TEST_CASE("count() counts the running tasks by outcome, not the failures before the shutdown", "[shutdown_report]") {
  halt::shutdown_report rep;
  rep.tasks.push_back({"a", outcome::graceful, 1ms});
  rep.tasks.push_back({"b", outcome::failed, 2ms, "boom"});
  rep.tasks.push_back({"c", outcome::graceful, 3ms});
  rep.tasks.push_back({"d", outcome::stuck, 4ms});
  rep.before.failed = 2;
  rep.before.failures.push_back({"old-1", outcome::failed, {}, "x"});
  rep.before.failures.push_back({"old-2", outcome::failed, {}, "y"});
  CHECK(rep.count(outcome::graceful) == 2);
  CHECK(rep.count(outcome::failed) == 1);
  CHECK(rep.count(outcome::stuck) == 1);
  CHECK(rep.count(outcome::aborted) == 0);
}

TEST_CASE("report.to_string() names the trigger, every task and its outcome", "[shutdown]") {
  halt::shutdown_report rep;
  rep.trigger = "request()";
  rep.forced = true;
  rep.force_reason = "grace period expired";
  rep.graceful_time = 100ms;
  rep.total_time = 250ms;
  rep.tasks.push_back({"db-writer", outcome::graceful, 12ms});
  rep.tasks.push_back({"telemetry", outcome::aborted, 1ms});
  rep.tasks.push_back({"blocking-io", outcome::stuck, 250ms});
  CHECK(rep.count(outcome::graceful) == 1);
  CHECK(rep.count(outcome::aborted) == 1);
  CHECK(rep.count(outcome::stuck) == 1);
  const auto s = rep.to_string();
  INFO(s);
  CHECK(contains(s, "request()"));
  CHECK(contains(s, "grace period expired"));
  CHECK(contains(lower(line_with(s, "db-writer")), "graceful"));
  CHECK(contains(lower(line_with(s, "telemetry")), "aborted"));
  CHECK(contains(lower(line_with(s, "blocking-io")), "stuck"));
  // In report order.
  CHECK(s.find("db-writer") < s.find("telemetry"));
  CHECK(s.find("telemetry") < s.find("blocking-io"));

  halt::shutdown_report calm;
  calm.trigger = "signal 10";
  calm.tasks.push_back({"worker", outcome::graceful, 3ms});
  const auto c = calm.to_string();
  INFO(c);
  CHECK(contains(c, "signal 10"));
  CHECK(contains(lower(line_with(c, "worker")), "graceful"));
}

TEST_CASE("to_string() of a graceful report with no tasks: two lines, milliseconds with one decimal", "[shutdown_report]") {
  halt::shutdown_report rep;
  rep.trigger = "SIGTERM";
  rep.graceful_time = 1500us;
  rep.total_time = 2ms;
  CHECK(rep.to_string() ==
        "shutdown report: triggered by SIGTERM; graceful, all tasks finished in 1.5 ms; total 2.0 ms\n"
        "  0 task(s) were running: 0 graceful, 0 aborted, 0 failed, 0 stuck\n");
}

TEST_CASE("to_string() of a forced report names the reason, and a failed task with its error", "[shutdown_report]") {
  halt::shutdown_report rep;
  rep.trigger = "force()";
  rep.forced = true;
  rep.force_reason = "second signal (SIGINT)";
  rep.graceful_time = 20ms;
  rep.total_time = 30ms;
  rep.tasks.push_back({"journal", outcome::failed, 7ms, "disk full"});
  const auto s = rep.to_string();
  INFO(s);
  CHECK(contains(s, "triggered by force()"));
  CHECK(contains(s, "graceful phase 20.0 ms, then forced (second signal (SIGINT))"));
  CHECK_FALSE(contains(s, "all tasks finished"));
  CHECK(contains(s, "total 30.0 ms"));
  CHECK(contains(s, "1 task(s) were running: 0 graceful, 0 aborted, 1 failed, 0 stuck"));
  const auto line = line_with(s, "journal");
  CHECK(contains(line, "FAILED"));
  CHECK(contains(line, "7.0 ms after the cancel"));
  CHECK(contains(line, "journal: disk full"));
}

TEST_CASE("to_string() counts the tasks that finished before the shutdown and lists their failures", "[shutdown_report]") {
  halt::shutdown_report rep;
  rep.trigger = "request()";
  const auto quiet = rep.to_string();
  INFO(quiet);
  CHECK_FALSE(contains(quiet, "before the shutdown")); // nothing finished before: no such line

  rep.before.returned = 3;
  rep.before.failed = 2;
  rep.before.aborted = 1;
  rep.before.failures.push_back({"loader", outcome::failed, {}, "bad config"});
  rep.before.failures.push_back({"poller", outcome::failed, {}, "timeout"});
  const auto s = rep.to_string();
  INFO(s);
  CHECK(contains(s, "6 task(s) finished before the shutdown: 3 returned, 2 failed, 1 aborted"));
  CHECK(contains(line_with(s, "loader"), "FAILED"));
  CHECK(contains(line_with(s, "loader"), "loader: bad config"));
  CHECK(contains(line_with(s, "poller"), "poller: timeout"));
  CHECK(s.find("loader") < s.find("poller"));
  CHECK_FALSE(contains(s, "(the last")); // every failure is listed

  rep.before.failed = 40; // more failed than the report kept
  const auto cut = rep.to_string();
  INFO(cut);
  CHECK(contains(cut, "44 task(s) finished before the shutdown: 3 returned, 40 failed, 1 aborted"));
  CHECK(contains(cut, "(the last 2 failures:)"));
}
