// simad/text/segmenter.hpp: Chinese word segmentation, byte-identical to Python jieba 0.42.1's
// jieba.cut(text, HMM=False) and jieba.cut(text) (jieba/__init__.py, Tokenizer.cut).
//
// The algorithm, as jieba runs it on a str (code points; an emoji is one character):
//  1. Split the text into blocks by re_han_default = ([\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]+).
//     A block outside that class is split by re_skip_default = (\r\n|\s): every character is its
//     own token, except that "\r\n" stays one token (whitespace is yielded, not dropped; \s is
//     Python's str.isspace(), see utf8.hpp).
//  2. A Han-class block gets the DAG of dictionary words starting at each position (get_DAG) and
//     the route of maximum log-probability from the end backwards (calc):
//       route[i] = max over ends x of ( log(freq(block[i..x])) - log(total) + route[x+1], x )
//     a tuple max, so equal probabilities go to the LONGER word. A position with no dictionary word
//     is a one-character edge with log(1) - log(total).
//  3. HMM=False (__cut_DAG_NO_HMM): follow the route; consecutive one-character steps that are
//     ASCII letters or digits are glued into one token ("iPhone", "2024"), others are yielded.
//     HMM=True (__cut_DAG): consecutive one-character steps are buffered; a buffer of one character
//     is yielded as is, a buffer that is itself a dictionary word (freq > 0) is yielded character by
//     character, and any other buffer goes to the HMM (hmm_segmenter.hpp, finalseg.cut).
//
// Tokens come back as byte ranges of the input (no copies). Text should be valid UTF-8; an
// ill-formed sequence decodes to U+FFFD (a non-Han character, so its own token covering the bad
// bytes): nothing crashes and no byte is lost. Callers that must not pass bad bytes on repair
// first (repair_utf8, or the Tokenizer in tokenizer.hpp, which does).
//
// A Segmenter is read-only after loading and may be shared by threads, each with its own Scratch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simad/text/hmm_segmenter.hpp"
#include "simad/text/jieba_dict.hpp"
#include "simad/text/utf8.hpp"

namespace simad::text {

// A token: bytes [begin, end) of the segmented text.
struct TokenSpan {
  uint32_t begin = 0, end = 0;
  std::string_view in(std::string_view text) const { return text.substr(begin, end - begin); }
};

class Segmenter {
 public:
  // Per-thread working memory, reused across calls so segmenting a line allocates nothing.
  struct Scratch {
    std::u32string chars;
    std::vector<uint32_t> offsets;  // byte offset of each character, plus the end
    std::vector<double> route_prob;
    std::vector<uint32_t> route_end;
    std::vector<std::pair<uint32_t, uint32_t>> pieces;  // HMM output, character ranges
    HmmSegmenter::Scratch hmm;
  };

  Segmenter(JiebaDict dict, HmmSegmenter hmm) : dict_(std::move(dict)), hmm_(std::move(hmm)) {}

  // dict.txt and finalseg/ from a jieba directory (default: jieba_dir(), i.e. $SIMAD_JIEBA_DIR or
  // Debian's python3-jieba).
  static Segmenter load(const std::string& dir = jieba_dir()) {
    JiebaDict dict = JiebaDict::load(dir + "/dict.txt");  // first: a missing jieba names dict.txt
    return Segmenter(std::move(dict), HmmSegmenter::load(dir + "/finalseg"));
  }

  const JiebaDict& dict() const { return dict_; }
  const HmmSegmenter& hmm_model() const { return hmm_; }

  // jieba.cut(text, HMM=hmm): appends the tokens of `text` to `out` as byte ranges.
  void cut(std::string_view text, bool hmm, std::vector<TokenSpan>& out, Scratch& s) const {
    if (text.size() >= 0xFFFFFFFFu) fail("text::Segmenter::cut: text longer than 4 GiB");
    if (s.chars.size() < text.size()) s.chars.resize(text.size());
    if (s.offsets.size() < text.size() + 1) s.offsets.resize(text.size() + 1);
    size_t n = 0;
    for (size_t i = 0; i < text.size(); ++n) {
      char32_t c;
      const size_t len = uint8_t(text[i]) < 0x80 ? (c = char32_t(uint8_t(text[i])), 1) : decode_one(text, i, c);
      s.chars[n] = c;
      s.offsets[n] = uint32_t(i);
      i += len;
    }
    s.offsets[n] = uint32_t(text.size());
    const std::u32string_view chars = std::u32string_view(s.chars).substr(0, n);
    size_t i = 0;
    while (i < n) {
      size_t j = i;
      if (is_han_class(chars[i])) {
        while (j < n && is_han_class(chars[j])) ++j;
        if (hmm) cut_block_hmm(i, j, out, s);
        else cut_block_no_hmm(i, j, out, s);
      } else {
        while (j < n && !is_han_class(chars[j])) ++j;
        for (size_t k = i; k < j;) {
          const size_t len = (chars[k] == U'\r' && k + 1 < j && chars[k + 1] == U'\n') ? 2 : 1;
          emit(k, k + len, out, s);
          k += len;
        }
      }
      i = j;
    }
  }

  // Convenience: the tokens as strings (a fresh Scratch per call).
  std::vector<std::string> cut(std::string_view text, bool hmm = true) const {
    Scratch s;
    std::vector<TokenSpan> spans;
    cut(text, hmm, spans, s);
    std::vector<std::string> words;
    words.reserve(spans.size());
    for (const TokenSpan& t : spans) words.emplace_back(t.in(text));
    return words;
  }

  // re_han_default's class: [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]
  static bool is_han_class(char32_t c) {
    if (c < 0x80) return is_ascii_alnum(c) || c == '+' || c == '#' || c == '&' || c == '.' || c == '_' ||
                         c == '%' || c == '-';
    return c >= 0x4E00 && c <= 0x9FD5;
  }
  static bool is_ascii_alnum(char32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }

 private:
  void emit(size_t begin, size_t end, std::vector<TokenSpan>& out, const Scratch& s) const {
    out.push_back(TokenSpan{s.offsets[begin], s.offsets[end]});
  }

  // calc(): route_end[k] = the last character of the best first word at k, for k in [b, e).
  void route(size_t b, size_t e, Scratch& s) const {
    if (s.route_prob.size() < e + 1) s.route_prob.resize(e + 1), s.route_end.resize(e + 1);
    s.route_prob[e] = 0.0;
    const double unknown = 0.0 - dict_.log_total();
    for (size_t k = e; k-- > b;) {
      double best_p = 0.0;
      size_t best_x = 0;
      bool found = false;
      uint32_t node = dict_.child(JiebaDict::root(), s.chars[k]);
      for (size_t x = k; node != JiebaDict::kNoChild;) {
        if (dict_.is_word(node)) {
          const double p = dict_.log_prob(node) + s.route_prob[x + 1];
          if (!found || p >= best_p) best_p = p, best_x = x, found = true;  // >=: the later end wins a tie
        }
        if (++x >= e) break;
        node = dict_.child(node, s.chars[x]);
      }
      if (!found) best_p = unknown + s.route_prob[k + 1], best_x = k;
      s.route_prob[k] = best_p;
      s.route_end[k] = uint32_t(best_x);
    }
  }

  void cut_block_no_hmm(size_t b, size_t e, std::vector<TokenSpan>& out, Scratch& s) const {
    route(b, e, s);
    size_t buf = b, x = b;  // pending ASCII letters/digits: [buf, x)
    while (x < e) {
      const size_t y = s.route_end[x] + 1;
      if (y - x != 1 || !is_ascii_alnum(s.chars[x])) {
        if (buf < x) emit(buf, x, out, s);
        emit(x, y, out, s);
        buf = y;
      }
      x = y;
    }
    if (buf < e) emit(buf, e, out, s);
  }

  // A buffer of one-character route steps, [b, e), as __cut_DAG flushes it.
  void flush_hmm_buffer(size_t b, size_t e, std::vector<TokenSpan>& out, Scratch& s) const {
    if (e - b == 1) {
      emit(b, e, out, s);
      return;
    }
    const uint32_t node = dict_.find(std::u32string_view(s.chars).substr(b, e - b));
    if (node != JiebaDict::kNoChild && dict_.freq(node) > 0) {
      for (size_t k = b; k < e; ++k) emit(k, k + 1, out, s);
      return;
    }
    s.pieces.clear();
    hmm_.cut(s.chars, b, e, s.pieces, s.hmm);
    for (const auto& [pb, pe] : s.pieces) emit(pb, pe, out, s);
  }

  void cut_block_hmm(size_t b, size_t e, std::vector<TokenSpan>& out, Scratch& s) const {
    route(b, e, s);
    size_t buf = b, x = b;  // pending one-character steps: [buf, x)
    while (x < e) {
      const size_t y = s.route_end[x] + 1;
      if (y - x != 1) {
        if (buf < x) flush_hmm_buffer(buf, x, out, s);
        emit(x, y, out, s);
        buf = y;
      }
      x = y;
    }
    if (buf < e) flush_hmm_buffer(buf, e, out, s);
  }

  JiebaDict dict_;
  HmmSegmenter hmm_;
};

}  // namespace simad::text
