// simad/lookalike/auc.hpp: the metrics of the lookalike experiment (MODELS.md "Lookalike").
// - auc: area under the ROC curve = P(score of a random positive > score of a random negative)
//   + 0.5 P(equal), by ranks with ties at their mean rank (the Mann-Whitney U statistic), O(n log n).
//   NaN when the labels hold no positive or no negative.
// - select_top: the ION paper's CTR simulation: a model selects the M users it scores highest; the
//   CTR of the selection is clicked / selected. Ties at the cut are broken by the lower index (the
//   order of the users given), so the selection is deterministic.
// No dependency on XGBoost: usable on its own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "simad/core/error.hpp"

namespace simad::lookalike {

inline double auc(std::span<const float> scores, std::span<const uint8_t> labels) {
  SIMAD_CHECK(scores.size() == labels.size(), "auc: " + std::to_string(scores.size()) + " scores but " +
                                                  std::to_string(labels.size()) + " labels");
  const size_t n = scores.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;  // sum of the (1-based, tie-averaged) ranks of the positives
  int64_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    int64_t pos_in_group = 0;
    while (j < n && scores[order[j]] == scores[order[i]]) pos_in_group += labels[order[j++]] != 0;
    const double mean_rank = 0.5 * double(i + 1 + j);  // ranks i+1 .. j
    rank_sum += mean_rank * double(pos_in_group);
    positives += pos_in_group;
    i = j;
  }
  const int64_t negatives = int64_t(n) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  const double u = rank_sum - double(positives) * double(positives + 1) / 2;
  return u / (double(positives) * double(negatives));
}

struct Selection {
  int64_t selected = 0, clicked = 0;
  double ctr() const { return selected > 0 ? double(clicked) / double(selected) : std::numeric_limits<double>::quiet_NaN(); }
};

// The `m` highest-scoring users (all of them when m >= n) and how many of them clicked.
inline Selection select_top(std::span<const float> scores, std::span<const uint8_t> clicked, int64_t m) {
  SIMAD_CHECK(scores.size() == clicked.size(), "select_top: scores and clicks differ in length");
  m = std::clamp<int64_t>(m, 0, int64_t(scores.size()));
  std::vector<uint32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0u);
  auto better = [&](uint32_t a, uint32_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; };
  std::partial_sort(order.begin(), order.begin() + m, order.end(), better);
  Selection s;
  s.selected = m;
  for (int64_t i = 0; i < m; ++i) s.clicked += clicked[order[size_t(i)]] != 0;
  return s;
}

}  // namespace simad::lookalike
