// simad/train/metrics.hpp: the papers' evaluation (MODELS.md, "The job both models do").
//
//   RetrievalMetrics m = precision_at_k(emb, n, d, category, seen);   // Hit P@1, P@5, P@10
//   m.p_seen[2]   // P@10 over queries whose category was seen in training
//
// Retrieval: each of the n ads (the test set) queries all OTHER n - 1 ads by squared L2 distance;
// Hit P@k = (ads of the query's category among its k nearest) / k, averaged over queries, separately
// over queries of seen categories (seen[i] = 1), of unseen ones (seen[i] = 0) and over all.
//
// - The search is search::FlatIndex (exact, exclude-self), so the ranking is the index's: distance
//   ascending (float, computed as ||q||^2 + ||x||^2 - 2<q, x>, clamped at 0), ties broken by the
//   smaller id, and the id of an ad is its row. Same embeddings, same numbers, on any thread count.
// - k larger than the pool (n - 1): the hits among all n - 1 others are still divided by k, i.e.
//   the missing slots count as misses. Clamping k would make P@10 over 4 ads mean P@3; dividing by
//   k keeps "P@k" one definition, comparable across pools.
// - A group with no query (no unseen category in the test set, or n = 0) gets NaN, not 0: 0 would
//   read as a measured score. NaN prints as "nan" and is null in JSON.
// - A query whose category has no other ad in the pool still counts (its P@k is 0): it is a query
//   of the test set like the others, and dropping it would flatter a model.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/search/flat_index.hpp"

namespace simad::train {

struct RetrievalMetrics {
  std::vector<int> ks;                       // the cut-offs, as asked
  std::vector<double> p_seen, p_unseen, p_all;  // one value per k (NaN when the group is empty)
  int64_t queries_seen = 0, queries_unseen = 0;
};

namespace detail {

inline void check_embeddings(const float* emb, int64_t n, int64_t d, const char* what) {
  SIMAD_CHECK(n >= 0, what, ": negative ad count ", n);
  SIMAD_CHECK(d >= 1, what, ": embedding dimension must be >= 1, got ", d);
  SIMAD_CHECK(n == 0 || emb != nullptr, what, ": null embeddings");
}

// Row i's ids of its `k` nearest other rows, as the index returns them: (n, k), best first,
// -1 where the pool (n - 1) is shorter than k. Requires n >= 1, k >= 1.
inline std::vector<int64_t> search_others(const float* emb, int64_t n, int64_t d, int64_t k) {
  search::FlatIndex<float> index(d);
  index.add_sequential(emb, n, 0);
  std::vector<int64_t> self(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) self[size_t(i)] = i;
  std::vector<float> dist(static_cast<size_t>(n * k));
  std::vector<int64_t> ids(static_cast<size_t>(n * k));
  index.search(emb, n, k, dist.data(), ids.data(), self.data());
  return ids;
}

}  // namespace detail

// Hit P@k for every k of ks (see the top of the file). emb: (n, d) row-major; category, seen: (n).
inline RetrievalMetrics precision_at_k(const float* emb, int64_t n, int64_t d, std::span<const int32_t> category,
                                       std::span<const uint8_t> seen, std::vector<int> ks = {1, 5, 10}) {
  detail::check_embeddings(emb, n, d, "precision_at_k");
  SIMAD_CHECK(int64_t(category.size()) == n, "precision_at_k: ", category.size(), " categories for ", n, " ads");
  SIMAD_CHECK(int64_t(seen.size()) == n, "precision_at_k: ", seen.size(), " seen flags for ", n, " ads");
  SIMAD_CHECK(!ks.empty(), "precision_at_k: no k given");
  for (int k : ks) SIMAD_CHECK(k >= 1, "precision_at_k: k must be >= 1, got ", k);

  RetrievalMetrics m;
  m.ks = ks;
  const size_t nk = ks.size();
  std::vector<double> sum_seen(nk, 0.0), sum_unseen(nk, 0.0);
  if (n >= 2) {
    const int64_t kmax = *std::max_element(ks.begin(), ks.end());
    const int64_t ksearch = std::min(kmax, n - 1);  // more would only add -1 slots
    const std::vector<int64_t> ids = detail::search_others(emb, n, d, ksearch);
    std::vector<int64_t> hits_upto(static_cast<size_t>(ksearch) + 1);  // hits_upto[r] = same category in ranks [0, r)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t* row = ids.data() + i * ksearch;
      hits_upto[0] = 0;
      for (int64_t r = 0; r < ksearch; ++r)
        hits_upto[size_t(r) + 1] = hits_upto[size_t(r)] + (row[r] >= 0 && category[size_t(row[r])] == category[size_t(i)]);
      std::vector<double>& sum = seen[size_t(i)] ? sum_seen : sum_unseen;
      for (size_t j = 0; j < nk; ++j)
        sum[j] += double(hits_upto[size_t(std::min<int64_t>(ks[j], ksearch))]) / double(ks[j]);
    }
  }
  for (int64_t i = 0; i < n; ++i) (seen[size_t(i)] ? m.queries_seen : m.queries_unseen) += 1;
  // With n = 1 the single query has no other ad: it counts, with P@k = 0 (sums stay 0).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t j = 0; j < nk; ++j) {
    m.p_seen.push_back(m.queries_seen ? sum_seen[j] / double(m.queries_seen) : nan);
    m.p_unseen.push_back(m.queries_unseen ? sum_unseen[j] / double(m.queries_unseen) : nan);
    m.p_all.push_back(n ? (sum_seen[j] + sum_unseen[j]) / double(n) : nan);
  }
  return m;
}

// The ids (rows) of each row's k nearest OTHER rows, best first, in precision_at_k's order; each list
// holds min(k, n - 1) ids (no -1 padding). emb: (n, d) row-major.
inline std::vector<std::vector<int64_t>> nearest(const float* emb, int64_t n, int64_t d, int64_t k) {
  detail::check_embeddings(emb, n, d, "nearest");
  SIMAD_CHECK(k >= 1, "nearest: k must be >= 1, got ", k);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(n));
  if (n < 2) return out;
  const int64_t ks = std::min(k, n - 1);
  const std::vector<int64_t> ids = detail::search_others(emb, n, d, ks);
  for (int64_t i = 0; i < n; ++i) out[size_t(i)].assign(ids.begin() + i * ks, ids.begin() + (i + 1) * ks);
  return out;
}

// Fraction of predicted[i] == label[i] over the i with label[i] != -1 (-1: no class, e.g. an ad of a
// category held out of training); NaN when every label is -1. Other negative labels are errors.
inline double classification_accuracy(std::span<const int32_t> predicted, std::span<const int32_t> label) {
  SIMAD_CHECK(predicted.size() == label.size(), "classification_accuracy: ", predicted.size(), " predictions for ",
              label.size(), " labels");
  int64_t counted = 0, correct = 0;
  for (size_t i = 0; i < label.size(); ++i) {
    SIMAD_CHECK(label[i] >= -1, "classification_accuracy: label ", i, " is ", label[i], " (-1 or a class expected)");
    if (label[i] == -1) continue;
    ++counted;
    correct += predicted[i] == label[i];
  }
  return counted ? double(correct) / double(counted) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace simad::train
