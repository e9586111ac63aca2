// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once

// The promises of halt::task's frames (the chain they form is in task_frame.hpp): promise_base
// and promise<T>, what a frame may co_await, the final awaiter that hands control back to the
// parent frame, and the awaiter of a child task. Unstable internals.

#include <halt/detail/config.hpp>
#include <halt/detail/frame_cache.hpp>
#include <halt/detail/task_frame.hpp>
#include <halt/error.hpp>

#include <halt/detail/asio.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace halt::detail::tsk {

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
