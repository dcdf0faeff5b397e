// tests/op_cases/cases_gelu_tanh.cpp: gelu_tanh's row of the op harness (op_harness.hpp), the worked
// example of docs/writing-ops.md.
#include "op_harness.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/reference/activation.hpp"

namespace {

using namespace simad::testing::op_cases;

const OpCase kCases[] = {
    {.name = "gelu_tanh forward, backward",
     .sizes = sizes_of({"n"}, {{1}, {31}, {1000}, {4099}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n");
           return Specs{real("x", {n}, -6, 6), out("y", {n}), real("dy", {n}), acc("dx", {n})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, gelu_tanh_forward(io.p("y"), io.p("x"), io.n("n"));
                           gelu_tanh_backward(io.p("dx"), io.p("dy"), io.p("x"), io.n("n"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::gelu_tanh_forward(io.t("y"), io.t("x"));
           simad::ops::gelu_tanh_backward(io.t("dx"), io.t("dy"), io.t("x"));
         }},
};

}  // namespace

TEST_CASE("op_cases: gelu_tanh") { check_cases(kCases); }
