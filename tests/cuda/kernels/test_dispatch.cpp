// tests/cuda/kernels/test_dispatch.cpp: the device errors of the Tensor dispatch (mixed CPU and CUDA
// tensors, bad shapes throw simad::Error). The results of each op on CUDA tensors against the CPU are
// checked by the op harness (tests/op_cases).
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/dispatch/attention.hpp"
#include "simad/ops/dispatch/fusion_attention.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/dispatch/reduce.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using simad::Tensor;
namespace ops = simad::ops;

template <typename T>
Tensor<T> dev(const Tensor<T>& t) {
  return simad::cuda::to_device(t);
}
Tensor<float> dev_poisoned(const simad::Shape& shape) {
  return simad::cuda::to_device(simad::testing::poisoned_tensor<float>(shape));
}

}  // namespace

// Results: tests/op_cases/cases_softmax.cpp. Here the device errors.
TEST_CASE("cuda/dispatch: softmax Tensor calls reject mixed devices") {
  const simad::Shape shape{3, 5, 37};
  const Tensor<float> x = Tensor<float>::zeros(shape), g = Tensor<float>::zeros(shape);
  const Tensor<uint8_t> mask = Tensor<uint8_t>::zeros(shape);
  const Tensor<float> dx = dev(x), dy = dev_poisoned(shape), dym = dev_poisoned(shape), dgin = dev(g);
  CHECK_THROWS_AS(ops::softmax_forward(dy, x), simad::Error);
  CHECK_THROWS_AS(ops::softmax_forward(dy, dx, &mask), simad::Error);
  CHECK_THROWS_AS(ops::softmax_backward(dgin, g, dym), simad::Error);
  CHECK_THROWS_AS(ops::softmax_forward(dy, dev(Tensor<float>::zeros({3, 5, 36}))), simad::Error);
}

// Results: tests/op_cases/cases_layernorm.cpp. Here the device and shape errors.
TEST_CASE("cuda/dispatch: layernorm Tensor calls reject mixed devices and bad shapes") {
  const int64_t C = 45;
  const simad::Shape shape{4, 6, C};
  const Tensor<float> x = Tensor<float>::zeros(shape), w = Tensor<float>::zeros({C}), b = Tensor<float>::zeros({C});
  const Tensor<float> dx = dev(x), dw = dev(w), db = dev(b);
  const Tensor<float> dy = dev_poisoned(shape), dmean = dev_poisoned({4, 6}), drstd = dev_poisoned({4, 6});
  const Tensor<float> dg = dev(x), dgin = dev(x), dgw = dev(w);
  CHECK_THROWS_AS(ops::layernorm_forward(dy, dmean, drstd, x, dw, db, 1e-5f), simad::Error);
  CHECK_THROWS_AS(ops::layernorm_forward(dy, dmean, drstd, dx, w, db, 1e-5f), simad::Error);
  CHECK_THROWS_AS(ops::layernorm_backward(dgin, dgw, b, dg, dx, dw, dmean, drstd), simad::Error);
  CHECK_THROWS_AS(ops::layernorm_forward(dy, dmean, drstd, dx, dev(Tensor<float>::zeros({C + 1})), db, 1e-5f),
                  simad::Error);
}

// Mixed devices and bad shapes throw (the results: tests/op_cases/cases_cross_entropy.cpp).
TEST_CASE("cuda/dispatch: cross_entropy Tensor calls refuse mixed devices") {
  const int64_t N = 20, C = 37;
  const Tensor<float> probs = Tensor<float>::zeros({N, C}), dlog = dev(probs), dprobs = dev(probs), dg = dev(probs);
  const Tensor<int32_t> targets = Tensor<int32_t>::zeros({N}), dtargets = dev(targets);
  CHECK_THROWS_AS(ops::cross_entropy_forward(dprobs, dlog, targets), simad::Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(probs, dlog, dtargets), simad::Error);
  CHECK_THROWS_AS(ops::cross_entropy_backward(dg, 1.0f, probs, dtargets), simad::Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(dprobs, dlog, dev(Tensor<int32_t>::zeros({N - 1}))), simad::Error);
}

// Mixed devices and bad shapes throw (the results: tests/op_cases/cases_embedding.cpp).
TEST_CASE("cuda/dispatch: embedding Tensor calls refuse mixed devices") {
  const int64_t N = 24, C = 37, V = 11;
  const Tensor<float> table = Tensor<float>::zeros({V, C}), dtable_in = dev(table);
  const Tensor<int32_t> ids = Tensor<int32_t>::zeros({4, 6}), dids = dev(ids);
  Tensor<float> dy = dev_poisoned({N, C});
  CHECK_THROWS_AS(ops::embedding_forward(dy, ids, dtable_in), simad::Error);
  CHECK_THROWS_AS(ops::embedding_forward(dy, dids, table), simad::Error);
  CHECK_THROWS_AS(ops::embedding_backward(dev(table), Tensor<float>::zeros({N, C}), dids), simad::Error);
  CHECK_THROWS_AS(ops::embedding_forward(dy, dev(Tensor<int32_t>::zeros({N - 1})), dtable_in), simad::Error);
}

// Results: tests/op_cases/cases_reduce.cpp. Here the device and shape errors.
TEST_CASE("cuda/dispatch: reductions Tensor calls reject mixed devices and bad shapes") {
  const simad::Shape shape{5, 7, 33};
  const simad::Shape nshape{5, 7};
  const int64_t C = 33;
  const Tensor<float> x = Tensor<float>::zeros(shape), gin = Tensor<float>::zeros(shape);
  const Tensor<float> g1 = Tensor<float>::zeros({1}), gn = Tensor<float>::zeros(nshape);
  const Tensor<float> dx = dev(x), dgin = dev(gin);
  CHECK_THROWS_AS(ops::sum_forward(dev_poisoned({1}), x), simad::Error);
  CHECK_THROWS_AS(ops::sum_backward(dgin, g1), simad::Error);
  CHECK_THROWS_AS(ops::sum_over_rows_forward(Tensor<float>::empty({C}), dx), simad::Error);
  CHECK_THROWS_AS(ops::mean_over_cols_backward(gin, dev(gn)), simad::Error);
  CHECK_THROWS_AS(ops::mean_over_rows_forward(dev_poisoned({C + 1}), dx), simad::Error);
}

// Mixed devices, bad shapes and the kernel's limits throw (the results: tests/op_cases/cases_attention.cpp).
TEST_CASE("cuda/dispatch: attention Tensor calls refuse mixed devices") {
  const int64_t B = 4, N = 9, C = 8, NH = 2;
  const simad::Shape qkv_shape{B, N, 3 * C}, out_shape{B, N, C}, lse_shape{B, NH, N};
  const Tensor<float> qkv = Tensor<float>::zeros(qkv_shape), dqkv = dev(qkv);
  const Tensor<uint8_t> mask = Tensor<uint8_t>::zeros({B, N}), dmask = dev(mask);
  const Tensor<float> dy = dev_poisoned(out_shape), dlse = dev_poisoned(lse_shape);
  CHECK_THROWS_AS(ops::attention_forward(dy, dlse, qkv, &dmask, NH), simad::Error);
  CHECK_THROWS_AS(ops::attention_forward(dy, dlse, dqkv, &mask, NH), simad::Error);
  CHECK_THROWS_AS(ops::attention_backward(dev(qkv), Tensor<float>::zeros(out_shape), dqkv, dy, dlse, &dmask, NH),
                  simad::Error);
  CHECK_THROWS_AS(ops::attention_forward(dy, dlse, dev(Tensor<float>::zeros({B, N, 3 * C + 3})), &dmask, NH),
                  simad::Error);
  // head size 65: above the CUDA kernel's limit (the CPU op takes it)
  const int64_t wide = 2 * (simad::cuda::kernels::kCudaAttentionMaxHeadSize + 1);
  CHECK_THROWS_AS(ops::attention_forward(dev_poisoned({1, 2, wide}), dev_poisoned({1, 2, 2}),
                                         dev_poisoned({1, 2, 3 * wide}), nullptr, 2),
                  simad::Error);
  CHECK_THROWS_AS(ops::attention_forward(dev(Tensor<double>::zeros(out_shape)), dev(Tensor<double>::zeros(lse_shape)),
                                         dev(Tensor<double>::zeros(qkv_shape)), nullptr, NH),
                  simad::Error);  // the kernels are float only
}

// Mixed devices, bad shapes and the kernel's limit throw (the results: tests/op_cases/cases_fusion_attention.cpp).
TEST_CASE("cuda/dispatch: fusion_attention Tensor calls refuse mixed devices") {
  auto rng = simad::testing::test_rng(6);
  const int64_t B = 4, N = 7, K = 3, D = 8;
  const simad::Shape hs{B, N, D}, vs{B, K, D}, ps{B, N, K};
  const Tensor<float> H = simad::testing::random_tensor<float>(rng, hs);
  const Tensor<float> V = simad::testing::random_tensor<float>(rng, vs);
  const Tensor<float> W = simad::testing::random_tensor<float>(rng, {D, D}, -0.5, 0.5);
  const Tensor<uint8_t> hm = Tensor<uint8_t>::full({B, N}, 1), vm = Tensor<uint8_t>::full({B, K}, 1);
  const Tensor<float> dH_in = dev(H), dV_in = dev(V), dW_in = dev(W);
  const Tensor<uint8_t> dhm = dev(hm), dvm = dev(vm);
  const Tensor<float> dho = dev_poisoned(hs), dvo = dev_poisoned(vs), dA = dev_poisoned(ps), dP = dev_poisoned(ps);
  CHECK_THROWS_AS(ops::fusion_attention_forward(dho, dvo, dA, dP, dH_in, dV_in, W, &dhm, &dvm), simad::Error);
  CHECK_THROWS_AS(ops::fusion_attention_forward(dho, dvo, dA, dP, dH_in, dV_in, dW_in, &hm, &dvm), simad::Error);
  CHECK_THROWS_AS(ops::fusion_attention_forward(dho, dvo, dA, dP, H, dV_in, dW_in, &dhm, &dvm), simad::Error);
  CHECK_THROWS_AS(ops::fusion_attention_backward(dev(H), dev(V), Tensor<float>::zeros({D, D}), dho, dvo, dH_in, dV_in,
                                                 dW_in, dA, dP),
                  simad::Error);
  CHECK_THROWS_AS(ops::fusion_attention_forward(dho, dvo, dA, dP, dH_in, dV_in, dev(Tensor<float>::zeros({D, D + 1})),
                                                &dhm, &dvm),
                  simad::Error);
  // N * K above the CUDA kernel's shared-memory limit (the CPU op takes it)
  const int64_t n = 100, k = simad::cuda::kernels::kCudaFusionMaxScores / n + 1;
  CHECK_THROWS_AS(ops::fusion_attention_forward(dev_poisoned({1, n, 4}), dev_poisoned({1, k, 4}),
                                                dev_poisoned({1, n, k}), dev_poisoned({1, n, k}),
                                                dev_poisoned({1, n, 4}), dev_poisoned({1, k, 4}), Tensor<float>(),
                                                nullptr, nullptr),
                  simad::Error);
}

TEST_CASE("cuda/dispatch: the launchers' workspace is one buffer per thread, kept and grown as calls need") {
  namespace detail = simad::ops::detail;
  // On a fresh thread (its buffer starts empty): a smaller request reuses the buffer; a larger one gets
  // a buffer of that size, whose every byte is then written and read back (ASan builds check the bounds).
  void *a = nullptr, *a_again = nullptr, *a_smaller = nullptr, *b = nullptr, *b_again = nullptr;
  bool b_holds_all = false;
  std::thread([&] {
    a = detail::cuda_workspace(1000);
    a_again = detail::cuda_workspace(1000);
    a_smaller = detail::cuda_workspace(10);
    const size_t big = size_t(1) << 20;
    b = detail::cuda_workspace(big);
    b_again = detail::cuda_workspace(big);
    std::vector<unsigned char> host(big, 0);
    if (cudaMemset(b, 0x5a, big) == cudaSuccess &&
        cudaMemcpy(host.data(), b, big, cudaMemcpyDeviceToHost) == cudaSuccess) {
      b_holds_all = true;
      for (const unsigned char c : host) b_holds_all = b_holds_all && c == 0x5a;
    }
  }).join();
  CHECK(a != nullptr);
  CHECK(a_again == a);
  CHECK(a_smaller == a);
  CHECK(b_again == b);
  CHECK(b_holds_all);
  // Another thread's buffer is its own; a launch inside a launch gets a separate buffer.
  void* here = detail::cuda_workspace(64);
  void* there = nullptr;
  std::thread([&] { there = detail::cuda_workspace(64); }).join();
  CHECK(there != here);
  void *outer = nullptr, *inner = nullptr;
  detail::with_cuda_workspace(64, [&](void* w, size_t) {
    outer = w;
    detail::with_cuda_workspace(64, [&](void* v, size_t) { inner = v; });
  });
  CHECK(outer == detail::cuda_workspace(64));
  CHECK(inner != outer);
  CHECK(inner != nullptr);
}

}  // namespace SIMAD_TEST_FILE_ID
