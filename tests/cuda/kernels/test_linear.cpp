// tests/cuda/kernels/test_linear.cpp: what the op harness (tests/op_cases/cases_linear.cpp) cannot express
// for kernels/linear.cu and the dispatch of simad/ops/dispatch/linear.hpp: bad sizes, mixed devices and
// wrong shapes throw.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/linear.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/linear.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

TEST_CASE("cuda/linear: negative sizes, mixed devices and wrong shapes throw") {
  namespace ck = simad::cuda::kernels;
  using simad::Tensor;
  CHECK_THROWS_AS(ck::linear_bias_forward(nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(ck::linear_bias_backward(nullptr, nullptr, 2, -3), simad::Error);
  const Tensor<float> inp = Tensor<float>::zeros({3, 4}), W = Tensor<float>::zeros({2, 4});
  CHECK_THROWS_AS(
      simad::ops::linear_forward(simad::cuda::to_device(Tensor<float>::zeros({3, 2})), inp, W, Tensor<float>()),
      simad::Error);
  CHECK_THROWS_AS(simad::ops::linear_forward(Tensor<float>::zeros({3, 3}), inp, W, Tensor<float>()), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
