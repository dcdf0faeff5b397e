// tests/cuda/kernels/test_l2norm.cpp: what the op harness (tests/op_cases/cases_l2norm.cpp) cannot express
// for kernels/l2norm.cu: a bad eps throws.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/l2norm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

TEST_CASE("cuda/l2norm: eps 0 throws") {
  CHECK_THROWS_AS(simad::cuda::kernels::l2norm_forward(nullptr, nullptr, nullptr, 2, 3, 0.0f), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
