// simad/text/tokenizer.hpp: text -> the words the models see, each with its POS tag and keyword
// label: repair invalid UTF-8 (counted), normalise (NFKC + case folding, on by default here),
// segment as jieba does, drop whitespace-only tokens, tag (pos.hpp).
//
// Normalising before segmenting means "ＮＩＫＥ新款" and "nike新款" give the same words; it is why this
// path is NOT byte-identical to jieba on raw text (the Segmenter is; `simad tokenize` prints raw
// segmentation unless --normalize is given).
//
//   text::Tokenizer tok = text::Tokenizer::load();            // jieba + WordNet from their default places
//   for (const text::Word& w : tok.tokenize("新款女士牛仔裤限时特惠包邮！")) ... w.text, w.tag, w.keyword
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simad/text/pos.hpp"
#include "simad/text/segmenter.hpp"
#include "simad/text/utf8.hpp"

namespace simad::text {

struct Word {
  std::string text;
  std::string tag;     // dict.txt tag or the unknown-word rule (pos.hpp)
  uint8_t keyword = 0;  // 1: noun, verb or adjective
};

struct TokenizerOptions {
  bool normalize = true;      // NFKC + case folding before segmentation
  bool hmm = true;            // jieba's HMM for words the dictionary does not cover
  bool keep_whitespace = false;  // keep whitespace-only tokens (tag "x")
};

class Tokenizer {
 public:
  Tokenizer(Segmenter segmenter, std::optional<WordNetLexicon> wordnet, TokenizerOptions options = {})
      : seg_(std::move(segmenter)), wordnet_(std::move(wordnet)), options_(options) {}

  // jieba from jieba_dir, WordNet from wordnet_dir (both overridable; errors name missing files).
  static Tokenizer load(const std::string& jieba = jieba_dir(), const std::string& wordnet = wordnet_dir(),
                        TokenizerOptions options = {}) {
    Segmenter seg = Segmenter::load(jieba);
    return Tokenizer(std::move(seg), WordNetLexicon::load(wordnet), options);
  }

  const Segmenter& segmenter() const { return seg_; }
  const TokenizerOptions& options() const { return options_; }

  // The words of `text`. *replaced (if given) receives the number of invalid UTF-8 sequences that
  // became U+FFFD.
  std::vector<Word> tokenize(std::string_view text, size_t* replaced = nullptr) const {
    std::string clean;
    const std::vector<TokenSpan> spans = cut(text, clean, replaced);
    std::vector<Word> out;
    out.reserve(spans.size());
    for (const TokenSpan& span : spans) {
      const std::string_view w = span.in(clean);
      if (!options_.keep_whitespace && is_whitespace_only(w)) continue;
      Word word{std::string(w), std::string(tag_of(w)), 0};
      word.keyword = keyword_of(word.text, word.tag);
      out.push_back(std::move(word));
    }
    return out;
  }

  // The same words as tokenize() without tags or keyword labels (no dictionary look-ups, no WordNet):
  // what `simad tokenize` prints. With normalize off, these are jieba.cut's words less the
  // whitespace-only ones.
  std::vector<std::string> words(std::string_view text, size_t* replaced = nullptr) const {
    std::string clean;
    const std::vector<TokenSpan> spans = cut(text, clean, replaced);
    std::vector<std::string> out;
    out.reserve(spans.size());
    for (const TokenSpan& span : spans) {
      const std::string_view w = span.in(clean);
      if (!options_.keep_whitespace && is_whitespace_only(w)) continue;
      out.emplace_back(w);
    }
    return out;
  }

  // The tag of one word (dictionary tag, else the unknown-word rule).
  std::string_view tag_of(std::string_view word) const {
    const uint32_t node = seg_.dict().find(decode(word).chars);
    if (node != JiebaDict::kNoChild && seg_.dict().tag_id(node) != JiebaDict::kNoTag)
      return seg_.dict().tags()[seg_.dict().tag_id(node)];
    return unknown_word_tag(word);
  }
  uint8_t keyword_of(std::string_view word, std::string_view tag) const {
    if (tag == "eng") {
      if (!wordnet_) fail("text::Tokenizer: English keyword labels need WordNet (none loaded)");
      return english_keyword(word, *wordnet_) ? 1 : 0;
    }
    return is_keyword_tag(tag) ? 1 : 0;
  }

  // jieba's whitespace tokens: every character satisfies Python's str.isspace().
  static bool is_whitespace_only(std::string_view w) {
    for (size_t i = 0; i < w.size();) {
      char32_t c;
      i += decode_one(w, i, c);
      if (!is_python_space(c)) return false;
    }
    return true;
  }

 private:
  // Repairs (and, as the options say, normalises) `text` into `clean` and segments it.
  std::vector<TokenSpan> cut(std::string_view text, std::string& clean, size_t* replaced) const {
    clean = options_.normalize ? normalize(text, {}, replaced) : repair_utf8(text, replaced);
    Segmenter::Scratch scratch;
    std::vector<TokenSpan> spans;
    seg_.cut(clean, options_.hmm, spans, scratch);
    return spans;
  }

  Segmenter seg_;
  std::optional<WordNetLexicon> wordnet_;
  TokenizerOptions options_;
};

}  // namespace simad::text
