// tests/cuda/kernels/test_broadcast_add.cpp: kernels/broadcast_add.cu and the Tensor dispatch against
// the CPU op of simad/ops/broadcast_add.hpp (tested against index loops in
// tests/ops/test_weighted_mean.cpp), under the emulator, in place and not; C = 1 (ION's SCA) and C
// above a block. Outputs poisoned; the backward accumulates onto random values.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/broadcast_add.hpp"
#include "simad/ops/dispatch/broadcast_add.hpp"
#include "cuda_compare.hpp"

namespace {
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;
namespace st = simad::testing;
}  // namespace

TEST_CASE("cuda/broadcast_add: forward, da and dv equal the CPU op") {
  simad::Rng rng = st::test_rng(141);
  for (auto [B, S, C] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {4, 9, 1}, {3, 5, 300}}) {
    CAPTURE(B);
    CAPTURE(C);
    const Tensor<float> a = st::random_tensor<float>(rng, {B, S, C}), v = st::random_tensor<float>(rng, {B, C});
    const Tensor<float> out = st::poisoned_tensor<float>({B, S, C});
    ops::broadcast_add_forward(out.data(), a.data(), v.data(), B, S, C);
    const Tensor<float> d_a = st::to_gpu(a), d_v = st::to_gpu(v), d_out = st::to_gpu(st::poisoned_tensor<float>({B, S, C}));
    ck::broadcast_add_forward(d_out.data(), d_a.data(), d_v.data(), B, S, C);
    st::compare_gpu(d_out, out, "out");
    ck::broadcast_add_forward(d_a.data(), d_a.data(), d_v.data(), B, S, C);  // in place
    st::compare_gpu(d_a, out, "in place");
    const Tensor<float> g = st::random_tensor<float>(rng, {B, S, C});
    const Tensor<float> da0 = st::random_tensor<float>(rng, {B, S, C}), dv0 = st::random_tensor<float>(rng, {B, C});
    const Tensor<float> da = da0.clone(), dv = dv0.clone();
    ops::broadcast_add_backward(da.data(), dv.data(), g.data(), B, S, C);
    const Tensor<float> d_da = st::to_gpu(da0), d_dv = st::to_gpu(dv0);
    ck::broadcast_add_backward(d_da.data(), d_dv.data(), st::to_gpu(g).data(), B, S, C);
    st::compare_gpu(d_da, da, "da");
    st::compare_gpu(d_dv, dv, "dv");
    const Tensor<float> t_out = st::to_gpu(st::poisoned_tensor<float>({B, S, C}));
    ops::broadcast_add_forward(t_out, st::to_gpu(a), d_v);
    st::compare_gpu(t_out, out, "dispatch out");
    const Tensor<float> t_dv = st::to_gpu(dv0);
    ops::broadcast_add_backward(Tensor<float>(), t_dv, st::to_gpu(g));
    st::compare_gpu(t_dv, dv, "dispatch dv");
  }
  CHECK_THROWS_AS(ck::broadcast_add_forward(nullptr, nullptr, nullptr, 2, 2, -2), simad::Error);
}
