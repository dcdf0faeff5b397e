// tests/cuda/kernels/test_triplet.cpp: kernels/triplet.cu under the SIMT emulator against the CPU op
// simad::ops::batch_hard_triplet_{forward,backward} (itself tested against brute force in double and
// finite differences, tests/ops/test_triplet.cpp). Selections must be identical (same arithmetic);
// loss and gradient within float rounding of a different summation order.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/triplet.hpp"
#include "simad/ops/triplet.hpp"
#include "device_buffer.hpp"
#include "testing.hpp"

namespace {

namespace k = simad::cuda::kernels;
namespace t = simad::testing;
using simad::ops::TripletDistance;
using t::Dev;

struct Out {
  float loss;
  int64_t skipped;
  std::vector<int32_t> pos, neg;
  std::vector<float> grad;
};

Out run_gpu(const std::vector<float>& emb, const std::vector<int32_t>& labels, int64_t B, int64_t D, float margin,
            TripletDistance dist, const std::vector<float>& grad0) {
  Dev<float> de(emb), dg(grad0), dloss = Dev<float>::poisoned(1);
  Dev<int32_t> dl(labels), dp = Dev<int32_t>::poisoned(size_t(B)), dn = Dev<int32_t>::poisoned(size_t(B));
  Dev<int64_t> ds = Dev<int64_t>::poisoned(1);
  const size_t ws = k::triplet_workspace_bytes(B);
  Dev<unsigned char> w(std::vector<unsigned char>(std::max<size_t>(ws, 1), 0xff));
  k::batch_hard_triplet_forward(dloss.ptr, dp.ptr, dn.ptr, ds.ptr, de.ptr, dl.ptr, B, D, margin, dist, w.ptr, ws);
  k::batch_hard_triplet_backward(dg.ptr, 1.5f, de.ptr, dp.ptr, dn.ptr, B, D, margin, dist, w.ptr, ws);
  CUDA_OK(cudaDeviceSynchronize());
  return {dloss.get()[0], ds.get()[0], dp.get(), dn.get(), dg.get()};
}

Out run_cpu(const std::vector<float>& emb, const std::vector<int32_t>& labels, int64_t B, int64_t D, float margin,
            TripletDistance dist, const std::vector<float>& grad0) {
  Out o{0.0f, 0, std::vector<int32_t>(size_t(B)), std::vector<int32_t>(size_t(B)), grad0};
  simad::ops::batch_hard_triplet_forward(&o.loss, o.pos.data(), o.neg.data(), &o.skipped, emb.data(), labels.data(), B,
                                         D, margin, dist);
  simad::ops::batch_hard_triplet_backward(o.grad.data(), 1.5f, emb.data(), o.pos.data(), o.neg.data(), B, D, margin,
                                          dist);
  return o;
}

}  // namespace

TEST_CASE("cuda/triplet: forward and backward match the CPU op") {
  auto rng = t::test_rng();
  struct Shape {
    int64_t B, D;
    uint32_t classes;
  };
  for (const Shape s : {Shape{1, 3, 1}, Shape{2, 1, 2}, Shape{7, 5, 3}, Shape{33, 17, 4}, Shape{70, 40, 9}}) {
    for (const TripletDistance dist : {TripletDistance::Squared, TripletDistance::Euclidean}) {
      CAPTURE(s.B);
      CAPTURE(s.D);
      const auto emb = t::random_vector<float>(rng, size_t(s.B * s.D));
      std::vector<int32_t> labels(static_cast<size_t>(s.B));
      for (auto& l : labels) l = int32_t(rng.next_below(s.classes));
      if (s.B > 5) labels[3] = 77;  // a lonely label: no positive
      const auto g0 = t::random_vector<float>(rng, size_t(s.B * s.D));
      const Out got = run_gpu(emb, labels, s.B, s.D, 0.4f, dist, g0);
      const Out want = run_cpu(emb, labels, s.B, s.D, 0.4f, dist, g0);
      CHECK(got.pos == want.pos);
      CHECK(got.neg == want.neg);
      CHECK(got.skipped == want.skipped);
      t::check_close(std::vector<float>{got.loss}, std::vector<float>{want.loss}, 1e-6, 1e-6, "loss");
      t::check_close(got.grad, want.grad, 1e-6, 1e-5, "gradient");
    }
  }
}

TEST_CASE("cuda/triplet: integer data with ties picks the smaller index") {
  auto rng = t::test_rng();
  const int64_t B = 45, D = 2;
  std::vector<float> emb(size_t(B * D));
  for (auto& x : emb) x = float(int(rng.next_below(3)) - 1);
  std::vector<int32_t> labels(static_cast<size_t>(B));
  for (auto& l : labels) l = int32_t(rng.next_below(3));
  const std::vector<float> g0(size_t(B * D), 0.0f);
  const Out got = run_gpu(emb, labels, B, D, 1.0f, TripletDistance::Squared, g0);
  const Out want = run_cpu(emb, labels, B, D, 1.0f, TripletDistance::Squared, g0);
  CHECK(got.pos == want.pos);
  CHECK(got.neg == want.neg);
  t::check_close(got.grad, want.grad, 1e-6, 1e-5, "gradient");
}

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
