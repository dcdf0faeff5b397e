// simad/text/pos.hpp: part-of-speech tags and keyword labels of segmented words.
//
// ION labels a word as a keyword when it is a noun, verb or adjective; ToTYEmb predicts masked POS
// tags (MODELS.md). The tag of a word:
//  - a dictionary word: its jieba dict.txt tag (jieba's ICTCLAS-style set: n, nr, ns, nz, v, vn, a, ...);
//  - otherwise by its characters (jieba.posseg's rules for non-Han text, plus one for Han):
//      digits with '.', '%' or ',' (at least one digit)        -> "m"   (numeral)
//      ASCII letters and digits (at least one letter)          -> "eng"
//      anything containing a Han character (an HMM new word)   -> "nz"  (jieba's HMM mostly finds
//                                                                        names and new compounds)
//      everything else (punctuation, symbols, emoji)           -> "x"
// The keyword label: 1 for tags starting with n, v or a (nouns, verbs, adjectives and their
// subclasses: nr, vn, ad, ...); for "eng" words, 1 when the lowercased word (or its base form by
// WordNet's detachment rules: "shoes" -> "shoe", "running" -> "run") is a lemma of WordNet's
// index.noun, index.verb or index.adj and not an English stop word (stop_words() below: function
// words: WordNet lists "a" as a noun (vitamin A) and "be", "do", "can" as verbs). Everything else
// is 0.
//
// WordNet comes from Debian's wordnet-base (/usr/share/wordnet, or $SIMAD_WORDNET_DIR, or a flag):
// missing files are a clear error naming the path.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_set>

#include "simad/core/error.hpp"
#include "simad/text/jieba_dict.hpp"
#include "simad/text/utf8.hpp"

namespace simad::text {

inline std::string wordnet_dir() {
  if (const char* env = std::getenv("SIMAD_WORDNET_DIR"); env && *env) return env;
  return "/usr/share/wordnet";
}

// Common English function words (articles, pronouns, prepositions, conjunctions, auxiliaries,
// quantifiers, adverbs of degree): never keywords even when WordNet lists them.
inline const std::unordered_set<std::string_view>& stop_words() {
  static const std::unordered_set<std::string_view> words = {
      "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
      "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
      "did", "do", "does", "doing", "done", "down", "during", "each", "else", "ever", "every", "few", "for",
      "from", "further", "get", "gets", "got", "had", "has", "have", "having", "he", "her", "here", "hers",
      "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
      "just", "let", "may", "me", "might", "more", "most", "much", "must", "my", "myself", "no", "nor",
      "not", "now", "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves",
      "out", "over", "own", "per", "same", "shall", "she", "should", "so", "some", "such", "than", "that",
      "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
      "through", "to", "too", "under", "until", "up", "upon", "us", "very", "via", "was", "we", "were",
      "what", "when", "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would",
      "yet", "you", "your", "yours", "yourself", "yourselves", "s", "t", "d", "ll", "m", "re", "ve", "o",
      "y", "x", "e", "etc", "also", "still", "even", "quite", "rather", "almost", "already", "always",
      "never", "often", "however", "although", "though", "unless", "whether", "within", "without"};
  return words;
}

// WordNet's noun, verb and adjective lemmas (index.noun / index.verb / index.adj).
class WordNetLexicon {
 public:
  enum Pos { kNoun = 0, kVerb = 1, kAdj = 2 };

  static WordNetLexicon load(const std::string& dir = wordnet_dir()) {
    WordNetLexicon w;
    static constexpr const char* kFiles[3] = {"index.noun", "index.verb", "index.adj"};
    for (int p = 0; p < 3; ++p) {
      const std::string path = dir + "/" + kFiles[p];
      w.add_index(read_text_file(path, "WordNet index",
                                 "install wordnet-base, or set SIMAD_WORDNET_DIR or --wordnet-dir"),
                  path, Pos(p));
    }
    return w;
  }
  // An index file's text (tests); lines starting with two spaces are the licence header.
  void add_index(std::string_view text, const std::string& name, Pos pos) {
    size_t pos_in = 0, added = 0, line_no = 0;
    while (pos_in < text.size()) {
      size_t end = text.find('\n', pos_in);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view line = text.substr(pos_in, end - pos_in);
      pos_in = end + 1;
      ++line_no;
      if (line.empty() || line.front() == ' ') continue;
      const size_t sp = line.find(' ');
      if (sp == std::string_view::npos || sp == 0)
        fail("WordNet index '", name, "' line ", line_no, ": expected 'lemma pos ...'");
      lemmas_[pos].emplace(line.substr(0, sp));
      ++added;
    }
    if (added == 0) fail("WordNet index '", name, "': no entries");
  }

  bool contains(std::string_view lemma, Pos pos) const { return lemmas_[pos].count(std::string(lemma)) != 0; }

  // Is `word` (lowercase) a noun, verb or adjective, directly or through WordNet's morphological
  // detachment rules (morphy's suffix table, without the exception lists)?
  bool is_content_word(std::string_view word) const {
    struct Rule {
      std::string_view suffix, ending;
      Pos pos;
    };
    static constexpr Rule kRules[] = {
        {"s", "", kNoun},    {"ses", "s", kNoun},  {"xes", "x", kNoun},  {"zes", "z", kNoun},
        {"ches", "ch", kNoun}, {"shes", "sh", kNoun}, {"men", "man", kNoun}, {"ies", "y", kNoun},
        {"s", "", kVerb},    {"ies", "y", kVerb},  {"es", "e", kVerb},   {"es", "", kVerb},
        {"ed", "e", kVerb},  {"ed", "", kVerb},    {"ing", "e", kVerb},  {"ing", "", kVerb},
        {"er", "", kAdj},    {"est", "", kAdj},    {"er", "e", kAdj},    {"est", "e", kAdj}};
    for (int p = 0; p < 3; ++p)
      if (contains(word, Pos(p))) return true;
    for (const Rule& r : kRules) {
      if (word.size() <= r.suffix.size() || word.substr(word.size() - r.suffix.size()) != r.suffix) continue;
      std::string base(word.substr(0, word.size() - r.suffix.size()));
      base += r.ending;
      if (contains(base, r.pos)) return true;
    }
    return false;
  }

 private:
  std::array<std::unordered_set<std::string>, 3> lemmas_;
};

// The tag of a word that is not in the dictionary (see the header comment).
inline std::string_view unknown_word_tag(std::string_view word) {
  bool digit = false, letter = false, han = false, numeric_only = true, alnum_only = true;
  for (size_t i = 0; i < word.size();) {
    char32_t c;
    i += decode_one(word, i, c);
    const bool is_digit = c >= '0' && c <= '9';
    const bool is_letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    digit |= is_digit;
    letter |= is_letter;
    han |= c >= 0x4E00 && c <= 0x9FD5;
    if (!is_digit && c != '.' && c != '%' && c != ',') numeric_only = false;
    if (!is_digit && !is_letter) alnum_only = false;
  }
  if (digit && numeric_only) return "m";
  if (letter && alnum_only) return "eng";
  if (han) return "nz";
  return "x";
}

// 1 for nouns, verbs and adjectives by tag (n*, v*, a*), else 0; "eng" words are not decided by
// their tag (see english_keyword).
inline bool is_keyword_tag(std::string_view tag) {
  return !tag.empty() && tag != "eng" && (tag[0] == 'n' || tag[0] == 'v' || tag[0] == 'a');
}

// An English word is a keyword when it has no digit, is not a stop word, and WordNet knows it as a
// noun, verb or adjective. Case-insensitive (ASCII).
inline bool english_keyword(std::string_view word, const WordNetLexicon& wordnet) {
  std::string lower(word);
  for (char& c : lower) {
    if (c >= '0' && c <= '9') return false;
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  if (lower.empty() || stop_words().count(lower)) return false;
  return wordnet.is_content_word(lower);
}

}  // namespace simad::text
