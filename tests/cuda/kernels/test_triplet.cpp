// tests/cuda/kernels/test_triplet.cpp: the errors and empty batches of kernels/triplet.cu. Its results
// against the CPU op, directly and through the Tensor dispatch: tests/op_cases/cases_triplet.cpp.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/triplet.hpp"
#include "simad/ops/dispatch/triplet.hpp"
#include "cuda_compare.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;
using simad::ops::TripletDistance;
using t::Dev;

}  // namespace

TEST_CASE("cuda/triplet: bad arguments throw and empty batches do nothing harmful") {
  Dev<float> x(std::vector<float>(8, 0.0f));
  Dev<int32_t> l(std::vector<int32_t>(8, 0));
  Dev<int64_t> s(std::vector<int64_t>(1, 0));
  Dev<unsigned char> w(std::vector<unsigned char>(4, 0));
  CHECK_THROWS_AS(k::batch_hard_triplet_forward(x.ptr, l.ptr, l.ptr, s.ptr, x.ptr, l.ptr, 4, 2, 1.0f,
                                                TripletDistance::Squared, w.ptr, 4),
                  simad::Error);  // workspace too small
  CHECK_THROWS_AS(k::batch_hard_triplet_forward(x.ptr, l.ptr, l.ptr, s.ptr, x.ptr, l.ptr, 2, 0, 1.0f,
                                                TripletDistance::Squared, w.ptr, 4),
                  simad::Error);
  k::batch_hard_triplet_forward(x.ptr, nullptr, nullptr, s.ptr, nullptr, nullptr, 0, 2, 1.0f,
                                TripletDistance::Squared, nullptr, 0);
  k::batch_hard_triplet_backward(nullptr, 1.0f, nullptr, nullptr, nullptr, 3, 2, 1.0f, TripletDistance::Squared,
                                 nullptr, 0);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(s.get()[0] == 0);
  CHECK(x.get()[0] == 0.0f);
}

TEST_CASE("cuda/triplet: the Tensor dispatch refuses mixed devices") {
  const simad::Tensor<float> emb = simad::Tensor<float>::zeros({4, 3});
  const simad::Tensor<int32_t> labels = simad::Tensor<int32_t>::zeros({4}), pos = labels.clone(), neg = labels.clone();
  CHECK_THROWS_AS(simad::ops::batch_hard_triplet_forward(pos, neg, nullptr, t::to_gpu(emb), labels, 1.0f),
                  simad::Error);
  CHECK_THROWS_AS(simad::ops::batch_hard_triplet_backward(emb, 1.0f, t::to_gpu(emb), pos, neg, 1.0f), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
