// tests/cuda/kernels/test_attention.cpp: what the op harness (tests/op_cases/cases_attention.cpp) cannot
// express for kernels/attention.cu: bad sizes throw, empty inputs do nothing.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
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

// The bf16 tests' inputs: values that are bf16 already (so the kernels' products of them are exact) and a mask
// (80% tokens; sequence 0 has no key). Shapes: one tile, N not a multiple of the 64 owned rows or the 32
// streamed ones, three streamed tiles; head sizes 8, 12 (padded to 16), 16, 64.
struct Bf16Case {
  int64_t B, N, C, NH;
  std::vector<float> qkv, dout;
  std::vector<uint8_t> mask;
};

std::vector<float> bf16_values(simad::Rng& rng, size_t n, double lo, double hi) {
  auto v = t::random_vector<float>(rng, n, lo, hi);
  for (auto& x : v) x = simad::bf16_to_float(simad::float_to_bf16(x));
  return v;
}

std::vector<Bf16Case> bf16_cases(simad::Rng& rng) {
  std::vector<Bf16Case> cases;
  for (const auto& [B, N, C, NH] : {std::array<int64_t, 4>{2, 17, 16, 2}, {2, 70, 64, 1}, {3, 33, 24, 2}, {2, 96, 128, 2}}) {
    Bf16Case c{B, N, C, NH, bf16_values(rng, size_t(B * N * 3 * C), -2.0, 2.0),
               bf16_values(rng, size_t(B * N * C), -1.0, 1.0), std::vector<uint8_t>(size_t(B * N))};
    for (auto& m : c.mask) m = rng.next_uniform() < 0.8 ? 1 : 0;
    std::fill_n(c.mask.begin(), N, uint8_t(0));
    cases.push_back(std::move(c));
  }
  return cases;
}

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
  // of the fragments' rows, keys or dimensions misses both by far.
  auto rng = t::test_rng();
  for (const Bf16Case& c : bf16_cases(rng)) {
    CAPTURE(c.N);
    CAPTURE(c.C);
    const int64_t B = c.B, N = c.N, C = c.C, NH = c.NH;
    std::vector<float> want_out(size_t(B * N * C)), want_lse(size_t(B * NH * N));
    simad::ops::attention_forward(want_out.data(), want_lse.data(), c.qkv.data(), c.mask.data(), B, N, C, NH);
    t::Dev<float> dqkv(c.qkv);
    t::Dev<uint8_t> dmask(c.mask);
    auto dout = t::Dev<float>::poisoned(want_out.size()), dlse = t::Dev<float>::poisoned(want_lse.size());
    k::attention_forward_bf16_tensor_cores(dout.ptr, dlse.ptr, dqkv.ptr, dmask.ptr, B, N, C, NH);
    CUDA_OK(cudaDeviceSynchronize());
    const auto lse = dlse.get();
    for (int64_t i = 0; i < NH * N; ++i) CHECK(std::isinf(lse[size_t(i)]));  // sequence 0
    t::check_close(lse, want_lse, 1e-5, 1e-5, "lse");
    t::check_close(dout.get(), want_out, 2.0 * std::ldexp(1.0, -9) * 2.0 + 1e-5, 0.0, "out");
  }
}

TEST_CASE("cuda/attention: the bf16 tensor-core backward on bf16 inputs: within P's and dS's rounding") {
  // On q, k, v and dout that are bf16 already, every product the kernels form from them is exact; only P and dS
  // are rounded (2^-9 relative each) where they enter dS K, P^T dO and dS^T Q. The gradients (accumulated
  // from 0) then stay within about 2^-9 of the sums of their terms' sizes: at most 3e-3 seen on gradients up to
  // 1.5, tolerance 1e-2. A mix-up of fragments, rows, keys or dimensions misses by the gradients' own size.
  auto rng = t::test_rng();
  for (const Bf16Case& c : bf16_cases(rng)) {
    CAPTURE(c.N);
    CAPTURE(c.C);
    const int64_t B = c.B, N = c.N, C = c.C, NH = c.NH;
    std::vector<float> out(size_t(B * N * C)), lse(size_t(B * NH * N)), want(size_t(B * N * 3 * C), 0.0f);
    simad::ops::attention_forward(out.data(), lse.data(), c.qkv.data(), c.mask.data(), B, N, C, NH);
    simad::ops::attention_backward(want.data(), c.dout.data(), c.qkv.data(), out.data(), lse.data(), c.mask.data(),
                                   B, N, C, NH);
    t::Dev<float> dqkv(c.qkv), ddout(c.dout), dout_fwd(out), dlse(lse), dgrad(std::vector<float>(want.size(), 0.0f));
    t::Dev<uint8_t> dmask(c.mask);
    k::attention_backward_bf16_tensor_cores(dgrad.ptr, ddout.ptr, dqkv.ptr, dout_fwd.ptr, dlse.ptr, dmask.ptr, B, N,
                                            C, NH);
    CUDA_OK(cudaDeviceSynchronize());
    const auto got = dgrad.get();
    double largest = 0;
    for (const float w : want) largest = std::max(largest, double(std::fabs(w)));
    CHECK(largest > 0.5);  // gradients to compare, not zeros
    for (int64_t i = 0; i < N * 3 * C; ++i) CHECK(got[size_t(i)] == 0.0f);  // sequence 0
    t::check_close(got, want, 1e-2, 0.0, "dqkv");
  }
}

}  // namespace SIMAD_TEST_FILE_ID
