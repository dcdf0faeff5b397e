// simad/text/hmm_segmenter.hpp: jieba's finalseg, the B/M/E/S hidden Markov model that segments
// runs of characters the dictionary does not cover (jieba/finalseg/__init__.py).
//
// The probabilities are jieba's own: finalseg/prob_start.py, prob_trans.py and prob_emit.py, Python
// source files holding one dict literal each (P = {'B': -0.26, ...}, P = {'B': {'\u4e00': -3.65,
// ...}}). They are parsed here at run time by a small parser of Python literals (dicts, strings with
// escapes, floats), never copied into simad. A malformed file is an error naming it, the line and
// the column.
//
// cut() reproduces finalseg.cut exactly:
//  - the text is split into runs of [\u4E00-\u9FD5] (re_han) and the rest;
//  - a Han run goes through viterbi() (states BMES, missing emissions = MIN_FLOAT = -3.14e100) and
//    is cut at E and S states (a trailing unfinished word is yielded whole);
//  - the rest is split by re_skip = ([a-zA-Z0-9]+(?:\.\d+)?%?): the matches and the non-empty gaps
//    between them are yielded in order.
// Ties are broken as Python's max over (prob, state) tuples does: the larger probability, then the
// later state letter; the sums are evaluated in Python's order, so the doubles are the same.
#pragma once

#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/text/jieba_dict.hpp"
#include "simad/text/utf8.hpp"

namespace simad::text {

// ------------------------------------------------------------------------------------------------
// A parser of the Python literals in jieba's model files: P = <value>, value = dict | str | float.

struct PyValue {
  enum Kind { kNumber, kString, kDict } kind = kNumber;
  double number = 0.0;
  std::u32string string;
  // A dict: keys (strings in these files) and values in file order. Two vectors, because a vector
  // of pairs holding the still-incomplete PyValue does not compile everywhere (clang).
  std::vector<std::u32string> keys;
  std::vector<PyValue> values;
};

class PyLiteralParser {
 public:
  PyLiteralParser(std::string_view text, std::string name) : s_(text), name_(std::move(name)) {}

  // Finds the assignment `P = ...` (after any imports and comments) and parses its value.
  PyValue parse_assignment(std::string_view variable) {
    while (true) {
      skip_space();
      if (i_ >= s_.size()) error("no assignment to '" + std::string(variable) + "'");
      const size_t line_start = i_;
      if (s_.substr(i_, variable.size()) == variable) {
        i_ += variable.size();
        skip_space();
        if (i_ < s_.size() && s_[i_] == '=') {
          ++i_;
          PyValue v = parse_value(0);
          return v;
        }
      }
      i_ = line_start;
      const size_t nl = s_.find('\n', i_);  // some other statement (an import): skip its line
      i_ = nl == std::string_view::npos ? s_.size() : nl + 1;
    }
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < i_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') ++line, col = 1;
      else ++col;
    }
    // throw_error rather than fail(): clang does not treat fail's constructor as noreturn.
    simad::detail::throw_error(simad::detail::concat("jieba HMM model '", name_, "' line ", line, " column ", col, ": ", what),
                               SourceLocation::current());
  }
  void skip_space() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++i_;
      } else if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (c == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') {
        i_ += 2;  // explicit line continuation
      } else {
        break;
      }
    }
  }
  PyValue parse_value(int depth) {
    if (depth > 8) error("nesting too deep");
    skip_space();
    if (i_ >= s_.size()) error("unexpected end of file");
    const char c = s_[i_];
    if (c == '{') return parse_dict(depth);
    if (c == '\'' || c == '"' || c == 'u' || c == 'U') {
      PyValue v;
      v.kind = PyValue::kString;
      v.string = parse_string();
      return v;
    }
    PyValue v;
    v.kind = PyValue::kNumber;
    v.number = parse_number();
    return v;
  }
  PyValue parse_dict(int depth) {
    PyValue v;
    v.kind = PyValue::kDict;
    ++i_;  // '{'
    while (true) {
      skip_space();
      if (i_ >= s_.size()) error("unterminated dict");
      if (s_[i_] == '}') {
        ++i_;
        return v;
      }
      std::u32string key = parse_string();
      skip_space();
      if (i_ >= s_.size() || s_[i_] != ':') error("expected ':' after a dict key");
      ++i_;
      PyValue value = parse_value(depth + 1);
      v.keys.push_back(std::move(key));
      v.values.push_back(std::move(value));
      skip_space();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
      } else if (i_ >= s_.size() || s_[i_] != '}') {
        error("expected ',' or '}' in a dict");
      }
    }
  }
  double parse_number() {
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(uint8_t(s_[i_])) || s_[i_] == '.' || s_[i_] == '-' || s_[i_] == '+'))
      ++i_;
    std::string_view t = s_.substr(start, i_ - start);
    if (!t.empty() && t.front() == '+') t.remove_prefix(1);
    double value = 0.0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
      i_ = start;
      error("expected a number, a string or a dict");
    }
    return value;
  }
  unsigned hex_digits(int n) {
    unsigned v = 0;
    for (int k = 0; k < n; ++k, ++i_) {
      if (i_ >= s_.size()) error("truncated escape");
      const char c = s_[i_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else error("bad hex digit in an escape");
    }
    return v;
  }
  std::u32string parse_string() {
    if (i_ < s_.size() && (s_[i_] == 'u' || s_[i_] == 'U')) ++i_;  // u'...' prefix
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) error("expected a string");
    const char quote = s_[i_++];
    std::u32string out;
    while (true) {
      if (i_ >= s_.size() || s_[i_] == '\n') error("unterminated string");
      const char c = s_[i_];
      if (c == quote) {
        ++i_;
        return out;
      }
      if (c != '\\') {
        char32_t cp;
        const size_t n = decode_one(s_, i_, cp);
        if (cp == kReplacementChar && n != 3) error("invalid UTF-8 in a string");
        out.push_back(cp);
        i_ += n;
        continue;
      }
      ++i_;
      if (i_ >= s_.size()) error("truncated escape");
      const char e = s_[i_++];
      switch (e) {
        case 'u': out.push_back(char32_t(hex_digits(4))); break;
        case 'U': {
          const unsigned v = hex_digits(8);
          if (v > 0x10FFFF) error("escape beyond U+10FFFF");
          out.push_back(char32_t(v));
          break;
        }
        case 'x': out.push_back(char32_t(hex_digits(2))); break;
        case 'n': out.push_back(U'\n'); break;
        case 't': out.push_back(U'\t'); break;
        case 'r': out.push_back(U'\r'); break;
        case '0': out.push_back(U'\0'); break;
        case '\\': case '\'': case '"': out.push_back(char32_t(uint8_t(e))); break;
        default: --i_, error(std::string("unsupported escape \\") + e);
      }
    }
  }

  std::string_view s_;
  std::string name_;
  size_t i_ = 0;
};

// ------------------------------------------------------------------------------------------------

class HmmSegmenter {
 public:
  static constexpr double kMinFloat = -3.14e100;  // finalseg's MIN_FLOAT
  enum State : int { B = 0, M = 1, E = 2, S = 3 };

  // Loads finalseg/prob_{start,trans,emit}.py from a directory (jieba_dir() + "/finalseg").
  static HmmSegmenter load(const std::string& finalseg_dir) {
    HmmSegmenter h;
    const std::string start = finalseg_dir + "/prob_start.py", trans = finalseg_dir + "/prob_trans.py",
                      emit = finalseg_dir + "/prob_emit.py";
    h.set_start(PyLiteralParser(read_text_file(start, "jieba HMM model"), start).parse_assignment("P"), start);
    h.set_trans(PyLiteralParser(read_text_file(trans, "jieba HMM model"), trans).parse_assignment("P"), trans);
    h.set_emit(PyLiteralParser(read_text_file(emit, "jieba HMM model"), emit).parse_assignment("P"), emit);
    return h;
  }
  // From the three files' text (tests).
  static HmmSegmenter from_text(std::string_view start, std::string_view trans, std::string_view emit) {
    HmmSegmenter h;
    h.set_start(PyLiteralParser(start, "prob_start").parse_assignment("P"), "prob_start");
    h.set_trans(PyLiteralParser(trans, "prob_trans").parse_assignment("P"), "prob_trans");
    h.set_emit(PyLiteralParser(emit, "prob_emit").parse_assignment("P"), "prob_emit");
    return h;
  }

  double start_prob(int s) const { return start_[size_t(s)]; }
  double trans_prob(int from, int to) const { return trans_[size_t(from)][size_t(to)]; }
  // emit_p[state].get(c, MIN_FLOAT)
  double emit_prob(int s, char32_t c) const {
    if (c >= kHanFirst && c <= kHanLast) return emit_dense_[size_t(c - kHanFirst) * 4 + size_t(s)];
    const auto it = emit_other_[size_t(s)].find(c);
    return it == emit_other_[size_t(s)].end() ? kMinFloat : it->second;
  }

  // finalseg.viterbi: the best state path for obs (non-empty), written to states.
  // Scratch space of viterbi() and cut(): one per thread (the model itself is read-only).
  struct Scratch {
    std::vector<uint8_t> back, states;
  };

  void viterbi(std::u32string_view obs, std::vector<uint8_t>& states, Scratch& scratch) const {
    const size_t n = obs.size();
    // PrevStatus in the order jieba lists them; the max picks the larger (prob, letter) tuple.
    static constexpr int kPrev[4][2] = {{E, S}, {M, B}, {B, M}, {S, E}};  // for B, M, E, S
    static constexpr char kLetter[4] = {'B', 'M', 'E', 'S'};
    std::vector<uint8_t>& back = scratch.back;
    back.resize(n * 4);
    std::array<double, 4> v{}, next{};
    for (int y = 0; y < 4; ++y) v[size_t(y)] = start_[size_t(y)] + emit_prob(y, obs[0]);
    for (size_t t = 1; t < n; ++t) {
      for (int y = 0; y < 4; ++y) {
        const double em = emit_prob(y, obs[t]);
        int best = -1;
        double best_p = 0.0;
        for (int y0 : kPrev[y]) {
          const double p = v[size_t(y0)] + trans_[size_t(y0)][size_t(y)] + em;
          if (best < 0 || p > best_p || (p == best_p && kLetter[y0] > kLetter[best])) best = y0, best_p = p;
        }
        next[size_t(y)] = best_p;
        back[t * 4 + size_t(y)] = uint8_t(best);
      }
      v = next;
    }
    // max((V[-1][y], y) for y in 'ES'): S wins a tie.
    int state = v[S] >= v[E] ? S : E;
    states.resize(n);
    for (size_t t = n; t-- > 0;) {
      states[t] = uint8_t(state);
      if (t > 0) state = back[t * 4 + size_t(state)];
    }
  }

  // finalseg.cut over chars[begin, end): appends [begin, end) code-point ranges of the pieces.
  void cut(std::u32string_view chars, size_t begin, size_t end, std::vector<std::pair<uint32_t, uint32_t>>& out,
           Scratch& scratch) const {
    size_t i = begin;
    while (i < end) {
      size_t j = i;
      if (is_han(chars[i])) {
        while (j < end && is_han(chars[j])) ++j;
        cut_han(chars, i, j, out, scratch);
      } else {
        while (j < end && !is_han(chars[j])) ++j;
        cut_skip(chars, i, j, out);
      }
      i = j;
    }
  }

  static bool is_han(char32_t c) { return c >= kHanFirst && c <= kHanLast; }

 private:
  static constexpr char32_t kHanFirst = 0x4E00, kHanLast = 0x9FD5;

  static int state_index(std::u32string_view key, const std::string& name) {
    if (key == U"B") return B;
    if (key == U"M") return M;
    if (key == U"E") return E;
    if (key == U"S") return S;
    simad::detail::throw_error(simad::detail::concat("jieba HMM model '", name, "': unknown state '", encode(key),
                                                     "' (expected B, M, E or S)"),
                               SourceLocation::current());
  }
  static const PyValue& expect_dict(const PyValue& v, const std::string& name) {
    if (v.kind != PyValue::kDict) fail("jieba HMM model '", name, "': expected a dict");
    return v;
  }
  static double expect_number(const PyValue& v, const std::string& name) {
    if (v.kind != PyValue::kNumber) fail("jieba HMM model '", name, "': expected a number");
    return v.number;
  }
  void set_start(const PyValue& p, const std::string& name) {
    std::array<bool, 4> seen{};
    const PyValue& d = expect_dict(p, name);
    for (size_t i = 0; i < d.keys.size(); ++i) {
      const int s = state_index(d.keys[i], name);
      start_[size_t(s)] = expect_number(d.values[i], name);
      seen[size_t(s)] = true;
    }
    for (bool b : seen)
      if (!b) fail("jieba HMM model '", name, "': a start probability is missing");  // jieba: KeyError
  }
  void set_trans(const PyValue& p, const std::string& name) {
    for (auto& row : trans_) row.fill(kMinFloat);  // trans_p[y0].get(y, MIN_FLOAT)
    std::array<bool, 4> seen{};
    const PyValue& d = expect_dict(p, name);
    for (size_t i = 0; i < d.keys.size(); ++i) {
      const int from = state_index(d.keys[i], name);
      seen[size_t(from)] = true;
      const PyValue& row = expect_dict(d.values[i], name);
      for (size_t j = 0; j < row.keys.size(); ++j)
        trans_[size_t(from)][size_t(state_index(row.keys[j], name))] = expect_number(row.values[j], name);
    }
    for (bool b : seen)
      if (!b) fail("jieba HMM model '", name, "': a transition row is missing");
  }
  void set_emit(const PyValue& p, const std::string& name) {
    emit_dense_.assign(size_t(kHanLast - kHanFirst + 1) * 4, kMinFloat);
    std::array<bool, 4> seen{};
    const PyValue& d = expect_dict(p, name);
    for (size_t i = 0; i < d.keys.size(); ++i) {
      const int s = state_index(d.keys[i], name);
      seen[size_t(s)] = true;
      const PyValue& row = expect_dict(d.values[i], name);
      for (size_t j = 0; j < row.keys.size(); ++j) {
        const std::u32string& ch = row.keys[j];
        if (ch.size() != 1) continue;  // jieba looks up single characters only: never matched
        const double value = expect_number(row.values[j], name);
        if (is_han(ch[0])) emit_dense_[size_t(ch[0] - kHanFirst) * 4 + size_t(s)] = value;
        else emit_other_[size_t(s)][ch[0]] = value;
      }
    }
    for (bool b : seen)
      if (!b) fail("jieba HMM model '", name, "': an emission row is missing");
  }

  // finalseg.__cut on a run of Han characters.
  void cut_han(std::u32string_view chars, size_t begin, size_t end,
               std::vector<std::pair<uint32_t, uint32_t>>& out, Scratch& scratch) const {
    viterbi(chars.substr(begin, end - begin), scratch.states, scratch);
    size_t word_begin = begin, next = begin;
    for (size_t i = begin; i < end; ++i) {
      const int pos = scratch.states[i - begin];
      if (pos == B) {
        word_begin = i;
      } else if (pos == E) {
        out.emplace_back(uint32_t(word_begin), uint32_t(i + 1));
        next = i + 1;
      } else if (pos == S) {
        out.emplace_back(uint32_t(i), uint32_t(i + 1));
        next = i + 1;
      }
    }
    if (next < end) out.emplace_back(uint32_t(next), uint32_t(end));
  }

  static bool is_alnum(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
  // Python's \d also matches non-ASCII decimal digits, but only jieba's Han-class characters reach
  // finalseg from the segmenter (Han, ASCII letters and digits, +#&._%-), so ASCII is enough.
  static bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }

  // re.split("([a-zA-Z0-9]+(?:\.\d+)?%?)") on a non-Han run, keeping non-empty pieces.
  static void cut_skip(std::u32string_view chars, size_t begin, size_t end,
                       std::vector<std::pair<uint32_t, uint32_t>>& out) {
    size_t gap = begin, i = begin;
    while (i < end) {
      if (!is_alnum(chars[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < end && is_alnum(chars[j])) ++j;
      if (j + 1 < end && chars[j] == '.' && is_digit(chars[j + 1])) {
        j += 2;
        while (j < end && is_digit(chars[j])) ++j;
      }
      if (j < end && chars[j] == '%') ++j;
      if (gap < i) out.emplace_back(uint32_t(gap), uint32_t(i));
      out.emplace_back(uint32_t(i), uint32_t(j));
      gap = i = j;
    }
    if (gap < end) out.emplace_back(uint32_t(gap), uint32_t(end));
  }

  std::array<double, 4> start_{};
  std::array<std::array<double, 4>, 4> trans_{};
  std::vector<double> emit_dense_;
  std::array<std::unordered_map<char32_t, double>, 4> emit_other_;
};

}  // namespace simad::text
