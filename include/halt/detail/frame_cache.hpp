// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// Memory for halt::task frames: a per-thread cache of freed frames, by size class. Unstable
// internals.
//
//   void* frame_allocate(std::size_t n);             // operator new's alignment (16 on x86-64)
//   void  frame_deallocate(void* p, std::size_t n) noexcept;
//
// - Size classes 16 bytes apart, up to about 1 KiB (24, 40, 56, ..., 1032: a block of 16k + 8
//   bytes fills a malloc chunk of 16k + 16 exactly in glibc, so a frame wastes at most 15 bytes);
//   each keeps at most 16 freed blocks per thread, so a select of a few branches, each a frame
//   or two deep, allocates nothing once warm (Asio's recycling allocator keeps two blocks per
//   thread). Larger frames, and blocks beyond that, go to operator new / delete. At most about
//   530 KiB per thread stay cached, if every class is full (a program uses a few classes).
// - A frame freed on another thread than the one that allocated it goes to the freeing
//   thread's cache if that thread has one (it has made a frame before), else to operator
//   delete: every block is plain operator new memory of its class's size.
// - With the cache off (HALT_FRAME_CACHE=0, the default under ASan) blocks have the same sizes,
//   so translation units built either way may share frames; still, build them all alike.
// - A thread's cache is made on its first frame allocation and released when the thread exits;
//   a frame freed after that (by another thread_local's destructor) goes to operator delete.
// - Under AddressSanitizer there is no cache: every frame is its own operator new, so that a use
//   of a destroyed frame is reported, not hidden by a reuse.
// Thread safety: each thread has its own cache; nothing is shared.

#include <cstddef>
#include <new>

#ifndef HALT_FRAME_CACHE
#if defined(__SANITIZE_ADDRESS__)
#define HALT_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HALT_FRAME_CACHE 0
#endif
#endif
#endif
#ifndef HALT_FRAME_CACHE
#define HALT_FRAME_CACHE 1
#endif

namespace halt::detail {

// The block sizes of frames, with the cache or without it.
struct frame_classes {
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t classes = 64; // 24 B .. 1032 B
  static constexpr std::size_t class_of(std::size_t n) noexcept { return n <= 24 ? 0 : (n - 9) / granule; }
  static constexpr std::size_t size_of(std::size_t c) noexcept { return c * granule + 24; }
  // The block size for a frame of n bytes.
  static constexpr std::size_t block_of(std::size_t n) noexcept {
    return class_of(n) < classes ? size_of(class_of(n)) : n;
  }
};
static_assert(frame_classes::size_of(frame_classes::class_of(200)) == 200);
static_assert(frame_classes::size_of(frame_classes::class_of(201)) == 216);
static_assert(frame_classes::class_of(1) == 0 && frame_classes::class_of(25) == 1);
static_assert(frame_classes::size_of(frame_classes::classes - 1) == 1032);

#if HALT_FRAME_CACHE
class frame_cache : public frame_classes {
public:
  static constexpr unsigned depth = 16;

  void* take(std::size_t c) noexcept {
    node* p = head_[c];
    if (p) head_[c] = p->next;
    return p;
  }
  bool give(void* p, std::size_t c) noexcept {
    node* h = head_[c];
    const unsigned n = h ? h->count : 0; // each node knows the length of the list it heads
    if (n == depth) return false;
    head_[c] = ::new (p) node{h, n + 1};
    return true;
  }

  // This thread's cache; nullptr before the first allocation and after the thread's exit.
  static frame_cache* mine() noexcept { return current_; }
  static inline frame_cache* make_mine() noexcept;

  ~frame_cache() {
    for (std::size_t c = 0; c < classes; ++c)
      while (void* p = take(c)) ::operator delete(p);
  }

private:
  friend struct frame_cache_owner;
  struct node {
    node* next;
    unsigned count; // nodes in the list from this one on
  };
  static inline thread_local frame_cache* current_ = nullptr; // constant-initialised: no guard
  static inline thread_local bool gone_ = false;               // this thread's owner is destroyed

  node* head_[classes] = {};
};

struct frame_cache_owner {
  frame_cache cache;
  frame_cache_owner() noexcept { frame_cache::current_ = &cache; }
  ~frame_cache_owner() { // then the cache frees its blocks
    frame_cache::current_ = nullptr;
    frame_cache::gone_ = true;
  }
  frame_cache_owner(const frame_cache_owner&) = delete;
  frame_cache_owner& operator=(const frame_cache_owner&) = delete;
};

inline frame_cache* frame_cache::make_mine() noexcept {
  if (gone_) return nullptr; // a frame made during this thread's exit, after its cache went
  thread_local frame_cache_owner o; // made here, on the slow path only; destroyed at thread exit
  return current_;
}

inline void* frame_allocate(std::size_t n) {
  const std::size_t c = frame_cache::class_of(n);
  if (c >= frame_cache::classes) return ::operator new(n);
  frame_cache* fc = frame_cache::mine();
  if (!fc) fc = frame_cache::make_mine();
  if (fc) {
    if (void* p = fc->take(c)) return p;
  }
  return ::operator new(frame_cache::size_of(c));
}

inline void frame_deallocate(void* p, std::size_t n) noexcept {
  const std::size_t c = frame_cache::class_of(n);
  if (c >= frame_cache::classes) return ::operator delete(p);
  frame_cache* fc = frame_cache::mine();
  if (!fc || !fc->give(p, c)) ::operator delete(p);
}
#else
inline void* frame_allocate(std::size_t n) { // the cache's block sizes, without the cache
  return ::operator new(frame_classes::block_of(n));
}
inline void frame_deallocate(void* p, std::size_t) noexcept { ::operator delete(p); }
#endif

} // namespace halt::detail
