// tests/cuda/kernels/test_attention.cpp: what the op harness (tests/op_cases/cases_attention.cpp) cannot
// express for kernels/attention.cu: bad sizes throw, empty inputs do nothing.
#include <cuda_runtime.h>

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/attention.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

}  // namespace

TEST_CASE("cuda/attention: bad sizes throw and empty inputs do nothing") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::attention_forward(p, p, p, nullptr, 1, 2, 6, 4), simad::Error);     // 4 does not divide 6
  CHECK_THROWS_AS(k::attention_forward(p, p, p, nullptr, 1, 2, 130, 1), simad::Error);   // head size above 64
  CHECK_THROWS_AS(k::attention_forward(nullptr, p, p, nullptr, 1, 2, 8, 1), simad::Error);
  CHECK_THROWS_AS(k::attention_backward(p, nullptr, p, p, p, nullptr, 1, 2, 8, 1), simad::Error);
  k::attention_forward(nullptr, nullptr, nullptr, nullptr, 0, 3, 8, 2);
  CUDA_OK(cudaDeviceSynchronize());
}

}  // namespace SIMAD_TEST_FILE_ID
