// tests/cuda/kernels/test_weighted_mean.cpp: kernels/weighted_mean.cu and the Tensor dispatch against
// the CPU op of simad/ops/weighted_mean.hpp (tested against the formula and finite differences in
// tests/ops/test_weighted_mean.cpp), under the emulator: sets with sum w < 1, > 1, and none; C above a
// block. Outputs poisoned; the backward accumulates onto random values.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/weighted_mean.hpp"
#include "simad/ops/dispatch/weighted_mean.hpp"
#include "cuda_compare.hpp"

namespace {
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;
namespace st = simad::testing;
}  // namespace

TEST_CASE("cuda/weighted_mean: forward, den, dx and dw equal the CPU op") {
  simad::Rng rng = st::test_rng(131);
  for (auto [B, S, C] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {4, 5, 3}, {3, 7, 300}}) {
    CAPTURE(B);
    CAPTURE(C);
    const Tensor<float> x = st::random_tensor<float>(rng, {B, S, C});
    Tensor<float> w = st::random_tensor<float>(rng, {B, S}, 0.0, 0.8);
    if (B > 1) for (int64_t s = 0; s < S; ++s) w(1, s) = 0.0f;  // a set without members
    const Tensor<float> out = st::poisoned_tensor<float>({B, C}), den = st::poisoned_tensor<float>({B});
    ops::weighted_mean_forward(out.data(), den.data(), x.data(), w.data(), B, S, C);
    const Tensor<float> d_x = st::to_gpu(x), d_w = st::to_gpu(w);
    const Tensor<float> d_out = st::to_gpu(st::poisoned_tensor<float>({B, C})), d_den = st::to_gpu(st::poisoned_tensor<float>({B}));
    ck::weighted_mean_forward(d_out.data(), d_den.data(), d_x.data(), d_w.data(), B, S, C);
    st::compare_gpu(d_out, out, "out");
    st::compare_gpu(d_den, den, "den");
    const Tensor<float> g = st::random_tensor<float>(rng, {B, C});
    const Tensor<float> dx0 = st::random_tensor<float>(rng, {B, S, C}), dw0 = st::random_tensor<float>(rng, {B, S});
    const Tensor<float> dx = dx0.clone(), dw = dw0.clone();
    ops::weighted_mean_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), out.data(), den.data(), B, S, C);
    const Tensor<float> d_dx = st::to_gpu(dx0), d_dw = st::to_gpu(dw0);
    ck::weighted_mean_backward(d_dx.data(), d_dw.data(), st::to_gpu(g).data(), d_x.data(), d_w.data(), d_out.data(),
                               d_den.data(), B, S, C);
    st::compare_gpu(d_dx, dx, "dx");
    st::compare_gpu(d_dw, dw, "dw");
    const Tensor<float> t_out = st::to_gpu(st::poisoned_tensor<float>({B, C})), t_den = st::to_gpu(st::poisoned_tensor<float>({B}));
    ops::weighted_mean_forward(t_out, t_den, d_x, d_w);
    st::compare_gpu(t_out, out, "dispatch out");
    const Tensor<float> t_dx = st::to_gpu(dx0);
    ops::weighted_mean_backward(t_dx, Tensor<float>(), st::to_gpu(g), d_x, d_w, t_out, t_den);
    const Tensor<float> dx_only = dx0.clone();
    ops::weighted_mean_backward(dx_only.data(), static_cast<float*>(nullptr), g.data(), x.data(), w.data(), out.data(),
                                den.data(), B, S, C);
    st::compare_gpu(t_dx, dx_only, "dispatch dx");
  }
  CHECK_THROWS_AS(ck::weighted_mean_forward(nullptr, nullptr, nullptr, nullptr, -1, 1, 1), simad::Error);
}
