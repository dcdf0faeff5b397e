// tests/cuda/kernels/test_l2norm.cpp: kernels/l2norm.cu and the Tensor dispatch of
// simad/ops/dispatch/l2norm.hpp against the CPU op of simad/ops/l2norm.hpp (itself tested against
// double references and finite differences in tests/ops/test_l2norm.cpp), under the emulator. Rows
// include a zero row and a tiny one (the clamped regime) and more columns than a block; outputs
// poisoned, the backward accumulates onto random values. Tolerance: cuda_compare.hpp's.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/l2norm.hpp"
#include "simad/ops/dispatch/l2norm.hpp"
#include "cuda_compare.hpp"

namespace {
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;
namespace st = simad::testing;
}  // namespace

TEST_CASE("cuda/l2norm: forward, norms and backward equal the CPU op, clamped rows included") {
  simad::Rng rng = st::test_rng(111);
  for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 1}, {5, 7}, {9, 300}}) {
    CAPTURE(N);
    CAPTURE(C);
    Tensor<float> x = st::random_tensor<float>(rng, {N, C});
    if (N > 2) {
      for (int64_t c = 0; c < C; ++c) x(0, c) = 0.0f, x(1, c) = c == 0 ? 1e-14f : 0.0f;
    }
    const Tensor<float> y = st::poisoned_tensor<float>({N, C}), n = st::poisoned_tensor<float>({N});
    ops::l2norm_forward(y.data(), n.data(), x.data(), N, C);
    const Tensor<float> dy = st::to_gpu(st::poisoned_tensor<float>({N, C})), dn = st::to_gpu(st::poisoned_tensor<float>({N}));
    const Tensor<float> dx_in = st::to_gpu(x);
    ck::l2norm_forward(dy.data(), dn.data(), dx_in.data(), N, C);
    st::compare_gpu(dy, y, "out");
    st::compare_gpu(dn, n, "norm");
    const Tensor<float> g = st::random_tensor<float>(rng, {N, C}), d0 = st::random_tensor<float>(rng, {N, C});
    const Tensor<float> d_cpu = d0.clone(), d_gpu = st::to_gpu(d0);
    ops::l2norm_backward(d_cpu.data(), g.data(), y.data(), n.data(), N, C);
    ck::l2norm_backward(d_gpu.data(), st::to_gpu(g).data(), dy.data(), dn.data(), N, C);
    st::compare_gpu(d_gpu, d_cpu, "dinp", 1e-4, 1e-5);  // the clamped row's gradient is g / 1e-12
    // The dispatch on CUDA tensors.
    const Tensor<float> ty = st::to_gpu(st::poisoned_tensor<float>({N, C})), tn = st::to_gpu(st::poisoned_tensor<float>({N}));
    ops::l2norm_forward(ty, tn, dx_in);
    st::compare_gpu(ty, y, "dispatch out");
    const Tensor<float> td = st::to_gpu(d0);
    ops::l2norm_backward(td, st::to_gpu(g), ty, tn);
    st::compare_gpu(td, d_cpu, "dispatch dinp", 1e-4, 1e-5);
  }
  CHECK_THROWS_AS(ck::l2norm_forward(nullptr, nullptr, nullptr, 2, 3, 0.0f), simad::Error);
}
