// tests/cuda/kernels/test_concat.cpp: kernels/concat.cu against plain index loops, and the Tensor
// dispatch of simad/ops/dispatch/concat.hpp (CUDA tensors) against the CPU op, under the emulator.
// Copies and one addition per element: the results must be exact. The whole is poisoned first, so a
// column no part writes is caught; the backward accumulates onto random values.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/concat.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/concat.hpp"
#include "cuda_compare.hpp"
#include "testing.hpp"

namespace {

using simad::Rng;
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

}  // namespace

TEST_CASE("cuda/concat: parts land in their columns, and the backward adds each part's columns") {
  Rng rng = simad::testing::test_rng(81);
  for (int64_t outer : {1, 7, 130}) {
    CAPTURE(outer);
    const std::vector<int64_t> widths = {3, 1, 300};
    const int64_t total = 304;
    std::vector<Tensor<float>> parts;
    for (int64_t w : widths) parts.push_back(simad::testing::random_tensor<float>(rng, {outer, w}));
    const Tensor<float> d_whole = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({outer, total}));
    int64_t offset = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      ck::concat_part_forward(d_whole.data(), simad::cuda::to_device(parts[p]).data(), outer, total, offset, widths[p]);
      offset += widths[p];
    }
    const Tensor<float> whole = simad::testing::from_gpu(d_whole);
    offset = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      for (int64_t r = 0; r < outer; ++r)
        for (int64_t j = 0; j < widths[p]; ++j) REQUIRE(whole(r, offset + j) == parts[p](r, j));
      offset += widths[p];
    }
    // Backward onto random values.
    const Tensor<float> dwhole = simad::testing::random_tensor<float>(rng, {outer, total});
    offset = 0;
    for (size_t p = 0; p < parts.size(); ++p) {
      const Tensor<float> d0 = simad::testing::random_tensor<float>(rng, {outer, widths[p]});
      const Tensor<float> dd = simad::cuda::to_device(d0);
      ck::concat_part_backward(dd.data(), simad::cuda::to_device(dwhole).data(), outer, total, offset, widths[p]);
      const Tensor<float> got = simad::testing::from_gpu(dd);
      for (int64_t r = 0; r < outer; ++r)
        for (int64_t j = 0; j < widths[p]; ++j) REQUIRE(got(r, j) == d0(r, j) + dwhole(r, offset + j));
      offset += widths[p];
    }
  }
  CHECK_THROWS_AS(ck::concat_part_forward(nullptr, nullptr, 2, 4, 3, 2), simad::Error);
  CHECK_THROWS_AS(ck::concat_part_backward(nullptr, nullptr, 2, 4, -1, 2), simad::Error);
}

TEST_CASE("cuda/concat: the Tensor dispatch on CUDA tensors equals the CPU op") {
  Rng rng = simad::testing::test_rng(82);
  const Tensor<float> a = simad::testing::random_tensor<float>(rng, {2, 3, 5});
  const Tensor<float> b = simad::testing::random_tensor<float>(rng, {2, 3, 7});
  const Tensor<float> out_c = simad::testing::poisoned_tensor<float>({2, 3, 12});
  ops::concat_forward(out_c, {a, b});
  const Tensor<float> out_g = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({2, 3, 12}));
  ops::concat_forward(out_g, {simad::cuda::to_device(a), simad::cuda::to_device(b)});
  simad::testing::check_close(simad::testing::from_gpu(out_g), std::span<const float>(out_c.span()), 0.0, 0.0, "forward");
  const Tensor<float> dout = simad::testing::random_tensor<float>(rng, {2, 3, 12});
  const Tensor<float> da = simad::testing::random_tensor<float>(rng, {2, 3, 5});
  const Tensor<float> db = simad::testing::random_tensor<float>(rng, {2, 3, 7});
  const Tensor<float> da_g = simad::cuda::to_device(da), db_g = simad::cuda::to_device(db);
  ops::concat_backward({da, db}, dout);
  ops::concat_backward({da_g, db_g}, simad::cuda::to_device(dout));
  simad::testing::check_close(simad::testing::from_gpu(da_g), std::span<const float>(da.span()), 0.0, 0.0, "da");
  simad::testing::check_close(simad::testing::from_gpu(db_g), std::span<const float>(db.span()), 0.0, 0.0, "db");
  CHECK_THROWS_AS(ops::concat_forward(out_c, {a, a}), simad::Error);  // widths add up to 10, not 12
  CHECK_THROWS_AS(ops::concat_forward(out_g, {a, b}), simad::Error);  // mixed devices
}
