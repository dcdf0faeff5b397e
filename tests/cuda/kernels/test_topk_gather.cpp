// tests/cuda/kernels/test_topk_gather.cpp: kernels/topk_gather.cu and the Tensor dispatch of
// simad/ops/dispatch/topk_gather.hpp against the CPU op of simad/ops/topk_gather.hpp (tested against
// references in tests/ops/test_topk_gather.cpp), under the emulator: slots with -1, weighted and
// unweighted, C above a block. Outputs poisoned; backward accumulates onto random values.
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/topk_gather.hpp"
#include "simad/ops/dispatch/topk_gather.hpp"
#include "cuda_compare.hpp"

namespace {
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;
namespace st = simad::testing;
}  // namespace

TEST_CASE("cuda/topk_gather: gather and both gradients equal the CPU op") {
  simad::Rng rng = st::test_rng(121);
  for (auto [B, S, k, C] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 1, 1}, {4, 6, 3, 5}, {3, 9, 4, 300}}) {
    CAPTURE(B);
    CAPTURE(C);
    const Tensor<float> inp = st::random_tensor<float>(rng, {B, S, C});
    const Tensor<float> score = st::random_tensor<float>(rng, {B, S});
    Tensor<uint8_t> mask = Tensor<uint8_t>::full({B, S}, 1);
    if (B > 1) for (int64_t s = 1; s < S; ++s) mask(1, s) = 0;  // set 1 has one member: empty slots
    Tensor<int32_t> idx = Tensor<int32_t>::empty({B, k});
    ops::topk_select(idx.data(), score.data(), mask.data(), B, S, k);
    const Tensor<float> w = st::random_tensor<float>(rng, {B, k});
    for (bool weighted : {true, false}) {
      CAPTURE(weighted);
      const float* pw = weighted ? w.data() : nullptr;
      const Tensor<float> out = st::poisoned_tensor<float>({B, k, C});
      ops::topk_gather_forward(out.data(), inp.data(), pw, idx.data(), B, S, k, C);
      const Tensor<float> d_inp = st::to_gpu(inp), d_w = st::to_gpu(w);
      const Tensor<int32_t> d_idx = st::to_gpu(idx);
      const Tensor<float> d_out = st::to_gpu(st::poisoned_tensor<float>({B, k, C}));
      ck::topk_gather_forward(d_out.data(), d_inp.data(), weighted ? d_w.data() : nullptr, d_idx.data(), B, S, k, C);
      st::compare_gpu(d_out, out, "out");
      const Tensor<float> g = st::random_tensor<float>(rng, {B, k, C});
      const Tensor<float> di0 = st::random_tensor<float>(rng, {B, S, C}), dw0 = st::random_tensor<float>(rng, {B, k});
      const Tensor<float> di = di0.clone(), dw = dw0.clone();
      ops::topk_gather_backward(di.data(), dw.data(), g.data(), inp.data(), pw, idx.data(), B, S, k, C);
      const Tensor<float> d_di = st::to_gpu(di0), d_dw = st::to_gpu(dw0);
      ck::topk_gather_backward(d_di.data(), d_dw.data(), st::to_gpu(g).data(), d_inp.data(),
                               weighted ? d_w.data() : nullptr, d_idx.data(), B, S, k, C);
      st::compare_gpu(d_di, di, "dinp");
      st::compare_gpu(d_dw, dw, "dweight");
      // The dispatch.
      const Tensor<float> t_out = st::to_gpu(st::poisoned_tensor<float>({B, k, C}));
      ops::topk_gather_forward(t_out, d_inp, weighted ? d_w : Tensor<float>(), d_idx);
      st::compare_gpu(t_out, out, "dispatch out");
      const Tensor<float> t_di = st::to_gpu(di0), t_dw = st::to_gpu(dw0);
      ops::topk_gather_backward(t_di, t_dw, st::to_gpu(g), d_inp, weighted ? d_w : Tensor<float>(), d_idx);
      st::compare_gpu(t_di, di, "dispatch dinp");
      st::compare_gpu(t_dw, dw, "dispatch dweight");
    }
  }
  CHECK_THROWS_AS(ck::topk_gather_forward(nullptr, nullptr, nullptr, nullptr, 1, -1, 1, 1), simad::Error);
}
