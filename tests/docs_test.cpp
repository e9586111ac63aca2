// SPDX-License-Identifier: BSL-1.0
// Copyright (c) 2026 The halt authors
//
// The project rule: "Each guide chapter's code must be compiled: either extracted into a test, or
// identical to an example that builds." This test enforces it. It reads every guide chapter
// (docs/0*.md), extracts each ```cpp fenced block, and checks that the block appears, as a
// contiguous run of lines, in one of the compiled sources: examples/*.cpp or
// tests/docs_snippets_test.cpp. Lines are compared trimmed (indentation may differ), and blank
// lines are ignored. docs/reference.md (synopses) is exempt.
//
// README.md's blocks follow a stricter rule: together, in order, they are the code of
// tests/readme_test.cpp between its "README.md begins" and "README.md ends" markers, with nothing
// but comments before it. The README's code therefore compiles on its own (its includes, its
// declarations), and readme_test runs it.
//
// HALT_SOURCE_DIR (the project's source directory) is set by tests/CMakeLists.txt.
#include "support/catch.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef HALT_SOURCE_DIR
#error "HALT_SOURCE_DIR must be defined (tests/CMakeLists.txt does it)"
#endif

namespace fs = std::filesystem;

namespace {

const fs::path source_dir{HALT_SOURCE_DIR};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  return lines;
}

// Trimmed lines, blank lines dropped.
std::vector<std::string> normalize(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) {
    const auto t = trim(line);
    if (!t.empty()) out.emplace_back(t);
  }
  return out;
}

struct block {
  std::size_t line = 0;           // 1-based line of the opening fence
  std::vector<std::string> lines; // raw content, fences excluded
};

// Every ```cpp block of a Markdown text. A fence may be indented (inside a list item).
std::vector<block> cpp_blocks(const std::string& markdown, const std::string& chapter) {
  std::vector<block> blocks;
  const auto lines = split_lines(markdown);
  bool in_cpp = false;
  bool in_other = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto t = trim(lines[i]);
    const bool fence = t.substr(0, 3) == "```";
    if (in_cpp) {
      if (t == "```") in_cpp = false;
      else blocks.back().lines.push_back(lines[i]);
    } else if (in_other) {
      if (t == "```") in_other = false;
    } else if (fence) {
      if (t == "```cpp" || t == "```c++") {
        in_cpp = true;
        blocks.push_back({i + 1, {}});
      } else {
        in_other = true;
      }
    }
  }
  INFO(chapter << ": a ```cpp block opened at line " << (blocks.empty() ? 0 : blocks.back().line)
               << " is never closed");
  CHECK_FALSE(in_cpp);
  return blocks;
}

struct compiled_source {
  std::string name;
  std::vector<std::string> lines; // normalized
};

// The sources CI compiles and that a guide block may be quoted from.
const std::vector<compiled_source>& compiled_sources() {
  static const std::vector<compiled_source> sources = [] {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(source_dir / "examples"))
      if (entry.is_regular_file() && entry.path().extension() == ".cpp")
        paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    paths.push_back(source_dir / "tests" / "docs_snippets_test.cpp");
    std::vector<compiled_source> out;
    for (const auto& p : paths)
      out.push_back(
          {fs::relative(p, source_dir).generic_string(), normalize(split_lines(read_text(p)))});
    return out;
  }();
  return sources;
}

bool contains(const std::vector<std::string>& haystack, const std::vector<std::string>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

std::string excerpt(const std::vector<std::string>& lines, std::size_t max_lines = 5) {
  std::string s;
  const std::size_t n = std::min(lines.size(), max_lines);
  for (std::size_t i = 0; i < n; ++i) s += "    " + lines[i] + "\n";
  if (lines.size() > n) s += "    ... (" + std::to_string(lines.size() - n) + " more lines)\n";
  return s;
}

// Checks every ```cpp block of docs/<chapter>; returns how many blocks it has.
std::size_t check_chapter(const std::string& chapter) {
  const auto path = source_dir / "docs" / chapter;
  REQUIRE(fs::exists(path));
  const auto& sources = compiled_sources();
  const auto blocks = cpp_blocks(read_text(path), "docs/" + chapter);
  for (const auto& b : blocks) {
    const auto needle = normalize(b.lines);
    const bool found = std::any_of(sources.begin(), sources.end(), [&](const compiled_source& s) {
      return contains(s.lines, needle);
    });
    if (!found) {
      std::string where;
      for (const auto& s : sources) where += " " + s.name;
      FAIL_CHECK("docs/" << chapter << ":" << b.line << ": this ```cpp block is compiled nowhere:\n"
                         << excerpt(needle)
                         << "Quote it verbatim from an example, or put it in "
                            "tests/docs_snippets_test.cpp (indentation may differ). Searched:"
                         << where);
    }
  }
  return blocks.size();
}

const std::string readme_begin = "// ---- README.md begins ----";
const std::string readme_end = "// ---- README.md ends ----";

// Empty if `source` (tests/readme_test.cpp) holds the ```cpp blocks of `markdown` (README.md) as
// the README rule says; otherwise what is wrong.
std::string readme_mismatch(const std::string& markdown, const std::string& source) {
  std::vector<std::string> expected;
  for (const auto& b : cpp_blocks(markdown, "README.md")) {
    const auto lines = normalize(b.lines);
    expected.insert(expected.end(), lines.begin(), lines.end());
  }
  if (expected.empty()) return "README.md has no ```cpp block";

  const auto lines = split_lines(source);
  std::size_t begin = lines.size();
  std::size_t end = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto t = trim(lines[i]);
    if (t == readme_begin && begin == lines.size()) begin = i;
    else if (t == readme_end && begin != lines.size()) {
      end = i;
      break;
    }
  }
  if (begin == lines.size() || end == lines.size())
    return "the markers \"" + readme_begin + "\" and \"" + readme_end + "\" are missing";
  for (std::size_t i = 0; i < begin; ++i) {
    const auto t = trim(lines[i]);
    if (!t.empty() && t.substr(0, 2) != "//")
      return "line " + std::to_string(i + 1) +
             " is code before the README's code (only comments may come first): " + std::string(t);
  }
  const auto actual = normalize({lines.begin() + static_cast<std::ptrdiff_t>(begin) + 1,
                                 lines.begin() + static_cast<std::ptrdiff_t>(end)});
  const std::size_t n = std::min(actual.size(), expected.size());
  for (std::size_t i = 0; i < n; ++i)
    if (actual[i] != expected[i])
      return "line " + std::to_string(i + 1) + " of the README's code differs:\n    README.md: " +
             expected[i] + "\n    the test:  " + actual[i];
  if (actual.size() != expected.size())
    return "the README's code has " + std::to_string(expected.size()) +
           " non-blank lines, the test's copy " + std::to_string(actual.size());
  return {};
}

} // namespace

TEST_CASE("the sources a guide block may come from exist", "[docs]") {
  const auto& sources = compiled_sources();
  REQUIRE(sources.size() >= 2);
  for (const auto& s : sources) {
    INFO(s.name);
    CHECK_FALSE(s.lines.empty());
  }
}

// One test case per chapter, so a failure names it. This list must cover every docs/0*.md.
TEST_CASE("every guide chapter is checked", "[docs]") {
  const std::vector<std::string> checked = {
      "01-tokens.md",   "02-tasks.md",    "03-abort.md",
      "04-select.md",   "05-cleanup.md",  "06-shutdown.md",
      "07-cancellation-safety.md",        "08-coming-from-tokio.md",
  };
  std::vector<std::string> chapters;
  for (const auto& entry : fs::directory_iterator(source_dir / "docs")) {
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("0", 0) == 0 && entry.path().extension() == ".md")
      chapters.push_back(name);
  }
  std::sort(chapters.begin(), chapters.end());
  INFO("add a TEST_CASE for each new chapter in tests/docs_test.cpp");
  CHECK(chapters == checked);
}

TEST_CASE("docs/01-tokens.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("01-tokens.md") > 0);
}

TEST_CASE("docs/02-tasks.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("02-tasks.md") > 0);
}

TEST_CASE("docs/03-abort.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("03-abort.md") > 0);
}

TEST_CASE("docs/04-select.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("04-select.md") > 0);
}

TEST_CASE("docs/05-cleanup.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("05-cleanup.md") > 0);
}

TEST_CASE("docs/06-shutdown.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("06-shutdown.md") > 0);
}

TEST_CASE("docs/07-cancellation-safety.md: every cpp block is compiled", "[docs]") {
  CHECK(check_chapter("07-cancellation-safety.md") > 0);
}

TEST_CASE("docs/08-coming-from-tokio.md: every cpp block is compiled", "[docs]") {
  check_chapter("08-coming-from-tokio.md"); // it has none today: its tables quote names only
}

TEST_CASE("README.md: its cpp blocks are tests/readme_test.cpp's code, compiled as they are", "[docs]") {
  const auto problem = readme_mismatch(read_text(source_dir / "README.md"),
                                       read_text(source_dir / "tests" / "readme_test.cpp"));
  INFO("README.md against tests/readme_test.cpp: " << problem
       << "\nCopy README.md's ```cpp blocks, in order, between the markers of tests/readme_test.cpp.");
  CHECK(problem.empty());
}

TEST_CASE("docs checker: the README rule", "[docs]") {
  const std::string md = "intro\n```cpp\n#include <x>\n```\ntext\n```sh\nls\n```\n```cpp\nint f();\n```\n";
  const std::string good = "// header\n\n" + readme_begin + "\n#include <x>\n\n  int f();\n" +
                           readme_end + "\nint test();\n";
  CHECK(readme_mismatch(md, good).empty());
  // Code before the README's: its includes could hide a missing one.
  CHECK_FALSE(readme_mismatch(md, "#include <y>\n" + readme_begin + "\n#include <x>\nint f();\n" +
                                      readme_end + "\n").empty());
  // A changed, missing or extra line; a missing marker.
  CHECK_FALSE(readme_mismatch(md, readme_begin + "\n#include <x>\nint g();\n" + readme_end).empty());
  CHECK_FALSE(readme_mismatch(md, readme_begin + "\n#include <x>\n" + readme_end).empty());
  CHECK_FALSE(readme_mismatch(md, readme_begin + "\n#include <x>\nint f();\nint g();\n" + readme_end).empty());
  CHECK_FALSE(readme_mismatch(md, "#include <x>\nint f();\n" + readme_end).empty());
  CHECK_FALSE(readme_mismatch("no code\n", good).empty());
}

// The checker itself: a block matches only as a contiguous run of trimmed, non-blank lines.
TEST_CASE("docs checker: normalization and matching", "[docs]") {
  const auto md = std::string(
      "text\n```cpp\n  int a = 1;   \n\n\tint b = 2;\n```\n```text\nx\n```\n"
      "   ```cpp\n   f();\n   ```\n");
  const auto blocks = cpp_blocks(md, "inline");
  REQUIRE(blocks.size() == 2);
  CHECK(blocks[0].line == 2);
  CHECK(normalize(blocks[0].lines) == std::vector<std::string>{"int a = 1;", "int b = 2;"});
  CHECK(normalize(blocks[1].lines) == std::vector<std::string>{"f();"});

  const std::vector<std::string> source = {"void g() {", "int a = 1;", "int b = 2;", "}"};
  CHECK(contains(source, normalize(blocks[0].lines)));
  CHECK_FALSE(contains(source, std::vector<std::string>{"int a = 1;", "}"}));
  CHECK_FALSE(contains(source, normalize(blocks[1].lines)));
}
