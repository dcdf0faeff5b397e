// tests/op_cases/cases_softmax.cpp: softmax rows of the op harness (op_harness.hpp).
#include "op_harness.hpp"
#include "simad/ops/dispatch/softmax.hpp"
#include "simad/ops/reference/softmax.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// 1 row, 1 column, not multiples of 32 or of a block, rows longer than a warp row (1024) and than a block
// of 256 threads; with and without a mask (rows: all kept, random, one kept, none kept).
const std::vector<Sizes> kRows =
    times(sizes_of({"N", "C"}, {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {8, 2}, {4, 1000}, {2, 1025}, {3, 3001}}),
          "masked", {0, 1});

Specs softmax_tensors(const Sizes& s) {
  const int64_t N = s.at("N"), C = s.at("C");
  Specs v{real("x", {N, C}, -8, 8), out("y", {N, C}), real("dy", {N, C}), acc("dx", {N, C})};
  if (s.at("masked")) v.push_back(mask("mask", {N, C}));
  return v;
}

const OpCase kCases[] = {
    {.name = "softmax forward, backward",
     .sizes = kRows,
     .tensors = softmax_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           softmax_forward(io.p("y"), io.p("x"), io.m_or_null("mask"), io.n("N"), io.n("C"));
                           softmax_backward(io.p("dx"), io.p("dy"), io.p("y"), io.n("N"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::softmax_forward(io.t("y"), io.t("x"), io.tm_or_null("mask"));
           simad::ops::softmax_backward(io.t("dx"), io.t("dy"), io.t("y"));
         }},
    {.name = "softmax forward in place",
     .sizes = sizes_of({"N", "C"}, {{6, 45}, {2, 1500}}),
     .tensors = [](const Sizes& s) { return Specs{acc("x", {s.at("N"), s.at("C")})}; },
     .call = SIMAD_OP_CALL(kDouble | kCuda, softmax_forward(io.p("x"), io.p("x"), nullptr, io.n("N"), io.n("C"))),
     .tensor_call = [](auto& io) { simad::ops::softmax_forward(io.t("x"), io.t("x")); }},
    // Tensors of rank 3 are (A*B, C) rows; an undefined dinp is skipped.
    {.name = "softmax on rank-3 tensors",
     .sizes = times(sizes_of({"A", "B", "C"}, {{2, 3, 19}, {3, 5, 37}}), "masked", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const simad::Shape shape{s.at("A"), s.at("B"), s.at("C")};
           Specs v{real("x", shape, -4, 4), out("y", shape), real("dy", shape), acc("dx", shape)};
           if (s.at("masked")) v.push_back(mask("mask", shape));
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const int64_t N = io.n("A") * io.n("B");
                           softmax_forward(io.p("y"), io.p("x"), io.m_or_null("mask"), N, io.n("C"));
                           softmax_backward(io.p("dx"), io.p("dy"), io.p("y"), N, io.n("C"));
                           softmax_backward(static_cast<T_*>(nullptr), io.p("dy"), io.p("y"), N, io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::softmax_forward(io.t("y"), io.t("x"), io.tm_or_null("mask"));
           simad::ops::softmax_backward(io.t("dx"), io.t("dy"), io.t("y"));
           simad::ops::softmax_backward(std::remove_cvref_t<decltype(io.t("y"))>(), io.t("dy"), io.t("y"));
         }},
};

}  // namespace

TEST_CASE("op_cases: softmax") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
