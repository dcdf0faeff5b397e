// tests/cuda/kernels/test_attention.cpp: what the op harness (tests/op_cases/cases_attention.cpp) cannot
// express for kernels/attention.cu: bad sizes throw, empty inputs do nothing.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/dtype.hpp"
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/attention.hpp"
#include "simad/ops/attention.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

}  // namespace

TEST_CASE("cuda/attention: bad sizes throw and empty inputs do nothing") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::attention_forward(p, p, p, nullptr, 1, 2, 6, 4), simad::Error);     // 4 does not divide 6
  CHECK_THROWS_AS(k::attention_forward(p, p, p, nullptr, 1, 2, 130, 1), simad::Error);   // head size above 64
  CHECK_THROWS_AS(k::attention_forward(nullptr, p, p, nullptr, 1, 2, 8, 1), simad::Error);
  CHECK_THROWS_AS(k::attention_backward(p, nullptr, p, p, p, nullptr, 1, 2, 8, 1), simad::Error);
  k::attention_forward(nullptr, nullptr, nullptr, nullptr, 0, 3, 8, 2);
  CUDA_OK(cudaDeviceSynchronize());
}

TEST_CASE("cuda/attention: the bf16 tensor-core forward: exact scores on bf16 inputs, outputs within P's rounding") {
  // On q, k, v that are bf16 already, the kernel's scores are exact products summed in fp32, so lse matches
  // the CPU op's (on the same values) within 1e-5; only the probabilities are rounded for P V, by at most
  // 2^-9 relative each, which moves an output (a weighted mean of v) by at most 2 * 2^-9 max |v|. Any mix-up
  // of the fragments' rows, keys or dimensions misses both by far. N: one tile, not a multiple of the 64 query
  // rows or 32 keys, three key tiles; head sizes 8, 12 (padded to 16), 16, 64; random masks, one with no key.
  auto rng = t::test_rng();
  struct Shape {
    int64_t B, N, C, NH;
  };
  for (const Shape sh : {Shape{2, 17, 16, 2}, Shape{2, 70, 64, 1}, Shape{3, 33, 24, 2}, Shape{1, 96, 128, 2}}) {
    CAPTURE(sh.N);
    CAPTURE(sh.C);
    const int64_t B = sh.B, N = sh.N, C = sh.C, NH = sh.NH;
    auto qkv = t::random_vector<float>(rng, size_t(B * N * 3 * C), -2.0, 2.0);
    for (auto& v : qkv) v = simad::bf16_to_float(simad::float_to_bf16(v));
    std::vector<uint8_t> mask(size_t(B * N));
    for (auto& m : mask) m = rng.next_uniform() < 0.8 ? 1 : 0;
    std::fill_n(mask.begin(), N, uint8_t(0));  // sequence 0 has no key: zeros, lse +inf
    std::vector<float> want_out(size_t(B * N * C)), want_lse(size_t(B * NH * N));
    simad::ops::attention_forward(want_out.data(), want_lse.data(), qkv.data(), mask.data(), B, N, C, NH);
    t::Dev<float> dqkv(qkv);
    t::Dev<uint8_t> dmask(mask);
    auto dout = t::Dev<float>::poisoned(want_out.size()), dlse = t::Dev<float>::poisoned(want_lse.size());
    k::attention_forward_bf16_tensor_cores(dout.ptr, dlse.ptr, dqkv.ptr, dmask.ptr, B, N, C, NH);
    CUDA_OK(cudaDeviceSynchronize());
    const auto lse = dlse.get();
    for (int64_t i = 0; i < NH * N; ++i) CHECK(std::isinf(lse[size_t(i)]));  // sequence 0
    t::check_close(lse, want_lse, 1e-5, 1e-5, "lse");
    t::check_close(dout.get(), want_out, 2.0 * std::ldexp(1.0, -9) * 2.0 + 1e-5, 0.0, "out");
  }
}

}  // namespace SIMAD_TEST_FILE_ID
