// simad/models/batch.hpp: what the ad models eat. An AdExample is one ad after the tokenizer and
// the region extractor (words as vocabulary ids, regions as feature vectors); an AdBatch is a
// padded batch of them with masks, as every model forward takes it (MODELS.md "Variable lengths
// everywhere": padded words and regions never count).
//
//   std::vector<const AdExample*> rows = ...;
//   AdBatch<float> b = make_batch<float>(rows, 32);   // words truncated to 32, regions padded to the widest
//
// Region geometry is (x, y, w, h, confidence): box centre and size divided by the image width and
// height, confidence in [0, 1] (0 where the source has none: grid cells).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "simad/core/error.hpp"

namespace simad::models {

inline constexpr int64_t kGeometryDim = 5;  // x, y, w, h, confidence

// One ad as the models see it.
struct AdExample {
  int64_t id = -1;        // the ad's id in its data set
  int32_t label = -1;     // class index of its fine category (training classes), -1 when unknown
  int32_t category = -1;  // the data set's category id (P@k compares these), -1 when unknown
  int32_t industry = -1;  // coarse category (ToTYEmb text pre-training), -1 when unknown
  std::vector<int32_t> words;    // word ids (text::Vocab), one per word, no [CLS]
  std::vector<int32_t> tags;     // POS-tag ids (a second Vocab), same length
  std::vector<int32_t> keyword;  // 1 keyword, 0 other (text::Tokenizer), same length
  int64_t regions = 0;                 // R >= 1 (an image always gives at least one region)
  int64_t region_dim = 0;              // Din
  std::vector<float> region_features;  // (R, Din)
  std::vector<float> region_geometry;  // (R, kGeometryDim)
};

template <typename T>
struct AdBatch {
  int64_t B = 0, N = 0, R = 0, Din = 0;  // ads, words (padded), regions (padded), region feature size
  std::vector<int32_t> words, tags;  // (B, N); 0 ([PAD]) at padding
  std::vector<int32_t> keyword;      // (B, N); -1 at padding (the keyword loss' ignore index)
  std::vector<uint8_t> word_mask;    // (B, N); 1 = word
  std::vector<T> region_features;    // (B, R, Din); 0 at padding
  std::vector<T> region_geometry;    // (B, R, kGeometryDim); 0 at padding
  std::vector<uint8_t> region_mask;  // (B, R); 1 = region
  std::vector<int32_t> labels;       // (B) training class, -1 unknown
  std::vector<int32_t> categories;   // (B)
  std::vector<int32_t> industries;   // (B)
  std::vector<int64_t> ids;          // (B)
};

// Pads rows into one batch: N = the longest text (at most max_words; longer texts are cut at the
// end; an empty text still gets one padded position, so N >= 1), R = the most regions. Every row
// must have the same region_dim.
template <typename T>
AdBatch<T> make_batch(std::span<const AdExample* const> rows, int64_t max_words) {
  SIMAD_CHECK(!rows.empty(), "make_batch: no rows");
  SIMAD_CHECK(max_words >= 1, "make_batch: max_words must be >= 1, got ", max_words);
  AdBatch<T> b;
  b.B = int64_t(rows.size());
  b.N = 1;
  b.Din = rows[0]->region_dim;
  for (const AdExample* a : rows) {
    SIMAD_CHECK(a->words.size() == a->tags.size() && a->words.size() == a->keyword.size(), "make_batch: ad ", a->id,
                " has ", a->words.size(), " words but ", a->tags.size(), " tags and ", a->keyword.size(),
                " keyword labels");
    SIMAD_CHECK(a->region_dim == b.Din, "make_batch: ad ", a->id, " has region features of size ", a->region_dim,
                ", the batch ", b.Din);
    SIMAD_CHECK(a->regions >= 1 && a->region_features.size() == size_t(a->regions * a->region_dim) &&
                    a->region_geometry.size() == size_t(a->regions * kGeometryDim),
                "make_batch: ad ", a->id, " has inconsistent regions (", a->regions, " regions, ",
                a->region_features.size(), " feature values, ", a->region_geometry.size(), " geometry values)");
    b.N = std::max(b.N, std::min<int64_t>(int64_t(a->words.size()), max_words));
    b.R = std::max(b.R, a->regions);
  }
  const int64_t B = b.B, N = b.N, R = b.R, D = b.Din;
  b.words.assign(size_t(B * N), 0), b.tags.assign(size_t(B * N), 0), b.keyword.assign(size_t(B * N), -1);
  b.word_mask.assign(size_t(B * N), 0);
  b.region_features.assign(size_t(B * R * D), T(0)), b.region_geometry.assign(size_t(B * R * kGeometryDim), T(0));
  b.region_mask.assign(size_t(B * R), 0);
  for (int64_t i = 0; i < B; ++i) {
    const AdExample& a = *rows[size_t(i)];
    const int64_t n = std::min<int64_t>(int64_t(a.words.size()), N);
    for (int64_t t = 0; t < n; ++t) {
      b.words[size_t(i * N + t)] = a.words[size_t(t)];
      b.tags[size_t(i * N + t)] = a.tags[size_t(t)];
      b.keyword[size_t(i * N + t)] = a.keyword[size_t(t)];
      b.word_mask[size_t(i * N + t)] = 1;
    }
    for (int64_t j = 0; j < a.regions; ++j) {
      b.region_mask[size_t(i * R + j)] = 1;
      for (int64_t c = 0; c < D; ++c) b.region_features[size_t((i * R + j) * D + c)] = T(a.region_features[size_t(j * D + c)]);
      for (int64_t c = 0; c < kGeometryDim; ++c)
        b.region_geometry[size_t((i * R + j) * kGeometryDim + c)] = T(a.region_geometry[size_t(j * kGeometryDim + c)]);
    }
    b.labels.push_back(a.label);
    b.categories.push_back(a.category);
    b.industries.push_back(a.industry);
    b.ids.push_back(a.id);
  }
  return b;
}

// The loss of one forward, by term (for progress lines and the metrics log).
struct LossTerms {
  double total = 0;
  double main = 0;     // triplet (ION) or category cross-entropy (ToTYEmb)
  double keyword = 0;  // ION's keyword cross-entropy (before the rho weight); 0 for ToTYEmb
  int64_t skipped_anchors = 0;  // ION: anchors without a positive or a negative in the batch
  int64_t correct = 0;          // ToTYEmb: argmax == label
};

}  // namespace simad::models
