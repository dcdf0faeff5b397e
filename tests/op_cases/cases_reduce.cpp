// tests/op_cases/cases_reduce.cpp: reduce rows of the op harness (op_harness.hpp): sums and means over all
// elements, over rows and over columns, forward and backward (ops/reduce.hpp, ops/dispatch/reduce.hpp,
// kernels/reduce.cu). Both the CPU ops and the kernels sum in double: only the final rounding differs.
#include "op_harness.hpp"
#include "simad/ops/dispatch/reduce.hpp"
#include "simad/ops/reference/reduce.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

constexpr Tolerance kSums{1e-6, 1e-6};
constexpr Tolerance kBackCuda{1e-7, 0.0};  // backward: the same float operations as the CPU op

// All elements: x has shape (A, B), N = A * B elements; 8193 and 100003 make 2 and 13 CUDA partial
// blocks; rank 2.
const std::vector<Sizes> kAll = sizes_of(
    {"A", "B", "N"}, {{1, 1, 1}, {1, 37, 37}, {1, 1000, 1000}, {1, 8193, 8193}, {1, 100003, 100003}, {35, 33, 1155}});
// Over rows (out (C)) and over columns (out (N) shaped as x's leading dimensions (A, B), N = A * B):
// 1 row, 1 column, not multiples of 32 or of the block; rows longer than a warp row and than a block
// (over columns); N > 64 rows make several chunks (over rows: 70 -> 2 chunks, 300 -> 5); rank 3.
const std::vector<Sizes> kAxis = sizes_of({"A", "B", "C", "N"}, {{1, 1, 1, 1},
                                                                 {1, 1, 37, 1},
                                                                 {1, 5, 1, 5},
                                                                 {1, 9, 33, 9},
                                                                 {1, 70, 45, 70},
                                                                 {1, 300, 20, 300},
                                                                 {1, 3, 1000, 3},
                                                                 {1, 2, 1025, 2},
                                                                 {1, 2, 3001, 2},
                                                                 {1, 99, 1001, 99},
                                                                 {5, 7, 33, 35}});

// grad 0: no dinp (the backward skips it).
Specs all_backward_tensors(const Sizes& s) {
  const int64_t A = s.at("A"), B = s.at("B");
  Specs v{real("ds", {1}), real("dm", {1})};
  if (s.at("grad")) v.insert(v.end(), {acc("dx_s", {A, B}), acc("dx_m", {A, B})});
  return v;
}
Specs axis_backward_tensors(const Sizes& s) {
  const int64_t A = s.at("A"), B = s.at("B"), C = s.at("C");
  Specs v{real("gr", {C}), real("gc", {A, B})};
  if (s.at("grad"))
    v.insert(v.end(), {acc("dx_sr", {A, B, C}), acc("dx_mr", {A, B, C}), acc("dx_sc", {A, B, C}),
                       acc("dx_mc", {A, B, C})});
  return v;
}

const OpCase kCases[] = {
    {.name = "sum, mean over all elements forward",
     .sizes = kAll,
     .tensors =
         [](const Sizes& s) {
           return Specs{real("x", {s.at("A"), s.at("B")}, -1, 3), out("s", {1}), out("m", {1})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, sum_forward(io.p("s"), io.p("x"), io.n("N"));
                           mean_forward(io.p("m"), io.p("x"), io.n("N"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::sum_forward(io.t("s"), io.t("x"));
           simad::ops::mean_forward(io.t("m"), io.t("x"));
         },
     .cpu = kSums,
     .cuda = kSums},
    {.name = "sum, mean over all elements backward",
     .sizes = times(kAll, "grad", {0, 1}),
     .tensors = all_backward_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, sum_backward(io.p_or_null("dx_s"), io.p("ds"), io.n("N"));
                           mean_backward(io.p_or_null("dx_m"), io.p("dm"), io.n("N"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::sum_backward(io.t_or_undefined("dx_s"), io.t("ds"));
           simad::ops::mean_backward(io.t_or_undefined("dx_m"), io.t("dm"));
         },
     .cpu = kSums,
     .cuda = kBackCuda},
    {.name = "sums, means over rows and over columns forward",
     .sizes = kAxis,
     .tensors =
         [](const Sizes& s) {
           const int64_t A = s.at("A"), B = s.at("B"), C = s.at("C");
           return Specs{real("x", {A, B, C}, -1, 2), out("sr", {C}), out("mr", {C}), out("sc", {A, B}),
                        out("mc", {A, B})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, sum_over_rows_forward(io.p("sr"), io.p("x"), io.n("N"), io.n("C"));
                           mean_over_rows_forward(io.p("mr"), io.p("x"), io.n("N"), io.n("C"));
                           sum_over_cols_forward(io.p("sc"), io.p("x"), io.n("N"), io.n("C"));
                           mean_over_cols_forward(io.p("mc"), io.p("x"), io.n("N"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::sum_over_rows_forward(io.t("sr"), io.t("x"));
           simad::ops::mean_over_rows_forward(io.t("mr"), io.t("x"));
           simad::ops::sum_over_cols_forward(io.t("sc"), io.t("x"));
           simad::ops::mean_over_cols_forward(io.t("mc"), io.t("x"));
         },
     .cpu = kSums,
     .cuda = kSums},
    {.name = "sums, means over rows and over columns backward",
     .sizes = times(kAxis, "grad", {0, 1}),
     .tensors = axis_backward_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           sum_over_rows_backward(io.p_or_null("dx_sr"), io.p("gr"), io.n("N"), io.n("C"));
                           mean_over_rows_backward(io.p_or_null("dx_mr"), io.p("gr"), io.n("N"), io.n("C"));
                           sum_over_cols_backward(io.p_or_null("dx_sc"), io.p("gc"), io.n("N"), io.n("C"));
                           mean_over_cols_backward(io.p_or_null("dx_mc"), io.p("gc"), io.n("N"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::sum_over_rows_backward(io.t_or_undefined("dx_sr"), io.t("gr"));
           simad::ops::mean_over_rows_backward(io.t_or_undefined("dx_mr"), io.t("gr"));
           simad::ops::sum_over_cols_backward(io.t_or_undefined("dx_sc"), io.t("gc"));
           simad::ops::mean_over_cols_backward(io.t_or_undefined("dx_mc"), io.t("gc"));
         },
     .cpu = kSums,
     .cuda = kBackCuda},
};

}  // namespace

TEST_CASE("op_cases: reduce") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
