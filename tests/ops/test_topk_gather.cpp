// ops/topk_gather: selection against the reference tier (ties to the smaller index, masks, sets
// with fewer members than k), the scaled gather and its backward against the tier, the backward
// against finite differences in double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/ops/reference/topk_gather.hpp"
#include "simad/ops/topk_gather.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

TEST_CASE("ops/topk_gather: selection equals the reference tier, with masks and short sets") {
  Rng r(21);
  for (int64_t S : {1, 5, 17}) {
    const int64_t B = 9, k = 4;
    std::vector<float> scores(size_t(B * S));
    std::vector<uint8_t> mask(size_t(B * S));
    for (size_t i = 0; i < scores.size(); ++i) {
      scores[i] = float(r.next_below(6)) * 0.5f;  // few distinct values: ties are frequent
      mask[i] = r.next_uniform() < 0.7 ? 1 : 0;
    }
    std::vector<int32_t> idx(size_t(B * k), 777);
    ops::topk_select(idx.data(), scores.data(), mask.data(), B, S, k);
    std::vector<int32_t> want(size_t(B * k), 555);
    ops::reference::topk_select(want.data(), scores.data(), mask.data(), B, S, k);
    CHECK(idx == want);
  }
}

TEST_CASE("ops/topk_gather: forward and backward equal the reference tier, backward matches finite differences") {
  Rng r(22);
  const int64_t B = 3, S = 6, k = 4, C = 5;
  std::vector<double> x(size_t(B * S * C)), w(size_t(B * k)), g(size_t(B * k * C)), scores(size_t(B * S));
  for (auto* v : {&x, &w, &g, &scores})
    for (double& e : *v) e = r.next_normal();
  std::vector<uint8_t> mask(size_t(B * S), 1);
  mask[size_t(1 * S + 2)] = mask[size_t(1 * S + 4)] = mask[size_t(1 * S + 5)] = 0;  // set 1: 3 members < k
  std::vector<int32_t> idx(size_t(B * k));
  ops::topk_select(idx.data(), scores.data(), mask.data(), B, S, k);
  CHECK(idx[size_t(1 * k + 3)] == -1);
  std::vector<double> y(size_t(B * k * C), std::nan(""));
  ops::topk_gather_forward(y.data(), x.data(), w.data(), idx.data(), B, S, k, C);
  std::vector<double> want_y(y.size(), std::nan(""));
  ops::reference::topk_gather_forward(want_y.data(), x.data(), w.data(), idx.data(), B, S, k, C);
  CHECK(y == want_y);
  // loss = sum g . y
  auto loss = [&] {
    std::vector<double> out(size_t(B * k * C));
    ops::topk_gather_forward(out.data(), x.data(), w.data(), idx.data(), B, S, k, C);
    return std::inner_product(out.begin(), out.end(), g.begin(), 0.0);
  };
  std::vector<double> dx(x.size(), 0.5), dw(w.size(), -0.25);  // accumulation: start from nonzero
  ops::topk_gather_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), idx.data(), B, S, k, C);
  std::vector<double> want_dx(x.size(), 0.5), want_dw(w.size(), -0.25);
  ops::reference::topk_gather_backward(want_dx.data(), want_dw.data(), g.data(), x.data(), w.data(), idx.data(), B,
                                       S, k, C);
  for (size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == doctest::Approx(want_dx[i]).epsilon(1e-14));
  for (size_t i = 0; i < dw.size(); ++i) CHECK(dw[i] == doctest::Approx(want_dw[i]).epsilon(1e-14));
  const double eps = 1e-6;
  for (auto [v, dv, base] : {std::tuple{&x, &dx, 0.5}, std::tuple{&w, &dw, -0.25}})
    for (size_t i = 0; i < v->size(); ++i) {
      const double saved = (*v)[i];
      (*v)[i] = saved + eps;
      const double up = loss();
      (*v)[i] = saved - eps;
      const double down = loss();
      (*v)[i] = saved;
      CHECK((*dv)[i] - base == doctest::Approx((up - down) / (2 * eps)).epsilon(1e-7));
    }
}

}  // namespace SIMAD_TEST_FILE_ID
