// tests/cuda/kernels/test_keyword_gate.cpp: kernels/keyword_gate.cu and the Tensor dispatch against
// the CPU op of simad/ops/keyword_gate.hpp (tested against the definition and finite differences in
// tests/ops/test_weighted_mean.cpp), under the emulator: hard and soft, padded words, probabilities at
// exactly 0.5. Outputs poisoned; the backward accumulates onto random values.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/keyword_gate.hpp"
#include "simad/ops/dispatch/keyword_gate.hpp"
#include "cuda_compare.hpp"

namespace {
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;
namespace st = simad::testing;
}  // namespace

TEST_CASE("cuda/keyword_gate: weights and the soft backward equal the CPU op") {
  simad::Rng rng = st::test_rng(151);
  const int64_t N = 301;
  Tensor<float> probs = Tensor<float>::empty({N, 2});
  Tensor<uint8_t> mask = Tensor<uint8_t>::empty({N});
  for (int64_t i = 0; i < N; ++i) {
    const float p1 = i % 10 == 0 ? 0.5f : float(rng.next_uniform());
    probs(i, 1) = p1, probs(i, 0) = 1.0f - p1;
    mask(i) = uint8_t(i % 7 != 3);
  }
  const Tensor<float> d_probs = st::to_gpu(probs);
  const Tensor<uint8_t> d_mask = st::to_gpu(mask);
  for (bool hard : {true, false}) {
    const Tensor<float> lambda = st::poisoned_tensor<float>({N});
    ops::keyword_gate_forward(lambda.data(), probs.data(), mask.data(), N, hard);
    const Tensor<float> d_lambda = st::to_gpu(st::poisoned_tensor<float>({N}));
    ck::keyword_gate_forward(d_lambda.data(), d_probs.data(), d_mask.data(), N, hard);
    st::compare_gpu(d_lambda, lambda, hard ? "hard" : "soft", 0.0, 0.0);
    const Tensor<float> t_lambda = st::to_gpu(st::poisoned_tensor<float>({N}));
    ops::keyword_gate_forward(t_lambda, d_probs, d_mask, hard);
    st::compare_gpu(t_lambda, lambda, "dispatch", 0.0, 0.0);
  }
  const Tensor<float> dl = st::random_tensor<float>(rng, {N}), z0 = st::random_tensor<float>(rng, {N, 2});
  const Tensor<float> z = z0.clone();
  ops::keyword_gate_backward(z.data(), dl.data(), probs.data(), mask.data(), N);
  const Tensor<float> d_z = st::to_gpu(z0);
  ck::keyword_gate_backward(d_z.data(), st::to_gpu(dl).data(), d_probs.data(), d_mask.data(), N);
  st::compare_gpu(d_z, z, "dlogits");
  const Tensor<float> t_z = st::to_gpu(z0);
  ops::keyword_gate_backward(t_z, st::to_gpu(dl), d_probs, d_mask);
  st::compare_gpu(t_z, z, "dispatch dlogits");
  CHECK_THROWS_AS(ck::keyword_gate_forward(nullptr, nullptr, nullptr, -1, true), simad::Error);
}
