// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// The machinery of halt::task (task.hpp). Unstable internals.
//
// A started task is a chain of frames: the outermost frame (owned by its root) awaits a child
// task, which awaits another, ... down to the innermost frame (the "leaf"), which is either
// running or suspended on one Asio operation (an op_awaitable, task_op.hpp). The root
// (root_base, one per started chain) holds what the chain shares: its executor, the cancellation
// signal whose slot the leaf's operation gets, the leaf, and the drop state. Everything in it is
// touched only on the chain's executor (serialised by the caller: a strand where several
// threads run the context), except nothing: there are no atomics here.
//
// Resumption never nests: every resume of a frame happens in drive(), a loop. A frame that hands
// over to another (a parent starting a child, a child finishing into its parent) stores the
// next frame in root->next_ and suspends; drive() resumes it. This bounds the stack at any
// optimisation level (g++ does not turn symmetric transfer into a tail call at -O0).
//
// Drop: root->request_drop() (the start slot's terminal cancellation) sets drop_requested_ and,
// if the leaf is suspended on an operation, emits terminal on that operation's slot. When the
// operation's handler runs, whatever its result, the chain is destroyed innermost first without
// being resumed, and the root completes with operation_aborted. A leaf that is running (or a
// chain not yet started) is dropped at its next suspension (or at its start) instead, before
// the next operation is initiated. A handler destroyed without being called (its execution
// context destroyed) destroys the chain and the root without completing it ("abandon").

#include <halt/detail/config.hpp>
#include <halt/detail/frame_cache.hpp>
#include <halt/detail/serial_check.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt {
template <class T>
class task;

/// The completion token that makes an Asio asynchronous operation awaitable inside a halt::task:
/// `co_await op(args..., halt::use_task)` (task.hpp).
struct use_task_t {
  constexpr use_task_t() noexcept = default;
};
inline constexpr use_task_t use_task{};
} // namespace halt

namespace halt::detail::tsk {

using detail::frame_allocate; // frame memory: frame_cache.hpp
using detail::frame_deallocate;

struct promise_base;
struct root_base;
struct task_access;
template <class T, class Handler>
class root;

// The root whose starting call (start_init, task.hpp) is running on this thread, if any: a task
// that finishes inside it completes through a post, never inline in the initiating function.
inline thread_local root_base* initiating = nullptr;

// The state of the one Asio operation the leaf may be suspended on (op_awaitable derives from it).
struct op_state {
  enum class st : unsigned char {
    idle,
    initiating,      // inside the initiating function
    pending,         // initiated; its handler has not run
    done_inline,     // its handler ran inside the initiating function
    lost_inline,     // its handler was destroyed uncalled inside the initiating function
    done_in_emit,    // its handler ran inside root->request_drop's emit
    lost_in_emit,    // its handler was destroyed uncalled inside that emit
  };
  root_base* root_ = nullptr;
  std::coroutine_handle<> frame_;
  // Set by a wait that can be called off at once (a sleep on the timer wheel, sleep.hpp): true
  // if it was, and then no handler will ever run for it.
  bool (*withdraw_)(op_state*) noexcept = nullptr;
  st st_ = st::idle;

  inline void handler_called();             // the handler ran (its result is stored)
  inline void handler_lost() noexcept;      // the handler was destroyed without being called
};

// Something other than an Asio operation that a chain's leaf can wait on: a group of inline
// branches (task_group.hpp). A drop of the chain is passed on to it.
struct sub_waiter {
  virtual void drop_all() = 0;

protected:
  ~sub_waiter() = default;
};

struct root_base {
  enum class act : unsigned char { none, done, drop, abandon };

  explicit root_base(const asio::any_io_executor* ex) noexcept : ex_(ex) {}
  root_base(const root_base&) = delete;
  root_base& operator=(const root_base&) = delete;

  // The chain's executor: a top-level root's own, a group branch's parent's (no copy).
  const asio::any_io_executor* ex_;
  const asio::any_io_executor& executor() const noexcept { return *ex_; }
  asio::cancellation_signal signal_; // the slot given to the leaf's operation
  std::coroutine_handle<> frame_;    // the outermost frame (owned)
  promise_base* leaf_ = nullptr;     // the innermost frame
  std::coroutine_handle<> next_;     // drive(): the frame to resume next
  op_state* op_ = nullptr;           // the operation the leaf is suspended on
  sub_waiter* sub_ = nullptr;        // or the group it waits on
  act act_ = act::none;              // what drive() does once the chain is suspended
  bool drop_requested_ = false;
  bool emitting_ = false;
  // A wait withdrawn at once (op_state::withdraw_) lets the chain be dropped inside
  // request_drop() itself: true for a group's branches (the group copes with a branch ending
  // inside its own calls), false for a root whose completion would then run inside the emit of
  // its start slot (the drop is posted instead).
  bool inline_drop_ = false;
  // HALT_CHECK_SERIAL: set when the chain runs on a single-threaded io_context's own executor
  // (no strand); every entry into the chain (drive, an operation's handler, a drop) is then a
  // serial_scope, so a debug build reports two threads inside it at once.
  serial_check check_;

  // Completes the root: the outermost frame returned (done) or the chain was dropped. Destroys
  // the root (and the outermost frame).
  // May throw: what the completion handler throws when it runs inline (dispatched) propagates
  // to whoever resumed the chain (Asio then lets it leave run()). Every caller of finish(),
  // drop() and drive() calls it last, touching nothing of the chain afterwards.
  virtual void finish(bool dropped) = 0;
  // Destroys the root without completing it (the chain's frames are already destroyed).
  virtual void discard() noexcept = 0;

  inline void destroy_chain() noexcept;
  void drop() {
    destroy_chain();
    finish(true);
  }
  void abandon() noexcept {
    destroy_chain();
    discard();
  }

  inline void request_drop();
  // A drop was requested: cancel what the leaf waits on (an operation pending, or a group).
  inline void cancel_wait();

protected:
  ~root_base() = default;
};

// Runs the chain from frame h until it suspends on an operation, finishes, or must be dropped.
inline void drive(root_base* r, std::coroutine_handle<> h) {
  serial_scope scope(r->check_); // refers to the context's service, not to r (which may go)
  for (;;) {
    r->next_ = nullptr;
    h.resume();
    if (!r->next_) break;
    h = r->next_;
  }
  switch (r->act_) {
  case root_base::act::none: return; // suspended on an operation
  case root_base::act::done: r->finish(false); return;
  case root_base::act::drop: r->drop(); return;
  case root_base::act::abandon: r->abandon(); return;
  }
}

// A job posted to the chain's executor: runs fn(root), or abandons the root if destroyed uncalled.
struct root_job {
  root_base* r;
  void (*fn)(root_base*);
  root_job(root_base* root, void (*f)(root_base*)) noexcept : r(root), fn(f) {}
  root_job(root_job&& o) noexcept : r(std::exchange(o.r, nullptr)), fn(o.fn) {}
  root_job& operator=(root_job&&) = delete;
  ~root_job() {
    if (r) r->abandon();
  }
  void operator()() { fn(std::exchange(r, nullptr)); }
  using allocator_type = asio::recycling_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
};

inline void root_base::request_drop() {
  serial_scope scope(check_);
  if (drop_requested_) return;
  drop_requested_ = true;
  cancel_wait();
}

inline void root_base::cancel_wait() {
  if (sub_) {
    if (inline_drop_) {
      sub_->drop_all();
      return;
    }
    // Branches withdrawn at once (sleeps) can end the group inside drop_all(): the group then
    // sees emitting_ and posts this root's drop instead of completing it inside the emit of its
    // start slot (as for a withdrawn operation below), so the root is still here afterwards.
    emitting_ = true;
    sub_->drop_all();
    emitting_ = false;
    return;
  }
  if (!op_ || op_->st_ != op_state::st::pending) return; // dropped at its start/next suspension
  if (op_->withdraw_ && op_->withdraw_(op_)) { // nothing in flight any more: drop now
    op_->st_ = op_state::st::idle;
    op_ = nullptr;
    signal_.slot().clear();
    if (inline_drop_)
      drop();
    else
      asio::post(*ex_, root_job(this, [](root_base* r) { r->drop(); }));
    return;
  }
  emitting_ = true;
  signal_.emit(asio::cancellation_type::terminal);
  emitting_ = false;
  if (!op_) return;
  const auto s = op_->st_;
  if (s == op_state::st::done_in_emit || s == op_state::st::lost_in_emit) {
    // The operation completed inside the emit (not something Asio's operations do): finish the
    // drop from a posted job, never from inside the emitter's call.
    op_ = nullptr;
    signal_.slot().clear();
    if (s == op_state::st::done_in_emit)
      asio::post(*ex_, root_job(this, [](root_base* r) { r->drop(); }));
    else
      abandon();
  }
}

inline void op_state::handler_called() {
  serial_scope scope(root_->check_);
  if (st_ == st::initiating) {
    st_ = st::done_inline;
    return;
  }
  root_base* r = root_;
  if (r->emitting_) {
    st_ = st::done_in_emit;
    return;
  }
  HALT_ASSERT(st_ == st::pending);
  st_ = st::idle;
  r->op_ = nullptr;
  r->signal_.slot().clear(); // the operation's cancellation handler may refer to freed state
  if (r->drop_requested_)
    r->drop();
  else
    drive(r, frame_);
}

inline void op_state::handler_lost() noexcept {
  if (st_ == st::initiating) {
    st_ = st::lost_inline;
    return;
  }
  root_base* r = root_;
  if (r->emitting_) {
    st_ = st::lost_in_emit;
    return;
  }
  st_ = st::idle;
  r->op_ = nullptr;
  r->signal_.slot().clear();
  r->abandon();
}

// --- promises ---------------------------------------------------------------------------------

template <class U>
class task_awaiter;

template <class T>
struct ready_value {
  T v;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T await_resume() { return std::move(v); }
};

template <class A>
inline constexpr bool always_false = false;

// Something that brings its own awaiter for a task's frame (halt::sleep_for(d), sleep.hpp):
// co_await x awaits std::move(x).in_task().
template <class A>
concept has_in_task = requires(A&& a) { std::move(a).in_task(); };

template <class A>
struct is_op_awaitable : std::false_type {};
template <class A>
concept op_awaitable_type = is_op_awaitable<A>::value;
template <class A>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

template <class G>
struct group_ref {
  G* g;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) const noexcept {
    return g->start(h.promise().root_, h);
  }
  void await_resume() const noexcept {}
};

struct final_awaiter {
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) const noexcept;
  void await_resume() const noexcept {}
};

struct promise_base {
  root_base* root_ = nullptr;
  promise_base* parent_ = nullptr;         // null for the outermost frame
  std::coroutine_handle<>* owner_ = nullptr; // the handle that owns this frame (nulled on drop)
  std::coroutine_handle<> self_;
  std::exception_ptr error_;

  static void* operator new(std::size_t n) { return frame_allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_deallocate(p, n); }

  std::suspend_always initial_suspend() const noexcept { return {}; }
  final_awaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error_ = std::current_exception(); }

  template <class U>
  task_awaiter<U> await_transform(task<U>&& t);

  template <class Op>
    requires is_op_awaitable<std::remove_cvref_t<Op>>::value && (!std::is_lvalue_reference_v<Op>)
  Op&& await_transform(Op&& op) noexcept {
    return std::move(op);
  }

  // A deferred operation (an object callable with a completion token, such as
  // op(asio::experimental::deferred)): awaited as std::move(d)(halt::use_task).
  template <class A>
    requires(!std::is_lvalue_reference_v<A>) && has_in_task<std::remove_cvref_t<A>>
  auto await_transform(A&& a) {
    return std::move(a).in_task();
  }

  template <class D>
    requires(!std::is_lvalue_reference_v<D>) && (!is_task<std::remove_cvref_t<D>>::value) &&
            (!has_in_task<std::remove_cvref_t<D>>) && requires(D&& d) {
              { std::move(d)(use_task_t{}) } -> op_awaitable_type;
            }
  auto await_transform(D&& d) {
    return std::move(d)(use_task_t{});
  }

  // A group of inline branches (task_group.hpp), awaited by the select/join coroutines: through
  // a pointer, since g++ 12 copies an awaiter that await_transform returns by reference.
  template <class G>
    requires std::is_base_of_v<sub_waiter, G>
  group_ref<G> await_transform(G& g) noexcept {
    return {&g};
  }

  ready_value<asio::any_io_executor> await_transform(asio::this_coro::executor_t) {
    return {root_->executor()};
  }

  // An asio::awaitable: co_spawned on the task's executor with halt::use_task (defined in
  // task.hpp). The slow path: a co_spawn (an allocation and a post) per co_await.
  template <class U, class E>
  auto await_transform(asio::awaitable<U, E> a);

  template <class A>
  void await_transform(A&&) {
    static_assert(always_false<A>,
                  "a halt::task can co_await: another halt::task (an rvalue), an Asio operation "
                  "started with halt::use_task, a deferred operation, an asio::awaitable, a "
                  "halt::select/join/timeout of tasks, and asio::this_coro::executor.");
  }
};

template <class P>
void final_awaiter::await_suspend(std::coroutine_handle<P> h) const noexcept {
  promise_base& p = h.promise();
  root_base* r = p.root_;
  if (p.parent_) {
    r->leaf_ = p.parent_;
    r->next_ = p.parent_->self_;
  } else {
    r->leaf_ = nullptr;
    r->act_ = root_base::act::done;
  }
}

inline void root_base::destroy_chain() noexcept {
  promise_base* p = leaf_;
  leaf_ = nullptr;
  struct dropping {
    dropping() noexcept { ++frames_dropping; }
    ~dropping() { --frames_dropping; }
  } mark;
  while (p) {
    promise_base* parent = p->parent_;
    std::coroutine_handle<> h = p->self_;
    if (p->owner_) *p->owner_ = nullptr;
    h.destroy(); // runs the destructors of the frame's locals and parameters; resumes nothing
    p = parent;
  }
}

template <class T>
struct promise final : promise_base {
  std::optional<T> value_;
  task<T> get_return_object() noexcept;
  template <class V = T>
    requires std::is_convertible_v<V&&, T>
  void return_value(V&& v) {
    value_.emplace(std::forward<V>(v));
  }
};

template <>
struct promise<void> final : promise_base {
  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
};

// co_await task<U> inside a task: the child runs on the parent's chain (same root and executor).
template <class U>
class task_awaiter {
public:
  explicit task_awaiter(std::coroutine_handle<> h) noexcept : h_(h) {}
  task_awaiter(const task_awaiter&) = delete;
  task_awaiter& operator=(const task_awaiter&) = delete;
  ~task_awaiter() {
    if (h_) std::exchange(h_, nullptr).destroy();
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> parent) noexcept {
    promise_base& pp = parent.promise();
    promise<U>& c = child();
    c.root_ = pp.root_;
    c.parent_ = &pp;
    c.owner_ = &h_;
    pp.root_->leaf_ = &c;
    pp.root_->next_ = h_; // drive() resumes the child
  }
  U await_resume() {
    promise<U>& c = child();
    if (c.error_) std::rethrow_exception(c.error_);
    if constexpr (!std::is_void_v<U>) return std::move(*c.value_);
  }

private:
  promise<U>& child() const noexcept {
    return std::coroutine_handle<promise<U>>::from_address(h_.address()).promise();
  }
  std::coroutine_handle<> h_;
};

} // namespace halt::detail::tsk
