// Tests of the JSONL ad loader (include/simad/data/ad_dataset.hpp) on a small SynthAds world: rows
// become the tokenizer's words, the training classes and one region per object; bad rows (not
// JSON, a missing or corrupt image) are reported by line and skipped while empty texts and invalid
// UTF-8 load with a warning; the region cache is reused only for the same rows and options, and a
// damaged cache is rebuilt; the result does not depend on the thread count.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/data/ad_dataset.hpp"
#include "simad/data/synthads.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace fs = std::filesystem;
using namespace simad;
using namespace simad::data;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// jieba + WordNet, loaded once; null (the test says "skipped") when either is not installed.
const text::Tokenizer* tokenizer() {
  static std::unique_ptr<text::Tokenizer> t = []() -> std::unique_ptr<text::Tokenizer> {
    if (!fs::exists(text::jieba_dir() + "/dict.txt") || !fs::exists(text::wordnet_dir() + "/index.noun"))
      return nullptr;
    return std::make_unique<text::Tokenizer>(text::Tokenizer::load());
  }();
  return t.get();
}

// A 40-ad SynthAds world (64 x 64 images), written once per test program.
const fs::path& world() {
  static testing::TempDir dir("simad-ad-dataset");
  static bool written = [] {
    synthads::SynthConfig cfg;
    cfg.ads = 40, cfg.image_size = 64, cfg.seed = 11;
    cfg.audience.users = 200, cfg.audience.impressions_per_package = 20;
    synthads::write_synthads(dir.path, cfg);
    return true;
  }();
  (void)written;
  return dir.path;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
bool same_examples(const std::vector<models::AdExample>& a, const std::vector<models::AdExample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const models::AdExample &x = a[i], &y = b[i];
    if (x.id != y.id || x.label != y.label || x.category != y.category || x.industry != y.industry ||
        x.words != y.words || x.tags != y.tags || x.keyword != y.keyword || x.regions != y.regions ||
        x.region_dim != y.region_dim || !bit_identical(x.region_features, y.region_features) ||
        !bit_identical(x.region_geometry, y.region_geometry))
      return false;
  }
  return true;
}

struct Loaded {
  AdRecords rows;
  Vocabularies vocab;
  std::map<int32_t, int32_t> classes;
};

// Vocabularies and classes from the world's train.jsonl.
Loaded train_side(const text::Tokenizer& tok) {
  Loaded l;
  l.rows = read_ad_records((world() / "train.jsonl").string());
  l.vocab = build_vocabularies(l.rows.records, tok, 1);
  l.classes = category_labels(l.rows.records);
  return l;
}

AdDatasetLoad load_file(const fs::path& file, const text::Tokenizer& tok, const Loaded& l, AdDatasetOptions o = {}) {
  const AdRecords rows = read_ad_records(file.string());
  return load_ad_examples(rows.records, file.parent_path().string(), tok, l.vocab.words, l.vocab.tags, l.classes, o);
}

bool has_reason(const std::vector<RowProblem>& v, int64_t line, const std::string& part) {
  return std::any_of(v.begin(), v.end(), [&](const RowProblem& p) {
    return p.line == line && p.reason.find(part) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("models/ad_dataset: records are read with every field and bad rows are reported by line") {
  testing::TempDir dir("simad-ad-records");
  const std::string rows =
      "{\"id\": 1, \"text\": \"a\", \"image\": \"i.jpg\", \"category\": 4, \"industry\": 1, \"split\": \"train\","
      " \"boxes\": [{\"x\": 2, \"y\": 3, \"w\": 4, \"h\": 5, \"role\": \"product\", \"category\": 4},"
      " {\"x\": 1.5, \"y\": 0, \"w\": 2, \"h\": 0}]}\r\n"
      "\n"
      "{\"id\": 2, \"text\": \"b\", \"image\": \"j.jpg\"}\n"
      "[1, 2]\n"
      "{\"text\": \"no id\", \"image\": \"k.jpg\"}\n"
      "{\"id\": \"3\", \"text\": \"id is a string\", \"image\": \"k.jpg\"}\n"
      "{\"id\": 4, \"text\": 7, \"image\": \"k.jpg\"}\n"
      "{\"id\": 5, \"text\": \"t\"}\n"
      "{\"id\": 6, \"text\": \"t\", \"image\": \"k.jpg\", \"boxes\": [{\"x\": 1, \"y\": 1, \"w\": -2, \"h\": 3}]}\n"
      "{\"id\": 7, \"text\": \"t\", \"image\": \"k.jpg\", \"boxes\": {\"x\": 1}}\n"
      "{\"id\": 2, \"text\": \"again\", \"image\": \"k.jpg\"}\n"
      "{\"id\": 8, \"text\": \"t\", \"image\": \"k.jpg\", \"category\": \"tea\"}\n"
      "{\"id\": 9, \"text\": \"t\", \"image\": \"k.jpg\", \"boxes\": [{\"x\": 1, \"y\": 1, \"w\": 1}]}\n"
      "{\"id\": 10, \"text\":";  // cut off, no newline
  write_file(dir.path / "ads.jsonl", rows);
  const AdRecords r = read_ad_records((dir.path / "ads.jsonl").string());
  REQUIRE(r.records.size() == 2);
  const AdRecord& a = r.records[0];
  CHECK(a.id == 1);
  CHECK(a.text == "a");
  CHECK(a.image == "i.jpg");
  CHECK(a.category == 4);
  CHECK(a.industry == 1);
  CHECK(a.split == "train");
  CHECK(a.line == 1);
  REQUIRE(a.boxes.size() == 2);
  CHECK((a.boxes[0].x == 2 && a.boxes[0].y == 3 && a.boxes[0].w == 4 && a.boxes[0].h == 5));
  CHECK(a.boxes[0].role == "product");
  CHECK(a.boxes[0].category == 4);
  CHECK((a.boxes[1].x == 1 && a.boxes[1].w == 3 && a.boxes[1].h == 0));  // [1.5, 3.5) widened to [1, 4)
  const AdRecord& b = r.records[1];
  CHECK(b.id == 2);
  CHECK(b.line == 3);
  CHECK(b.category == -1);
  CHECK(b.industry == -1);
  CHECK(b.split.empty());
  CHECK(b.boxes.empty());
  REQUIRE(r.problems.size() == 11);
  CHECK(has_reason(r.problems, 4, "not a JSON object"));
  CHECK(has_reason(r.problems, 5, "no \"id\""));
  CHECK(has_reason(r.problems, 6, "\"id\" must be an integer"));
  CHECK(has_reason(r.problems, 7, "\"text\" must be a string"));
  CHECK(has_reason(r.problems, 8, "no \"image\""));
  CHECK(has_reason(r.problems, 9, "out of range"));
  CHECK(has_reason(r.problems, 10, "\"boxes\" must be an array"));
  CHECK(has_reason(r.problems, 11, "duplicate id 2 (first on line 3)"));
  CHECK(has_reason(r.problems, 12, "\"category\" must be an integer"));
  CHECK(has_reason(r.problems, 13, "needs a number \"h\""));
  CHECK(has_reason(r.problems, 14, "not valid JSON"));
  const std::map<int64_t, int64_t> id_of_line = {{7, 4}, {8, 5}, {9, 6}, {10, 7}, {11, 2}, {12, 8}, {13, 9}};
  for (const RowProblem& p : r.problems)
    if (id_of_line.count(p.line)) CHECK(p.id == id_of_line.at(p.line));
  CHECK(r.problems[1].id == -1);  // line 5 has no id

  // Training classes: contiguous, in category order.
  std::vector<AdRecord> recs(4);
  recs[0].category = 30, recs[1].category = 7, recs[2].category = -1, recs[3].category = 30;
  CHECK(category_labels(recs) == std::map<int32_t, int32_t>{{7, 0}, {30, 1}});

  try {
    read_ad_records((dir.path / "absent.jsonl").string());
    FAIL("no error");
  } catch (const simad::Error& e) {
    CHECK(std::string(e.what()).find("absent.jsonl") != std::string::npos);
  }
}

TEST_CASE("models/ad_dataset: SynthAds rows load with the tokenizer's words, the training classes and their objects") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  const Loaded l = train_side(*tok);
  REQUIRE(!l.rows.records.empty());
  CHECK(l.rows.problems.empty());
  CHECK(l.vocab.words.size() > 10);
  CHECK(l.vocab.tags.size() > 4);
  int32_t next = 0;
  for (const auto& [category, label] : l.classes) CHECK(label == next++);

  const AdRecords all = read_ad_records((world() / "ads.jsonl").string());
  REQUIRE(all.records.size() == 40);
  CHECK(all.problems.empty());
  AdDatasetOptions o;
  o.max_words = 8;
  const AdDatasetLoad load = load_ad_examples(all.records, world().string(), *tok, l.vocab.words, l.vocab.tags,
                                              l.classes, o);
  CHECK(load.skipped.empty());
  CHECK(load.warnings.empty());
  CHECK(!load.cache_used);
  CHECK(load.images_decoded == 40);
  REQUIRE(load.examples.size() == 40);
  int labelled = 0;
  for (size_t i = 0; i < 40; ++i) {
    const AdRecord& rec = all.records[i];
    const models::AdExample& ex = load.examples[i];
    CHECK(ex.id == rec.id);
    CHECK(ex.category == rec.category);
    CHECK(ex.industry == rec.industry);
    const auto c = l.classes.find(rec.category);
    CHECK(ex.label == (c == l.classes.end() ? -1 : c->second));
    if (rec.split == "train") CHECK(ex.label >= 0);
    labelled += ex.label >= 0;
    // Words: the tokenizer's, through the vocabularies, cut at max_words.
    const std::vector<text::Word> words = tok->tokenize(rec.text);
    const size_t n = std::min<size_t>(words.size(), 8);
    REQUIRE(ex.words.size() == n);
    for (size_t t = 0; t < n; ++t) {
      CHECK(ex.words[t] == l.vocab.words.id(words[t].text));
      CHECK(ex.tags[t] == l.vocab.tags.id(words[t].tag));
      CHECK(ex.keyword[t] == words[t].keyword);
    }
    // Regions: one per object box.
    CHECK(ex.regions == int64_t(rec.boxes.size()));
    CHECK(ex.region_dim == models::kPixelDescriptorDim);
    CHECK(std::any_of(rec.boxes.begin(), rec.boxes.end(), [](const BoxRecord& b) { return b.role == "product"; }));
  }
  CHECK(labelled >= 20);

  // Grid regions: 7 x 7 per ad, as make_batch takes them.
  o.source = models::RegionSource::grid;
  const AdDatasetLoad grid = load_ad_examples(all.records, world().string(), *tok, l.vocab.words, l.vocab.tags,
                                              l.classes, o);
  REQUIRE(grid.examples.size() == 40);
  for (const models::AdExample& ex : grid.examples) CHECK(ex.regions == 49);
  std::vector<const models::AdExample*> batch_rows;
  for (const models::AdExample& ex : grid.examples) batch_rows.push_back(&ex);
  const models::AdBatch<float> batch = models::make_batch<float>(batch_rows, 8);
  CHECK(batch.R == 49);
  CHECK(batch.Din == models::kPixelDescriptorDim);
}

TEST_CASE("models/ad_dataset: a missing or corrupt image skips its row, empty text and invalid UTF-8 load with a warning") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  const Loaded l = train_side(*tok);
  const std::vector<std::string> src = lines_of(read_file(world() / "ads.jsonl"));
  auto row = [&](size_t i) { return nlohmann::json::parse(src[i]); };
  write_file(world() / "images" / "garbage.jpg", std::string("\xFF\xD8\xFF\xE0 definitely not a JPEG"));
  nlohmann::json r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4);
  r1["image"] = "images/missing.jpg";
  r2["image"] = "images/garbage.jpg";
  r3["text"] = "";
  r4["text"] = std::string("@@BAD@@") + r4["text"].get<std::string>();
  std::string bad_utf8 = r4.dump();
  bad_utf8.replace(bad_utf8.find("@@BAD@@"), 7, "\xFF\xFE\xC3x");
  const std::string file = src[0] + "\n" + r1.dump() + "\n" + r2.dump() + "\n" + r3.dump() + "\n" + bad_utf8 + "\n" +
                           "{this is not JSON\n" + src[5] + "\n";
  write_file(world() / "corrupt.jsonl", file);

  const AdRecords rows = read_ad_records((world() / "corrupt.jsonl").string());
  REQUIRE(rows.problems.size() == 1);
  CHECK(rows.problems[0].line == 6);
  CHECK(rows.problems[0].reason.find("not valid JSON") != std::string::npos);
  REQUIRE(rows.records.size() == 6);
  CHECK(rows.records[4].invalid_utf8 == 3);  // FF, FE, and C3 without its continuation byte

  const AdDatasetLoad load = load_ad_examples(rows.records, world().string(), *tok, l.vocab.words, l.vocab.tags,
                                              l.classes, {});
  REQUIRE(load.skipped.size() == 2);
  CHECK(load.skipped[0].line == 2);
  CHECK(load.skipped[0].id == 1);
  CHECK(load.skipped[0].reason.find("missing.jpg") != std::string::npos);
  CHECK(load.skipped[0].reason.find("does not exist") != std::string::npos);
  CHECK(load.skipped[1].line == 3);
  CHECK(load.skipped[1].id == 2);
  CHECK(load.skipped[1].reason.find("garbage.jpg") != std::string::npos);
  CHECK(has_reason(load.warnings, 4, "empty text"));
  CHECK(has_reason(load.warnings, 5, "invalid UTF-8"));
  REQUIRE(load.examples.size() == 4);
  std::vector<int64_t> ids;
  for (const models::AdExample& ex : load.examples) ids.push_back(ex.id);
  CHECK(ids == std::vector<int64_t>{0, 3, 4, 5});
  CHECK(load.examples[1].words.empty());
  CHECK(load.examples[1].regions >= 1);
  // The repaired text's words: U+FFFD where the bad bytes were, then the ad's own words.
  const std::vector<text::Word> words = tok->tokenize(text::repair_utf8(rows.records[4].text));
  REQUIRE(!load.examples[2].words.empty());
  CHECK(load.examples[2].words.size() == std::min<size_t>(words.size(), 32));
  CHECK(rows.records[4].text.find("\xEF\xBF\xBD") != std::string::npos);
  CHECK(text::is_valid_utf8(rows.records[4].text));
}

TEST_CASE("models/ad_dataset: the region cache is reused only for the same rows and options and rebuilt when damaged") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  const Loaded l = train_side(*tok);
  testing::TempDir cache("simad-ad-cache");
  AdDatasetOptions o;
  o.cache_dir = (cache.path / "regions").string();
  const fs::path ads = world() / "ads.jsonl";

  const AdDatasetLoad first = load_file(ads, *tok, l, o);
  CHECK(!first.cache_used);
  CHECK(first.images_decoded == 40);
  REQUIRE(fs::exists(first.cache_file));
  CHECK(first.warnings.empty());

  const AdDatasetLoad second = load_file(ads, *tok, l, o);
  CHECK(second.cache_used);
  CHECK(second.images_decoded == 0);
  CHECK(second.cache_file == first.cache_file);
  CHECK(same_examples(first.examples, second.examples));
  CHECK(second.warnings.empty());

  // Other region options: another file.
  AdDatasetOptions g = o;
  g.source = models::RegionSource::grid;
  const AdDatasetLoad grid = load_file(ads, *tok, l, g);
  CHECK(!grid.cache_used);
  CHECK(grid.images_decoded == 40);
  CHECK(grid.cache_file != first.cache_file);
  g.grid = 3;
  const AdDatasetLoad grid3 = load_file(ads, *tok, l, g);
  CHECK(!grid3.cache_used);
  CHECK(grid3.examples[0].regions == 9);
  CHECK(load_file(ads, *tok, l, o).cache_used);  // the oracle file is still there

  // Other JSONL bytes (one text changed): not reused.
  std::vector<std::string> lines = lines_of(read_file(ads));
  nlohmann::json r0 = nlohmann::json::parse(lines[0]);
  r0["text"] = r0["text"].get<std::string>() + " x";
  lines[0] = r0.dump();
  std::string changed;
  for (const std::string& line : lines) changed += line + "\n";
  write_file(world() / "changed.jsonl", changed);
  const AdDatasetLoad other = load_file(world() / "changed.jsonl", *tok, l, o);
  CHECK(!other.cache_used);
  CHECK(other.images_decoded == 40);
  CHECK(other.cache_file != first.cache_file);

  // A truncated cache is ignored with a warning, rebuilt, and then used again.
  const std::string bytes = read_file(first.cache_file);
  write_file(first.cache_file, bytes.substr(0, bytes.size() / 2));
  const AdDatasetLoad truncated = load_file(ads, *tok, l, o);
  CHECK(!truncated.cache_used);
  CHECK(truncated.images_decoded == 40);
  CHECK(has_reason(truncated.warnings, 0, "region cache"));
  CHECK(same_examples(first.examples, truncated.examples));
  CHECK(read_file(first.cache_file) == bytes);
  CHECK(load_file(ads, *tok, l, o).cache_used);
  // So is one flipped byte in the float data, and an empty file.
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = char(flipped[bytes.size() / 2] ^ 0x40);
  write_file(first.cache_file, flipped);
  const AdDatasetLoad corrupt = load_file(ads, *tok, l, o);
  CHECK(!corrupt.cache_used);
  CHECK(has_reason(corrupt.warnings, 0, "checksum"));
  CHECK(same_examples(first.examples, corrupt.examples));
  write_file(first.cache_file, "");
  CHECK(!load_file(ads, *tok, l, o).cache_used);
  CHECK(load_file(ads, *tok, l, o).cache_used);

  // A row whose image failed is not cached as failed: it is retried on the next load.
  std::vector<std::string> src = lines_of(read_file(ads));
  nlohmann::json r1 = nlohmann::json::parse(src[1]);
  r1["image"] = "images/later.jpg";
  write_file(world() / "later.jsonl", src[0] + "\n" + r1.dump() + "\n" + src[2] + "\n");
  const AdDatasetLoad before = load_file(world() / "later.jsonl", *tok, l, o);
  CHECK(before.skipped.size() == 1);
  CHECK(before.images_decoded == 3);
  const AdDatasetLoad still = load_file(world() / "later.jsonl", *tok, l, o);
  CHECK(still.cache_used);
  CHECK(still.images_decoded == 1);
  CHECK(still.skipped.size() == 1);
  fs::copy_file(world() / "images" / "000001.jpg", world() / "images" / "later.jpg", fs::copy_options::overwrite_existing);
  const AdDatasetLoad after = load_file(world() / "later.jsonl", *tok, l, o);
  CHECK(after.cache_used);
  CHECK(after.skipped.empty());
  CHECK(after.examples.size() == 3);
  const AdDatasetLoad cached = load_file(world() / "later.jsonl", *tok, l, o);
  CHECK(cached.images_decoded == 0);
  CHECK(same_examples(after.examples, cached.examples));
}

TEST_CASE("models/ad_dataset: the examples do not depend on the thread count") {
  const text::Tokenizer* tok = tokenizer();
  if (!tok) {
    MESSAGE("skipped: python3-jieba or wordnet-base is not installed");
    return;
  }
  const Loaded l = train_side(*tok);
  simad::set_num_threads(1);
  const AdDatasetLoad one = load_file(world() / "ads.jsonl", *tok, l);
  const Vocabularies v1 = build_vocabularies(read_ad_records((world() / "ads.jsonl").string()).records, *tok, 2);
  simad::set_num_threads(3);
  const AdDatasetLoad three = load_file(world() / "ads.jsonl", *tok, l);
  const Vocabularies v3 = build_vocabularies(read_ad_records((world() / "ads.jsonl").string()).records, *tok, 2);
  simad::set_num_threads(simad::ThreadPool::default_threads());
  CHECK(same_examples(one.examples, three.examples));
  CHECK(v1.words.tokens() == v3.words.tokens());
  CHECK(v1.tags.tokens() == v3.tags.tokens());
}

}  // namespace SIMAD_TEST_FILE_ID
