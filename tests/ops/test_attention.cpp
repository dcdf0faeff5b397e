// Tests of include/simad/ops/attention.hpp: fused multi-head self-attention, forward and backward,
// against the reference tier in double (explicit score rows; heads 1, 2, 4, 8; lengths 1..70, so
// one and several key blocks; padded batches with all-but-one and fully padded sequences), finite-
// difference gradients in double, accumulation, thread-count independence and bad arguments.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "masks.hpp"
#include "simad/core/parallel.hpp"
#include "simad/ops/attention.hpp"
#include "simad/ops/reference/attention.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// The reference tier (ops/reference/attention.hpp) in double on qkv widened to double: explicit score
// rows over the kept keys, softmax per row, O = P V.
template <typename T>
std::vector<double> reference_attention(const std::vector<T>& qkv, const uint8_t* mask, int64_t B, int64_t N, int64_t C,
                                        int64_t NH) {
  const std::vector<double> x(qkv.begin(), qkv.end());
  std::vector<double> out(size_t(B * N * C)), lse(size_t(B * NH * N));
  ops::reference::attention_forward(out.data(), lse.data(), x.data(), mask, B, N, C, NH);
  return out;
}

struct Case {
  int64_t B, N, C, NH;
};
// Heads 1, 2, 4, 8; head sizes 1..16 (not multiples of the vector); lengths 1..70: one to five key
// blocks (32 floats or 16 doubles), one to three query blocks of 32 rows with remainders; 150: past
// kAttnSequenceRows, so each head is its own work item (shorter sequences group all heads).
const Case kCases[] = {{1, 1, 4, 1},   {2, 3, 8, 2},  {5, 7, 8, 4},   {4, 17, 16, 8}, {4, 33, 12, 2},
                       {3, 64, 32, 4}, {5, 65, 8, 8}, {2, 70, 24, 1}, {4, 9, 8, 8},   {2, 150, 8, 2}};

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  for (const Case c : kCases) {
    for (int masked = 0; masked < 2; ++masked) {
      CAPTURE(c.B);
      CAPTURE(c.N);
      CAPTURE(c.C);
      CAPTURE(c.NH);
      CAPTURE(masked);
      const auto qkv = testing::random_vector<T>(rng, size_t(c.B * c.N * 3 * c.C), -2.0, 2.0);
      const auto mask = testing::prefix_padding_mask(rng, c.B, c.N);
      const uint8_t* m = masked ? mask.data() : nullptr;
      std::vector<T> out(size_t(c.B * c.N * c.C)), lse(size_t(c.B * c.NH * c.N));
      testing::poison(std::span<T>(out));
      testing::poison(std::span<T>(lse));
      ops::attention_forward(out.data(), lse.data(), qkv.data(), m, c.B, c.N, c.C, c.NH);
      testing::check_close(out, reference_attention(qkv, m, c.B, c.N, c.C, c.NH), atol, rtol, "attention out");
      for (const T v : lse) CHECK(!std::isnan(v));
    }
  }
}

// L(qkv) = sum(out * W) in double.
double loss(const std::vector<double>& qkv, const std::vector<double>& W, const uint8_t* m, const Case& c) {
  std::vector<double> out(W.size()), lse(size_t(c.B * c.NH * c.N));
  ops::attention_forward(out.data(), lse.data(), qkv.data(), m, c.B, c.N, c.C, c.NH);
  double L = 0;
  for (size_t i = 0; i < out.size(); ++i) L += out[i] * W[i];
  return L;
}

}  // namespace

TEST_CASE("ops/attention: float forward matches the double reference") { check_forward<float>(2e-6, 2e-5); }

TEST_CASE("ops/attention: double forward matches the double reference") { check_forward<double>(1e-12, 1e-12); }

TEST_CASE("ops/attention: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  const Case cases[] = {{1, 1, 2, 1}, {4, 5, 8, 2}, {4, 6, 8, 4}, {2, 3, 8, 8}, {1, 70, 2, 1}, {2, 131, 4, 2}};
  for (const Case c : cases) {
    CAPTURE(c.N);
    CAPTURE(c.NH);
    auto qkv = testing::random_vector<double>(rng, size_t(c.B * c.N * 3 * c.C), -1.5, 1.5);
    const auto W = testing::random_vector<double>(rng, size_t(c.B * c.N * c.C));
    const auto mask = testing::prefix_padding_mask(rng, c.B, c.N);
    std::vector<double> out(W.size()), lse(size_t(c.B * c.NH * c.N));
    ops::attention_forward(out.data(), lse.data(), qkv.data(), mask.data(), c.B, c.N, c.C, c.NH);
    const auto start = testing::random_vector<double>(rng, qkv.size());
    std::vector<double> dqkv = start;
    ops::attention_backward(dqkv.data(), W.data(), qkv.data(), out.data(), lse.data(), mask.data(), c.B, c.N, c.C,
                            c.NH);
    for (size_t i = 0; i < dqkv.size(); ++i) dqkv[i] -= start[i];
    const auto numeric =
        testing::numeric_gradient(std::span<double>(qkv), [&] { return loss(qkv, W, mask.data(), c); });
    SIMAD_CHECK_GRADIENT(dqkv, numeric, "attention dqkv");
    std::vector<double> want(qkv.size(), 0.0);
    ops::reference::attention_backward(want.data(), W.data(), qkv.data(), out.data(), lse.data(), mask.data(), c.B,
                                       c.N, c.C, c.NH);
    testing::check_close(dqkv, want, 1e-12, 1e-10, "attention dqkv vs the reference tier");
  }
}

TEST_CASE("ops/attention: float backward matches the double backward") {
  auto rng = testing::test_rng();
  const Case c{4, 40, 16, 4};
  const auto qkv_d = testing::random_vector<double>(rng, size_t(c.B * c.N * 3 * c.C), -2.0, 2.0);
  const auto dout_d = testing::random_vector<double>(rng, size_t(c.B * c.N * c.C));
  const auto mask = testing::prefix_padding_mask(rng, c.B, c.N);
  const std::vector<float> qkv_f(qkv_d.begin(), qkv_d.end()), dout_f(dout_d.begin(), dout_d.end());
  std::vector<double> out_d(dout_d.size()), lse_d(size_t(c.B * c.NH * c.N)), g_d(qkv_d.size(), 0.0);
  std::vector<float> out_f(dout_d.size()), lse_f(lse_d.size()), g_f(qkv_d.size(), 0.0f);
  ops::attention_forward(out_d.data(), lse_d.data(), qkv_d.data(), mask.data(), c.B, c.N, c.C, c.NH);
  ops::attention_backward(g_d.data(), dout_d.data(), qkv_d.data(), out_d.data(), lse_d.data(), mask.data(), c.B, c.N,
                          c.C, c.NH);
  ops::attention_forward(out_f.data(), lse_f.data(), qkv_f.data(), mask.data(), c.B, c.N, c.C, c.NH);
  ops::attention_backward(g_f.data(), dout_f.data(), qkv_f.data(), out_f.data(), lse_f.data(), mask.data(), c.B, c.N,
                          c.C, c.NH);
  testing::check_close(g_f, g_d, 2e-5, 1e-4, "attention float dqkv");
  // The fully padded sequence (b = 3) gets exactly zero gradient.
  bool zero = true;
  for (int64_t i = 3 * c.N * 3 * c.C; i < 4 * c.N * 3 * c.C; ++i) zero = zero && g_f[size_t(i)] == 0.0f;
  CHECK(zero);
}

TEST_CASE("ops/attention: results do not depend on the thread count") {
  auto rng = testing::test_rng();
  for (const Case c : {Case{6, 50, 32, 4}, Case{3, 140, 16, 2}}) {
    CAPTURE(c.N);
    const auto qkv = testing::random_vector<float>(rng, size_t(c.B * c.N * 3 * c.C), -2.0, 2.0);
    const auto dout = testing::random_vector<float>(rng, size_t(c.B * c.N * c.C));
    const auto mask = testing::prefix_padding_mask(rng, c.B, c.N);
    std::vector<float> out[2], g[2];
    const int saved = num_threads();
    for (int run = 0; run < 2; ++run) {
      set_num_threads(run == 0 ? 1 : 2);
      std::vector<float> lse(size_t(c.B * c.NH * c.N));
      out[run].resize(dout.size());
      g[run].assign(qkv.size(), 0.5f);
      ops::attention_forward(out[run].data(), lse.data(), qkv.data(), mask.data(), c.B, c.N, c.C, c.NH);
      ops::attention_backward(g[run].data(), dout.data(), qkv.data(), out[run].data(), lse.data(), mask.data(), c.B,
                              c.N, c.C, c.NH);
    }
    set_num_threads(saved);
    CHECK(out[0] == out[1]);
    CHECK(g[0] == g[1]);
  }
}

TEST_CASE("ops/attention: bad arguments throw and empty inputs do nothing") {
  std::vector<float> buf(64);
  CHECK_THROWS_AS(ops::attention_forward(buf.data(), buf.data(), buf.data(), nullptr, 1, 2, 6, 4), Error);
  CHECK_THROWS_AS(ops::attention_forward(buf.data(), buf.data(), buf.data(), nullptr, 1, 2, 4, 0), Error);
  CHECK_THROWS_AS(ops::attention_forward(buf.data(), buf.data(), buf.data(), nullptr, -1, 2, 4, 1), Error);
  CHECK_THROWS_AS(ops::attention_forward<float>(nullptr, buf.data(), buf.data(), nullptr, 1, 2, 4, 1), Error);
  CHECK_THROWS_AS(
      ops::attention_backward<float>(buf.data(), nullptr, buf.data(), buf.data(), buf.data(), nullptr, 1, 2, 4, 1),
      Error);
  ops::attention_forward<float>(nullptr, nullptr, nullptr, nullptr, 0, 5, 8, 2);
  ops::attention_backward<float>(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 1, 5, 8, 2);
}

}  // namespace SIMAD_TEST_FILE_ID
