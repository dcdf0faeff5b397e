// Tests of simad/text/segmenter.hpp (+ jieba_dict.hpp, hmm_segmenter.hpp): byte-identical agreement
// with Python jieba, run at test time as the oracle (tests/text/jieba_oracle.py, Debian's
// python3-jieba) on the committed generated corpus (tests/tools/make_text_corpus.py) and on
// hand-picked texts (data/special.jsonl); plus the dictionary and HMM-model loaders and their errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <string>
#include <vector>

#include "simad/text/segmenter.hpp"
#include "text_testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::testing::jieba_segmenter;
using simad::testing::run_jieba_oracle;
using simad::testing::show_tokens;
using simad::testing::slurp;
using simad::testing::split_lines;
using simad::testing::text_data;

// Compares simad with the oracle on every text, both modes; prints the first mismatches.
void check_agreement(const simad::text::Segmenter& seg, const std::vector<std::string>& texts,
                     const std::vector<simad::testing::OracleLine>& expected, const std::string& what) {
  REQUIRE(texts.size() == expected.size());
  size_t mismatches = 0, tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    for (bool hmm : {false, true}) {
      const std::vector<std::string> got = seg.cut(texts[i], hmm);
      const std::vector<std::string>& want = hmm ? expected[i].hmm : expected[i].no_hmm;
      tokens += want.size();
      if (got != want && ++mismatches <= 5)
        MESSAGE(what, " line ", i + 1, (hmm ? " HMM=True" : " HMM=False"), "\n  jieba: ", show_tokens(want),
                "\n  simad: ", show_tokens(got));
    }
  }
  MESSAGE(what, ": ", texts.size(), " texts, ", tokens, " jieba tokens, ", mismatches, " mismatching texts");
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("text/segment: byte-identical to Python jieba in both modes on the generated corpus and special texts") {
  const simad::text::Segmenter* seg = jieba_segmenter();
  if (!seg) {
    MESSAGE("skipped: python3-jieba's dict.txt is not installed");
    return;
  }
  // The 2,400 generated lines; texts a line-based corpus cannot hold ("\r\n", "\n", NUL, edges of
  // the Han range: data/special.jsonl); and the whole corpus as one text (~100 KB, its newlines
  // kept: blocks and HMM buffers never reset). One oracle run for all (Python's start-up dominates).
  const std::string corpus = slurp(text_data("corpus.txt"));
  std::vector<std::string> texts = split_lines(corpus);
  const size_t corpus_lines = texts.size();
  REQUIRE(corpus_lines >= 2000);
  for (const std::string& line : split_lines(slurp(text_data("special.jsonl"))))
    texts.push_back(nlohmann::json::parse(line).get<std::string>());
  texts.push_back(corpus);
  const std::string tmp = "text_segment_oracle_input.jsonl";
  {
    std::ofstream out(tmp, std::ios::binary);
    for (const std::string& t : texts) out << nlohmann::json(t).dump() << "\n";
  }
  const auto expected = run_jieba_oracle(tmp, true);
  std::filesystem::remove(tmp);
  if (!expected) {
    MESSAGE("skipped: the Python oracle (python3-jieba) is not available");
    return;
  }
  REQUIRE(expected->size() == texts.size());
  const std::vector<std::string> lines(texts.begin(), texts.begin() + long(corpus_lines));
  const std::vector<std::string> special(texts.begin() + long(corpus_lines), texts.end());
  check_agreement(*seg, lines, {expected->begin(), expected->begin() + long(corpus_lines)}, "corpus.txt");
  check_agreement(*seg, special, {expected->begin() + long(corpus_lines), expected->end()}, "special texts");
}

TEST_CASE("text/segment: the jieba README example") {
  const simad::text::Segmenter* seg = jieba_segmenter();
  if (!seg) {
    MESSAGE("skipped: python3-jieba's dict.txt is not installed");
    return;
  }
  // jieba's README: 【精确模式】: 我/ 来到/ 北京/ 清华大学; 【新词识别】: 他, 来到, 了, 网易, 杭研, 大厦
  CHECK(seg->cut("我来到北京清华大学") == std::vector<std::string>{"我", "来到", "北京", "清华大学"});
  CHECK(seg->cut("他来到了网易杭研大厦") == std::vector<std::string>{"他", "来到", "了", "网易", "杭研", "大厦"});
  CHECK(seg->cut("他来到了网易杭研大厦", false) ==
        std::vector<std::string>{"他", "来到", "了", "网易", "杭", "研", "大厦"});
}

TEST_CASE("text/segment: a 1 MB single line and invalid UTF-8 are segmented without loss") {
  const simad::text::Segmenter* seg = jieba_segmenter();
  if (!seg) {
    MESSAGE("skipped: python3-jieba's dict.txt is not installed");
    return;
  }
  // Corpus lines joined by spaces up to 1 MB. A space is its own block in jieba, so the long line's
  // tokens must be each line's tokens with " " between them (an independent decomposition).
  const std::vector<std::string> lines = split_lines(slurp(text_data("corpus.txt")));
  std::string big;
  std::vector<std::string> want;
  for (size_t i = 0; big.size() < (1u << 20); ++i) {
    const std::string& line = lines[i % lines.size()];
    if (!big.empty()) big += ' ', want.push_back(" ");
    big += line;
    for (auto& w : seg->cut(line, true)) want.push_back(std::move(w));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> got = seg->cut(big, true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("1 MB line: ", got.size(), " tokens in ", seconds, " s");
  CHECK(got == want);

  // Invalid bytes: each ill-formed sequence is one token (it decodes to U+FFFD, a non-Han
  // character) and the tokens still concatenate to the input byte for byte.
  const std::string bad = "新款\xff\xfe牛仔裤\xe4\xb8限时\xc0\xaf特惠\xed\xa0\x80包邮\xf4\x90\x80\x80!";
  for (bool hmm : {false, true}) {
    const std::vector<std::string> tokens = seg->cut(bad, hmm);
    std::string joined;
    for (const auto& t : tokens) joined += t;
    CHECK(joined == bad);
    CHECK(std::find(tokens.begin(), tokens.end(), std::string("\xff")) != tokens.end());
    CHECK(std::find(tokens.begin(), tokens.end(), std::string("\xe4\xb8")) != tokens.end());
    CHECK(std::find(tokens.begin(), tokens.end(), std::string("牛仔裤")) != tokens.end());
  }
}

TEST_CASE("text/segment: dict.txt loads with jieba's counts") {
  const simad::text::Segmenter* seg = jieba_segmenter();
  if (!seg) {
    MESSAGE("skipped: python3-jieba's dict.txt is not installed");
    return;
  }
  // Independent count: lines, sum of the second fields, and the last frequency of each word.
  const std::string data = slurp(simad::text::jieba_dir() + "/dict.txt");
  size_t lines = 0;
  int64_t total = 0;
  std::unordered_map<std::string, int64_t> last;
  for (const std::string& line : split_lines(data)) {
    if (line.empty()) continue;
    ++lines;
    const size_t a = line.find(' '), b = line.find(' ', a + 1);
    const int64_t f = std::stoll(line.substr(a + 1, b - a - 1));
    total += f;
    last[line.substr(0, a)] = f;
  }
  const auto& dict = seg->dict();
  CHECK(dict.word_count() == lines);
  CHECK(dict.total() == total);
  CHECK(dict.log_total() == std::log(double(total)));
  size_t checked = 0;
  for (const auto& [word, f] : last) {
    if (checked++ % 97) continue;  // a sample of ~3,600 words
    CHECK_MESSAGE(dict.word_freq(word) == f, word);
  }
  CHECK(dict.word_freq("清华") > 0);
  CHECK(dict.word_freq("清华大") == 0);  // a prefix only (jieba's FREQ holds it as 0)
  CHECK(dict.find(simad::text::decode("清华大").chars) != simad::text::JiebaDict::kNoChild);
  CHECK(dict.word_freq("zzzz不存在的词") == 0);
}

TEST_CASE("text/segment: a small dictionary gives jieba's route by hand") {
  // total = 10 + 10 + 10 + 1 + 10 = 41. "cd" (freq 1) vs "c" (10) + "d" (unknown, as freq 1):
  // log(1/41) > log(10/41) + log(1/41), so "cd"; then "ab" + "cd" beats "a" + "b" + "cd".
  auto dict = simad::text::JiebaDict::from_text("ab 10 n\na 10 n\nb 10 v\ncd 1 x\nc 10 n\n");
  auto hmm = simad::text::HmmSegmenter::from_text("P={'B': -0.5, 'E': -3.14e+100, 'M': -3.14e+100, 'S': -1.0}",
                                                  "P={'B': {'E': -0.5, 'M': -0.9}, 'E': {'B': -0.6, 'S': -0.8},"
                                                  " 'M': {'E': -0.3, 'M': -1.2}, 'S': {'B': -0.7, 'S': -0.6}}",
                                                  "P={'B': {}, 'M': {}, 'E': {}, 'S': {}}");
  CHECK(dict.total() == 41);
  simad::text::Segmenter seg(std::move(dict), std::move(hmm));
  CHECK(seg.cut("abcd", false) == std::vector<std::string>{"ab", "cd"});
  // HMM=False glues single ASCII letters/digits: "x", "y", "9" are one-character steps.
  CHECK(seg.cut("xy9ab", false) == std::vector<std::string>{"xy9", "ab"});
  // HMM=True sends the buffer "xy9" to finalseg, whose re_skip keeps [a-zA-Z0-9]+ together.
  CHECK(seg.cut("xy9ab", true) == std::vector<std::string>{"xy9", "ab"});
  CHECK(seg.cut("ab ab\r\n!", true) == std::vector<std::string>{"ab", " ", "ab", "\r\n", "!"});
}

TEST_CASE("text/segment: the Python literal parser reads escapes and reports errors with line and column") {
  using simad::text::PyLiteralParser;
  const auto v = PyLiteralParser("from __future__ import unicode_literals\n# comment\nP = {u'\\u4e00': -1.5e+2,\n"
                                 " \"\\U0001F600\": 3, 'a\\'b': {'x': -0.25}}\n", "t")
                     .parse_assignment("P");
  REQUIRE(v.kind == simad::text::PyValue::kDict);
  REQUIRE(v.keys.size() == 3);
  REQUIRE(v.values.size() == 3);
  CHECK(v.keys[0] == U"\u4e00");
  CHECK(v.values[0].number == -150.0);
  CHECK(v.keys[1] == U"\U0001F600");
  CHECK(v.keys[2] == U"a'b");
  CHECK(v.values[2].values.at(0).number == -0.25);

  try {
    PyLiteralParser("P = {'B': -0.5,\n 'E': oops}", "bad.py").parse_assignment("P");
    FAIL("no error");
  } catch (const simad::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("bad.py") != std::string::npos);
    CHECK(what.find("line 2") != std::string::npos);
  }
  CHECK_THROWS_AS(PyLiteralParser("P = {'B': 'unterminated}", "x").parse_assignment("P"), simad::Error);
  CHECK_THROWS_AS(PyLiteralParser("Q = 1", "x").parse_assignment("P"), simad::Error);
  CHECK_THROWS_AS(simad::text::HmmSegmenter::from_text("P={'B': -0.5}", "P={}", "P={}"), simad::Error);
  CHECK_THROWS_AS(simad::text::HmmSegmenter::from_text("P={'Q': -0.5}", "P={}", "P={}"), simad::Error);
}

TEST_CASE("text/segment: a bad dictionary or a missing directory is a clear error") {
  try {
    simad::text::JiebaDict::from_text("好 3 a\n坏词 x3 n\n", "mydict.txt");
    FAIL("no error");
  } catch (const simad::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("mydict.txt") != std::string::npos);
    CHECK(what.find("line 2") != std::string::npos);
  }
  CHECK_THROWS_AS(simad::text::JiebaDict::from_text("onlyword\n"), simad::Error);
  CHECK_THROWS_AS(simad::text::JiebaDict::from_text("a 1 n\n\nb 2 n\n"), simad::Error);  // jieba rejects empty lines
  CHECK_THROWS_AS(simad::text::JiebaDict::from_text(""), simad::Error);
  try {
    simad::text::Segmenter::load("/nonexistent/jieba");
    FAIL("no error");
  } catch (const simad::Error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/jieba/dict.txt") != std::string::npos);
  }
}

}  // namespace SIMAD_TEST_FILE_ID
