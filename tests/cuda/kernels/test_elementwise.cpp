// tests/cuda/kernels/test_elementwise.cpp: what the op harness cannot express for kernels/elementwise.cu
// and ops/dispatch/{activation,elementwise}.hpp: bad arguments, mixed devices, copies across devices.
// Their results are rows of tests/op_cases/cases_activation.cpp and cases_elementwise.cpp.
#include <limits>
#include <span>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/elementwise.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

Tensor<float> upload(const std::vector<float>& h) {
  return simad::cuda::to_device(Tensor<float>::from({int64_t(h.size())}, std::span<const float>(h)));
}

}  // namespace

TEST_CASE("cuda/elementwise: bad arguments throw simad::Error and n 0 launches nothing") {
  const Tensor<float> d = upload(std::vector<float>(4, 1.0f));
  CHECK_THROWS_AS(ck::relu_forward(d.data(), d.data(), -1), simad::Error);
  CHECK_THROWS_AS(ck::gelu_forward(nullptr, d.data(), 4), simad::Error);
  CHECK_THROWS_AS(ck::tanh_backward(d.data(), nullptr, d.data(), 4), simad::Error);
  CHECK_THROWS_AS(ck::leaky_relu_forward(d.data(), d.data(), 4, std::numeric_limits<float>::infinity()),
                  simad::Error);
  CHECK_THROWS_AS(ck::axpy(d.data(), 1.0f, nullptr, 4), simad::Error);
  CHECK_NOTHROW(ck::sigmoid_forward(nullptr, nullptr, 0));
  CHECK_NOTHROW(ck::fill(nullptr, 1.0f, 0));
}

TEST_CASE("cuda/elementwise: Tensor calls reject mixed devices and sizes and copy crosses devices") {
  const int64_t n = 3001;
  simad::Rng rng = simad::testing::test_rng(95);
  const Tensor<float> a = simad::testing::random_tensor<float>(rng, {n});
  const Tensor<float> dy = simad::cuda::to_device(Tensor<float>::zeros({10, 30}));
  CHECK_THROWS_WITH_AS(ops::relu_forward(dy, Tensor<float>::zeros({10, 30})), doctest::Contains("different devices"),
                       simad::Error);
  CHECK_THROWS_AS(ops::relu_forward(dy, simad::cuda::to_device(Tensor<float>::full({3}, 1.0f))), simad::Error);
  const Tensor<float> d = simad::cuda::to_device(Tensor<float>::zeros({n}));
  ops::copy(d, a);
  const Tensor<float> h = simad::cuda::to_host(d);
  for (int64_t i = 0; i < n; ++i) REQUIRE(h.data()[i] == a.data()[i]);
  CHECK_THROWS_AS(ops::axpy(d, 1.0f, a), simad::Error);
  CHECK_THROWS_AS(ops::add(d, d, simad::cuda::to_device(Tensor<float>::zeros({5}))), simad::Error);
  CHECK_THROWS_AS(ck::mul_forward(nullptr, d.data(), d.data(), n), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
