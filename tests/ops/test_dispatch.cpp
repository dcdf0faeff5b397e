// Tests of the CPU side of simad/ops/dispatch/{softmax,layernorm,cross_entropy}.hpp: the Tensor
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
#include "simad/ops/dispatch/layernorm.hpp"
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
