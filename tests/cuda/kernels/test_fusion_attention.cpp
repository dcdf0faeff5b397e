// tests/cuda/kernels/test_fusion_attention.cpp: the errors and empty inputs of kernels/fusion_attention.cu.
// Its results against the CPU op, directly and through the Tensor dispatch:
// tests/op_cases/cases_fusion_attention.cpp.
#include <cuda_runtime.h>

#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/fusion_attention.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {
namespace k = simad::cuda::kernels;
}  // namespace

TEST_CASE("cuda/fusion_attention: bad sizes throw and empty inputs do nothing") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::fusion_attention_forward(p, p, p, p, p, p, nullptr, nullptr, nullptr, 1, 100, 100, 4, nullptr),
                  simad::Error);  // N * K above the shared-memory limit
  CHECK_THROWS_AS(k::fusion_attention_forward(p, p, p, p, p, p, p, nullptr, nullptr, 1, 4, 4, 4, nullptr),
                  simad::Error);  // W_f without workspace
  CHECK_THROWS_AS(k::fusion_attention_backward(p, p, nullptr, nullptr, p, p, p, nullptr, p, p, 1, 4, 4, 4, nullptr),
                  simad::Error);
  k::fusion_attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 4, 4,
                              4, nullptr);
  CUDA_OK(cudaDeviceSynchronize());
}

}  // namespace SIMAD_TEST_FILE_ID
