// Tests of include/simad/ops/linear.hpp: out = inp weight^T + bias against the reference tier,
// float and double, awkward shapes, finite-difference backward (accumulating, null gradients), the
// dbias reduction's determinism across thread counts, bad sizes.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "simad/core/parallel.hpp"
#include "simad/ops/linear.hpp"
#include "simad/ops/reference/linear.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

struct Dims {
  int64_t N, C, OC;
};

// The reference tier (ops/reference/linear.hpp) in double, on the inputs widened to double.
template <typename T>
std::vector<double> ref_linear(const std::vector<T>& inp, const std::vector<T>& weight, const T* bias, int64_t N,
                               int64_t C, int64_t OC) {
  const std::vector<double> x(inp.begin(), inp.end()), w(weight.begin(), weight.end());
  std::vector<double> b;
  if (bias) b.assign(bias, bias + OC);
  std::vector<double> out(size_t(N * OC));
  ops::reference::linear_forward(out.data(), x.data(), w.data(), bias ? b.data() : nullptr, N, C, OC);
  return out;
}

template <typename T>
void check_forward(double atol, double rtol) {
  auto rng = testing::test_rng();
  const Dims shapes[] = {{1, 1, 1}, {1, 7, 5}, {9, 1, 3}, {4, 6, 1}, {37, 19, 53}, {64, 33, 17}, {3, 0, 5}};
  for (const Dims& d : shapes)
    for (bool with_bias : {true, false}) {
      const auto inp = testing::random_vector<T>(rng, size_t(d.N * d.C));
      const auto weight = testing::random_vector<T>(rng, size_t(d.OC * d.C));
      const auto bias = testing::random_vector<T>(rng, size_t(d.OC));
      std::vector<T> out(size_t(d.N * d.OC));
      testing::poison(std::span<T>(out));
      const T* b = with_bias ? bias.data() : nullptr;
      ops::linear_forward(out.data(), inp.data(), weight.data(), b, d.N, d.C, d.OC);
      testing::check_close(out, ref_linear(inp, weight, b, d.N, d.C, d.OC), atol, rtol,
                           "linear_forward N=" + std::to_string(d.N) + " C=" + std::to_string(d.C) +
                               " OC=" + std::to_string(d.OC) + (with_bias ? " bias" : " no bias"));
    }
}

}  // namespace

TEST_CASE("ops/linear: forward matches the double reference") {
  check_forward<float>(1e-5, 1e-5);
  check_forward<double>(1e-12, 1e-12);
}

TEST_CASE("ops/linear: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  const Dims shapes[] = {{5, 4, 3}, {1, 6, 7}, {6, 1, 2}, {3, 5, 1}, {11, 7, 9}};
  for (const Dims& d : shapes) {
    const int64_t N = d.N, C = d.C, OC = d.OC;
    auto inp = testing::random_vector<double>(rng, size_t(N * C));
    auto weight = testing::random_vector<double>(rng, size_t(OC * C));
    auto bias = testing::random_vector<double>(rng, size_t(OC));
    const auto W = testing::random_vector<double>(rng, size_t(N * OC));  // dout
    auto loss = [&] {
      std::vector<double> out(size_t(N * OC));
      ops::linear_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
      double L = 0;
      for (size_t k = 0; k < out.size(); ++k) L += out[k] * W[k];
      return L;
    };
    const auto dinp0 = testing::random_vector<double>(rng, inp.size());
    const auto dweight0 = testing::random_vector<double>(rng, weight.size());
    const auto dbias0 = testing::random_vector<double>(rng, bias.size());
    auto dinp = dinp0, dweight = dweight0, dbias = dbias0;
    ops::linear_backward(dinp.data(), dweight.data(), dbias.data(), W.data(), inp.data(), weight.data(), N, C, OC);
    auto delta = [](const std::vector<double>& after, const std::vector<double>& before) {
      std::vector<double> g(after.size());
      for (size_t k = 0; k < g.size(); ++k) g[k] = after[k] - before[k];
      return g;
    };
    const std::string what = "linear N=" + std::to_string(N) + " C=" + std::to_string(C) + " OC=" + std::to_string(OC);
    const std::string w_inp = what + " dinp", w_weight = what + " dweight", w_bias = what + " dbias";
    SIMAD_CHECK_GRADIENT(delta(dinp, dinp0), testing::numeric_gradient(std::span<double>(inp), loss), w_inp);
    SIMAD_CHECK_GRADIENT(delta(dweight, dweight0), testing::numeric_gradient(std::span<double>(weight), loss),
                         w_weight);
    SIMAD_CHECK_GRADIENT(delta(dbias, dbias0), testing::numeric_gradient(std::span<double>(bias), loss), w_bias);
    // Exact accumulated values from the double reference.
    std::vector<double> e_inp = dinp0, e_weight = dweight0, e_bias = dbias0;
    ops::reference::linear_backward(e_inp.data(), e_weight.data(), e_bias.data(), W.data(), inp.data(),
                                    weight.data(), N, C, OC);
    testing::check_close(dinp, e_inp, 1e-12, 1e-12, w_inp);
    testing::check_close(dweight, e_weight, 1e-12, 1e-12, w_weight);
    testing::check_close(dbias, e_bias, 1e-12, 1e-12, w_bias);
    // Null gradients are skipped; the others are unchanged by that.
    auto dinp_only = dinp0;
    ops::linear_backward(dinp_only.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr), W.data(),
                         static_cast<const double*>(nullptr), weight.data(), N, C, OC);
    CHECK(std::memcmp(dinp_only.data(), dinp.data(), dinp.size() * sizeof(double)) == 0);
    auto dbias_only = dbias0;
    ops::linear_backward(static_cast<double*>(nullptr), static_cast<double*>(nullptr), dbias_only.data(), W.data(),
                         static_cast<const double*>(nullptr), static_cast<const double*>(nullptr), N, C, OC);
    CHECK(std::memcmp(dbias_only.data(), dbias.data(), dbias.size() * sizeof(double)) == 0);
  }
}

TEST_CASE("ops/linear: float backward matches the double reference, dbias is thread-count independent") {
  auto rng = testing::test_rng();
  const int64_t N = 1031, C = 19, OC = 37;  // N > one row chunk of the dbias reduction
  const auto inp = testing::random_vector<float>(rng, size_t(N * C));
  const auto weight = testing::random_vector<float>(rng, size_t(OC * C));
  const auto dout = testing::random_vector<float>(rng, size_t(N * OC));
  const auto dinp0 = testing::random_vector<float>(rng, inp.size());
  const auto dweight0 = testing::random_vector<float>(rng, weight.size());
  const auto dbias0 = testing::random_vector<float>(rng, size_t(OC));
  std::vector<double> e_inp(dinp0.begin(), dinp0.end()), e_weight(dweight0.begin(), dweight0.end()),
      e_bias(dbias0.begin(), dbias0.end());
  {  // the reference tier in double on the inputs widened to double
    const std::vector<double> x(inp.begin(), inp.end()), w(weight.begin(), weight.end()),
        g(dout.begin(), dout.end());
    ops::reference::linear_backward(e_inp.data(), e_weight.data(), e_bias.data(), g.data(), x.data(), w.data(), N, C,
                                    OC);
  }
  std::vector<float> dbias_by_threads[2];
  int run = 0;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    auto dinp = dinp0, dweight = dweight0, dbias = dbias0;
    ops::linear_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
    testing::check_close(dinp, e_inp, 1e-5, 1e-5, "float dinp");
    testing::check_close(dweight, e_weight, 1e-4, 1e-5, "float dweight");  // sums of 1031 products
    testing::check_close(dbias, e_bias, 1e-5, 1e-6, "float dbias (accumulated in double)");
    dbias_by_threads[run++] = dbias;
  }
  set_num_threads(ThreadPool::default_threads());
  CHECK(std::memcmp(dbias_by_threads[0].data(), dbias_by_threads[1].data(), size_t(OC) * sizeof(float)) == 0);
}

TEST_CASE("ops/linear: empty sizes and bad arguments") {
  std::vector<double> buf(64, 1.0);
  // N == 0 or OC == 0: nothing to do; C == 0: out = bias.
  ops::linear_forward(buf.data(), buf.data(), buf.data(), buf.data(), 0, 3, 4);
  std::vector<double> out(6, std::nan("")), bias = {1.5, -2.0, 3.0};
  ops::linear_forward(out.data(), static_cast<const double*>(nullptr), static_cast<const double*>(nullptr),
                      bias.data(), 2, 0, 3);
  CHECK(out == std::vector<double>{1.5, -2.0, 3.0, 1.5, -2.0, 3.0});
  CHECK_THROWS_AS(ops::linear_forward(buf.data(), buf.data(), buf.data(), buf.data(), -1, 3, 4), Error);
  CHECK_THROWS_AS(ops::linear_forward(buf.data(), buf.data(), buf.data(), buf.data(), 2, -3, 4), Error);
  CHECK_THROWS_AS(ops::linear_forward(static_cast<double*>(nullptr), buf.data(), buf.data(), buf.data(), 2, 3, 4),
                  Error);
  CHECK_THROWS_AS(ops::linear_backward(buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), 2, 3,
                                       -4),
                  Error);
  CHECK_THROWS_AS(ops::linear_backward(buf.data(), buf.data(), buf.data(), static_cast<const double*>(nullptr),
                                       buf.data(), buf.data(), 2, 3, 4),
                  Error);
  CHECK_THROWS_AS(ops::linear_backward(buf.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                       buf.data(), buf.data(), static_cast<const double*>(nullptr), 2, 3, 4),
                  Error);
}

}  // namespace SIMAD_TEST_FILE_ID
