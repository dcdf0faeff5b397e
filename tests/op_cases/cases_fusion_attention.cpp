// tests/op_cases/cases_fusion_attention.cpp: dual-softmax fusion attention rows of the op harness
// (op_harness.hpp). With W_f the CUDA launchers take a device workspace (B K D floats forward, 2 B K D
// backward), so the row writes its tiers out.
#include <cmath>

#include "op_harness.hpp"
#include "simad/ops/dispatch/fusion_attention.hpp"
#include "simad/ops/reference/fusion_attention.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/fusion_attention.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// One word and one region, N * K above a CUDA block of 128 threads, K above N, widths that are no whole
// number of vectors, K = 1, and 70 words in several row tiles.
const std::vector<Sizes> kShapes = sizes_of({"B", "N", "K", "D"}, {{1, 1, 1, 1},
                                                                   {4, 7, 3, 8},
                                                                   {5, 33, 10, 20},
                                                                   {4, 9, 20, 5},
                                                                   {4, 70, 12, 19},
                                                                   {3, 17, 1, 33}});

// "masked" 0: no masks; 1: words of ad b cycle all, random, one, none, and every ad keeps a region;
// 2: the same for the regions (ad 3 has words and no region), every ad keeps a word.
// "grads": which gradients the backward asks for (1 dH, 2 dV, 4 dW_f), 0 = no backward.
Specs fusion_tensors(const Sizes& s) {
  const int64_t B = s.at("B"), N = s.at("N"), K = s.at("K"), D = s.at("D"), grads = s.at("grads");
  Specs v{real("H", {B, N, D}),          real("V", {B, K, D}),           out("h_out", {B, N, D}),
          out("v_out", {B, K, D}),       out("A", {B, N, K}),            out("P", {B, N, K})};
  if (s.at("Wf")) v.push_back(real("Wf", {D, D}, -0.5, 0.5));
  if (s.at("masked")) {
    v.push_back(mask("h_mask", {B, N}, s.at("masked") == 1 ? MaskRows::awkward : MaskRows::some_kept));
    v.push_back(mask("v_mask", {B, K}, s.at("masked") == 2 ? MaskRows::awkward : MaskRows::some_kept));
  }
  if (grads) v.push_back(real("dh_out", {B, N, D})), v.push_back(real("dv_out", {B, K, D}));
  if (grads & 1) v.push_back(acc("dH", {B, N, D}));
  if (grads & 2) v.push_back(acc("dV", {B, K, D}));
  if (grads & 4) v.push_back(acc("dWf", {D, D}));  // untouched (skipped) when there is no Wf
  return v;
}

template <typename Io>
void fusion_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t B = io.n("B"), N = io.n("N"), K = io.n("K"), D = io.n("D");
  const bool backward = io.n("grads") != 0;
  T *h_out = io.p("h_out"), *v_out = io.p("v_out"), *A = io.p("A"), *P = io.p("P"), *H = io.p("H"), *V = io.p("V");
  T *Wf = io.p_or_null("Wf"), *dH = io.p_or_null("dH"), *dV = io.p_or_null("dV"), *dWf = io.p_or_null("dWf");
  T *dh_out = io.p_or_null("dh_out"), *dv_out = io.p_or_null("dv_out");
  const uint8_t *h_mask = io.m_or_null("h_mask"), *v_mask = io.m_or_null("v_mask");
  if (tier == Tier::reference) {
    simad::ops::reference::fusion_attention_forward(h_out, v_out, A, P, H, V, Wf, h_mask, v_mask, B, N, K, D);
    if (backward)
      simad::ops::reference::fusion_attention_backward(dH, dV, dWf, dh_out, dv_out, H, V, Wf, A, P, B, N, K, D);
  } else if (tier == Tier::cpu) {
    simad::ops::fusion_attention_forward(h_out, v_out, A, P, H, V, Wf, h_mask, v_mask, B, N, K, D);
    if (backward) simad::ops::fusion_attention_backward(dH, dV, dWf, dh_out, dv_out, H, V, Wf, A, P, B, N, K, D);
  } else {
    SIMAD_OP_CUDA(T, const auto ws = simad::cuda::to_device(simad::Tensor<float>::full({2 * B * K * D + 1}, NAN));
                  fusion_attention_forward(h_out, v_out, A, P, H, V, Wf, h_mask, v_mask, B, N, K, D, ws.data());
                  if (backward) fusion_attention_backward(dH, dV, dWf, dh_out, dv_out, H, V, Wf, A, P, B, N, K, D,
                                                          ws.data());
                  SIMAD_CUDA_CHECK(cudaDeviceSynchronize()))  // before the workspace goes
  }
}

template <typename Io>
void fusion_tensor_call(Io& io) {
  const auto Wf = io.t_or_undefined("Wf");
  simad::ops::fusion_attention_forward(io.t("h_out"), io.t("v_out"), io.t("A"), io.t("P"), io.t("H"), io.t("V"), Wf,
                                       io.tm_or_null("h_mask"), io.tm_or_null("v_mask"));
  if (io.n("grads"))
    simad::ops::fusion_attention_backward(io.t_or_undefined("dH"), io.t_or_undefined("dV"), io.t_or_undefined("dWf"),
                                          io.t("dh_out"), io.t("dv_out"), io.t("H"), io.t("V"), Wf, io.t("A"),
                                          io.t("P"));
}

const OpCase kCases[] = {
    {.name = "fusion_attention forward",
     .sizes = times(times(times(kShapes, "Wf", {0, 1}), "masked", {0, 1, 2}), "grads", {0}),
     .tensors = fusion_tensors,
     .call = [](auto& io, Tier tier) { fusion_call(io, tier); },
     .tensor_call = [](auto& io) { fusion_tensor_call(io); },
     .cpu = {2e-6, 2e-5},
     .cuda = {2e-6, 2e-5}},
    // The backward on the forward's saved A and P (the float tiers' own): every gradient, then dV alone
    // and dH with dW_f.
    {.name = "fusion_attention forward, backward",
     .sizes = times(times(times(kShapes, "Wf", {0, 1}), "masked", {0, 1, 2}), "grads", {7, 2, 5}),
     .tensors = fusion_tensors,
     .call = [](auto& io, Tier tier) { fusion_call(io, tier); },
     .tensor_call = [](auto& io) { fusion_tensor_call(io); },
     .cpu = {1e-4, 1e-4},
     .cuda = {1e-4, 1e-4}},
};

}  // namespace

TEST_CASE("op_cases: fusion_attention") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
