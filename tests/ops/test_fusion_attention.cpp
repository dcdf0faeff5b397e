// Tests of include/simad/ops/fusion_attention.hpp: the dual-softmax co-attention against the reference
// tier (ops/reference/fusion_attention.hpp: explicit score matrix, row and column softmax) with and without W_f,
// on padded batches of ads with different word and region counts (one word, one region, no region),
// long ads (512 words) and feature widths that are no whole number of vectors, finite-difference
// gradients for H, V and W_f in double (also over several micro-kernel tiles), accumulation,
// thread-count independence and bad arguments.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/fusion_attention.hpp"
#include "simad/ops/reference/fusion_attention.hpp"
#include "masks.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

struct Case {
  int64_t B, N, K, D;
};
const Case kCases[] = {{1, 1, 1, 1}, {3, 5, 3, 8}, {5, 17, 10, 16}, {4, 32, 10, 33}, {2, 64, 20, 12}};

// The reference tier's outputs ho (B, N, D) and vo (B, K, D), in double.
template <typename T>
void reference(const std::vector<T>& H, const std::vector<T>& V, const T* Wf, const std::vector<uint8_t>& hm,
               const std::vector<uint8_t>& vm, const Case& c, std::vector<double>& ho, std::vector<double>& vo) {
  const std::vector<double> h(H.begin(), H.end()), v(V.begin(), V.end());
  std::vector<double> w;
  if (Wf) w.assign(Wf, Wf + c.D * c.D);
  std::vector<double> A(size_t(c.B * c.N * c.K)), P(A.size());
  ho.assign(h.size(), 0.0);
  vo.assign(v.size(), 0.0);
  ops::reference::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), h.data(), v.data(),
                                           Wf ? w.data() : nullptr, hm.data(), vm.data(), c.B, c.N, c.K, c.D);
}

template <typename T>
void check_forward(double atol, double rtol, std::span<const Case> cases = kCases, bool masks = true) {
  auto rng = testing::test_rng();
  for (const Case c : cases)
    for (int with_w = 0; with_w < 2; ++with_w) {
      CAPTURE(c.B);
      CAPTURE(c.N);
      CAPTURE(c.K);
      CAPTURE(c.D);
      CAPTURE(with_w);
      const auto H = testing::random_vector<T>(rng, size_t(c.B * c.N * c.D), -1.0, 1.0);
      const auto V = testing::random_vector<T>(rng, size_t(c.B * c.K * c.D), -1.0, 1.0);
      const auto W = testing::random_vector<T>(rng, size_t(c.D * c.D), -0.5, 0.5);
      std::vector<uint8_t> hm(size_t(c.B * c.N), 1), vm(size_t(c.B * c.K), 1);  // all kept without masks
      if (masks) simad::testing::word_region_masks(rng, c.B, c.N, c.K, hm, vm);
      std::vector<T> ho(H.size()), vo(V.size()), A(size_t(c.B * c.N * c.K)), P(A.size());
      for (auto* v : {&ho, &vo, &A, &P}) testing::poison(std::span<T>(*v));
      const T* wf = with_w ? W.data() : nullptr;
      ops::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), H.data(), V.data(), wf,
                                    masks ? hm.data() : nullptr, masks ? vm.data() : nullptr, c.B, c.N, c.K, c.D);
      std::vector<double> ref_h, ref_v;
      reference(H, V, wf, hm, vm, c, ref_h, ref_v);
      testing::check_close(ho, ref_h, atol, rtol, "fusion text side H~");
      testing::check_close(vo, ref_v, atol, rtol, "fusion image side V~");
      for (const T a : A) CHECK(!std::isnan(a));
      for (const T p : P) CHECK(!std::isnan(p));
    }
}

}  // namespace

TEST_CASE("ops/fusion_attention: float forward matches the double reference") { check_forward<float>(2e-6, 2e-5); }

TEST_CASE("ops/fusion_attention: double forward matches the double reference") { check_forward<double>(1e-12, 1e-12); }

// 512 words (many row tiles, column softmax over a long column), more regions than one vector
// holds, and widths with a tail of single elements after the whole vectors; with and without masks.
TEST_CASE("ops/fusion_attention: long ads, odd widths and no masks match the double reference") {
  const Case cases[] = {{2, 512, 10, 45}, {3, 70, 12, 19}, {4, 33, 17, 8}};
  for (const bool masks : {true, false}) {
    CAPTURE(masks);
    check_forward<float>(2e-6, 2e-5, cases, masks);
    check_forward<double>(1e-12, 1e-12, cases, masks);
  }
}

TEST_CASE("ops/fusion_attention: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  // The last two: several row tiles, more regions than one vector, widths with a single-element tail.
  for (const Case c : {Case{1, 1, 1, 3}, Case{4, 5, 3, 4}, Case{5, 7, 4, 6}, Case{4, 13, 11, 9}, Case{4, 21, 5, 17}})
    for (int with_w = 0; with_w < 2; ++with_w) {
      CAPTURE(c.N);
      CAPTURE(with_w);
      auto H = testing::random_vector<double>(rng, size_t(c.B * c.N * c.D), -1.0, 1.0);
      auto V = testing::random_vector<double>(rng, size_t(c.B * c.K * c.D), -1.0, 1.0);
      auto W = testing::random_vector<double>(rng, size_t(c.D * c.D), -0.7, 0.7);
      const auto Wh = testing::random_vector<double>(rng, H.size());
      const auto Wv = testing::random_vector<double>(rng, V.size());
      std::vector<uint8_t> hm, vm;
      simad::testing::word_region_masks(rng, c.B, c.N, c.K, hm, vm);
      const double* wf = with_w ? W.data() : nullptr;
      std::vector<double> ho(H.size()), vo(V.size()), A(size_t(c.B * c.N * c.K)), P(A.size());
      auto loss = [&] {
        ops::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), H.data(), V.data(),
                                      with_w ? W.data() : nullptr, hm.data(), vm.data(), c.B, c.N, c.K, c.D);
        double L = 0;
        for (size_t i = 0; i < ho.size(); ++i) L += ho[i] * Wh[i];
        for (size_t i = 0; i < vo.size(); ++i) L += vo[i] * Wv[i];
        return L;
      };
      loss();
      const auto sH = testing::random_vector<double>(rng, H.size()), sV = testing::random_vector<double>(rng, V.size()),
                 sW = testing::random_vector<double>(rng, W.size());
      std::vector<double> dH = sH, dV = sV, dW = sW;
      ops::fusion_attention_backward(dH.data(), dV.data(), dW.data(), Wh.data(), Wv.data(), H.data(), V.data(), wf,
                                     A.data(), P.data(), c.B, c.N, c.K, c.D);
      for (size_t i = 0; i < dH.size(); ++i) dH[i] -= sH[i];
      for (size_t i = 0; i < dV.size(); ++i) dV[i] -= sV[i];
      for (size_t i = 0; i < dW.size(); ++i) dW[i] -= sW[i];
      SIMAD_CHECK_GRADIENT(dH, testing::numeric_gradient(std::span<double>(H), loss), "fusion dH");
      SIMAD_CHECK_GRADIENT(dV, testing::numeric_gradient(std::span<double>(V), loss), "fusion dV");
      if (with_w) {
        SIMAD_CHECK_GRADIENT(dW, testing::numeric_gradient(std::span<double>(W), loss), "fusion dW_f");
      } else {  // no W_f: dW_f is left alone
        bool untouched = true;
        for (double x : dW) untouched = untouched && x == 0.0;
        CHECK(untouched);
      }
    }
}

TEST_CASE("ops/fusion_attention: float backward matches the double backward and skips null gradients") {
  auto rng = testing::test_rng();
  const Case c{6, 30, 10, 24};
  const auto H = testing::random_vector<double>(rng, size_t(c.B * c.N * c.D), -1.0, 1.0);
  const auto V = testing::random_vector<double>(rng, size_t(c.B * c.K * c.D), -1.0, 1.0);
  const auto W = testing::random_vector<double>(rng, size_t(c.D * c.D), -0.3, 0.3);
  const auto gh = testing::random_vector<double>(rng, H.size()), gv = testing::random_vector<double>(rng, V.size());
  std::vector<uint8_t> hm, vm;
  simad::testing::word_region_masks(rng, c.B, c.N, c.K, hm, vm);
  auto run = [&](auto zero, std::vector<double>& dH, std::vector<double>& dV, std::vector<double>& dW, int which) {
    using T = decltype(zero);
    const std::vector<T> h(H.begin(), H.end()), v(V.begin(), V.end()), w(W.begin(), W.end());
    const std::vector<T> dho(gh.begin(), gh.end()), dvo(gv.begin(), gv.end());
    std::vector<T> ho(H.size()), vo(V.size()), A(size_t(c.B * c.N * c.K)), P(A.size());
    std::vector<T> a(H.size(), T(0)), bb(V.size(), T(0)), cc(W.size(), T(0));
    ops::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), h.data(), v.data(), w.data(), hm.data(),
                                  vm.data(), c.B, c.N, c.K, c.D);
    ops::fusion_attention_backward(which & 1 ? a.data() : nullptr, which & 2 ? bb.data() : nullptr,
                                   which & 4 ? cc.data() : nullptr, dho.data(), dvo.data(), h.data(), v.data(),
                                   w.data(), A.data(), P.data(), c.B, c.N, c.K, c.D);
    dH.assign(a.begin(), a.end());
    dV.assign(bb.begin(), bb.end());
    dW.assign(cc.begin(), cc.end());
  };
  std::vector<double> dH, dV, dW, fH, fV, fW;
  run(0.0, dH, dV, dW, 7);
  run(0.0f, fH, fV, fW, 7);
  testing::check_close(fH, dH, 1e-5, 1e-4, "float dH");
  testing::check_close(fV, dV, 1e-5, 1e-4, "float dV");
  testing::check_close(fW, dW, 1e-4, 1e-4, "float dW_f");
  for (int which : {1, 2, 4}) {  // one gradient at a time gives the same values
    std::vector<double> oH, oV, oW;
    run(0.0, oH, oV, oW, which);
    if (which == 1) testing::check_close(oH, dH, 1e-13, 1e-12, "dH alone");
    if (which == 2) testing::check_close(oV, dV, 1e-13, 1e-12, "dV alone");
    if (which == 4) testing::check_close(oW, dW, 1e-13, 1e-12, "dW_f alone");
  }
}

TEST_CASE("ops/fusion_attention: results do not depend on the thread count") {
  auto rng = testing::test_rng();
  for (const Case c : {Case{9, 20, 7, 16}, Case{9, 70, 12, 40}})
    for (int with_w = 0; with_w < 2; ++with_w) {
      CAPTURE(c.N);
      CAPTURE(with_w);
      const auto H = testing::random_vector<float>(rng, size_t(c.B * c.N * c.D));
      const auto V = testing::random_vector<float>(rng, size_t(c.B * c.K * c.D));
      const auto W = testing::random_vector<float>(rng, size_t(c.D * c.D), -0.3, 0.3);
      const auto gh = testing::random_vector<float>(rng, H.size()), gv = testing::random_vector<float>(rng, V.size());
      const float* wf = with_w ? W.data() : nullptr;
      std::vector<uint8_t> hm, vm;
      simad::testing::word_region_masks(rng, c.B, c.N, c.K, hm, vm);
      std::vector<float> out[2], grad[2];
      const int saved = num_threads();
      for (int run = 0; run < 2; ++run) {
        set_num_threads(run + 1);
        std::vector<float> ho(H.size()), vo(V.size()), A(size_t(c.B * c.N * c.K)), P(A.size());
        std::vector<float> dH(H.size(), 0.25f), dV(V.size(), 0.5f), dW(W.size(), 0.125f);
        ops::fusion_attention_forward<float>(ho.data(), vo.data(), A.data(), P.data(), H.data(), V.data(), wf,
                                             hm.data(), vm.data(), c.B, c.N, c.K, c.D);
        ops::fusion_attention_backward<float>(dH.data(), dV.data(), dW.data(), gh.data(), gv.data(), H.data(),
                                              V.data(), wf, A.data(), P.data(), c.B, c.N, c.K, c.D);
        out[run] = ho;
        out[run].insert(out[run].end(), vo.begin(), vo.end());
        grad[run] = dH;
        grad[run].insert(grad[run].end(), dV.begin(), dV.end());
        grad[run].insert(grad[run].end(), dW.begin(), dW.end());
      }
      set_num_threads(saved);
      CHECK(out[0] == out[1]);
      CHECK(grad[0] == grad[1]);
    }
}

TEST_CASE("ops/fusion_attention: bad arguments throw") {
  std::vector<float> x(64);
  float* p = x.data();
  CHECK_THROWS_AS(ops::fusion_attention_forward(p, p, p, p, p, p, p, nullptr, nullptr, 1, -2, 2, 2), Error);
  CHECK_THROWS_AS(ops::fusion_attention_forward<float>(nullptr, p, p, p, p, p, p, nullptr, nullptr, 1, 2, 2, 2), Error);
  CHECK_THROWS_AS(ops::fusion_attention_backward<float>(p, p, p, nullptr, p, p, p, p, p, p, 1, 2, 2, 2), Error);
  ops::fusion_attention_forward<float>(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                       0, 2, 2, 2);
}

}  // namespace SIMAD_TEST_FILE_ID
