// tests/cuda/kernels/test_reduce.cpp: kernels/reduce.cu's argument checks and the sum of nothing. Its
// results (against the CPU ops, identical bits on two runs) are rows of tests/op_cases/cases_reduce.cpp.
#include <cuda_runtime.h>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/reduce.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;

using simad::testing::Dev;

}  // namespace

TEST_CASE("cuda/reduce: the sum of nothing is 0") {
  auto ds = Dev<float>::poisoned(1);
  k::sum_forward(ds.ptr, nullptr, 0);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(ds.get()[0] == 0.0f);
}

TEST_CASE("cuda/reduce: bad sizes and means of nothing throw") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::sum_forward(p, p, -1), simad::Error);
  CHECK_THROWS_AS(k::mean_forward(p, p, 0), simad::Error);
  CHECK_THROWS_AS(k::mean_backward(p, p, 0), simad::Error);
  CHECK_THROWS_AS(k::mean_over_rows_forward(p, p, 0, 3), simad::Error);
  CHECK_THROWS_AS(k::mean_over_cols_forward(p, p, 3, 0), simad::Error);
  CHECK_THROWS_AS(k::sum_over_rows_forward(p, p, -2, 3), simad::Error);
  CHECK_THROWS_AS(k::sum_over_cols_backward(p, nullptr, 2, 3), simad::Error);
  k::sum_over_cols_backward(nullptr, nullptr, 2, 3);  // null dinp: nothing
}

}  // namespace SIMAD_TEST_FILE_ID
