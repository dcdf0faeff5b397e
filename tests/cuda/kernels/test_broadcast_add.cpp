// tests/cuda/kernels/test_broadcast_add.cpp: what the op harness (tests/op_cases/cases_broadcast_add.cpp)
// cannot express for kernels/broadcast_add.cu: a negative size throws.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/broadcast_add.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

TEST_CASE("cuda/broadcast_add: a negative size throws") {
  CHECK_THROWS_AS(simad::cuda::kernels::broadcast_add_forward(nullptr, nullptr, nullptr, 2, 2, -2), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
