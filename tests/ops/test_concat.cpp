// Tests of include/simad/ops/concat.hpp: concat/split along an axis of row-major arrays against the
// reference tier, empty parts, a middle axis of a rank-3 tensor, split as concat's inverse, finite-
// difference backward of both with accumulation and null pointers, bad arguments.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "simad/ops/concat.hpp"
#include "simad/ops/reference/concat.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

// Reference: the tier's concat_forward, whole[r, off_p + j] = part_p[r, j], widened to double.
template <typename T>
std::vector<double> ref_concat(const std::vector<std::vector<T>>& parts, const std::vector<int64_t>& sizes,
                               int64_t outer) {
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  std::vector<const T*> ptrs;
  for (const auto& part : parts) ptrs.push_back(part.data());
  std::vector<T> out(size_t(outer * total));
  ops::reference::concat_forward(out.data(), ptrs, sizes, outer);
  return std::vector<double>(out.begin(), out.end());
}

template <typename T>
void check_forward() {
  auto rng = testing::test_rng();
  const std::vector<std::vector<int64_t>> size_sets = {{1}, {3, 0, 5, 1}, {0, 0}, {17, 33, 2}, {1, 1, 1, 1, 1}};
  for (const auto& sizes : size_sets)
    for (int64_t outer : {int64_t(1), int64_t(7), int64_t(1000)}) {
      int64_t total = 0;
      std::vector<std::vector<T>> parts;
      std::vector<const T*> ptrs;
      for (int64_t s : sizes) {
        parts.push_back(testing::random_vector<T>(rng, size_t(outer * s)));
        ptrs.push_back(parts.back().data());
        total += s;
      }
      std::vector<T> out(size_t(outer * total));
      testing::poison(std::span<T>(out));
      ops::concat_forward(out.data(), ptrs, sizes, outer);
      const auto expected = ref_concat(parts, sizes, outer);
      const std::string what = "concat parts=" + std::to_string(sizes.size()) + " total=" + std::to_string(total) +
                               " outer=" + std::to_string(outer);
      testing::check_close(out, expected, 0.0, 0.0, what);
      // split_forward inverts it; a null output is not written.
      std::vector<std::vector<T>> back;
      std::vector<T*> outs;
      for (int64_t s : sizes) {
        back.emplace_back(size_t(outer * s));
        testing::poison(std::span<T>(back.back()));
        outs.push_back(back.back().data());
      }
      outs[0] = nullptr;
      ops::split_forward(outs, out.data(), sizes, outer);
      for (size_t p = 1; p < sizes.size(); ++p)
        CHECK_MESSAGE(back[p] == parts[p], what, " part ", p);
      CHECK(std::all_of(back[0].begin(), back[0].end(), [](T x) { return std::isnan(x); }));
    }
}

}  // namespace

TEST_CASE("ops/concat: forward matches the reference, split_forward is its inverse") {
  check_forward<float>();
  check_forward<double>();
}

TEST_CASE("ops/concat: a middle axis of a rank-3 tensor reduces to (outer, inner extents)") {
  // Concatenate (2, a_p, 3) along axis 1, a = {1, 4, 2}: outer = 2, inner extents a_p * 3.
  auto rng = testing::test_rng();
  const int64_t D0 = 2, D2 = 3;
  const std::vector<int64_t> a = {1, 4, 2};
  std::vector<std::vector<double>> parts;
  std::vector<const double*> ptrs;
  std::vector<int64_t> sizes;
  for (int64_t ap : a) {
    parts.push_back(testing::random_vector<double>(rng, size_t(D0 * ap * D2)));
    ptrs.push_back(parts.back().data());
    sizes.push_back(ap * D2);
  }
  std::vector<double> out(size_t(D0 * 7 * D2));
  testing::poison(std::span<double>(out));
  ops::concat_forward(out.data(), ptrs, sizes, D0);
  // out[i, k, l] with k running over the parts' rows along axis 1.
  for (int64_t i = 0; i < D0; ++i) {
    int64_t k = 0;
    for (size_t p = 0; p < a.size(); ++p)
      for (int64_t kp = 0; kp < a[p]; ++kp, ++k)
        for (int64_t l = 0; l < D2; ++l)
          REQUIRE(out[size_t((i * 7 + k) * D2 + l)] == parts[p][size_t((i * a[p] + kp) * D2 + l)]);
  }
}

TEST_CASE("ops/concat: concat_backward and split_backward match finite differences and accumulate") {
  auto rng = testing::test_rng();
  const std::vector<int64_t> sizes = {3, 0, 5, 1};
  const int64_t outer = 4, total = 9;
  std::vector<std::vector<double>> parts;
  std::vector<const double*> ptrs;
  for (int64_t s : sizes) {
    parts.push_back(testing::random_vector<double>(rng, size_t(outer * s)));
    ptrs.push_back(parts.back().data());
  }
  // concat: L = sum(out * W).
  const auto W = testing::random_vector<double>(rng, size_t(outer * total));
  auto concat_loss = [&] {
    std::vector<double> out(size_t(outer * total));
    ops::concat_forward(out.data(), ptrs, sizes, outer);
    double L = 0;
    for (size_t i = 0; i < out.size(); ++i) L += out[i] * W[i];
    return L;
  };
  std::vector<std::vector<double>> d0, d;
  std::vector<double*> dptrs;
  for (int64_t s : sizes) {
    d0.push_back(testing::random_vector<double>(rng, size_t(outer * s)));
    d.push_back(d0.back());
  }
  for (auto& v : d) dptrs.push_back(v.data());
  dptrs[3] = nullptr;  // skipped
  ops::concat_backward(dptrs, W.data(), sizes, outer);
  for (size_t p = 0; p < sizes.size(); ++p) {
    if (sizes[p] == 0) continue;
    const auto numeric = testing::numeric_gradient(std::span<double>(parts[p]), concat_loss);
    std::vector<double> delta(d[p].size());
    for (size_t i = 0; i < delta.size(); ++i) delta[i] = d[p][i] - d0[p][i];
    const std::string what = "concat_backward part " + std::to_string(p);
    if (p == 3) {
      CHECK(d[p] == d0[p]);  // null: untouched
    } else {
      SIMAD_CHECK_GRADIENT(delta, numeric, what);
    }
  }
  // split: L = sum_p sum(outs_p * W_p); a null dout counts as zero.
  std::vector<double> inp = testing::random_vector<double>(rng, size_t(outer * total));
  std::vector<std::vector<double>> Ws;
  std::vector<const double*> wptrs;
  for (int64_t s : sizes) {
    Ws.push_back(testing::random_vector<double>(rng, size_t(outer * s)));
    wptrs.push_back(Ws.back().data());
  }
  auto split_loss = [&] {
    std::vector<std::vector<double>> outs;
    std::vector<double*> optrs;
    for (int64_t s : sizes) outs.emplace_back(size_t(outer * s));
    for (auto& o : outs) optrs.push_back(o.data());
    ops::split_forward(optrs, inp.data(), sizes, outer);
    double L = 0;
    for (size_t p = 0; p < sizes.size(); ++p)
      for (size_t i = 0; i < outs[p].size(); ++i) L += outs[p][i] * Ws[p][i];
    return L;
  };
  const auto dinp0 = testing::random_vector<double>(rng, inp.size());
  auto dinp = dinp0;
  ops::split_backward(dinp.data(), wptrs, sizes, outer);
  std::vector<double> delta(dinp.size());
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = dinp[i] - dinp0[i];
  SIMAD_CHECK_GRADIENT(delta, testing::numeric_gradient(std::span<double>(inp), split_loss), "split_backward");
  // Exact: dinp0 + concat(W_p) (the tier's split_backward); with douts[2] null its columns get nothing.
  std::vector<double> expected = dinp0;
  ops::reference::split_backward(expected.data(), wptrs, sizes, outer);
  testing::check_close(dinp, expected, 1e-15, 1e-15, "split_backward exact");
  wptrs[2] = nullptr;
  auto dinp2 = dinp0;
  ops::split_backward(dinp2.data(), wptrs, sizes, outer);
  for (int64_t r = 0; r < outer; ++r)
    for (int64_t j = 0; j < total; ++j) {
      const size_t at = size_t(r * total + j);
      if (j >= 3 && j < 8) REQUIRE(dinp2[at] == dinp0[at]);
      else REQUIRE(dinp2[at] == dinp[at]);
    }
  // float: concat_backward adds exactly the slices.
  std::vector<float> gf = testing::random_vector<float>(rng, 6), a0 = testing::random_vector<float>(rng, 2),
                     b0 = testing::random_vector<float>(rng, 4);
  auto a = a0, b = b0;
  const std::vector<int64_t> fs = {1, 2};
  std::vector<float*> fptrs = {a.data(), b.data()};
  ops::concat_backward(fptrs, gf.data(), fs, 2);
  CHECK(a[0] == a0[0] + gf[0]);
  CHECK(a[1] == a0[1] + gf[3]);
  CHECK(b[0] == b0[0] + gf[1]);
  CHECK(b[1] == b0[1] + gf[2]);
  CHECK(b[2] == b0[2] + gf[4]);
  CHECK(b[3] == b0[3] + gf[5]);
  // Mutable part pointers (std::vector<float*>) are accepted where const ones are expected.
  std::vector<float> whole(6, std::nanf(""));
  ops::concat_forward(whole.data(), fptrs, fs, 2);
  CHECK(whole == std::vector<float>{a[0], b[0], b[1], a[1], b[2], b[3]});
}

TEST_CASE("ops/concat: bad arguments throw simad::Error") {
  std::vector<double> x(100, 1.0), out(100);
  const std::vector<const double*> two = {x.data(), x.data()};
  const std::vector<int64_t> sizes2 = {2, 3}, sizes3 = {2, 3, 1}, negative = {2, -3};
  CHECK_THROWS_AS(ops::concat_forward(out.data(), two, sizes3, 4), Error);
  CHECK_THROWS_AS(ops::concat_forward(out.data(), two, negative, 4), Error);
  CHECK_THROWS_AS(ops::concat_forward(out.data(), two, sizes2, -1), Error);
  const std::vector<const double*> with_null = {x.data(), nullptr};
  CHECK_THROWS_AS(ops::concat_forward(out.data(), with_null, sizes2, 4), Error);
  CHECK_THROWS_AS(ops::concat_forward(static_cast<double*>(nullptr), two, sizes2, 4), Error);
  std::vector<double*> outs = {out.data(), out.data() + 50};
  CHECK_THROWS_AS(ops::split_forward(outs, x.data(), sizes3, 4), Error);
  CHECK_THROWS_AS(ops::split_forward(outs, static_cast<const double*>(nullptr), sizes2, 4), Error);
  CHECK_THROWS_AS(ops::concat_backward(outs, x.data(), negative, 4), Error);
  CHECK_THROWS_AS(ops::concat_backward(outs, static_cast<const double*>(nullptr), sizes2, 4), Error);
  CHECK_THROWS_AS(ops::split_backward(out.data(), two, sizes3, 4), Error);
  // No parts at all: nothing to do.
  CHECK_NOTHROW(ops::concat_forward(out.data(), std::vector<const double*>{}, std::vector<int64_t>{}, 4));
}

}  // namespace SIMAD_TEST_FILE_ID
