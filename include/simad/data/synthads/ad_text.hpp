// simad/data/synthads/ad_text.hpp: ad copy for SynthAds. An ad's text is a sequence of words, each
// with its part-of-speech tag (for zh the tag jieba's dict.txt gives the word, so the keyword labels
// the tokenizer derives agree with the generator's), built from templates that mix product nouns,
// attribute adjectives, audience words, brands, prices and generic marketing words. A controlled
// share of ads is text-ambiguous: the copy names only the coarse industry, or only generic words,
// so that only the image tells the fine category.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/data/synthads/catalogue.hpp"

namespace simad::data::synthads {

struct Word {
  std::string text;
  std::string pos;  // jieba-style tag: n, v, a, m (numbers), x (punctuation), eng, ...
};

enum class TextClue : uint8_t {
  product,   // names the fine category ("绿茶"): the text alone can tell the category
  industry,  // names only the industry ("茶叶"): text-ambiguous among siblings
  generic,   // marketing words only: text-ambiguous among all categories
};

inline const char* text_clue_name(TextClue c) {
  return c == TextClue::product ? "product" : c == TextClue::industry ? "industry" : "generic";
}

enum class Language : uint8_t { zh, en };

namespace detail {

struct Lexeme {
  const char* text;
  const char* pos;
};

// Tags copied from jieba's dict.txt for the words it has; 包邮 and 爆款 are not in it (tag chosen).
inline constexpr Lexeme kZhMarketing[] = {
    {"限时", "n"}, {"特惠", "nr"}, {"包邮", "v"}, {"新款", "n"}, {"正品", "n"}, {"热卖", "v"},
    {"促销", "v"}, {"优惠", "vn"}, {"秒杀", "n"}, {"抢购", "v"}, {"特价", "n"}, {"全场", "n"},
    {"今日", "t"}, {"热销", "v"}, {"超值", "v"}, {"新品", "n"}, {"现货", "n"}, {"限量", "n"},
    {"好评", "v"}, {"推荐", "v"}, {"爆款", "n"}, {"划算", "v"}};
inline constexpr Lexeme kZhAdjectives[] = {
    {"时尚", "n"}, {"经典", "n"}, {"舒适", "a"}, {"柔软", "a"}, {"精致", "a"}, {"天然", "b"},
    {"有机", "n"}, {"轻薄", "a"}, {"耐用", "a"}, {"便携", "b"}, {"浓郁", "a"}, {"手工", "n"},
    {"进口", "vn"}, {"高档", "b"}, {"奢华", "a"}, {"复古", "vn"}, {"优质", "n"}, {"实用", "v"}};
inline constexpr Lexeme kZhAudience[] = {{"女士", "n"}, {"男士", "n"}, {"儿童", "n"}, {"学生", "n"},
                                          {"家用", "n"}, {"办公", "n"}, {"情侣", "n"}, {"家庭", "n"}};
inline constexpr Lexeme kZhSeason[] = {{"夏季", "t"}, {"冬季", "t"}, {"春季", "t"}, {"秋季", "t"}};
inline constexpr Lexeme kZhBrands[] = {{"佳人", "n"}, {"星光", "n"}, {"云端", "n"}, {"森林", "n"},
                                        {"红叶", "n"}, {"金牌", "n"}, {"老字号", "n"}, {"品牌", "n"}};
inline constexpr Lexeme kZhPunct[] = {{"！", "x"}, {"，", "x"}, {"～", "x"}};

inline constexpr Lexeme kEnMarketing[] = {
    {"sale", "eng"}, {"free shipping", "eng"}, {"new", "eng"}, {"hot", "eng"}, {"limited", "eng"},
    {"deal", "eng"}, {"discount", "eng"}, {"best seller", "eng"}, {"today only", "eng"}, {"clearance", "eng"},
    {"genuine", "eng"}, {"top rated", "eng"}};
inline constexpr Lexeme kEnAdjectives[] = {
    {"stylish", "eng"}, {"classic", "eng"}, {"comfortable", "eng"}, {"soft", "eng"}, {"fine", "eng"},
    {"natural", "eng"}, {"organic", "eng"}, {"light", "eng"}, {"durable", "eng"}, {"portable", "eng"},
    {"rich", "eng"}, {"handmade", "eng"}, {"imported", "eng"}, {"premium", "eng"}, {"vintage", "eng"}};
inline constexpr Lexeme kEnAudience[] = {{"women's", "eng"}, {"men's", "eng"}, {"kids'", "eng"},
                                          {"student", "eng"}, {"home", "eng"}, {"office", "eng"}};
inline constexpr Lexeme kEnBrands[] = {{"Starlight", "eng"}, {"Cloudpeak", "eng"}, {"Forestia", "eng"},
                                        {"Redleaf", "eng"}, {"Goldmark", "eng"}};

template <size_t N>
const Lexeme& pick(const Lexeme (&list)[N], Rng& rng) {
  return list[rng.next_below(uint32_t(N))];
}

}  // namespace detail

// The words of one ad. `rng` is the ad's own stream; the same stream gives the same words.
inline std::vector<Word> make_ad_words(const Catalogue& catalogue, const Category& category, TextClue clue,
                                       Language lang, Rng& rng) {
  using namespace detail;
  std::vector<Word> w;
  auto add = [&w](const Lexeme& l) { w.push_back({l.text, l.pos}); };
  const Industry& industry = catalogue.industries[size_t(category.industry)];
  const bool zh = lang == Language::zh;
  auto marketing = [&] { add(zh ? pick(kZhMarketing, rng) : pick(kEnMarketing, rng)); };
  auto adjective = [&] { add(zh ? pick(kZhAdjectives, rng) : pick(kEnAdjectives, rng)); };

  if (rng.next_uniform() < 0.5) add(zh ? pick(kZhBrands, rng) : pick(kEnBrands, rng));
  if (rng.next_uniform() < 0.6) marketing();
  if (zh && rng.next_uniform() < 0.25) add(pick(kZhSeason, rng));
  const int adjectives = int(rng.next_below(3));
  for (int i = 0; i < adjectives; ++i) adjective();
  if (rng.next_uniform() < 0.5) add(zh ? pick(kZhAudience, rng) : pick(kEnAudience, rng));
  if (clue == TextClue::product) w.push_back({zh ? category.zh : category.en, zh ? "n" : "eng"});
  if (clue == TextClue::industry) w.push_back({zh ? industry.zh : industry.en, zh ? "n" : "eng"});
  const int tail = 1 + int(rng.next_below(3));
  for (int i = 0; i < tail; ++i) marketing();
  if (clue == TextClue::generic && w.size() < 3) marketing();
  if (rng.next_uniform() < 0.6) {  // a price: "199元" / "$39.99"
    const int yuan = 9 + int(rng.next_below(990));
    if (zh) {
      w.push_back({std::to_string(yuan), "m"});
      w.push_back({"元", "m"});
    } else {
      w.push_back({"$" + std::to_string(yuan / 10) + ".99", "m"});
    }
  }
  if (zh && rng.next_uniform() < 0.5) add(pick(kZhPunct, rng));
  return w;
}

// The ad copy as a user sees it: zh words run together (jieba has to find them), en words spaced.
inline std::string join_ad_words(const std::vector<Word>& words, Language lang) {
  std::string s;
  for (const Word& w : words) {
    if (lang == Language::en && !s.empty() && w.pos != "x") s += ' ';
    s += w.text;
  }
  return s;
}

}  // namespace simad::data::synthads
