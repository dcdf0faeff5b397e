// tests/cuda/models/test_transformer_on_cuda.cpp: the same model code on CPU and on (emulated) CUDA
// tensors. nn::TransformerEncoder runs every op through the Tensor dispatch, so moving its ParamStore to
// Device::cuda runs it on the kernels; here it must match the CPU module built from the same weights:
//   - forward (training, dropout 0.2: the kernels draw the CPU's masks) and backward (every parameter
//     gradient, and the input gradient of forward_vectors) within 2e-5 + 2e-4 |cpu| (float; the kernels
//     sum in other orders than OpenBLAS and the CPU attention);
//   - a tiny token tagger (encoder + linear head + cross-entropy over unpadded tokens, Adam) trained for
//     6 steps on each: the losses per step within 1e-4 relative, the final weights within 1e-4 + 1e-3
//     |cpu| (except the attention's key biases, whose gradient is exactly 0: see the test), and the loss
//     must fall (the run learns something on both).
// Batches have padding (lengths 7, 3, 1), POS-tag embeddings, GELU and ReLU layers.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/nn/transformer.hpp"
#include "simad/ops/dispatch/adam.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/dispatch/linear.hpp"
#include "cuda/kernels/cuda_compare.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Device;
using simad::Rng;
using simad::Tensor;
namespace nn = simad::nn;
namespace ops = simad::ops;
namespace train = simad::train;

void compare(const Tensor<float>& gpu, const Tensor<float>& cpu, double atol, double rtol, const std::string& what) {
  const Tensor<float> h = simad::testing::from_gpu(gpu);
  REQUIRE(h.numel() == cpu.numel());
  simad::testing::check_close(h, std::span<const float>(cpu.data(), size_t(cpu.numel())), atol, rtol, what);
}

nn::TransformerConfig tiny_config(nn::FfnActivation act) {
  nn::TransformerConfig c;
  c.d_model = 16, c.num_heads = 2, c.ffn_dim = 24, c.num_layers = 2, c.activation = act, c.dropout = 0.2;
  c.vocab_size = 40, c.pos_tag_count = 6;
  return c;
}

// One encoder (plus optional extra slices) on its own store, initialised from `seed`, on `device`.
struct Module {
  train::ParamStore<float> store;
  nn::TransformerEncoder<float> encoder;
  Module(const nn::TransformerConfig& cfg, uint64_t seed, Device device, int64_t head_classes = 0)
      : encoder(store, "enc.", cfg) {
    if (head_classes > 0) {
      store.add("head.weight", {head_classes, cfg.d_model});
      store.add("head.bias", {head_classes});
    }
    store.allocate();
    encoder.bind(store);
    Rng rng(seed);
    encoder.init(rng);
    if (head_classes > 0) store.init_uniform("head.weight", rng, -0.3, 0.3);
    store.move_to(device, [](const Tensor<float>& d, const Tensor<float>& s) { ops::copy(d, s); });
    encoder.bind(store);
  }
};

struct Batch {
  int64_t B = 3, N = 7;
  Tensor<int32_t> words, tags, targets;
  Tensor<uint8_t> mask;
  explicit Batch(Rng& rng, int32_t classes) {
    words = Tensor<int32_t>::empty({B, N}), tags = Tensor<int32_t>::empty({B, N});
    targets = Tensor<int32_t>::empty({B * N}), mask = Tensor<uint8_t>::empty({B, N});
    const int64_t lengths[] = {7, 3, 1};
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < N; ++t) {
        const bool real = t < lengths[b];
        words(b, t) = int32_t(rng.next_below(40)), tags(b, t) = int32_t(rng.next_below(6));
        mask(b, t) = uint8_t(real);
        // The tag to learn: a function of the word, so a model can fit it; padding ignored (-1).
        targets(b * N + t) = real ? int32_t(words(b, t) % classes) : -1;
      }
  }
};

template <typename T>
Tensor<T> on(const Tensor<T>& t, Device device) {
  return device == Device::cpu ? t : simad::cuda::to_device(t);
}

}  // namespace

TEST_CASE("cuda/models: the Transformer encoder on CUDA tensors equals the CPU encoder, forward and backward") {
  for (nn::FfnActivation act : {nn::FfnActivation::gelu, nn::FfnActivation::relu}) {
    CAPTURE(int(act));
    const nn::TransformerConfig cfg = tiny_config(act);
    Module cpu(cfg, 7, Device::cpu), gpu(cfg, 7, Device::cuda);
    REQUIRE(gpu.encoder.device() == Device::cuda);
    Rng rng = simad::testing::test_rng(61);
    const Batch b(rng, 3);
    const Rng drop_rng(1234, 5);
    const int64_t d = cfg.d_model;

    // From word ids, training mode (dropout on).
    nn::DropoutStream dc{&drop_rng, 17}, dg{&drop_rng, 17};
    const Tensor<float> out_c = simad::testing::poisoned_tensor<float>({b.B, b.N, d});
    const Tensor<float> out_g = on(simad::testing::poisoned_tensor<float>({b.B, b.N, d}), Device::cuda);
    cpu.encoder.forward(out_c, b.words, b.tags, b.mask, true, &dc);
    gpu.encoder.forward(out_g, on(b.words, Device::cuda), on(b.tags, Device::cuda), on(b.mask, Device::cuda), true, &dg);
    CHECK(dc.offset == dg.offset);
    CHECK(dc.offset > 17);
    compare(out_g, out_c, 2e-5, 2e-4, "forward");
    const Tensor<float> dout = simad::testing::random_tensor<float>(rng, {b.B, b.N, d});
    cpu.encoder.backward(Tensor<float>(), dout);
    gpu.encoder.backward(Tensor<float>(), on(dout, Device::cuda));
    compare(gpu.store.grads(), cpu.store.grads(), 2e-5, 2e-4, "parameter gradients");

    // From vectors (no embedding): the input gradient too, accumulated onto random values.
    const Tensor<float> x = simad::testing::random_tensor<float>(rng, {b.B, b.N, d});
    ops::fill(cpu.store.grads(), 0.0f), ops::fill(gpu.store.grads(), 0.0f);
    cpu.encoder.forward_vectors(out_c, x, b.mask, false);
    gpu.encoder.forward_vectors(out_g, on(x, Device::cuda), on(b.mask, Device::cuda), false);
    compare(out_g, out_c, 2e-5, 2e-4, "forward_vectors");
    const Tensor<float> dx_c = simad::testing::random_tensor<float>(rng, {b.B, b.N, d});
    const Tensor<float> dx_g = on(dx_c.clone(), Device::cuda);
    cpu.encoder.backward(dx_c, dout);
    gpu.encoder.backward(dx_g, on(dout, Device::cuda));
    compare(dx_g, dx_c, 2e-5, 2e-4, "input gradient");
    compare(gpu.store.grads(), cpu.store.grads(), 2e-5, 2e-4, "parameter gradients (vectors)");
  }
}

TEST_CASE("cuda/models: a tiny Transformer tagger trains on CUDA tensors as it does on the CPU") {
  const nn::TransformerConfig cfg = tiny_config(nn::FfnActivation::gelu);
  constexpr int32_t kClasses = 3;
  Rng rng = simad::testing::test_rng(62);
  const Batch b(rng, kClasses);
  const Rng drop_rng(777);
  train::AdamOptions adam;
  adam.lr = 3e-3;
  std::vector<double> losses[2];
  Tensor<float> final_params[2];
  for (Device device : {Device::cpu, Device::cuda}) {
    Module m(cfg, 11, device, kClasses);
    const int k = device == Device::cpu ? 0 : 1;
    const Tensor<float> m1 = Tensor<float>::empty(m.store.params().shape(), device);
    const Tensor<float> v1 = Tensor<float>::empty(m.store.params().shape(), device);
    ops::fill(m1, 0.0f), ops::fill(v1, 0.0f);
    const Tensor<int32_t> words = on(b.words, device), tags = on(b.tags, device), targets = on(b.targets, device);
    const Tensor<uint8_t> mask = on(b.mask, device);
    const Tensor<float> H = Tensor<float>::empty({b.B, b.N, cfg.d_model}, device);
    const Tensor<float> logits = Tensor<float>::empty({b.B * b.N, kClasses}, device);
    const Tensor<float> probs = Tensor<float>::empty({b.B * b.N, kClasses}, device);
    const Tensor<float> dlogits = Tensor<float>::empty({b.B * b.N, kClasses}, device);
    const Tensor<float> dH = Tensor<float>::empty({b.B * b.N, cfg.d_model}, device);
    nn::DropoutStream drop{&drop_rng, 0};
    for (int step = 1; step <= 6; ++step) {
      ops::fill(m.store.grads(), 0.0f);
      m.encoder.forward(H, words, tags, mask, true, &drop);
      const Tensor<float> H2 = H.reshape({b.B * b.N, cfg.d_model});
      ops::linear_forward(logits, H2, m.store.param("head.weight"), m.store.param("head.bias"));
      losses[k].push_back(double(ops::cross_entropy_forward(probs, logits, targets, -1)));
      ops::fill(dlogits, 0.0f), ops::fill(dH, 0.0f);
      ops::cross_entropy_backward(dlogits, 1.0f, probs, targets, -1);
      ops::linear_backward(dH, m.store.grad("head.weight"), m.store.grad("head.bias"), dlogits, H2,
                           m.store.param("head.weight"));
      m.encoder.backward(Tensor<float>(), dH.reshape({b.B, b.N, cfg.d_model}));
      train::adam_update(m.store.params(), m.store.grads(), m1, v1, step, adam, train::WeightDecay::l2);
    }
    final_params[k] = simad::testing::from_gpu(m.store.params()).clone();
  }
  REQUIRE(losses[0].size() == 6);
  for (size_t s = 0; s < losses[0].size(); ++s) {
    CAPTURE(s);
    CHECK(std::abs(losses[1][s] - losses[0][s]) <= 1e-4 * std::abs(losses[0][s]));
  }
  CHECK(losses[0].back() < 0.9 * losses[0].front());
  // Weights: all but the attention's KEY biases (in_proj_bias rows d..2d). Their true gradient is 0
  // (q . (k + b) shifts every score of a query by the same q . b, which softmax ignores), so both runs
  // feed Adam rounding noise, and Adam's m / sqrt(v) turns noise of either sign into steps of +-lr.
  Module layout(cfg, 11, Device::cpu, kClasses);
  std::vector<uint8_t> compared(static_cast<size_t>(final_params[0].numel()), 1);
  for (const train::ParamSlice& sl : layout.store)
    if (sl.name.ends_with("self_attn.in_proj_bias"))
      std::fill_n(compared.begin() + sl.offset + cfg.d_model, cfg.d_model, uint8_t(0));
  int64_t checked = 0, bad = 0;
  for (int64_t i = 0; i < final_params[0].numel(); ++i) {
    if (!compared[size_t(i)]) continue;
    const double c = final_params[0].data()[i], g = final_params[1].data()[i];
    ++checked;
    if (!(std::abs(g - c) <= 1e-4 + 1e-3 * std::abs(c))) {
      if (bad++ < 5) MESSAGE("weight ", i, ": cuda ", g, " cpu ", c);
    }
  }
  CHECK(checked == final_params[0].numel() - cfg.d_model * cfg.num_layers);
  CHECK(bad == 0);
}

}  // namespace SIMAD_TEST_FILE_ID
