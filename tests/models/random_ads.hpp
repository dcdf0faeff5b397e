// tests/models/random_ads.hpp: the tiny random ads the model tests train on: B ads of `classes`
// classes (label = i % classes, so every class has positives once B >= 2 classes), texts of 1-7 words
// (ad 1: none), 1-6 regions (ad 2: one) with normal features and uniform geometry.
#pragma once

#include <cstdint>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/models/batch.hpp"

namespace simad::testing {

struct RandomAdsSpec {
  int32_t vocab = 23, tags = 9, first_id = 4;  // word / tag ids drawn from [first_id, vocab or tags)
  int64_t region_dim = 4;
};

inline std::vector<models::AdExample> random_ads(uint64_t seed, int64_t B, int32_t classes, RandomAdsSpec spec = {}) {
  Rng r(seed);
  std::vector<models::AdExample> ads(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    models::AdExample& a = ads[size_t(i)];
    a.id = i;
    a.label = int32_t(i % classes);
    a.category = a.label + 100;
    const int64_t n = i == 1 ? 0 : 1 + int64_t(r.next_below(7));  // ad 1: empty text
    for (int64_t t = 0; t < n; ++t) {
      a.words.push_back(int32_t(spec.first_id + r.next_below(uint32_t(spec.vocab - spec.first_id))));
      a.tags.push_back(int32_t(spec.first_id + r.next_below(uint32_t(spec.tags - spec.first_id))));
      a.keyword.push_back(int32_t(r.next_below(2)));
    }
    a.regions = i == 2 ? 1 : 1 + int64_t(r.next_below(6));  // ad 2: one region
    a.region_dim = spec.region_dim;
    for (int64_t k = 0; k < a.regions * spec.region_dim; ++k) a.region_features.push_back(float(r.next_normal()));
    for (int64_t k = 0; k < a.regions * models::kGeometryDim; ++k) a.region_geometry.push_back(float(r.next_uniform()));
  }
  return ads;
}

}  // namespace simad::testing
