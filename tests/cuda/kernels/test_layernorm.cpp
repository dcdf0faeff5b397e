// tests/cuda/kernels/test_layernorm.cpp: kernels/layernorm.cu's argument checks. Its results (against the
// CPU op, null optional pointers, identical bits on two runs) are rows of tests/op_cases/cases_layernorm.cpp.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/layernorm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;

}  // namespace

TEST_CASE("cuda/layernorm: bad arguments throw") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, 2, 0), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, 2, 3, -1.0f), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(nullptr, nullptr, nullptr, p, nullptr, nullptr, 2, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_backward(p, nullptr, nullptr, p, p, nullptr, nullptr, p, 2, 3), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
