// simad/ops/reference/triplet.hpp: the readable specification of ops/triplet.hpp (same names, same
// arguments, same semantics), in plain loops with double accumulators, one thread. Used by the tests;
// never by the library itself. Batch-hard triplet loss (Hermans, Beyer, Leibe 2017, eq. 5):
//   p(a) = argmax_{j != a, y_j = y_a} D(a, j)     the hardest positive (farthest same label)
//   n(a) = argmin_{y_j != y_a} D(a, j)            the hardest negative (nearest other label)
//   L = 1/V sum_{valid a} max(0, D(a, p(a)) - D(a, n(a)) + margin)
// D is the squared Euclidean distance (TripletDistance::Squared, MODELS.md) or the Euclidean one, summed
// directly over k (no norm expansion). An anchor without a positive or a negative gets p or n = -1 and
// is counted in skipped; V = the valid anchors (L = 0 when V = 0). Ties go to the smaller index.
// The forward OVERWRITES loss, hardest_pos, hardest_neg, skipped. The backward ACCUMULATES into demb
// (nullptr: skipped), selections fixed; for an anchor with a positive hinge, s = dloss / V and
//   demb[a] += cp (a - p) - cn (a - n),   demb[p] -= cp (a - p),   demb[n] += cn (a - n)
// with cp = cn = 2 s (squared), or cp = s / D(a, p), cn = s / D(a, n) (Euclidean; 0 where D = 0).
// TripletDistance is shared with the op (ops/triplet_distance.hpp, an enum alone).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "simad/ops/triplet_distance.hpp"

namespace simad::ops::reference {

using simad::ops::TripletDistance;

template <typename T>
double triplet_distance(const T* a, const T* x, int64_t D, TripletDistance dist) {
  double s = 0;
  for (int64_t k = 0; k < D; ++k) s += (double(a[k]) - double(x[k])) * (double(a[k]) - double(x[k]));
  return dist == TripletDistance::Squared ? s : std::sqrt(s);
}

template <typename T>
void batch_hard_triplet_forward(T* loss,                // (1) mean hinge over valid anchors
                                int32_t* hardest_pos,   // (B) p(a) or -1
                                int32_t* hardest_neg,   // (B) n(a) or -1
                                int64_t* skipped,       // (1) anchors without a positive or a negative
                                const T* emb,           // (B, D)
                                const int32_t* labels,  // (B)
                                int64_t B, int64_t D, T margin, TripletDistance dist = TripletDistance::Squared) {
  double sum = 0;
  int64_t valid = 0;
  for (int64_t a = 0; a < B; ++a) {
    int32_t p = -1, n = -1;
    double dp = 0, dn = 0;
    for (int64_t j = 0; j < B; ++j) {
      if (j == a) continue;
      const double d = triplet_distance(emb + a * D, emb + j * D, D, dist);
      if (labels[j] == labels[a]) {
        if (p < 0 || d > dp) p = int32_t(j), dp = d;  // strict: ties keep the smaller j
      } else if (n < 0 || d < dn) {
        n = int32_t(j), dn = d;
      }
    }
    hardest_pos[a] = p;
    hardest_neg[a] = n;
    if (p < 0 || n < 0) continue;
    ++valid;
    sum += std::max(0.0, dp - dn + double(margin));
  }
  *skipped = B - valid;
  *loss = valid ? T(sum / double(valid)) : T(0);
}

template <typename T>
void batch_hard_triplet_backward(T* demb,                     // (B, D) or nullptr
                                 T dloss,                     // d(something) / d loss
                                 const T* emb,                // (B, D)
                                 const int32_t* hardest_pos,  // (B) from the forward
                                 const int32_t* hardest_neg,  // (B) from the forward
                                 int64_t B, int64_t D, T margin,
                                 TripletDistance dist = TripletDistance::Squared) {
  if (!demb) return;
  int64_t valid = 0;
  for (int64_t a = 0; a < B; ++a) valid += hardest_pos[a] >= 0 && hardest_neg[a] >= 0;
  if (valid == 0) return;
  const double s = double(dloss) / double(valid);
  for (int64_t a = 0; a < B; ++a) {
    const int64_t p = hardest_pos[a], n = hardest_neg[a];
    if (p < 0 || n < 0) continue;
    const double dp = triplet_distance(emb + a * D, emb + p * D, D, dist);
    const double dn = triplet_distance(emb + a * D, emb + n * D, D, dist);
    if (!(dp - dn + double(margin) > 0)) continue;  // hinge inactive: no gradient
    double cp = 2 * s, cn = 2 * s;                   // coefficients of (a - p) and (a - n)
    if (dist == TripletDistance::Euclidean) {
      cp = dp > 0 ? s / dp : 0.0;
      cn = dn > 0 ? s / dn : 0.0;
    }
    for (int64_t k = 0; k < D; ++k) {
      const double up = cp * (double(emb[a * D + k]) - double(emb[p * D + k]));
      const double un = cn * (double(emb[a * D + k]) - double(emb[n * D + k]));
      demb[a * D + k] = T(double(demb[a * D + k]) + up - un);
      demb[p * D + k] = T(double(demb[p * D + k]) - up);
      demb[n * D + k] = T(double(demb[n * D + k]) + un);
    }
  }
}

}  // namespace simad::ops::reference
