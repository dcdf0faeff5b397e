// tests/op_cases/cases_cross_entropy.cpp: cross-entropy rows of the op harness (op_harness.hpp).
#include <span>
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/cross_entropy.hpp"
#include "simad/ops/reference/cross_entropy.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

constexpr int32_t kIgnore = -100;

// Targets (N) in [0, C); when `ignored`, rows after the first are kIgnore with probability 1/4.
Spec targets(const simad::Shape& shape, int64_t C, bool ignored) {
  Spec s = index("targets", shape, 0, C);
  s.make_index = [C, ignored](simad::Rng& rng, std::span<int32_t> t) {
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = ignored && i > 0 && rng.next_below(4) == 0 ? kIgnore : int32_t(rng.next_below(uint32_t(C)));
  };
  return s;
}

// 1 row, 1 class, not multiples of 32, rows longer than a warp row (1024) and than a block of 256
// threads; with and without ignored rows.
const std::vector<Sizes> kRows = times(
    sizes_of({"N", "C"}, {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {300, 10}, {3, 1000}, {2, 1025}, {3, 3001}}), "ignored",
    {0, 1});

const OpCase kCases[] = {
    {.name = "cross_entropy forward, backward",
     .sizes = kRows,
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), C = s.at("C");
           return Specs{real("logits", {N, C}, -6, 6), targets({N}, C, s.at("ignored") != 0), out("probs", {N, C}),
                        acc("dlogits", {N, C})};
         },
     .call = SIMAD_OP_CALL(
         kDouble | kCuda,
         io.scalars["loss"] = double(cross_entropy_forward(io.p("probs"), io.p("logits"), io.i("targets"), io.n("N"),
                                                           io.n("C"), kIgnore));
         cross_entropy_backward(io.p("dlogits"), T_(0.75), io.p("probs"), io.i("targets"), io.n("N"), io.n("C"),
                                kIgnore)),
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           io.scalars["loss"] = double(simad::ops::cross_entropy_forward(io.t("probs"), io.t("logits"),
                                                                         io.ti("targets"), kIgnore));
           simad::ops::cross_entropy_backward(io.t("dlogits"), T(0.75), io.t("probs"), io.ti("targets"), kIgnore);
         }},
    // No probs (no backward follows): the same loss; a null / undefined dlogits is skipped.
    {.name = "cross_entropy without probs, without dlogits",
     .sizes = sizes_of({"N", "C"}, {{1, 1}, {13, 17}, {300, 10}, {2, 1025}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), C = s.at("C");
           return Specs{real("logits", {N, C}, -6, 6), targets({N}, C, true), real("probs", {N, C}, 0, 1)};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           io.scalars["loss"] = double(cross_entropy_forward(static_cast<T_*>(nullptr), io.p("logits"),
                                                                             io.i("targets"), io.n("N"), io.n("C")));
                           cross_entropy_backward(static_cast<T_*>(nullptr), T_(1), io.p("probs"), io.i("targets"),
                                                  io.n("N"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           using Tn = std::remove_cvref_t<decltype(io.t("logits"))>;
           io.scalars["loss"] = double(simad::ops::cross_entropy_forward(Tn(), io.t("logits"), io.ti("targets")));
           simad::ops::cross_entropy_backward(Tn(), typename Tn::value_type(1), io.t("probs"), io.ti("targets"));
         }},
    // A custom ignore index that every row has: loss 0, dlogits unchanged; probs of every row still written.
    {.name = "cross_entropy with every row ignored (ignore index 3)",
     .sizes = sizes_of({"N", "C"}, {{7, 13}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), C = s.at("C");
           Spec t = index("targets", {N}, 3, 4);
           return Specs{real("logits", {N, C}), t, out("probs", {N, C}), acc("dlogits", {N, C})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           io.scalars["loss"] = double(cross_entropy_forward(io.p("probs"), io.p("logits"),
                                                                             io.i("targets"), io.n("N"), io.n("C"), 3));
                           cross_entropy_backward(io.p("dlogits"), T_(1), io.p("probs"), io.i("targets"), io.n("N"),
                                                  io.n("C"), 3)),
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           io.scalars["loss"] =
               double(simad::ops::cross_entropy_forward(io.t("probs"), io.t("logits"), io.ti("targets"), 3));
           simad::ops::cross_entropy_backward(io.t("dlogits"), T(1), io.t("probs"), io.ti("targets"), 3);
         }},
    // Tensors of rank 3 are (A*B, C) rows, targets (A, B); ignore index -1.
    {.name = "cross_entropy on rank-3 tensors",
     .sizes = sizes_of({"A", "B", "C"}, {{2, 3, 19}, {4, 5, 37}}),
     .tensors =
         [](const Sizes& s) {
           const simad::Shape shape{s.at("A"), s.at("B"), s.at("C")};
           Spec t = index("targets", {s.at("A"), s.at("B")}, -1, s.at("C"));
           return Specs{real("logits", shape, -5, 5), t, out("probs", shape), acc("dlogits", shape)};
         },
     .call = SIMAD_OP_CALL(
         kDouble | kCuda, const int64_t N = io.n("A") * io.n("B");
         io.scalars["loss"] =
             double(cross_entropy_forward(io.p("probs"), io.p("logits"), io.i("targets"), N, io.n("C"), -1));
         cross_entropy_backward(io.p("dlogits"), T_(0.5), io.p("probs"), io.i("targets"), N, io.n("C"), -1)),
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           io.scalars["loss"] =
               double(simad::ops::cross_entropy_forward(io.t("probs"), io.t("logits"), io.ti("targets"), -1));
           simad::ops::cross_entropy_backward(io.t("dlogits"), T(0.5), io.t("probs"), io.ti("targets"), -1);
         }},
};

}  // namespace

TEST_CASE("op_cases: cross_entropy") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
