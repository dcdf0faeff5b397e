// Tests of the CPU side of simad/ops/dispatch: mismatched shapes throw simad::Error. That the Tensor
// overloads give exactly the pointer ops' results is checked by the op harness (tests/op_cases).
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/ops/dispatch/attention.hpp"
#include "simad/ops/dispatch/fusion_attention.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/dispatch/reduce.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::error_of;

namespace {

// The harness (tests/op_cases/cases_softmax.cpp) compares the results; these are the shape errors.
template <typename T>
void softmax_case() {
  const Shape shape{2, 3, 19};
  const Tensor<T> x = Tensor<T>::zeros(shape), y = Tensor<T>::zeros(shape), g = Tensor<T>::zeros(shape);
  const Tensor<T> d = Tensor<T>::zeros(shape);
  CHECK_NOTHROW(ops::softmax_backward(Tensor<T>(), g, y));
  CHECK_THROWS_AS(ops::softmax_forward(Tensor<T>::zeros({2, 3, 18}), x), Error);
  const Tensor<uint8_t> flat_mask = Tensor<uint8_t>::zeros({6, 19});
  CHECK_THROWS_AS(ops::softmax_forward(y, x, &flat_mask), Error);
  CHECK_THROWS_AS(ops::softmax_backward(d, g, Tensor<T>::zeros({6, 19})), Error);
}

// The harness (tests/op_cases/cases_layernorm.cpp) compares the results; these are the shape errors.
template <typename T>
void layernorm_case() {
  const int64_t N = 6, C = 21;
  const Shape shape{2, 3, C};
  const Tensor<T> x = Tensor<T>::zeros(shape), y = Tensor<T>::zeros(shape), g = Tensor<T>::zeros(shape);
  const Tensor<T> w = Tensor<T>::zeros({C}), b = Tensor<T>::zeros({C}), m = Tensor<T>::zeros({2, 3}),
                  r = Tensor<T>::zeros({N});
  const Tensor<T> dx = Tensor<T>::zeros(shape), dw = Tensor<T>::zeros({C}), db = Tensor<T>::zeros({C});
  CHECK_THROWS_AS(ops::layernorm_forward(y, m, r, x, Tensor<T>::zeros({C + 1}), b, T(1e-5)), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(Tensor<T>::zeros({N, C}), m, r, x, w, b, T(1e-5)), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(y, Tensor<T>::zeros({N + 1}), r, x, w, b, T(1e-5)), Error);
  CHECK_THROWS_AS(ops::layernorm_backward(dx, dw, Tensor<T>::zeros({C, 1}), g, x, w, m, r), Error);
  CHECK_THROWS_AS(ops::layernorm_backward(dx, dw, db, g, x, w, Tensor<T>(), r), Error);
}

// Shape errors (the results: tests/op_cases/cases_cross_entropy.cpp).
template <typename T>
void cross_entropy_case() {
  const int64_t N = 13, C = 17;
  const Tensor<T> logits = Tensor<T>::zeros({N, C}), p = Tensor<T>::zeros({N, C});
  const Tensor<int32_t> targets = Tensor<int32_t>::zeros({N});
  CHECK_THROWS_AS(ops::cross_entropy_forward(p, logits, Tensor<int32_t>::zeros({N + 1}), -1), Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(Tensor<T>::zeros({N, C + 1}), logits, targets, -1), Error);
  CHECK_THROWS_AS(ops::cross_entropy_backward(Tensor<T>::zeros({N - 1, C}), T(1), p, targets, -1), Error);
}

// Shape and id errors (the results: tests/op_cases/cases_embedding.cpp).
template <typename T>
void embedding_case() {
  const int64_t N = 10, C = 7, V = 5;
  const Tensor<T> table = Tensor<T>::zeros({V, C});
  Tensor<int32_t> ids = Tensor<int32_t>::empty({2, 5});
  for (int64_t i = 0; i < N; ++i) ids.data()[i] = int32_t((i * 3 + 1) % V);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N, C + 1}), ids, table), Error);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N + 1, C}), ids, table), Error);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N, C}), ids, Tensor<T>::zeros({V * C})), Error);
  CHECK_THROWS_AS(ops::embedding_backward(Tensor<T>::zeros({V, C}), Tensor<T>::zeros({N - 1, C}), ids), Error);
  Tensor<int32_t> bad = ids.clone();
  bad.data()[3] = int32_t(V);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N, C}), bad, table), Error);
}

// The harness (tests/op_cases/cases_reduce.cpp) compares the results; these are the shape errors.
template <typename T>
void reduce_case() {
  const int64_t N = 12, C = 9;
  const Shape shape{3, 4, 9};
  const Tensor<T> x = Tensor<T>::zeros(shape), d = Tensor<T>::zeros(shape);
  const Tensor<T> gc = Tensor<T>::zeros({C}), gn = Tensor<T>::zeros({3, 4});
  CHECK_THROWS_AS(ops::sum_forward(Tensor<T>::zeros({2}), x), Error);
  CHECK_THROWS_AS(ops::sum_backward(d, Tensor<T>::zeros({2})), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_forward(Tensor<T>::zeros({C + 1}), x), Error);
  CHECK_THROWS_AS(ops::mean_over_cols_forward(Tensor<T>::zeros({N - 1}), x), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_backward(d, gn), Error);
  CHECK_THROWS_AS(ops::mean_over_cols_backward(d, gc), Error);
}

}  // namespace

TEST_CASE("ops/dispatch: softmax Tensor overloads reject mismatched shapes") {
  softmax_case<float>();
  softmax_case<double>();
}

TEST_CASE("ops/dispatch: layernorm Tensor overloads reject bad shapes") {
  layernorm_case<float>();
  layernorm_case<double>();
}

TEST_CASE("ops/dispatch: cross_entropy Tensor overloads check their shapes") {
  cross_entropy_case<float>();
  cross_entropy_case<double>();
}

TEST_CASE("ops/dispatch: embedding Tensor overloads check their shapes and ids") {
  embedding_case<float>();
  embedding_case<double>();
}

TEST_CASE("ops/dispatch: reductions Tensor overloads reject bad shapes") {
  reduce_case<float>();
  reduce_case<double>();
}

namespace {

bool mentions(const std::string& message, const char* part) { return message.find(part) != std::string::npos; }

// Shape and head-count errors (the results: tests/op_cases/cases_attention.cpp).
template <typename T>
void attention_case() {
  const int64_t B = 4, N = 9, C = 12, NH = 3;
  const Shape qkv_shape{B, N, 3 * C}, out_shape{B, N, C}, lse_shape{B, NH, N};
  const Tensor<T> qkv = Tensor<T>::zeros(qkv_shape);
  const Tensor<uint8_t> mask = Tensor<uint8_t>::zeros({B, N});
  const Tensor<T> y = Tensor<T>::zeros(out_shape), lse = Tensor<T>::zeros(lse_shape);
  const Tensor<T> g = Tensor<T>::zeros(out_shape), d = Tensor<T>::zeros(qkv_shape);
  const auto forward = [&](const Tensor<T>& o, const Tensor<T>& l, const Tensor<T>& x, const Tensor<uint8_t>* m,
                           int64_t nh) { return error_of([&] { ops::attention_forward(o, l, x, m, nh); }); };
  CHECK(mentions(forward(Tensor<T>::zeros({B, N, C + 1}), lse, qkv, &mask, NH), "out shape"));
  CHECK(mentions(forward(y, Tensor<T>::zeros({B, N, NH}), qkv, &mask, NH), "lse shape"));
  CHECK(mentions(forward(y, lse, Tensor<T>::zeros({B, N, 3 * C + 1}), &mask, NH), "qkv shape"));
  CHECK(mentions(forward(y, lse, Tensor<T>::zeros({B * N, 3 * C}), &mask, NH), "qkv shape"));
  CHECK(mentions(forward(y, lse, Tensor<T>(), &mask, NH), "qkv is undefined"));
  CHECK(mentions(forward(y, lse, qkv, &mask, 5), "head count"));
  CHECK(mentions(forward(y, lse, qkv, &mask, 0), "head count"));
  const Tensor<uint8_t> long_mask = Tensor<uint8_t>::zeros({B, N + 1});
  CHECK(mentions(forward(y, lse, qkv, &long_mask, NH), "mask shape"));
  const auto backward = [&](const Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& l) {
    return error_of([&] { ops::attention_backward(dx, dy, qkv, y, l, &mask, NH); });
  };
  CHECK(mentions(backward(Tensor<T>::zeros(out_shape), g, lse), "dqkv shape"));
  CHECK(mentions(backward(d, Tensor<T>::zeros(qkv_shape), lse), "dout shape"));
  CHECK(mentions(backward(d, g, Tensor<T>::zeros({B, N, NH})), "lse shape"));
  CHECK(mentions(backward(Tensor<T>(), g, Tensor<T>()), "lse is undefined"));  // checked even when skipped
}

template <typename T>
void fusion_attention_case() {
  auto rng = testing::test_rng(6);
  const int64_t B = 4, N = 6, K = 3, D = 5;
  const Shape hs{B, N, D}, vs{B, K, D}, ps{B, N, K};
  const Tensor<T> H = testing::random_tensor<T>(rng, hs), V = testing::random_tensor<T>(rng, vs);
  const Tensor<T> W = testing::random_tensor<T>(rng, {D, D}, -0.5, 0.5);
  const Tensor<uint8_t> hm = Tensor<uint8_t>::full({B, N}, 1), vm = Tensor<uint8_t>::full({B, K}, 1);
  const Tensor<T> ho = Tensor<T>::zeros(hs), vo = Tensor<T>::zeros(vs), A = Tensor<T>::zeros(ps),
                  P = Tensor<T>::zeros(ps);
  const auto forward = [&](const Tensor<T>& h_out, const Tensor<T>& v_out, const Tensor<T>& a, const Tensor<T>& h,
                           const Tensor<T>& v, const Tensor<T>& w, const Tensor<uint8_t>* hmask,
                           const Tensor<uint8_t>* vmask) {
    return error_of([&] { ops::fusion_attention_forward(h_out, v_out, a, P, h, v, w, hmask, vmask); });
  };
  CHECK(forward(ho, vo, A, H, V, W, &hm, &vm).empty());
  CHECK(mentions(forward(ho, vo, A, H, Tensor<T>::zeros({B, K, D + 1}), W, &hm, &vm), "V shape"));
  CHECK(mentions(forward(ho, vo, A, H, Tensor<T>::zeros({B + 1, K, D}), W, &hm, &vm), "V shape"));
  CHECK(mentions(forward(ho, vo, A, Tensor<T>::zeros({B * N, D}), V, W, &hm, &vm), "H shape"));
  CHECK(mentions(forward(ho, vo, A, H, V, Tensor<T>::zeros({D, D + 1}), &hm, &vm), "Wf shape"));
  CHECK(mentions(forward(Tensor<T>::zeros(vs), vo, A, H, V, W, &hm, &vm), "h_out shape"));
  CHECK(mentions(forward(ho, Tensor<T>::zeros(hs), A, H, V, W, &hm, &vm), "v_out shape"));
  CHECK(mentions(forward(ho, vo, Tensor<T>::zeros({B, K, N}), H, V, W, &hm, &vm), "probs_text shape"));
  CHECK(mentions(forward(ho, vo, A, H, V, W, &vm, &vm), "h_mask shape"));
  CHECK(mentions(forward(ho, vo, A, H, V, W, &hm, &hm), "v_mask shape"));
  const auto backward = [&](const Tensor<T>& dh, const Tensor<T>& dw, const Tensor<T>& dv_out, const Tensor<T>& w,
                            const Tensor<T>& p) {
    return error_of([&] { ops::fusion_attention_backward(dh, Tensor<T>(), dw, ho, dv_out, H, V, w, A, p); });
  };
  CHECK(backward(ho, Tensor<T>::zeros({D, D}), vo, W, P).empty());
  CHECK(mentions(backward(Tensor<T>::zeros({B, N, D + 1}), Tensor<T>(), vo, W, P), "dH shape"));
  CHECK(mentions(backward(ho, Tensor<T>::zeros({D + 1, D + 1}), vo, W, P), "dWf shape"));
  CHECK(mentions(backward(ho, Tensor<T>(), Tensor<T>::zeros(hs), W, P), "dv_out shape"));
  CHECK(mentions(backward(ho, Tensor<T>(), vo, W, Tensor<T>::zeros({B, N, K + 1})), "probs_image shape"));
  CHECK(mentions(backward(ho, Tensor<T>(), vo, Tensor<T>::zeros({D + 1, D}), P), "Wf shape"));
}

}  // namespace

TEST_CASE("ops/dispatch: attention Tensor overloads check their shapes") {
  attention_case<float>();
  attention_case<double>();
}

TEST_CASE("ops/dispatch: fusion_attention Tensor overloads check their shapes") {
  fusion_attention_case<float>();
  fusion_attention_case<double>();
}

}  // namespace SIMAD_TEST_FILE_ID
