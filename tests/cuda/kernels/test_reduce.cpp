// tests/cuda/kernels/test_reduce.cpp: kernels/reduce.cu under the SIMT emulator against the CPU ops of
// simad/ops/reduce.hpp (themselves tested against double references).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/reduce.hpp"
#include "simad/ops/reduce.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;

using t::Dev;
using t::same_bits;

struct Shape {
  int64_t N, C;
};
// 1 row, 1 column, not multiples of 32 or of the block; rows longer than a warp row and than a block
// (over columns); N > 64 rows make several chunks (over rows: 70 -> 2 chunks, 300 -> 5).
const Shape kShapes[] = {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {70, 45}, {300, 20}, {3, 1000}, {2, 1025}, {2, 3001}};
// Element counts for the all-elements sums: 8193 and 100003 make 2 and 13 partial blocks.
const int64_t kCounts[] = {1, 37, 1000, 8193, 100003};

constexpr double kAtol = 1e-6, kRtol = 1e-6;  // both sides sum in double: only the final rounding differs
constexpr double kBackTol = 1e-7;             // backward: the same float operations as the CPU op

using CpuFwd = void (*)(float*, const float*, int64_t, int64_t);
using GpuFwd = void (*)(float*, const float*, int64_t, int64_t, cudaStream_t);

}  // namespace

TEST_CASE("cuda/reduce: sum and mean over all elements match the CPU op") {
  auto rng = t::test_rng();
  for (const int64_t N : kCounts) {
    CAPTURE(N);
    const auto x = t::random_vector<float>(rng, std::size_t(N), -1.0, 3.0);
    float want_sum = 0, want_mean = 0;
    simad::ops::sum_forward(&want_sum, x.data(), N);
    simad::ops::mean_forward(&want_mean, x.data(), N);
    Dev<float> dx(x);
    auto ds = Dev<float>::poisoned(1), dm = Dev<float>::poisoned(1);
    k::sum_forward(ds.ptr, dx.ptr, N);
    k::mean_forward(dm.ptr, dx.ptr, N);
    CUDA_OK(cudaDeviceSynchronize());
    t::check_close(ds.get(), std::vector<float>{want_sum}, kAtol, kRtol, "sum");
    t::check_close(dm.get(), std::vector<float>{want_mean}, kAtol, kRtol, "mean");
  }
  // The sum of nothing is 0.
  auto ds = Dev<float>::poisoned(1);
  k::sum_forward(ds.ptr, nullptr, 0);
  CUDA_OK(cudaDeviceSynchronize());
  CHECK(ds.get()[0] == 0.0f);
}

TEST_CASE("cuda/reduce: sum and mean backward over all elements accumulate") {
  auto rng = t::test_rng();
  for (const int64_t N : {int64_t(1), int64_t(37), int64_t(3001)}) {
    CAPTURE(N);
    const auto g0 = t::random_vector<float>(rng, std::size_t(N));
    const std::vector<float> dout{1.7f};
    std::vector<float> want_s = g0, want_m = g0;
    simad::ops::sum_backward(want_s.data(), dout.data(), N);
    simad::ops::mean_backward(want_m.data(), dout.data(), N);
    Dev<float> gs(g0), gm(g0), dd(dout);
    k::sum_backward(gs.ptr, dd.ptr, N);
    k::mean_backward(gm.ptr, dd.ptr, N);
    CUDA_OK(cudaDeviceSynchronize());
    t::check_close(gs.get(), want_s, kBackTol, 0.0, "sum backward");
    t::check_close(gm.get(), want_m, kBackTol, 0.0, "mean backward");
  }
}

TEST_CASE("cuda/reduce: sums and means over rows and over columns match the CPU ops") {
  auto rng = t::test_rng();
  struct Op {
    const char* name;
    CpuFwd cpu;
    GpuFwd gpu;
    bool over_rows;
  };
  const Op ops[] = {{"sum_over_rows", simad::ops::sum_over_rows_forward<float>, k::sum_over_rows_forward, true},
                    {"mean_over_rows", simad::ops::mean_over_rows_forward<float>, k::mean_over_rows_forward, true},
                    {"sum_over_cols", simad::ops::sum_over_cols_forward<float>, k::sum_over_cols_forward, false},
                    {"mean_over_cols", simad::ops::mean_over_cols_forward<float>, k::mean_over_cols_forward, false}};
  for (const Op& op : ops) {
    for (const Shape s : kShapes) {
      CAPTURE(op.name);
      CAPTURE(s.N);
      CAPTURE(s.C);
      const auto x = t::random_vector<float>(rng, std::size_t(s.N * s.C), -1.0, 2.0);
      const std::size_t n_out = std::size_t(op.over_rows ? s.C : s.N);
      std::vector<float> want(n_out);
      op.cpu(want.data(), x.data(), s.N, s.C);
      Dev<float> dx(x);
      auto dout = Dev<float>::poisoned(n_out);
      op.gpu(dout.ptr, dx.ptr, s.N, s.C, nullptr);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(dout.get(), want, kAtol, kRtol, op.name);
    }
  }
}

TEST_CASE("cuda/reduce: backward over rows and over columns accumulates") {
  auto rng = t::test_rng();
  struct Op {
    const char* name;
    CpuFwd cpu;
    GpuFwd gpu;
    bool over_rows;
  };
  const Op ops[] = {{"sum_over_rows", simad::ops::sum_over_rows_backward<float>, k::sum_over_rows_backward, true},
                    {"mean_over_rows", simad::ops::mean_over_rows_backward<float>, k::mean_over_rows_backward, true},
                    {"sum_over_cols", simad::ops::sum_over_cols_backward<float>, k::sum_over_cols_backward, false},
                    {"mean_over_cols", simad::ops::mean_over_cols_backward<float>, k::mean_over_cols_backward, false}};
  for (const Op& op : ops) {
    for (const Shape s : kShapes) {
      CAPTURE(op.name);
      CAPTURE(s.N);
      CAPTURE(s.C);
      const auto g0 = t::random_vector<float>(rng, std::size_t(s.N * s.C));
      const auto dout = t::random_vector<float>(rng, std::size_t(op.over_rows ? s.C : s.N));
      std::vector<float> want = g0;
      op.cpu(want.data(), dout.data(), s.N, s.C);
      Dev<float> dg(g0), dd(dout);
      op.gpu(dg.ptr, dd.ptr, s.N, s.C, nullptr);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(dg.get(), want, kBackTol, 0.0, op.name);
    }
  }
}

TEST_CASE("cuda/reduce: two runs give identical bits") {
  auto rng = t::test_rng();
  const auto x = t::random_vector<float>(rng, 100003, -1.0, 3.0);
  Dev<float> dx(x);
  std::vector<float> all[2], rows[2], cols[2];
  for (int run = 0; run < 2; ++run) {
    auto a = Dev<float>::poisoned(1), r = Dev<float>::poisoned(1001), c = Dev<float>::poisoned(99);
    k::sum_forward(a.ptr, dx.ptr, 100003);
    k::mean_over_rows_forward(r.ptr, dx.ptr, 99, 1001);  // 2 chunks
    k::sum_over_cols_forward(c.ptr, dx.ptr, 99, 1001);
    CUDA_OK(cudaDeviceSynchronize());
    all[run] = a.get(), rows[run] = r.get(), cols[run] = c.get();
  }
  CHECK(same_bits(all[0], all[1]));
  CHECK(same_bits(rows[0], rows[1]));
  CHECK(same_bits(cols[0], cols[1]));
}

TEST_CASE("cuda/reduce: bad sizes and means of nothing throw") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::sum_forward(p, p, -1), simad::Error);
  CHECK_THROWS_AS(k::mean_forward(p, p, 0), simad::Error);
  CHECK_THROWS_AS(k::mean_backward(p, p, 0), simad::Error);
  CHECK_THROWS_AS(k::mean_over_rows_forward(p, p, 0, 3), simad::Error);
  CHECK_THROWS_AS(k::mean_over_cols_forward(p, p, 3, 0), simad::Error);
  CHECK_THROWS_AS(k::sum_over_rows_forward(p, p, -2, 3), simad::Error);
  CHECK_THROWS_AS(k::sum_over_cols_backward(p, nullptr, 2, 3), simad::Error);
  k::sum_over_cols_backward(nullptr, nullptr, 2, 3);  // null dinp: nothing
}
