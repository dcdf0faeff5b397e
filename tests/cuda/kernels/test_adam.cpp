// tests/cuda/kernels/test_adam.cpp: kernels/adam.cu (include/simad/cuda/kernels/adam.hpp) against the
// CPU update simad::train::adam_update (simad/train/optimizer.hpp, tested against PyTorch's formulas),
// over several steps, for Adam (L2) and AdamW (decoupled), with and without weight decay, and through
// the Tensor dispatch of simad/ops/dispatch/adam.hpp. Tolerance: 1e-6 absolute + 1e-5 relative on
// params, m and v after 3 steps (the same float expressions; a GPU may contract to FMA).
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/adam.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/adam.hpp"
#include "simad/train/optimizer.hpp"
#include "testing.hpp"

namespace {

using simad::Device;
using simad::Tensor;
using simad::train::AdamOptions;
using simad::train::WeightDecay;
namespace ck = simad::cuda::kernels;

constexpr double kAtol = 1e-6, kRtol = 1e-5;

Tensor<float> upload(const std::vector<float>& h) {
  return simad::cuda::to_device(Tensor<float>::from({int64_t(h.size())}, std::span<const float>(h)));
}
std::vector<float> download(const Tensor<float>& d) {
  SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
  SIMAD_CUDA_CHECK(cudaGetLastError());
  const Tensor<float> h = simad::cuda::to_host(d);
  return std::vector<float>(h.data(), h.data() + h.numel());
}

}  // namespace

TEST_CASE("cuda/adam: Adam and AdamW steps match train::adam_update") {
  auto rng = simad::testing::test_rng();
  struct Variant {
    WeightDecay mode;
    double weight_decay;
  };
  for (const Variant var : {Variant{WeightDecay::l2, 0.0}, Variant{WeightDecay::l2, 0.01},
                            Variant{WeightDecay::decoupled, 0.1}, Variant{WeightDecay::decoupled, 0.0}})
    for (const int64_t n : {int64_t(1), int64_t(31), int64_t(1000), int64_t(2049)}) {
      const AdamOptions o{.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = var.weight_decay};
      auto p = simad::testing::random_vector<float>(rng, size_t(n));
      auto m = simad::testing::random_vector<float>(rng, size_t(n), -0.1, 0.1);
      auto v = simad::testing::random_vector<float>(rng, size_t(n), 0.0, 0.01);
      const Tensor<float> dp = upload(p), dm = upload(m), dv = upload(v);
      for (int64_t t = 1; t <= 3; ++t) {
        const auto g = simad::testing::random_vector<float>(rng, size_t(n));
        simad::train::adam_update(p.data(), g.data(), m.data(), v.data(), n, t, o, var.mode);
        const Tensor<float> dg = upload(g);
        ck::adam_update(dp.data(), dg.data(), dm.data(), dv.data(), n, t, o.lr, o.beta1, o.beta2, o.eps,
                        o.weight_decay, var.mode == WeightDecay::decoupled);
      }
      const std::string what = simad::detail::concat(var.mode == WeightDecay::l2 ? "Adam" : "AdamW",
                                                     " weight_decay=", var.weight_decay, " n=", n);
      simad::testing::check_close(download(dp), p, kAtol, kRtol, what + " params");
      simad::testing::check_close(download(dm), m, kAtol, kRtol, what + " m");
      simad::testing::check_close(download(dv), v, kAtol, kRtol, what + " v");
    }
}

TEST_CASE("cuda/adam: Tensor dispatch runs the update on CUDA tensors") {
  auto rng = simad::testing::test_rng();
  const AdamOptions o{.lr = 1e-2, .weight_decay = 0.05};
  const Tensor<float> p = simad::testing::random_tensor<float>(rng, {7, 13});
  const Tensor<float> g = simad::testing::random_tensor<float>(rng, {7, 13});
  const Tensor<float> m = Tensor<float>::zeros({7, 13}), v = Tensor<float>::zeros({7, 13});
  const Tensor<float> dp = simad::cuda::to_device(p), dg = simad::cuda::to_device(g), dm = simad::cuda::to_device(m),
                      dv = simad::cuda::to_device(v);
  for (int64_t t = 1; t <= 2; ++t) {
    simad::train::adam_update(p, g, m, v, t, o, WeightDecay::decoupled);
    simad::train::adam_update(dp, dg, dm, dv, t, o, WeightDecay::decoupled);
  }
  simad::testing::check_close(simad::cuda::to_host(dp), std::span<const float>(p.data(), size_t(p.numel())), kAtol,
                              kRtol, "dispatched AdamW params");
  simad::testing::check_close(simad::cuda::to_host(dv), std::span<const float>(v.data(), size_t(v.numel())), kAtol,
                              kRtol, "dispatched AdamW v");
  CHECK_THROWS_WITH_AS(simad::train::adam_update(dp, g, dm, dv, 3, o, WeightDecay::l2),
                       doctest::Contains("different devices"), simad::Error);
}

TEST_CASE("cuda/adam: invalid options and arguments throw simad::Error") {
  const Tensor<float> d = upload(std::vector<float>(4, 1.0f));
  float* x = d.data();
  CHECK_THROWS_AS(ck::adam_update(x, x, x, x, 4, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, false), simad::Error);   // t 0
  CHECK_THROWS_AS(ck::adam_update(x, x, x, x, 4, 1, -1e-3, 0.9, 0.999, 1e-8, 0.0, false), simad::Error);  // lr
  CHECK_THROWS_AS(ck::adam_update(x, x, x, x, 4, 1, 1e-3, 1.0, 0.999, 1e-8, 0.0, false), simad::Error);   // beta1
  CHECK_THROWS_AS(ck::adam_update(x, x, x, x, 4, 1, 1e-3, 0.9, 0.999, 1e-8, -0.1, true), simad::Error);   // wd
  CHECK_THROWS_AS(ck::adam_update(x, nullptr, x, x, 4, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, true), simad::Error);
  CHECK_THROWS_AS(ck::adam_update(x, x, x, x, -1, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, true), simad::Error);
  CHECK_NOTHROW(ck::adam_update(nullptr, nullptr, nullptr, nullptr, 0, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, true));
}
