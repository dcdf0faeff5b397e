// tests/cuda/kernels/test_dropout.cpp: the errors of kernels/dropout.cu and of the Tensor dispatch on CUDA
// tensors. The masks and values against the CPU op and the rule keep_i = [uniform_at(offset + i) >= p]:
// tests/op_cases/cases_dropout.cpp.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/cuda/kernels/dropout.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/dropout.hpp"
#include "cuda_compare.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Rng;
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

}  // namespace

TEST_CASE("cuda/dropout: bad arguments and mixed devices throw") {
  Rng data = simad::testing::test_rng(42);
  const int64_t n = 100;
  const Tensor<float> dout = simad::testing::random_tensor<float>(data, {n});
  const Tensor<float> dinp0 = simad::testing::random_tensor<float>(data, {n});
  const Tensor<float> d_dinp = simad::cuda::to_device(dinp0), d_dout = simad::cuda::to_device(dout);
  CHECK_THROWS_AS(ck::dropout_backward(d_dinp.data(), d_dout.data(), nullptr, n, 0.5f), simad::Error);
  CHECK_THROWS_AS(ck::dropout_forward(d_dinp.data(), nullptr, d_dout.data(), n, 1.0f, 1, 0, 0), simad::Error);
  CHECK_THROWS_AS(ck::dropout_forward(d_dinp.data(), nullptr, d_dout.data(), -1, 0.5f, 1, 0, 0), simad::Error);
  const Tensor<uint8_t> keep = Tensor<uint8_t>::zeros({n});
  CHECK_THROWS_AS(ops::dropout_forward(d_dinp, keep, dout, 0.5f, Rng(1, 2), 0), simad::Error);
  CHECK_THROWS_AS(ops::dropout_backward(d_dinp, d_dout, keep, 0.5f), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
