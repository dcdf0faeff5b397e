// Tests of the rest of the text pipeline: UTF-8 (decode/repair against the Unicode Standard's
// examples and a brute-force reference decoder), normalisation (NFKC facts), POS tags and keyword
// labels (dict.txt and WordNet read independently here), the tokenizer (its untagged words against
// the raw segmenter on random texts), vocabularies (build, save, load, errors) and batch encoding
// (against a plain loop).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "simad/text/text.hpp"
#include "testing.hpp"
#include "text_testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace text = simad::text;

// ---- A reference UTF-8 decoder written from the definitions (Unicode ch. 3.9, D92 and "maximal
// subpart"), by brute force: a sequence is well-formed when it decodes to a scalar value with the
// shortest length; a maximal subpart is the longest prefix that some continuation completes.
bool well_formed(const std::vector<uint8_t>& b, char32_t* out = nullptr) {
  const size_t n = b.size();
  if (n == 0 || n > 4) return false;
  char32_t v;
  if (n == 1) {
    if (b[0] >= 0x80) return false;
    v = b[0];
  } else {
    const uint8_t lead_mask = n == 2 ? 0xE0 : n == 3 ? 0xF0 : 0xF8;
    const uint8_t lead_bits = n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0;
    if ((b[0] & lead_mask) != lead_bits) return false;
    v = b[0] & uint8_t(~lead_mask);
    for (size_t i = 1; i < n; ++i) {
      if ((b[i] & 0xC0) != 0x80) return false;
      v = (v << 6) | (b[i] & 0x3F);
    }
    const char32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
  }
  if (out) *out = v;
  return true;
}
bool completable(std::vector<uint8_t> prefix) {
  static const uint8_t kTrail[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};  // the range edges that matter
  if (well_formed(prefix)) return true;
  if (prefix.size() >= 4) return false;
  for (uint8_t t : kTrail) {
    prefix.push_back(t);
    if (completable(prefix)) return true;
    prefix.pop_back();
  }
  return false;
}
std::vector<uint8_t> bytes_at(const std::string& s, size_t i, size_t n) {
  std::vector<uint8_t> b;
  for (size_t k = i; k < i + n; ++k) b.push_back(uint8_t(s[k]));
  return b;
}
std::string numbered(const char* prefix, uint64_t n) {
  std::string s = prefix;
  s += std::to_string(n);
  return s;
}
std::u32string reference_decode(const std::string& s, size_t& replaced) {
  std::u32string out;
  replaced = 0;
  size_t i = 0;
  while (i < s.size()) {
    bool done = false;
    for (size_t n = 4; n >= 1 && !done; --n) {
      if (i + n > s.size()) continue;
      const std::vector<uint8_t> b = bytes_at(s, i, n);
      char32_t v;
      if (well_formed(b, &v)) out.push_back(v), i += n, done = true;
    }
    if (done) continue;
    size_t sub = 1;
    for (size_t n = 3; n >= 2; --n) {
      if (i + n > s.size()) continue;
      if (completable(bytes_at(s, i, n))) {
        sub = n;
        break;
      }
    }
    out.push_back(0xFFFD);
    ++replaced;
    i += sub;
  }
  return out;
}

const text::WordNetLexicon* wordnet() {
  static std::unique_ptr<text::WordNetLexicon> w = []() -> std::unique_ptr<text::WordNetLexicon> {
    if (!std::filesystem::exists(text::wordnet_dir() + "/index.noun")) return nullptr;
    return std::make_unique<text::WordNetLexicon>(text::WordNetLexicon::load());
  }();
  return w.get();
}

const text::Tokenizer* tokenizer() {
  static std::unique_ptr<text::Tokenizer> t = []() -> std::unique_ptr<text::Tokenizer> {
    if (!simad::testing::jieba_segmenter() || !wordnet()) return nullptr;
    return std::make_unique<text::Tokenizer>(text::Tokenizer::load());
  }();
  return t.get();
}

}  // namespace

TEST_CASE("text/utf8: ill-formed sequences become U+FFFD by maximal subparts as the Unicode Standard shows") {
  // The Unicode Standard, ch. 3.9, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
  // -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d.
  const std::string bytes = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  const text::Decoded d = text::decode(bytes);
  CHECK(d.chars == U"a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
  CHECK(d.replaced == 6);
  size_t replaced = 99;
  CHECK(text::repair_utf8(bytes, &replaced) == "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c"
                                               "\xEF\xBF\xBD\xEF\xBF\xBD" "d");
  CHECK(replaced == 6);
  // A genuine U+FFFD is valid text, not a replacement.
  CHECK(text::is_valid_utf8("\xEF\xBF\xBD"));
  CHECK(text::decode("\xEF\xBF\xBD").replaced == 0);
  CHECK_FALSE(text::is_valid_utf8("\xED\xA0\x80"));   // a surrogate
  CHECK_FALSE(text::is_valid_utf8("\xC0\xAF"));       // overlong
  CHECK_FALSE(text::is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK(text::is_valid_utf8("\xF4\x8F\xBF\xBF"));     // U+10FFFF
}

TEST_CASE("text/utf8: decode and repair match a brute-force reference decoder on random bytes") {
  simad::Rng rng = simad::testing::test_rng();
  static const uint8_t kInteresting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                         0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string s;
    const auto len = size_t(rng.bits_at(uint64_t(trial) * 64) % 12);
    for (size_t i = 0; i < len; ++i) {
      const uint64_t r = rng.bits_at(uint64_t(trial) * 64 + 1 + i);
      s.push_back(char(r % 3 ? kInteresting[(r >> 8) % std::size(kInteresting)] : uint8_t(r >> 16)));
    }
    size_t want_replaced = 0;
    const std::u32string want = reference_decode(s, want_replaced);
    const text::Decoded got = text::decode(s);
    REQUIRE_MESSAGE(got.chars == want, "trial ", trial);
    CHECK(got.replaced == want_replaced);
    size_t replaced = 0;
    const std::string repaired = text::repair_utf8(s, &replaced);
    CHECK(replaced == want_replaced);
    CHECK(text::is_valid_utf8(repaired));
    CHECK(text::decode(repaired).chars == want);
    CHECK(text::is_valid_utf8(s) == (want_replaced == 0 && text::encode(want) == s));
  }
  // Every scalar value round-trips.
  for (char32_t c = 0; c <= 0x10FFFF; c += (c < 0x800 ? 1 : 97)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const std::string e = text::encode(std::u32string(1, c));
    const text::Decoded d = text::decode(e);
    REQUIRE(d.chars.size() == 1);
    CHECK(d.chars[0] == c);
    CHECK(d.replaced == 0);
  }
}

TEST_CASE("text/utf8: NFKC and case folding") {
  // Facts of Unicode's compatibility mappings: full-width forms, ligatures, circled digits.
  CHECK(text::normalize("ＡＢＣ１２３！（）") == "abc123!()");
  CHECK(text::normalize("Ｎｉｋｅ新款　包邮") == "nike新款 包邮");  // U+3000 -> space
  CHECK(text::normalize("ﬁne ①") == "fine 1");
  CHECK(text::normalize("Straße ΑΒΓ") == "strasse αβγ");
  CHECK(text::normalize("新款女士牛仔裤") == "新款女士牛仔裤");
  CHECK(text::normalize("ＡＢＣ", {.nfkc = true, .casefold = false}) == "ABC");
  CHECK(text::normalize("Cafe\xCC\x81", {.nfkc = false, .casefold = false}) == "Cafe\xCC\x81");
  CHECK(text::normalize("Cafe\xCC\x81", {.nfkc = false, .casefold = true}) == "caf\xC3\xA9");
  size_t replaced = 0;
  CHECK(text::normalize("Ａ\xFF\xC3", {}, &replaced) == "a\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(replaced == 2);
  CHECK(text::normalize(std::string("a\0b", 3)) == std::string("a\0b", 3));  // NUL kept
}

TEST_CASE("text/pos: dictionary tags and the unknown-word rules") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  // Tags read from dict.txt independently (last occurrence of each word, as jieba keeps it).
  const std::vector<std::string> sample = {"牛仔裤", "女士", "新款", "特惠", "限时", "的", "我", "来到", "漂亮", "购买", "T恤"};
  std::map<std::string, std::string> tag;
  for (const std::string& line : simad::testing::split_lines(simad::testing::slurp(text::jieba_dir() + "/dict.txt"))) {
    const size_t a = line.find(' '), b = line.rfind(' ');
    if (a == std::string::npos || b <= a) continue;
    const std::string word = line.substr(0, a);
    if (std::find(sample.begin(), sample.end(), word) != sample.end()) tag[word] = line.substr(b + 1);
  }
  for (const std::string& w : sample) {
    REQUIRE_MESSAGE(tag.count(w), w);
    CHECK_MESSAGE(tok->tag_of(w) == tag[w], w);
    const char t0 = tag[w][0];
    CHECK_MESSAGE(tok->keyword_of(w, tag[w]) == ((t0 == 'n' || t0 == 'v' || t0 == 'a') ? 1 : 0), w);
  }
  CHECK(tok->tag_of("123") == "m");
  CHECK(tok->tag_of("3.14%") == "m");
  CHECK(tok->tag_of("iPhone15") == "eng");
  CHECK(tok->tag_of("！") == "x");
  CHECK(tok->tag_of("🔥") == "x");
  CHECK(tok->tag_of("杭研") == "nz");  // not in dict.txt: an HMM word
  CHECK(tok->keyword_of("杭研", "nz") == 1);
  CHECK(tok->keyword_of("123", "m") == 0);
}

TEST_CASE("text/pos: English keywords come from WordNet minus stop words") {
  const text::WordNetLexicon* wn = wordnet();
  if (!wn) {
    MESSAGE("skipped: wordnet-base is not installed");
    return;
  }
  // Independent reading of index.noun/verb/adj: first field of each non-licence line.
  std::set<std::string> lemmas;
  for (const char* f : {"index.noun", "index.verb", "index.adj"})
    for (const std::string& line : simad::testing::split_lines(simad::testing::slurp(text::wordnet_dir() + "/" + f)))
      if (!line.empty() && line[0] != ' ') lemmas.insert(line.substr(0, line.find(' ')));
  simad::Rng rng = simad::testing::test_rng();
  std::vector<std::string> all(lemmas.begin(), lemmas.end());
  for (int i = 0; i < 300; ++i) {
    const std::string& w = all[size_t(rng.bits_at(uint64_t(i)) % all.size())];
    const bool stop = text::stop_words().count(w) != 0;
    const bool has_digit = w.find_first_of("0123456789") != std::string::npos;
    CHECK_MESSAGE(text::english_keyword(w, *wn) == (!stop && !has_digit), w);
  }
  CHECK(text::english_keyword("Shoes", *wn));    // plural -> shoe
  CHECK(text::english_keyword("running", *wn));  // -> run
  CHECK(text::english_keyword("cheaper", *wn));  // -> cheap
  CHECK_FALSE(text::english_keyword("the", *wn));
  CHECK_FALSE(text::english_keyword("a", *wn));   // WordNet's vitamin A: a stop word here
  CHECK_FALSE(text::english_keyword("can", *wn));
  CHECK_FALSE(text::english_keyword("xqzvw", *wn));
  CHECK_THROWS_AS(text::WordNetLexicon::load("/nonexistent/wordnet"), simad::Error);
}

TEST_CASE("text/tokenizer: normalises then segments and drops whitespace") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  const std::string raw = "新款ＮＩＫＥ运动鞋　限时特惠\t包邮！\xFF";
  size_t replaced = 0;
  const std::vector<text::Word> words = tok->tokenize(raw, &replaced);
  CHECK(replaced == 1);
  // Reference: segment the normalised text with the raw segmenter, drop whitespace tokens.
  const std::string norm = text::normalize(raw);
  std::vector<std::string> want;
  for (const std::string& w : tok->segmenter().cut(norm, true))
    if (!text::Tokenizer::is_whitespace_only(w)) want.push_back(w);
  REQUIRE(words.size() == want.size());
  for (size_t i = 0; i < words.size(); ++i) {
    CHECK(words[i].text == want[i]);
    CHECK(words[i].tag == tok->tag_of(want[i]));
  }
  CHECK(std::find_if(words.begin(), words.end(), [](const text::Word& w) { return w.text == "nike"; }) != words.end());
  CHECK(text::Tokenizer::is_whitespace_only(" \t\r\n\u3000\u00a0"));
  CHECK_FALSE(text::Tokenizer::is_whitespace_only(" x "));
}

namespace {

// Random texts from pieces that exercise the segmenter's paths: dictionary words, Han the HMM
// joins, ASCII runs, every kind of whitespace jieba knows (its own tokens), full-width forms (what
// normalising changes) and, when `invalid`, ill-formed UTF-8.
std::vector<std::string> random_texts(simad::Rng& rng, size_t count, bool invalid) {
  static const char* const kPieces[] = {"新款", "牛仔裤", "我", "来到", "北京", "清华大学", "杭研", "限时特惠", "包邮",
                                        "Nike", "abc", "123", "！", "，", "ＮＩＫＥ", " ", "  ", "\t", "\u3000",
                                        "\u00a0", "\r", "x y"};
  static const char* const kInvalid[] = {"\xff", "\xe4\xb8", "\xc0\xaf", "\xed\xa0\x80"};
  std::vector<std::string> texts(count);
  for (std::string& t : texts) {
    const uint32_t n = rng.next_below(12);
    for (uint32_t i = 0; i < n; ++i) {
      if (invalid && rng.next_below(5) == 0) t += kInvalid[rng.next_below(uint32_t(std::size(kInvalid)))];
      else t += kPieces[rng.next_below(uint32_t(std::size(kPieces)))];
    }
  }
  return texts;
}

// What `simad tokenize` printed before Tokenizer::words() existed: repair (or normalise), cut with
// the raw segmenter, drop the whitespace-only tokens.
std::vector<std::string> reference_words(const text::Segmenter& seg, const std::string& raw, bool normalize, bool hmm,
                                         size_t& replaced) {
  replaced = 0;
  const std::string clean = normalize ? text::normalize(raw, {}, &replaced) : text::repair_utf8(raw, &replaced);
  std::vector<std::string> out;
  for (const std::string& w : seg.cut(clean, hmm))
    if (!text::Tokenizer::is_whitespace_only(w)) out.push_back(w);
  return out;
}

}  // namespace

TEST_CASE("text/tokenizer: words() are the cut and cleaned words, in every mode, without WordNet") {
  const text::Segmenter* seg = simad::testing::jieba_segmenter();
  if (!seg) {
    MESSAGE("skipped: python3-jieba's dict.txt is not installed");
    return;
  }
  simad::Rng rng = simad::testing::test_rng();
  const std::string corpus = simad::testing::slurp(simad::testing::text_data("corpus.txt"));
  std::vector<std::string> texts = simad::testing::split_lines(corpus);
  texts.resize(std::min<size_t>(texts.size(), 300));
  for (std::string& t : random_texts(rng, 300, true)) texts.push_back(std::move(t));
  texts.push_back("");
  texts.push_back(" \t\u3000 ");
  for (const bool normalize : {false, true}) {
    for (const bool hmm : {false, true}) {
      text::TokenizerOptions options;
      options.normalize = normalize;
      options.hmm = hmm;
      const text::Tokenizer tok(*seg, std::nullopt, options);  // words() needs no WordNet
      size_t mismatches = 0;
      for (const std::string& t : texts) {
        size_t got_replaced = 0, want_replaced = 0;
        const std::vector<std::string> got = tok.words(t, &got_replaced);
        const std::vector<std::string> want = reference_words(*seg, t, normalize, hmm, want_replaced);
        if (got != want || got_replaced != want_replaced) {
          if (++mismatches <= 3)
            MESSAGE("normalize ", normalize, ", hmm ", hmm, ": '", t, "'\n  got:  ", simad::testing::show_tokens(got),
                    "\n  want: ", simad::testing::show_tokens(want));
        }
      }
      CHECK_MESSAGE(mismatches == 0, "normalize ", normalize, ", hmm ", hmm, ": ", mismatches, " of ", texts.size(),
                    " texts differ; seed ", simad::testing::test_seed());
    }
  }
  // An ill-formed sequence is counted and becomes U+FFFD; a whitespace-only text has no words.
  text::TokenizerOptions raw_options;
  raw_options.normalize = false;
  const text::Tokenizer raw(*seg, std::nullopt, raw_options);
  size_t replaced = 0;
  CHECK(raw.words("我来到\xff北京", &replaced) == std::vector<std::string>{"我", "来到", "\uFFFD", "北京"});
  CHECK(replaced == 1);
  CHECK(raw.words(" \t\u3000 ").empty());
  CHECK(raw.words("我来到北京清华大学") == std::vector<std::string>{"我", "来到", "北京", "清华大学"});
}

TEST_CASE("text/tokenizer: words() equal tokenize()'s words without their tags") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  simad::Rng rng = simad::testing::test_rng();
  for (const std::string& t : random_texts(rng, 200, true)) {
    size_t replaced_words = 0, replaced_tokens = 0;
    const std::vector<std::string> got = tok->words(t, &replaced_words);
    std::vector<std::string> want;
    for (const text::Word& w : tok->tokenize(t, &replaced_tokens)) want.push_back(w.text);
    CHECK_MESSAGE(got == want, "'", t, "': ", simad::testing::show_tokens(got), " vs ",
                  simad::testing::show_tokens(want));
    CHECK(replaced_words == replaced_tokens);
  }
}

TEST_CASE("text/vocab: build orders by count then bytes with min count and max size") {
  simad::Rng rng = simad::testing::test_rng();
  std::unordered_map<std::string, int64_t> counts;
  for (int i = 0; i < 500; ++i) counts[numbered("w", rng.bits_at(uint64_t(i)) % 300)] += 1;
  counts["[UNK]"] = 1000;  // a special in the data is not duplicated
  for (int64_t min_count : {1, 2, 3}) {
    for (size_t max_size : {size_t(0), size_t(4), size_t(50)}) {
      const text::Vocab v = text::Vocab::build(counts, min_count, max_size);
      // Reference: every eligible token, sorted by (-count, token).
      std::vector<std::pair<int64_t, std::string>> ref;
      for (const auto& [t, c] : counts)
        if (c >= min_count && t != "[UNK]") ref.emplace_back(-c, t);
      std::sort(ref.begin(), ref.end());
      size_t n = ref.size() + 4;
      if (max_size) n = std::min(n, max_size);
      REQUIRE(v.size() == n);
      CHECK(v.token(0) == "[PAD]");
      CHECK(v.token(1) == "[UNK]");
      CHECK(v.token(2) == "[CLS]");
      CHECK(v.token(3) == "[MASK]");
      for (size_t i = 4; i < n; ++i) {
        CHECK(v.token(int32_t(i)) == ref[i - 4].second);
        CHECK(v.id(ref[i - 4].second) == int32_t(i));
      }
      CHECK(v.id("never-seen") == text::Vocab::kUnk);
    }
  }
  CHECK_THROWS_AS(text::Vocab::build(counts, 1, 3), simad::Error);
  CHECK_THROWS_AS(text::Vocab().token(4), simad::Error);
}

TEST_CASE("text/vocab: save and load round-trip and bad files are errors with the line") {
  std::unordered_map<std::string, int64_t> counts = {{"牛仔裤", 5}, {"nike", 3}, {"🔥", 2}, {"x", 1}};
  const text::Vocab v = text::Vocab::build(counts);
  const std::string path = "text_vocab_test.txt";
  v.save(path);
  const text::Vocab back = text::Vocab::load(path);
  CHECK(back.tokens() == v.tokens());
  std::filesystem::remove(path);
  auto error_of = [](const std::string& content) {
    try {
      text::Vocab::parse(content, "v.txt");
    } catch (const simad::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("[PAD]\n[UNK]\n[CLS]\n[MASK]\na\na\n").find("line 6") != std::string::npos);  // duplicate
  CHECK(error_of("[PAD]\n[UNK]\n[CLS]\n[MASK]\n\nb\n").find("line 5") != std::string::npos);   // empty
  CHECK(error_of("[PAD]\n[CLS]\n").find("line 2") != std::string::npos);                       // specials
  CHECK(error_of("[PAD]\n[UNK]\n[CLS]\n[MASK]\n\xFF\n").find("line 5") != std::string::npos);  // not UTF-8
  CHECK(error_of("[PAD]\n[UNK]\n").find("fewer") != std::string::npos);
  CHECK(error_of("[PAD]\n[UNK]\n[CLS]\n[MASK]\nok\n") == "no error");
  CHECK_THROWS_AS(text::Vocab::load("/nonexistent/vocab.txt"), simad::Error);
}

TEST_CASE("text/encode: padded ids POS keyword and mask match a plain loop with truncation") {
  simad::Rng rng = simad::testing::test_rng();
  const std::vector<std::string> tags = {"n", "v", "a", "x", "eng", "m"};
  std::unordered_map<std::string, int64_t> word_counts, tag_counts;
  std::vector<std::vector<text::Word>> batch;
  for (int b = 0; b < 5; ++b) {
    std::vector<text::Word> words;
    const int n = b == 0 ? 0 : b == 1 ? 1 : int(rng.bits_at(uint64_t(b)) % 12);
    for (int i = 0; i < n; ++i) {
      const uint64_t r = rng.bits_at(uint64_t(100 + b * 50 + i));
      text::Word w{numbered("w", r % 20), tags[(r >> 8) % tags.size()], uint8_t((r >> 16) & 1)};
      if (r % 20 < 15) word_counts[w.text] += 1;  // the others stay unknown
      tag_counts[w.tag] += 1;
      words.push_back(w);
    }
    batch.push_back(words);
  }
  const text::Vocab wv = text::Vocab::build(word_counts), tv = text::Vocab::build(tag_counts);
  for (bool cls : {true, false}) {
    for (int64_t L : {int64_t(2), int64_t(5), int64_t(16)}) {
      const text::EncodedBatch e = text::encode_batch(batch, wv, tv, L, cls);
      REQUIRE(e.ids.shape() == simad::Shape({5, L}));
      size_t truncated = 0;
      for (int64_t b = 0; b < 5; ++b) {
        const auto& words = batch[size_t(b)];
        const int64_t offset = cls ? 1 : 0;
        if (int64_t(words.size()) + offset > L) ++truncated;
        for (int64_t l = 0; l < L; ++l) {
          int32_t id = 0, pos = 0, kw = -1;
          uint8_t m = 0;
          if (cls && l == 0) {
            id = pos = 2, m = 1;
          } else if (l - offset < int64_t(words.size())) {
            const text::Word& w = words[size_t(l - offset)];
            id = word_counts.count(w.text) ? wv.id(w.text) : 1;
            pos = tv.id(w.tag);
            kw = w.keyword;
            m = 1;
          }
          CHECK(e.ids(b, l) == id);
          CHECK(e.pos(b, l) == pos);
          CHECK(e.keyword(b, l) == kw);
          CHECK(e.mask(b, l) == m);
        }
        CHECK(e.lengths[size_t(b)] == std::min<int64_t>(L, int64_t(words.size()) + offset));
      }
      CHECK(e.truncated == truncated);
    }
  }
  CHECK_THROWS_AS(text::encode_batch(batch, wv, tv, 1, true), simad::Error);
  CHECK_THROWS_AS(text::encode_batch({}, wv, tv, 8, true), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
