// tests/cuda/kernels/test_dispatch.cpp: the Tensor dispatch of simad/ops/dispatch/{softmax,layernorm,
// cross_entropy,embedding,reduce}.hpp: the same call on CPU tensors (the CPU ops) and on Device::cuda
// tensors (the kernels of kernels/{softmax,layernorm,cross_entropy,embedding,reduce}.cu) gives the same
// results within |gpu - cpu| <= 1e-6 + 1e-5 |cpu| (embedding backward, float atomics: 1e-5 + 1e-5 |cpu|).
// CUDA outputs are poisoned with NaN first; backward passes start from the same random gradients (they
// accumulate). Mixed CPU / CUDA calls throw simad::Error.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/dispatch/reduce.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "testing.hpp"

namespace {

using simad::Tensor;
namespace ops = simad::ops;

constexpr double kAtol = 1e-6, kRtol = 1e-5;

template <typename T>
Tensor<T> dev(const Tensor<T>& t) {
  return simad::cuda::to_device(t);
}
Tensor<float> dev_poisoned(const simad::Shape& shape) {
  return simad::cuda::to_device(simad::testing::poisoned_tensor<float>(shape));
}
void compare(const Tensor<float>& gpu, const Tensor<float>& cpu, const std::string& what, double atol = kAtol) {
  SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
  SIMAD_CUDA_CHECK(cudaGetLastError());
  const Tensor<float> h = simad::cuda::to_host(gpu);
  REQUIRE_MESSAGE(h.shape() == cpu.shape(), what, ": shapes differ");
  simad::testing::check_close(h, std::span<const float>(cpu.data(), size_t(cpu.numel())), atol, kRtol, what);
}

}  // namespace

TEST_CASE("cuda/dispatch: softmax Tensor calls agree on CPU and CUDA tensors") {
  auto rng = simad::testing::test_rng();
  const simad::Shape shape{3, 5, 37};
  const Tensor<float> x = simad::testing::random_tensor<float>(rng, shape, -4.0, 4.0);
  Tensor<uint8_t> mask = Tensor<uint8_t>::empty(shape);
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data()[i] = uint8_t((i * 7 + 3) % 5 != 0);
  for (int64_t j = 0; j < 37; ++j) mask.data()[2 * 37 + j] = 0;  // a fully padded row
  const Tensor<float> dx = dev(x);
  const Tensor<uint8_t> dmask = dev(mask);

  Tensor<float> y = Tensor<float>::empty(shape);
  Tensor<float> dy = dev_poisoned(shape);
  ops::softmax_forward(y, x);
  ops::softmax_forward(dy, dx);
  compare(dy, y, "softmax_forward");

  Tensor<float> ym = Tensor<float>::empty(shape);
  Tensor<float> dym = dev_poisoned(shape);
  ops::softmax_forward(ym, x, &mask);
  ops::softmax_forward(dym, dx, &dmask);
  compare(dym, ym, "softmax_forward masked");

  const Tensor<float> g = simad::testing::random_tensor<float>(rng, shape);
  const Tensor<float> gin = simad::testing::random_tensor<float>(rng, shape);
  const Tensor<float> dgin = dev(gin);
  ops::softmax_backward(gin, g, ym);
  ops::softmax_backward(dgin, dev(g), dym);
  compare(dgin, gin, "softmax_backward");
  ops::softmax_backward(Tensor<float>(), dev(g), dym);  // undefined dinp: skipped

  CHECK_THROWS_AS(ops::softmax_forward(dy, x), simad::Error);
  CHECK_THROWS_AS(ops::softmax_forward(dy, dx, &mask), simad::Error);
  CHECK_THROWS_AS(ops::softmax_backward(dgin, g, dym), simad::Error);
  CHECK_THROWS_AS(ops::softmax_forward(dy, dev(Tensor<float>::zeros({3, 5, 36}))), simad::Error);
}

TEST_CASE("cuda/dispatch: layernorm Tensor calls agree on CPU and CUDA tensors") {
  auto rng = simad::testing::test_rng(1);
  const int64_t C = 45;
  const simad::Shape shape{4, 6, C};
  const Tensor<float> x = simad::testing::random_tensor<float>(rng, shape, -2.0, 3.0);
  const Tensor<float> w = simad::testing::random_tensor<float>(rng, {C}, 0.5, 1.5);
  const Tensor<float> b = simad::testing::random_tensor<float>(rng, {C});
  const Tensor<float> dx = dev(x), dw = dev(w), db = dev(b);

  Tensor<float> y = Tensor<float>::empty(shape), mean = Tensor<float>::empty({4, 6}),
                rstd = Tensor<float>::empty({4, 6});
  Tensor<float> dy = dev_poisoned(shape), dmean = dev_poisoned({4, 6}), drstd = dev_poisoned({4, 6});
  ops::layernorm_forward(y, mean, rstd, x, w, b, 1e-5f);
  ops::layernorm_forward(dy, dmean, drstd, dx, dw, db, 1e-5f);
  compare(dy, y, "layernorm_forward out");
  compare(dmean, mean, "layernorm_forward mean");
  compare(drstd, rstd, "layernorm_forward rstd");

  // inference: no mean / rstd, no weight / bias
  Tensor<float> y2 = Tensor<float>::empty(shape);
  Tensor<float> dy2 = dev_poisoned(shape);
  ops::layernorm_forward(y2, Tensor<float>(), Tensor<float>(), x, Tensor<float>(), Tensor<float>(), 1e-5f);
  ops::layernorm_forward(dy2, Tensor<float>(), Tensor<float>(), dx, Tensor<float>(), Tensor<float>(), 1e-5f);
  compare(dy2, y2, "layernorm_forward inference");

  const Tensor<float> g = simad::testing::random_tensor<float>(rng, shape);
  const Tensor<float> gin = simad::testing::random_tensor<float>(rng, shape);
  const Tensor<float> gw = simad::testing::random_tensor<float>(rng, {C});
  const Tensor<float> gb = simad::testing::random_tensor<float>(rng, {C});
  const Tensor<float> dg = dev(g), dgin = dev(gin), dgw = dev(gw), dgb = dev(gb);
  ops::layernorm_backward(gin, gw, gb, g, x, w, mean, rstd);
  ops::layernorm_backward(dgin, dgw, dgb, dg, dx, dw, dmean, drstd);
  compare(dgin, gin, "layernorm_backward dinp");
  compare(dgw, gw, "layernorm_backward dweight");
  compare(dgb, gb, "layernorm_backward dbias");
  // only dinp, no weight
  ops::layernorm_backward(gin, Tensor<float>(), Tensor<float>(), g, x, Tensor<float>(), mean, rstd);
  ops::layernorm_backward(dgin, Tensor<float>(), Tensor<float>(), dg, dx, Tensor<float>(), dmean, drstd);
  compare(dgin, gin, "layernorm_backward dinp only");

  CHECK_THROWS_AS(ops::layernorm_forward(dy, dmean, drstd, x, dw, db, 1e-5f), simad::Error);
  CHECK_THROWS_AS(ops::layernorm_forward(dy, dmean, drstd, dx, w, db, 1e-5f), simad::Error);
  CHECK_THROWS_AS(ops::layernorm_backward(dgin, dgw, gb, dg, dx, dw, dmean, drstd), simad::Error);
  CHECK_THROWS_AS(ops::layernorm_forward(dy, dmean, drstd, dx, dev(Tensor<float>::zeros({C + 1})), db, 1e-5f),
                  simad::Error);
}

TEST_CASE("cuda/dispatch: cross_entropy Tensor calls agree on CPU and CUDA tensors") {
  auto rng = simad::testing::test_rng(2);
  const int64_t N = 20, C = 37;
  const int32_t ignore = -100;
  const Tensor<float> logits = simad::testing::random_tensor<float>(rng, {N, C}, -5.0, 5.0);
  Tensor<int32_t> targets = Tensor<int32_t>::empty({N});
  for (int64_t i = 0; i < N; ++i) targets.data()[i] = int32_t((i * 11 + 2) % C);
  targets.data()[3] = ignore;
  targets.data()[17] = ignore;
  const Tensor<float> dlog = dev(logits);
  const Tensor<int32_t> dtargets = dev(targets);

  Tensor<float> probs = Tensor<float>::empty({N, C});
  Tensor<float> dprobs = dev_poisoned({N, C});
  const float loss = ops::cross_entropy_forward(probs, logits, targets, ignore);
  const float dloss_gpu = ops::cross_entropy_forward(dprobs, dlog, dtargets, ignore);
  CHECK(std::fabs(double(dloss_gpu) - double(loss)) <= kAtol + kRtol * std::fabs(double(loss)));
  compare(dprobs, probs, "cross_entropy_forward probs");
  // no probs (no backward follows)
  const float loss2 = ops::cross_entropy_forward(Tensor<float>(), dlog, dtargets, ignore);
  CHECK(std::fabs(double(loss2) - double(loss)) <= kAtol + kRtol * std::fabs(double(loss)));

  const Tensor<float> g = simad::testing::random_tensor<float>(rng, {N, C});
  const Tensor<float> dg = dev(g);
  ops::cross_entropy_backward(g, 0.7f, probs, targets, ignore);
  ops::cross_entropy_backward(dg, 0.7f, dprobs, dtargets, ignore);
  compare(dg, g, "cross_entropy_backward");
  ops::cross_entropy_backward(Tensor<float>(), 0.7f, dprobs, dtargets, ignore);  // undefined: skipped

  CHECK_THROWS_AS(ops::cross_entropy_forward(dprobs, dlog, targets, ignore), simad::Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(probs, dlog, dtargets, ignore), simad::Error);
  CHECK_THROWS_AS(ops::cross_entropy_backward(dg, 1.0f, probs, dtargets, ignore), simad::Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(dprobs, dlog, dev(Tensor<int32_t>::zeros({N - 1})), ignore),
                  simad::Error);
}

TEST_CASE("cuda/dispatch: embedding Tensor calls agree on CPU and CUDA tensors") {
  auto rng = simad::testing::test_rng();
  const int64_t N = 24, C = 37, V = 11;
  const Tensor<float> table = simad::testing::random_tensor<float>(rng, {V, C});
  Tensor<int32_t> ids = Tensor<int32_t>::empty({4, 6});
  for (int64_t i = 0; i < N; ++i) ids.data()[i] = int32_t((i * 5 + 2) % V);  // repeated ids
  const Tensor<float> dtable_in = dev(table);
  const Tensor<int32_t> dids = dev(ids);
  for (const int32_t pad : {int32_t(-1), int32_t(2)}) {
    Tensor<float> y = Tensor<float>::empty({4, 6, C});
    Tensor<float> dy = dev_poisoned({4, 6, C});
    ops::embedding_forward(y, ids, table, pad);
    ops::embedding_forward(dy, dids, dtable_in, pad);
    compare(dy, y, "embedding_forward");

    const Tensor<float> g = simad::testing::random_tensor<float>(rng, {N, C});
    const Tensor<float> dt = simad::testing::random_tensor<float>(rng, {V, C});
    const Tensor<float> ddt = dev(dt);
    ops::embedding_backward(dt, g, ids, pad);
    ops::embedding_backward(ddt, dev(g), dids, pad);
    compare(ddt, dt, "embedding_backward", 1e-5);
  }
  ops::embedding_backward(Tensor<float>(), dev(Tensor<float>::zeros({N, C})), dids);  // skipped

  Tensor<float> dy = dev_poisoned({N, C});
  CHECK_THROWS_AS(ops::embedding_forward(dy, ids, dtable_in), simad::Error);
  CHECK_THROWS_AS(ops::embedding_forward(dy, dids, table), simad::Error);
  CHECK_THROWS_AS(ops::embedding_backward(dev(table), Tensor<float>::zeros({N, C}), dids), simad::Error);
  CHECK_THROWS_AS(ops::embedding_forward(dy, dev(Tensor<int32_t>::zeros({N - 1})), dtable_in), simad::Error);
}

TEST_CASE("cuda/dispatch: reductions Tensor calls agree on CPU and CUDA tensors") {
  auto rng = simad::testing::test_rng();
  const simad::Shape shape{5, 7, 33};
  const simad::Shape nshape{5, 7};
  const int64_t C = 33;
  const Tensor<float> x = simad::testing::random_tensor<float>(rng, shape);
  const Tensor<float> dx = dev(x);

  {
    Tensor<float> o = Tensor<float>::empty({1});
    Tensor<float> d = dev_poisoned({1});
    ops::sum_forward(o, x);
    ops::sum_forward(d, dx);
    compare(d, o, "sum_forward");
    ops::mean_forward(o, x);
    d = dev_poisoned({1});
    ops::mean_forward(d, dx);
    compare(d, o, "mean_forward");
  }
  {
    Tensor<float> o = Tensor<float>::empty({C});
    Tensor<float> d = dev_poisoned({C});
    ops::sum_over_rows_forward(o, x);
    ops::sum_over_rows_forward(d, dx);
    compare(d, o, "sum_over_rows_forward");
    d = dev_poisoned({C});
    ops::mean_over_rows_forward(o, x);
    ops::mean_over_rows_forward(d, dx);
    compare(d, o, "mean_over_rows_forward");
  }
  {
    Tensor<float> o = Tensor<float>::empty(nshape);
    Tensor<float> d = dev_poisoned(nshape);
    ops::sum_over_cols_forward(o, x);
    ops::sum_over_cols_forward(d, dx);
    compare(d, o, "sum_over_cols_forward");
    d = dev_poisoned(nshape);
    ops::mean_over_cols_forward(o, x);
    ops::mean_over_cols_forward(d, dx);
    compare(d, o, "mean_over_cols_forward");
  }

  const Tensor<float> g1 = simad::testing::random_tensor<float>(rng, {1});
  const Tensor<float> gc = simad::testing::random_tensor<float>(rng, {C});
  const Tensor<float> gn = simad::testing::random_tensor<float>(rng, nshape);
  const Tensor<float> gin = simad::testing::random_tensor<float>(rng, shape);
  const Tensor<float> dgin = dev(gin);
  ops::sum_backward(gin, g1);
  ops::sum_backward(dgin, dev(g1));
  compare(dgin, gin, "sum_backward");
  ops::mean_backward(gin, g1);
  ops::mean_backward(dgin, dev(g1));
  compare(dgin, gin, "mean_backward");
  ops::sum_over_rows_backward(gin, gc);
  ops::sum_over_rows_backward(dgin, dev(gc));
  compare(dgin, gin, "sum_over_rows_backward");
  ops::mean_over_rows_backward(gin, gc);
  ops::mean_over_rows_backward(dgin, dev(gc));
  compare(dgin, gin, "mean_over_rows_backward");
  ops::sum_over_cols_backward(gin, gn);
  ops::sum_over_cols_backward(dgin, dev(gn));
  compare(dgin, gin, "sum_over_cols_backward");
  ops::mean_over_cols_backward(gin, gn);
  ops::mean_over_cols_backward(dgin, dev(gn));
  compare(dgin, gin, "mean_over_cols_backward");
  ops::sum_over_cols_backward(Tensor<float>(), dev(gn));  // undefined dinp: skipped

  CHECK_THROWS_AS(ops::sum_forward(dev_poisoned({1}), x), simad::Error);
  CHECK_THROWS_AS(ops::sum_backward(dgin, g1), simad::Error);
  CHECK_THROWS_AS(ops::sum_over_rows_forward(Tensor<float>::empty({C}), dx), simad::Error);
  CHECK_THROWS_AS(ops::mean_over_cols_backward(gin, dev(gn)), simad::Error);
  CHECK_THROWS_AS(ops::mean_over_rows_forward(dev_poisoned({C + 1}), dx), simad::Error);
}
