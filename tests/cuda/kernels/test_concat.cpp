// tests/cuda/kernels/test_concat.cpp: kernels/concat.cu's argument checks and the concat dispatch's shape
// and device errors. Its results (the launchers and the Tensor dispatch against the CPU op) are rows of
// tests/op_cases/cases_concat.cpp.
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/concat.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/concat.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

}  // namespace

TEST_CASE("cuda/concat: bad sizes, widths and mixed devices throw") {
  CHECK_THROWS_AS(ck::concat_part_forward(nullptr, nullptr, 2, 4, 3, 2), simad::Error);
  CHECK_THROWS_AS(ck::concat_part_backward(nullptr, nullptr, 2, 4, -1, 2), simad::Error);
  const Tensor<float> a = Tensor<float>::zeros({2, 3, 5}), b = Tensor<float>::zeros({2, 3, 7});
  const Tensor<float> out_c = Tensor<float>::zeros({2, 3, 12});
  const Tensor<float> out_g = simad::cuda::to_device(out_c);
  CHECK_THROWS_AS(ops::concat_forward(out_c, {a, a}), simad::Error);  // widths add up to 10, not 12
  CHECK_THROWS_AS(ops::concat_forward(out_g, {a, b}), simad::Error);  // mixed devices
}

}  // namespace SIMAD_TEST_FILE_ID
