// tests/cuda/kernels/test_layernorm.cpp: kernels/layernorm.cu under the SIMT emulator against the CPU
// op simad::ops::layernorm_{forward,backward} (itself tested against double references).
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/layernorm.hpp"
#include "simad/ops/layernorm.hpp"
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
// 1 row, 1 column, not multiples of 32 or of the block, rows longer than a warp row (1024) and than a
// block; N > 64 rows make several chunks in the dweight/dbias reduction (300: 5 chunks of 60 rows).
const Shape kShapes[] = {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {70, 45}, {300, 20}, {3, 1000}, {2, 1025}, {2, 3001}};

constexpr double kAtol = 1e-5, kRtol = 1e-5;

struct Case {
  std::vector<float> x, w, b;
};
Case make_case(simad::Rng& rng, Shape s) {
  Case c;
  c.x = t::random_vector<float>(rng, std::size_t(s.N * s.C), -2.0, 3.0);
  c.w = t::random_vector<float>(rng, std::size_t(s.C), 0.5, 1.5);
  c.b = t::random_vector<float>(rng, std::size_t(s.C));
  return c;
}

}  // namespace

TEST_CASE("cuda/layernorm: forward matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    for (int affine = 0; affine < 3; ++affine) {  // weight and bias / weight only / neither
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(affine);
      const Case c = make_case(rng, s);
      const float* w = affine <= 1 ? c.w.data() : nullptr;
      const float* b = affine == 0 ? c.b.data() : nullptr;
      std::vector<float> want(c.x.size()), want_mean(std::size_t(s.N)), want_rstd(std::size_t(s.N));
      simad::ops::layernorm_forward(want.data(), want_mean.data(), want_rstd.data(), c.x.data(), w, b, s.N, s.C);
      Dev<float> dx(c.x), dw(c.w), db(c.b);
      auto dy = Dev<float>::poisoned(c.x.size());
      auto dm = Dev<float>::poisoned(std::size_t(s.N)), dr = Dev<float>::poisoned(std::size_t(s.N));
      k::layernorm_forward(dy.ptr, dm.ptr, dr.ptr, dx.ptr, w ? dw.ptr : nullptr, b ? db.ptr : nullptr, s.N, s.C);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(dy.get(), want, kAtol, kRtol, "layernorm out");
      t::check_close(dm.get(), want_mean, 1e-6, kRtol, "layernorm mean");
      t::check_close(dr.get(), want_rstd, kAtol, kRtol, "layernorm rstd");
    }
  }
  // mean and rstd may be null.
  const Case c = make_case(rng, {4, 50});
  std::vector<float> want(c.x.size());
  simad::ops::layernorm_forward<float>(want.data(), nullptr, nullptr, c.x.data(), c.w.data(), c.b.data(), 4, 50, 1e-3f);
  Dev<float> dx(c.x), dw(c.w), db(c.b);
  auto dy = Dev<float>::poisoned(c.x.size());
  k::layernorm_forward(dy.ptr, nullptr, nullptr, dx.ptr, dw.ptr, db.ptr, 4, 50, 1e-3f);
  CUDA_OK(cudaDeviceSynchronize());
  t::check_close(dy.get(), want, kAtol, kRtol, "layernorm out without mean and rstd");
}

TEST_CASE("cuda/layernorm: backward accumulates and matches the CPU op") {
  auto rng = t::test_rng();
  for (const Shape s : kShapes) {
    for (int with_weight = 0; with_weight < 2; ++with_weight) {
      CAPTURE(s.N);
      CAPTURE(s.C);
      CAPTURE(with_weight);
      const Case c = make_case(rng, s);
      const std::size_t n = c.x.size(), C = std::size_t(s.C);
      const float* w = with_weight ? c.w.data() : nullptr;
      std::vector<float> y(n), mean(std::size_t(s.N)), rstd(std::size_t(s.N));
      simad::ops::layernorm_forward(y.data(), mean.data(), rstd.data(), c.x.data(), w, c.b.data(), s.N, s.C);
      const auto dy = t::random_vector<float>(rng, n);
      const auto dx0 = t::random_vector<float>(rng, n), dw0 = t::random_vector<float>(rng, C),
                 db0 = t::random_vector<float>(rng, C);  // non-zero: backward accumulates
      std::vector<float> dx = dx0, dw = dw0, db = db0;
      simad::ops::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), c.x.data(), w, mean.data(),
                                     rstd.data(), s.N, s.C);
      Dev<float> ddx(dx0), ddw(dw0), ddb(db0), ddy(dy), dxx(c.x), dww(c.w), dm(mean), dr(rstd);
      k::layernorm_backward(ddx.ptr, ddw.ptr, ddb.ptr, ddy.ptr, dxx.ptr, w ? dww.ptr : nullptr, dm.ptr, dr.ptr, s.N,
                            s.C);
      CUDA_OK(cudaDeviceSynchronize());
      t::check_close(ddx.get(), dx, kAtol, kRtol, "layernorm dinp");
      t::check_close(ddw.get(), dw, 2e-5, kRtol, "layernorm dweight");
      t::check_close(ddb.get(), db, 2e-5, kRtol, "layernorm dbias");
    }
  }
}

TEST_CASE("cuda/layernorm: backward skips null gradients") {
  auto rng = t::test_rng();
  const Shape s{130, 40};
  const Case c = make_case(rng, s);
  const std::size_t n = c.x.size(), C = std::size_t(s.C);
  std::vector<float> y(n), mean(std::size_t(s.N)), rstd(std::size_t(s.N));
  simad::ops::layernorm_forward(y.data(), mean.data(), rstd.data(), c.x.data(), c.w.data(), c.b.data(), s.N, s.C);
  const auto dy = t::random_vector<float>(rng, n), db0 = t::random_vector<float>(rng, C);
  std::vector<float> db = db0;
  simad::ops::layernorm_backward<float>(nullptr, nullptr, db.data(), dy.data(), c.x.data(), c.w.data(), mean.data(),
                                        rstd.data(), s.N, s.C);
  Dev<float> ddb(db0), ddy(dy), dxx(c.x), dww(c.w), dm(mean), dr(rstd);
  k::layernorm_backward(nullptr, nullptr, ddb.ptr, ddy.ptr, dxx.ptr, dww.ptr, dm.ptr, dr.ptr, s.N, s.C);
  k::layernorm_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, s.N, s.C);
  CUDA_OK(cudaDeviceSynchronize());
  t::check_close(ddb.get(), db, 2e-5, kRtol, "layernorm dbias alone");
}

TEST_CASE("cuda/layernorm: two runs give identical bits") {
  auto rng = t::test_rng();
  for (const Shape s : {Shape{300, 20}, Shape{2, 3001}}) {
    const Case c = make_case(rng, s);
    const std::size_t n = c.x.size(), C = std::size_t(s.C);
    const auto dy = t::random_vector<float>(rng, n);
    Dev<float> dxx(c.x), dww(c.w), dbb(c.b), ddy(dy);
    std::vector<float> out[2], dx[2], dw[2], db[2];
    for (int run = 0; run < 2; ++run) {
      auto y = Dev<float>::poisoned(n), m = Dev<float>::poisoned(std::size_t(s.N)),
           r = Dev<float>::poisoned(std::size_t(s.N));
      Dev<float> gx(std::vector<float>(n, 0.25f)), gw(std::vector<float>(C, 0.0f)), gb(std::vector<float>(C, 1.0f));
      k::layernorm_forward(y.ptr, m.ptr, r.ptr, dxx.ptr, dww.ptr, dbb.ptr, s.N, s.C);
      k::layernorm_backward(gx.ptr, gw.ptr, gb.ptr, ddy.ptr, dxx.ptr, dww.ptr, m.ptr, r.ptr, s.N, s.C);
      CUDA_OK(cudaDeviceSynchronize());
      out[run] = y.get(), dx[run] = gx.get(), dw[run] = gw.get(), db[run] = gb.get();
    }
    CHECK(same_bits(out[0], out[1]));
    CHECK(same_bits(dx[0], dx[1]));
    CHECK(same_bits(dw[0], dw[1]));
    CHECK(same_bits(db[0], db[1]));
  }
}

TEST_CASE("cuda/layernorm: bad arguments throw") {
  float* p = reinterpret_cast<float*>(16);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, -1, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, 2, 0), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(p, nullptr, nullptr, p, nullptr, nullptr, 2, 3, -1.0f), simad::Error);
  CHECK_THROWS_AS(k::layernorm_forward(nullptr, nullptr, nullptr, p, nullptr, nullptr, 2, 3), simad::Error);
  CHECK_THROWS_AS(k::layernorm_backward(p, nullptr, nullptr, p, p, nullptr, nullptr, p, 2, 3), simad::Error);
}
