// tests/op_cases/cases_keyword_gate.cpp: ION's keyword-gate rows of the op harness (op_harness.hpp).
#include <span>

#include "op_harness.hpp"
#include "simad/ops/dispatch/keyword_gate.hpp"
#include "simad/ops/reference/keyword_gate.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// probs (N, 2): rows (1 - p, p), p exactly 0.5 in every tenth row (the hard gate's tie).
Spec gate_probs(int64_t N) {
  Spec s = real("probs", {N, 2});
  s.make_real = [](simad::Rng& rng, std::span<float> x) {
    for (size_t i = 0; i < x.size() / 2; ++i) {
      const float p1 = i % 10 == 0 ? 0.5f : float(rng.next_uniform());
      x[2 * i + 1] = p1, x[2 * i] = 1.0f - p1;
    }
  };
  return s;
}

const OpCase kCases[] = {
    // Hard and soft weights, padded words (mask ~70% real); the soft backward.
    {.name = "keyword_gate forward, backward",
     .sizes = times(sizes_of({"N"}, {{1}, {33}, {301}, {1025}}), "hard", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N");
           return Specs{gate_probs(N), mask("mask", {N}, MaskRows::random), out("lambda", {N}), real("dlambda", {N}),
                        acc("dlogits", {N, 2})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           keyword_gate_forward(io.p("lambda"), io.p("probs"), io.m("mask"), io.n("N"),
                                                io.n("hard") != 0);
                           keyword_gate_backward(io.p("dlogits"), io.p("dlambda"), io.p("probs"), io.m("mask"),
                                                 io.n("N"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::keyword_gate_forward(io.t("lambda"), io.t("probs"), io.tm("mask"), io.n("hard") != 0);
           simad::ops::keyword_gate_backward(io.t("dlogits"), io.t("dlambda"), io.t("probs"), io.tm("mask"));
         },
     .cuda = {0, 0}},  // the same arithmetic, elementwise: exact
};

}  // namespace

TEST_CASE("op_cases: keyword_gate") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
