// tests/cuda/kernels/test_linear.cpp: kernels/linear.cu (the bias of a linear layer) against plain
// double loops, and the Tensor dispatch of simad/ops/dispatch/linear.hpp (GEMM + bias kernels on CUDA
// tensors) against the CPU op of simad/ops/linear.hpp, under the emulator. Tolerance 1e-5 + 1e-5 |ref|
// (float sums over up to 70 terms in another order than the reference). Shapes include odd sizes, a
// single row and more columns than a block of threads (300). Outputs poisoned with NaN; the backward
// accumulates onto random gradients.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/linear.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/linear.hpp"
#include "simad/ops/linear.hpp"
#include "cuda_compare.hpp"
#include "testing.hpp"

namespace {

using simad::Rng;
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

constexpr double kAtol = 1e-5, kRtol = 1e-5;

void compare(const Tensor<float>& gpu, std::span<const double> ref, const std::string& what) {
  simad::testing::check_close(simad::testing::from_gpu(gpu), ref, kAtol, kRtol, what);
}
std::vector<double> as_double(const Tensor<float>& t) { return std::vector<double>(t.data(), t.data() + t.numel()); }

}  // namespace

TEST_CASE("cuda/linear: bias forward adds the bias to every row, bias backward accumulates column sums") {
  Rng rng = simad::testing::test_rng(51);
  for (auto [N, OC] : {std::pair<int64_t, int64_t>{1, 1}, {5, 3}, {70, 33}, {3, 300}}) {
    CAPTURE(N);
    CAPTURE(OC);
    const Tensor<float> out0 = simad::testing::random_tensor<float>(rng, {N, OC});
    const Tensor<float> bias = simad::testing::random_tensor<float>(rng, {OC});
    std::vector<double> want = as_double(out0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OC; ++o) want[size_t(n * OC + o)] += double(bias.data()[o]);
    const Tensor<float> d_out = simad::cuda::to_device(out0);
    ck::linear_bias_forward(d_out.data(), simad::cuda::to_device(bias).data(), N, OC);
    compare(d_out, want, "bias forward");

    const Tensor<float> dout = simad::testing::random_tensor<float>(rng, {N, OC});
    const Tensor<float> dbias0 = simad::testing::random_tensor<float>(rng, {OC});
    std::vector<double> dwant = as_double(dbias0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < OC; ++o) dwant[size_t(o)] += double(dout.data()[n * OC + o]);
    const Tensor<float> d_dbias = simad::cuda::to_device(dbias0);
    ck::linear_bias_backward(d_dbias.data(), simad::cuda::to_device(dout).data(), N, OC);
    compare(d_dbias, dwant, "bias backward");
  }
  CHECK_THROWS_AS(ck::linear_bias_forward(nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(ck::linear_bias_backward(nullptr, nullptr, 2, -3), simad::Error);
}

TEST_CASE("cuda/linear: the Tensor dispatch on CUDA tensors equals the CPU op, forward and backward") {
  Rng rng = simad::testing::test_rng(52);
  struct Case {
    simad::Shape inp;
    int64_t OC;
    bool bias;
  };
  for (const Case& c : {Case{{4, 7}, 5, true}, Case{{2, 3, 16}, 48, true}, Case{{1, 33}, 1, false},
                        Case{{6, 5, 9}, 70, true}}) {
    CAPTURE(c.inp);
    CAPTURE(c.OC);
    const int64_t C = c.inp.dims[size_t(c.inp.rank - 1)], N = c.inp.numel() / C;
    const Tensor<float> inp = simad::testing::random_tensor<float>(rng, c.inp);
    const Tensor<float> W = simad::testing::random_tensor<float>(rng, {c.OC, C});
    const Tensor<float> b = c.bias ? simad::testing::random_tensor<float>(rng, {c.OC}) : Tensor<float>();
    simad::Shape out_shape = c.inp;
    out_shape.dims[size_t(out_shape.rank - 1)] = c.OC;
    // CPU reference: the pointer op (itself tested against double loops in tests/ops).
    const Tensor<float> out = simad::testing::poisoned_tensor<float>(out_shape);
    ops::linear_forward(out, inp, W, b);
    const Tensor<float> d_out = simad::cuda::to_device(simad::testing::poisoned_tensor<float>(out_shape));
    const Tensor<float> d_inp = simad::cuda::to_device(inp), d_W = simad::cuda::to_device(W);
    const Tensor<float> d_b = c.bias ? simad::cuda::to_device(b) : Tensor<float>();
    ops::linear_forward(d_out, d_inp, d_W, d_b);
    compare(d_out, as_double(out), "forward");

    const Tensor<float> dout = simad::testing::random_tensor<float>(rng, out_shape);
    const Tensor<float> dinp = simad::testing::random_tensor<float>(rng, c.inp);
    const Tensor<float> dW = simad::testing::random_tensor<float>(rng, {c.OC, C});
    const Tensor<float> db = c.bias ? simad::testing::random_tensor<float>(rng, {c.OC}) : Tensor<float>();
    const Tensor<float> d_dinp = simad::cuda::to_device(dinp), d_dW = simad::cuda::to_device(dW);
    const Tensor<float> d_db = c.bias ? simad::cuda::to_device(db) : Tensor<float>();
    ops::linear_backward(dinp, dW, db, dout, inp, W);
    ops::linear_backward(d_dinp, d_dW, d_db, simad::cuda::to_device(dout), d_inp, d_W);
    compare(d_dinp, as_double(dinp), "dinp");
    compare(d_dW, as_double(dW), "dweight");
    if (c.bias) compare(d_db, as_double(db), "dbias");
    (void)N;
  }
  // Mixed devices and wrong shapes are errors.
  const Tensor<float> inp = simad::testing::random_tensor<float>(rng, {3, 4});
  const Tensor<float> W = simad::testing::random_tensor<float>(rng, {2, 4});
  CHECK_THROWS_AS(ops::linear_forward(simad::cuda::to_device(Tensor<float>::zeros({3, 2})), inp, W, Tensor<float>()),
                  simad::Error);
  CHECK_THROWS_AS(ops::linear_forward(Tensor<float>::zeros({3, 3}), inp, W, Tensor<float>()), simad::Error);
}
