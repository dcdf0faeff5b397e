// Tests of the CPU side of simad/ops/dispatch/{softmax,layernorm,cross_entropy,embedding,reduce}.hpp: the Tensor
// overloads on CPU tensors give exactly the results of the pointer ops (float and double, rank > 2
// tensors taken as (N, C) with C = the last dimension), undefined optional tensors map to nullptr, and
// mismatched shapes throw simad::Error.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/dispatch/reduce.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "testing.hpp"

using namespace simad;

namespace {

template <typename T>
void check_equal(const Tensor<T>& a, const Tensor<T>& b, const std::string& what) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), what, ": shapes differ");
  CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.bytes()) == 0, what, ": results differ");
}

template <typename T>
void softmax_case() {
  auto rng = testing::test_rng();
  const Shape shape{2, 3, 19};
  const int64_t N = 6, C = 19;
  const Tensor<T> x = testing::random_tensor<T>(rng, shape, -4.0, 4.0);
  Tensor<uint8_t> mask = Tensor<uint8_t>::empty(shape);
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data()[i] = uint8_t(i % 3 != 0);
  Tensor<T> y = testing::poisoned_tensor<T>(shape), y_ref = testing::poisoned_tensor<T>(shape);
  ops::softmax_forward(y, x, &mask);
  ops::softmax_forward(y_ref.data(), x.data(), mask.data(), N, C);
  check_equal(y, y_ref, "softmax_forward masked");
  ops::softmax_forward(y, x);
  ops::softmax_forward(y_ref.data(), x.data(), static_cast<const uint8_t*>(nullptr), N, C);
  check_equal(y, y_ref, "softmax_forward");

  const Tensor<T> g = testing::random_tensor<T>(rng, shape);
  const Tensor<T> d = testing::random_tensor<T>(rng, shape);
  const Tensor<T> d_ref = d.clone();
  ops::softmax_backward(d, g, y);
  ops::softmax_backward(d_ref.data(), g.data(), y.data(), N, C);
  check_equal(d, d_ref, "softmax_backward");
  CHECK_NOTHROW(ops::softmax_backward(Tensor<T>(), g, y));

  CHECK_THROWS_AS(ops::softmax_forward(Tensor<T>::zeros({2, 3, 18}), x), Error);
  const Tensor<uint8_t> flat_mask = Tensor<uint8_t>::zeros({6, 19});
  CHECK_THROWS_AS(ops::softmax_forward(y, x, &flat_mask), Error);
  CHECK_THROWS_AS(ops::softmax_backward(d, g, Tensor<T>::zeros({6, 19})), Error);
}

template <typename T>
void layernorm_case() {
  auto rng = testing::test_rng(1);
  const int64_t N = 6, C = 21;
  const Shape shape{2, 3, C};
  const Tensor<T> x = testing::random_tensor<T>(rng, shape, -2.0, 3.0);
  const Tensor<T> w = testing::random_tensor<T>(rng, {C}, 0.5, 1.5);
  const Tensor<T> b = testing::random_tensor<T>(rng, {C});
  Tensor<T> y = testing::poisoned_tensor<T>(shape), y_ref = testing::poisoned_tensor<T>(shape);
  Tensor<T> m = testing::poisoned_tensor<T>({2, 3}), m_ref = testing::poisoned_tensor<T>({2, 3});
  Tensor<T> r = testing::poisoned_tensor<T>({N}), r_ref = testing::poisoned_tensor<T>({N});
  ops::layernorm_forward(y, m, r, x, w, b, T(1e-5));
  ops::layernorm_forward(y_ref.data(), m_ref.data(), r_ref.data(), x.data(), w.data(), b.data(), N, C, T(1e-5));
  check_equal(y, y_ref, "layernorm_forward out");
  check_equal(m, m_ref, "layernorm_forward mean");
  check_equal(r, r_ref, "layernorm_forward rstd");
  Tensor<T> y2 = testing::poisoned_tensor<T>(shape);
  ops::layernorm_forward(y2, Tensor<T>(), Tensor<T>(), x, Tensor<T>(), Tensor<T>(), T(1e-5));
  ops::layernorm_forward(y_ref.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr), x.data(),
                         static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), N, C, T(1e-5));
  check_equal(y2, y_ref, "layernorm_forward inference");

  const Tensor<T> g = testing::random_tensor<T>(rng, shape);
  const Tensor<T> dx = testing::random_tensor<T>(rng, shape), dw = testing::random_tensor<T>(rng, {C}),
                  db = testing::random_tensor<T>(rng, {C});
  const Tensor<T> dx_ref = dx.clone(), dw_ref = dw.clone(), db_ref = db.clone();
  ops::layernorm_backward(dx, dw, db, g, x, w, m, r);
  ops::layernorm_backward(dx_ref.data(), dw_ref.data(), db_ref.data(), g.data(), x.data(), w.data(), m.data(),
                          r.data(), N, C);
  check_equal(dx, dx_ref, "layernorm_backward dinp");
  check_equal(dw, dw_ref, "layernorm_backward dweight");
  check_equal(db, db_ref, "layernorm_backward dbias");
  ops::layernorm_backward(Tensor<T>(), dw, Tensor<T>(), g, x, Tensor<T>(), m, r);
  ops::layernorm_backward(static_cast<T*>(nullptr), dw_ref.data(), static_cast<T*>(nullptr), g.data(), x.data(),
                          static_cast<const T*>(nullptr), m.data(), r.data(), N, C);
  check_equal(dw, dw_ref, "layernorm_backward dweight only");

  CHECK_THROWS_AS(ops::layernorm_forward(y, m, r, x, Tensor<T>::zeros({C + 1}), b, T(1e-5)), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(Tensor<T>::zeros({N, C}), m, r, x, w, b, T(1e-5)), Error);
  CHECK_THROWS_AS(ops::layernorm_forward(y, Tensor<T>::zeros({N + 1}), r, x, w, b, T(1e-5)), Error);
  CHECK_THROWS_AS(ops::layernorm_backward(dx, dw, Tensor<T>::zeros({C, 1}), g, x, w, m, r), Error);
  CHECK_THROWS_AS(ops::layernorm_backward(dx, dw, db, g, x, w, Tensor<T>(), r), Error);
}

template <typename T>
void cross_entropy_case() {
  auto rng = testing::test_rng(2);
  const int64_t N = 13, C = 17;
  const Tensor<T> logits = testing::random_tensor<T>(rng, {N, C}, -5.0, 5.0);
  Tensor<int32_t> targets = Tensor<int32_t>::empty({N});
  for (int64_t i = 0; i < N; ++i) targets.data()[i] = int32_t((i * 5 + 1) % C);
  targets.data()[4] = -1;
  Tensor<T> p = testing::poisoned_tensor<T>({N, C}), p_ref = testing::poisoned_tensor<T>({N, C});
  const T loss = ops::cross_entropy_forward(p, logits, targets, -1);
  const T loss_ref = ops::cross_entropy_forward(p_ref.data(), logits.data(), targets.data(), N, C, int32_t(-1));
  CHECK(loss == loss_ref);
  check_equal(p, p_ref, "cross_entropy_forward probs");
  CHECK(ops::cross_entropy_forward(Tensor<T>(), logits, targets, -1) == loss_ref);

  const Tensor<T> d = testing::random_tensor<T>(rng, {N, C});
  const Tensor<T> d_ref = d.clone();
  ops::cross_entropy_backward(d, T(0.5), p, targets, -1);
  ops::cross_entropy_backward(d_ref.data(), T(0.5), p_ref.data(), targets.data(), N, C, int32_t(-1));
  check_equal(d, d_ref, "cross_entropy_backward");
  CHECK_NOTHROW(ops::cross_entropy_backward(Tensor<T>(), T(1), p, targets, -1));

  CHECK_THROWS_AS(ops::cross_entropy_forward(p, logits, Tensor<int32_t>::zeros({N + 1}), -1), Error);
  CHECK_THROWS_AS(ops::cross_entropy_forward(Tensor<T>::zeros({N, C + 1}), logits, targets, -1), Error);
  CHECK_THROWS_AS(ops::cross_entropy_backward(Tensor<T>::zeros({N - 1, C}), T(1), p, targets, -1), Error);
}

template <typename T>
void embedding_case() {
  auto rng = testing::test_rng(3);
  const int64_t N = 10, C = 7, V = 5;
  const Tensor<T> table = testing::random_tensor<T>(rng, {V, C});
  Tensor<int32_t> ids = Tensor<int32_t>::empty({2, 5});
  for (int64_t i = 0; i < N; ++i) ids.data()[i] = int32_t((i * 3 + 1) % V);
  for (const int32_t pad : {int32_t(-1), int32_t(1)}) {
    Tensor<T> y = testing::poisoned_tensor<T>({2, 5, C}), y_ref = testing::poisoned_tensor<T>({2, 5, C});
    ops::embedding_forward(y, ids, table, pad);
    ops::embedding_forward(y_ref.data(), ids.data(), table.data(), N, C, V, pad);
    check_equal(y, y_ref, "embedding_forward");

    const Tensor<T> g = testing::random_tensor<T>(rng, {N, C});
    const Tensor<T> d = testing::random_tensor<T>(rng, {V, C});
    const Tensor<T> d_ref = d.clone();
    ops::embedding_backward(d, g, ids, pad);
    ops::embedding_backward(d_ref.data(), g.data(), ids.data(), N, C, V, pad);
    check_equal(d, d_ref, "embedding_backward");
  }
  CHECK_NOTHROW(ops::embedding_backward(Tensor<T>(), testing::random_tensor<T>(rng, {N, C}), ids));

  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N, C + 1}), ids, table), Error);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N + 1, C}), ids, table), Error);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N, C}), ids, Tensor<T>::zeros({V * C})), Error);
  CHECK_THROWS_AS(ops::embedding_backward(Tensor<T>::zeros({V, C}), Tensor<T>::zeros({N - 1, C}), ids), Error);
  Tensor<int32_t> bad = ids.clone();
  bad.data()[3] = int32_t(V);
  CHECK_THROWS_AS(ops::embedding_forward(Tensor<T>::zeros({N, C}), bad, table), Error);
}

template <typename T>
void reduce_case() {
  auto rng = testing::test_rng(4);
  const int64_t N = 12, C = 9;
  const Shape shape{3, 4, 9};
  const Tensor<T> x = testing::random_tensor<T>(rng, shape);
  const auto same_all = [&](auto tensor_fn, auto ptr_fn, const char* what) {
    Tensor<T> o = testing::poisoned_tensor<T>({1}), o_ref = testing::poisoned_tensor<T>({1});
    tensor_fn(o, x);
    ptr_fn(o_ref.data(), x.data(), N * C);
    check_equal(o, o_ref, what);
  };
  same_all([](auto& o, auto& i) { ops::sum_forward(o, i); },
           [](T* o, const T* i, int64_t n) { ops::sum_forward(o, i, n); }, "sum_forward");
  same_all([](auto& o, auto& i) { ops::mean_forward(o, i); },
           [](T* o, const T* i, int64_t n) { ops::mean_forward(o, i, n); }, "mean_forward");
  const Tensor<T> g1 = testing::random_tensor<T>(rng, {1});
  {
    const Tensor<T> d = testing::random_tensor<T>(rng, shape);
    const Tensor<T> d_ref = d.clone();
    ops::sum_backward(d, g1);
    ops::sum_backward(d_ref.data(), g1.data(), N * C);
    check_equal(d, d_ref, "sum_backward");
    ops::mean_backward(d, g1);
    ops::mean_backward(d_ref.data(), g1.data(), N * C);
    check_equal(d, d_ref, "mean_backward");
    CHECK_NOTHROW(ops::sum_backward(Tensor<T>(), g1));
  }

  const Tensor<T> gc = testing::random_tensor<T>(rng, {C});
  const Tensor<T> gn = testing::random_tensor<T>(rng, {3, 4});
  Tensor<T> oc = testing::poisoned_tensor<T>({C}), oc_ref = testing::poisoned_tensor<T>({C});
  Tensor<T> on = testing::poisoned_tensor<T>({3, 4}), on_ref = testing::poisoned_tensor<T>({3, 4});
  ops::sum_over_rows_forward(oc, x);
  ops::sum_over_rows_forward(oc_ref.data(), x.data(), N, C);
  check_equal(oc, oc_ref, "sum_over_rows_forward");
  ops::mean_over_rows_forward(oc, x);
  ops::mean_over_rows_forward(oc_ref.data(), x.data(), N, C);
  check_equal(oc, oc_ref, "mean_over_rows_forward");
  ops::sum_over_cols_forward(on, x);
  ops::sum_over_cols_forward(on_ref.data(), x.data(), N, C);
  check_equal(on, on_ref, "sum_over_cols_forward");
  ops::mean_over_cols_forward(on, x);
  ops::mean_over_cols_forward(on_ref.data(), x.data(), N, C);
  check_equal(on, on_ref, "mean_over_cols_forward");

  const Tensor<T> d = testing::random_tensor<T>(rng, shape);
  const Tensor<T> d_ref = d.clone();
  ops::sum_over_rows_backward(d, gc);
  ops::sum_over_rows_backward(d_ref.data(), gc.data(), N, C);
  check_equal(d, d_ref, "sum_over_rows_backward");
  ops::mean_over_rows_backward(d, gc);
  ops::mean_over_rows_backward(d_ref.data(), gc.data(), N, C);
  check_equal(d, d_ref, "mean_over_rows_backward");
  ops::sum_over_cols_backward(d, gn);
  ops::sum_over_cols_backward(d_ref.data(), gn.data(), N, C);
  check_equal(d, d_ref, "sum_over_cols_backward");
  ops::mean_over_cols_backward(d, gn);
  ops::mean_over_cols_backward(d_ref.data(), gn.data(), N, C);
  check_equal(d, d_ref, "mean_over_cols_backward");
  CHECK_NOTHROW(ops::mean_over_cols_backward(Tensor<T>(), gn));

  CHECK_THROWS_AS(ops::sum_forward(Tensor<T>::zeros({2}), x), Error);
  CHECK_THROWS_AS(ops::sum_backward(d, Tensor<T>::zeros({2})), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_forward(Tensor<T>::zeros({C + 1}), x), Error);
  CHECK_THROWS_AS(ops::mean_over_cols_forward(Tensor<T>::zeros({N - 1}), x), Error);
  CHECK_THROWS_AS(ops::sum_over_rows_backward(d, gn), Error);
  CHECK_THROWS_AS(ops::mean_over_cols_backward(d, gc), Error);
}

}  // namespace

TEST_CASE("ops/dispatch: softmax Tensor overloads equal the pointer ops on the CPU") {
  softmax_case<float>();
  softmax_case<double>();
}

TEST_CASE("ops/dispatch: layernorm Tensor overloads equal the pointer ops on the CPU") {
  layernorm_case<float>();
  layernorm_case<double>();
}

TEST_CASE("ops/dispatch: cross_entropy Tensor overloads equal the pointer ops on the CPU") {
  cross_entropy_case<float>();
  cross_entropy_case<double>();
}

TEST_CASE("ops/dispatch: embedding Tensor overloads equal the pointer ops on the CPU") {
  embedding_case<float>();
  embedding_case<double>();
}

TEST_CASE("ops/dispatch: reductions Tensor overloads equal the pointer ops on the CPU") {
  reduce_case<float>();
  reduce_case<double>();
}
