// tests/op_cases/cases_attention.cpp: multi-head self-attention rows of the op harness (op_harness.hpp).
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/attention.hpp"
#include "simad/ops/reference/attention.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// N = 1, N not a multiple of the 32-row tile, two and three tiles, head sizes 1..64 (the CUDA kernel's
// limit); masks (B, N) cycle all real, random, one token, none (lse +inf).
const std::vector<Sizes> kShapes = sizes_of(
    {"B", "N", "C", "NH"}, {{1, 1, 4, 1}, {4, 33, 16, 2}, {4, 17, 64, 1}, {2, 70, 8, 8}, {5, 9, 12, 4}, {4, 9, 8, 2}});

Specs attention_tensors(const Sizes& s) {
  const int64_t B = s.at("B"), N = s.at("N"), C = s.at("C"), NH = s.at("NH");
  Specs v{real("qkv", {B, N, 3 * C}, -2, 2), out("out", {B, N, C}), out("lse", {B, NH, N})};
  if (s.at("masked")) v.push_back(mask("mask", {B, N}));
  if (s.count("backward")) v.push_back(real("dout", {B, N, C})), v.push_back(acc("dqkv", {B, N, 3 * C}));
  return v;
}

// The forward on bf16 tensor cores (CUDA tier) against the fp32 ops (CPU tiers).
template <typename Io>
void attention_bf16_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t B = io.n("B"), N = io.n("N"), C = io.n("C"), NH = io.n("NH");
  if (tier == Tier::reference)
    simad::ops::reference::attention_forward(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"), B, N, C, NH);
  else if (tier == Tier::cpu)
    simad::ops::attention_forward(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"), B, N, C, NH);
  else
    SIMAD_OP_CUDA(T, attention_forward_bf16_tensor_cores(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"),
                                                         B, N, C, NH))
}

// The backward on bf16 tensor cores (CUDA tier, on the fp32 forward's out and lse) against the fp32 ops.
template <typename Io>
void attention_backward_bf16_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t B = io.n("B"), N = io.n("N"), C = io.n("C"), NH = io.n("NH");
  if (tier == Tier::reference) {
    simad::ops::reference::attention_forward(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"), B, N, C, NH);
    simad::ops::reference::attention_backward(io.p("dqkv"), io.p("dout"), io.p("qkv"), io.p("out"), io.p("lse"),
                                              io.m_or_null("mask"), B, N, C, NH);
  } else if (tier == Tier::cpu) {
    simad::ops::attention_forward(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"), B, N, C, NH);
    simad::ops::attention_backward(io.p("dqkv"), io.p("dout"), io.p("qkv"), io.p("out"), io.p("lse"),
                                   io.m_or_null("mask"), B, N, C, NH);
  } else {
    SIMAD_OP_CUDA(T, attention_forward(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"), B, N, C, NH);
                  attention_backward_bf16_tensor_cores(io.p("dqkv"), io.p("dout"), io.p("qkv"), io.p("out"),
                                                       io.p("lse"), io.m_or_null("mask"), B, N, C, NH))
  }
}

const OpCase kCases[] = {
    {.name = "attention forward",
     .sizes = times(kShapes, "masked", {0, 1}),
     .tensors = attention_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, attention_forward(io.p("out"), io.p("lse"), io.p("qkv"),
                                                              io.m_or_null("mask"), io.n("B"), io.n("N"), io.n("C"),
                                                              io.n("NH"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::attention_forward(io.t("out"), io.t("lse"), io.t("qkv"), io.tm_or_null("mask"), io.n("NH"));
         },
     .cuda = {2e-6, 2e-5}},
    // bf16 products (q, k, v and the probabilities rounded to 8 significant bits) against fp32: scores off by
    // about 2^-9 of their terms' sizes, outputs (convex combinations of v in [-2, 2]) by about 2^-8 of 2,
    // 8e-3 at most seen for out and lse (tolerance 3e-2). tests/cuda/kernels/test_attention.cpp checks it tighter.
    {.name = "attention forward on bf16 tensor cores",
     .sizes = times(kShapes, "masked", {0, 1}),
     .tensors = attention_tensors,
     .call = [](auto& io, Tier tier) { attention_bf16_call(io, tier); },
     .tensor_call = {},
     .cuda = {3e-2, 1e-2}},
    // The backward (on the forward's saved out and lse) accumulates; an undefined dqkv is skipped.
    {.name = "attention forward, backward",
     .sizes = times(times(kShapes, "masked", {0, 1}), "backward", {1}),
     .tensors = attention_tensors,
     .call = SIMAD_OP_CALL(
         kDouble | kCuda, const int64_t B = io.n("B"), N = io.n("N"), C = io.n("C"), NH = io.n("NH");
         attention_forward(io.p("out"), io.p("lse"), io.p("qkv"), io.m_or_null("mask"), B, N, C, NH);
         attention_backward(io.p("dqkv"), io.p("dout"), io.p("qkv"), io.p("out"), io.p("lse"), io.m_or_null("mask"), B,
                            N, C, NH);
         attention_backward(static_cast<T_*>(nullptr), io.p("dout"), io.p("qkv"), io.p("out"), io.p("lse"),
                            io.m_or_null("mask"), B, N, C, NH)),
     .tensor_call =
         [](auto& io) {
           const auto* m = io.tm_or_null("mask");
           simad::ops::attention_forward(io.t("out"), io.t("lse"), io.t("qkv"), m, io.n("NH"));
           simad::ops::attention_backward(io.t("dqkv"), io.t("dout"), io.t("qkv"), io.t("out"), io.t("lse"), m,
                                          io.n("NH"));
           simad::ops::attention_backward(std::remove_cvref_t<decltype(io.t("qkv"))>(), io.t("dout"), io.t("qkv"),
                                          io.t("out"), io.t("lse"), m, io.n("NH"));
         },
     .cuda = {1e-5, 1e-4}},
    // Every product's inputs rounded to bf16 (2^-9 relative each) against fp32: a score's error of about 2^-8 of
    // its size moves P by as much, relatively (4e-2 at most seen, on a gradient of 1.1). tests/cuda/kernels/
    // test_attention.cpp checks the kernels tightly on bf16 inputs.
    {.name = "attention backward on bf16 tensor cores",
     .sizes = times(times(kShapes, "masked", {0, 1}), "backward", {1}),
     .tensors = attention_tensors,
     .call = [](auto& io, Tier tier) { attention_backward_bf16_call(io, tier); },
     .tensor_call = {},
     .cuda = {5e-2, 3e-2}},
};

}  // namespace

TEST_CASE("op_cases: attention") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
