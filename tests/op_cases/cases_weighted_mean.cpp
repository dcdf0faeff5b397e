// tests/op_cases/cases_weighted_mean.cpp: weighted_mean rows of the op harness (op_harness.hpp): the
// weighted set mean forward and backward (ops/weighted_mean.hpp, ops/dispatch/weighted_mean.hpp,
// kernels/weighted_mean.cu). Sets with sum w < 1, > 1, and none (set 1's weights all 0); C above a block.
#include "op_harness.hpp"
#include "simad/ops/dispatch/weighted_mean.hpp"
#include "simad/ops/reference/weighted_mean.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// Weights in [0, 0.8); set 1 (when there is one) has no members.
std::function<void(simad::Rng&, std::span<float>)> weights(int64_t S) {
  return [S](simad::Rng& rng, std::span<float> w) {
    rng.fill_uniform(w, 0.0, 0.8);
    if (int64_t(w.size()) > S)
      for (int64_t s = 0; s < S; ++s) w[size_t(S + s)] = 0.0f;
  };
}

// grads: 1 dx, 2 dw (either may be null).
Specs weighted_mean_tensors(const Sizes& s) {
  const int64_t B = s.at("B"), S = s.at("S"), C = s.at("C");
  Spec w = real("w", {B, S});
  w.make_real = weights(S);
  Specs v{real("x", {B, S, C}), w, out("out", {B, C}), out("den", {B}), real("dout", {B, C})};
  if (s.at("grads") & 1) v.push_back(acc("dx", {B, S, C}));
  if (s.at("grads") & 2) v.push_back(acc("dw", {B, S}));
  return v;
}

const OpCase kCases[] = {
    {.name = "weighted_mean forward, backward",
     .sizes = times(sizes_of({"B", "S", "C"}, {{1, 1, 1}, {4, 5, 3}, {3, 7, 300}, {2, 33, 1030}}), "grads", {1, 2, 3}),
     .tensors = weighted_mean_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           weighted_mean_forward(io.p("out"), io.p("den"), io.p("x"), io.p("w"), io.n("B"), io.n("S"),
                                                 io.n("C"));
                           weighted_mean_backward(io.p_or_null("dx"), io.p_or_null("dw"), io.p("dout"), io.p("x"),
                                                  io.p("w"), io.p("out"), io.p("den"), io.n("B"), io.n("S"),
                                                  io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::weighted_mean_forward(io.t("out"), io.t("den"), io.t("x"), io.t("w"));
           simad::ops::weighted_mean_backward(io.t_or_undefined("dx"), io.t_or_undefined("dw"), io.t("dout"),
                                              io.t("x"), io.t("w"), io.t("out"), io.t("den"));
         },
     .cuda = {1e-6, 1e-5}},
};

}  // namespace

TEST_CASE("op_cases: weighted_mean") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
