// tests/ops/test_triplet.cpp: batch-hard triplet loss (ops/triplet.hpp) against the reference tier in
// double (all pairwise distances, arg-selections with ties to the smaller index, the mean hinge), and
// its gradient against the tier and central finite differences of the forward in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/ops/reference/triplet.hpp"
#include "simad/ops/triplet.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace t = simad::testing;
using simad::ops::TripletDistance;

struct Ref {
  std::vector<int32_t> pos, neg;
  double loss = 0;
  int64_t skipped = 0;
  std::vector<double> d;  // (B, B) distances
};

// The selections, loss and skipped count from the reference tier (ops/reference/triplet.hpp) in double
// on the embeddings widened to double; the (B, B) distance matrix (for the tie tolerance) in double too.
template <typename T>
Ref brute_force(const std::vector<T>& emb, const std::vector<int32_t>& labels, int64_t B, int64_t D, double margin,
                TripletDistance dist) {
  Ref r{std::vector<int32_t>(size_t(B), -1), std::vector<int32_t>(size_t(B), -1), 0.0, 0, std::vector<double>(size_t(B * B))};
  const std::vector<double> e(emb.begin(), emb.end());
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < B; ++j)
      r.d[size_t(i * B + j)] = simad::ops::reference::triplet_distance(e.data() + i * D, e.data() + j * D, D, dist);
  simad::ops::reference::batch_hard_triplet_forward(&r.loss, r.pos.data(), r.neg.data(), &r.skipped, e.data(),
                                                    labels.data(), B, D, margin, dist);
  return r;
}

std::vector<int32_t> random_labels(simad::Rng& rng, int64_t B, uint32_t classes) {
  std::vector<int32_t> l(static_cast<size_t>(B));
  for (auto& x : l) x = int32_t(rng.next_below(classes)) * 7 - 3;  // arbitrary (negative too) label values
  return l;
}

template <typename T>
void forward_case(double loss_rtol) {
  auto rng = t::test_rng();
  for (const TripletDistance dist : {TripletDistance::Squared, TripletDistance::Euclidean}) {
    for (const int64_t B : {1, 2, 5, 17, 64, 133}) {
      for (const int64_t D : {1, 8, 33}) {
        CAPTURE(B);
        CAPTURE(D);
        const auto emb = t::random_vector<T>(rng, size_t(B * D));
        const auto labels = random_labels(rng, B, B > 20 ? 6 : 3);
        const double margin = 0.3;
        const Ref want = brute_force(emb, labels, B, D, margin, dist);
        T loss = std::numeric_limits<T>::quiet_NaN();
        int64_t skipped = -7;
        std::vector<int32_t> pos(size_t(B), 12345), neg(size_t(B), 12345);
        simad::ops::batch_hard_triplet_forward(&loss, pos.data(), neg.data(), &skipped, emb.data(), labels.data(), B, D,
                                               T(margin), dist);
        CHECK(skipped == want.skipped);
        CHECK(std::fabs(double(loss) - want.loss) <= loss_rtol * (1.0 + std::fabs(want.loss)));
        int64_t bad = 0;
        for (int64_t a = 0; a < B; ++a) {
          // Same selection, or (float) one whose true distance ties the reference's within rounding.
          for (int which = 0; which < 2; ++which) {
            const int32_t g = which ? neg[size_t(a)] : pos[size_t(a)], w = which ? want.neg[size_t(a)] : want.pos[size_t(a)];
            if (g == w) continue;
            if (g < 0 || w < 0) { ++bad; continue; }
            bad += std::fabs(want.d[size_t(a * B + g)] - want.d[size_t(a * B + w)]) > loss_rtol * (1.0 + want.d[size_t(a * B + w)]);
          }
        }
        CHECK_MESSAGE(bad == 0, bad, " wrong selections; seed ", t::test_seed());
      }
    }
  }
}

}  // namespace

TEST_CASE("ops/triplet: forward matches the double brute force") {
  forward_case<double>(1e-12);
  forward_case<float>(1e-4);
}

TEST_CASE("ops/triplet: ties go to the smaller index and lonely anchors are skipped") {
  // Integer embeddings: exact distances, many ties (duplicates of rows too).
  auto rng = t::test_rng();
  const int64_t B = 40, D = 3;
  std::vector<float> emb(size_t(B * D));
  for (auto& x : emb) x = float(int(rng.next_below(3)) - 1);
  std::vector<int32_t> labels = random_labels(rng, B, 4);
  labels[7] = 1000;  // a label of its own: no positive
  const Ref want = brute_force(emb, labels, B, D, 1.0, TripletDistance::Squared);
  float loss;
  int64_t skipped;
  std::vector<int32_t> pos(static_cast<size_t>(B)), neg(static_cast<size_t>(B));
  simad::ops::batch_hard_triplet_forward(&loss, pos.data(), neg.data(), &skipped, emb.data(), labels.data(), B, D,
                                         1.0f, TripletDistance::Squared);
  CHECK(pos == want.pos);
  CHECK(neg == want.neg);
  CHECK(pos[7] == -1);
  CHECK(skipped == want.skipped);
  CHECK(skipped >= 1);
  CHECK(double(loss) == doctest::Approx(want.loss).epsilon(1e-6));
  // One label for everyone: no negatives, every anchor skipped, loss 0, gradient untouched.
  std::vector<int32_t> same(size_t(B), 5);
  simad::ops::batch_hard_triplet_forward(&loss, pos.data(), neg.data(), &skipped, emb.data(), same.data(), B, D, 1.0f);
  CHECK(skipped == B);
  CHECK(loss == 0.0f);
  std::vector<float> g(size_t(B * D), 0.25f);
  simad::ops::batch_hard_triplet_backward(g.data(), 1.0f, emb.data(), pos.data(), neg.data(), B, D, 1.0f);
  CHECK(std::all_of(g.begin(), g.end(), [](float x) { return x == 0.25f; }));
}

TEST_CASE("ops/triplet: backward matches finite differences and accumulates") {
  auto rng = t::test_rng();
  for (const TripletDistance dist : {TripletDistance::Squared, TripletDistance::Euclidean}) {
    for (const int64_t B : {4, 9, 16}) {
      const int64_t D = 5;
      CAPTURE(B);
      auto emb = t::random_vector<double>(rng, size_t(B * D));
      const auto labels = random_labels(rng, B, 3);
      // A margin that keeps every hinge away from its kink (finite differences straddle it otherwise).
      double margin = 0.5;
      for (int tries = 0; tries < 50; ++tries) {
        const Ref r = brute_force(emb, labels, B, D, margin, dist);
        bool near_kink = false;
        for (int64_t a = 0; a < B; ++a)
          if (r.pos[size_t(a)] >= 0 && r.neg[size_t(a)] >= 0)
            near_kink |= std::fabs(r.d[size_t(a * B + r.pos[size_t(a)])] - r.d[size_t(a * B + r.neg[size_t(a)])] + margin) < 1e-3;
        if (!near_kink) break;
        margin += 0.0137;
      }
      const double dloss = 1.7;
      auto loss_of = [&] {
        double l;
        int64_t s;
        std::vector<int32_t> p(static_cast<size_t>(B)), n(static_cast<size_t>(B));
        simad::ops::batch_hard_triplet_forward(&l, p.data(), n.data(), &s, emb.data(), labels.data(), B, D, margin, dist);
        return dloss * l;
      };
      const auto numeric = t::numeric_gradient(std::span<double>(emb), loss_of, 1e-6);
      double l;
      int64_t s;
      std::vector<int32_t> p(static_cast<size_t>(B)), n(static_cast<size_t>(B));
      simad::ops::batch_hard_triplet_forward(&l, p.data(), n.data(), &s, emb.data(), labels.data(), B, D, margin, dist);
      const auto start = t::random_vector<double>(rng, size_t(B * D));
      std::vector<double> g = start;
      simad::ops::batch_hard_triplet_backward(g.data(), dloss, emb.data(), p.data(), n.data(), B, D, margin, dist);
      std::vector<double> analytic(g.size());
      for (size_t i = 0; i < g.size(); ++i) analytic[i] = g[i] - start[i];
      SIMAD_CHECK_GRADIENT(analytic, numeric, "batch-hard triplet");
      std::vector<double> want = start;
      simad::ops::reference::batch_hard_triplet_backward(want.data(), dloss, emb.data(), p.data(), n.data(), B, D,
                                                         margin, dist);
      t::check_close(g, want, 1e-14, 1e-12, "batch-hard triplet vs the reference tier");
    }
  }
}

TEST_CASE("ops/triplet: bad arguments throw") {
  float loss;
  int64_t skipped;
  int32_t p, n, label = 0;
  float e = 0;
  CHECK_THROWS_AS(simad::ops::batch_hard_triplet_forward(&loss, &p, &n, &skipped, &e, &label, -1, 1, 1.0f),
                  simad::Error);
  CHECK_THROWS_AS(simad::ops::batch_hard_triplet_forward(&loss, &p, &n, &skipped, &e, &label, 1, 0, 1.0f),
                  simad::Error);
  CHECK_THROWS_AS(simad::ops::batch_hard_triplet_forward(&loss, &p, &n, &skipped, static_cast<const float*>(nullptr), &label, 1, 1, 1.0f),
                  simad::Error);
  p = 5, n = 0;
  float g = 0;
  CHECK_THROWS_AS(simad::ops::batch_hard_triplet_backward(&g, 1.0f, &e, &p, &n, 1, 1, 1.0f), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
