// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// A hierarchical timing wheel: the data structure behind halt's timers (timer_service.hpp).
// Unstable internals. Not thread-safe: its owner serialises every call.
//
// Time is counted in ticks (1 ms each, from the owner's epoch). Six levels of 64 slots: a slot
// of level L covers 64^L ticks, so level L holds the entries due within the current 64^(L+1)
// ticks, and the whole wheel spans 2^36 ticks (about 2.2 years). An entry goes to the level of
// the highest bit in which its deadline differs from elapsed() (the time the wheel has been
// advanced to), into the slot its deadline falls in: every entry of level 0 is due before every
// entry of level 1, and so on. Advancing to `now` visits the occupied slots in deadline order:
// an expired slot of level 0 holds only due entries; a slot of a higher level is emptied and its
// entries go down a level or more ("cascade") or are due. Entries are intrusive (two pointers,
// a deadline and a position): inserting and removing are a few list operations, no allocation.
//
//   struct timer_entry { std::uint64_t when; ...; bool linked() const; };
//   class timer_wheel {
//     std::uint64_t elapsed() const;
//     static constexpr std::uint64_t max_ahead;      // the farthest deadline it takes (clamped)
//     bool insert(timer_entry* e);                  // false: e->when <= elapsed(), "overdue"
//     void remove(timer_entry* e);                  // e must be linked
//     std::optional<std::uint64_t> next_deadline() const;  // when advance() has work to do next
//                                                            // (the overdue list aside)
//     void advance(std::uint64_t now, timer_entry*& due);  // due entries, in deadline order
//     timer_entry* pop_any();                        // unlinks some entry (shutdown), or null
//     bool empty() const;
//   };

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace halt::detail {

struct timer_entry {
  timer_entry* next = nullptr;
  timer_entry* prev = nullptr;
  std::uint64_t when = 0; // the deadline, in ticks
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
  bool in_wheel = false;

  bool linked() const noexcept { return in_wheel; }
};

class timer_wheel {
public:
  static constexpr unsigned slot_bits = 6;
  static constexpr unsigned slots = 1u << slot_bits;
  static constexpr unsigned levels = 6;
  // The span of the top level; deadlines farther than max_ahead beyond elapsed() are clamped
  // (kept one top-level slot short of the span, so a clamped entry never shares the top-level
  // slot that elapsed() is in).
  static constexpr std::uint64_t span = std::uint64_t{1} << (slot_bits * levels);
  static constexpr std::uint64_t max_ahead = span - (std::uint64_t{1} << (slot_bits * (levels - 1))) - 1;

  std::uint64_t elapsed() const noexcept { return elapsed_; }
  bool empty() const noexcept { return count_ == 0; }

  // Moves elapsed() forward while the wheel is empty (nothing can be skipped).
  void skip_to(std::uint64_t now) noexcept {
    if (count_ == 0 && now > elapsed_) elapsed_ = now;
  }

  // Links e. Returns false if its deadline is not after elapsed(): it then waits in the
  // "overdue" list (appended: O(1)), which advance() gives back first (whatever `now`), sorted
  // by deadline (O(k log k) for k overdue entries).
  bool insert(timer_entry* e) noexcept {
    if (e->when <= elapsed_) { // appended; advance() sorts the list by deadline
      e->level = overdue_level;
      e->prev = overdue_tail_;
      e->next = nullptr;
      (overdue_tail_ ? overdue_tail_->next : overdue_) = e;
      overdue_tail_ = e;
      e->in_wheel = true;
      ++count_;
      return false;
    }
    if (e->when - elapsed_ > max_ahead) e->when = elapsed_ + max_ahead;
    place(e);
    return true;
  }

  void remove(timer_entry* e) noexcept {
    if (e->level == overdue_level) {
      (e->prev ? e->prev->next : overdue_) = e->next;
      (e->next ? e->next->prev : overdue_tail_) = e->prev;
      e->next = e->prev = nullptr;
      e->in_wheel = false;
      --count_;
      return;
    }
    level_& lv = levels_[e->level];
    if (e->prev)
      e->prev->next = e->next;
    else
      lv.head[e->slot] = e->next;
    if (e->next) e->next->prev = e->prev;
    if (!lv.head[e->slot]) lv.occupied &= ~(std::uint64_t{1} << e->slot);
    e->next = e->prev = nullptr;
    e->in_wheel = false;
    --count_;
  }

  // The deadline of the first occupied slot (the overdue list aside).
  std::optional<std::uint64_t> next_deadline() const noexcept {
    if (auto x = next_expiration()) return x->deadline;
    return std::nullopt;
  }

  // Advances to `now`: every entry due by then is unlinked and appended to `due` (a singly
  // linked list through next), in deadline order (entries of one tick in any order).
  void advance(std::uint64_t now, timer_entry*& due) noexcept {
    timer_entry** tail = &due;
    while (*tail) tail = &(*tail)->next;
    if (overdue_) {
      for (timer_entry* e = overdue_; e; e = e->next) {
        e->prev = nullptr;
        e->in_wheel = false;
        --count_;
      }
      *tail = sort_by_deadline(overdue_);
      overdue_ = overdue_tail_ = nullptr;
      while (*tail) tail = &(*tail)->next;
    }
    while (count_ != 0) {
      const auto x = next_expiration();
      if (!x || x->deadline > now) break;
      level_& lv = levels_[x->level];
      timer_entry* e = lv.head[x->slot];
      lv.head[x->slot] = nullptr;
      lv.occupied &= ~(std::uint64_t{1} << x->slot);
      if (x->deadline > elapsed_) elapsed_ = x->deadline;
      while (e) {
        timer_entry* next = e->next;
        --count_;
        e->prev = e->next = nullptr;
        e->in_wheel = false;
        if (x->level == 0) { // a slot of level 0 is one tick: all due, all alike
          *tail = e;
          tail = &e->next;
        } else {
          place(e); // a level lower (e->when is within the slot just emptied), due or not: the
                    // lower levels then give the due ones back in deadline order
        }
        e = next;
      }
    }
    if (now > elapsed_) elapsed_ = now;
  }

  timer_entry* pop_any() noexcept {
    if (overdue_) {
      timer_entry* e = overdue_;
      remove(e);
      return e;
    }
    for (unsigned l = 0; l < levels; ++l) {
      if (!levels_[l].occupied) continue;
      timer_entry* e = levels_[l].head[std::countr_zero(levels_[l].occupied)];
      remove(e);
      return e;
    }
    return nullptr;
  }

private:
  struct level_ {
    std::uint64_t occupied = 0;
    std::array<timer_entry*, slots> head{};
  };
  struct expiration {
    unsigned level;
    unsigned slot;
    std::uint64_t deadline;
  };

  // A stable merge sort of a singly linked list (through next) by deadline: O(n log n), no
  // allocation. Returns the new head.
  static timer_entry* sort_by_deadline(timer_entry* head) noexcept {
    std::size_t n = 0;
    for (timer_entry* e = head; e; e = e->next) ++n;
    for (std::size_t width = 1; width < n; width *= 2) {
      timer_entry* rest = head;
      timer_entry* out = nullptr;
      timer_entry** out_tail = &out;
      while (rest) {
        timer_entry* a = rest;
        timer_entry* b = split(a, width);
        rest = split(b, width);
        while (a && b) {
          timer_entry*& pick = (b->when < a->when) ? b : a; // ties: a first (stable)
          *out_tail = pick;
          out_tail = &pick->next;
          pick = pick->next;
        }
        *out_tail = a ? a : b;
        while (*out_tail) out_tail = &(*out_tail)->next;
      }
      head = out;
    }
    return head;
  }
  // Cuts the list after `count` entries; returns what follows (or null).
  static timer_entry* split(timer_entry* head, std::size_t count) noexcept {
    for (std::size_t i = 1; head && i < count; ++i) head = head->next;
    if (!head) return nullptr;
    timer_entry* rest = head->next;
    head->next = nullptr;
    return rest;
  }

  static unsigned level_for(std::uint64_t elapsed, std::uint64_t when) noexcept {
    std::uint64_t masked = (elapsed ^ when) | (slots - 1);
    if (masked >= span) masked = span - 1;
    return static_cast<unsigned>((63 - std::countl_zero(masked)) / slot_bits);
  }

  void place(timer_entry* e) noexcept {
    const unsigned l = level_for(elapsed_, e->when);
    const unsigned s = static_cast<unsigned>((e->when >> (l * slot_bits)) & (slots - 1));
    level_& lv = levels_[l];
    e->level = static_cast<std::uint8_t>(l);
    e->slot = static_cast<std::uint8_t>(s);
    e->prev = nullptr;
    e->next = lv.head[s];
    if (e->next) e->next->prev = e;
    lv.head[s] = e;
    lv.occupied |= std::uint64_t{1} << s;
    e->in_wheel = true;
    ++count_;
  }

  // The first occupied slot in deadline order: the lowest level that has one, and in it the
  // first occupied slot at or after elapsed()'s position. Only the top level can hold slots
  // behind that position (deadlines in its next span): they come after the wrap.
  std::optional<expiration> next_expiration() const noexcept {
    for (unsigned l = 0; l < levels; ++l) {
      const std::uint64_t occ = levels_[l].occupied;
      if (!occ) continue;
      const unsigned shift = l * slot_bits;
      const unsigned pos = static_cast<unsigned>((elapsed_ >> shift) & (slots - 1));
      const unsigned s = (pos + static_cast<unsigned>(std::countr_zero(std::rotr(occ, static_cast<int>(pos))))) & (slots - 1);
      const std::uint64_t range = std::uint64_t{1} << (shift + slot_bits);
      std::uint64_t deadline = (elapsed_ & ~(range - 1)) + (std::uint64_t{s} << shift);
      if (s < pos) deadline += range;
      return expiration{l, s, deadline};
    }
    return std::nullopt;
  }

  static constexpr std::uint8_t overdue_level = levels;

  std::array<level_, levels> levels_{};
  timer_entry* overdue_ = nullptr;
  timer_entry* overdue_tail_ = nullptr;
  std::uint64_t elapsed_ = 0;
  std::uint64_t count_ = 0;
};

} // namespace halt::detail
