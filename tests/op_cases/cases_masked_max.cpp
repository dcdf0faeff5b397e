// tests/op_cases/cases_masked_max.cpp: masked set max-pool rows of the op harness (op_harness.hpp).
#include <span>
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/masked_max.hpp"
#include "simad/ops/reference/masked_max.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// S = 1, C above a block (300); masks (B, S) cycle all real, random, one real, all padded (out 0, argmax -1).
const std::vector<Sizes> kShapes =
    sizes_of({"B", "S", "C"}, {{1, 1, 1}, {4, 5, 3}, {3, 9, 300}, {6, 2, 17}, {5, 33, 40}});

const OpCase kCases[] = {
    {.name = "masked_max forward, backward",
     .sizes = times(kShapes, "masked", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), S = s.at("S"), C = s.at("C");
           // Tied inputs: ties go to the first member.
           Specs v{tied("inp", {B, S, C}), out("out", {B, C}), out("argmax", {B, C}, Kind::index), real("dout", {B, C}),
                   acc("dinp", {B, S, C})};
           if (s.at("masked")) v.push_back(mask("mask", {B, S}));
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           masked_max_forward(io.p("out"), io.i("argmax"), io.p("inp"), io.m_or_null("mask"),
                                              io.n("B"), io.n("S"), io.n("C"));
                           masked_max_backward(io.p("dinp"), io.p("dout"), io.i("argmax"), io.n("B"), io.n("S"),
                                               io.n("C"))),
     .tensor_call =
         [](auto& io) {
           const auto m = io.masks.count("mask") ? io.tm("mask") : simad::Tensor<uint8_t>();
           simad::ops::masked_max_forward(io.t("out"), io.ti("argmax"), io.t("inp"), m);
           simad::ops::masked_max_backward(io.t("dinp"), io.t("dout"), io.ti("argmax"));
         },
     .cuda = {0, 0}},  // a max, an index and one addition per element: exact
    {.name = "masked_max backward into an undefined dinp",
     .sizes = sizes_of({"B", "S", "C"}, {{4, 5, 3}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), S = s.at("S"), C = s.at("C");
           return Specs{real("dout", {B, C}), index("argmax", {B, C}, -1, S)};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, masked_max_backward(static_cast<T_*>(nullptr), io.p("dout"),
                                                                io.i("argmax"), io.n("B"), io.n("S"), io.n("C"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::masked_max_backward(std::remove_cvref_t<decltype(io.t("dout"))>(), io.t("dout"),
                                           io.ti("argmax"));
         }},
};

}  // namespace

TEST_CASE("op_cases: masked_max") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
