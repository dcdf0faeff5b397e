// tests/cuda/kernels/test_softmax.cpp: kernels/softmax.cu's argument checks. Its results are checked by
// the op harness (tests/op_cases/cases_softmax.cpp) against the CPU op and the reference tier.
#include <cuda_runtime.h>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/softmax.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace k = simad::cuda::kernels;

TEST_CASE("cuda/softmax: bad sizes throw and empty inputs do nothing") {
  CHECK_THROWS_AS(k::softmax_forward(nullptr, nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(k::softmax_forward(nullptr, nullptr, nullptr, 2, 3), simad::Error);
  CHECK_THROWS_AS(k::softmax_backward(reinterpret_cast<float*>(16), nullptr, nullptr, 2, 3), simad::Error);
  k::softmax_forward(nullptr, nullptr, nullptr, 0, 3);
  k::softmax_forward(nullptr, nullptr, nullptr, 3, 0);
  k::softmax_backward(nullptr, nullptr, nullptr, 3, 5);  // a null dinp does nothing
  CUDA_OK(cudaDeviceSynchronize());
}

}  // namespace SIMAD_TEST_FILE_ID
