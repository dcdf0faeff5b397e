// tests/op_cases/cases_layernorm.cpp: layernorm rows of the op harness (op_harness.hpp).
#include "op_harness.hpp"
#include "simad/ops/dispatch/layernorm.hpp"
#include "simad/ops/reference/layernorm.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// 1 row, 1 column, not multiples of 32 or of a block, rows longer than a warp row (1024) and than a block;
// N > 64 rows make several chunks in the CUDA dweight/dbias reduction (300: 5 chunks of 60 rows).
// affine: 0 weight and bias, 1 weight only, 2 neither.
const std::vector<Sizes> kRows = times(sizes_of({"N", "C"}, {{1, 1}, {1, 37}, {5, 1}, {9, 33}, {70, 45}, {300, 20},
                                                             {3, 1000}, {2, 1025}, {2, 3001}}),
                                       "affine", {0, 1, 2});

Specs layernorm_tensors(const Sizes& s) {
  const int64_t N = s.at("N"), C = s.at("C");
  Specs v{real("x", {N, C}, -2, 3), out("y", {N, C}), out("mean", {N}), out("rstd", {N}), real("dy", {N, C}),
          acc("dx", {N, C}),        acc("dw", {C}),    acc("db", {C})};
  if (s.at("affine") <= 1) v.push_back(real("w", {C}, 0.5, 1.5));
  if (s.at("affine") == 0) v.push_back(real("b", {C}));
  return v;
}

// Tensors of rank 3, (A, B, C) taken as (A * B, C); mean and rstd (A, B).
Specs rank3_tensors(const Sizes& s) {
  const int64_t A = s.at("A"), B = s.at("B"), C = s.at("C");
  return Specs{real("x", {A, B, C}, -2, 3), real("w", {C}, 0.5, 1.5), real("b", {C}),    out("y", {A, B, C}),
               out("mean", {A, B}),         out("rstd", {A, B}),      real("dy", {A, B, C}), acc("dx", {A, B, C}),
               acc("dw", {C}),              acc("db", {C})};
}

// Backward with some gradients null: grads is a bit set (1 dinp, 2 dweight, 4 dbias); weight: with / without.
Specs some_grads_tensors(const Sizes& s) {
  const int64_t N = s.at("N"), C = s.at("C"), g = s.at("grads");
  Specs v{real("x", {N, C}, -2, 3), real("b", {C}), out("y", {N, C}), out("mean", {N}), out("rstd", {N}),
          real("dy", {N, C})};
  if (s.at("weight")) v.push_back(real("w", {C}, 0.5, 1.5));
  if (g & 1) v.push_back(acc("dx", {N, C}));
  if (g & 2) v.push_back(acc("dw", {C}));
  if (g & 4) v.push_back(acc("db", {C}));
  return v;
}

#define SIMAD_LAYERNORM_BOTH_                                                                                   \
  layernorm_forward(io.p("y"), io.p("mean"), io.p("rstd"), io.p("x"), io.p_or_null("w"), io.p_or_null("b"), \
                    io.n("N"), io.n("C"));                                                                      \
  layernorm_backward(io.p_or_null("dx"), io.p_or_null("dw"), io.p_or_null("db"), io.p("dy"), io.p("x"),     \
                     io.p_or_null("w"), io.p("mean"), io.p("rstd"), io.n("N"), io.n("C"))

const auto tensor_both = [](auto& io) {
  simad::ops::layernorm_forward(io.t("y"), io.t("mean"), io.t("rstd"), io.t("x"), io.t_or_undefined("w"),
                                io.t_or_undefined("b"));
  simad::ops::layernorm_backward(io.t_or_undefined("dx"), io.t_or_undefined("dw"), io.t_or_undefined("db"),
                                 io.t("dy"), io.t("x"), io.t_or_undefined("w"), io.t("mean"), io.t("rstd"));
};

const OpCase kCases[] = {
    {.name = "layernorm forward, backward",
     .sizes = kRows,
     .tensors = layernorm_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, SIMAD_LAYERNORM_BOTH_),
     .tensor_call = tensor_both,
     .cpu = {5e-5, 1e-5},
     .cuda = {2e-5, 1e-5}},
    {.name = "layernorm forward, backward on rank 3 tensors",
     .sizes = sizes_of({"A", "B", "C", "N"}, {{4, 6, 45, 24}, {2, 3, 21, 6}}),
     .tensors = rank3_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, SIMAD_LAYERNORM_BOTH_),
     .tensor_call = tensor_both,
     .cpu = {5e-5, 1e-5},
     .cuda = {2e-5, 1e-5}},
    {.name = "layernorm backward with null gradients",
     .sizes = times(times(sizes_of({"N", "C"}, {{130, 40}, {6, 21}}), "weight", {0, 1}), "grads", {0, 1, 2, 4}),
     .tensors = some_grads_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, SIMAD_LAYERNORM_BOTH_),
     .tensor_call = tensor_both,
     .cpu = {5e-5, 1e-5},
     .cuda = {2e-5, 1e-5}},
    {.name = "layernorm forward without mean and rstd, eps 1e-3",
     .sizes = times(sizes_of({"N", "C"}, {{4, 50}, {3, 1030}}), "affine", {0, 2}),
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), C = s.at("C");
           Specs v{real("x", {N, C}, -2, 3), out("y", {N, C})};
           if (s.at("affine") == 0) v.insert(v.end(), {real("w", {C}, 0.5, 1.5), real("b", {C})});
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda,
                           layernorm_forward(io.p("y"), static_cast<T_*>(nullptr), static_cast<T_*>(nullptr), io.p("x"),
                                             io.p_or_null("w"), io.p_or_null("b"), io.n("N"), io.n("C"), T_(1e-3))),
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           simad::ops::layernorm_forward(io.t("y"), simad::Tensor<T>(), simad::Tensor<T>(), io.t("x"),
                                         io.t_or_undefined("w"), io.t_or_undefined("b"), T(1e-3));
         },
     .cuda = {1e-5, 1e-5}},
};

#undef SIMAD_LAYERNORM_BOTH_

}  // namespace

TEST_CASE("op_cases: layernorm") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
