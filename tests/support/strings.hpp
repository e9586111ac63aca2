// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
#pragma once
// String helpers for tests that read text halt produces (shutdown reports, log lines).

#include <cctype>
#include <cstddef>
#include <string>

namespace halt_test {

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The (first) line of `s` that contains `needle`; empty if none.
inline std::string line_with(const std::string& s, const std::string& needle) {
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    auto line = s.substr(start, end - start);
    if (line.find(needle) != std::string::npos) return line;
    start = end + 1;
  }
  return {};
}

inline bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

} // namespace halt_test
