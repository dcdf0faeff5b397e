// tests/cuda/kernels/test_dropout.cpp: kernels/dropout.cu (include/simad/cuda/kernels/dropout.hpp)
// and the Tensor dispatch of simad/ops/dispatch/dropout.hpp, under the emulator, against the CPU op of
// simad/ops/dropout.hpp. The masks must be EQUAL (the same Philox numbers, the same decision), and so
// must the outputs (out = inp * (1 / (1 - p)) in float on both). The CPU op itself is checked against
// Rng::uniform_at here too (a double-precision restatement of the rule), so the kernel is compared
// with an independent reference. Sizes 1, 31, 257, 3001; offsets even and odd (a Philox block holds two
// stream elements); p in {0, 0.1, 0.5, 0.93}. Outputs poisoned with NaN / 0xAB first; backward
// accumulates onto random values.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/cuda/kernels/dropout.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/dropout.hpp"
#include "simad/ops/dropout.hpp"
#include "cuda_compare.hpp"
#include "testing.hpp"

namespace {

using simad::Device;
using simad::Rng;
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

}  // namespace

TEST_CASE("cuda/dropout: the kernels' masks and outputs equal the CPU op's, which follows the uniform rule") {
  Rng data = simad::testing::test_rng(41);
  const Rng rng(20261205, 7);
  for (int64_t n : {1, 31, 257, 3001})
    for (uint64_t offset : {uint64_t(0), uint64_t(5), uint64_t(1) << 33})
      for (float p : {0.0f, 0.1f, 0.5f, 0.93f}) {
        CAPTURE(n);
        CAPTURE(offset);
        CAPTURE(p);
        const Tensor<float> inp = simad::testing::random_tensor<float>(data, {n});
        // The CPU op, checked against the rule u_i = uniform_at(offset + i) >= p.
        std::vector<float> cpu(static_cast<size_t>(n));
        std::vector<uint8_t> cpu_keep(static_cast<size_t>(n), 0xAB);
        ops::dropout_forward(cpu.data(), cpu_keep.data(), inp.data(), n, p, rng, offset);
        int64_t kept = 0;
        for (int64_t i = 0; i < n; ++i) {
          const bool k = rng.uniform_at(offset + uint64_t(i)) >= double(p);
          REQUIRE(cpu_keep[size_t(i)] == uint8_t(k));
          kept += k;
        }
        if (p == 0.0f) CHECK(kept == n);
        if (n == 3001 && p > 0.0f) CHECK(std::abs(double(kept) / double(n) - (1.0 - p)) < 0.05);
        // The kernel, on poisoned outputs.
        const Tensor<float> d_inp = simad::cuda::to_device(inp);
        const Tensor<float> d_out = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({n}));
        Tensor<uint8_t> keep_init = Tensor<uint8_t>::full({n}, uint8_t(0xAB));
        const Tensor<uint8_t> d_keep = simad::cuda::to_device(keep_init);
        ck::dropout_forward(d_out.data(), d_keep.data(), d_inp.data(), n, p, rng.seed(), rng.stream(), offset);
        const Tensor<float> out = simad::testing::from_gpu(d_out);
        const Tensor<uint8_t> keep = simad::testing::from_gpu(d_keep);
        for (int64_t i = 0; i < n; ++i) {
          REQUIRE(keep.data()[i] == cpu_keep[size_t(i)]);
          REQUIRE(std::memcmp(&out.data()[i], &cpu[size_t(i)], sizeof(float)) == 0);
        }
        // In place, without a mask: the same values.
        ck::dropout_forward(d_inp.data(), nullptr, d_inp.data(), n, p, rng.seed(), rng.stream(), offset);
        const Tensor<float> inplace = simad::testing::from_gpu(d_inp);
        for (int64_t i = 0; i < n; ++i) REQUIRE(std::memcmp(&inplace.data()[i], &cpu[size_t(i)], sizeof(float)) == 0);
        // Backward accumulates onto random values: dinp += keep ? dout / (1 - p) : 0.
        const Tensor<float> dout = simad::testing::random_tensor<float>(data, {n});
        const Tensor<float> dinp0 = simad::testing::random_tensor<float>(data, {n});
        std::vector<float> cpu_dinp(dinp0.data(), dinp0.data() + n);
        ops::dropout_backward(cpu_dinp.data(), dout.data(), cpu_keep.data(), n, p);
        for (int64_t i = 0; i < n; ++i) {
          const double want = double(dinp0.data()[i]) + (cpu_keep[size_t(i)] ? double(dout.data()[i]) / (1.0 - p) : 0.0);
          REQUIRE(std::abs(cpu_dinp[size_t(i)] - want) <= 1e-6 + 1e-6 * std::abs(want));
        }
        const Tensor<float> d_dinp = simad::cuda::to_device(dinp0), d_dout = simad::cuda::to_device(dout);
        ck::dropout_backward(d_dinp.data(), d_dout.data(), d_keep.data(), n, p);
        const Tensor<float> dinp = simad::testing::from_gpu(d_dinp);
        for (int64_t i = 0; i < n; ++i)
          REQUIRE(std::memcmp(&dinp.data()[i], &cpu_dinp[size_t(i)], sizeof(float)) == 0);
      }
}

TEST_CASE("cuda/dropout: p == 0 backward without a mask adds dout, and bad arguments throw") {
  Rng data = simad::testing::test_rng(42);
  const int64_t n = 100;
  const Tensor<float> dout = simad::testing::random_tensor<float>(data, {n});
  const Tensor<float> dinp0 = simad::testing::random_tensor<float>(data, {n});
  const Tensor<float> d_dinp = simad::cuda::to_device(dinp0), d_dout = simad::cuda::to_device(dout);
  ck::dropout_backward(d_dinp.data(), d_dout.data(), nullptr, n, 0.0f);
  const Tensor<float> dinp = simad::testing::from_gpu(d_dinp);
  for (int64_t i = 0; i < n; ++i) REQUIRE(dinp.data()[i] == dinp0.data()[i] + dout.data()[i]);
  CHECK_THROWS_AS(ck::dropout_backward(d_dinp.data(), d_dout.data(), nullptr, n, 0.5f), simad::Error);
  CHECK_THROWS_AS(ck::dropout_forward(d_dinp.data(), nullptr, d_dout.data(), n, 1.0f, 1, 0, 0), simad::Error);
  CHECK_THROWS_AS(ck::dropout_forward(d_dinp.data(), nullptr, d_dout.data(), -1, 0.5f, 1, 0, 0), simad::Error);
}

TEST_CASE("cuda/dropout: the Tensor dispatch runs the kernel on CUDA tensors and the CPU op on CPU ones") {
  Rng data = simad::testing::test_rng(43);
  const Rng rng(99, 3);
  const int64_t n = 777;
  const float p = 0.3f;
  const Tensor<float> inp = simad::testing::random_tensor<float>(data, {7, 111});
  const Tensor<float> out = simad::testing::poisoned_tensor<float>({7, 111});
  const Tensor<uint8_t> keep = Tensor<uint8_t>::full({n}, uint8_t(0xAB));
  ops::dropout_forward(out, keep, inp, p, rng, 11);
  const Tensor<float> d_out = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({7, 111}));
  const Tensor<uint8_t> d_keep = simad::cuda::to_device(Tensor<uint8_t>::full({n}, uint8_t(0xAB)));
  ops::dropout_forward(d_out, d_keep, simad::cuda::to_device(inp), p, rng, 11);
  const Tensor<float> g_out = simad::testing::from_gpu(d_out);
  const Tensor<uint8_t> g_keep = simad::testing::from_gpu(d_keep);
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(g_keep.data()[i] == keep.data()[i]);
    REQUIRE(g_out.data()[i] == out.data()[i]);
  }
  const Tensor<float> dout = simad::testing::random_tensor<float>(data, {7, 111});
  const Tensor<float> dinp = simad::testing::random_tensor<float>(data, {7, 111});
  const Tensor<float> d_dinp = simad::cuda::to_device(dinp);
  ops::dropout_backward(d_dinp, simad::cuda::to_device(dout), d_keep, p);
  ops::dropout_backward(dinp, dout, keep, p);
  const Tensor<float> g_dinp = simad::testing::from_gpu(d_dinp);
  for (int64_t i = 0; i < n; ++i) REQUIRE(g_dinp.data()[i] == dinp.data()[i]);
  CHECK_THROWS_AS(ops::dropout_forward(d_out, keep, inp, p, rng, 0), simad::Error);  // mixed devices
}
