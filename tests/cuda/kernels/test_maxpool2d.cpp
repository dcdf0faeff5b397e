// tests/cuda/kernels/test_maxpool2d.cpp: what the op harness (tests/op_cases/cases_darknet_layers.cpp)
// does not cover for kernels/maxpool2d.cu: NaN, infinities and ties give the CPU op's bits (values and
// argmax), and bad arguments throw before anything runs.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "device_buffer.hpp"
#include "simad/core/error.hpp"
#include "simad/cuda/kernels/maxpool2d.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace ck = simad::cuda::kernels;
using simad::testing::Dev;

}  // namespace

TEST_CASE("cuda/maxpool2d: NaN, infinities and ties give the CPU op's bits") {
  simad::Rng rng = simad::testing::test_rng(3);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // size/stride/padding: 2/2/0, 2/1/1 (yolov3-tiny's last pool), 3/2/1, 3/1/2
  for (const auto& [size, stride, padding] : {std::array<int64_t, 3>{2, 2, 0}, {2, 1, 1}, {3, 2, 1}, {3, 1, 2}}) {
    CAPTURE(size);
    CAPTURE(stride);
    const int64_t B = 2, C = 3, H = 11, W = 9;
    const int64_t Ho = simad::ops::maxpool2d_out_size(H, size, stride, padding);
    const int64_t Wo = simad::ops::maxpool2d_out_size(W, size, stride, padding);
    // Few distinct values (ties), with NaN, +-inf and -FLT_MAX sprinkled in.
    std::vector<float> x = simad::testing::random_vector<float>(rng, size_t(B * C * H * W), 0.0, 4.0);
    const float specials[] = {nan, inf, -inf, -std::numeric_limits<float>::max(), -0.0f};
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = std::floor(x[i]);
      if (rng.next_uniform() < 0.15) x[i] = specials[size_t(rng.next_uniform() * 5) % 5];
    }
    const std::vector<float> dout = simad::testing::random_vector<float>(rng, size_t(B * C * Ho * Wo));
    const std::vector<float> dinp0 = simad::testing::random_vector<float>(rng, x.size());
    std::vector<float> cpu_out(static_cast<size_t>(B * C * Ho * Wo)), cpu_noarg(cpu_out.size()), cpu_dinp = dinp0;
    std::vector<int32_t> cpu_arg(cpu_out.size());
    simad::ops::maxpool2d_forward(cpu_out.data(), x.data(), B, C, H, W, size, stride, padding, cpu_arg.data());
    simad::ops::maxpool2d_forward(cpu_noarg.data(), x.data(), B, C, H, W, size, stride, padding);
    simad::ops::maxpool2d_backward(cpu_dinp.data(), dout.data(), cpu_arg.data(), B, C, H, W, size, stride, padding);

    Dev<float> dx(x), ddout(dout), ddinp(dinp0);
    Dev<float> dout_arg = Dev<float>::poisoned(cpu_out.size()), dout_noarg = Dev<float>::poisoned(cpu_out.size());
    Dev<int32_t> darg(std::vector<int32_t>(cpu_out.size(), -7));
    ck::maxpool2d_forward(dout_arg.ptr, dx.ptr, B, C, H, W, size, stride, padding, darg.ptr);
    ck::maxpool2d_forward(dout_noarg.ptr, dx.ptr, B, C, H, W, size, stride, padding);
    ck::maxpool2d_backward(ddinp.ptr, ddout.ptr, darg.ptr, B, C, H, W, size, stride, padding);
    CUDA_OK(cudaDeviceSynchronize());
    CHECK(simad::testing::same_bits(dout_arg.get(), cpu_out));
    CHECK(simad::testing::same_bits(dout_noarg.get(), cpu_noarg));
    CHECK(darg.get() == cpu_arg);
    CHECK(simad::testing::same_bits(ddinp.get(), cpu_dinp));
  }
}

TEST_CASE("cuda/maxpool2d: bad arguments throw") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(ck::maxpool2d_forward(p, p, -1, 1, 4, 4, 2, 2, 0), simad::Error);
  CHECK_THROWS_AS(ck::maxpool2d_forward(p, p, 1, 1, 4, 4, 0, 2, 0), simad::Error);
  CHECK_THROWS_AS(ck::maxpool2d_forward(p, p, 1, 1, 1, 4, 3, 1, 1), simad::Error);  // window above H + padding
  CHECK_THROWS_AS(ck::maxpool2d_forward(nullptr, p, 1, 1, 4, 4, 2, 2, 0), simad::Error);
  CHECK_THROWS_AS(ck::maxpool2d_backward(p, p, nullptr, 1, 1, 4, 4, 2, 2, 0), simad::Error);
  CHECK_THROWS_AS(ck::maxpool2d_backward(p, p, nullptr, 1, 1, 0, 4, 2, 2, 0), simad::Error);
  CHECK_THROWS_AS(ck::maxpool2d_backward(p, p, reinterpret_cast<int32_t*>(16), 1, 1, 4, 4, 2, 0, 0), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
