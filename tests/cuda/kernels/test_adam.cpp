// tests/cuda/kernels/test_adam.cpp: what the op harness (tests/op_cases/cases_adam.cpp) cannot express for
// kernels/adam.cu and the dispatch of simad/ops/dispatch/adam.hpp: invalid options, arguments and mixed
// devices throw.
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/adam.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/adam.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Tensor;
using simad::train::AdamOptions;
using simad::train::WeightDecay;
namespace ck = simad::cuda::kernels;

Tensor<float> upload(const std::vector<float>& h) {
  return simad::cuda::to_device(Tensor<float>::from({int64_t(h.size())}, std::span<const float>(h)));
}

}  // namespace

TEST_CASE("cuda/adam: the Tensor dispatch refuses mixed devices") {
  const Tensor<float> p = Tensor<float>::zeros({7, 13}), dp = simad::cuda::to_device(p);
  CHECK_THROWS_WITH_AS(simad::train::adam_update(dp, p, dp, dp, 1, AdamOptions{}, WeightDecay::l2),
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

}  // namespace SIMAD_TEST_FILE_ID
