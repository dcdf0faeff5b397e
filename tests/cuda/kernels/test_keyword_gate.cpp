// tests/cuda/kernels/test_keyword_gate.cpp: what the op harness (tests/op_cases/cases_keyword_gate.cpp)
// cannot express for kernels/keyword_gate.cu: a negative size throws.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/keyword_gate.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

TEST_CASE("cuda/keyword_gate: a negative size throws") {
  CHECK_THROWS_AS(simad::cuda::kernels::keyword_gate_forward(nullptr, nullptr, nullptr, -1, true), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
