// simad/text/vocab.hpp: a token vocabulary (words, or POS tags) with the special tokens the models
// need at fixed ids: [PAD] = 0, [UNK] = 1, [CLS] = 2, [MASK] = 3.
//
// Built from counts: tokens with count >= min_count, most frequent first (ties by byte order, so
// the result does not depend on hash-map order), at most max_size entries in all (specials
// included; 0 = no limit). Saved as plain UTF-8 text, one token per line, the line number (from 0)
// being the id; the first four lines must be the specials. Loading checks every line and names
// the file and line of a bad one (empty, duplicate, not UTF-8, missing specials).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/text/jieba_dict.hpp"
#include "simad/text/utf8.hpp"

namespace simad::text {

class Vocab {
 public:
  static constexpr int32_t kPad = 0, kUnk = 1, kCls = 2, kMask = 3;
  static constexpr std::array<std::string_view, 4> kSpecials = {"[PAD]", "[UNK]", "[CLS]", "[MASK]"};

  Vocab() {
    for (std::string_view s : kSpecials) add(std::string(s), "Vocab");
  }

  static Vocab build(const std::unordered_map<std::string, int64_t>& counts, int64_t min_count = 1,
                     size_t max_size = 0) {
    SIMAD_CHECK(max_size == 0 || max_size >= kSpecials.size(), "Vocab::build: max_size ", max_size,
                " leaves no room for the 4 special tokens");
    std::vector<std::pair<std::string_view, int64_t>> kept;
    for (const auto& [token, count] : counts)
      if (count >= min_count && !is_special(token)) kept.emplace_back(token, count);
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    Vocab v;
    for (const auto& [token, count] : kept) {
      if (max_size && v.size() >= max_size) break;
      v.add(std::string(token), "Vocab::build");
    }
    return v;
  }

  size_t size() const { return tokens_.size(); }
  // The id of a token, kUnk when it is not in the vocabulary.
  int32_t id(std::string_view token) const {
    const auto it = ids_.find(std::string(token));
    return it == ids_.end() ? kUnk : it->second;
  }
  bool contains(std::string_view token) const { return ids_.count(std::string(token)) != 0; }
  const std::string& token(int32_t id) const {
    SIMAD_CHECK(id >= 0 && size_t(id) < tokens_.size(), "Vocab::token: id ", id, " out of range [0, ",
                tokens_.size(), ")");
    return tokens_[size_t(id)];
  }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Writes to a temporary file next to `path`, then renames: never a half-written vocabulary.
  void save(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) fail("Vocab::save: cannot write '", tmp, "'");
      for (const std::string& t : tokens_) out << t << '\n';
      out.flush();
      if (!out) fail("Vocab::save: write error on '", tmp, "'");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail("Vocab::save: cannot rename '", tmp, "' to '", path, "': ", ec.message());
  }

  static Vocab load(const std::string& path) { return parse(read_text_file(path, "vocabulary", "check the path"), path); }

  static Vocab parse(std::string_view text, const std::string& name) {
    Vocab v;
    v.tokens_.clear();
    v.ids_.clear();
    size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      const std::string where = "vocabulary '" + name + "' line " + std::to_string(line_no);
      if (line.empty()) fail(where, ": empty token");
      if (line.find('\r') != std::string_view::npos) fail(where, ": carriage return in a token");
      if (!is_valid_utf8(line)) fail(where, ": not valid UTF-8");
      if (line_no <= kSpecials.size() && line != kSpecials[line_no - 1])
        fail(where, ": expected the special token ", kSpecials[line_no - 1], ", found '", std::string(line), "'");
      v.add(std::string(line), where);
    }
    if (v.size() < kSpecials.size()) fail("vocabulary '", name, "': fewer than the 4 special tokens");
    return v;
  }

 private:
  static bool is_special(std::string_view t) {
    return std::find(kSpecials.begin(), kSpecials.end(), t) != kSpecials.end();
  }
  void add(std::string token, const std::string& where) {
    if (token.empty() || token.find('\n') != std::string::npos || token.find('\r') != std::string::npos)
      fail(where, ": a token may not be empty or hold a line break");
    if (!ids_.emplace(token, int32_t(tokens_.size())).second) fail(where, ": duplicate token '", token, "'");
    tokens_.push_back(std::move(token));
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace simad::text
