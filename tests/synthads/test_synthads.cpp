// Tests of SynthAds (include/simad/data/synthads.hpp): determinism, splits, rendering and boxes,
// ambiguity shares, the click model, and that the world needs both modalities (baselines).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "simad/data/synthads.hpp"
#include "simad/text/segmenter.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace simad::data::synthads;

namespace {

SynthConfig small_config(int ads, int image_size) {
  SynthConfig cfg;
  cfg.ads = ads;
  cfg.seed = simad::testing::test_seed();
  cfg.image_size = image_size;
  cfg.audience.users = 300;
  cfg.audience.impressions_per_package = 40;
  return cfg;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every regular file under `dir`, relative path -> bytes.
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = read_file(e.path());
  return files;
}

}  // namespace

TEST_CASE("synthads/determinism: the same seed writes the same bytes on 1 and 2 threads") {
  SynthConfig cfg = small_config(24, 64);
  // write_synthads creates its directory: a, b and c do not exist before it runs.
  simad::testing::TempDir tmp("simad_test_synthads");
  const fs::path a = tmp.path / "a", b = tmp.path / "b", c = tmp.path / "c";
  simad::set_num_threads(2);
  const SynthSummary sa = write_synthads(a, cfg);
  simad::set_num_threads(1);
  const SynthSummary sb = write_synthads(b, cfg);
  simad::set_num_threads(2);
  const auto ta = tree(a), tb = tree(b);
  CHECK(ta.size() == 24 + 9);  // images + 4 jsonl splits/all + categories + users + packages + impressions + json
  CHECK(ta == tb);
  CHECK(sa.clicks == sb.clicks);
  // Another seed changes the world.
  cfg.seed += 1;
  write_synthads(c, cfg);
  CHECK(read_file(c / "ads.jsonl") != ta.at("ads.jsonl"));
}

TEST_CASE("synthads/splits: held-out categories appear only in test and split shares hold") {
  const Catalogue& cat = default_catalogue();
  SynthConfig cfg = small_config(8000, 64);
  const std::vector<bool> held = heldout_categories(cat, cfg);
  const int n_held = int(std::count(held.begin(), held.end(), true));
  CHECK(n_held == int(std::lround(cfg.heldout_category_share * double(cat.categories.size()))));
  std::map<std::string, int> count;
  std::set<int> train_categories;
  for (int i = 0; i < cfg.ads; ++i) {
    const Ad ad = generate_ad(cat, cfg, i, false, &held);
    ++count[ad.split];
    if (held[size_t(ad.category)]) CHECK(ad.split == "test");
    if (ad.split != "test") train_categories.insert(ad.category);
  }
  for (size_t c = 0; c < held.size(); ++c) CHECK(train_categories.count(int(c)) == size_t(held[c] ? 0 : 1));
  // Of the seen categories' ads, train/validation ~ 0.8/0.1 (1600 packages: the tolerances are ~4 sigma).
  const double seen = double(cfg.ads) * (1.0 - double(n_held) / double(cat.categories.size()));
  CHECK(std::abs(count["train"] / seen - cfg.train_share) < 0.04);
  CHECK(std::abs(count["validation"] / seen - cfg.validation_share) < 0.03);
}

TEST_CASE("synthads/catalogue: 72 categories and siblings differ in exactly one visual attribute") {
  const Catalogue& cat = default_catalogue();
  REQUIRE(cat.categories.size() >= 60);
  std::set<std::string> zh;
  for (const Category& c : cat.categories) zh.insert(c.zh);
  CHECK(zh.size() == cat.categories.size());
  for (const Industry& ind : cat.industries) {
    for (size_t i = 0; i < ind.categories.size(); ++i)
      for (size_t j = i + 1; j < ind.categories.size(); ++j) {
        const Signature& a = cat.categories[size_t(ind.categories[i])].look;
        const Signature& b = cat.categories[size_t(ind.categories[j])].look;
        const bool colour = a.primary.r != b.primary.r || a.primary.g != b.primary.g || a.primary.b != b.primary.b;
        const bool pattern = a.pattern != b.pattern;
        CHECK(a.shape == b.shape);
        CHECK(int(colour) + int(pattern) == 1);
      }
  }
}

TEST_CASE("synthads/text: product and industry words are jieba words and the segmenter finds them in the copy") {
  std::optional<simad::text::Segmenter> segmenter;
  try {
    segmenter.emplace(simad::text::Segmenter::load());  // Debian's python3-jieba (or SIMAD_JIEBA_DIR)
  } catch (const simad::Error& e) {
    MESSAGE("skipped: " << e.what());
    return;
  }
  const Catalogue& cat = default_catalogue();
  for (const Category& c : cat.categories) CHECK_MESSAGE(segmenter->dict().word_freq(c.zh) > 0, c.zh);
  for (const Industry& i : cat.industries) CHECK_MESSAGE(segmenter->dict().word_freq(i.zh) > 0, i.zh);
  // In running zh copy (no spaces) jieba's route must still cut the product / industry word out.
  SynthConfig cfg = small_config(1500, 64);
  int found = 0, named = 0;
  for (int i = 0; i < cfg.ads; ++i) {
    const Ad ad = generate_ad(cat, cfg, i, false);
    if (ad.clue == TextClue::generic) continue;
    const std::string& word = ad.clue == TextClue::product ? cat.categories[size_t(ad.category)].zh
                                                           : cat.industries[size_t(ad.industry)].zh;
    const std::vector<std::string> tokens = segmenter->cut(ad.text);
    ++named;
    found += std::find(tokens.begin(), tokens.end(), word) != tokens.end();
  }
  MESSAGE("segmenter found the named word in " << found << " of " << named << " ads");
  CHECK(found >= named * 97 / 100);
}

TEST_CASE("synthads/raster: a circle's anti-aliased coverage integrates to its area") {
  // Closed form: pi r^2 (r = 0.95 of the half-size); coverage is linear over a 1-pixel edge band,
  // so the sum matches within a fraction of the perimeter.
  for (double half : {7.3, 20.0, 55.5}) {
    RgbImage img(160, 160);
    const Signature white{Shape::circle, {255, 255, 255}, {255, 255, 255}, Pattern::solid};
    draw_object(img, white, 80.2, 79.7, half, half);
    double sum = 0;
    for (size_t i = 0; i < img.pixels.size(); i += 3) sum += img.pixels[i] / 255.0;
    const double r = 0.95 * half, want = M_PI * r * r;
    CHECK(std::abs(sum - want) < 0.05 * 2 * M_PI * r);
  }
}

TEST_CASE("synthads/render: boxes lie inside the image and tightly cover every touched pixel") {
  const Catalogue& cat = default_catalogue();
  SynthConfig cfg = small_config(150, 96);
  cfg.record_touched = true;
  std::set<int> product_categories;
  for (int i = 0; i < cfg.ads; ++i) {
    const Ad ad = generate_ad(cat, cfg, i);
    REQUIRE(ad.image.width == 96);
    REQUIRE(ad.touched.size() == size_t(96 * 96));
    product_categories.insert(ad.category);
    CHECK(ad.objects[0].role == ObjectRole::product);
    CHECK(!ad.objects[0].box.empty());
    for (size_t k = 0; k < ad.objects.size() && k < 8; ++k) {
      const PixelBox& b = ad.objects[k].box;
      if (k > 0 && b.empty()) continue;
      CHECK(b.x0 >= 0);
      CHECK(b.y0 >= 0);
      CHECK(b.x1 <= 96);
      CHECK(b.y1 <= 96);
      int x0 = 96, y0 = 96, x1 = 0, y1 = 0;  // the touched pixels' own box
      for (int y = 0; y < 96; ++y)
        for (int x = 0; x < 96; ++x)
          if (ad.touched[size_t(y * 96 + x)] & (1u << k)) {
            x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x + 1), y1 = std::max(y1, y + 1);
          }
      CHECK(x0 == b.x0);
      CHECK(y0 == b.y0);
      CHECK(x1 == b.x1);
      CHECK(y1 == b.y1);
    }
    // The product is small, the distractors larger (by planned box area; clipping only shrinks them).
    const double share = double(ad.objects[0].box.area()) / (96.0 * 96.0);
    CHECK(share <= cfg.product_area_max * 1.35);
  }
  CHECK(product_categories.size() > 20);
  // Every category's signature renders something visible on a neutral background.
  for (const Category& c : cat.categories) {
    RgbImage img(48, 48);
    std::fill(img.pixels.begin(), img.pixels.end(), uint8_t(128));
    const PixelBox b = draw_object(img, c.look, 24, 24, 16, 16);
    CHECK_MESSAGE(b.area() > 16 * 16, c.en);
    int changed = 0;
    for (uint8_t v : img.pixels) changed += v != 128;
    CHECK_MESSAGE(changed > 200, c.en);
  }
}

TEST_CASE("synthads/ambiguity: text- and image-ambiguous shares hold within tolerance in zh and en") {
  for (Language lang : {Language::zh, Language::en}) {
    SynthConfig cfg = small_config(8000, 64);
    cfg.lang = lang;
    int text_ambiguous = 0, industry_only = 0, image_ambiguous = 0, named = 0;
    for (int i = 0; i < cfg.ads; ++i) {
      const Ad ad = generate_ad(default_catalogue(), cfg, i, false);
      const Category& c = default_catalogue().categories[size_t(ad.category)];
      const bool names_product = ad.text.find(lang == Language::zh ? c.zh : c.en) != std::string::npos;
      text_ambiguous += ad.clue != TextClue::product;
      industry_only += ad.clue == TextClue::industry;
      image_ambiguous += ad.image_ambiguous;
      if (ad.clue == TextClue::product) CHECK(names_product);
      if (ad.clue != TextClue::product) named += names_product;
      if (lang == Language::en) CHECK(std::all_of(ad.text.begin(), ad.text.end(), [](char ch) { return ch > 0; }));
    }
    // Binomial sd at n=8000: ~0.005 (0.3) and ~0.004 (0.15); tolerance ~4 sd.
    CHECK(std::abs(text_ambiguous / 8000.0 - cfg.text_ambiguous_share) < 0.02);
    CHECK(std::abs(industry_only / 8000.0 - cfg.text_ambiguous_share / 2) < 0.02);
    CHECK(std::abs(image_ambiguous / 8000.0 - cfg.image_ambiguous_share) < 0.016);
    CHECK(named == 0);  // an ambiguous ad never names its product
  }
}

TEST_CASE("synthads/audience: 57 features, package CTRs in the paper's range, taste drives clicks") {
  const Catalogue& cat = default_catalogue();
  AudienceConfig acfg;
  acfg.users = 4000;
  acfg.impressions_per_package = 2000;
  const Audience audience(cat, simad::testing::test_seed(), acfg);
  REQUIRE(audience.features().size() == 57);
  for (int u = 0; u < 50; ++u) {
    const std::vector<int> v = audience.feature_values(u);
    REQUIRE(v.size() == 57);
    for (size_t k = 0; k < v.size(); ++k) CHECK((v[k] >= 0 && v[k] < audience.features()[k].levels));
  }
  std::vector<std::vector<int>> features(size_t(acfg.users));
  for (int u = 0; u < acfg.users; ++u) features[size_t(u)] = audience.feature_values(u);
  int64_t shown = 0, clicked = 0, clicks_high = 0, shown_high = 0;
  for (int p = 0; p < 60; ++p) {
    const int category = p % int(cat.categories.size());
    const size_t interest = 13 + size_t(cat.categories[size_t(category)].industry);  // interest_<industry>
    for (const Impression& im : package_impressions(audience, p, category, 1, 11)) {
      ++shown;
      clicked += im.clicked;
      if (features[size_t(im.user)][interest] >= 3) ++shown_high, clicks_high += im.clicked;
    }
  }
  const double ctr = double(clicked) / double(shown);
  CHECK(ctr > 0.002);
  CHECK(ctr < 0.009);
  // Users whose interest feature is high click at least 1.5x as often: the features carry the taste.
  CHECK(double(clicks_high) / double(shown_high) > 1.5 * ctr);
}

namespace {

// P@10 of nearest-neighbour retrieval by a similarity matrix (row-major n x n; larger = nearer;
// same category = hit; the query itself excluded). For unit-norm feature blocks, ranking by the sum
// of the blocks' dot products equals ranking by L2 distance between the concatenated vectors.
double precision_at_10(const std::vector<double>& similarity, const std::vector<int>& category) {
  const size_t n = category.size();
  double total = 0;
  std::vector<std::pair<double, size_t>> d;
  for (size_t q = 0; q < n; ++q) {
    d.clear();
    for (size_t i = 0; i < n; ++i)
      if (i != q) d.push_back({-similarity[q * n + i], i});
    std::partial_sort(d.begin(), d.begin() + 10, d.end());
    int hits = 0;
    for (int k = 0; k < 10; ++k) hits += category[d[size_t(k)].second] == category[q];
    total += hits / 10.0;
  }
  return total / double(n);
}

std::vector<double> dot_matrix(const std::vector<std::vector<double>>& f) {
  const size_t n = f.size();
  std::vector<double> s(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double dot = 0;
      for (size_t k = 0; k < f[i].size(); ++k) dot += f[i][k] * f[j][k];
      s[i * n + j] = dot;
    }
  return s;
}

void normalise(std::vector<double>& v) {
  double n = 0;
  for (double x : v) n += x * x;
  if (n > 0)
    for (double& x : v) x /= std::sqrt(n);
}

// 4x4x4 colour histogram of a region, L2-normalised.
std::vector<double> colour_histogram(const RgbImage& img, PixelBox b) {
  std::vector<double> h(64, 0.0);
  for (int y = b.y0; y < b.y1; ++y)
    for (int x = b.x0; x < b.x1; ++x) {
      const uint8_t* p = img.at(x, y);
      h[size_t((p[0] / 64) * 16 + (p[1] / 64) * 4 + p[2] / 64)] += 1;
    }
  normalise(h);
  return h;
}

// A 6x6 RGB thumbnail of a region (shape and pattern orientation), L2-normalised.
std::vector<double> thumbnail(const RgbImage& img, PixelBox b) {
  std::vector<double> t(6 * 6 * 3, 0.0);
  for (int y = b.y0; y < b.y1; ++y)
    for (int x = b.x0; x < b.x1; ++x) {
      const int ty = (y - b.y0) * 6 / (b.y1 - b.y0), tx = (x - b.x0) * 6 / (b.x1 - b.x0);
      for (int k = 0; k < 3; ++k) t[size_t((ty * 6 + tx) * 3 + k)] += img.at(x, y)[k];
    }
  normalise(t);
  return t;
}

}  // namespace

TEST_CASE("synthads/baselines: text-only and colour-histogram retrieval score clearly below text plus the product crop") {
  // The acceptance experiment of docs/synthads.md, small: 1200 ads at 96x96. Text: tf-idf bag of
  // the ad's words; image: whole-image colour histogram; fused: tf-idf + histogram and thumbnail
  // of the ground-truth product box (the "oracle regions" a perfect text-guided detector would give).
  const Catalogue& cat = default_catalogue();
  SynthConfig cfg = small_config(1200, 96);
  std::vector<Ad> ads;
  for (int i = 0; i < cfg.ads; ++i) ads.push_back(generate_ad(cat, cfg, i));
  std::unordered_map<std::string, size_t> vocab;
  for (const Ad& ad : ads)
    for (const Word& w : ad.words) vocab.emplace(w.text, vocab.size());
  std::vector<double> idf(vocab.size(), 0.0);
  for (const Ad& ad : ads) {
    std::set<size_t> seen;
    for (const Word& w : ad.words) seen.insert(vocab.at(w.text));
    for (size_t v : seen) idf[v] += 1;
  }
  for (double& x : idf) x = std::log(double(ads.size()) / x);
  // tf-idf bags are sparse: keep (word, weight) lists and take their dot products pairwise.
  std::vector<std::vector<std::pair<size_t, double>>> bow;
  std::vector<std::vector<double>> hist, crop;
  std::vector<int> category;
  for (const Ad& ad : ads) {
    std::map<size_t, double> b;
    for (const Word& w : ad.words) b[vocab.at(w.text)] += idf[vocab.at(w.text)];
    double norm = 0;
    for (const auto& [k, v] : b) norm += v * v;
    std::vector<std::pair<size_t, double>> sparse;
    for (const auto& [k, v] : b) sparse.push_back({k, v / std::sqrt(norm)});
    bow.push_back(sparse);
    const PixelBox whole{0, 0, ad.image.width, ad.image.height};
    hist.push_back(colour_histogram(ad.image, whole));
    std::vector<double> c = colour_histogram(ad.image, ad.objects[0].box);
    const std::vector<double> thumb = thumbnail(ad.image, ad.objects[0].box);
    c.insert(c.end(), thumb.begin(), thumb.end());
    crop.push_back(c);
    category.push_back(ad.category);
  }
  const size_t n = ads.size();
  std::vector<double> s_text(n * n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double dot = 0;  // merge of two lists sorted by word id
      for (size_t a = 0, b = 0; a < bow[i].size() && b < bow[j].size();) {
        if (bow[i][a].first == bow[j][b].first) dot += bow[i][a++].second * bow[j][b++].second;
        else if (bow[i][a].first < bow[j][b].first) ++a;
        else ++b;
      }
      s_text[i * n + j] = dot;
    }
  const std::vector<double> s_hist = dot_matrix(hist), s_crop = dot_matrix(crop);
  std::vector<double> s_fused(n * n);
  for (size_t i = 0; i < n * n; ++i) s_fused[i] = s_text[i] + s_crop[i];
  const double p_text = precision_at_10(s_text, category), p_image = precision_at_10(s_hist, category);
  const double p_crop = precision_at_10(s_crop, category), p_fused = precision_at_10(s_fused, category);
  MESSAGE("P@10 text tf-idf " << p_text << ", whole-image colour histogram " << p_image << ", oracle crop alone "
                              << p_crop << ", text + oracle crop " << p_fused);
  CHECK(p_fused > p_text + 0.1);
  CHECK(p_fused > p_image + 0.2);
  CHECK(p_fused > p_crop + 0.1);
}

}  // namespace SIMAD_TEST_FILE_ID
