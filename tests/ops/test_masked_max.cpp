// Tests of include/simad/ops/masked_max.hpp: masked max over sets against the reference tier (ties-free
// inputs), explicit ties (first member wins), all-padded sets (0, argmax -1, no gradient), masks with
// all but one member padded, several column blocks, finite-difference backward with accumulation,
// bad arguments.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/ops/masked_max.hpp"
#include "simad/ops/reference/masked_max.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

struct Dims {
  int64_t B, S, C;
};

// Ties-free input: in every (set, column) the S values are distinct (a random permutation of evenly
// spaced levels, spaced 2/S apart, plus a small jitter), exactly representable in float.
template <typename T>
std::vector<T> ties_free_input(Rng& rng, const Dims& d) {
  std::vector<T> x(static_cast<size_t>(d.B * d.S * d.C));
  std::vector<int64_t> perm(static_cast<size_t>(d.S));
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t c = 0; c < d.C; ++c) {
      for (int64_t s = 0; s < d.S; ++s) perm[size_t(s)] = s;
      for (int64_t s = d.S - 1; s > 0; --s) std::swap(perm[size_t(s)], perm[rng.next_below(uint32_t(s + 1))]);
      for (int64_t s = 0; s < d.S; ++s) {
        const double level = (double(perm[size_t(s)]) + 0.25 + 0.5 * rng.next_uniform()) / double(d.S);
        x[size_t((b * d.S + s) * d.C + c)] = T(2.0 * level - 1.0);
      }
    }
  return x;
}

// Masks: kind 0 = nullptr, 1 = random (about half), 2 = all but one padded, 3 = random with some sets
// entirely padded.
std::vector<uint8_t> make_mask(Rng& rng, const Dims& d, int kind) {
  std::vector<uint8_t> m(static_cast<size_t>(d.B * d.S), 1);
  for (int64_t b = 0; b < d.B; ++b) {
    uint8_t* row = m.data() + b * d.S;
    if (kind == 1 || kind == 3)
      for (int64_t s = 0; s < d.S; ++s) row[s] = uint8_t(rng.next_below(2));
    if (kind == 2) {
      std::fill(row, row + d.S, uint8_t(0));
      row[rng.next_below(uint32_t(d.S))] = 1;
    }
    if (kind == 3 && b % 2 == 1) std::fill(row, row + d.S, uint8_t(0));
  }
  return m;
}

// Reference: the tier (ops/reference/masked_max.hpp); max over real members, first index on ties; all
// padded -> 0 and -1.
template <typename T>
void ref_masked_max(std::vector<double>& out, std::vector<int32_t>& arg, const std::vector<T>& x, const uint8_t* mask,
                    const Dims& d) {
  std::vector<T> y(size_t(d.B * d.C));
  arg.assign(size_t(d.B * d.C), -2);
  ops::reference::masked_max_forward(y.data(), arg.data(), x.data(), mask, d.B, d.S, d.C);
  out.assign(y.begin(), y.end());
}

const Dims kShapes[] = {{1, 1, 1}, {3, 5, 7}, {4, 17, 300}, {2, 1, 9}, {5, 33, 1}, {1, 64, 513}};

template <typename T>
void check_forward() {
  auto rng = testing::test_rng();
  for (const Dims& d : kShapes)
    for (int kind = 0; kind < 4; ++kind) {
      const auto x = ties_free_input<T>(rng, d);
      const auto mask = make_mask(rng, d, kind);
      const uint8_t* m = kind == 0 ? nullptr : mask.data();
      std::vector<T> out(size_t(d.B * d.C));
      std::vector<int32_t> argmax(out.size());
      testing::poison(std::span<T>(out));
      testing::poison(std::span<int32_t>(argmax));
      ops::masked_max_forward(out.data(), argmax.data(), x.data(), m, d.B, d.S, d.C);
      std::vector<double> e_out;
      std::vector<int32_t> e_arg;
      ref_masked_max(e_out, e_arg, x, m, d);
      const std::string what = "masked_max B=" + std::to_string(d.B) + " S=" + std::to_string(d.S) +
                               " C=" + std::to_string(d.C) + " mask kind " + std::to_string(kind);
      testing::check_close(out, e_out, 0.0, 0.0, what);  // a max selects: exact
      CHECK_MESSAGE(argmax == e_arg, what);
    }
}

}  // namespace

TEST_CASE("ops/masked_max: forward matches the reference (masks, all-padded sets, column blocks)") {
  check_forward<float>();
  check_forward<double>();
}

TEST_CASE("ops/masked_max: ties go to the first real member, all-padded sets give 0 and -1") {
  // B = 3 sets of S = 4 members, C = 2: set 0 all equal with member 0 padded; set 1 a tie between
  // members 1 and 3 in column 0; set 2 entirely padded.
  const std::vector<double> x = {5, 5, 5, 5, 5, 5, 5, 5,   // set 0
                                 1, 0, 7, 2, 3, 9, 7, 9,   // set 1
                                 4, 4, 8, 8, 1, 1, 2, 2};  // set 2
  const std::vector<uint8_t> mask = {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  std::vector<double> out(6, std::nan(""));
  std::vector<int32_t> argmax(6, 99);
  ops::masked_max_forward(out.data(), argmax.data(), x.data(), mask.data(), 3, 4, 2);
  CHECK(out == std::vector<double>{5, 5, 7, 9, 0, 0});
  CHECK(argmax == std::vector<int32_t>{1, 1, 1, 2, -1, -1});
  // Without a mask, set 2's maximum 8 is at members 1 (column 0) and 1 (column 1).
  ops::masked_max_forward(out.data(), argmax.data(), x.data(), static_cast<const uint8_t*>(nullptr), 3, 4, 2);
  CHECK(argmax == std::vector<int32_t>{0, 0, 1, 2, 1, 1});
  // Backward: the gradient goes to the argmax member only; nothing to the padded set.
  std::vector<double> dinp(24, 0.0);
  const std::vector<double> dout = {1, 2, 3, 4, 5, 6};
  ops::masked_max_forward(out.data(), argmax.data(), x.data(), mask.data(), 3, 4, 2);
  ops::masked_max_backward(dinp.data(), dout.data(), argmax.data(), 3, 4, 2);
  std::vector<double> expected(24, 0.0);
  expected[(0 * 4 + 1) * 2 + 0] = 1;
  expected[(0 * 4 + 1) * 2 + 1] = 2;
  expected[(1 * 4 + 1) * 2 + 0] = 3;
  expected[(1 * 4 + 2) * 2 + 1] = 4;
  CHECK(dinp == expected);
  // S == 0: every set is empty.
  ops::masked_max_forward(out.data(), argmax.data(), static_cast<const double*>(nullptr),
                          static_cast<const uint8_t*>(nullptr), 3, 0, 2);
  CHECK(out == std::vector<double>(6, 0.0));
  CHECK(argmax == std::vector<int32_t>(6, -1));
}

TEST_CASE("ops/masked_max: backward matches finite differences and accumulates") {
  auto rng = testing::test_rng();
  for (const Dims d : {Dims{3, 5, 7}, Dims{2, 1, 3}, Dims{4, 6, 2}, Dims{1, 9, 260}})
    for (int kind = 0; kind < 4; ++kind) {
      auto x = ties_free_input<double>(rng, d);
      const auto mask = make_mask(rng, d, kind);
      const uint8_t* m = kind == 0 ? nullptr : mask.data();
      const auto W = testing::random_vector<double>(rng, size_t(d.B * d.C));
      std::vector<double> out(W.size());
      std::vector<int32_t> argmax(W.size());
      auto loss = [&] {
        ops::masked_max_forward(out.data(), argmax.data(), x.data(), m, d.B, d.S, d.C);
        double L = 0;
        for (size_t i = 0; i < out.size(); ++i) L += out[i] * W[i];
        return L;
      };
      // The levels are >= 1/S apart and the step is 1e-5: no argmax changes under the perturbation.
      const auto numeric = testing::numeric_gradient(std::span<double>(x), loss);
      loss();  // argmax of the unperturbed input
      const auto dinp0 = testing::random_vector<double>(rng, x.size());
      auto dinp = dinp0;
      ops::masked_max_backward(dinp.data(), W.data(), argmax.data(), d.B, d.S, d.C);
      std::vector<double> delta(x.size()), expected = dinp0;
      for (size_t i = 0; i < x.size(); ++i) delta[i] = dinp[i] - dinp0[i];
      for (int64_t b = 0; b < d.B; ++b)
        for (int64_t c = 0; c < d.C; ++c) {
          const int32_t a = argmax[size_t(b * d.C + c)];
          if (a >= 0) expected[size_t((b * d.S + a) * d.C + c)] += W[size_t(b * d.C + c)];
        }
      const std::string what = "masked_max_backward B=" + std::to_string(d.B) + " S=" + std::to_string(d.S) +
                               " C=" + std::to_string(d.C) + " mask kind " + std::to_string(kind);
      bool any_real = m == nullptr || std::any_of(mask.begin(), mask.end(), [](uint8_t v) { return v != 0; });
      if (any_real) SIMAD_CHECK_GRADIENT(delta, numeric, what);
      testing::check_close(dinp, expected, 1e-12, 1e-12, what);
      // Padded members get exactly nothing.
      if (m)
        for (int64_t b = 0; b < d.B; ++b)
          for (int64_t s = 0; s < d.S; ++s)
            if (!m[b * d.S + s])
              for (int64_t c = 0; c < d.C; ++c) {
                const size_t at = size_t((b * d.S + s) * d.C + c);
                REQUIRE(dinp[at] == dinp0[at]);
              }
    }
}

TEST_CASE("ops/masked_max: float backward scatters dout exactly") {
  auto rng = testing::test_rng();
  const Dims d{4, 17, 300};
  const auto x = ties_free_input<float>(rng, d);
  const auto mask = make_mask(rng, d, 3);
  std::vector<float> out(size_t(d.B * d.C));
  std::vector<int32_t> argmax(out.size());
  ops::masked_max_forward(out.data(), argmax.data(), x.data(), mask.data(), d.B, d.S, d.C);
  const auto dout = testing::random_vector<float>(rng, out.size());
  const auto dinp0 = testing::random_vector<float>(rng, x.size());
  auto dinp = dinp0;
  ops::masked_max_backward(dinp.data(), dout.data(), argmax.data(), d.B, d.S, d.C);
  std::vector<double> e_out;
  std::vector<int32_t> e_arg;
  ref_masked_max(e_out, e_arg, x, mask.data(), d);
  std::vector<float> want = dinp0;  // the tier's scatter from its own argmax
  ops::reference::masked_max_backward(want.data(), dout.data(), e_arg.data(), d.B, d.S, d.C);
  const std::vector<double> expected(want.begin(), want.end());
  testing::check_close(dinp, expected, 0.0, 0.0, "float masked_max_backward");
}

TEST_CASE("ops/masked_max: bad arguments throw simad::Error") {
  std::vector<float> x(24, 0.0f), out(6), dinp(24);
  std::vector<int32_t> argmax(6, 0);
  CHECK_THROWS_AS(ops::masked_max_forward(out.data(), argmax.data(), x.data(), static_cast<const uint8_t*>(nullptr),
                                          -1, 4, 2),
                  Error);
  CHECK_THROWS_AS(ops::masked_max_forward(out.data(), argmax.data(), x.data(), static_cast<const uint8_t*>(nullptr),
                                          3, int64_t(1) << 31, 2),
                  Error);
  CHECK_THROWS_AS(ops::masked_max_forward(out.data(), static_cast<int32_t*>(nullptr), x.data(),
                                          static_cast<const uint8_t*>(nullptr), 3, 4, 2),
                  Error);
  argmax[4] = 4;  // S = 4: out of range
  CHECK_THROWS_AS(ops::masked_max_backward(dinp.data(), out.data(), argmax.data(), 3, 4, 2), Error);
  argmax[4] = -2;
  CHECK_THROWS_AS(ops::masked_max_backward(dinp.data(), out.data(), argmax.data(), 3, 4, 2), Error);
  CHECK_THROWS_AS(ops::masked_max_backward(dinp.data(), static_cast<const float*>(nullptr), argmax.data(), 3, 4, 2),
                  Error);
}

}  // namespace SIMAD_TEST_FILE_ID
