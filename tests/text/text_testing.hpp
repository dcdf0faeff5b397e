// tests/text/text_testing.hpp: what the text tests share: the jieba files (loaded once per test
// program), the Python oracle (Debian's python3-jieba, run at test time) and file helpers.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/text/segmenter.hpp"

namespace simad::testing {

inline std::string text_data(const std::string& name) { return std::string(SIMAD_TESTS_DIR) + "/text/data/" + name; }

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(bool(in), "cannot open ", path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The corpus' lines: bytes split on '\n' only (a line may hold '\r', U+2028, ...).
inline std::vector<std::string> split_lines(const std::string& data) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    lines.push_back(data.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

// The segmenter over Debian's python3-jieba, loaded once; nullopt (the test reports "skipped")
// when the package is not installed.
inline const text::Segmenter* jieba_segmenter() {
  static std::unique_ptr<text::Segmenter> seg = []() -> std::unique_ptr<text::Segmenter> {
    if (!std::filesystem::exists(text::jieba_dir() + "/dict.txt")) return nullptr;
    return std::make_unique<text::Segmenter>(text::Segmenter::load());
  }();
  return seg.get();
}

// Python jieba's output for each text of a file: [HMM=False tokens, HMM=True tokens] per line, or
// nullopt when /usr/bin/python3 cannot import jieba. `jsonl`: the file holds one JSON string per line.
struct OracleLine {
  std::vector<std::string> no_hmm, hmm;
};
inline std::optional<std::vector<OracleLine>> run_jieba_oracle(const std::string& file, bool jsonl) {
  const std::string cmd = std::string("/usr/bin/python3 '") + SIMAD_TESTS_DIR + "/text/jieba_oracle.py' " +
                          (jsonl ? "--jsonl " : "") + "'" + file + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string out;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  if (status != 0) {
    MESSAGE("the Python jieba oracle did not run (exit status ", status, "; needs python3-jieba)");
    return std::nullopt;
  }
  std::vector<OracleLine> lines;
  for (const std::string& line : split_lines(out)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    lines.push_back({j.at(0).get<std::vector<std::string>>(), j.at(1).get<std::vector<std::string>>()});
  }
  return lines;
}

// "a|b|c" with control characters escaped, for failure messages.
inline std::string show_tokens(const std::vector<std::string>& tokens) {
  std::string s;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) s += " | ";
    for (char c : tokens[i]) {
      if (uint8_t(c) < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\x%02x", unsigned(uint8_t(c)));
        s += esc;
      } else {
        s += c;
      }
    }
  }
  return s;
}

}  // namespace simad::testing
