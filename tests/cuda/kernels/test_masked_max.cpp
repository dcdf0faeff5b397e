// tests/cuda/kernels/test_masked_max.cpp: kernels/masked_max.cu against a plain reference loop (max over
// real members, first index on ties, 0 / -1 for an all-padded set) and, through the Tensor dispatch of
// simad/ops/dispatch/masked_max.hpp, against the CPU op, under the emulator. Values are drawn from a few
// levels so ties happen; sets include all-padded ones, S = 1 and C above a block (300). Outputs are
// exact (a max and an index), so the comparison is exact. Outputs poisoned first; the backward
// accumulates onto random values.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/masked_max.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/masked_max.hpp"
#include "cuda_compare.hpp"
#include "testing.hpp"

namespace {

using simad::Rng;
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

}  // namespace

TEST_CASE("cuda/masked_max: forward and backward equal the reference, ties to the first member") {
  Rng rng = simad::testing::test_rng(71);
  struct Case {
    int64_t B, S, C;
  };
  for (const Case& c : {Case{1, 1, 1}, Case{4, 5, 3}, Case{3, 9, 300}, Case{6, 2, 17}}) {
    CAPTURE(c.B);
    CAPTURE(c.S);
    CAPTURE(c.C);
    Tensor<float> inp = Tensor<float>::empty({c.B, c.S, c.C});
    for (float& x : inp.span()) x = float(int(rng.next_below(5)) - 2) * 0.5f;  // 5 levels: ties
    Tensor<uint8_t> mask = Tensor<uint8_t>::empty({c.B, c.S});
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t s = 0; s < c.S; ++s) mask(b, s) = uint8_t(b == 1 ? 0 : rng.next_below(4) != 0);  // set 1: all padded
    std::vector<float> want(static_cast<size_t>(c.B * c.C));
    std::vector<int32_t> want_arg(static_cast<size_t>(c.B * c.C));
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t j = 0; j < c.C; ++j) {
        int32_t arg = -1;
        for (int64_t s = 0; s < c.S; ++s)
          if (mask(b, s) && (arg < 0 || inp(b, s, j) > inp(b, arg, j))) arg = int32_t(s);
        want_arg[size_t(b * c.C + j)] = arg;
        want[size_t(b * c.C + j)] = arg < 0 ? 0.0f : inp(b, arg, j);
      }
    const Tensor<float> d_inp = simad::cuda::to_device(inp);
    const Tensor<uint8_t> d_mask = simad::cuda::to_device(mask);
    const Tensor<float> d_out = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({c.B, c.C}));
    const Tensor<int32_t> d_arg = simad::cuda::to_device(Tensor<int32_t>::full({c.B, c.C}, 12345));
    ck::masked_max_forward(d_out.data(), d_arg.data(), d_inp.data(), d_mask.data(), c.B, c.S, c.C);
    const Tensor<float> out = simad::testing::from_gpu(d_out);
    const Tensor<int32_t> arg = simad::testing::from_gpu(d_arg);
    for (int64_t i = 0; i < c.B * c.C; ++i) {
      REQUIRE(arg.data()[i] == want_arg[size_t(i)]);
      REQUIRE(out.data()[i] == want[size_t(i)]);
    }
    // Backward: dinp[b, arg, j] += dout[b, j] onto random values.
    const Tensor<float> dout = simad::testing::random_tensor<float>(rng, {c.B, c.C});
    const Tensor<float> dinp0 = simad::testing::random_tensor<float>(rng, {c.B, c.S, c.C});
    std::vector<double> dwant(dinp0.data(), dinp0.data() + dinp0.numel());
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t j = 0; j < c.C; ++j)
        if (const int32_t a = want_arg[size_t(b * c.C + j)]; a >= 0)
          dwant[size_t((b * c.S + a) * c.C + j)] += double(dout(b, j));
    const Tensor<float> d_dinp = simad::cuda::to_device(dinp0);
    ck::masked_max_backward(d_dinp.data(), simad::cuda::to_device(dout).data(), d_arg.data(), c.B, c.S, c.C);
    simad::testing::check_close(simad::testing::from_gpu(d_dinp), std::span<const double>(dwant), 1e-6, 1e-6, "dinp");

    // The dispatch: CUDA tensors vs the CPU op; no mask = every member real.
    for (bool masked : {true, false}) {
      const Tensor<float> out_c = simad::testing::poisoned_tensor<float>({c.B, c.C});
      const Tensor<int32_t> arg_c = Tensor<int32_t>::full({c.B, c.C}, 777);
      ops::masked_max_forward(out_c, arg_c, inp, masked ? mask : Tensor<uint8_t>());
      ops::masked_max_forward(d_out, d_arg, d_inp, masked ? d_mask : Tensor<uint8_t>());
      const Tensor<float> out_g = simad::testing::from_gpu(d_out);
      const Tensor<int32_t> arg_g = simad::testing::from_gpu(d_arg);
      for (int64_t i = 0; i < c.B * c.C; ++i) {
        REQUIRE(arg_g.data()[i] == arg_c.data()[i]);
        REQUIRE(out_g.data()[i] == out_c.data()[i]);
      }
      const Tensor<float> dinp_c = dinp0.clone();
      const Tensor<float> dinp_g = simad::cuda::to_device(dinp0);
      ops::masked_max_backward(dinp_c, dout, arg_c);
      ops::masked_max_backward(dinp_g, simad::cuda::to_device(dout), d_arg);
      simad::testing::check_close(simad::testing::from_gpu(dinp_g), std::span<const float>(dinp_c.span()), 0.0, 0.0, "dispatch dinp");
    }
  }
  CHECK_THROWS_AS(ck::masked_max_forward(nullptr, nullptr, nullptr, nullptr, -1, 1, 1), simad::Error);
}
