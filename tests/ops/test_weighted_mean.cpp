// tests/ops/test_weighted_mean.cpp: the small set ops ION is built from, against the reference tier
// (ops/reference/) in double:
//   weighted_mean (ops/weighted_mean.hpp): forward and backward against the tier; both gradients (dx
//     and the weights' dw, in the regimes sum w > 1 and <= 1) against central finite differences of a
//     random linear loss, in double, relative error < 1e-7; the mask special case equals a plain
//     masked mean; accumulation onto random values.
//   broadcast_add (ops/broadcast_add.hpp): forward and backward against the tier.
//   keyword_gate (ops/keyword_gate.hpp): hard and soft weights and the soft backward against the tier,
//     and the soft backward against finite differences through a 2-way softmax.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "simad/ops/broadcast_add.hpp"
#include "simad/ops/keyword_gate.hpp"
#include "simad/ops/reference/broadcast_add.hpp"
#include "simad/ops/reference/keyword_gate.hpp"
#include "simad/ops/reference/weighted_mean.hpp"
#include "simad/ops/weighted_mean.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Rng;
namespace ops = simad::ops;
using simad::testing::random_vector;

}  // namespace

TEST_CASE("weighted_mean: forward is sum w x / max(1, sum w), and the mask case is the masked mean") {
  Rng rng = simad::testing::test_rng(101);
  const int64_t B = 4, S = 5, C = 3;
  std::vector<double> x = random_vector<double>(rng, size_t(B * S * C));
  std::vector<double> w = random_vector<double>(rng, size_t(B * S), 0.0, 0.6);
  for (int64_t s = 0; s < S; ++s) w[size_t(2 * S + s)] = s == 1 ? 1.0 : 0.0;  // set 2: one member (L = 1)
  for (int64_t s = 0; s < S; ++s) w[size_t(3 * S + s)] = 0.0;                 // set 3: no member
  std::vector<double> out(size_t(B * C), std::nan("")), den(size_t(B), std::nan(""));
  ops::weighted_mean_forward(out.data(), den.data(), x.data(), w.data(), B, S, C);
  std::vector<double> want(out.size()), want_den(den.size());
  ops::reference::weighted_mean_forward(want.data(), want_den.data(), x.data(), w.data(), B, S, C);
  for (int64_t b = 0; b < B; ++b) {
    CHECK(den[size_t(b)] == doctest::Approx(want_den[size_t(b)]).epsilon(1e-14));
    for (int64_t c = 0; c < C; ++c)
      CHECK(out[size_t(b * C + c)] == doctest::Approx(want[size_t(b * C + c)]).epsilon(1e-13));
  }
  CHECK(out[size_t(3 * C)] == 0.0);
  // The mask case: a plain mean over the real members.
  std::vector<float> xf = random_vector<float>(rng, size_t(B * S * C)), wf(static_cast<size_t>(B * S));
  for (int64_t i = 0; i < B * S; ++i) wf[size_t(i)] = float(rng.next_below(3) != 0);
  std::vector<float> of(static_cast<size_t>(B * C)), df(static_cast<size_t>(B));
  ops::weighted_mean_forward(of.data(), df.data(), xf.data(), wf.data(), B, S, C);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0, n = 0;
      for (int64_t s = 0; s < S; ++s)
        if (wf[size_t(b * S + s)] != 0) sum += xf[size_t((b * S + s) * C + c)], n += 1;
      CHECK(of[size_t(b * C + c)] == doctest::Approx(n ? sum / n : 0.0).epsilon(1e-6));
    }
}

TEST_CASE("weighted_mean: dx and dw match central finite differences in double, and accumulate") {
  Rng rng = simad::testing::test_rng(102);
  const int64_t B = 3, S = 4, C = 5;
  std::vector<double> x = random_vector<double>(rng, size_t(B * S * C));
  std::vector<double> w = random_vector<double>(rng, size_t(B * S), 0.05, 0.9);
  for (int64_t s = 0; s < S; ++s) w[size_t(S + s)] = 0.1 + 0.05 * double(s);  // set 1: sum w = 0.7 < 1
  const std::vector<double> r = random_vector<double>(rng, size_t(B * C));    // loss = r . out
  const auto loss = [&]() {
    std::vector<double> out(static_cast<size_t>(B * C)), den(static_cast<size_t>(B));
    ops::weighted_mean_forward(out.data(), den.data(), x.data(), w.data(), B, S, C);
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += r[i] * out[i];
    return l;
  };
  std::vector<double> out(static_cast<size_t>(B * C)), den(static_cast<size_t>(B));
  ops::weighted_mean_forward(out.data(), den.data(), x.data(), w.data(), B, S, C);
  const std::vector<double> dx0 = random_vector<double>(rng, x.size()), dw0 = random_vector<double>(rng, w.size());
  std::vector<double> dx = dx0, dw = dw0;
  ops::weighted_mean_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), out.data(), den.data(), B, S, C);
  std::vector<double> rdx = dx0, rdw = dw0;
  ops::reference::weighted_mean_backward(rdx.data(), rdw.data(), r.data(), x.data(), w.data(), out.data(), den.data(),
                                         B, S, C);
  simad::testing::check_close(dx, rdx, 1e-14, 1e-13, "weighted_mean dx vs the reference tier");
  simad::testing::check_close(dw, rdw, 1e-14, 1e-13, "weighted_mean dw vs the reference tier");
  for (size_t i = 0; i < dx.size(); ++i) dx[i] -= dx0[i];
  for (size_t i = 0; i < dw.size(); ++i) dw[i] -= dw0[i];
  const std::vector<double> nx = simad::testing::numeric_gradient(std::span<double>(x), loss);
  const std::vector<double> nw = simad::testing::numeric_gradient(std::span<double>(w), loss);
  CHECK(simad::testing::gradient_relative_error(dx, nx) < 1e-7);
  CHECK(simad::testing::gradient_relative_error(dw, nw) < 1e-7);
}

TEST_CASE("broadcast_add: every member gets its set's vector, and dv sums the members") {
  Rng rng = simad::testing::test_rng(103);
  const int64_t B = 3, S = 4, C = 2;
  const std::vector<float> a = random_vector<float>(rng, size_t(B * S * C)), v = random_vector<float>(rng, size_t(B * C));
  std::vector<float> out(a.size(), std::nanf(""));
  ops::broadcast_add_forward(out.data(), a.data(), v.data(), B, S, C);
  std::vector<float> want(a.size());
  ops::reference::broadcast_add_forward(want.data(), a.data(), v.data(), B, S, C);
  for (size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == want[i]);
  const std::vector<float> g = random_vector<float>(rng, a.size());
  std::vector<float> da = random_vector<float>(rng, a.size()), dv = random_vector<float>(rng, v.size());
  const std::vector<float> da0 = da, dv0 = dv;
  ops::broadcast_add_backward(da.data(), dv.data(), g.data(), B, S, C);
  std::vector<float> want_da = da0, want_dv = dv0;
  ops::reference::broadcast_add_backward(want_da.data(), want_dv.data(), g.data(), B, S, C);
  for (size_t i = 0; i < da.size(); ++i) REQUIRE(da[i] == want_da[i]);
  for (size_t i = 0; i < dv.size(); ++i) CHECK(dv[i] == doctest::Approx(want_dv[i]).epsilon(1e-6));
}

TEST_CASE("keyword_gate: hard and soft weights at real words, and the soft backward matches finite differences") {
  Rng rng = simad::testing::test_rng(104);
  const int64_t N = 9;
  std::vector<double> logits = random_vector<double>(rng, size_t(2 * N), -2.0, 2.0);
  std::vector<uint8_t> mask(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) mask[size_t(i)] = uint8_t(i % 4 != 3);
  const auto probs_of = [&](const std::vector<double>& z) {
    std::vector<double> p(z.size());
    for (int64_t i = 0; i < N; ++i) {
      const double m = std::max(z[size_t(2 * i)], z[size_t(2 * i + 1)]);
      const double e0 = std::exp(z[size_t(2 * i)] - m), e1 = std::exp(z[size_t(2 * i + 1)] - m);
      p[size_t(2 * i)] = e0 / (e0 + e1), p[size_t(2 * i + 1)] = e1 / (e0 + e1);
    }
    return p;
  };
  const std::vector<double> p = probs_of(logits);
  std::vector<double> hard(size_t(N), -7), soft(size_t(N), -7);
  ops::keyword_gate_forward(hard.data(), p.data(), mask.data(), N, true);
  ops::keyword_gate_forward(soft.data(), p.data(), mask.data(), N, false);
  std::vector<double> want_hard(static_cast<size_t>(N)), want_soft(static_cast<size_t>(N));
  ops::reference::keyword_gate_forward(want_hard.data(), p.data(), mask.data(), N, true);
  ops::reference::keyword_gate_forward(want_soft.data(), p.data(), mask.data(), N, false);
  CHECK(hard == want_hard);
  CHECK(soft == want_soft);
  const std::vector<double> r = random_vector<double>(rng, size_t(N));  // loss = r . lambda(soft)
  const auto loss = [&]() {
    const std::vector<double> q = probs_of(logits);
    std::vector<double> l(static_cast<size_t>(N));
    ops::keyword_gate_forward(l.data(), q.data(), mask.data(), N, false);
    double s = 0;
    for (int64_t i = 0; i < N; ++i) s += r[size_t(i)] * l[size_t(i)];
    return s;
  };
  std::vector<double> dlogits(size_t(2 * N), 0.0);
  ops::keyword_gate_backward(dlogits.data(), r.data(), p.data(), mask.data(), N);
  std::vector<double> want_dlogits(size_t(2 * N), 0.0);
  ops::reference::keyword_gate_backward(want_dlogits.data(), r.data(), p.data(), mask.data(), N);
  simad::testing::check_close(dlogits, want_dlogits, 1e-15, 1e-14, "keyword_gate dlogits vs the reference tier");
  const std::vector<double> num = simad::testing::numeric_gradient(std::span<double>(logits), loss);
  CHECK(simad::testing::gradient_relative_error(dlogits, num) < 1e-7);
}

}  // namespace SIMAD_TEST_FILE_ID
