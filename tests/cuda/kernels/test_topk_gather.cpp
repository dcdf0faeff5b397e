// tests/cuda/kernels/test_topk_gather.cpp: the errors of kernels/topk_gather.cu. Its results against the CPU
// op, directly and through the Tensor dispatch: tests/op_cases/cases_topk_gather.cpp.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/topk_gather.hpp"
#include "simad/ops/dispatch/topk_gather.hpp"
#include "cuda_compare.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;
namespace st = simad::testing;
}  // namespace

TEST_CASE("cuda/topk_gather: bad sizes and mixed devices throw") {
  CHECK_THROWS_AS(ck::topk_gather_forward(nullptr, nullptr, nullptr, nullptr, 1, -1, 1, 1), simad::Error);
  const Tensor<float> inp = Tensor<float>::zeros({2, 3, 4}), out = Tensor<float>::zeros({2, 2, 4});
  const Tensor<int32_t> idx = Tensor<int32_t>::zeros({2, 2});
  CHECK_THROWS_AS(ops::topk_gather_forward(st::to_gpu(out), inp, Tensor<float>(), idx), simad::Error);
  CHECK_THROWS_AS(
      ops::topk_gather_backward(Tensor<float>(), Tensor<float>(), out, st::to_gpu(inp), Tensor<float>(), idx),
      simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
