// simad/data/ad_dataset.hpp: the JSONL ads that `simad train`, `embed` and `eval` read, turned into
// the models' inputs (models::AdExample). One row per line, as SynthAds writes them
// (docs/synthads.md "Files"):
//   {"id": 17, "text": "...", "image": "images/000017.jpg", "category": 3, "industry": 0,
//    "split": "train", "boxes": [{"x": 10, "y": 12, "w": 40, "h": 38, "role": "product"}, ...]}
// id, text and image are required; the rest is optional (category and industry -1, no split, no
// boxes). Box x, y are the top-left pixel; fractional boxes are widened to whole pixels. A relative
// "image" is relative to the JSONL file's folder. Other fields are ignored.
//
//   data::AdRecords rows = data::read_ad_records("ads/train.jsonl");   // bad rows -> rows.problems
//   auto vocab = data::build_vocabularies(rows.records, tok, 1);
//   auto classes = data::category_labels(rows.records);                 // category -> class 0..C-1
//   data::AdDatasetLoad load = data::load_ad_examples(rows.records, "ads", tok, vocab.words, vocab.tags,
//                                                     classes, options);
//
// Bad input never stops a load: a row that is not JSON or lacks a required field, or whose image is
// missing or corrupt, is skipped and reported (line, id, reason); an empty text or invalid UTF-8 is
// kept with a warning. Regions can be cached on disk (AdDatasetOptions::cache_dir) so that a second
// load decodes no image; the cache is keyed by the rows' bytes and the region options, checksummed,
// and rebuilt rather than trusted when anything about it is off.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/data/box_json.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/progress.hpp"
#include "simad/image/decode.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/models/batch.hpp"
#include "simad/core/hash.hpp"
#include "simad/models/detector_regions.hpp"
#include "simad/models/regions.hpp"
#include "simad/text/tokenizer.hpp"
#include "simad/text/utf8.hpp"
#include "simad/text/vocab.hpp"

namespace simad::data {

namespace fs = std::filesystem;

struct BoxRecord {
  int x = 0, y = 0, w = 0, h = 0;  // top-left pixel and size
  std::string role;                // "product", "distractor" (SynthAds) or empty
  int32_t category = -1;           // the object's category when given
};

struct AdRecord {
  int64_t id = -1;
  std::string text, image;
  int32_t category = -1, industry = -1;
  std::string split;
  std::vector<BoxRecord> boxes;
  int64_t line = 0;         // line in its file, from 1
  size_t invalid_utf8 = 0;  // ill-formed UTF-8 sequences in the row, replaced by U+FFFD before parsing
  uint64_t row_hash = 0;    // FNV-1a of the row's bytes (keys the region cache); 0: not read from a file
};

// A row that was skipped (or kept with a warning). line 0: about the whole file (the region cache).
struct RowProblem {
  int64_t line = 0;
  int64_t id = -1;  // -1 when the row has no readable id
  std::string reason;
};

struct AdRecords {
  std::string path;
  std::vector<AdRecord> records;
  std::vector<RowProblem> problems;
};

namespace detail {

using ::simad::fnv1a;
using ::simad::fnv1a_u64;
using ::simad::kFnvOffset;

// A JSON integer field within [lo, hi]; false (with *why set) when it is there but not such an
// integer. Absent: *present = false.
inline bool read_int(const nlohmann::json& row, const char* key, int64_t lo, int64_t hi, int64_t& out, bool& present,
                     std::string& why) {
  const auto it = row.find(key);
  present = it != row.end() && !it->is_null();
  if (!present) return true;
  bool ok = false;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    ok = v <= uint64_t(hi) && int64_t(v) >= lo;
    if (ok) out = int64_t(v);
  } else if (it->is_number_integer()) {
    const int64_t v = it->get<int64_t>();
    ok = v >= lo && v <= hi;
    if (ok) out = v;
  }
  if (!ok) why = std::string("\"") + key + "\" must be an integer in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "], got " + it->dump();
  return ok;
}

inline bool read_string(const nlohmann::json& row, const char* key, std::string& out, bool& present,
                        std::string& why) {
  const auto it = row.find(key);
  present = it != row.end() && !it->is_null();
  if (!present) return true;
  if (!it->is_string()) {
    why = std::string("\"") + key + "\" must be a string, got " + std::string(it->type_name());
    return false;
  }
  out = it->get<std::string>();
  return true;
}

// One box; coordinates may be fractional (the smallest pixel box covering them is kept).
inline bool read_box(const nlohmann::json& j, size_t index, BoxRecord& box, std::string& why) {
  const std::string where = "boxes[" + std::to_string(index) + "]";
  double v[4];
  if (!read_box_xywh(j, where, v, why)) return false;
  const double x0 = std::floor(v[0]), y0 = std::floor(v[1]);
  box.x = int(x0), box.y = int(y0);
  box.w = int(std::ceil(v[0] + v[2]) - x0), box.h = int(std::ceil(v[1] + v[3]) - y0);
  if (v[2] == 0) box.w = 0;  // an empty box stays empty (and is skipped by the region extractor)
  if (v[3] == 0) box.h = 0;
  bool present = false;
  if (!read_string(j, "role", box.role, present, why)) return why = where + ": " + why, false;
  int64_t category = -1;
  if (!read_int(j, "category", -1, INT32_MAX, category, present, why)) return why = where + ": " + why, false;
  box.category = int32_t(category);
  return true;
}

// Parses one row into r; false with *why when it is not a usable ad.
inline bool parse_row(std::string_view line, AdRecord& r, std::string& why) {
  nlohmann::json row;
  try {
    row = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    why = std::string("not valid JSON (") + e.what() + ")";
    return false;
  }
  if (!row.is_object()) return why = std::string("not a JSON object (a ") + row.type_name() + ")", false;
  bool present = false;
  int64_t id = -1;
  if (!read_int(row, "id", INT64_MIN, INT64_MAX, id, present, why)) return false;
  if (!present) return why = "no \"id\"", false;
  r.id = id;
  if (!read_string(row, "text", r.text, present, why)) return false;
  if (!present) return why = "no \"text\"", false;
  if (!read_string(row, "image", r.image, present, why)) return false;
  if (!present || r.image.empty()) return why = "no \"image\"", false;
  int64_t v = -1;
  if (!read_int(row, "category", -1, INT32_MAX, v, present, why)) return false;
  r.category = present ? int32_t(v) : -1;
  v = -1;
  if (!read_int(row, "industry", -1, INT32_MAX, v, present, why)) return false;
  r.industry = present ? int32_t(v) : -1;
  if (!read_string(row, "split", r.split, present, why)) return false;
  if (const auto it = row.find("boxes"); it != row.end() && !it->is_null()) {
    if (!it->is_array()) return why = "\"boxes\" must be an array", false;
    for (size_t i = 0; i < it->size(); ++i) {
      BoxRecord box;
      if (!read_box((*it)[i], i, box, why)) return false;
      r.boxes.push_back(std::move(box));
    }
  }
  return true;
}

// The id of a row that failed to parse, when it has a readable one (for the report).
inline int64_t salvage_id(std::string_view line) {
  try {
    const nlohmann::json row = nlohmann::json::parse(line);
    if (row.is_object())
      if (const auto it = row.find("id"); it != row.end() && it->is_number_integer()) return it->get<int64_t>();
  } catch (const nlohmann::json::exception&) {
  }
  return -1;
}

}  // namespace detail

// Reads a JSONL file of ads. Blank lines are ignored; every other bad row (not JSON, not an object,
// id/text/image missing or of the wrong type, a bad box, an id seen before) becomes a RowProblem
// and is skipped. Invalid UTF-8 is repaired (U+FFFD) before parsing and counted in
// AdRecord::invalid_utf8. A missing or unreadable file is a simad::Error naming it.
inline AdRecords read_ad_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SIMAD_CHECK(in, "cannot open the ads file '", path, "'");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SIMAD_CHECK(!in.bad(), "cannot read the ads file '", path, "'");
  AdRecords out;
  out.path = path;
  std::unordered_map<int64_t, int64_t> first_line;  // id -> line
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    std::string_view raw(data.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    const uint64_t hash = detail::fnv1a(raw);
    if (line_no == 1 && raw.starts_with("\xEF\xBB\xBF")) raw.remove_prefix(3);  // a UTF-8 byte order mark
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    AdRecord r;
    r.line = line_no;
    r.row_hash = hash == 0 ? 1 : hash;  // 0 means "not from a file"
    std::string repaired;
    if (!text::is_valid_utf8(raw)) {
      repaired = text::repair_utf8(raw, &r.invalid_utf8);
      raw = repaired;
    }
    std::string why;
    if (!detail::parse_row(raw, r, why)) {
      out.problems.push_back({line_no, detail::salvage_id(raw), why});
      continue;
    }
    const auto [it, fresh] = first_line.emplace(r.id, line_no);
    if (!fresh) {
      out.problems.push_back({line_no, r.id, "duplicate id " + std::to_string(r.id) + " (first on line " +
                                                 std::to_string(it->second) + ")"});
      continue;
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

// The word vocabulary (words seen at least min_count times; at most max_size entries, 0 = no
// limit) and the POS-tag vocabulary (every tag seen) of the records' texts, as `tokenizer` cuts them.
struct Vocabularies {
  text::Vocab words, tags;
};
inline Vocabularies build_vocabularies(std::span<const AdRecord> records, const text::Tokenizer& tokenizer,
                                       int64_t min_count = 1, size_t max_size = 0) {
  std::vector<std::vector<text::Word>> words(records.size());
  parallel_for(int64_t(records.size()), 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) words[size_t(i)] = tokenizer.tokenize(records[size_t(i)].text);
  });
  std::unordered_map<std::string, int64_t> word_counts, tag_counts;
  for (const auto& ws : words)
    for (const text::Word& w : ws) ++word_counts[w.text], ++tag_counts[w.tag];
  return {text::Vocab::build(word_counts, min_count, max_size), text::Vocab::build(tag_counts, 1)};
}

// Training classes: each category id >= 0 of the records -> 0..C-1 in increasing category order.
// Pass the training split's records.
inline std::map<int32_t, int32_t> category_labels(std::span<const AdRecord> records) {
  std::map<int32_t, int32_t> classes;
  for (const AdRecord& r : records)
    if (r.category >= 0) classes.emplace(r.category, 0);
  int32_t next = 0;
  for (auto& [category, label] : classes) label = next++;
  return classes;
}

struct AdDatasetOptions {
  models::RegionSource source = models::RegionSource::oracle;
  int grid = 7;              // G for grid regions
  int64_t max_words = 32;    // words kept per text (make_batch would cut the rest anyway)
  bool progress = false;     // a progress bar on stderr
  std::string cache_dir;     // region cache folder; empty = no cache
  // The detector of the detector and detector-grid sources (its fingerprint keys the cache).
  std::shared_ptr<const models::RegionDetector> detector;
};

struct AdDatasetLoad {
  std::vector<models::AdExample> examples;  // the loaded rows, in record order
  std::vector<RowProblem> skipped;          // rows not loaded (image missing, unreadable or corrupt)
  std::vector<RowProblem> warnings;         // rows loaded with a warning; line 0: the region cache
  bool cache_used = false;                  // the regions came from the cache file
  int64_t images_decoded = 0;               // images read in this load (0 when the cache served all)
  std::string cache_file;                   // the cache file of these rows and options ("" without cache)
};

namespace detail {

// The region cache file: little-endian,
//   "SIMADREG" | u32 version | u32 descriptor size | u64 rows checksum | u64 options checksum | u64 count
//   count x ( i64 id | i64 R | i64 Din | f32 features[R * Din] | f32 geometry[R * 5] )
//   u64 FNV-1a of every byte before it
// R = 0 marks a row whose image failed: it is retried on the next load, never cached as failed.
inline constexpr char kCacheMagic[8] = {'S', 'I', 'M', 'A', 'D', 'R', 'E', 'G'};
inline constexpr uint32_t kCacheVersion = 1;

inline void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
}
inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
}
inline void put_floats(std::string& out, const std::vector<float>& v) {
  for (float f : v) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    put_u32(out, bits);
  }
}

// Reads the cache's fields in order; any read past the end sets ok = false.
struct CacheReader {
  std::string_view data;
  size_t pos = 0;
  bool ok = true;
  explicit CacheReader(std::string_view bytes, size_t start = 0) : data(bytes), pos(start) {}
  uint64_t u(int bytes) {
    if (data.size() - pos < size_t(bytes)) return ok = false, 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(data[pos + size_t(i)])) << (8 * i);
    pos += size_t(bytes);
    return v;
  }
  bool floats(std::vector<float>& out, uint64_t count) {
    if ((data.size() - pos) / 4 < count) return ok = false;
    out.resize(size_t(count));
    for (float& f : out) {
      const uint32_t bits = uint32_t(u(4));
      std::memcpy(&f, &bits, 4);
    }
    return true;
  }
};

// What identifies a row's regions: its bytes when it was read from a file, else its fields.
inline uint64_t record_key(const AdRecord& r) {
  if (r.row_hash != 0) return r.row_hash;
  uint64_t h = fnv1a_u64(uint64_t(r.id), kFnvOffset);
  h = fnv1a(r.image, fnv1a_u64(r.image.size(), h));
  for (const BoxRecord& b : r.boxes)
    for (int v : {b.x, b.y, b.w, b.h}) h = fnv1a_u64(uint64_t(int64_t(v)), h);
  return h;
}

inline std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

inline fs::path image_path(const std::string& jsonl_dir, const std::string& image) {
  const fs::path p(image);
  return p.is_absolute() ? p : fs::path(jsonl_dir.empty() ? "." : jsonl_dir) / p;
}

struct CacheKey {
  uint64_t rows = 0, options = 0;
  int64_t dim = models::kPixelDescriptorDim;  // floats per region feature
  fs::path file;
};

inline CacheKey cache_key(std::span<const AdRecord> records, const std::string& jsonl_dir,
                          const AdDatasetOptions& o) {
  CacheKey k;
  k.rows = kFnvOffset;
  for (const AdRecord& r : records) k.rows = fnv1a_u64(record_key(r), k.rows);
  // The folder is part of the key: relative image paths resolve against it.
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::absolute(jsonl_dir.empty() ? "." : jsonl_dir), ec);
  if (ec) dir = jsonl_dir;
  std::string opts = "simad regions v1; descriptor=pixel" + std::to_string(models::kPixelDescriptorDim) +
                     "; source=" + models::to_string(o.source);
  if (o.source == models::RegionSource::grid || o.source == models::RegionSource::detector_grid)
    opts += "; grid=" + std::to_string(o.grid);
  if (models::uses_detector(o.source)) opts += "; detector=" + o.detector->fingerprint();
  opts += "; dir=" + dir.string();
  k.options = fnv1a(opts);
  k.dim = models::uses_detector(o.source) ? o.detector->feature_dim() : models::kPixelDescriptorDim;
  k.file = fs::path(o.cache_dir) / ("regions-" + hex64(k.rows) + "-" + hex64(k.options) + ".bin");
  return k;
}

// The cached regions (features and geometry per row; regions == 0 for a row to retry), or an
// empty vector with *why set when the file is unusable.
inline std::vector<models::AdExample> read_region_cache(const CacheKey& key, std::span<const AdRecord> records,
                                                        std::string& why) {
  std::string data;
  {
    std::ifstream in(key.file, std::ios::binary);
    if (!in) return why = "cannot open it", std::vector<models::AdExample>{};
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return why = "read error", std::vector<models::AdExample>{};
  }
  std::vector<models::AdExample> rows;
  auto bad = [&](const std::string& reason) {
    why = reason;
    return std::vector<models::AdExample>{};
  };
  if (data.size() < 40 + 8 || std::memcmp(data.data(), kCacheMagic, 8) != 0)
    return bad("not a region cache file (bad magic or too short)");
  const uint64_t stored_sum = CacheReader(std::string_view(data).substr(data.size() - 8)).u(8);
  if (fnv1a(std::string_view(data).substr(0, data.size() - 8)) != stored_sum)
    return bad("checksum mismatch (truncated or corrupt)");
  CacheReader r(std::string_view(data).substr(0, data.size() - 8), 8);
  const uint64_t version = r.u(4), dim = r.u(4), rows_sum = r.u(8), options_sum = r.u(8), count = r.u(8);
  if (version != kCacheVersion) return bad("version " + std::to_string(version) + ", expected " +
                                           std::to_string(kCacheVersion));
  if (dim != uint64_t(key.dim)) return bad("descriptor size " + std::to_string(dim));
  if (rows_sum != key.rows || options_sum != key.options) return bad("made for other rows or options");
  if (count != records.size()) return bad("holds " + std::to_string(count) + " ads, expected " +
                                          std::to_string(records.size()));
  rows.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    models::AdExample& a = rows[i];
    a.id = int64_t(r.u(8));
    const uint64_t R = r.u(8), D = r.u(8);
    if (!r.ok) return bad("truncated");
    if (a.id != records[i].id) return bad("ad " + std::to_string(i) + " has id " + std::to_string(a.id) +
                                           ", expected " + std::to_string(records[i].id));
    if (R == 0) continue;  // failed last time: retried
    if (R > (uint64_t(1) << 20) || D != dim) return bad("ad " + std::to_string(a.id) + ": bad region shape");
    a.regions = int64_t(R), a.region_dim = int64_t(D);
    if (!r.floats(a.region_features, R * D) || !r.floats(a.region_geometry, R * uint64_t(models::kGeometryDim)))
      return bad("truncated");
    for (float v : a.region_features)
      if (!std::isfinite(v)) return bad("ad " + std::to_string(a.id) + ": a non-finite value");
  }
  if (r.pos != r.data.size()) return bad(std::to_string(r.data.size() - r.pos) + " bytes of trailing data");
  return rows;
}

inline void write_region_cache(const CacheKey& key, const std::vector<models::AdExample>& rows) {
  std::string out(kCacheMagic, 8);
  put_u32(out, kCacheVersion);
  put_u32(out, uint32_t(key.dim));
  put_u64(out, key.rows), put_u64(out, key.options), put_u64(out, rows.size());
  for (const models::AdExample& a : rows) {
    put_u64(out, uint64_t(a.id)), put_u64(out, uint64_t(a.regions)), put_u64(out, a.regions ? uint64_t(a.region_dim) : 0);
    if (a.regions == 0) continue;
    put_floats(out, a.region_features);
    put_floats(out, a.region_geometry);
  }
  put_u64(out, fnv1a(out));
  fs::create_directories(key.file.parent_path());
  io::write_file_atomically(key.file, out);
}

// Decodes one row's image and extracts its regions into `ex`; "" or the reason it failed.
inline std::string row_regions(const AdRecord& rec, const std::string& jsonl_dir, const AdDatasetOptions& o,
                               models::AdExample& ex) {
  const fs::path path = image_path(jsonl_dir, rec.image);
  try {
    std::error_code ec;
    if (!fs::exists(path, ec)) return "image '" + path.string() + "' does not exist";
    if (o.source == models::RegionSource::detector) {
      o.detector->detection_regions(image::load(path), ex);
      return "";
    }
    if (o.source == models::RegionSource::detector_grid) {
      o.detector->grid_regions(image::load(path), o.grid, ex);
      return "";
    }
    const models::RgbImage rgb = models::to_rgb8(image::load(path));
    std::vector<models::RegionBox> boxes;
    boxes.reserve(rec.boxes.size());
    for (const BoxRecord& b : rec.boxes) boxes.push_back({b.x, b.y, b.w, b.h});
    models::image_regions(rgb, o.source, o.grid, boxes, rec.id, ex);
    return "";
  } catch (const std::exception& e) {  // simad::Error names the file; bad_alloc on a hostile size
    ex.regions = 0, ex.region_features.clear(), ex.region_geometry.clear();
    const std::string what = e.what();
    return what.find(path.string()) == std::string::npos ? "image '" + path.string() + "': " + what : what;
  }
}

}  // namespace detail

// The records as model inputs, in record order. Texts are tokenized (words, tags and keyword labels
// by `tokenizer`, ids by the two vocabularies, at most options.max_words words); regions by
// options.source. A row whose image is missing, unreadable or corrupt is skipped (reason naming the
// file); an empty text is kept with no words, invalid UTF-8 is kept repaired (both with a warning).
// label_of_category maps a category to its training class (-1: not a training class); it is called
// on this thread only. Rows run in parallel; the result does not depend on the thread count.
inline AdDatasetLoad load_ad_examples(std::span<const AdRecord> records, const std::string& jsonl_dir,
                                      const text::Tokenizer& tokenizer, const text::Vocab& words,
                                      const text::Vocab& tags,
                                      const std::function<int32_t(int32_t)>& label_of_category,
                                      const AdDatasetOptions& options = {}) {
  SIMAD_CHECK(options.max_words >= 1, "load_ad_examples: max_words must be >= 1, got ", options.max_words);
  SIMAD_CHECK(options.grid >= 1 && options.grid <= 64, "load_ad_examples: grid ", options.grid, " must be in [1, 64]");
  SIMAD_CHECK(!models::uses_detector(options.source) || options.detector,
              "load_ad_examples: the ", models::to_string(options.source), " region source needs a detector "
              "(AdDatasetOptions::detector)");
  const size_t n = records.size();
  AdDatasetLoad load;

  // Regions from the cache when it matches these rows and options exactly.
  std::vector<models::AdExample> rows(n);
  detail::CacheKey key;
  const bool caching = !options.cache_dir.empty();
  if (caching) {
    key = detail::cache_key(records, jsonl_dir, options);
    load.cache_file = key.file.string();
    std::error_code ec;
    if (fs::exists(key.file, ec)) {
      std::string why;
      std::vector<models::AdExample> cached = detail::read_region_cache(key, records, why);
      if (cached.size() == n) {
        rows = std::move(cached);
        load.cache_used = true;
      } else {
        load.warnings.push_back({0, -1, "region cache '" + key.file.string() + "' ignored (" + why + "); rebuilt"});
      }
    }
  }

  // Text and (what the cache did not give) regions, one row at a time.
  std::vector<std::string> failure(n);
  std::vector<std::vector<std::string>> notes(n);
  std::vector<uint8_t> decoded(n, 0);
  {
    ProgressBar bar("load: ads", int64_t(n), options.progress);
    parallel_for(int64_t(n), 4, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const AdRecord& rec = records[size_t(i)];
        models::AdExample& ex = rows[size_t(i)];
        if (ex.regions == 0) {
          failure[size_t(i)] = detail::row_regions(rec, jsonl_dir, options, ex);
          decoded[size_t(i)] = 1;
        }
        size_t replaced = 0;
        std::vector<text::Word> ws = tokenizer.tokenize(rec.text, &replaced);
        replaced += rec.invalid_utf8;
        if (rec.text.empty()) notes[size_t(i)].push_back("empty text: the ad has no words");
        else if (ws.empty()) notes[size_t(i)].push_back("the text has no words");
        if (replaced)
          notes[size_t(i)].push_back(std::to_string(replaced) + " invalid UTF-8 sequence(s) replaced by U+FFFD");
        if (int64_t(ws.size()) > options.max_words) ws.resize(size_t(options.max_words));
        ex.words.clear(), ex.tags.clear(), ex.keyword.clear();
        for (const text::Word& w : ws) {
          ex.words.push_back(words.id(w.text));
          ex.tags.push_back(tags.id(w.tag));
          ex.keyword.push_back(w.keyword);
        }
        bar.advance();
      }
    });
  }

  // Rewrite the cache when this load computed regions it did not have.
  bool fresh = false;
  for (size_t i = 0; i < n; ++i) {
    load.images_decoded += decoded[i];
    fresh = fresh || (decoded[i] && failure[i].empty());
  }
  if (caching && (!load.cache_used || fresh)) {
    try {
      std::vector<models::AdExample> regions(n);
      for (size_t i = 0; i < n; ++i) {
        regions[i].id = records[i].id;
        if (!failure[i].empty()) continue;
        regions[i].regions = rows[i].regions, regions[i].region_dim = rows[i].region_dim;
        regions[i].region_features = rows[i].region_features, regions[i].region_geometry = rows[i].region_geometry;
      }
      detail::write_region_cache(key, regions);
    } catch (const std::exception& e) {
      load.warnings.push_back({0, -1, std::string("cannot write the region cache: ") + e.what()});
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const AdRecord& rec = records[i];
    if (!failure[i].empty()) {
      load.skipped.push_back({rec.line, rec.id, failure[i]});
      continue;
    }
    for (const std::string& note : notes[i]) load.warnings.push_back({rec.line, rec.id, note});
    models::AdExample& ex = rows[i];
    ex.id = rec.id;
    ex.category = rec.category;
    ex.industry = rec.industry;
    ex.label = rec.category >= 0 && label_of_category ? label_of_category(rec.category) : -1;
    load.examples.push_back(std::move(ex));
  }
  return load;
}

// The same with a category -> class map (category_labels()).
inline AdDatasetLoad load_ad_examples(std::span<const AdRecord> records, const std::string& jsonl_dir,
                                      const text::Tokenizer& tokenizer, const text::Vocab& words,
                                      const text::Vocab& tags, const std::map<int32_t, int32_t>& classes,
                                      const AdDatasetOptions& options = {}) {
  return load_ad_examples(
      records, jsonl_dir, tokenizer, words, tags,
      [&classes](int32_t category) {
        const auto it = classes.find(category);
        return it == classes.end() ? -1 : it->second;
      },
      options);
}

}  // namespace simad::data
