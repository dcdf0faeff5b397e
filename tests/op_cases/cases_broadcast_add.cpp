// tests/op_cases/cases_broadcast_add.cpp: broadcast-add rows of the op harness (op_harness.hpp).
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/broadcast_add.hpp"
#include "simad/ops/reference/broadcast_add.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// C = 1 (ION's SCA), odd sizes, C above a block of 256 threads; "grads": 0 da and dv, 1 da only, 2 dv only.
const std::vector<Sizes> kShapes =
    sizes_of({"B", "S", "C"}, {{1, 1, 1}, {4, 9, 1}, {3, 5, 300}, {2, 33, 37}, {2, 3, 1025}});

const OpCase kCases[] = {
    {.name = "broadcast_add forward, backward",
     .sizes = times(kShapes, "grads", {0, 1, 2}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), S = s.at("S"), C = s.at("C");
           Specs v{real("a", {B, S, C}), real("v", {B, C}), out("out", {B, S, C}), real("dout", {B, S, C})};
           if (s.at("grads") != 2) v.push_back(acc("da", {B, S, C}));
           if (s.at("grads") != 1) v.push_back(acc("dv", {B, C}));
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           broadcast_add_forward(io.p("out"), io.p("a"), io.p("v"), io.n("B"), io.n("S"), io.n("C"));
                           broadcast_add_backward(io.p_or_null("da"), io.p_or_null("dv"), io.p("dout"), io.n("B"),
                                                  io.n("S"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::broadcast_add_forward(io.t("out"), io.t("a"), io.t("v"));
           simad::ops::broadcast_add_backward(io.t_or_undefined("da"), io.t_or_undefined("dv"), io.t("dout"));
         }},
    {.name = "broadcast_add in place",
     .sizes = kShapes,
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), S = s.at("S"), C = s.at("C");
           return Specs{acc("a", {B, S, C}), real("v", {B, C})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           broadcast_add_forward(io.p("a"), io.p("a"), io.p("v"), io.n("B"), io.n("S"), io.n("C"))),
     .tensor_call = [](auto& io) { simad::ops::broadcast_add_forward(io.t("a"), io.t("a"), io.t("v")); }},
};

}  // namespace

TEST_CASE("op_cases: broadcast_add") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
