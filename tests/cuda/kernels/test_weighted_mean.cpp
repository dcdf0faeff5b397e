// tests/cuda/kernels/test_weighted_mean.cpp: kernels/weighted_mean.cu's argument checks. Its results (against
// the CPU op, and the Tensor dispatch) are rows of tests/op_cases/cases_weighted_mean.cpp.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/weighted_mean.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

TEST_CASE("cuda/weighted_mean: bad sizes throw") {
  CHECK_THROWS_AS(simad::cuda::kernels::weighted_mean_forward(nullptr, nullptr, nullptr, nullptr, -1, 1, 1),
                  simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
