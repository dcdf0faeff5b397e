// tests/cuda/kernels/test_masked_max.cpp: what the op harness (tests/op_cases/cases_masked_max.cpp) cannot
// express for kernels/masked_max.cu: a negative size throws.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/masked_max.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

TEST_CASE("cuda/masked_max: a negative size throws") {
  CHECK_THROWS_AS(simad::cuda::kernels::masked_max_forward(nullptr, nullptr, nullptr, nullptr, -1, 1, 1),
                  simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
