// tests/op_cases/cases_dropout.cpp: inverted dropout rows of the op harness (op_harness.hpp). The
// reference applies a mask it is given, so its tier draws the mask by the op's rule written directly,
// keep_i = [rng.uniform_at(offset + i) >= p], and the harness requires the CPU op's and the kernel's
// masks to equal it exactly (the same Philox numbers, the same decision).
#include <cstdint>
#include <type_traits>

#include "op_harness.hpp"
#include "simad/core/rng.hpp"
#include "simad/ops/dispatch/dropout.hpp"
#include "simad/ops/reference/dropout.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/dropout.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

const simad::Rng kRng(20261205, 7);

// p as a float in every tier (0.1f is not 0.1: both tiers must compare u with the same threshold).
float p_of(const auto& io) { return float(io.n("p_percent")) / 100.0f; }
uint64_t offset_of(const auto& io) { return uint64_t(io.n("offset")); }

template <typename Io>
void dropout_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t n = io.n("n");
  const T p = T(p_of(io));
  const uint64_t offset = offset_of(io);
  if (tier == Tier::reference) {
    uint8_t* keep = io.m("keep");
    for (int64_t i = 0; i < n; ++i) keep[i] = kRng.uniform_at(offset + uint64_t(i)) >= double(p) ? 1 : 0;
    simad::ops::reference::dropout_forward(io.p("out"), keep, io.p("inp"), n, p);
    simad::ops::reference::dropout_backward(io.p("dinp"), io.p("dout"), keep, n, p);
    simad::ops::reference::dropout_forward(io.p("inplace"), keep, io.p("inplace"), n, p);
  } else if (tier == Tier::cpu) {
    simad::ops::dropout_forward(io.p("out"), io.m("keep"), io.p("inp"), n, p, kRng, offset);
    simad::ops::dropout_backward(io.p("dinp"), io.p("dout"), io.m("keep"), n, p);
    simad::ops::dropout_forward(io.p("inplace"), static_cast<uint8_t*>(nullptr), io.p("inplace"), n, p, kRng, offset);
  } else {
    SIMAD_OP_CUDA(T, dropout_forward(io.p("out"), io.m("keep"), io.p("inp"), n, p, kRng.seed(), kRng.stream(), offset);
                  dropout_backward(io.p("dinp"), io.p("dout"), io.m("keep"), n, p);
                  dropout_forward(io.p("inplace"), nullptr, io.p("inplace"), n, p, kRng.seed(), kRng.stream(), offset))
  }
}

const OpCase kCases[] = {
    // Sizes around a Philox block (two stream elements) and a CUDA block; offsets even, odd and past
    // 2^32; p = 0 keeps everything. "inplace" runs the forward with out == inp and no mask.
    {.name = "dropout forward (also in place), backward",
     .sizes = times(times(sizes_of({"n"}, {{1}, {31}, {257}, {3001}}), "offset", {0, 5, int64_t(1) << 33}),
                    "p_percent", {0, 10, 50, 93}),
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n");
           return Specs{real("inp", {n}), out("out", {n}), out("keep", {n}, Kind::mask), real("dout", {n}),
                        acc("dinp", {n}), acc("inplace", {n})};
         },
     .call = [](auto& io, Tier tier) { dropout_call(io, tier); },
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           const T p = T(p_of(io));
           simad::ops::dropout_forward(io.t("out"), io.tm("keep"), io.t("inp"), p, kRng, offset_of(io));
           simad::ops::dropout_backward(io.t("dinp"), io.t("dout"), io.tm("keep"), p);
           simad::ops::dropout_forward(io.t("inplace"), simad::Tensor<uint8_t>(), io.t("inplace"), p, kRng,
                                       offset_of(io));
         },
     .cuda = {0, 0}},  // one multiply per element on both: exact
    // p = 0: the backward without a mask adds dout.
    {.name = "dropout backward without a mask (p = 0)",
     .sizes = sizes_of({"n"}, {{1}, {100}, {3001}}),
     .tensors = [](const Sizes& s) { return Specs{real("dout", {s.at("n")}), acc("dinp", {s.at("n")})}; },
     .call = SIMAD_OP_CALL(kDouble | kCuda, dropout_backward(io.p("dinp"), io.p("dout"),
                                                             static_cast<const uint8_t*>(nullptr), io.n("n"), T_(0))),
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           simad::ops::dropout_backward(io.t("dinp"), io.t("dout"), simad::Tensor<uint8_t>(), T(0));
         },
     .cuda = {0, 0}},
};

}  // namespace

TEST_CASE("op_cases: dropout") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
