// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Inline branch groups for halt::task: the engine behind select, join and try_join (and so
// timeout and run_until_cancelled) when their branches are halt::tasks; the typed groups built on
// it are in typed_groups.hpp. Unstable internals.
//
// A group lives in the frame of the task that awaits it (the "parent"). Each branch is a chain
// of its own with its own root (branch_root: a cancellation signal for the operation its leaf is
// suspended on, and its leaf), stored in the group: no co_spawn, no strand, no post, no
// allocation beyond the branches' own frames. Every branch runs on the parent's executor, so
// the parent's serialisation (a strand where several threads run the context) covers them.
//
// While the group waits, the parent's root points at it (root_base::sub_): a drop of the parent
// (an abort, an outer select's loss) drops every running branch, and once the last is gone the
// parent's chain is dropped in turn, innermost first. A branch is dropped as any chain is
// (task_frame.hpp): terminal cancellation on its operation's slot, then its frames are destroyed
// without being resumed when that operation's handler runs.
//
// Policies: select (the first branch to finish, with a value or an exception, wins; the others
// are dropped), join (every branch runs to its end; the first exception in completion order is
// rethrown), try_join (the first exception drops the others and is rethrown). Once the outcome
// is decided, branches not started yet never start. The group completes (resumes, drops or
// abandons the parent) only when every started branch is gone.
//
// Re-entrancy: a branch can end inside another call into the group (its start, a drop request
// whose emit completed it). busy_ counts those calls; only the outermost one completes the group,
// as the last thing it does (completing may destroy the group).

#include <halt/detail/config.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/detail/task_op.hpp>
#include <halt/error.hpp>
#include <halt/task.hpp>

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace halt::detail::tsk {

struct group_base;

// One branch's chain. Owns the branch's outermost frame (frame_) until the branch ends.
class branch_root final : public root_base {
public:
  enum class state : unsigned char { unstarted, running, gone };

  branch_root() noexcept : root_base(nullptr) { inline_drop_ = true; }

  group_base* g_ = nullptr;
  promise_base* top_ = nullptr; // the branch's outermost promise (its error_ after it finished)
  std::size_t index_ = 0;
  state state_ = state::unstarted;

  inline void finish(bool dropped) override;
  inline void discard() noexcept override;

  ~branch_root() {
    if (frame_) std::exchange(frame_, nullptr).destroy(); // never started: runs nothing
  }
};

inline std::size_t random_start(std::size_t n) noexcept {
  thread_local std::uint64_t s = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<std::uintptr_t>(&s);
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  if (n > 0xFFFFFFFFu) return static_cast<std::size_t>(s % n);
  // (high 32 bits * n) >> 32: in [0, n), without a division.
  return static_cast<std::size_t>(((s >> 32) * static_cast<std::uint64_t>(n)) >> 32);
}

struct group_base : sub_waiter {
  // shield: as select, but a drop of the parent is not passed on (the parent's drop waits for
  // the branches). finally: branch 0 (the work) starts first and receives the parent's drops;
  // branch 1 (the cleanup, created by after_work()) starts when branch 0 has ended, however it
  // ended, and receives no drop.
  enum class kind : unsigned char { select, join, try_join, shield, finally };
  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  group_base(kind k, std::size_t first) noexcept : first_(first), kind_(k) {}
  group_base(const group_base&) = delete;
  group_base& operator=(const group_base&) = delete;

  // Moves the value of branch i (finished without an exception) into the group's storage.
  virtual void store(std::size_t i) = 0;
  // finally: creates the cleanup branch (adopt(1, ...)); an exception is the cleanup's failure.
  virtual void after_work() {}
  // Creates branch i (adopt(i, ...)) when start() comes to it and it has no frame yet: a branch
  // made only if it is needed (timeout's sleep, when the task is not ready at once). An
  // exception is that branch's failure.
  virtual void make(std::size_t) {}

  // Called by the parent's root when it is asked to drop while the group waits.
  void drop_all() override {
    if (kind_ == kind::shield) return; // the parent's root remembers the drop: done when they end
    ++busy_;
    const std::size_t n = kind_ == kind::finally ? 1 : n_;
    for (std::size_t i = 0; i < n; ++i)
      if (br_[i].state_ == branch_root::state::running) br_[i].request_drop();
    --busy_;
    maybe_complete();
  }

  void ended(std::size_t i, bool dropped, bool lost) {
    ++busy_;
    branch_root& b = br_[i];
    b.state_ = branch_root::state::gone;
    --live_;
    if (lost) {
      lost_ = true;
      decide(none);
    } else if (!dropped) {
      std::exception_ptr e = b.top_->error_;
      const bool first = !decided_;
      switch (kind_) {
      case kind::select:
      case kind::shield:
        if (first) {
          winner_ = i;
          if (e)
            error_ = std::move(e);
          else
            keep(i);
          decide(i);
        }
        break;
      case kind::join:
        if (e) {
          if (!error_) error_ = std::move(e);
        } else {
          keep(i);
        }
        break;
      case kind::try_join:
        if (e) {
          if (first) {
            error_ = std::move(e);
            decide(i);
          }
        } else if (first) {
          keep(i);
          if (error_) decide(i); // its value could not be kept
        }
        break;
      case kind::finally:
        if (i == 0) {
          if (e)
            error_ = std::move(e);
          else
            keep(i);
        } else if (e) {
          if (error_)
            cleanup_error_ = std::move(e); // the work's exception is kept
          else
            error_ = std::move(e);
        }
        break;
      }
      std::exchange(b.frame_, nullptr).destroy(); // at its final suspension point
    }
    if (kind_ == kind::finally && i == 0 && !lost_) start_cleanup();
    --busy_;
    maybe_complete();
  }

  // Parent side (the awaiter of co_await group): starts the branches; false to resume the parent
  // at once.
  bool start(root_base* r, std::coroutine_handle<> parent) noexcept {
    if (r->drop_requested_) {
      r->act_ = root_base::act::drop;
      return true;
    }
    proot_ = r;
    pframe_ = parent;
    r->sub_ = this;
    ++busy_;
    const std::size_t n = kind_ == kind::finally ? 1 : n_;
    for (std::size_t k = 0; k < n; ++k) {
      if (decided_ || (r->drop_requested_ && kind_ != kind::shield)) break; // the rest never start
      std::size_t i = first_ + k; // (first_ + k) % n_ without a division: first_ < n_
      if (i >= n_) i -= n_;
      if (!br_[i].frame_ && !make_now(i)) break;
      launch(i);
    }
    --busy_;
    if (live_ > 0) return true; // ended() completes the group
    proot_ = nullptr;
    r->sub_ = nullptr;
    if (lost_) {
      r->act_ = root_base::act::abandon;
      return true;
    }
    if (r->drop_requested_) {
      r->act_ = root_base::act::drop;
      return true;
    }
    return false;
  }

protected:
  ~group_base() = default;

  // Points the branch roots (members of the derived group, constructed after this base) at it.
  void link(branch_root* br, std::size_t n) noexcept {
    br_ = br;
    n_ = n;
    for (std::size_t i = 0; i < n_; ++i) {
      br_[i].g_ = this;
      br_[i].index_ = i;
    }
  }

  // Adopts the unstarted frame of branch i.
  template <class P>
  void adopt(std::size_t i, std::coroutine_handle<P> h) noexcept {
    branch_root& b = br_[i];
    P& p = h.promise();
    b.frame_ = h;
    b.top_ = &p;
    p.root_ = &b;
    p.owner_ = &b.frame_;
  }

  branch_root* br_ = nullptr;
  std::size_t n_ = 0;
  std::exception_ptr cleanup_error_; // finally: the cleanup's exception when the work failed too
  std::size_t first_;
  std::size_t winner_ = none;
  std::exception_ptr error_;

private:
  void launch(std::size_t i) noexcept {
    branch_root& b = br_[i];
    b.ex_ = proot_->ex_;
    b.home_ = proot_->home_;
    b.check_ = proot_->check_;
    b.state_ = branch_root::state::running;
    b.leaf_ = b.top_;
    ++live_;
    drive(&b, b.frame_);
  }

  bool make_now(std::size_t i) noexcept {
    try {
      make(i);
      return true;
    } catch (...) { // as if branch i had failed at once
      if (!decided_) {
        winner_ = i;
        error_ = std::current_exception();
        decide(i);
      }
      return false;
    }
  }

  void start_cleanup() noexcept {
    try {
      after_work();
    } catch (...) { // creating the cleanup failed: that is the cleanup's failure
      if (error_)
        cleanup_error_ = std::current_exception();
      else
        error_ = std::current_exception();
      return;
    }
    launch(1);
  }

  void keep(std::size_t i) noexcept {
    try {
      store(i);
    } catch (...) { // the value's move threw: the branch failed with that exception
      if (!error_) error_ = std::current_exception();
    }
  }

  // The outcome is known: the branches still running are dropped, the unstarted never start.
  void decide(std::size_t) noexcept {
    if (decided_) return;
    decided_ = true;
    for (std::size_t j = 0; j < n_; ++j)
      if (br_[j].state_ == branch_root::state::running) br_[j].request_drop();
  }

  void maybe_complete() {
    if (live_ != 0 || busy_ != 0 || !proot_) return;
    root_base* r = std::exchange(proot_, nullptr);
    r->sub_ = nullptr;
    if (r->emitting_) { // inside a top-level root's request_drop (cancel_wait): never complete there
      if (lost_)
        asio::post(r->executor(), root_job(r, [](root_base* rb) { rb->abandon(); }));
      else
        asio::post(r->executor(), root_job(r, [](root_base* rb) { rb->drop(); }));
      return;
    }
    if (lost_)
      r->abandon();
    else if (r->drop_requested_)
      r->drop();
    else
      drive(r, pframe_); // may destroy the group: nothing touches it afterwards
  }

  root_base* proot_ = nullptr;
  std::coroutine_handle<> pframe_;
  std::size_t live_ = 0;
  unsigned busy_ = 0;
  kind kind_;
  bool decided_ = false;
  bool lost_ = false;
};

inline void branch_root::finish(bool dropped) { g_->ended(index_, dropped, false); }
inline void branch_root::discard() noexcept { g_->ended(index_, true, true); }

} // namespace halt::detail::tsk
