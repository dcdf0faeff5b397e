// tests/op_cases/cases_l2norm.cpp: L2 row normalisation rows of the op harness (op_harness.hpp).
#include <span>
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/l2norm.hpp"
#include "simad/ops/reference/l2norm.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// x (N, C) uniform in [-1, 1); with N > 2 row 0 is zero and row 1 tiny (1e-14, 0, ...): the clamped regime.
Spec rows_with_clamped(const simad::Shape& shape, int64_t N, int64_t C) {
  Spec s = real("x", shape);
  s.make_real = [N, C](simad::Rng& rng, std::span<float> x) {
    rng.fill_uniform(x, -1.0, 1.0);
    if (N > 2)
      for (int64_t c = 0; c < C; ++c) x[size_t(c)] = 0.0f, x[size_t(C + c)] = c == 0 ? 1e-14f : 0.0f;
  };
  return s;
}

// 1 row of 1, odd widths, more columns than a block of 256 threads.
const std::vector<Sizes> kShapes = sizes_of({"N", "C"}, {{1, 1}, {5, 7}, {4, 33}, {9, 300}, {3, 1025}});

const OpCase kCases[] = {
    // The clamped rows' gradient is g / 1e-12.
    {.name = "l2norm forward, backward",
     .sizes = kShapes,
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), C = s.at("C");
           return Specs{rows_with_clamped({N, C}, N, C), out("y", {N, C}), out("norm", {N}), real("dy", {N, C}),
                        acc("dx", {N, C})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, l2norm_forward(io.p("y"), io.p("norm"), io.p("x"), io.n("N"), io.n("C"));
                           l2norm_backward(io.p("dx"), io.p("dy"), io.p("y"), io.p("norm"), io.n("N"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::l2norm_forward(io.t("y"), io.t("norm"), io.t("x"));
           simad::ops::l2norm_backward(io.t("dx"), io.t("dy"), io.t("y"), io.t("norm"));
         },
     .cuda = {1e-4, 1e-5}},
    // No norm saved; in place (out == inp); an undefined dinp is skipped; eps 1e-3 (more rows clamped).
    {.name = "l2norm in place, without norm, eps 1e-3",
     .sizes = sizes_of({"N", "C"}, {{1, 1}, {6, 45}, {2, 1500}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), C = s.at("C");
           Spec x = acc("x", {N, C});  // small: rows below and above eps
           x.lo = -3e-4, x.hi = 3e-4;
           return Specs{x, real("y", {N, C}), real("norm", {N}, 0, 2), real("dy", {N, C})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           l2norm_forward(io.p("x"), static_cast<T_*>(nullptr), io.p("x"), io.n("N"), io.n("C"),
                                          T_(1e-3));
                           l2norm_backward(static_cast<T_*>(nullptr), io.p("dy"), io.p("y"), io.p("norm"), io.n("N"),
                                           io.n("C"))),
     .tensor_call =
         [](auto& io) {
           using Tn = std::remove_cvref_t<decltype(io.t("x"))>;
           simad::ops::l2norm_forward(io.t("x"), Tn(), io.t("x"), typename Tn::value_type(1e-3));
           simad::ops::l2norm_backward(Tn(), io.t("dy"), io.t("y"), io.t("norm"));
         }},
    // Tensors of rank 3 are (A*B, C) rows, norm (A, B).
    {.name = "l2norm on rank-3 tensors",
     .sizes = sizes_of({"A", "B", "C"}, {{2, 3, 19}, {3, 5, 37}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t A = s.at("A"), B = s.at("B"), C = s.at("C");
           const simad::Shape shape{A, B, C};
           return Specs{rows_with_clamped(shape, A * B, C), out("y", shape), out("norm", {A, B}), real("dy", shape),
                        acc("dx", shape)};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const int64_t N = io.n("A") * io.n("B");
                           l2norm_forward(io.p("y"), io.p("norm"), io.p("x"), N, io.n("C"));
                           l2norm_backward(io.p("dx"), io.p("dy"), io.p("y"), io.p("norm"), N, io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::l2norm_forward(io.t("y"), io.t("norm"), io.t("x"));
           simad::ops::l2norm_backward(io.t("dx"), io.t("dy"), io.t("y"), io.t("norm"));
         },
     .cuda = {1e-4, 1e-5}},
};

}  // namespace

TEST_CASE("op_cases: l2norm") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
