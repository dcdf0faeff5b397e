// tests/cuda/kernels/test_fusion_attention.cpp: kernels/fusion_attention.cu under the SIMT emulator
// against the CPU op simad::ops::fusion_attention_{forward,backward} (itself tested against a double
// reference), with and without W_f, on padded batches (one word and one region, no region at all,
// N * K above the 128 threads of a block).
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/fusion_attention.hpp"
#include "simad/ops/fusion_attention.hpp"
#include "device_buffer.hpp"
#include "masks.hpp"
#include "testing.hpp"

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;

struct Shape {
  int64_t B, N, K, D;
};
const Shape kShapes[] = {{1, 1, 1, 1}, {4, 7, 3, 8}, {5, 33, 10, 20}, {2, 9, 20, 5}};

constexpr double kAtol = 2e-6, kRtol = 2e-5;

}  // namespace

TEST_CASE("cuda/fusion_attention: forward matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes)
    for (int with_w = 0; with_w < 2; ++with_w) {
      CAPTURE(s.B);
      CAPTURE(s.N);
      CAPTURE(s.K);
      CAPTURE(s.D);
      CAPTURE(with_w);
      const auto H = t::random_vector<float>(rng, size_t(s.B * s.N * s.D));
      const auto V = t::random_vector<float>(rng, size_t(s.B * s.K * s.D));
      const auto W = t::random_vector<float>(rng, size_t(s.D * s.D), -0.5, 0.5);
      std::vector<uint8_t> hm, vm;
      simad::testing::word_region_masks(rng, s.B, s.N, s.K, hm, vm);
      const size_t nk = size_t(s.B * s.N * s.K);
      std::vector<float> ho(H.size()), vo(V.size()), A(nk), P(nk);
      simad::ops::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), H.data(), V.data(),
                                           with_w ? W.data() : nullptr, hm.data(), vm.data(), s.B, s.N, s.K, s.D);
      Dev<float> dH(H), dV(V), dW(W), ws = Dev<float>::poisoned(H.size());
      Dev<uint8_t> dhm(hm), dvm(vm);
      Dev<float> dho = Dev<float>::poisoned(H.size()), dvo = Dev<float>::poisoned(V.size());
      Dev<float> dA = Dev<float>::poisoned(nk), dP = Dev<float>::poisoned(nk);
      k::fusion_attention_forward(dho.ptr, dvo.ptr, dA.ptr, dP.ptr, dH.ptr, dV.ptr, with_w ? dW.ptr : nullptr, dhm.ptr,
                                  dvm.ptr, s.B, s.N, s.K, s.D, with_w ? ws.ptr : nullptr);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(dho.get(), ho, kAtol, kRtol, "fusion H~");
      t::check_close(dvo.get(), vo, kAtol, kRtol, "fusion V~");
      t::check_close(dA.get(), A, kAtol, kRtol, "fusion A");
      t::check_close(dP.get(), P, kAtol, kRtol, "fusion P");
    }
}

TEST_CASE("cuda/fusion_attention: backward accumulates and matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes)
    for (int with_w = 0; with_w < 2; ++with_w) {
      CAPTURE(s.N);
      CAPTURE(s.K);
      CAPTURE(with_w);
      const auto H = t::random_vector<float>(rng, size_t(s.B * s.N * s.D));
      const auto V = t::random_vector<float>(rng, size_t(s.B * s.K * s.D));
      const auto W = t::random_vector<float>(rng, size_t(s.D * s.D), -0.5, 0.5);
      const auto gh = t::random_vector<float>(rng, H.size()), gv = t::random_vector<float>(rng, V.size());
      std::vector<uint8_t> hm, vm;
      simad::testing::word_region_masks(rng, s.B, s.N, s.K, hm, vm);
      const size_t nk = size_t(s.B * s.N * s.K);
      const float* w = with_w ? W.data() : nullptr;
      std::vector<float> ho(H.size()), vo(V.size()), A(nk), P(nk);
      simad::ops::fusion_attention_forward(ho.data(), vo.data(), A.data(), P.data(), H.data(), V.data(), w, hm.data(),
                                           vm.data(), s.B, s.N, s.K, s.D);
      const auto sH = t::random_vector<float>(rng, H.size()), sV = t::random_vector<float>(rng, V.size()),
                 sW = t::random_vector<float>(rng, W.size());
      std::vector<float> wH = sH, wV = sV, wW = sW;
      simad::ops::fusion_attention_backward(wH.data(), wV.data(), wW.data(), gh.data(), gv.data(), H.data(), V.data(),
                                            w, A.data(), P.data(), s.B, s.N, s.K, s.D);
      Dev<float> dH(sH), dV(sV), dW(sW), dgh(gh), dgv(gv), hH(H), hV(V), hW(W), dA(A), dP(P);
      Dev<float> ws = Dev<float>::poisoned(2 * H.size());
      k::fusion_attention_backward(dH.ptr, dV.ptr, dW.ptr, dgh.ptr, dgv.ptr, hH.ptr, hV.ptr, with_w ? hW.ptr : nullptr,
                                   dA.ptr, dP.ptr, s.B, s.N, s.K, s.D, with_w ? ws.ptr : nullptr);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(dH.get(), wH, 1e-5, 1e-4, "fusion dH");
      t::check_close(dV.get(), wV, 1e-5, 1e-4, "fusion dV");
      t::check_close(dW.get(), wW, 1e-4, 1e-4, "fusion dW_f");
    }
}

TEST_CASE("cuda/fusion_attention: bad sizes throw and empty inputs do nothing") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::fusion_attention_forward(p, p, p, p, p, p, nullptr, nullptr, nullptr, 1, 100, 100, 4, nullptr),
                  simad::Error);  // N * K above the shared-memory limit
  CHECK_THROWS_AS(k::fusion_attention_forward(p, p, p, p, p, p, p, nullptr, nullptr, 1, 4, 4, 4, nullptr),
                  simad::Error);  // W_f without workspace
  CHECK_THROWS_AS(k::fusion_attention_backward(p, p, nullptr, nullptr, p, p, p, nullptr, p, p, 1, 4, 4, 4, nullptr),
                  simad::Error);
  k::fusion_attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 4, 4,
                              4, nullptr);
  CUDA_OK(cudaDeviceSynchronize());
}
